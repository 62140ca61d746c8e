"""Streaming readers: formats, encodings and precise messages for bad files (R-AGG-2, R-AGG-3)."""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshu.errors import Invalid
from gongshu.ingest.service.readers import detect_encoding, detect_format, open_reader


def _write(tmp_path: Path, name: str, data: str | bytes, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return p


def _rows(path: Path, batch_rows: int = 100_000, **kw) -> tuple[object, list[dict]]:
    reader = open_reader(path, filename=path.name, **kw)
    out = []
    for batch in reader.batches(batch_rows):
        assert batch.schema.field("_row").type == pa.int64()
        assert all(f.type == pa.large_string() for f in batch.schema if f.name != "_row")
        out.extend(batch.to_pylist())
    return reader, out


def _invalid(path: Path, **kw) -> Invalid:
    with pytest.raises(Invalid) as exc:
        _rows(path, **kw)
    err = exc.value
    assert err.message and err.message_en and err.message != err.message_en
    assert all(d["file"] == path.name for d in err.details)
    return err


PEOPLE = "姓名,性别,出生日期\n张三,1,1990-01-02\n李四,,\n\"王\n五\",2,2001-12-31\n"


def test_r_agg_2_csv_utf8_rows_numbered_like_a_spreadsheet(tmp_path):
    reader, rows = _rows(_write(tmp_path, "p.csv", PEOPLE), batch_rows=2)
    assert (reader.format, reader.encoding, reader.header) == ("csv", "utf-8", ["姓名", "性别", "出生日期"])
    assert [r["_row"] for r in rows] == [2, 3, 4]
    assert rows[1] == {"姓名": "李四", "性别": None, "出生日期": None, "_row": 3}
    assert rows[2]["姓名"] == "王\n五"


@pytest.mark.parametrize("encoding,expected", [("gbk", ("gbk", "gb18030")), ("gb18030", ("gbk", "gb18030")),
                                               ("utf-8-sig", ("utf-8-sig",))])
def test_r_agg_2_csv_encodings_are_detected(tmp_path, encoding, expected):
    path = _write(tmp_path, "p.csv", PEOPLE, encoding)
    assert detect_encoding(path) in expected
    reader, rows = _rows(path)
    assert reader.header == ["姓名", "性别", "出生日期"]
    assert rows[0]["姓名"] == "张三"


def test_r_agg_2_gb18030_only_characters(tmp_path):
    path = _write(tmp_path, "p.csv", "姓名,备注\n张三,\U00020000𠀀\n", "gb18030")
    reader, rows = _rows(path)
    assert reader.encoding == "gb18030"
    assert rows[0]["备注"] == "\U00020000𠀀"


def test_r_agg_2_encoding_override_and_wrong_override(tmp_path):
    path = _write(tmp_path, "p.csv", "a,b\n1,2\n", "utf-8")
    assert _rows(path, encoding="gbk")[0].encoding == "gbk"
    gbk = _write(tmp_path, "g.csv", PEOPLE, "gbk")
    err = _invalid(gbk, encoding="utf-8")
    assert err.details[0]["row"] == 1 and "GBK" in err.message and "UTF-8" in err.message


def test_r_agg_2_mixed_encoding_names_the_row(tmp_path):
    data = ("a,b\n" + "x,y\n" * 300_000).encode() + "张,三\n".encode("gbk")
    err = _invalid(_write(tmp_path, "mixed.csv", data))
    assert err.details[0]["row"] == 300_002
    assert "300002" in err.message and "GBK" in err.message and "GB18030" in err.message_en


def test_r_agg_3_ragged_rows_are_listed_not_raised(tmp_path):
    """A row with too few or too many fields is left out and listed with its line (R-AGG-3: the pipeline
    reports it with every other problem and refuses the load); the other rows are read."""
    reader, rows = _rows(_write(tmp_path, "r.csv", "a,b\n1,2\n3\n4,5,6\n7,8\n"))
    assert [(r["a"], r["_row"]) for r in rows] == [("1", 2), ("7", 3)]
    ragged = reader.structural.to_pylist()
    assert [(r["_row"], r["record"], r["value"], r["rule"]) for r in ragged] == [
        (3, None, "3", "ragged_row"), (4, None, "4,5,6", "ragged_row")]
    assert ragged[0]["message"] == "本行有 1 列，表头有 2 列（列数与表头不一致）"
    assert ragged[1]["message_en"] == "this row has 3 columns, the header has 2"
    assert reader.structural_rows == 2 and "第 3 行有 1 列" in reader.structural_message[0]
    lines, records = reader.locate([r["_row"] for r in rows])
    assert lines.to_pylist() == [2, 5] and records.to_pylist() == [None, None]


def test_r_agg_2_unclosed_quote(tmp_path):
    err = _invalid(_write(tmp_path, "q.csv", 'a,b\n1,2\n"3,4\n5,6\n'))
    assert err.details[0]["row"] == 3 and err.details[0]["problem"] == "unclosed_quote"
    assert "未闭合的引号" in err.message


def test_r_agg_2_empty_and_header_only(tmp_path):
    assert _invalid(_write(tmp_path, "e.csv", "")).details[0]["problem"] == "empty"
    assert _invalid(_write(tmp_path, "w.csv", " \n\n")).details[0]["problem"] == "empty"
    err = _invalid(_write(tmp_path, "h.csv", "a,b\n"))
    assert err.details[0] == {"file": "h.csv", "row": 2, "field": None, "problem": "no_data"}


def test_r_agg_2_duplicate_and_empty_header_names(tmp_path):
    err = _invalid(_write(tmp_path, "d.csv", "a,a,,b\n1,2,3,4\n"))
    assert [(d["field"], d["problem"]) for d in err.details] == [("a", "duplicate_header"),
                                                                ("第3列", "empty_header")]


@pytest.mark.parametrize("size_mb", [2, 10])
def test_r_agg_2_field_over_one_megabyte(tmp_path, size_mb):
    data = b"a,b\n1,2\n3," + b"x" * (size_mb << 20) + b"\n5,6\n"
    err = _invalid(_write(tmp_path, "big.csv", data))
    assert err.details[0] == {"file": "big.csv", "row": 3, "field": "b", "problem": "field_too_large"}
    assert "1 MB" in err.message


def test_r_agg_2_field_just_under_the_limit_is_read(tmp_path):
    value = "x" * ((1 << 20) - 10)
    _, rows = _rows(_write(tmp_path, "ok.csv", f"a,b\n1,{value}\n"))
    assert rows[0]["b"] == value


def test_detect_format_by_name_and_content():
    assert detect_format("a.CSV", b"") == "csv"
    assert detect_format("a.jsonl", b"") == "ndjson"
    assert detect_format("upload", b"PK\x03\x04") == "xlsx"
    assert detect_format("upload", b"PAR1") == "parquet"
    assert detect_format("upload", b" [{") == "json"
    with pytest.raises(Invalid):
        detect_format("a.docx", b"xx")


def _xlsx(tmp_path: Path, name: str, build) -> Path:
    wb = openpyxl.Workbook()
    build(wb)
    path = tmp_path / name
    wb.save(path)
    return path


def test_r_agg_2_xlsx_cells_become_strings(tmp_path):
    def build(wb):
        ws = wb.active
        ws.title = "人口"
        ws.append(["姓名", "人数", "金额", "日期", "时间", "是否"])
        ws.append(["张三", 3, 2.5, date(2020, 1, 5), datetime(2020, 1, 5, 8, 30), True])
        ws.append([])
        ws.append(["李四", 4.0, None, datetime(2021, 2, 3), None, False])
        wb.create_sheet("说明").append(["备注"])
    reader, rows = _rows(_xlsx(tmp_path, "p.xlsx", build))
    assert reader.sheet == "人口" and reader.header == ["姓名", "人数", "金额", "日期", "时间", "是否"]
    assert rows[0] == {"姓名": "张三", "人数": "3", "金额": "2.5", "日期": "2020-01-05", "时间": "2020-01-05 08:30:00",
                       "是否": "true", "_row": 2}
    assert rows[1]["_row"] == 4 and rows[1]["人数"] == "4" and rows[1]["日期"] == "2021-02-03"
    assert any("说明" in n for n in reader.notes)


def test_r_agg_2_xlsx_merged_cells_named(tmp_path):
    def build(wb):
        ws = wb.active
        ws.append(["a", "b"])
        ws.append([1, 2])
        ws.merge_cells("A3:B4")
    err = _invalid(_xlsx(tmp_path, "m.xlsx", build))
    assert "Sheet!A3:B4" in err.message and err.details[0]["problem"] == "merged_cells"


def test_r_agg_2_xlsx_formula_cells_named(tmp_path):
    def build(wb):
        ws = wb.active
        ws.title = "Sheet1"
        ws.append(["a", "b", "c"])
        for i in range(2, 8):
            ws.append([i, i, f"=A{i}+B{i}" if i == 7 else i])
    err = _invalid(_xlsx(tmp_path, "f.xlsx", build))
    assert "Sheet1!C7" in err.message and err.details[0]["row"] == 7


def test_r_agg_3_xlsx_value_outside_header_is_listed(tmp_path):
    def build(wb):
        ws = wb.active
        ws.append(["a", "b"])
        ws.append([1, 2, 3])
    reader, rows = _rows(_xlsx(tmp_path, "x.xlsx", build))
    assert rows == [] and reader.structural_rows == 1
    [ragged] = reader.structural.to_pylist()
    assert (ragged["_row"], ragged["field"], ragged["value"]) == (2, "Sheet!C2", "3")


def test_r_agg_2_zip_bomb_and_path_traversal_refused(tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (50 << 20))
    assert _invalid(bomb).details[0]["problem"] == "zip_bomb"
    evil = tmp_path / "evil.xlsx"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../etc/evil.xml", b"x")
    err = _invalid(evil)
    assert err.details[0]["problem"] == "zip_path" and "../../etc/evil.xml" in err.message
    assert _invalid(_write(tmp_path, "no.xlsx", b"not a zip")).details[0]["problem"] == "format"


def test_r_agg_2_json_array(tmp_path):
    data = [{"a": 1, "b": "x"}, {"a": None, "b": True}, {"b": 2.5}]
    reader, rows = _rows(_write(tmp_path, "j.json", json.dumps(data, ensure_ascii=False)))
    assert reader.header == ["a", "b"]
    assert rows == [{"a": "1", "b": "x", "_row": 1}, {"a": None, "b": "true", "_row": 2},
                    {"a": None, "b": "2.5", "_row": 3}]


def test_r_agg_2_json_unknown_and_nested_keys(tmp_path):
    err = _invalid(_write(tmp_path, "j.json", json.dumps([{"a": 1}, {"a": 2}, {"a": 3, "z": 1}])))
    assert err.details[0] == {"file": "j.json", "row": 3, "field": "z", "problem": "unknown_key"}
    err = _invalid(_write(tmp_path, "n.json", json.dumps([{"a": 1}, {"a": {"q": 1}}])))
    assert err.details[0]["row"] == 2 and err.details[0]["problem"] == "nested"
    assert _invalid(_write(tmp_path, "o.json", '{"a": 1}')).details[0]["problem"] == "format"


def test_r_agg_2_ndjson_line_numbers_and_errors(tmp_path):
    reader, rows = _rows(_write(tmp_path, "n.ndjson", '{"a":"x","b":1}\n\n{"a":"y","b":2.5}\n'))
    assert [(r["a"], r["b"], r["_row"]) for r in rows] == [("x", "1", 1), ("y", "2.5", 3)]
    err = _invalid(_write(tmp_path, "k.ndjson", '{"a":"x"}\n{"a":"y","c":2}\n'))
    assert err.details[0] == {"file": "k.ndjson", "row": 2, "field": "c", "problem": "unknown_key"}
    err = _invalid(_write(tmp_path, "b.ndjson", '{"a":"x"}\n{"a":\n'))
    assert err.details[0]["row"] == 2 and err.details[0]["problem"] == "parse"


def test_r_agg_2_ndjson_gbk(tmp_path):
    reader, rows = _rows(_write(tmp_path, "g.ndjson", '{"姓名":"张三"}\n{"姓名":"李四"}\n', "gbk"))
    assert reader.encoding in ("gbk", "gb18030") and [r["姓名"] for r in rows] == ["张三", "李四"]


def test_r_agg_2_parquet_cast_to_strings(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"n": [1, None], "d": [date(2020, 1, 5), date(2021, 2, 3)], "s": ["甲", "乙"]}), path)
    reader, rows = _rows(path, batch_rows=1)
    assert reader.header == ["n", "d", "s"]
    assert rows == [{"n": "1", "d": "2020-01-05", "s": "甲", "_row": 1}, {"n": None, "d": "2021-02-03", "s": "乙", "_row": 2}]


def test_r_agg_2_rebatching_keeps_row_numbers(tmp_path):
    body = "".join(f"{i},{i}\n" for i in range(2, 25_002))
    reader = open_reader(_write(tmp_path, "n.csv", "a,b\n" + body), filename="n.csv")
    sizes, last = [], 1
    for batch in reader.batches(7_000):
        rows = batch.column("_row").to_pylist()
        assert rows[0] == last + 1 and batch.column("a").to_pylist() == [str(r) for r in rows]
        last = rows[-1]
        sizes.append(batch.num_rows)
    assert sizes == [7_000, 7_000, 7_000, 4_000]
