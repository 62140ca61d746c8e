"""Share requests: one flow for all sharing, working-day deadlines, least privilege (R-SHR-1/2/3/7)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.sharing.models import Grant, ShareRequest
from gongshu.sharing.service import grants, requests
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task
from tests.ingest.helpers import load_file, person_rows, write_csv
from tests.sharing.helpers import active_grant, ask, world


def _actions(db, subject_type: str, subject_id: int) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == subject_type,
                                                           AuditEvent.subject_id == str(subject_id))
                           .order_by(AuditEvent.seq)))


def test_r_shr_2_unconditional_data_is_granted_at_once_and_audited(f, db, tmp_path):
    w = world(f, db, tmp_path, sharing_type="无条件共享", sharing_condition="", sharing_basis="")
    req = ask(db, w)
    assert req.status == "approved" and req.code.startswith("GX-")
    grant = requests.grant_of(db, request_id=req.id)
    assert grant.status == "active" and grant.starts_on == tasks.today()
    assert grant.expires_on == tasks.today() + timedelta(days=365)
    assert _actions(db, "share_request", req.id) == ["sharing.request.submit", "sharing.request.approve"]
    assert "sharing.grant.deliver" in _actions(db, "share_grant", grant.id)
    assert db.scalar(select(Task).where(Task.subject_type == "share_request")) is None  # nobody has to reply


def test_r_shr_2_conditional_request_waits_5_working_days_for_the_source(f, db, tmp_path):
    w = world(f, db, tmp_path)
    req = ask(db, w)
    assert req.status == "pending"
    task = db.scalar(select(Task).where(Task.kind == "sharing.reply", Task.subject_id == str(req.id)))
    assert task.assignee_org_id == w.c.dept.id and task.workdays == 5
    assert req.reply_due == task.due_date == tasks.calendar(db).add_workdays(tasks.today(), 5)
    assert "第二十三条" in task.basis


def test_r_shr_3_source_approves_narrowing_items_rows_and_term(f, db, tmp_path):
    w = world(f, db, tmp_path)
    req = ask(db, w, items=("公民身份号码", "姓名", "性别", "户籍地址"), row_scope={"性别": ["1", "2"]}, term_days=200)
    grant = requests.approve(db, actor=w.c.officer, request_id=req.id,
                             items=[{"name": "公民身份号码", "masked": False}, {"name": "姓名", "masked": True}],
                             row_scope={"性别": ["2"]}, term_days=90, note="仅限女性申请人核验")
    assert [i["name"] for i in grant.items] == ["公民身份号码", "姓名"] and grants.masked_names(grant) == {"姓名"}
    assert grant.row_scope == {"性别": ["2"]} and grant.term_days == 90 and grant.status == "active"
    assert grant.expires_on == tasks.today() + timedelta(days=90)
    assert db.scalar(select(Task.status).where(Task.kind == "sharing.reply", Task.subject_id == str(req.id))) == "done"
    detail = json.loads(db.scalar(select(AuditEvent.detail).where(AuditEvent.action == "sharing.request.approve")))
    assert detail["masked"] == ["姓名"] and detail["items"] == ["公民身份号码", "姓名"]


@pytest.mark.parametrize("kw, field", [
    ({"items": [{"name": "出生日期", "masked": False}]}, "items"),
    ({"row_scope": {"性别": ["1", "2", "9"]}}, "row_scope"),
    ({"term_days": 400}, "term_days"),
])
def test_r_shr_3_approval_can_only_narrow(f, db, tmp_path, kw, field):
    w = world(f, db, tmp_path)
    req = ask(db, w, row_scope={"性别": ["1", "2"]})
    with pytest.raises(Invalid) as exc:
        requests.approve(db, actor=w.c.officer, request_id=req.id, **kw)
    assert exc.value.field == field
    assert db.get(ShareRequest, req.id).status == "pending"


def test_r_shr_2_refusal_must_cite_a_legal_basis_and_is_shown(f, db, tmp_path):
    w = world(f, db, tmp_path)
    req = ask(db, w)
    with pytest.raises(Invalid) as exc:
        requests.refuse(db, actor=w.c.officer, request_id=req.id, basis="  ")
    assert exc.value.field == "basis"
    requests.refuse(db, actor=w.c.officer, request_id=req.id, basis="《中华人民共和国个人信息保护法》第十三条",
                    note="申请用途与所列依据不符")
    seen = requests.get_request(db, actor=w.consumer, request_id=req.id)
    assert seen.status == "refused" and "第十三条" in seen.refusal_basis
    with pytest.raises(Conflict):
        requests.approve(db, actor=w.c.officer, request_id=req.id)


def test_r_shr_2_only_the_source_decides(f, db, tmp_path):
    w = world(f, db, tmp_path)
    req = ask(db, w)
    with pytest.raises(Forbidden):
        requests.approve(db, actor=w.consumer, request_id=req.id)


def test_r_shr_2_delivery_waits_for_data_and_is_due_in_5_working_days(f, db, tmp_path):
    w = world(f, db, tmp_path, load=False)
    req = ask(db, w)
    grant = requests.approve(db, actor=w.c.officer, request_id=req.id)
    assert grant.status == "awaiting_delivery"
    task = db.scalar(select(Task).where(Task.kind == "sharing.deliver", Task.subject_id == str(grant.id)))
    assert grant.delivery_due == task.due_date and task.assignee_org_id == w.c.dept.id
    with pytest.raises(Forbidden) as exc:
        grants.usable(db, grant_id=grant.id, consumer_org_id=w.c.other_dept.id, mode="api")
    assert exc.value.details[0]["reason"] == "not_delivered"
    load_file(db, w.c.officer, w.entry, write_csv(tmp_path / "later.csv", person_rows(5)))
    assert grants.deliver_ready(db) == 1
    assert db.get(Grant, grant.id).status == "active"
    assert db.scalar(select(Task.status).where(Task.kind == "sharing.deliver", Task.subject_id == str(grant.id))) == "done"


def test_r_shr_2_overdue_reply_and_delivery_escalate_to_the_authority_who_may_decide(f, db, tmp_path):
    w = world(f, db, tmp_path, load=False)
    req = ask(db, w)
    late_day = tasks.calendar(db).add_workdays(req.reply_due, 1)
    assert requests.escalate_overdue(db, on=late_day) == {"requests": 1, "deliveries": 0}
    assert db.get(ShareRequest, req.id).status == "escalated"
    task = db.scalar(select(Task).where(Task.kind == "sharing.coordinate"))
    assert task.assignee_org_id == w.c.authority.id
    admin = f.actor(w.c.authority, ("authority_admin",))
    grant = requests.approve(db, actor=admin, request_id=req.id, note="经协调，同意共享")
    assert db.get(ShareRequest, req.id).decided_by_org_id == w.c.authority.id
    assert db.scalar(select(Task.status).where(Task.id == task.id)) == "done"
    after = tasks.calendar(db).add_workdays(grant.delivery_due, 1)
    assert requests.escalate_overdue(db, on=after) == {"requests": 0, "deliveries": 1}
    assert requests.escalate_overdue(db, on=after) == {"requests": 0, "deliveries": 0}  # once


def test_r_shr_4_not_shared_data_points_to_verification(f, db, tmp_path):
    w = world(f, db, tmp_path, sharing_type="不予共享", sharing_condition="",
              sharing_basis="《中华人民共和国个人信息保护法》", open_type="不予开放")
    with pytest.raises(Conflict) as exc:
        ask(db, w, mode="api")
    assert exc.value.details[0]["use_mode"] == "verify" and "核验" in exc.value.message
    req = ask(db, w, mode="verify")
    assert req.status == "pending"
    with pytest.raises(Invalid):
        requests.approve(db, actor=w.c.officer, request_id=req.id, mode="api")


@pytest.mark.parametrize("kind, purpose, ok", [
    ("enterprise", "benefit_policy", True), ("enterprise", "public_service", False),
    ("university", "research", True), ("university", "benefit_policy", False),
])
def test_r_shr_7_enterprises_and_universities_by_the_same_procedure_within_their_purposes(f, db, tmp_path, kind,
                                                                                            purpose, ok):
    w = world(f, db, tmp_path)
    requester = f.actor(f.org(kind=kind), ("dept_officer",))
    if ok:
        req = ask(db, w, actor=requester, purpose_kind=purpose)
        assert req.status == "pending" and req.purpose_kind == purpose
    else:
        with pytest.raises(Forbidden) as exc:
            ask(db, w, actor=requester, purpose_kind=purpose)
        assert "第二十五条" in exc.value.message


def test_r_shr_1_bad_requests_are_refused_with_the_field(f, db, tmp_path):
    w = world(f, db, tmp_path)
    with pytest.raises(Invalid) as exc:
        ask(db, w, items=("不存在的项",))
    assert exc.value.field == "items"
    with pytest.raises(Invalid) as exc:
        ask(db, w, matter=" ")
    assert exc.value.field == "matter"
    with pytest.raises(Conflict):
        ask(db, w, actor=w.c.officer)  # one's own entry
    assert db.scalar(select(ShareRequest)) is None


def test_r_shr_3_usable_refuses_other_consumers_modes_and_revoked_or_expired_grants(f, db, tmp_path):
    w = world(f, db, tmp_path)
    grant = active_grant(db, w)
    assert grants.usable(db, grant_id=grant.id, consumer_org_id=w.c.other_dept.id, mode="api") is grant
    cases = [(w.c.dept.id, "api", None, "other_consumer"), (w.c.other_dept.id, "exchange", None, "wrong_mode"),
             (w.c.other_dept.id, "api", grant.expires_on + timedelta(days=1), "expired")]
    for org_id, mode, on, reason in cases:
        with pytest.raises(Forbidden) as exc:
            grants.usable(db, grant_id=grant.id, consumer_org_id=org_id, mode=mode, on=on)
        assert exc.value.details[0]["reason"] == reason
    with pytest.raises(Forbidden):
        grants.revoke(db, actor=w.consumer, grant_id=grant.id, reason="x")
    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="业务已办结")
    with pytest.raises(Forbidden) as exc:
        grants.usable(db, grant_id=grant.id, consumer_org_id=w.c.other_dept.id, mode="api")
    assert exc.value.details[0]["reason"] == "revoked"
    assert grants.expire(db, on=grant.expires_on + timedelta(days=1)) == 0  # revoked stays revoked


def test_r_shr_3_grades_decide_masking_and_core_items_are_never_in_clear(f, db, tmp_path):
    items = [dict(name="公民身份号码", type="C", length=18, is_key=True, is_identifier=True, grade="一般3"),
             dict(name="姓名", type="C", length=50, grade="一般4"),
             dict(name="性别", type="C", length=1, grade="核心")]
    w = world(f, db, tmp_path, load=False, items=items, grade="核心")
    req = ask(db, w)
    grant = requests.approve(db, actor=w.c.officer, request_id=req.id)
    assert grants.masked_names(grant) == {"姓名", "性别"}
    req2 = ask(db, w)
    with pytest.raises(Invalid) as exc:
        requests.approve(db, actor=w.c.officer, request_id=req2.id,
                         items=[{"name": "公民身份号码"}, {"name": "性别", "masked": False}])
    assert "性别" in exc.value.message
