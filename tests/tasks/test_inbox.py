"""R-CAT-4 plumbing: inbox items with working-day deadlines, overdue sweep, supervision events."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import CalendarUnknown, Forbidden
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Supervision


def test_task_due_in_working_days_and_overdue_sweep(f, db):
    org = f.org()
    officer = f.actor(org)
    t = tasks.open_task(db, actor=officer, kind="test.review", title="审核", subject_type="thing", subject_id=1,
                        org_id=org.id, workdays=10, start=date(2025, 9, 26))
    assert t.due_date == date(2025, 10, 16)
    assert [x.id for x in tasks.inbox(db, actor=officer)] == [t.id]
    assert tasks.sweep_overdue(db, on=date(2025, 10, 16)) == 0
    assert tasks.sweep_overdue(db, on=date(2025, 10, 17)) == 1
    assert tasks.sweep_overdue(db, on=date(2025, 10, 18)) == 0  # once only
    sup = db.scalar(select(Supervision).where(Supervision.task_id == t.id))
    assert sup and sup.org_id == org.id
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "tasks.overdue", AuditEvent.subject_id == str(t.id)))
    left = tasks.remaining_workdays(db, [t], on=date(2025, 10, 20))
    assert left[t.id] == -2


def test_authority_sees_supervision_departments_do_not(f, db):
    officer = f.actor()
    with pytest.raises(Forbidden):
        tasks.supervision(db, actor=officer)
    reviewer = f.actor(roles=("authority_reviewer",), kind="authority")
    tasks.supervision(db, actor=reviewer)


def test_declared_year_lets_deadlines_cross_into_2027(f, db):
    admin = f.actor(roles=("authority_admin",), kind="authority")
    org = f.org()
    with pytest.raises(CalendarUnknown):
        tasks.open_task(db, actor=admin, kind="k", title="t", subject_type="s", subject_id=1, org_id=org.id,
                        workdays=10, start=date(2026, 12, 24))
    tasks.declare_year(db, actor=admin, year=2027, source="国办发明电〔2026〕X号（测试）",
                       holidays=[(date(2027, 1, 1), "元旦")], workdays=[])
    t = tasks.open_task(db, actor=admin, kind="k", title="t", subject_type="s", subject_id=1, org_id=org.id,
                        workdays=10, start=date(2026, 12, 24))
    # 12-25, 28, 29, 30, 31 (5), 2027-01-01 off, 01-04 .. 01-08 (5)
    assert t.due_date == date(2027, 1, 8)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "calendar.declare_year"))


def test_only_authority_admin_edits_calendar(f, db):
    with pytest.raises(Forbidden):
        tasks.set_override(db, actor=f.actor(), day=date(2026, 5, 6), is_workday=False)
