"""Streamed downloads of open data (R-OPN-2, R-OPN-7, R-OPN-8): CSV (UTF-8 with BOM, formulas neutralised),
XLSX (written by us, read back with openpyxl), JSON (one array, typed values) and Parquet (read back with
pyarrow) — each the public items of a version, masked exactly like the row API; earlier versions with
``?version=``; a file name, a media type and the attribution on every download; every download, served or
refused, a sealed access event."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import unquote

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from gongshu.opendata.service import datasets, formats, rows
from gongshu.sharing.models import AccessEvent
from gongshu.sharing.service import evidence
from tests.ingest.helpers import load_file, person_rows, write_csv
from tests.opendata.helpers import open_world
from tests.opendata.test_rows import ITEMS, PUBLIC, last_event

FORMULA = "=HYPERLINK(1)"


def world(f, db, tmp_path, n: int = 6, **kw):
    """The dataset opened, then version 1 loaded: ``n`` persons, the third named like a formula."""
    w = open_world(f, db, tmp_path, items=ITEMS, load=False, **kw)
    people = person_rows(n)
    people[2][1] = FORMULA
    done = load_file(db, w.c.officer, w.entry, write_csv(tmp_path / "v1.csv", people))
    assert done.status == "applied", done.error
    return w


def expected(client, ref, **params) -> list[dict]:
    """The masked rows as the row API serves them (JSON values)."""
    body = client.get(f"/api/v1/open/datasets/{ref}/rows", params={"limit": 500, **params}).json()
    assert body["next"] is None
    return body["rows"]


def get(client, ref, fmt, **params):
    r = client.get(f"/open/datasets/{ref}/download.{fmt}", params=params)
    assert r.status_code == 200, r.text
    return r


def as_text(v) -> str:
    return "" if v is None else str(v)


def test_r_opn_2_downloads_in_every_format_equal_the_masked_rows(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    slug = datasets.slug(w.entry.code)
    want = expected(client, slug)
    assert len(want) == 6 and want[2]["姓名"] == "=H***********" and "户籍地址" not in want[0]

    r = get(client, slug, "csv")
    assert r.content.startswith(b"\xef\xbb\xbf") and r.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(r.content[3:].decode("utf-8"))))
    assert table[0] == PUBLIC
    assert table[3][1] == "'=H***********"  # neutralised: a spreadsheet shows it as text, never runs it
    assert [dict(zip(PUBLIC, row, strict=True)) for row in table[1:]] == [
        {k: ("'" + v if k == "姓名" and v.startswith("=") else as_text(v)) for k, v in row.items()} for row in want]

    r = get(client, slug, "json")
    assert r.headers["content-type"] == "application/json" and json.loads(r.content) == want

    r = get(client, slug, "parquet")
    assert r.headers["content-type"] == "application/vnd.apache.parquet" and r.content[:4] == b"PAR1"
    got = pq.read_table(io.BytesIO(r.content))
    assert got.column_names == PUBLIC and got.schema.field("出生日期").type == pa.date32()
    assert [{k: rows.plain(v) for k, v in row.items()} for row in got.to_pylist()] == want
    assert got.schema.metadata[b"attribution"].decode() == unquote(r.headers["X-Attribution"])

    r = get(client, slug, "xlsx")
    assert r.headers["content-type"] == formats.FORMATS["xlsx"] and r.content[:2] == b"PK"
    sheet = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == PUBLIC and values[3][1] == FORMULA[:2] + "*" * 11  # a text cell, not a formula
    assert [dict(zip(PUBLIC, row, strict=True)) for row in values[1:]] == want


def test_r_opn_8_downloads_are_named_typed_attributed_and_logged(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    ds = datasets.get(db, ref=w.entry.id)
    for fmt in formats.FORMATS:
        r = get(client, w.entry.id, fmt)
        cd = r.headers["content-disposition"]
        assert cd.startswith("attachment; ") and f"filename=\"{datasets.slug(w.entry.code)}-v1.{fmt}\"" in cd
        assert unquote(cd.split("filename*=UTF-8''", 1)[1]) == f"{ds.snapshot['name']}-v1.{fmt}"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert unquote(r.headers["x-attribution"]) == datasets.attribution(ds)
        assert "数据来源" in datasets.attribution(ds) and ds.snapshot["org_name"] in datasets.attribution(ds)
        assert datasets.licence(ds)["url"] in r.headers["link"] and 'rel="license"' in r.headers["link"]
        ev = last_event(db)
        assert (ev.operation, ev.result, ev.rows, ev.reason) == ("open_download", "ok", 6, f"v1 {fmt}")
        assert (ev.source_org_id, ev.entry_id, ev.end_user, ev.items) == (w.c.dept.id, w.entry.id, "公众", PUBLIC)
        assert evidence.verify_seal(db, seq=ev.seal_seq).ok


def test_r_opn_2_earlier_versions_download_with_version(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    v1 = expected(client, w.entry.id)
    done = load_file(db, w.c.officer, w.entry, write_csv(tmp_path / "v2.csv", person_rows(3, start=101)))
    assert done.status == "applied", done.error
    v2 = expected(client, w.entry.id)
    assert len(v2) == 3 and v2 != v1[:3]
    assert json.loads(get(client, w.entry.id, "json").content) == v2
    assert json.loads(get(client, w.entry.id, "json", version=2).content) == v2
    assert json.loads(get(client, w.entry.id, "json", version=1).content) == v1
    assert "-v1.csv" in get(client, w.entry.id, "csv", version=1).headers["content-disposition"]
    assert (last_event(db).rows, last_event(db).reason) == (6, "v1 csv")
    r = client.get(f"/api/v1/open/datasets/{w.entry.id}/rows", params={"limit": 1})
    assert r.json()["version"] == 2
    r = client.get(f"/open/datasets/{w.entry.id}/download.csv", params={"version": 9},
                   headers={"Accept": "application/json"})
    assert r.status_code == 404 and "9" in r.json()["error"]["message"]
    assert (last_event(db).result, last_event(db).operation) == ("not_found", "open_download")
    r = client.get(f"/open/datasets/{w.entry.id}/download.csv", params={"version": "abc"},
                   headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "version"
    assert (last_event(db).result, last_event(db).reason) == ("denied", "bad_version")


def test_r_opn_2_refused_downloads_send_nothing_and_are_logged(f, db, tmp_path, client, monkeypatch):
    w = world(f, db, tmp_path)
    accept = {"Accept": "application/json"}
    r = client.get(f"/open/datasets/{w.entry.id}/download.txt", headers=accept)
    assert r.status_code == 404 and "csv" in r.json()["error"]["message"]
    assert (last_event(db).result, last_event(db).reason) == ("not_found", "bad_format")
    monkeypatch.setattr(formats, "XLSX_MAX_ROWS", 5)  # a sheet's limit, scaled down to the test's 6 rows
    r = client.get(f"/open/datasets/{w.entry.id}/download.xlsx", headers=accept)
    assert r.status_code == 422 and "CSV" in r.json()["error"]["message"] and "CSV" in r.json()["error"]["message_en"]
    assert (last_event(db).result, last_event(db).reason, last_event(db).rows) == ("denied", "too_many_rows_for_xlsx", 0)
    assert client.get(f"/open/datasets/{w.entry.id}/download.csv").status_code == 200  # CSV has no such limit
    page = client.get(f"/open/datasets/{w.entry.id}/download.csv", params={"version": "x"})  # a browser: a page
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    (tmp_path / "c").mkdir()
    cond = open_world(f, db, tmp_path / "c", items=ITEMS, open_type="有条件开放", open_condition="仅用于科研", rows=3)
    r = client.get(f"/open/datasets/{cond.entry.id}/download.csv", headers=accept)
    assert r.status_code == 403 and r.json()["error"]["details"] == [{"reason": "conditional"}]
    ev = last_event(db)
    assert (ev.result, ev.reason, ev.entry_id) == ("denied", "conditional", cond.entry.id)
    assert evidence.verify_seal(db, seq=ev.seal_seq).ok
    refused = list(db.scalars(select(AccessEvent).where(AccessEvent.operation == "open_download",
                                                        AccessEvent.result != "ok")))
    assert len(refused) == 4 and all(e.rows == 0 for e in refused)


def test_r_opn_2_downloads_stream_batch_by_batch(f, db, tmp_path):
    w = world(f, db, tmp_path, n=7)
    ds = datasets.get(db, ref=w.entry.id)
    d = rows.download(db, dataset=ds, fmt="parquet")
    chunks = list(formats.stream(d.sql, "parquet", d.labels, attribution=d.attribution, batch_rows=2))
    assert chunks[0] == b"PAR1" and len([c for c in chunks if c]) >= 5  # one row group per batch, then the footer
    streamed = pq.read_table(io.BytesIO(b"".join(chunks)))
    assert pq.ParquetFile(io.BytesIO(b"".join(chunks))).metadata.num_row_groups == 4
    whole = pq.read_table(io.BytesIO(b"".join(formats.stream(d.sql, "parquet", d.labels))))
    assert streamed.to_pylist() == whole.to_pylist()
    assert streamed.num_rows == 7 and streamed.column("姓名")[2].as_py() == "=H***********"
    for fmt, first in (("csv", formats.BOM + formats.csv_header(d.labels)), ("json", b"[")):
        parts = list(formats.stream(d.sql, fmt, d.labels, batch_rows=3))
        assert parts[0] == first and len(parts) >= 4  # the header before any row; then a chunk per batch
    parts = list(formats.stream(d.sql, "xlsx", d.labels, batch_rows=3, sheet=ds.snapshot["name"]))
    assert parts[0][:2] == b"PK" and len(parts) >= 4
    book = openpyxl.load_workbook(io.BytesIO(b"".join(parts)))
    assert book.sheetnames == [ds.snapshot["name"]] and book.active.max_row == 8


def test_r_opn_2_formats_keep_types_escape_text_and_neutralise_formulas(tmp_path):
    """The writers alone, over a Parquet file with every kind of value the store holds."""
    table = pa.table({
        "名称": pa.array(["=1+2", "a<b>&c", "\ttab", "+86", None, "-5", "@x", "ok\x01", "换行\n文本"]),
        "金额": pa.array([Decimal("12.30"), None, Decimal("-0.05"), Decimal("1"), Decimal("0"), None, None, None,
                          Decimal("99999999.99")], pa.decimal128(18, 2)),
        "数量": pa.array([1, 2, None, -3, 4, 5, 6, 7, 8], pa.int64()),
        "比率": pa.array([0.5, float("nan"), float("inf"), -1.25, None, 1e20, 0.0, 3.0, 2.5]),
        "有效": pa.array([True, False, None, True, True, False, True, False, True]),
        "日期": pa.array([date(2026, 12, 5)] * 8 + [None], pa.date32()),
        "时间": pa.array([datetime(2026, 12, 5, 8, 30, 1, 250000)] + [None] * 8, pa.timestamp("us")),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    sql = f"SELECT * FROM read_parquet('{path}')"  # noqa: S608 - our own temporary file
    labels = table.column_names

    data = json.loads(b"".join(formats.stream(sql, "json", labels, batch_rows=4)))
    assert len(data) == 9 and data[0] == {"名称": "=1+2", "金额": 12.3, "数量": 1, "比率": 0.5, "有效": True,
                                          "日期": "2026-12-05", "时间": "2026-12-05T08:30:01.250000"}
    assert data[1]["比率"] is None and data[2]["比率"] is None and data[5]["比率"] == 1e20 and data[8]["日期"] is None
    assert data[7]["名称"] == "ok\x01" and data[8]["名称"] == "换行\n文本" and data[8]["金额"] == 99999999.99

    text = b"".join(formats.stream(sql, "csv", labels, batch_rows=4))[3:].decode()
    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert cells == ["'=1+2", "a<b>&c", "'\ttab", "'+86", "", "'-5", "'@x", "ok\x01", "换行\n文本"]
    numbers = list(csv.reader(io.StringIO(text)))[1]
    assert numbers[1:6] == ["12.30", "1", "0.5", "true", "2026-12-05"]

    book = openpyxl.load_workbook(io.BytesIO(b"".join(formats.stream(sql, "xlsx", labels, batch_rows=4))))
    got = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert got[0] == labels and len(got) == 10
    assert got[1][:6] == ["=1+2", 12.3, 1, 0.5, True, "2026-12-05"] and got[1][6].startswith("2026-12-05 08:30:01")
    assert got[2][0] == "a<b>&c" and got[2][2] == 2 and got[2][3] is None and got[3][3] is None  # NaN, inf: empty
    assert got[8][0] == "ok" and got[9][0] == "换行\n文本" and got[5][0] is None and got[6][0] == "-5"

    out = pq.read_table(io.BytesIO(b"".join(formats.stream(sql, "parquet", labels, batch_rows=4))))
    assert out.num_rows == 9 and out.to_pylist()[0] == table.to_pylist()[0]
    assert out.column("金额").type == pa.decimal128(18, 2) and out.column("名称")[1].as_py() == "a<b>&c"


@pytest.mark.parametrize("label", ["=公式", "普通"])
def test_r_opn_2_csv_header_neutralises_labels_too(label):
    assert formats.csv_header([label, "b"]).decode().split(",")[0].strip('"') == ("'" + label if label[0] == "=" else label)


def test_r_opn_2_binary_items_download_as_base64_text(tmp_path):
    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"附件": pa.array([b"\x00\xff", None], pa.binary()), "名称": ["a", "b"]}), path)
    sql = formats.portable_sql(f"SELECT * FROM read_parquet('{path}')", ["附件"])  # noqa: S608 - our own file
    assert json.loads(b"".join(formats.stream(sql, "json", ["附件", "名称"]))) == [
        {"附件": "AP8=", "名称": "a"}, {"附件": None, "名称": "b"}]
    assert formats.portable_sql("SELECT 1", []) == "SELECT 1"
