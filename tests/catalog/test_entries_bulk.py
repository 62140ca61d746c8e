"""The bulk path of the entry service (create_entries / update_entries): the same rules and the same
stored result as the single-entry path, all or nothing, one audit event per entry (R-CAT-11)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gongshu.audit import service as audit_service
from gongshu.audit.models import AuditEvent
from gongshu.catalog.models import CatalogEntry, DataItem, GradingRule, SourceConflict
from gongshu.catalog.service import elements, entries, lifecycle
from gongshu.errors import Conflict, Forbidden, Invalid
from tests.catalog.helpers import DEFAULT_ITEMS, cast, entry_in, next_code, published

#: one bad entry per rule family (R-CAT-2 metadata, R-CAT-3 sharing, R-CAT-5 grades, R-CAT-6 elements)
BAD = [
    dict(code="101001-00001"),
    dict(code="201001/00001"),
    dict(class_code="101002"),
    dict(topic="主" * 41, business="业" * 201),
    dict(format="纸质", update_cycle="随时", sharing_mode="邮件"),
    dict(sharing_condition=" ", sharing_basis=""),
    dict(sharing_type="不予共享", sharing_condition="", sharing_basis="", legal_basis="", open_type="无条件开放"),
    dict(open_type="有条件开放", open_condition=""),
    dict(related_codes=["bad code", "101001/99999"]),
    dict(items=[dict(DEFAULT_ITEMS[0]), {"name": "姓名", "type": "X"}, {"name": "户籍地址", "type": "C"},
                {"name": "公民身份号码", "type": "C", "length": 18}]),
    dict(items=[dict(DEFAULT_ITEMS[0], sharing_type="无条件共享"), dict(DEFAULT_ITEMS[1], open_type="有条件开放")]),
    dict(grade="一般2", items=[dict(DEFAULT_ITEMS[0], grade="一般4"), dict(DEFAULT_ITEMS[1], grade="七级")]),
    dict(grade="一般1", items=[dict(DEFAULT_ITEMS[0], grade=None)]),  # the rule below suggests 一般4
    dict(collecting_org="不存在的局", verifying_org=" ", items=[dict(DEFAULT_ITEMS[0], element_code="DE-NOPE")]),
]


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def stored(db, entry_id: int) -> dict:
    """An entry and its items as stored, without ids, code and timestamps (to compare two paths)."""
    snap = entries.snapshot(db, entry=db.get(CatalogEntry, entry_id))
    snap.pop("id")
    snap.pop("code")
    return snap


@pytest.fixture
def rule(db):
    db.add(GradingRule(name="身份号码", name_keyword="身份号码", grade="一般4", reason="敏感个人信息", active=True))
    db.flush()


def test_bulk_and_single_paths_find_the_same_problems_R_CAT_2_R_CAT_3_R_CAT_5(f, db, rule):
    c = cast(f)
    taken = entries.create_entry(db, actor=c.other_officer, data=entry_in())
    datas = [entry_in(**bad) for bad in BAD] + [entry_in(code=taken.code), entry_in()]
    single = [entries.validate_entry(db, actor=c.officer, data=d) for d in datas]
    assert all(single[:-1]) and single[-1] == []  # every bad input is bad, the last one is fine
    assert entries.validate_entries(db, actor=c.officer, data=datas) == single
    for d, errs in zip(datas[:-1], single[:-1], strict=True):
        with pytest.raises(Invalid) as exc:
            entries.create_entry(db, actor=c.officer, data=d)
        assert exc.value.details == errs
    before = (count(db, CatalogEntry), count(db, DataItem), count(db, AuditEvent))
    with pytest.raises(Invalid) as exc:
        entries.create_entries(db, actor=c.officer, data=datas)
    assert exc.value.details == [{"entry": i, **e} for i, errs in enumerate(single) for e in errs]
    assert exc.value.field == single[0][0]["field"] and "未保存任何内容" in exc.value.message
    assert (count(db, CatalogEntry), count(db, DataItem), count(db, AuditEvent)) == before  # all or nothing


def test_same_code_twice_in_one_batch_R_CAT_2(f, db):
    c = cast(f)
    a = entry_in()
    with pytest.raises(Invalid) as exc:
        entries.create_entries(db, actor=c.officer, data=[a, entry_in(), entry_in(code=a.code)])
    assert [(d["entry"], d["field"]) for d in exc.value.details] == [(2, "code")]
    assert "已被其他目录使用" in exc.value.details[0]["message"]


def test_bulk_create_stores_what_the_single_path_stores_R_CAT_11(f, db, rule):
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",))
    elements.create_element(db, actor=admin, code="DE00001", name="公民身份号码", type="C", length=18,
                            source_org_id=c.other_dept.id)
    shapes = [dict(),
              dict(grade=None, collecting_org=c.dept.uscc, verifying_org=c.other_dept.name,
                   items=[dict(DEFAULT_ITEMS[0], grade=None), dict(DEFAULT_ITEMS[2], grade=None)]),
              dict(items=[dict(DEFAULT_ITEMS[0], element_code="DE00001", claims_source=True)]),
              dict(sharing_type="不予共享", sharing_basis="", legal_basis="保密法", open_type="不予开放", grade=None)]
    datas = [entry_in(**s) for s in reversed(shapes)][::-1]  # codes descending: ids must follow the input
    ids = entries.create_entries(db, actor=c.officer, data=datas)
    twins = [entries.create_entry(db, actor=c.officer, data=entry_in(**s)).id for s in shapes]
    assert [db.get(CatalogEntry, i).code for i in ids] == [d.code for d in datas]
    for bulk, single in zip(ids, twins, strict=True):
        assert stored(db, bulk) == stored(db, single)
    assert db.get(CatalogEntry, ids[1]).grade == "一般4"  # suggested by the rule, 就高从严
    assert entries.items_of(db, entry_id=ids[2])[0].element_id is not None
    claims = db.scalars(select(SourceConflict.claimant_entry_id).where(SourceConflict.status == "open")).all()
    assert sorted(claims) == sorted([ids[2], twins[2]])  # the single-source claim is raised either way
    events = {e.subject_id: e for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.entry.create"))}
    for bulk, single in zip(ids, twins, strict=True):
        b, s = events[str(bulk)], events[str(single)]
        assert b.actor_id == c.officer.user_id and b.after_digest and b.detail.replace(
            db.get(CatalogEntry, bulk).code, "X") == s.detail.replace(db.get(CatalogEntry, single).code, "X")
    assert "敏感个人信息" in events[str(ids[1])].detail
    assert audit_service.verify(db).ok


def test_bulk_update_matches_single_update_and_refreshes_loaded_items_R_CAT_11(f, db):
    c = cast(f)
    a = entries.create_entry(db, actor=c.officer, data=entry_in())
    b = entries.create_entry(db, actor=c.officer, data=entry_in())
    twin = entries.create_entry(db, actor=c.officer, data=entry_in())
    loaded = entries.items_of(db, entry_id=a.id)  # objects in the session before the bulk update
    first = {i.name: i.id for i in loaded}
    items = [dict(DEFAULT_ITEMS[1], meaning="曾用名除外"), dict(DEFAULT_ITEMS[0]),
             {"name": "民族", "type": "C", "length": 2, "grade": "一般2"}]
    assert entries.update_entries(db, actor=c.officer, entry_ids=[a.id, b.id],
                                  data=[entry_in(code=a.code, items=items), entry_in(code=b.code, summary="新摘要")]) \
        == [a.id, b.id]
    entries.update_entry(db, actor=c.officer, entry_id=twin.id, data=entry_in(code=twin.code, items=items))
    now = entries.items_of(db, entry_id=a.id)
    assert [i.name for i in now] == ["姓名", "公民身份号码", "民族"]
    assert now[0].id == first["姓名"] and now[0].meaning == "曾用名除外" and now[0].seq == 1  # kept its id
    assert loaded[1].meaning == "曾用名除外"  # the object loaded before was refreshed, not left stale
    assert db.scalar(select(DataItem).where(DataItem.entry_id == a.id, DataItem.name == "性别")) is None
    assert stored(db, a.id) == stored(db, twin.id) and b.summary == "新摘要"
    rows = {e.subject_id: e for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.entry.update"))}
    assert rows[str(a.id)].detail == rows[str(twin.id)].detail and "民族" in rows[str(a.id)].detail
    assert rows[str(a.id)].before_digest != rows[str(a.id)].after_digest
    assert json.loads(rows[str(b.id)].detail)["fields"] == ["summary"]
    assert audit_service.verify(db).ok


def test_bulk_update_refuses_other_departments_and_published_entries_R_CAT_1(f, db):
    c = cast(f)
    mine = entries.create_entry(db, actor=c.officer, data=entry_in())
    theirs = entries.create_entry(db, actor=c.other_officer, data=entry_in())
    pub = published(db, c)
    with pytest.raises(Forbidden) as exc:
        entries.update_entries(db, actor=c.officer, entry_ids=[mine.id, theirs.id],
                               data=[entry_in(code=mine.code), entry_in(code=theirs.code)])
    assert exc.value.details[0]["entry"] == 1
    with pytest.raises(Conflict) as exc:
        entries.update_entries(db, actor=c.officer, entry_ids=[pub.id], data=[entry_in(code=pub.code)])
    assert exc.value.details[0]["entry"] == 0 and "修订" in exc.value.message
    lifecycle.revise(db, actor=c.officer, entry_id=pub.id)
    with pytest.raises(Invalid) as exc:  # once published, the code is frozen, in bulk as singly
        entries.update_entries(db, actor=c.officer, entry_ids=[mine.id, pub.id],
                               data=[entry_in(code=mine.code), entry_in(code=next_code())])
    assert [(d["entry"], d["field"]) for d in exc.value.details] == [(1, "code")]
    with pytest.raises(Forbidden):
        entries.create_entries(db, actor=c.reviewer, data=[entry_in()])
    assert entries.create_entries(db, actor=c.officer, data=[]) == []
