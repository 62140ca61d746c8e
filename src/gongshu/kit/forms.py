"""Small checks of submitted form values, with messages in Chinese and English naming the field."""

from __future__ import annotations

import re

from gongshu.errors import Invalid

#: control characters no form field holds (PostgreSQL refuses NUL in text)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(value: object, field: str, zh: str, en: str, *, required: bool = True, limit: int = 2000) -> str:
    """``value`` trimmed; :class:`Invalid` naming the field when it is required and empty, holds control
    characters, or is longer than ``limit`` characters."""
    v = ("" if value is None else str(value)).strip()
    if required and not v:
        raise Invalid(f"请填写{zh}", f"{en} is required", field=field)
    if _CONTROL.search(v):
        raise Invalid(f"{zh}含有不可见的控制字符", f"{en} contains control characters", field=field)
    if len(v) > limit:
        raise Invalid(f"{zh}不能超过 {limit} 个字", f"{en} may have at most {limit} characters", field=field)
    return v


def choice(value: str | None, field: str, zh: str, en: str, options: dict | tuple | list) -> str:
    """``value`` trimmed when it is one of ``options``, else :class:`Invalid` listing them."""
    v = (value or "").strip()
    if v not in options:
        listed = "、".join(str(o) for o in options)
        raise Invalid(f"{zh}应为以下之一：{listed}", f"{en} must be one of: {', '.join(str(o) for o in options)}",
                      field=field)
    return v
