"""Small checks of submitted form values, with messages in Chinese and English naming the field."""

from __future__ import annotations

from gongshu.errors import Invalid


def text(value: str | None, field: str, zh: str, en: str, *, required: bool = True, limit: int = 2000) -> str:
    """``value`` trimmed; :class:`Invalid` when it is required and empty, or longer than ``limit`` characters."""
    v = (value or "").strip()
    if required and not v:
        raise Invalid(f"请填写{zh}", f"{en} is required", field=field)
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
