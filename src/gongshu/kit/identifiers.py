"""Citizen ID numbers (GB 11643) and unified social credit codes (GB 32100).

Validation is python-stdnum's; this module adds bilingual errors and masking.
"""

from __future__ import annotations

from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric, uscc

from gongshu.errors import Invalid


def validate_id_number(value: str, *, field: str = "id_number") -> str:
    """Return the compact, upper-case ID number or raise :class:`Invalid`."""
    raw = (value or "").strip()
    try:
        if len(raw) == 18 and raw[:17].isdigit():
            ric.get_birth_date(raw)  # a bad birth date is named before a bad check character
        return ric.validate(raw)
    except stdnum_exc.InvalidChecksum as exc:
        raise Invalid(f"公民身份号码校验位错误：{mask_id_number(raw)}",
                      f"Citizen ID number has a wrong check character: {mask_id_number(raw)}", field=field) from exc
    except stdnum_exc.InvalidComponent as exc:
        raise Invalid(f"公民身份号码中的出生日期或地区码无效：{mask_id_number(raw)}",
                      f"Citizen ID number has an invalid birth date or region: {mask_id_number(raw)}", field=field) from exc
    except stdnum_exc.ValidationError as exc:
        raise Invalid("公民身份号码应为 18 位（前 17 位为数字，末位为数字或 X）",
                      "A citizen ID number has 18 characters: 17 digits and a digit or X", field=field) from exc


def validate_uscc(value: str, *, field: str = "uscc") -> str:
    """Return the compact USCC or raise :class:`Invalid`."""
    raw = (value or "").strip().upper()
    try:
        return uscc.validate(raw)
    except stdnum_exc.InvalidChecksum as exc:
        raise Invalid(f"统一社会信用代码校验位错误：{raw}",
                      f"Unified social credit code has a wrong check character: {raw}", field=field) from exc
    except stdnum_exc.ValidationError as exc:
        raise Invalid(f"统一社会信用代码格式错误（应为 18 位，不含 I、O、S、V、Z）：{raw}",
                      f"A unified social credit code has 18 characters without I, O, S, V, Z: {raw}",
                      field=field) from exc


def is_valid_id_number(value: str) -> bool:
    return ric.is_valid((value or "").strip())


def is_valid_uscc(value: str) -> bool:
    return uscc.is_valid((value or "").strip().upper())


def mask_id_number(value: str) -> str:
    """Keep the 4-digit region prefix and the last 4 characters: ``4401**********123X``."""
    v = (value or "").strip()
    if len(v) <= 8:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def mask_name(value: str) -> str:
    v = (value or "").strip()
    if len(v) <= 1:
        return v
    if len(v) == 2:
        return v[0] + "*"
    return v[0] + "*" * (len(v) - 1) if len(v) <= 3 else v[:2] + "*" * (len(v) - 2)


def mask_mobile(value: str) -> str:
    v = (value or "").strip()
    if len(v) != 11:
        return "*" * len(v)
    return v[:3] + "****" + v[-4:]
