"""What departments' files really carry (issue 12): lossless variants are normalised and listed in the
report's notes; lossy ones (Excel's scientific notation) are refused with a message that says why; what an
identifier already says is checked against the items beside it (R-AGG-3)."""

from __future__ import annotations

from datetime import datetime

import openpyxl
import polars as pl
import pyarrow as pa
import pytest
from stdnum.cn import ric, uscc

from gongshu.demo.data import make_messy_gbk_csv
from gongshu.ingest.service import versions
from gongshu.ingest.service.normalise import Normalisations
from gongshu.ingest.service.validate import ItemRule, LoadSpec, validate_batch
from tests.ingest.helpers import HEADER, load_file, make_id, person_rows, setup, write_csv

WIDE = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _by_kind(load) -> dict[tuple[str, str], dict]:
    return {(n["field"], n["kind"]): n for n in load.report["normalised"]}


def test_r_agg_3_code_table_names_are_stored_as_codes_and_each_change_is_noted(f, db, tmp_path):
    """性别 written 男/女/男性/女性 (as public security exports do) loads as GB/T 2261.1 codes."""
    c, entry = setup(f, db)
    rows = person_rows(12)
    names = {1: "男", 3: "男性", 2: "女", 4: "女性"}  # person i is male when i is odd
    for i, row in enumerate(rows, start=1):
        if i in names:
            row[2] = names[i]
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "户籍.csv", rows))
    assert load.status == "applied", (load.error, load.report["problems"])
    got = versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(4)})
    assert got[0]["性别"] == "2"
    note = _by_kind(load)[("性别", "code_name")]
    assert (note["count"], note["row"], note["before"], note["after"]) == (4, 2, "男", "1")
    assert any("已规范 4 行“性别”" in n and "第 2 行“男”→“1”" in n for n in load.report["notes"])


def test_r_agg_3_full_width_lowercase_dates_and_spaces_are_normalised_and_listed(f, db, tmp_path):
    c, entry = setup(f, db)
    rows = person_rows(30)
    x_id = next(make_id(i) for i in range(31, 1000) if make_id(i).endswith("X"))
    born = f"{x_id[6:10]}-{x_id[10:12]}-{x_id[12:14]}"
    rows[0] = [x_id.lower(), "张一1", "1" if int(x_id[16]) % 2 else "2", born, "东莞市"]  # line 2: lowercase x
    rows[1][0] = rows[1][0].translate(WIDE)                # line 3: full-width digits (typed in Chinese input mode)
    rows[2][3], rows[3][3] = "1985/03/12", "1985.03.12"     # lines 4, 5
    rows[4][3] = "1985年3月12日"                            # line 6
    rows[5][1] = " 张  三 "                                # line 7: spaces around and inside a name
    rows[6][1] = "欧阳 娜娜"                               # line 8
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "户籍.csv", rows))
    assert load.status == "applied", (load.error, load.report["problems"])
    notes = _by_kind(load)
    assert (notes[("公民身份号码", "uppercase")]["row"], notes[("公民身份号码", "uppercase")]["after"]) == (2, x_id)
    assert notes[("公民身份号码", "fullwidth")]["row"] == 3
    assert notes[("出生日期", "date_format")]["count"] == 3
    assert notes[("出生日期", "date_format")]["before"] == "1985/03/12"
    assert notes[("姓名", "trim")]["count"] == 1 and notes[("姓名", "inner_space")]["count"] == 2
    assert len(load.report["notes"]) == len(notes)  # one sentence per change, none silent
    for key, name in ((x_id, "张一1"), (make_id(2), "张三2"), (make_id(6), "张三"), (make_id(7), "欧阳娜娜")):
        got = versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": key})
        assert got and got[0]["姓名"] == name and str(got[0]["出生日期"]) == (born if key == x_id else "1985-03-12")


def test_r_agg_3_free_text_keeps_full_width_punctuation_and_inner_spaces(f, db, tmp_path):
    """NFKC never touches free text: an address keeps its （） and ，, and its spaces."""
    c, entry = setup(f, db)
    rows = person_rows(3)
    rows[0][4] = "南城街道（东区）１号  A座"
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "户籍.csv", rows))
    assert load.status == "applied"
    got = versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(1)})
    assert got[0]["户籍地址"] == "南城街道（东区）１号  A座"
    assert not any(n["field"] == "户籍地址" for n in load.report["normalised"])


def test_r_agg_3_excel_scientific_notation_is_refused_as_lossy_in_csv(f, db, tmp_path):
    c, entry = setup(f, db)
    rows = person_rows(5)
    rows[2][0] = "4.41900E+17"
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "户籍.csv", rows))
    assert load.status == "rejected"
    [p] = load.report["problems"]
    assert (p["row"], p["field"], p["rule"]) == (4, "公民身份号码", "excel_scientific")
    assert "科学计数法" in p["message"] and "文本" in p["message"] and "无法" in p["message"]
    assert "Text" in p["message_en"] and "cannot be recovered" in p["message_en"]


def test_r_agg_3_excel_xlsx_with_a_numeric_id_cell_and_names_and_dates(f, db, tmp_path):
    """An XLSX as Excel or WPS saves it: an ID typed into a number cell (stored as a float), 性别 as names,
    dates as real date cells and as Chinese text."""
    c, entry = setup(f, db)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    people = person_rows(4)
    for i, row in enumerate(people):
        row[2] = "男" if row[2] == "1" else "女"
        row[3] = datetime(1985, 3, 12) if i % 2 else "1985年3月12日"
        ws.append(row)
    ws["A4"] = float(people[2][0])  # Excel keeps 15 digits of it
    ws["A4"].number_format = "0.00E+00"
    path = tmp_path / "户籍.xlsx"
    wb.save(path)
    load = load_file(db, c.officer, entry, path)
    assert load.status == "rejected"
    assert [(p["row"], p["rule"]) for p in load.report["problems"]] == [(4, "excel_scientific")]
    notes = _by_kind(load)
    assert notes[("性别", "code_name")]["count"] == 4 and notes[("出生日期", "date_format")]["count"] == 2


def test_r_agg_3_id_number_disagreeing_with_birth_date_and_sex_names_both_values(f, db, tmp_path):
    c, entry = setup(f, db)
    rows = person_rows(6)  # everyone born 1985-03-12; person i is male when i is odd
    rows[1][3] = "1985-03-13"  # line 3
    rows[2][2] = "2"           # line 4: person 3 is male
    rows[3][2] = "男"          # line 5: person 4 is female
    rows[4][0] = rows[4][0][:-1] + ("1" if rows[4][0][-1] != "1" else "2")  # line 6: bad ID; no cross-check then
    rows[4][3] = "1999-01-01"
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "户籍.csv", rows))
    assert load.status == "rejected"
    got = {(p["row"], p["field"], p["rule"]): p for p in load.report["problems"]}
    assert set(got) == {(3, "出生日期", "ric_birth_mismatch"), (4, "性别", "ric_sex_mismatch"),
                        (5, "性别", "ric_sex_mismatch"), (6, "公民身份号码", "ric_checksum")}
    birth = got[(3, "出生日期", "ric_birth_mismatch")]
    assert "1985-03-13" in birth["message"] and "19850312" in birth["message"]
    sex = got[(5, "性别", "ric_sex_mismatch")]
    assert "“男”" in sex["message"] and "偶数" in sex["message"] and "女性" in sex["message"]
    assert "female" in sex["message_en"]


def _entity_spec() -> LoadSpec:
    def item(col, label, check=None, key=False):
        return ItemRule(column=col, label=label, type="C", length=50, required=key, key=key, check=check,
                        code_table=None)
    return LoadSpec(items=(item("c1", "统一社会信用代码", "uscc", True), item("c2", "单位名称"),
                           item("c3", "组织机构代码")), filename="法人.csv")


def test_r_agg_3_uscc_embedded_organisation_code_is_checked_against_the_item():
    body = "91441900" + "MA4UJ5C2" + "0"
    good = body[:-1] + "X"
    good = good[:17] + uscc.calc_check_digit(good[:17])
    org = good[8:17]
    batch = pa.RecordBatch.from_pydict({
        "统一社会信用代码": pa.array([good, good, good.lower(), good], pa.large_string()),
        "单位名称": pa.array(["南湾 示例 有限公司", "甲", "乙", "丙"], pa.large_string()),
        "组织机构代码": pa.array([f"{org[:8]}-{org[8]}", org, org.lower(), "12345678-9"], pa.large_string()),
        "_row": pa.array([2, 3, 4, 5], pa.int64())})
    notes = Normalisations()
    valid, rejects = validate_batch(batch, _entity_spec(), notes)
    assert valid.num_rows == 3 and valid.column("c1").to_pylist() == [good] * 3
    [bad] = rejects.to_pylist()
    assert (bad["_row"], bad["field"], bad["rule"]) == (5, "组织机构代码", "uscc_org_mismatch")
    assert "12345678-9" in bad["message"] and org in bad["message"]
    assert uscc.is_valid(good)
    assert [n["kind"] for n in notes.report() if n["field"] == "单位名称"] == ["inner_space"]
    assert valid.column("c2").to_pylist()[0] == "南湾示例有限公司"


@pytest.mark.parametrize("value, code", [("汉", "01"), ("汉族", "01"), ("壮族", "08"), ("1", "01"), ("８", "08")])
def test_r_agg_3_ethnicity_names_and_dropped_leading_zeros(value, code):
    spec = LoadSpec(items=(ItemRule(column="c1", label="民族", type="C", length=2, required=False, key=False,
                                    check=None, code_table="ethnicity"),), filename="x.csv")
    batch = pa.RecordBatch.from_pydict({"民族": pa.array([value], pa.large_string()), "_row": pa.array([2], pa.int64())})
    valid, rejects = validate_batch(batch, spec, Normalisations())
    assert rejects.num_rows == 0 and valid.column("c1").to_pylist() == [code]


def test_r_agg_3_normalising_costs_no_python_per_row():
    """100,000 rows of variants go through one vectorised pass; every change is counted exactly."""
    n = 100_000
    ids = [make_id(i) for i in range(1, 1001)] * 100
    df = pl.DataFrame({"公民身份号码": ids, "性别": ["男", "女"] * (n // 2)})
    spec = LoadSpec(items=(ItemRule(column="c1", label="公民身份号码", type="C", length=18, required=False, key=False,
                                    check="ric", code_table=None),
                           ItemRule(column="c2", label="性别", type="C", length=1, required=False, key=False,
                                    check=None, code_table="gender")), filename="x.csv")
    batch = df.with_columns(pl.int_range(2, n + 2, dtype=pl.Int64).alias("_row")).to_arrow().to_batches()[0]
    notes = Normalisations()
    validate_batch(batch, spec, notes)
    assert notes.report()[0]["count"] == n and notes.report()[0]["kind"] == "code_name"
    assert ric.is_valid(ids[0])


def test_r_agg_3_the_demo_messy_file_reports_its_problems_and_what_was_normalised(f, db, tmp_path):
    """Issue 12 "Done means": the demo's messy update file shows the notes of what was normalised."""
    c, entry = setup(f, db)
    path = tmp_path / "户籍人口基本信息-部门导出-待修正.csv"
    planted = make_messy_gbk_csv(path, rows=200, seed=7)
    # the demo entry has more items than the test entry: load the file's own columns
    frame = pl.read_csv(path.read_bytes().decode("gbk").encode(), infer_schema=False)
    write_csv(path, [[v or "" for v in r] for r in frame.select(HEADER).iter_rows()])
    load = load_file(db, c.officer, entry, path, dry_run=True)
    got = {(p["row"], p["rule"]) for p in load.report["problems"]}
    expected = {(p["row"], "duplicate_key" if p["rule"] == "duplicate" else p["rule"]) for p in planted["problems"]
                if p["field"] in HEADER and p["field"] != "登记日期" and p["rule"] != "length"}
    assert expected <= got
    kinds = {(n["field"], n["kind"]) for n in load.report["normalised"]}
    assert {("公民身份号码", "uppercase"), ("公民身份号码", "fullwidth"), ("性别", "code_name"),
            ("出生日期", "date_format"), ("姓名", "trim"), ("姓名", "inner_space")} <= kinds
