"""The inbox (待办): work items with working-day deadlines, the overdue sweep,
supervision events, and the authority's calendar overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.db import utcnow
from gongshu.errors import CalendarUnknown, Invalid, NotFound
from gongshu.jobs.service import periodic
from gongshu.kit.workdays import WorkCalendar, packaged_years
from gongshu.tasks.models import CalendarOverride, CalendarYear, Supervision, Task

CHINA = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """Deadlines are counted in Beijing time."""
    return datetime.now(CHINA).date()


def calendar(session: Session) -> WorkCalendar:
    overrides = {r.day: r.is_workday for r in session.scalars(select(CalendarOverride))}
    years = session.scalars(select(CalendarYear.year)).all()
    return WorkCalendar(overrides, years)


def open_task(session: Session, *, actor: Actor, kind: str, title: str, subject_type: str, subject_id: object,
              org_id: int, workdays: int, role: str | None = None, basis: str = "",
              start: date | None = None) -> Task:
    """Put a work item in an org's inbox, due ``workdays`` working days after ``start`` (today)."""
    due = calendar(session).add_workdays(start or today(), workdays)
    task = Task(kind=kind, title=title, subject_type=subject_type, subject_id=str(subject_id),
                assignee_org_id=org_id, assignee_role=role, due_date=due, workdays=workdays, basis=basis)
    session.add(task)
    session.flush()
    audit_service.record(session, actor=actor, action="tasks.open", subject_type="task", subject_id=task.id,
                         after={"kind": kind, "org_id": org_id, "due": due.isoformat(), "subject": f"{subject_type}:{subject_id}"})
    return task


def close_tasks(session: Session, *, actor: Actor, kind: str, subject_type: str, subject_id: object,
                status: str = "done") -> int:
    """Close the open items of ``kind`` about a subject (e.g. when the review happens)."""
    ids = session.scalars(select(Task.id).where(Task.kind == kind, Task.subject_type == subject_type,
                                                Task.subject_id == str(subject_id), Task.status == "open")).all()
    if ids:
        session.execute(update(Task).where(Task.id.in_(ids)).values(status=status, closed_at=utcnow()))
        for tid in ids:
            audit_service.record(session, actor=actor, action="tasks.close", subject_type="task", subject_id=tid,
                                 detail={"status": status})
    return len(ids)


def for_subject(session: Session, *, subject_type: str, subject_id: object) -> list[Task]:
    """Every work item about one subject, oldest first (its handling record, 办理记录)."""
    return list(session.scalars(select(Task).where(Task.subject_type == subject_type,
                                                   Task.subject_id == str(subject_id)).order_by(Task.id)))


def inbox(session: Session, *, actor: Actor, include_closed: bool = False, limit: int = 200) -> list[Task]:
    """The actor's org's items (for their role, or any role)."""
    stmt = select(Task).where(Task.assignee_org_id == actor.org_id)
    stmt = stmt.where(or_(Task.assignee_role.is_(None), Task.assignee_role.in_(actor.roles)))
    if not include_closed:
        stmt = stmt.where(Task.status == "open")
    return list(session.scalars(stmt.order_by(Task.due_date, Task.id).limit(limit)))


def all_open(session: Session, *, actor: Actor, overdue_only: bool = False, limit: int = 500) -> list[Task]:
    require(actor, "tasks.view_all")
    stmt = select(Task).where(Task.status == "open")
    if overdue_only:
        stmt = stmt.where(Task.overdue.is_(True))
    return list(session.scalars(stmt.order_by(Task.due_date, Task.id).limit(limit)))


def remaining_workdays(session: Session, tasks: list[Task], *, on: date | None = None,
                       cal: WorkCalendar | None = None) -> dict[int, int | None]:
    """Working days left until each item's due date (negative: overdue by that many)."""
    cal = cal or calendar(session)
    on = on or today()
    out: dict[int, int | None] = {}
    for t in tasks:
        try:
            out[t.id] = cal.workdays_between(on, t.due_date)
        except CalendarUnknown:  # a due date in an unknown year: show no countdown rather than guess
            out[t.id] = None
    return out


def sweep_overdue(session: Session, *, on: date | None = None) -> int:
    """Flag open items past their due date and write a supervision event for each (once)."""
    on = on or today()
    late = session.scalars(select(Task).where(Task.status == "open", Task.overdue.is_(False), Task.due_date < on)).all()
    for t in late:
        t.overdue = True
        session.add(Supervision(task_id=t.id, org_id=t.assignee_org_id, kind="overdue",
                                note=f"“{t.title}”已超过办理期限（{t.due_date.isoformat()}）"))
        audit_service.record(session, actor=SYSTEM, action="tasks.overdue", subject_type="task", subject_id=t.id,
                             detail={"due": t.due_date.isoformat(), "org_id": t.assignee_org_id, "kind": t.kind})
    return len(late)


@periodic("tasks.sweep_overdue", every=timedelta(minutes=15))
def _sweep(session: Session) -> None:
    sweep_overdue(session)


def supervision(session: Session, *, actor: Actor, limit: int = 200) -> list[Supervision]:
    require(actor, "tasks.view_all")
    return list(session.scalars(select(Supervision).order_by(Supervision.id.desc()).limit(limit)))


# Calendar overrides ------------------------------------------------------------------

def set_override(session: Session, *, actor: Actor, day: date, is_workday: bool, note: str = "") -> CalendarOverride:
    require(actor, "calendar.manage")
    row = session.get(CalendarOverride, day)
    before = None if row is None else {"is_workday": row.is_workday, "note": row.note}
    if row is None:
        row = CalendarOverride(day=day, is_workday=is_workday, note=note)
        session.add(row)
    else:
        row.is_workday, row.note = is_workday, note
    session.flush()
    audit_service.record(session, actor=actor, action="calendar.override", subject_type="calendar_day",
                         subject_id=day.isoformat(), before=before, after={"is_workday": is_workday, "note": note})
    return row


def remove_override(session: Session, *, actor: Actor, day: date) -> None:
    require(actor, "calendar.manage")
    row = session.get(CalendarOverride, day)
    if row is None:
        raise NotFound(f"{day} 没有日历调整", f"No override on {day}")
    session.delete(row)
    audit_service.record(session, actor=actor, action="calendar.override.remove", subject_type="calendar_day",
                         subject_id=day.isoformat(), before={"is_workday": row.is_workday, "note": row.note})


def declare_year(session: Session, *, actor: Actor, year: int, source: str,
                 holidays: list[tuple[date, str]], workdays: list[tuple[date, str]]) -> CalendarYear:
    """Enter a whole year's schedule: its holidays and its adjusted working weekends (调休).

    Every listed day must be in ``year``; days not listed follow Monday–Friday.
    Replaces an earlier declaration of the same year atomically.
    """
    require(actor, "calendar.manage")
    if not 2000 <= year <= 2100:
        raise Invalid("年份应在 2000–2100 之间", "Year must be between 2000 and 2100", field="year")
    if not source.strip():
        raise Invalid("请注明依据（如国务院办公厅关于节假日安排的通知文号）",
                      "State the source (e.g. the State Council notice number)", field="source")
    for d, _ in holidays + workdays:
        if d.year != year:
            raise Invalid(f"{d} 不属于 {year} 年", f"{d} is not in {year}", field="days")
    clash = {d for d, _ in holidays} & {d for d, _ in workdays}
    if clash:
        first = min(clash)
        raise Invalid(f"{first} 同时被列为假日和工作日", f"{first} is listed as both holiday and working day", field="days")
    session.execute(delete(CalendarOverride).where(CalendarOverride.day >= date(year, 1, 1),
                                                   CalendarOverride.day <= date(year, 12, 31)))
    for d, note in holidays:
        session.add(CalendarOverride(day=d, is_workday=False, note=note))
    for d, note in workdays:
        session.add(CalendarOverride(day=d, is_workday=True, note=note))
    row = session.get(CalendarYear, year)
    if row is None:
        row = CalendarYear(year=year, source=source)
        session.add(row)
    else:
        row.source = source
    session.flush()
    audit_service.record(session, actor=actor, action="calendar.declare_year", subject_type="calendar_year",
                         subject_id=year, after={"source": source, "holidays": len(holidays), "workdays": len(workdays)})
    return row


def declare_unknown_years(session: Session, *, actor: Actor, years: Iterable[int], source: str,
                          holidays: Callable[[int], list[tuple[date, str]]] = lambda _y: []) -> list[int]:
    """Declare each of ``years`` that neither the packaged calendar nor the authority knows yet, with
    ``holidays(year)`` as its days off and no adjusted working days; returns the years declared."""
    done = []
    for year in years:
        if not calendar(session).knows_year(year):
            declare_year(session, actor=actor, year=year, source=source.format(year=year), holidays=holidays(year),
                         workdays=[])
            done.append(year)
    return done


def calendar_status(session: Session) -> dict:
    years = {r.year: r.source for r in session.scalars(select(CalendarYear))}
    overrides = list(session.scalars(select(CalendarOverride).order_by(CalendarOverride.day)))
    return {"packaged": sorted(packaged_years()), "declared": years, "overrides": overrides}
