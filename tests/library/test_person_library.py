"""The person library: one record per citizen ID from the serving versions, the legal source wins,
provenance per attribute, disagreements recorded as conflicts, reads masked and logged (R-AGG-4)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.service import elements, entries, lifecycle
from gongshu.errors import Forbidden, NotFound
from gongshu.library.models import LibraryConflict
from gongshu.library.service import build, records
from tests.catalog.helpers import cast, entry_in
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv

ID = {"name": "公民身份号码", "type": "C", "length": 18, "is_identifier": True, "is_key": True, "is_personal": True,
      "grade": "一般4", "element_code": "T0001"}
NAME = {"name": "姓名", "type": "C", "length": 50, "is_personal": True, "grade": "一般3", "element_code": "T0002"}
SEX = {"name": "性别", "type": "C", "length": 1, "meaning": "GB/T 2261.1", "grade": "一般2", "element_code": "T0003"}
MARITAL = {"name": "婚姻状况", "type": "C", "length": 2, "meaning": "GB/T 2261.2", "is_personal": True,
           "grade": "一般3", "element_code": "T0004"}


@pytest.fixture
def city(f, db, tmp_path):
    return person_city(f, db, tmp_path)


def person_city(f, db, tmp_path):
    c = cast(f)  # c.dept plays 公安局, c.other_dept 民政局
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    for code, name, typ, src, ident in (("T0001", "公民身份号码", "C", c.dept, True), ("T0002", "姓名", "C", c.dept, False),
                                        ("T0003", "性别", "C", c.dept, False),
                                        ("T0004", "婚姻状况", "C", c.other_dept, False)):
        elements.create_element(db, actor=admin, code=code, name=name, type=typ, source_org_id=src.id,
                                is_personal=True, is_identifier=ident)
    police = entries.create_entry(db, actor=c.officer, data=entry_in(items=[ID, NAME, SEX], grade="一般4"))
    civil = entries.create_entry(db, actor=c.other_officer, data=entry_in(name="婚姻登记信息", items=[ID, NAME, MARITAL], grade="一般4"))
    for e, who in ((police, c.officer), (civil, c.other_officer)):
        lifecycle.submit(db, actor=who, entry_id=e.id)
        lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    rows = [r[:3] for r in person_rows(10)]
    load_file(db, c.officer, police, write_csv(tmp_path / "gaj.csv", rows, header=["公民身份号码", "姓名", "性别"]))
    marriages = [[r[0], r[1], "20"] for r in person_rows(6)]
    marriages[2][1] = "另一个名字"  # 民政's name for person 3 differs from 公安's
    load_file(db, c.other_officer, civil,
              write_csv(tmp_path / "mzj.csv", marriages, header=["公民身份号码", "姓名", "婚姻状况"]))
    return c, admin, police, civil


def test_build_takes_the_legal_source_and_records_conflicts(city, db):
    c, admin, police, civil = city
    lib = build.build(db, actor=admin, kind="person")
    assert lib.subjects == 10 and lib.conflicts == 1
    assert {s["entry_id"] for s in lib.sources} == {police.id, civil.id}
    conflict = db.scalar(select(LibraryConflict).where(LibraryConflict.build_id == lib.id))
    assert (conflict.subject, conflict.attribute, conflict.other_value) == (make_id(3), "姓名", "另一个名字")
    assert conflict.chosen_entry_id == police.id  # 公安 is the legal source of 姓名
    rec = records.record(db, actor=admin, kind="person", subject=make_id(3))
    by_name = {a["name"]: a for a in rec["attributes"]}
    assert by_name["姓名"]["value"] == "张四3" and by_name["姓名"]["authoritative"]
    assert by_name["姓名"]["entry_id"] == police.id and by_name["姓名"]["version"] == 1
    assert by_name["婚姻状况"]["value"] == "20（已婚）" and by_name["婚姻状况"]["entry_name"] == "婚姻登记信息"
    assert rec["subject"].startswith("4401") and "*" in rec["subject"]
    assert [x["attribute"] for x in rec["conflicts"]] == ["姓名"]
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "library.read")) is not None


def test_person_without_the_secondary_source_still_has_a_record(city, db):
    c, admin, *_ = city
    build.build(db, actor=admin, kind="person")
    rec = records.record(db, actor=admin, kind="person", subject=make_id(9))
    by_name = {a["name"]: a for a in rec["attributes"]}
    assert by_name["婚姻状况"]["entry_id"] is None and by_name["性别"]["value"] == "1（男性）"


def test_library_reads_are_for_the_authority_only(city, db):
    c, admin, *_ = city
    build.build(db, actor=admin, kind="person")
    with pytest.raises(Forbidden):
        records.record(db, actor=c.officer, kind="person", subject=make_id(1))
    with pytest.raises(Forbidden):
        build.build(db, actor=c.officer, kind="person")
    with pytest.raises(NotFound):
        records.record(db, actor=admin, kind="person", subject=make_id(999))
