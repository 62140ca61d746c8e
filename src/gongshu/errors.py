"""Errors a civil servant can read: every message in Chinese and English.

Services raise these; one handler in ``app.py`` renders them as HTML or JSON with
the status they carry. Bad input is always a 4xx, never a 500.
"""

from __future__ import annotations

from typing import Any


class GongshuError(Exception):
    status = 400
    code = "error"

    def __init__(
        self,
        message: str,
        message_en: str | None = None,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.message_en = message_en or message
        self.field = field
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "message_en": self.message_en}
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class Invalid(GongshuError):
    status = 422
    code = "invalid"


class NotFound(GongshuError):
    status = 404
    code = "not_found"


class Forbidden(GongshuError):
    status = 403
    code = "forbidden"


class Unauthenticated(GongshuError):
    status = 401
    code = "unauthenticated"


class Conflict(GongshuError):
    status = 409
    code = "conflict"


class CalendarUnknown(GongshuError):
    """A date falls in a year for which no working-day calendar is known."""

    status = 409
    code = "calendar_unknown"


class RateLimited(GongshuError):
    """Too many calls: ``retry_after`` seconds to wait (the app's handler sends it as ``Retry-After``)."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, message: str = "", message_en: str = "") -> None:
        super().__init__(message or f"调用过于频繁，请 {retry_after} 秒后重试",
                         message_en or f"Too many calls; retry in {retry_after} s",
                         details=[{"reason": "rate_limited", "retry_after": retry_after}])
        self.retry_after = retry_after
