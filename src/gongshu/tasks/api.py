"""Inbox and working-day calendar API."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.tasks import service
from gongshu.tasks.schemas import DeadlineOut, OverrideIn, TaskOut, YearIn
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1", tags=["tasks 待办"])


def _out(session: Session, tasks: list) -> list[TaskOut]:
    left = service.remaining_workdays(session, tasks)
    return [TaskOut(**TaskOut.model_validate(t, from_attributes=True).model_dump(exclude={"workdays_left"}),
                    workdays_left=left[t.id]) for t in tasks]


@router.get("/inbox", response_model=list[TaskOut])
def inbox(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[TaskOut]:
    return _out(session, service.inbox(session, actor=actor))


@router.get("/supervision/overdue", response_model=list[TaskOut])
def overdue(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[TaskOut]:
    return _out(session, service.all_open(session, actor=actor, overdue_only=True))


@router.get("/calendar/deadline", response_model=DeadlineOut)
def deadline(start: date, workdays: int, actor: Actor = Depends(api_actor),
             session: Session = Depends(get_db)) -> DeadlineOut:
    return DeadlineOut(start=start, workdays=workdays, due=service.calendar(session).add_workdays(start, workdays))


@router.put("/calendar/overrides", status_code=204)
def put_override(body: OverrideIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> None:
    service.set_override(session, actor=actor, day=body.day, is_workday=body.is_workday, note=body.note)


@router.put("/calendar/years", status_code=204)
def put_year(body: YearIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> None:
    service.declare_year(session, actor=actor, year=body.year, source=body.source,
                         holidays=[(d, "") for d in body.holidays], workdays=[(d, "调休") for d in body.workdays])
