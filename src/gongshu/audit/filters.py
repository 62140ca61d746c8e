"""Parse the audit log's filter parameters, shared by the page and the API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from gongshu.errors import Invalid


def parse_filters(*, action: str | None, actor: str | None, subject_type: str | None, subject_id: str | None,
                  since: str | None, until: str | None) -> dict:
    def day(value: str | None, field: str) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise Invalid(f"日期格式应为 YYYY-MM-DD：{value}", f"Dates are YYYY-MM-DD: {value}", field=field) from exc

    s, u = day(since, "since"), day(until, "until")
    return {
        "action": action or None, "actor_name": actor or None, "subject_type": subject_type or None,
        "subject_id": subject_id or None,
        "since": datetime.combine(s, time.min) if s else None,
        "until": datetime.combine(u + timedelta(days=1), time.min) if u else None,
    }
