"""Load reports name the line the user sees (R-AGG-3): physical lines of a CSV (blank lines, values over
several lines), sheet rows of an XLSX, the data row beside them where it differs; ragged rows reported with
every other problem in one pass, and the load refused whole."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.errors import Invalid
from gongshu.ingest.models import DataVersion
from gongshu.ingest.service import files, versions
from gongshu.ingest.service.readers import lines as line_scan
from gongshu.ingest.service.readers import open_reader
from gongshu.store import registry
from tests.factories import login
from tests.ingest.helpers import HEADER, load_file, make_id, setup


def person(n: int) -> list[str]:
    """A valid person whose birth date and sex agree with the ID number."""
    rid = make_id(n)
    return [rid, f"张{'一二三四五六七八九十'[n % 10]}{n}", "1" if int(rid[16]) % 2 else "2", rid[6:14],
            f"东莞市南城街道{n}号"]


def _cell(v: str) -> str:
    return f'"{v}"' if any(c in v for c in ',"\r\n') else v


class Lines:
    """A CSV written line by line, remembering where each record starts (the oracle: what an editor shows)."""

    def __init__(self, header: list[str], newline: str = "\r\n") -> None:
        self.newline = newline
        self.parts = [",".join(header)]
        self.next_line = 2
        self.records = 0
        self.at: dict[str, tuple[int, int]] = {}  # tag -> (line, data row)

    def blank(self, text: str = "") -> None:
        self.parts.append(text)
        self.next_line += 1

    def row(self, values: list[str], tag: str | None = None, *, raw: str | None = None) -> None:
        text = raw if raw is not None else ",".join(_cell(v) for v in values)
        self.records += 1
        if tag:
            self.at[tag] = (self.next_line, self.records)
        self.parts.append(text)
        self.next_line += 1 + len(re.findall(r"\r\n|\r|\n", text))

    def write(self, path: Path, encoding: str = "gbk") -> Path:
        path.write_bytes((self.newline.join(self.parts) + self.newline).encode(encoding))
        return path


def _problems(load) -> dict[tuple[int, str], dict]:
    return {(p["row"], p["rule"]): p for p in load.report["problems"]}


def _rejects_csv(load) -> list[dict]:
    with open(files.load_dir(load.id) / "rejects.csv", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_r_agg_3_gbk_csv_with_blank_lines_and_a_multiline_address_reports_editor_lines(f, db, client, tmp_path):
    c, entry = setup(f, db)
    doc = Lines(HEADER)
    for n in range(1, 4):
        doc.row(person(n))
    doc.blank()
    doc.blank()
    address = person(4)
    address[4] = "东莞市南城街道\r\n鸿福路 8 号"  # a quoted value over two lines, as Excel writes Alt+Enter
    doc.row(address, "address")
    for n in range(5, 11):
        doc.row(person(n))
    doc.blank()
    for n in range(11, 26):
        values = person(n)
        if n == 11:
            values[2] = "5"  # not a GB/T 2261.1 code
        if n == 20:
            values[3] = "2023-02-30"
        if n == 25:
            values[0] = values[0][:-1] + ("0" if values[0][-1] != "0" else "1")
        doc.row(values, f"p{n}")
    path = doc.write(tmp_path / "公安导出.csv")
    text_lines = path.read_bytes().decode("gbk").splitlines()  # the lines a text editor shows
    by_name = {ln.split(",")[1]: i + 1 for i, ln in enumerate(text_lines) if ln.count(",") >= 4}
    expected = {tag: (by_name[person(int(tag[1:]))[1]], doc.at[tag][1]) for tag in ("p11", "p20", "p25")}
    assert expected == {"p11": (16, 11), "p20": (25, 20), "p25": (30, 25)}  # 4 lines later than data row + 1

    load = load_file(db, c.officer, entry, path)
    assert load.status == "rejected" and (load.rows_read, load.rows_rejected) == (25, 3)
    got = {(p["row"], p.get("record"), p["field"]) for p in load.report["problems"]}
    assert got == {(16, 11, "性别"), (25, 20, "出生日期"), (30, 25, "公民身份号码")}
    assert text_lines[15].split(",")[2] == "5" and "2023-02-30" in text_lines[24]
    report = _rejects_csv(load)
    assert [(r["行号"], r["数据行"], r["信息项"]) for r in report] == [
        ("16", "11", "性别"), ("25", "20", "出生日期"), ("30", "25", "公民身份号码")]
    db.commit()
    login(client, db.get(User, c.officer.user_id))
    page = client.get(f"/workbench/ingest/loads/{load.id}")
    assert page.status_code == 200
    table = page.text.split('id="load-problems"', 1)[1]
    assert "第 16 行" in table and "（第 11 条数据）" in table and "第 30 行" in table


def test_r_agg_3_a_regular_file_reports_lines_without_a_data_row(f, db, tmp_path):
    """One line per record: line = data row + 1, so no data row is shown and nothing is remapped."""
    c, entry = setup(f, db)
    doc = Lines(HEADER, newline="\n")
    for n in range(1, 8):
        values = person(n)
        if n == 6:
            values[2] = "7"
        doc.row(values)
    load = load_file(db, c.officer, entry, doc.write(tmp_path / "r.csv", "utf-8"))
    [problem] = load.report["problems"]
    assert problem["row"] == 7 and "record" not in problem
    assert _rejects_csv(load)[0]["数据行"] == ""


def test_r_agg_3_ragged_rows_and_value_problems_are_reported_in_one_load_which_is_refused(f, db, tmp_path):
    c, entry = setup(f, db)
    versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.5, keep_versions=5)
    doc = Lines(HEADER)
    for n in range(1, 21):
        values = person(n)
        if n == 3:
            doc.blank()
        if n == 5:
            doc.row(values, "short", raw=",".join(values[:4]))  # 4 fields
            continue
        if n == 9:
            values[2] = "Q"
        if n == 14:
            doc.row(values, "long", raw=",".join([*values, "多余"]))  # 6 fields
            continue
        if n == 17:
            values[3] = "1985-13-01"
        doc.row(values, f"p{n}")
    load = load_file(db, c.officer, entry, doc.write(tmp_path / "ragged.csv"))
    assert load.status == "rejected"
    assert "列数与表头不一致" in load.error and "第 7 行有 4 列，表头有 5 列" in load.error
    assert "另有 2 行未通过校验" in load.error and "nothing was loaded" in load.error_en
    assert (load.rows_read, load.rows_valid, load.rows_rejected) == (20, 16, 4)
    problems = _problems(load)
    assert doc.at["short"] == (7, 5) and doc.at["long"] == (16, 14)
    assert problems[(7, "ragged_row")]["message"] == "本行有 4 列，表头有 5 列（列数与表头不一致）"
    assert problems[(16, "ragged_row")]["message_en"] == "this row has 6 columns, the header has 5"
    assert problems[(16, "ragged_row")]["value"].endswith(",多余")
    assert problems[(7, "ragged_row")]["record"] == 5  # line 7 is the 5th data record (a blank line before)
    assert {k for k in problems if k[1] != "ragged_row"} == {(doc.at["p9"][0], "code"), (doc.at["p17"][0], "date")}
    assert load.report["rules"]["ragged_row"]["count"] == 2
    assert db.scalars(select(DataVersion).where(DataVersion.entry_id == entry.id)).all() == []
    assert registry.get_store().tables() == []
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "ingest.rejected",
                                                AuditEvent.subject_id == str(load.id))).one()
    assert json.loads(event.detail) == {"rows": 20, "rejected": 4}
    assert [r["行号"] for r in _rejects_csv(load)] == ["7", "11", "16", "19"]


def test_r_agg_3_a_file_whose_every_row_is_ragged_is_refused_with_all_rows_listed(f, db, tmp_path):
    """A trailing comma on every data row (6 fields against 5): no row is read, all are listed."""
    c, entry = setup(f, db)
    doc = Lines(HEADER)
    for n in range(1, 4):
        doc.row([], raw=",".join(person(n)) + ",")
    load = load_file(db, c.officer, entry, doc.write(tmp_path / "trailing.csv"))
    assert load.status == "rejected" and (load.rows_read, load.rows_valid, load.rows_rejected) == (3, 0, 3)
    assert [(p["row"], p["rule"]) for p in load.report["problems"]] == [(2, "ragged_row"), (3, "ragged_row"),
                                                                      (4, "ragged_row")]
    assert "有 3 行的列数与表头不一致" in load.error and "另有" not in load.error
    assert registry.get_store().tables() == []


def test_r_agg_3_xlsx_numbers_by_sheet_row_skips_blank_rows_and_lists_values_beyond_the_header(f, db, tmp_path):
    c, entry = setup(f, db)
    versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.5, keep_versions=5)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "户籍"
    ws.append(HEADER)
    for n in range(1, 5):
        ws.append(person(n))  # sheet rows 2-5
    ws.append([])  # 6
    ws.append(["  ", None, None])  # 7: only spaces, blank to the eye
    ws.append([])  # 8
    for n in range(5, 13):  # sheet rows 9-16
        values = person(n)
        if n == 7:
            values[2] = "X"  # row 11
        if n == 10:
            values = [*values, None, "备注"]  # row 14: a value in column G
        ws.append(values)
    path = tmp_path / "户籍.xlsx"
    wb.save(path)
    load = load_file(db, c.officer, entry, path)
    assert load.status == "rejected" and "户籍!G14" in load.error
    assert (load.rows_read, load.rows_rejected) == (12, 2)
    problems = _problems(load)
    assert set(problems) == {(11, "code"), (14, "ragged_row")}
    assert problems[(11, "code")]["record"] == 7  # sheet row 11 is the 7th data row (3 blank rows before)
    ragged = problems[(14, "ragged_row")]
    assert (ragged["field"], ragged["value"], ragged["record"]) == ("户籍!G14", "备注", 10)
    assert "本行有 7 列，表头只有 5 列" in ragged["message"]
    assert registry.get_store().tables() == []


@pytest.mark.parametrize("mode", ["full", "upsert"])
def test_r_agg_3_duplicates_far_apart_name_both_physical_lines(f, db, tmp_path, mode):
    c, entry = setup(f, db)
    if mode == "upsert":  # a serving version first: the upsert merges into it
        base = Lines(HEADER)
        for n in range(1, 4):
            base.row(person(n))
        assert load_file(db, c.officer, entry, base.write(tmp_path / "base.csv")).status == "applied"
    doc = Lines(HEADER)
    doc.blank()
    doc.blank()  # lines 2, 3
    n = 1
    while doc.next_line <= 10_000:
        if doc.next_line in (4_321, 7_777):
            doc.blank(" ")  # a line of spaces: blank too
            continue
        if doc.next_line == 9_000:
            doc.row(person(2), "again")
            continue
        doc.row(person(n), "first" if n == 2 else None)
        n += 1
    path = doc.write(tmp_path / "big.csv")
    assert path.read_bytes().decode("gbk").count("\r\n") == 10_000
    load = load_file(db, c.officer, entry, path, mode=mode)
    assert doc.at["first"] == (5, 2) and doc.at["again"] == (9_000, 8_995)
    assert load.status == "rejected" and load.rows_rejected == 1
    [problem] = load.report["problems"]
    assert (problem["row"], problem["record"], problem["rule"]) == (9_000, 8_995, "duplicate_key")
    assert problem["message"] == "主键（公民身份号码）重复：与第 5 行（第 2 条数据）相同"
    assert problem["message_en"] == "Duplicate key (公民身份号码): same as row 5 (data row 2)"


# The line map itself, on files built line by line with every kind of irregularity ----------------------

KINDS = ("row",) * 8 + ("blank", "spaces", "multi", "quoted", "short", "long", "cr_in_value")


def _random_file(tmp_path: Path, seed: int, newline: str, *, bare_quote: bool) -> tuple[Path, Lines, dict]:
    rng = random.Random(seed)
    doc = Lines(["编号", "名称", "备注"], newline=newline)
    ragged = {}
    for i in range(400):
        kind = rng.choice(KINDS)
        if kind == "blank":
            doc.blank()
        elif kind == "spaces":
            doc.blank(" \t ")
        elif kind == "multi":
            doc.row([str(i), f"第一行{newline}第二行{newline}第三行", "多行"], str(i))
        elif kind == "quoted":
            doc.row([str(i), '他说"你好"', "逗号,在内"], str(i))
        elif kind == "cr_in_value":
            doc.row([str(i), "甲\r\n乙", "丙"], str(i))
        elif kind in ("short", "long"):
            values = [str(i), "缺"] if kind == "short" else [str(i), "多", "一", "列"]
            doc.row(values, f"r{i}")
            ragged[doc.at[f"r{i}"][0]] = (doc.at[f"r{i}"][1], len(values))
        elif bare_quote and i % 97 == 5:
            doc.row([], str(i), raw=f'{i},5"寸,屏幕')  # a quote inside an unquoted field: text, for pyarrow too
        else:
            doc.row([str(i), f"名称{i}", ""], str(i))
    return doc.write(tmp_path / f"s{seed}.csv", "gbk"), doc, ragged


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("bare_quote", [False, True])
def test_r_agg_3_line_map_matches_the_lines_written(tmp_path, monkeypatch, chunk, newline, bare_quote):
    monkeypatch.setattr(line_scan, "_CHUNK", chunk)
    path, doc, ragged = _random_file(tmp_path, seed=chunk + len(newline), newline=newline, bare_quote=bare_quote)
    reader = open_reader(path, filename=path.name)
    tags, rows = [], []
    for batch in reader.batches(50):
        tags += batch.column("编号").to_pylist()
        rows += batch.column("_row").to_pylist()
    lines, records = reader.locate(rows)
    assert not reader.notes
    want = [doc.at[t] for t in tags]
    assert lines.to_pylist() == [w[0] for w in want]
    assert records.to_pylist() == [r if line != r + 1 else None for line, r in want]
    listed = reader.structural.to_pylist()
    assert {r["_row"]: (r["record"] if r["record"] is not None else r["_row"] - 1, int(r["message_en"].split()[3]))
            for r in listed} == ragged


def test_r_agg_3_quick_check_counts_lines_across_chunks(tmp_path, monkeypatch):
    """The check that lets a regular file skip the scan: CR LF split across chunks, lone CRs, blank lines
    at the end (ignored), a blank line in the middle (not regular)."""
    monkeypatch.setattr(line_scan, "_CHUNK", 4)
    for data, records, regular in ((b"a,b\r\n1,2\r\n3,4\r\n", 2, True), (b"a,b\r1,2\r3,4", 2, True),
                                   (b"a,b\n1,2\n3,4\n\n\r\n", 2, True), (b"a,b\n1,2\n\n3,4\n", 2, False),
                                   (b'a,b\n1,"2\n"\n', 1, False), (b"a,b\r\n1,2\r\r\n3,4\r\n", 2, False)):
        path = tmp_path / "q.csv"
        path.write_bytes(data)
        assert line_scan.one_line_per_record(path, records) is regular, data


def test_r_agg_3_unclosed_quote_still_stops_the_read_naming_its_line(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes('编号,名称\n1,甲\n\n"2,乙\n3,丙\n'.encode("gbk"))
    reader = open_reader(path, filename="q.csv")
    with pytest.raises(Invalid) as exc:
        list(reader.batches())
    assert exc.value.details[0] == {"file": "q.csv", "row": 4, "field": None, "problem": "unclosed_quote"}
    assert "第 4 行起有未闭合的引号" in exc.value.message


def test_r_agg_3_when_no_scan_agrees_the_report_says_so_and_keeps_data_rows(tmp_path):
    """A header spread over two lines: pyarrow skips one physical line for it, so neither scan can agree
    with what it read; row numbers stay the parser's and the report's notes say so."""
    path = tmp_path / "h.csv"
    path.write_bytes(b'"a\nx",b\n1,2\n\n3,4\n')
    reader = open_reader(path, filename="h.csv")
    rows = [r for batch in reader.batches() for r in batch.column("_row").to_pylist()]
    lines, records = reader.locate(rows)
    assert lines.to_pylist() == rows and records.null_count == len(rows)
    assert any("未能确定各行在文件中的行号" in n for n in reader.notes)
    path.write_bytes(b'"a\nx",b\n1,2\n3\n \n4,5\n')  # and a ragged row: listed by the parser's numbering
    reader = open_reader(path, filename="h.csv")
    assert sum(b.num_rows for b in reader.batches()) == 3
    assert [(r["_row"], r["value"], r["record"]) for r in reader.structural.to_pylist()] == [(4, "3", None)]
    assert reader.structural_rows == 1 and len([n for n in reader.notes if "未能确定" in n]) == 1
