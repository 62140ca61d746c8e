"""API shapes for the audit log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class EventOut(BaseModel):
    seq: int
    at: datetime
    actor_name: str
    org_id: int | None
    action: str
    subject_type: str
    subject_id: str
    before_digest: str | None
    after_digest: str | None
    detail: str
    request_id: str
    hash: str


class EventPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[EventOut]


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    problem: str | None
    seq: int | None
    event_id: int | None
    message: str
    message_en: str
