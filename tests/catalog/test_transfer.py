"""R-CAT-11: catalogue import/export in the national template (xlsx) and JSON."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from gongshu.audit import service as audit_service
from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.auth.service import SYSTEM
from gongshu.catalog.models import CatalogEntry, DataItem
from gongshu.catalog.schemas import EntryIn
from gongshu.catalog.service import entries, lifecycle, transfer, workbook
from gongshu.errors import Forbidden, Invalid
from gongshu.kit.hashing import sm3_hex
from tests.catalog.helpers import cast, entry_in, published
from tests.factories import login

GRADES = ["一般1", "一般2", "一般3", "一般4", "重要", "核心"]


def row_of(data: EntryIn, org) -> dict:
    row = data.model_dump()
    row.update(provider_name=org.name, provider_code=org.uscc)
    for n, it in enumerate(row["items"], start=1):
        it["seq"] = n
    return row


def book(org, *datas: EntryIn) -> bytes:
    return workbook.write_workbook([row_of(d, org) for d in datas], grades=GRADES)


def edit(data: bytes, sheet: str, cell: str, value) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    wb[sheet][cell] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def where(exc: Invalid | list[dict]) -> set[tuple]:
    details = exc.details if isinstance(exc, Invalid) else exc
    return {(d["sheet"], d["row"], d["column"], d["header"]) for d in details}


def imported(db, code: str) -> CatalogEntry | None:
    return db.scalar(select(CatalogEntry).where(CatalogEntry.code == code))


def count(db, action: str) -> int:
    return db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_import_creates_entries_with_items_and_audit_R_CAT_11(f, db):
    c = cast(f)
    a, b = entry_in(), entry_in(name="户籍迁入信息", grade=None)
    data = book(c.dept, a, b)
    report = transfer.import_workbook(db, actor=c.officer, data=data, filename="目录.xlsx")
    assert (report.created, report.updated, report.unchanged, report.errors) == ([a.code, b.code], [], [], [])
    assert (report.entries, report.items) == (2, 10)
    e = imported(db, a.code)
    assert (e.org_id, e.status, e.name, e.sharing_type, e.grade) == (c.dept.id, "draft", a.name, "有条件共享", "一般3")
    items = entries.items_of(db, entry_id=e.id)
    assert [i.name for i in items] == [i.name for i in a.items]
    assert items[0].length == 18 and items[0].is_identifier and items[0].is_personal
    assert imported(db, b.code).grade == "一般3"  # blank: 就高 from the items
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.import")).all()
    assert len(events) == 1 and events[0].subject_id == str(c.dept.id)
    assert f'"sm3":"{sm3_hex(data)}"' in events[0].detail and '"created":2' in events[0].detail
    assert count(db, "catalog.entry.create") == 2


def test_round_trip_export_then_import_unchanged_R_CAT_11(f, db):
    c = cast(f)
    other = f.org()
    e1 = entries.create_entry(db, actor=c.officer, data=entry_in(
        collecting_org=other.uscc, verifying_org=c.dept.name, related_codes=["101001/99998", "101001/99999"],
        release_date=date(2025, 6, 30), sharing_type="无条件共享", sharing_condition="", sharing_basis="",
        open_type="有条件开放", open_condition="实名申请",
        items=[{"name": "统计年度", "type": "D", "grade": None}, {"name": "人口数", "type": "N", "length": 12,
                                                                 "sharing_type": "无条件共享", "open_type": "不予开放"}],
        grade=None))
    e2 = entries.create_entry(db, actor=c.officer, data=entry_in(sharing_type="不予共享", sharing_condition="",
                                                                 sharing_basis="", open_type="不予开放"))
    data = transfer.export_workbook(db, actor=c.officer, scope="own")
    parsed = workbook.parse_workbook(data)
    assert parsed.errors == []
    assert [p.code for p in parsed.entries] == sorted([e1.code, e2.code])
    before = count(db, "catalog.entry.update")
    report = transfer.import_workbook(db, actor=c.officer, data=data)
    assert report.errors == [] and sorted(report.unchanged) == sorted([e1.code, e2.code])
    assert report.created == [] and report.updated == []
    assert count(db, "catalog.entry.update") == before
    # the file holds exactly what the working copy holds
    by_code = {p.code: p.data for p in parsed.entries}
    assert by_code[e1.code].items[1].sharing_type == "无条件共享"
    assert by_code[e1.code].related_codes == ["101001/99998", "101001/99999"]
    assert by_code[e1.code].release_date == date(2025, 6, 30)
    assert by_code[e1.code].collecting_org == other.name


def test_import_updates_own_drafts_and_keeps_others_R_CAT_11(f, db):
    c = cast(f)
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    data = transfer.export_workbook(db, actor=c.officer, scope="own")
    data = edit(data, "信息资源", "E2", "户籍人口基本信息（更新）")
    data = edit(data, "信息项", "F3", "新的含义")
    report = transfer.import_workbook(db, actor=c.officer, data=data)
    assert report.updated == [e.code] and report.created == []
    db.refresh(e)
    assert e.name == "户籍人口基本信息（更新）"
    assert entries.items_of(db, entry_id=e.id)[1].meaning == "新的含义"
    assert count(db, "catalog.entry.update") == 1 and count(db, "catalog.import") == 1


def test_cell_type_and_vocabulary_errors_name_row_and_column_R_CAT_11(f, db):
    c = cast(f)
    a, b = entry_in(), entry_in()
    data = book(c.dept, a, b)
    data = edit(data, "信息资源", "R3", "2025-13-45")  # 发布日期 of the second entry
    data = edit(data, "信息资源", "J2", "部分共享")  # 共享类型
    data = edit(data, "信息资源", "Q3", "每两天")  # 更新周期
    data = edit(data, "信息项", "E4", "十八")  # 数据长度 of a's third item
    data = edit(data, "信息项", "G5", "也许")  # 是否标识项
    data = edit(data, "信息项", "D9", "X")  # 数据类型 of b's third item
    data = edit(data, "信息项", "B10", "第二")  # 序号
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    got = where(exc.value)
    assert ("信息资源", 3, "R", "发布日期") in got
    assert ("信息资源", 2, "J", "共享类型") in got
    assert ("信息资源", 3, "Q", "更新周期") in got
    assert ("信息项", 4, "E", "数据长度") in got
    assert ("信息项", 5, "G", "是否标识项") in got
    assert ("信息项", 9, "D", "数据类型") in got
    assert ("信息项", 10, "B", "序号") in got
    msgs = {(d["sheet"], d["row"], d["column"]): d for d in exc.value.details}
    assert "日期" in msgs[("信息资源", 3, "R")]["message"] and msgs[("信息资源", 3, "R")]["message_en"]
    assert "是" in msgs[("信息项", 5, "G")]["message"] and "否" in msgs[("信息项", 5, "G")]["message"]
    assert "部分共享" in msgs[("信息资源", 2, "J")]["message"]
    assert "整数" in msgs[("信息项", 4, "E")]["message"]
    assert msgs[("信息项", 4, "E")]["code"] == a.code and msgs[("信息资源", 3, "R")]["code"] == b.code
    assert exc.value.status == 422 and "未导入任何内容" in exc.value.message
    assert imported(db, a.code) is None and imported(db, b.code) is None


def test_business_rule_errors_are_mapped_to_cells_R_CAT_11(f, db):
    c = cast(f)
    a = entry_in(sharing_condition="")  # 有条件共享 without its condition (R-CAT-3)
    b = entry_in(open_type="不予开放", items=[{"name": "姓名", "type": "C", "length": 50, "grade": "一般3"},
                                             {"name": "地址", "type": "C", "length": 9, "open_type": "无条件开放",
                                              "grade": "重要"}], grade="一般3")
    fine = entry_in()
    data = book(c.dept, a, b, fine)
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    # found while writing (the file itself was well-formed): the writes are rolled back, audit too
    assert imported(db, fine.code) is None
    assert count(db, "catalog.entry.create") == 0 and count(db, "catalog.import") == 0
    got = where(exc.value)
    assert ("信息资源", 2, "K", "共享条件") in got  # a's sharing condition
    assert ("信息项", 8, "L", "开放属性") in got  # b's second item more open than b (R-CAT-3)
    assert ("信息资源", 3, "Z", "分级") in got  # b's grade below its item's (就高从严, R-CAT-5)
    fields = {d["field"] for d in exc.value.details}
    assert {"sharing_condition", "items[1].open_type", "grade"} <= fields
    # a dry run reports the same list without raising
    report = transfer.import_workbook(db, actor=c.officer, data=data, dry_run=True)
    assert where(report.errors) == got and report.created == [a.code, b.code, fine.code]


def test_one_bad_row_means_nothing_is_written_R_CAT_11(f, db):
    c = cast(f)
    good = [entry_in() for _ in range(3)]
    bad = entry_in(name="有问题的资源")
    data = edit(book(c.dept, *good, bad), "信息资源", "I5", "纸质")  # 信息资源格式 of the 4th entry
    entries_before = db.scalar(select(func.count()).select_from(CatalogEntry))
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    assert where(exc.value) == {("信息资源", 5, "I", "信息资源格式")}
    assert db.scalar(select(func.count()).select_from(CatalogEntry)) == entries_before
    assert count(db, "catalog.import") == 0 and count(db, "catalog.entry.create") == 0


def test_changes_between_dry_run_and_import_are_caught_R_CAT_11(f, db):
    c = cast(f)
    good = entry_in()
    clash = entry_in()
    data = book(c.dept, good, clash)
    # another department takes the second code after the dry run: the import fails, nothing stays
    report = transfer.import_workbook(db, actor=c.officer, data=data, dry_run=True)
    assert report.errors == []
    entries.create_entry(db, actor=c.other_officer, data=entry_in(code=clash.code))
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    assert ("信息资源", 3, "D", "信息资源代码") in where(exc.value)
    assert imported(db, good.code) is None and count(db, "catalog.import") == 0


def test_duplicate_codes_and_orphan_items_R_CAT_11(f, db):
    c = cast(f)
    a = entry_in()
    data = book(c.dept, a, entry_in(code=a.code, name="同码资源"))
    data = edit(data, "信息项", "A11", "101001/77777")  # an item of an entry not in the file
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    d = {(x["sheet"], x["row"], x["column"]): x for x in exc.value.details}
    assert "第 2 行" in d[("信息资源", 3, "D")]["message"] and "重复" in d[("信息资源", 3, "D")]["message"]
    assert "不存在" in d[("信息项", 11, "A")]["message"]


def test_item_names_repeat_within_an_entry_R_CAT_11(f, db):
    c = cast(f)
    data = edit(book(c.dept, entry_in()), "信息项", "C4", "姓名")
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    assert ("信息项", 4, "C", "信息项名称") in where(exc.value)


def test_another_departments_code_or_provider_is_refused_R_CAT_11(f, db):
    c = cast(f)
    theirs = entries.create_entry(db, actor=c.other_officer, data=entry_in())
    mine = entry_in()
    data = book(c.dept, entry_in(code=theirs.code), mine)
    data = edit(data, "信息资源", "H3", c.other_dept.uscc)  # mine claims the other department as provider
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    d = {(x["sheet"], x["row"], x["column"]): x for x in exc.value.details}
    assert c.other_dept.name in d[("信息资源", 2, "D")]["message"]
    assert "本部门" in d[("信息资源", 3, "H")]["message"] and d[("信息资源", 3, "H")]["header"] == "提供方代码"
    db.refresh(theirs)
    assert theirs.org_id == c.other_dept.id and imported(db, mine.code) is None


def test_published_entries_change_only_through_a_revision_R_CAT_11(f, db):
    c = cast(f)
    e = published(db, c)
    data = transfer.export_workbook(db, actor=c.officer, scope="own")
    assert transfer.import_workbook(db, actor=c.officer, data=data).unchanged == [e.code]
    changed = edit(data, "信息资源", "F2", "新摘要")
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=changed)
    assert "已发布" in exc.value.details[0]["message"] and exc.value.details[0]["column"] == "D"
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    assert transfer.import_workbook(db, actor=c.officer, data=changed).updated == [e.code]
    db.refresh(e)
    assert e.summary == "新摘要" and e.status == "revising"


def test_headers_by_name_any_order_full_width_spaces_R_CAT_11(f, db):
    c = cast(f)
    a = entry_in()
    wb = load_workbook(io.BytesIO(book(c.dept, a)))
    ws = wb["信息资源"]
    ws.move_range("A1:A2", rows=0, cols=30)  # 资源属性 moved to the far right (AE)
    ws["E1"] = "\u3000信息资源 名称 "  # full-width and ASCII spaces around and inside
    out = io.BytesIO()
    wb.save(out)
    report = transfer.import_workbook(db, actor=c.officer, data=out.getvalue())
    assert report.created == [a.code]
    assert imported(db, a.code).resource_attr == "基础"


def test_unknown_and_missing_headers_are_reported_R_CAT_11(f, db):
    c = cast(f)
    data = book(c.dept, entry_in())
    data = edit(data, "信息资源", "J1", "共享类别")  # misspelt: 共享类型 is now missing
    data = edit(data, "信息项", "O1", "备注")
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    d = {(x["sheet"], x["row"], x["column"], x["header"]): x["message"] for x in exc.value.details}
    assert ("信息资源", 1, "J", "共享类别") in d and ("信息项", 1, "O", "备注") in d
    missing = [x for x in exc.value.details if x["column"] is None]
    assert len(missing) == 1 and missing[0]["header"] == "共享类型" and "缺少" in missing[0]["message"]


@pytest.mark.parametrize("payload, words", [
    (b"", "为空"),
    ("信息资源代码,信息资源名称\n101001/1,户籍\n".encode(), "xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, ".xls"),
    (b"PK\x03\x04garbage-that-is-not-a-zip", "损坏"),
])
def test_wrong_or_damaged_files_are_refused_R_CAT_11(f, db, payload, words):
    c = cast(f)
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=payload)
    assert words in exc.value.message and exc.value.field == "file" and exc.value.message_en


def test_zip_that_is_not_a_workbook_and_missing_sheets_R_CAT_11(f, db):
    c = cast(f)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=buf.getvalue())
    assert exc.value.field == "file"
    wb = Workbook()
    wb.active.title = "Sheet1"
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=out.getvalue())
    assert "信息资源" in exc.value.message and "信息项" in exc.value.message and "Sheet1" in exc.value.message


def test_empty_template_is_refused_and_entries_need_items_R_CAT_11(f, db):
    c = cast(f)
    empty = transfer.template_workbook(db, actor=c.officer)
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=empty)
    assert "没有数据行" in exc.value.message
    a = entry_in()
    wb = load_workbook(io.BytesIO(book(c.dept, a)))
    wb["信息项"].delete_rows(2, 10)
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=out.getvalue())
    assert where(exc.value) == {("信息资源", 2, "D", "信息资源代码")}
    assert "没有信息项" in exc.value.details[0]["message"]


def test_only_department_officers_import_R_CAT_11(f, db):
    c = cast(f)
    data = book(c.dept, entry_in())
    for actor in (c.staff, c.reviewer, c.auditor, SYSTEM):
        with pytest.raises(Forbidden):
            transfer.import_workbook(db, actor=actor, data=data)


def test_template_lists_and_notes_R_CAT_11(f, db):
    c = cast(f)
    wb = load_workbook(io.BytesIO(transfer.template_workbook(db, actor=c.officer)))
    assert wb.sheetnames == ["信息资源", "信息项", "说明"]
    headers = [cell.value for cell in wb["信息资源"][1]]
    assert headers == [col.header for col in workbook.ENTRY_COLUMNS]
    assert [cell.value for cell in wb["信息项"][1]] == [col.header for col in workbook.ITEM_COLUMNS]
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in wb["信息资源"].data_validations.dataValidation
             if dv.type == "list"}
    assert lists["J2"] == '"无条件共享,有条件共享,不予共享"' and "核心" in lists["Z2"]
    item_lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in wb["信息项"].data_validations.dataValidation
                  if dv.type == "list"}
    assert item_lists["G2"] == '"是,否"' and item_lists["D2"].startswith('"C,N,Y,D')
    notes = [row for row in wb["说明"].iter_rows(values_only=True)]
    assert any(r[1] == "开放属性" and "不予开放" in (r[4] or "") for r in notes if len(r) > 4)


def test_export_published_snapshots_city_wide_and_json_R_CAT_11(f, db):
    c = cast(f)
    mine = published(db, c)
    theirs = entries.create_entry(db, actor=c.other_officer, data=entry_in(name="他局资源"))
    lifecycle.submit(db, actor=c.other_officer, entry_id=theirs.id, start=date(2026, 3, 2))
    lifecycle.approve(db, actor=c.reviewer, entry_id=theirs.id)
    draft = entries.create_entry(db, actor=c.officer, data=entry_in(name="未发布草稿"))
    lifecycle.revise(db, actor=c.officer, entry_id=mine.id)
    entries.update_entry(db, actor=c.officer, entry_id=mine.id,
                         data=entry_in(code=mine.code, name="修订中的名称"))
    rows = transfer.export_rows(db, actor=c.auditor, scope="published")
    names = {r["code"]: r["name"] for r in rows}
    assert names == {mine.code: "户籍人口基本信息", theirs.code: "他局资源"}  # published text, no draft
    own = transfer.export_rows(db, actor=c.officer, scope="published", org_id=c.dept.id)
    assert [r["code"] for r in own] == [mine.code]
    parsed = workbook.parse_workbook(transfer.export_workbook(db, actor=c.officer, scope="published"))
    assert parsed.errors == [] and {p.code for p in parsed.entries} == {mine.code, theirs.code}
    assert {p.values["provider_code"] for p in parsed.entries} == {c.dept.uscc, c.other_dept.uscc}
    js = transfer.export_json(db, actor=c.officer, scope="own")
    assert {e["code"] for e in js} == {mine.code, draft.code}
    got = next(e for e in js if e["code"] == mine.code)
    assert got["name"] == "修订中的名称" and got["status"] == "revising" and len(got["items"]) == 5
    pub = transfer.export_json(db, actor=c.officer, scope="published")
    assert next(e for e in pub if e["code"] == mine.code)["version"] == 1
    with pytest.raises(Invalid):
        transfer.export_rows(db, actor=c.officer, scope="everything")


def test_api_import_dry_run_errors_and_exports_R_CAT_11(f, db, client):
    c = cast(f)
    user = f.user(c.dept, ("dept_officer",))
    officer = auth_service.actor_for(db, user)
    token, _ = auth_service.create_token(db, actor=officer, name="t", scopes=["catalog.*"], days=1)
    db.commit()
    h = {"Authorization": f"Bearer {token}"}
    a = entry_in()
    data = book(c.dept, a)
    xlsx = workbook.XLSX_MEDIA_TYPE
    r = client.post("/api/v1/catalog/import", headers=h, files={"file": ("a.xlsx", data, xlsx)},
                    data={"dry_run": "true"})
    assert r.status_code == 200 and r.json()["ok"] and r.json()["created"] == 1
    assert imported(db, a.code) is None
    bad = edit(data, "信息资源", "Q2", "偶尔")
    r = client.post("/api/v1/catalog/import", headers=h, files={"file": ("a.xlsx", bad, xlsx)})
    assert r.status_code == 422
    detail = r.json()["error"]["details"][0]
    assert (detail["sheet"], detail["row"], detail["column"], detail["header"]) == ("信息资源", 2, "Q", "更新周期")
    r = client.post("/api/v1/catalog/import", headers=h, files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")})
    assert r.status_code == 422 and "xlsx" in r.json()["error"]["message"]
    r = client.post("/api/v1/catalog/import", headers=h, files={"file": ("a.xlsx", data, xlsx)})
    assert r.status_code == 200 and r.json()["created_codes"] == [a.code]
    assert imported(db, a.code) is not None and count(db, "catalog.import") == 1
    r = client.get("/api/v1/catalog/export.xlsx?scope=own", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == xlsx
    assert [p.code for p in workbook.parse_workbook(r.content).entries] == [a.code]
    r = client.get("/api/v1/catalog/export.json", headers=h)
    assert r.status_code == 200 and r.json()[0]["code"] == a.code
    assert client.get("/api/v1/catalog/export.json?scope=nope", headers=h).status_code == 422
    assert client.get("/api/v1/catalog/template.xlsx", headers=h).content[:2] == b"PK"
    assert client.get("/api/v1/catalog/export.json").status_code == 401


def test_page_upload_preview_and_import_with_csrf_R_CAT_11(f, db, client):
    c = cast(f)
    user = f.user(c.dept, ("dept_officer",))
    db.commit()
    csrf = login(client, user)
    home = client.get("/workbench")
    assert "/workbench/catalog/transfer" in home.text
    page = client.get("/workbench/catalog/transfer")
    assert page.status_code == 200 and "目录导入导出" in page.text and 'enctype="multipart/form-data"' in page.text
    a = entry_in()
    data = book(c.dept, a)
    xlsx = workbook.XLSX_MEDIA_TYPE
    r = client.post("/workbench/catalog/transfer", files={"file": ("a.xlsx", data, xlsx)})
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/workbench/catalog/transfer", files={"file": ("a.xlsx", data, xlsx)},
                    data={"csrf_token": csrf, "dry_run": "1"})
    assert r.status_code == 200 and "预检通过" in r.text and imported(db, a.code) is None
    bad = edit(data, "信息项", "E3", "很长")
    r = client.post("/workbench/catalog/transfer", files={"file": ("a.xlsx", bad, xlsx)}, data={"csrf_token": csrf})
    assert r.status_code == 422 and 'id="transfer-errors"' in r.text
    assert "<td>信息项</td><td>3</td><td>E</td><td>数据长度</td>" in r.text
    assert imported(db, a.code) is None
    r = client.post("/workbench/catalog/transfer", files={"file": ("a.xlsx", data, xlsx)}, data={"csrf_token": csrf})
    assert r.status_code == 200 and "导入成功" in r.text
    assert imported(db, a.code).org_id == c.dept.id
    assert db.scalar(select(func.count()).select_from(DataItem).join(CatalogEntry).where(
        CatalogEntry.code == a.code)) == 5


def test_workbook_too_large_once_unpacked_is_refused_R_CAT_11(f, db, monkeypatch):
    c = cast(f)
    data = book(c.dept, entry_in())
    monkeypatch.setattr(workbook, "MAX_UNZIPPED", 1000)  # a small limit stands in for a zip bomb
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)
    assert "解压后过大" in exc.value.message and exc.value.field == "file"


def test_bulk_import_creates_and_updates_and_keeps_the_audit_chain_R_CAT_11(f, db):
    c = cast(f)
    datas = [entry_in(name=f"信息资源{i}", class_code="101001") for i in range(30)]
    report = transfer.import_workbook(db, actor=c.officer, data=book(c.dept, *datas))
    assert len(report.created) == 30 and count(db, "catalog.entry.create") == 30
    changed = [d.model_copy(update={"summary": "新的摘要"}) for d in datas[:10]] + datas[10:] + [entry_in()]
    report = transfer.import_workbook(db, actor=c.officer, data=book(c.dept, *changed))
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (1, 10, 20)
    assert count(db, "catalog.entry.update") == 10 and count(db, "catalog.import") == 2
    assert imported(db, datas[0].code).summary == "新的摘要" and imported(db, datas[10].code).summary != "新的摘要"
    assert len(entries.items_of(db, entry_id=imported(db, datas[0].code).id)) == 5
    result = audit_service.verify(db)
    assert result.ok, result.message
    assert result.checked == db.scalar(select(func.count()).select_from(AuditEvent))


def test_rule_errors_in_new_and_updated_entries_are_both_reported_R_CAT_11(f, db):
    c = cast(f)
    old = entries.create_entry(db, actor=c.officer, data=entry_in())
    data = book(c.dept, entry_in(code=old.code, sharing_basis=""), entry_in(open_type="有条件开放"))
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=data)  # the file is well formed: found while saving
    assert where(exc.value) == {("信息资源", 2, "L", "共享依据"), ("信息资源", 3, "P", "开放条件")}
    assert imported(db, old.code).sharing_basis == entry_in().sharing_basis and count(db, "catalog.import") == 0
