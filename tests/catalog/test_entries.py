"""Entries and their rules: R-CAT-2 (metadata), R-CAT-3 (sharing types), R-CAT-5 (grades), permissions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.models import DataItem, GradingRule
from gongshu.catalog.service import elements, entries, lifecycle
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.kit.pagination import Page
from tests.catalog.helpers import DEFAULT_ITEMS, cast, entry_in, next_code, published


def fields_of(errors: list[dict]) -> list[str]:
    return [e["field"] for e in errors]


def audit_rows(db, action: str, subject_id) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                    AuditEvent.subject_id == str(subject_id))))


def test_create_entry_records_metadata_and_items_R_CAT_2(f, db):
    c = cast(f)
    data = entry_in(collecting_org=c.dept.uscc, verifying_org=c.dept.name, related_codes=["101001/99999"])
    e = entries.create_entry(db, actor=c.officer, data=data)
    assert (e.status, e.version, e.org_id, e.class_code) == ("draft", 0, c.dept.id, "101001")
    assert e.collecting_org_id == c.dept.id and e.verifying_org_id == c.dept.id
    assert e.related_codes == ["101001/99999"]
    items = entries.items_of(db, entry_id=e.id)
    assert [i.name for i in items] == [d["name"] for d in DEFAULT_ITEMS]
    assert [i.seq for i in items] == [1, 2, 3, 4, 5]
    assert items[0].length == 18 and items[0].is_identifier and items[0].is_key
    assert entries.find_by_code(db, code=data.code).id == e.id
    row = audit_rows(db, "catalog.entry.create", e.id)
    assert len(row) == 1 and row[0].after_digest and row[0].actor_id == c.officer.user_id


def test_code_format_and_class_digit_R_CAT_2(f, db):
    c = cast(f)
    for bad in ("101001-00001", "1010/00001", "401001/00001", "10a001/1", "101001/"):
        errs = entries.validate_entry(db, actor=c.officer, data=entry_in(code=bad))
        assert "code" in fields_of(errs), bad
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(code="201001/00001"))  # 2 = 主题, not 基础
    assert fields_of(errs) == ["code"] and "基础" in errs[0]["message"] and "主题" in errs[0]["message"]
    assert entries.validate_entry(db, actor=c.officer, data=entry_in(code="1010010203/7")) == []  # with 细目
    assert entries.validate_entry(db, actor=c.officer, data=entry_in(code="301002/1", resource_attr="部门")) == []
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(code="101001/00009", class_code="101002"))
    assert fields_of(errs) == ["class_code"]


def test_over_long_fields_are_rule_errors_not_database_errors_R_CAT_2(f, db):
    c = cast(f)
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(code="101001/" + "1" * 60, business="业" * 201,
                                                                     topic="主" * 41))
    assert set(fields_of(errs)) == {"code", "business", "topic"}
    with pytest.raises(Invalid):
        entries.create_entry(db, actor=c.officer, data=entry_in(sharing_period="长" * 101))


def test_code_unique_R_CAT_2(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    with pytest.raises(Invalid) as exc:
        entries.create_entry(db, actor=c.other_officer, data=entry_in(code=e.code))
    assert exc.value.field == "code" and "已被其他目录使用" in exc.value.message
    # the entry itself may keep its code when updated
    assert entries.validate_entry(db, actor=c.officer, data=entry_in(code=e.code), entry_id=e.id) == []


def test_code_frozen_once_published_R_CAT_2(f, db):
    c = cast(f)
    e = published(db, c)
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    with pytest.raises(Invalid) as exc:
        entries.update_entry(db, actor=c.officer, entry_id=e.id, data=entry_in(code=next_code()))
    assert exc.value.field == "code" and "不可更改" in exc.value.message
    # a never-published draft may change its code
    d = entries.create_entry(db, actor=c.officer, data=entry_in())
    new = next_code()
    assert entries.update_entry(db, actor=c.officer, entry_id=d.id, data=entry_in(code=new)).code == new


def test_controlled_vocabularies_R_CAT_2(f, db):
    c = cast(f)
    data = entry_in(format="纸质", update_cycle="随时", sharing_mode="邮件", resource_attr="其他")
    errs = entries.validate_entry(db, actor=c.officer, data=data)
    assert {"format", "update_cycle", "sharing_mode", "resource_attr"} <= set(fields_of(errs))
    assert any("电子表格" in e["message"] for e in errs)
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(sharing_type="部分共享", open_type="开放"))
    assert {"sharing_type", "open_type"} <= set(fields_of(errs))


def test_item_rules_types_length_unique_names_R_CAT_2(f, db):
    c = cast(f)
    items = [dict(DEFAULT_ITEMS[0]), {"name": "姓名", "type": "X"}, {"name": "户籍地址", "type": "C"},
             {"name": "公民身份号码", "type": "C", "length": 18}, {"name": "人口数", "type": "N"},
             {"name": "备注", "type": "M"}]
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(items=items))
    by = {e["field"]: e for e in errs}
    assert set(by) == {"items[1].type", "items[2].length", "items[3].name", "items[4].length"}
    assert "公民身份号码" in by["items[3].name"]["message"] and "重名" in by["items[3].name"]["message"]
    assert "户籍地址" in by["items[2].length"]["message"]


def test_conditional_sharing_needs_condition_and_basis_R_CAT_3(f, db):
    c = cast(f)
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(sharing_condition=" ", sharing_basis=""))
    assert set(fields_of(errs)) == {"sharing_condition", "sharing_basis"}
    with pytest.raises(Invalid) as exc:
        entries.create_entry(db, actor=c.officer, data=entry_in(sharing_basis=""))
    assert exc.value.status == 422 and exc.value.field == "sharing_basis" and "共享依据" in exc.value.message
    assert exc.value.details and exc.value.details[0]["message_en"]
    assert not entries.list_entries(db, actor=c.officer, page=Page())[0]  # nothing written


def test_not_shared_needs_legal_basis_and_implies_not_open_R_CAT_3(f, db):
    c = cast(f)
    data = entry_in(sharing_type="不予共享", sharing_condition="", sharing_basis="", legal_basis="",
                    open_type="无条件开放")
    errs = entries.validate_entry(db, actor=c.officer, data=data)
    assert set(fields_of(errs)) == {"sharing_basis", "open_type"}
    assert "不予开放" in next(e for e in errs if e["field"] == "open_type")["message"]
    ok = entry_in(sharing_type="不予共享", sharing_basis="", legal_basis="《中华人民共和国保守国家秘密法》第十条",
                  open_type="不予开放")
    assert entries.validate_entry(db, actor=c.officer, data=ok) == []
    e = entries.create_entry(db, actor=c.officer, data=ok)
    assert e.filed_with_authority is False  # filed when submitted, see test_lifecycle


def test_conditional_open_needs_condition_R_CAT_2(f, db):
    c = cast(f)
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(open_type="有条件开放", open_condition=""))
    assert fields_of(errs) == ["open_condition"]


def test_item_no_more_open_than_entry_R_CAT_3(f, db):
    c = cast(f)
    items = [dict(DEFAULT_ITEMS[0], sharing_type="无条件共享"), dict(DEFAULT_ITEMS[1], open_type="有条件开放"),
             dict(DEFAULT_ITEMS[2], sharing_type="不予共享", open_type="不予开放")]
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(items=items))
    assert fields_of(errs) == ["items[0].sharing_type", "items[1].open_type"]
    assert "比所属资源（有条件共享）更开放" in errs[0]["message"]


def test_entry_grade_at_least_highest_item_grade_R_CAT_5(f, db):
    c = cast(f)
    items = [dict(DEFAULT_ITEMS[0], grade="一般4"), dict(DEFAULT_ITEMS[1], grade="一般2")]
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(grade="一般2", items=items))
    assert fields_of(errs) == ["grade"]
    assert "公民身份号码" in errs[0]["message"] and "一般4" in errs[0]["message"] and "姓名" not in errs[0]["message"]
    # no entry grade: the highest item grade is taken (就高从严)
    e = entries.create_entry(db, actor=c.officer, data=entry_in(grade=None, items=items))
    assert e.grade == "一般4"
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(grade="绝密"))
    assert fields_of(errs) == ["grade"]
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(items=[dict(DEFAULT_ITEMS[0], grade="七级")]))
    assert fields_of(errs) == ["items[0].grade"]


def test_items_without_grade_get_the_suggestion_R_CAT_5(f, db):
    c = cast(f)
    db.add(GradingRule(name="身份号码", name_keyword="身份号码", grade="一般4", reason="敏感个人信息", active=True))
    db.flush()
    items = [dict(DEFAULT_ITEMS[0], grade=None), dict(DEFAULT_ITEMS[2], grade=None)]
    e = entries.create_entry(db, actor=c.officer, data=entry_in(grade=None, items=items))
    grades = {i.name: i.grade for i in entries.items_of(db, entry_id=e.id)}
    assert grades == {"公民身份号码": "一般4", "性别": "一般1"}
    assert e.grade == "一般4"
    # a suggested grade above a given entry grade is an error naming the item
    errs = entries.validate_entry(db, actor=c.officer, data=entry_in(grade="一般3", items=items))
    assert fields_of(errs) == ["grade"] and "公民身份号码" in errs[0]["message"] and "建议" in errs[0]["message"]
    detail = audit_rows(db, "catalog.entry.create", e.id)[0].detail
    assert "敏感个人信息" in detail


def test_unknown_org_and_element_codes_R_CAT_2(f, db):
    c = cast(f)
    data = entry_in(collecting_org="不存在的局", items=[dict(DEFAULT_ITEMS[0], element_code="DE-NOPE")])
    errs = entries.validate_entry(db, actor=c.officer, data=data)
    assert fields_of(errs) == ["collecting_org", "items[0].element_code"]


def test_items_bind_to_elements_R_CAT_6(f, db):
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",))
    el = elements.create_element(db, actor=admin, code="DE00001", name="公民身份号码", type="C", length=18,
                                 source_org_id=c.other_dept.id)
    items = [dict(DEFAULT_ITEMS[0], element_code="DE00001", claims_source=True)]
    e = entries.create_entry(db, actor=c.officer, data=entry_in(items=items))
    item = entries.items_of(db, entry_id=e.id)[0]
    assert item.element_id == el.id
    conflicts = elements.open_conflicts_for_entry(db, entry_id=e.id)
    assert [x.claimant_entry_id for x in conflicts] == [e.id]
    assert entries.entry_as_input(db, entry=e).items[0].element_code == "DE00001"


def test_update_replaces_items_in_place(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    first = {i.name: i.id for i in entries.items_of(db, entry_id=e.id)}
    items = [dict(DEFAULT_ITEMS[1], meaning="曾用名除外"), dict(DEFAULT_ITEMS[0]),
             {"name": "民族", "type": "C", "length": 2, "grade": "一般2"}]
    entries.update_entry(db, actor=c.officer, entry_id=e.id, data=entry_in(code=e.code, items=items))
    now = entries.items_of(db, entry_id=e.id)
    assert [i.name for i in now] == ["姓名", "公民身份号码", "民族"]
    assert now[0].id == first["姓名"] and now[0].meaning == "曾用名除外"  # kept its id
    assert db.scalar(select(DataItem).where(DataItem.entry_id == e.id, DataItem.name == "性别")) is None
    row = audit_rows(db, "catalog.entry.update", e.id)
    assert len(row) == 1 and row[0].before_digest != row[0].after_digest
    assert "民族" in row[0].detail and "性别" in row[0].detail


def test_only_own_department_edits_R_CAT_1(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    with pytest.raises(Forbidden):
        entries.update_entry(db, actor=c.other_officer, entry_id=e.id, data=entry_in(code=e.code))
    with pytest.raises(Forbidden):
        entries.update_entry(db, actor=c.reviewer, entry_id=e.id, data=entry_in(code=e.code))
    with pytest.raises(Forbidden):
        entries.create_entry(db, actor=c.reviewer, data=entry_in())
    with pytest.raises(Forbidden):
        entries.get_entry(db, actor=c.other_officer, entry_id=e.id)
    with pytest.raises(NotFound):
        entries.get_entry(db, actor=c.officer, entry_id=e.id + 10_000)
    # staff of the department may edit the draft (but not submit, see test_lifecycle)
    entries.update_entry(db, actor=c.staff, entry_id=e.id, data=entry_in(code=e.code, summary="修订摘要"))
    assert e.summary == "修订摘要"
    assert audit_rows(db, "catalog.entry.update", e.id)[0].actor_id == c.staff.user_id


def test_visible_to_own_org_authority_and_auditor_all(f, db):
    c = cast(f)
    mine = entries.create_entry(db, actor=c.officer, data=entry_in())
    theirs = entries.create_entry(db, actor=c.other_officer, data=entry_in())
    ids = {e.id for e in db.scalars(entries.visible_to(c.officer))}
    assert mine.id in ids and theirs.id not in ids
    for who in (c.reviewer, c.auditor):
        ids = {e.id for e in db.scalars(entries.visible_to(who))}
        assert {mine.id, theirs.id} <= ids
    assert entries.get_entry(db, actor=c.auditor, entry_id=theirs.id).id == theirs.id
    rows, total = entries.list_entries(db, actor=c.officer, page=Page(), q="户籍")
    assert total == 1 and rows[0].id == mine.id
    assert entries.status_counts(db, actor=c.officer) == {"draft": 1}


def test_only_editable_statuses_can_be_edited_R_CAT_1(f, db):
    c = cast(f)
    e = published(db, c)
    with pytest.raises(Conflict) as exc:
        entries.update_entry(db, actor=c.officer, entry_id=e.id, data=entry_in(code=e.code))
    assert "修订" in exc.value.message
