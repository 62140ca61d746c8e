"""Which entries are open data and what the public receives of them (R-OPN-1/2/6): only published entries
whose open attribute allows it, after an approved review (R-OPN-6); never 不予开放; items not opened or of
grade 重要/核心 left out; personal items and grades 一般3/一般4 masked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.opendata.service import datasets, reviews
from gongshu.tasks.models import Task
from tests.catalog.helpers import cast, published
from tests.opendata.helpers import open_entry, open_world


def test_r_opn_6_an_entry_is_open_only_after_the_review_is_approved_and_until_it_is_closed(f, db):
    c = cast(f)
    e = published(db, c, open_type="无条件开放")
    assert not datasets.is_open(db, entry_id=e.id)
    r = reviews.submit(db, actor=c.officer, entry_id=e.id, confidentiality="不涉密", risk_assessment="低风险",
                       risk_level="低")
    task = db.scalar(select(Task).where(Task.kind == reviews.TASK_KIND, Task.subject_id == str(r.id)))
    assert task is not None and task.assignee_org_id == c.authority.id and task.status == "open"
    assert not datasets.is_open(db, entry_id=e.id)  # submitted is not open
    with pytest.raises(Forbidden):
        reviews.approve(db, actor=c.officer, review_id=r.id)  # the source cannot approve its own
    reviews.approve(db, actor=c.reviewer, review_id=r.id, note="同意开放")
    assert datasets.is_open(db, entry_id=e.id) and datasets.get(db, ref=e.code).entry.id == e.id
    db.refresh(task)
    assert task.status == "done"
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "open_review")))
    assert {"opendata.review.submit", "opendata.review.approved"} <= actions
    with pytest.raises(Invalid) as exc:
        reviews.close(db, actor=c.reviewer, review_id=r.id, note=" ")
    assert exc.value.field == "note"
    reviews.close(db, actor=c.reviewer, review_id=r.id, note="发现未脱敏的敏感信息")
    assert not datasets.is_open(db, entry_id=e.id)
    with pytest.raises(NotFound):
        datasets.get(db, ref=e.id)


def test_r_opn_2_not_open_entries_cannot_be_reviewed_and_returns_need_reasons(f, db):
    c = cast(f)
    closed = published(db, c, open_type="不予开放")
    with pytest.raises(Conflict):
        reviews.submit(db, actor=c.officer, entry_id=closed.id, confidentiality="x", risk_assessment="x",
                       risk_level="低")
    e = published(db, c, open_type="有条件开放", open_condition="具备数据安全管理能力；仅用于科研")
    with pytest.raises(Invalid) as exc:
        reviews.submit(db, actor=c.officer, entry_id=e.id, confidentiality="x", risk_assessment="x", risk_level="高")
    assert exc.value.field == "risk_level"
    with pytest.raises(Invalid) as exc:
        reviews.submit(db, actor=c.officer, entry_id=e.id, confidentiality="", risk_assessment="x", risk_level="低")
    assert exc.value.field == "confidentiality"
    with pytest.raises(Forbidden):  # another department's officer
        reviews.submit(db, actor=c.other_officer, entry_id=e.id, confidentiality="x", risk_assessment="x",
                       risk_level="低")
    r = reviews.submit(db, actor=c.officer, entry_id=e.id, confidentiality="x", risk_assessment="x", risk_level="中")
    with pytest.raises(Conflict):  # one pending review at a time
        reviews.submit(db, actor=c.officer, entry_id=e.id, confidentiality="x", risk_assessment="x", risk_level="低")
    with pytest.raises(Invalid):
        reviews.return_review(db, actor=c.reviewer, review_id=r.id, note="")
    reviews.return_review(db, actor=c.reviewer, review_id=r.id, note="风险评估未说明重新识别风险")
    assert not datasets.is_open(db, entry_id=e.id)
    again = reviews.submit(db, actor=c.officer, entry_id=e.id, confidentiality="x", risk_assessment="重新识别风险低",
                           risk_level="低")
    reviews.approve(db, actor=c.reviewer, review_id=again.id)
    ds = datasets.get(db, ref=e.id)
    assert ds.conditional
    with pytest.raises(Forbidden):
        datasets.require_unconditional(ds)


def test_r_opn_2_public_items_leave_out_closed_items_and_mask_personal_ones(f, db, tmp_path):
    items = [
        {"name": "公民身份号码", "type": "C", "length": 18, "is_identifier": True, "is_key": True, "is_personal": True,
         "grade": "一般3"},
        {"name": "姓名", "type": "C", "length": 50, "is_personal": True, "grade": "一般2"},
        {"name": "性别", "type": "C", "length": 1, "grade": "一般1"},
        {"name": "出生日期", "type": "D", "grade": "一般4"},
        {"name": "户籍地址", "type": "C", "length": 200, "grade": "一般1", "open_type": "不予开放"},
        {"name": "宗教信仰", "type": "C", "length": 20, "grade": "重要"},
    ]
    w = open_world(f, db, tmp_path, load=False, items=items, grade="重要")
    ds = datasets.get(db, ref=w.entry.id)
    assert [(i["name"], i["masked"]) for i in ds.items] == [
        ("公民身份号码", True), ("姓名", True), ("性别", False), ("出生日期", True)]
    row = {"公民身份号码": "44190019850312002X", "姓名": "张三", "性别": "2", "出生日期": "1985-03-12",
           "户籍地址": "南城街道1号", "宗教信仰": "无"}
    assert datasets.mask(ds, row) == {"公民身份号码": "4419**********002X", "姓名": "张*", "性别": "2",
                                      "出生日期": "1********"}
    with pytest.raises(NotFound):
        datasets.version(db, dataset=ds)  # nothing loaded yet


def test_r_opn_6_open_entries_query_matches_is_open(f, db, tmp_path):
    w = open_world(f, db, tmp_path, rows=3)
    other = published(db, w.c, open_type="无条件开放")
    assert datasets.opened_ids(db) == {w.entry.id}
    open_entry(db, w.c, other)
    assert datasets.opened_ids(db) == {w.entry.id, other.id}
    ds = datasets.get(db, ref=w.entry.code)
    assert datasets.get(db, ref=datasets.slug(w.entry.code)).entry.id == w.entry.id == datasets.get(db, ref=str(w.entry.id)).entry.id
    assert "/" not in datasets.slug(w.entry.code)
    served = datasets.served(db, dataset=ds)
    assert served.version.number == 1 and [c.label for c in served.granted] == [i["name"] for i in ds.items]
    assert [v.number for v in datasets.versions(db, dataset=ds)] == [1]
    with pytest.raises(NotFound):
        datasets.version(db, dataset=ds, number=9)


def test_r_opn_1_the_catalogue_search_searches_within_the_open_entries(f, db, tmp_path):
    from gongshu.catalog.service import search
    from gongshu.kit.pagination import Page

    w = open_world(f, db, tmp_path, load=False)
    published(db, w.c, open_type="无条件开放")  # the same name, published but not opened
    for q, filters in (("人口", {}), ("", {}), ("", {"open_type": ["无条件开放"]}), ("huji", {})):
        everything = search.search(db, actor=None, q=q, filters=filters, page=Page(1, 20))
        portal = search.search(db, actor=None, q=q, filters=filters, page=Page(1, 20),
                               within=datasets.opened_ids_select())
        assert everything.total == 2 and [h.entry_id for h in portal.hits] == [w.entry.id], (q, filters)
        assert portal.total == 1 and dict(portal.facets["open_type"]) == {"无条件开放": 1}, (q, filters)


def test_r_opn_2_an_id_beyond_the_database_integer_is_simply_not_found(f, db, tmp_path):
    open_world(f, db, tmp_path, load=False)
    for ref in ("99999999999", "2147483648", "0", "-1", "", "101001-"):
        with pytest.raises(NotFound):
            datasets.get(db, ref=ref)
