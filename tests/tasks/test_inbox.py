"""R-CAT-4 plumbing: inbox items with working-day deadlines, overdue sweep, supervision events."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import CalendarUnknown, Forbidden
from gongshu.kit import workdays
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Supervision
from tests.factories import login


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


def test_declared_year_lets_deadlines_cross_into_2027(f, db, monkeypatch):
    # as on the packaged calendar 1.11 (to 2026), whatever a newer release knows
    monkeypatch.setattr(workdays, "_PACKAGED_YEARS", frozenset(y for y in workdays.packaged_years() if y < 2027))
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


def test_calendar_page_prefills_the_statutory_holidays_and_keeps_a_refused_form(f, db, client):
    admin_user = f.user(f.org(kind="authority"), ("authority_admin",))
    db.commit()
    token = login(client, admin_user)
    page = client.get("/workbench/calendar", params={"prefill": "2027"})
    assert page.status_code == 200 and 'id="calendar-prefilled"' in page.text
    assert "2027-02-05 春节（除夕）" in page.text and "2027-10-03 国庆节" in page.text
    assert "（13 天）" in page.text
    assert "（12 天）" in client.get("/workbench/calendar", params={"prefill": "2028"}).text  # 中秋 on 3 October
    bad = client.get("/workbench/calendar", params={"prefill": "abc"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    early = client.get("/workbench/calendar", params={"prefill": "2020"})
    assert early.status_code == 422 and "2025" in early.text
    refused = client.post("/workbench/calendar/year", data={"csrf_token": token, "year": "2027", "source": "",
                                                            "holidays": "2027-01-01 元旦\n2027-02-05 春节"})
    assert refused.status_code == 422 and "2027-02-05 春节" in refused.text  # what was typed is not lost
