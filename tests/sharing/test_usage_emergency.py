"""Usage reports (R-SHR-6) and emergency sharing (R-SHR-8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.sharing.models import ExchangePackage, Grant, UsageReport
from gongshu.sharing.service import emergency, grants, usage
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task
from tests.sharing.helpers import active_grant, world


def test_r_shr_6_usage_reports_fall_due_per_period_and_the_consumer_files_them(f, db, tmp_path):
    w = world(f, db, tmp_path)
    grant = active_grant(db, w)
    assert usage.open_due(db) == 0
    later = grant.starts_on + timedelta(days=2 * grant.report_every_days + 1)
    assert usage.open_due(db, on=later) == 2  # two elapsed periods, one report each
    assert usage.open_due(db, on=later) == 0
    reports = usage.reports_of(db, actor=w.consumer, grant=grant)
    assert [r.period_start for r in reports] == [grant.starts_on,
                                                  grant.starts_on + timedelta(days=grant.report_every_days)]
    task = db.scalar(select(Task).where(Task.kind == "sharing.usage_report", Task.assignee_org_id == w.c.other_dept.id))
    assert task is not None and task.workdays == 10
    with pytest.raises(Forbidden):
        usage.file_report(db, actor=w.c.officer, report_id=reports[0].id, text="x")
    with pytest.raises(Invalid):
        usage.file_report(db, actor=w.consumer, report_id=reports[0].id, text=" ")
    usage.file_report(db, actor=w.consumer, report_id=reports[0].id, text="仅用于不动产登记身份核验，未向第三方提供")
    assert db.get(Task, task.id).status == "open"  # one report still due
    usage.file_report(db, actor=w.consumer, report_id=reports[1].id, text="同上")
    assert db.get(Task, task.id).status == "done"
    with pytest.raises(Conflict):
        usage.file_report(db, actor=w.consumer, report_id=reports[1].id, text="again")
    assert usage.reports_of(db, actor=w.c.officer, grant=grant)[0].status == "filed"  # the source sees them


def test_r_shr_8_emergency_grants_at_once_then_revokes_and_asks_for_destruction(f, db, tmp_path):
    w = world(f, db, tmp_path)
    admin = f.actor(w.c.authority, ("authority_admin",))
    third = f.org()
    with pytest.raises(Forbidden):
        emergency.declare_emergency(db, actor=w.consumer, title="台风", scope="x", entry_ids=[w.entry.id],
                                    consumer_org_ids=[w.c.other_dept.id], ends_at=utcnow() + timedelta(days=3))
    with pytest.raises(Invalid):
        emergency.declare_emergency(db, actor=admin, title="台风", scope="全市", entry_ids=[w.entry.id],
                                    consumer_org_ids=[w.c.other_dept.id], ends_at=utcnow() - timedelta(days=1))
    e = emergency.declare_emergency(db, actor=admin, title="台风“海鸥”应急转移安置", scope="受影响镇街转移安置人员核查",
                                    entry_ids=[w.entry.id], consumer_org_ids=[w.c.other_dept.id, third.id],
                                    ends_at=utcnow() + timedelta(days=3))
    got = emergency.grants_of(db, emergency_id=e.id)
    assert {g.consumer_org_id for g in got} == {w.c.other_dept.id, third.id}
    assert all(g.status == "active" and g.purpose_kind == "emergency" for g in got)
    grants.usable(db, grant_id=got[0].id, consumer_org_id=got[0].consumer_org_id, mode="api")
    # a package was delivered under it (as exchange delivery would record it)
    pkg = ExchangePackage(grant_id=got[0].id, kind="full", format="csv", version_id=1, rows=10, path="x.csv",
                          sm3="0" * 64, manifest={}, signature="", key_id="k")
    db.add(pkg)
    db.flush()
    assert emergency.end_due(db, now=utcnow() + timedelta(days=4)) == 1
    assert {db.get(Grant, g.id).status for g in got} == {"revoked"}
    with pytest.raises(Forbidden) as exc:
        grants.usable(db, grant_id=got[0].id, consumer_org_id=got[0].consumer_org_id, mode="api")
    assert exc.value.details[0]["reason"] == "revoked"
    task = db.scalar(select(Task).where(Task.kind == "sharing.emergency_destroy"))
    assert task.assignee_org_id == got[0].consumer_org_id
    with pytest.raises(Conflict):
        emergency.review(db, actor=admin, emergency_id=e.id, text="复盘")
    consumer = w.consumer if got[0].consumer_org_id == w.c.other_dept.id else f.actor(third)
    emergency.confirm_destroyed(db, actor=consumer, package_id=pkg.id, note="2026-12-05 已删除接收库中的数据并留存记录")
    assert db.get(Task, task.id).status == "done"
    reviewed = emergency.review(db, actor=admin, emergency_id=e.id, text="转移安置 1,203 人，数据已全部销毁")
    assert reviewed.status == "reviewed"


def test_r_shr_6_no_reports_before_a_period_ends(f, db, tmp_path):
    w = world(f, db, tmp_path)
    active_grant(db, w)
    assert usage.open_due(db, on=tasks.today() + timedelta(days=30)) == 0
    assert db.scalar(select(UsageReport)) is None
