"""Audit log API for auditors."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from gongshu.audit import service
from gongshu.audit.filters import parse_filters
from gongshu.audit.schemas import EventOut, EventPage, VerifyOut
from gongshu.auth.service import Actor, require
from gongshu.kit.pagination import Page
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/audit", tags=["audit 审计"])


@router.get("/events", response_model=EventPage)
def events(action: str | None = None, actor_name: str | None = None, subject_type: str | None = None,
           subject_id: str | None = None, since: str | None = None, until: str | None = None, page: int = 1,
           size: int = 50, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> EventPage:
    require(actor, "audit.view")
    p = Page(page, size)
    rows, total = service.search(session, page=p, **parse_filters(action=action, actor=actor_name,
                                 subject_type=subject_type, subject_id=subject_id, since=since, until=until))
    return EventPage(total=total, page=p.page, size=p.size,
                     items=[EventOut.model_validate(r, from_attributes=True) for r in rows])


@router.post("/verify", response_model=VerifyOut)
def verify(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> VerifyOut:
    require(actor, "audit.verify")
    return VerifyOut(**service.verify(session).__dict__)
