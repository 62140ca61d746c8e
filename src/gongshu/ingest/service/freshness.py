"""Freshness and attachment (挂接) of aggregated data (R-AGG-1).

An entry is *attached* once a version of its data serves. Its update cycle gives the date the next
load is due; when that date passes without a load, the source department gets an inbox item and the
lateness is recorded for evaluation (LateLoad), once per missed due date.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import SYSTEM
from gongshu.db import utcnow
from gongshu.ingest.models import DataVersion, EntryData, LateLoad
from gongshu.jobs.service import periodic
from gongshu.tasks import service as tasks

LATE_TASK = "ingest.late"
#: inbox items about an entry's data link to its aggregation page (ingest/views.py)
TASK_SUBJECT = "ingest_entry"
#: working days the department has to load after it is told a load is late
LATE_TASK_WORKDAYS = 3
CYCLE_DAYS = {"实时": 1, "每日": 1, "每周": 7}
CYCLE_MONTHS = {"每月": 1, "每季度": 3, "每半年": 6, "每年": 12}
STATUS_ZH = {"unattached": "未挂接", "fresh": "按时更新", "late": "逾期未更新", "attached": "已挂接"}
STATUS_EN = {"unattached": "Not attached", "fresh": "Up to date", "late": "Late", "attached": "Attached"}


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def next_due(last: date, cycle: str) -> date | None:
    """The date by which the next load is due; None for 其他 (no fixed cycle)."""
    if cycle in CYCLE_DAYS:
        return last + timedelta(days=CYCLE_DAYS[cycle])
    if cycle in CYCLE_MONTHS:
        return add_months(last, CYCLE_MONTHS[cycle])
    return None


def status_of(state: EntryData | None, *, on: date) -> str:
    if state is None or state.current_version_id is None:
        return "unattached"
    if state.next_due is not None and on > state.next_due:
        return "late"
    return "fresh"


def mark_loaded(session: Session, *, entry_id: int, org_id: int, cycle: str, version_id: int,
                on: date | None = None) -> EntryData:
    """A version now serves: re-point the entry, set the next due date, close late items."""
    on = on or tasks.today()
    state = session.get(EntryData, entry_id)
    if state is None:
        state = EntryData(entry_id=entry_id, org_id=org_id)
        session.add(state)
    state.current_version_id, state.update_cycle = version_id, cycle
    state.last_loaded_on, state.next_due, state.updated_at = on, next_due(on, cycle), utcnow()
    session.flush()
    session.execute(update(LateLoad).where(LateLoad.entry_id == entry_id, LateLoad.loaded_on.is_(None))
                    .values(loaded_on=on))
    tasks.close_tasks(session, actor=SYSTEM, kind=LATE_TASK, subject_type=TASK_SUBJECT, subject_id=entry_id)
    return state


def repoint(session: Session, *, entry_id: int, version_id: int) -> EntryData:
    """Rollback: serve another version without touching the freshness dates."""
    state = session.get(EntryData, entry_id)
    state.current_version_id, state.updated_at = version_id, utcnow()
    return state


def sweep_late(session: Session, *, on: date | None = None, names: dict[int, str] | None = None) -> int:
    """Record each passed due date once, with an inbox item for the source department."""
    on = on or tasks.today()
    late = session.scalars(select(EntryData).where(EntryData.next_due < on,
                                                   EntryData.current_version_id.is_not(None))).all()
    n = 0
    for state in late:
        exists = session.scalar(select(LateLoad.id).where(LateLoad.entry_id == state.entry_id,
                                                          LateLoad.due_date == state.next_due))
        if exists:
            continue
        session.add(LateLoad(entry_id=state.entry_id, org_id=state.org_id, due_date=state.next_due, detected_on=on))
        state.late_count += 1
        name = (names or {}).get(state.entry_id, f"#{state.entry_id}")
        tasks.open_task(session, actor=SYSTEM, kind=LATE_TASK, subject_type=TASK_SUBJECT,
                        subject_id=state.entry_id, org_id=state.org_id, workdays=LATE_TASK_WORKDAYS,
                        title=f"《{name}》数据逾期未更新（更新周期{state.update_cycle}，应于 {state.next_due} 前更新）",
                        basis="R-AGG-1 按更新周期归集", start=on)
        audit.record(session, actor=SYSTEM, action="ingest.late", subject_type="catalog_entry",
                     subject_id=state.entry_id, detail={"due": state.next_due.isoformat(), "cycle": state.update_cycle})
        n += 1
    return n


@periodic("ingest.sweep_late", every=timedelta(hours=1))
def _sweep(session: Session) -> None:
    sweep_late(session)


def attachment(session: Session, *, entry_ids: Sequence[int], on: date | None = None) -> dict[int, dict]:
    """Per entry id: status (unattached / fresh / late), current version number and rows, dates."""
    on = on or tasks.today()
    out = {i: {"status": "unattached", "version": None, "rows": None, "last_loaded_on": None, "next_due": None,
               "late_count": 0} for i in entry_ids}
    ids = list(out)
    for start in range(0, len(ids), 5000):
        part = ids[start:start + 5000]
        rows = session.execute(select(EntryData, DataVersion.number, DataVersion.rows)
                               .outerjoin(DataVersion, DataVersion.id == EntryData.current_version_id)
                               .where(EntryData.entry_id.in_(part))).all()
        for state, number, nrows in rows:
            out[state.entry_id] = {"status": status_of(state, on=on), "version": number, "rows": nrows,
                                   "last_loaded_on": state.last_loaded_on, "next_due": state.next_due,
                                   "late_count": state.late_count}
    return out


def late_counts(session: Session, *, org_id: int | None = None) -> dict[int, int]:
    """Missed due dates per department (for evaluation)."""
    stmt = select(LateLoad.org_id, LateLoad.id)
    if org_id is not None:
        stmt = stmt.where(LateLoad.org_id == org_id)
    counts: dict[int, int] = {}
    for org, _ in session.execute(stmt):
        counts[org] = counts.get(org, 0) + 1
    return counts


# Added for governance (issue 11, quality/service/scores.py): the coverage of quality checks is counted against the
# entries whose data is attached, in one grouped query of the caller's.
def attached_select() -> Select:
    """SELECT (entry_id, org_id, current_version_id) of every entry whose data is attached (a version serves)."""
    return select(EntryData.entry_id, EntryData.org_id, EntryData.current_version_id).where(
        EntryData.current_version_id.is_not(None))
