"""The entry lifecycle: R-CAT-1 (submit / review / publish), R-CAT-4 (deadlines), R-CAT-7 (versions, diff),
R-CAT-3 (不予共享 filed with the authority)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.models import ChangeDeclaration, EntryVersion, Review
from gongshu.catalog.service import entries, lifecycle, search
from gongshu.errors import CalendarUnknown, Conflict, Forbidden, Invalid
from gongshu.kit.hashing import canonical_json, digest, sm3_hex
from gongshu.kit.pagination import Page
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task
from tests.catalog.helpers import DEFAULT_ITEMS, cast, entry_in, published

MON = date(2026, 3, 2)


def entry_actions(db, entry_id: int) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "catalog_entry",
                                                           AuditEvent.subject_id == str(entry_id))
                           .order_by(AuditEvent.seq)))


def tasks_of(db, kind: str, entry_id: int) -> list[Task]:
    return list(db.scalars(select(Task).where(Task.kind == kind, Task.subject_id == str(entry_id))
                           .order_by(Task.id)))


def test_submit_opens_review_due_in_5_working_days_R_CAT_1_R_CAT_4(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    # submitted Tuesday 2026-09-29: 9-30, (10-01..07 National Day), 10-08, 10-09, 10-10 (调休 Saturday), 10-12
    review = lifecycle.submit(db, actor=c.officer, entry_id=e.id, note="首次编制", start=date(2026, 9, 29))
    assert e.status == "submitted" and review.due_date == date(2026, 10, 12) and review.change_note == "首次编制"
    [task] = tasks_of(db, "catalog.review", e.id)
    assert (task.assignee_org_id, task.assignee_role, task.due_date) == (c.authority.id, "authority_reviewer",
                                                                         date(2026, 10, 12))
    assert task.basis == "东莞市公共数据管理办法第十二条" and e.code in task.title
    assert [t.id for t in tasks.inbox(db, actor=c.reviewer)] == [task.id]
    assert tasks.inbox(db, actor=c.officer) == []
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "catalog.entry.submit",
                                            AuditEvent.subject_id == str(e.id)))
    assert ev.before_digest and ev.after_digest and "2026-10-12" in ev.detail
    assert [(x.id, r.id) for x, r in lifecycle.review_queue(db, actor=c.reviewer)] == [(e.id, review.id)]
    with pytest.raises(Conflict):  # frozen while under review
        entries.update_entry(db, actor=c.officer, entry_id=e.id, data=entry_in(code=e.code))
    with pytest.raises(Conflict):
        lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)


def test_overdue_review_is_flagged_R_CAT_4(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)  # due Monday 2026-03-09
    assert tasks.sweep_overdue(db, on=date(2026, 3, 9)) == 0
    assert tasks.sweep_overdue(db, on=date(2026, 3, 10)) == 1
    assert tasks_of(db, "catalog.review", e.id)[0].overdue is True


def test_staff_may_not_submit_and_other_departments_may_not_either_R_CAT_1(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.staff, data=entry_in())
    with pytest.raises(Forbidden):
        lifecycle.submit(db, actor=c.staff, entry_id=e.id, start=MON)
    with pytest.raises(Forbidden):
        lifecycle.submit(db, actor=c.other_officer, entry_id=e.id, start=MON)
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    assert e.status == "submitted"


def test_submit_without_known_calendar_fails_cleanly_R_CAT_4(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    with pytest.raises(CalendarUnknown) as exc:
        lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=date(2099, 12, 28))  # due in a year nobody knows
    assert exc.value.status == 409 and "2099" in exc.value.message
    assert e.status == "draft" and tasks_of(db, "catalog.review", e.id) == []
    assert db.scalar(select(Review).where(Review.entry_id == e.id)) is None


def test_approve_publishes_a_version_with_snapshot_and_sm3_digest_R_CAT_1_R_CAT_7(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in(release_date=None))
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    with pytest.raises(Forbidden):
        lifecycle.approve(db, actor=c.officer, entry_id=e.id)
    with pytest.raises(Forbidden):
        lifecycle.approve(db, actor=c.auditor, entry_id=e.id)
    v = lifecycle.approve(db, actor=c.reviewer, entry_id=e.id, note="符合编制要求")
    assert (e.status, e.version, v.version, v.approved_by) == ("published", 1, 1, c.reviewer.user_id)
    assert e.published_at is not None and e.release_date == tasks.today()
    snap = entries.published_snapshot(db, entry_id=e.id)
    assert snap == v.snapshot and v.digest == sm3_hex(canonical_json(snap))
    assert snap["org_name"] == c.dept.name and snap["org_uscc"] == c.dept.uscc and snap["version"] == 1
    assert [i["name"] for i in snap["items"]] == [d["name"] for d in DEFAULT_ITEMS]
    assert snap["release_date"] == tasks.today().isoformat()
    review = db.scalar(select(Review).where(Review.entry_id == e.id))
    assert (review.decision, review.reasons, review.decided_by) == ("approve", "符合编制要求", c.reviewer.user_id)
    assert [t.status for t in tasks_of(db, "catalog.review", e.id)] == ["done"]
    assert search.search(db, actor=c.reviewer, q="户籍", page=Page()).total == 1
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "catalog.entry.approve"))
    assert ev.subject_id == str(e.id) and ev.actor_id == c.reviewer.user_id
    assert ev.after_digest == digest({"status": "published", "version": 1, "digest": v.digest})
    with pytest.raises(Conflict):  # nothing left to review
        lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)


def test_return_needs_reasons_then_edit_and_resubmit_R_CAT_1(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    with pytest.raises(Invalid) as exc:
        lifecycle.return_entry(db, actor=c.reviewer, entry_id=e.id, reasons="  ")
    assert exc.value.field == "reasons"
    with pytest.raises(Forbidden):
        lifecycle.return_entry(db, actor=c.officer, entry_id=e.id, reasons="自己退回")
    r = lifecycle.return_entry(db, actor=c.reviewer, entry_id=e.id, reasons="共享条件过于笼统，请写明使用场景")
    assert e.status == "returned" and r.decision == "return" and "使用场景" in r.reasons
    assert [t.status for t in tasks_of(db, "catalog.review", e.id)] == ["done"]
    entries.update_entry(db, actor=c.officer, entry_id=e.id,
                         data=entry_in(code=e.code, sharing_condition="仅用于户籍业务办理中的身份核验"))
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, note="按审核意见修改", start=date(2026, 3, 3))
    assert e.status == "submitted" and e.version == 0
    assert [x.decision for x in lifecycle.reviews_of(db, entry_id=e.id)] == [None, "return"]
    assert [t.status for t in tasks_of(db, "catalog.review", e.id)] == ["done", "open"]
    assert entry_actions(db, e.id) == ["catalog.entry.create", "catalog.entry.submit", "catalog.entry.return",
                                       "catalog.entry.update", "catalog.entry.submit"]


def test_revise_keeps_public_version_then_publishes_next_version_with_diff_R_CAT_7(f, db):
    c = cast(f)
    e = published(db, c)
    with pytest.raises(Forbidden):
        lifecycle.revise(db, actor=c.staff, entry_id=e.id)
    lifecycle.revise(db, actor=c.officer, entry_id=e.id, note="新增民族字段")
    assert e.status == "revising"
    items = [dict(DEFAULT_ITEMS[0]), dict(DEFAULT_ITEMS[1], length=100), dict(DEFAULT_ITEMS[3]),
             dict(DEFAULT_ITEMS[4]), {"name": "民族", "type": "C", "length": 2, "grade": "一般2"}]
    entries.update_entry(db, actor=c.officer, entry_id=e.id,
                         data=entry_in(code=e.code, name="户籍人口基本信息（含民族）", update_cycle="实时", items=items))
    # the public still sees version 1 while the revision is worked on
    assert entries.published_snapshot(db, entry_id=e.id)["name"] == "户籍人口基本信息"
    work = entries.diff(db, actor=c.officer, entry_id=e.id, from_version=1)
    assert {x["field"] for x in work["fields"]} == {"name", "update_cycle"}
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    v2 = lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    assert (v2.version, e.version, e.status) == (2, 2, "published")
    assert [v.version for v in entries.history(db, actor=c.officer, entry_id=e.id)] == [2, 1]
    d = entries.diff(db, actor=c.officer, entry_id=e.id, from_version=1, to_version=2)
    by = {x["field"]: x for x in d["fields"]}
    assert set(by) == {"name", "update_cycle"}
    assert (by["update_cycle"]["before"], by["update_cycle"]["after"]) == ("每日", "实时")
    assert by["name"]["label"] == "信息资源名称"
    assert [i["name"] for i in d["items"]["added"]] == ["民族"]
    assert [i["name"] for i in d["items"]["removed"]] == ["性别"]
    assert d["items"]["changed"] == [{"name": "姓名", "fields": [
        {"field": "length", "label": "数据长度", "label_en": "Length", "before": 50, "after": 100}]}]
    assert len(db.scalars(select(EntryVersion).where(EntryVersion.entry_id == e.id)).all()) == 2
    assert entries.published_snapshot(db, entry_id=e.id, version=1)["name"] == "户籍人口基本信息"
    with pytest.raises(Forbidden):
        entries.history(db, actor=c.other_officer, entry_id=e.id)


def test_not_shared_is_filed_with_the_authority_on_submit_R_CAT_3(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in(
        sharing_type="不予共享", sharing_condition="", sharing_basis="《中华人民共和国保守国家秘密法》第十条"))
    assert e.filed_with_authority is False
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    assert e.filed_with_authority is True
    [filing] = tasks_of(db, "catalog.filing", e.id)
    assert (filing.assignee_org_id, filing.assignee_role, filing.status) == (c.authority.id, "authority_reviewer",
                                                                             "open")
    assert "不予共享备案" in filing.title
    assert "catalog.entry.file" in entry_actions(db, e.id)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    assert tasks_of(db, "catalog.filing", e.id)[0].status == "done"
    # a revision that shares the data again clears the flag
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    entries.update_entry(db, actor=c.officer, entry_id=e.id, data=entry_in(code=e.code))
    assert e.filed_with_authority is False


def test_withdraw_by_authority_on_request_R_CAT_1(f, db):
    c = cast(f)
    e = published(db, c)
    with pytest.raises(Forbidden):
        lifecycle.withdraw(db, actor=c.officer, entry_id=e.id, reason="不再采集")
    with pytest.raises(Invalid):
        lifecycle.request_withdrawal(db, actor=c.officer, entry_id=e.id, reason="")
    task = lifecycle.request_withdrawal(db, actor=c.officer, entry_id=e.id, reason="业务已划转至市政数局")
    assert task.assignee_org_id == c.authority.id and task in tasks.inbox(db, actor=c.reviewer)
    with pytest.raises(Conflict):
        lifecycle.request_withdrawal(db, actor=c.officer, entry_id=e.id, reason="再次申请")
    with pytest.raises(Forbidden):
        lifecycle.request_withdrawal(db, actor=c.other_officer, entry_id=e.id, reason="不是我的")
    with pytest.raises(Invalid):
        lifecycle.withdraw(db, actor=c.reviewer, entry_id=e.id, reason=" ")
    lifecycle.withdraw(db, actor=c.reviewer, entry_id=e.id, reason="业务已划转")
    assert e.status == "withdrawn" and task.status == "done"
    assert search.search(db, actor=c.reviewer, q="户籍", page=Page()).total == 0
    assert entry_actions(db, e.id)[-2:] == ["catalog.entry.request_withdraw", "catalog.entry.withdraw"]
    with pytest.raises(Conflict):
        lifecycle.withdraw(db, actor=c.reviewer, entry_id=e.id, reason="again")
    # a draft never published cannot be withdrawn
    d = entries.create_entry(db, actor=c.officer, data=entry_in())
    with pytest.raises(Conflict):
        lifecycle.withdraw(db, actor=c.reviewer, entry_id=d.id, reason="x")
    # a withdrawn entry can be revised and republished (code unchanged, version 2)
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    assert (e.status, e.version) == ("published", 2)
    assert search.search(db, actor=c.reviewer, q="户籍", page=Page()).total == 1


def test_withdraw_cancels_a_pending_revision_review(f, db):
    c = cast(f)
    e = published(db, c)
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    lifecycle.withdraw(db, actor=c.reviewer, entry_id=e.id, reason="资源已停止采集")
    assert lifecycle.reviews_of(db, entry_id=e.id)[0].decision == "withdraw"
    assert tasks_of(db, "catalog.review", e.id)[-1].status == "cancelled"


def test_change_declaration_opens_update_items_due_in_15_working_days_R_CAT_4(f, db):
    c = cast(f)
    a = published(db, c)
    b = published(db, c, name="户籍迁移登记信息")
    draft = entries.create_entry(db, actor=c.officer, data=entry_in())
    theirs = published(db, c, name="他人目录")
    theirs_other = entries.create_entry(db, actor=c.other_officer, data=entry_in())
    with pytest.raises(Forbidden):
        lifecycle.declare_change(db, actor=c.staff, kind="duties", description="职责调整")
    with pytest.raises(Invalid):
        lifecycle.declare_change(db, actor=c.officer, kind="mood", description="x")
    with pytest.raises(Invalid):
        lifecycle.declare_change(db, actor=c.officer, kind="duties", description=" ")
    with pytest.raises(Invalid) as exc:
        lifecycle.declare_change(db, actor=c.officer, kind="duties", description="x", entry_ids=[theirs_other.id])
    assert exc.value.field == "entry_ids"
    # declared on the Mid-Autumn holiday 2026-09-25; National Day off, 10-10 is a working Saturday
    decl = lifecycle.declare_change(db, actor=c.officer, kind="legal_basis", start=date(2026, 9, 25),
                                    description="《广东省公共数据管理办法》修订，户籍数据共享依据调整")
    assert decl.due_date == date(2026, 10, 22)
    assert sorted(decl.entry_ids) == sorted([a.id, b.id, theirs.id])  # every published entry of the org
    assert draft.id not in decl.entry_ids
    inbox = tasks.inbox(db, actor=c.officer)
    assert {t.subject_id for t in inbox} == {str(a.id), str(b.id), str(theirs.id)}
    assert all(t.due_date == date(2026, 10, 22) and t.kind == "catalog.update" for t in inbox)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "catalog.entry.declare_change",
                                              AuditEvent.subject_id == str(decl.id)))
    # the update item closes when that entry's revision is submitted
    for x in (a, b):
        lifecycle.revise(db, actor=c.officer, entry_id=x.id)
        lifecycle.submit(db, actor=c.officer, entry_id=x.id, start=date(2026, 10, 9))
    assert [t.status for t in tasks_of(db, "catalog.update", a.id)] == ["done"]
    assert decl.fulfilled_at is None  # one entry still to do
    lifecycle.revise(db, actor=c.officer, entry_id=theirs.id)
    lifecycle.submit(db, actor=c.officer, entry_id=theirs.id, start=date(2026, 10, 9))
    db.refresh(decl)
    assert decl.fulfilled_at is not None
    assert [d.id for d in lifecycle.declarations(db, actor=c.officer)] == [decl.id]
    assert lifecycle.declarations(db, actor=c.other_officer) == []


def test_change_declaration_for_a_chosen_subset_R_CAT_4(f, db):
    c = cast(f)
    a = published(db, c)
    published(db, c, name="户籍迁移登记信息")
    decl = lifecycle.declare_change(db, actor=c.officer, kind="duties", description="职责划转", entry_ids=[a.id],
                                    start=date(2026, 3, 2))
    assert decl.entry_ids == [a.id] and [t.subject_id for t in tasks.inbox(db, actor=c.officer)] == [str(a.id)]
    assert db.scalar(select(ChangeDeclaration).where(ChangeDeclaration.id == decl.id)).kind == "duties"
    other = cast(f)
    with pytest.raises(Invalid):  # no published entries
        lifecycle.declare_change(db, actor=other.officer, kind="duties", description="职责调整")


def test_every_transition_is_audited_in_order_R_CAT_1(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    lifecycle.return_entry(db, actor=c.reviewer, entry_id=e.id, reasons="补充摘要")
    entries.update_entry(db, actor=c.staff, entry_id=e.id, data=entry_in(code=e.code, summary="补充后的摘要"))
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    lifecycle.submit(db, actor=c.officer, entry_id=e.id, start=MON)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    lifecycle.withdraw(db, actor=c.reviewer, entry_id=e.id, reason="停止采集")
    assert entry_actions(db, e.id) == [
        "catalog.entry.create", "catalog.entry.submit", "catalog.entry.return", "catalog.entry.update",
        "catalog.entry.submit", "catalog.entry.approve", "catalog.entry.revise", "catalog.entry.submit",
        "catalog.entry.approve", "catalog.entry.withdraw"]
    actors = list(db.scalars(select(AuditEvent.actor_id).where(AuditEvent.subject_type == "catalog_entry",
                                                               AuditEvent.subject_id == str(e.id))
                             .order_by(AuditEvent.seq)))
    assert actors[2] == c.reviewer.user_id and actors[3] == c.staff.user_id
