"""What the public receives of an open dataset's rows through the preview and the row API (R-OPN-2): public
items only, masked by the platform's one masking; equality filters on public unmasked items, keyset pages with
a sealed cursor; 有条件开放 data refused (403), closed data not found (404); bad input a 422 in Chinese and
English. Every call, served or refused, is a sealed access event (R-OPN-7); the attribution travels with
every answer (R-OPN-8)."""

from __future__ import annotations

import base64
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from gongshu.errors import Forbidden, Invalid
from gongshu.opendata.service import datasets, rows
from gongshu.sharing.models import AccessEvent
from gongshu.sharing.service import evidence
from tests.ingest.helpers import make_id
from tests.opendata.helpers import open_world

#: 公民身份号码 and 姓名 are personal (masked), 性别 and 出生日期 public in clear, 户籍地址 not opened
ITEMS = [
    {"name": "公民身份号码", "type": "C", "length": 18, "meaning": "GB 11643", "is_identifier": True, "is_key": True,
     "is_personal": True, "grade": "一般3"},
    {"name": "姓名", "type": "C", "length": 50, "meaning": "户籍登记姓名", "is_personal": True, "grade": "一般3"},
    {"name": "性别", "type": "C", "length": 1, "meaning": "GB/T 2261.1", "grade": "一般1"},
    {"name": "出生日期", "type": "D", "meaning": "公历出生日期", "grade": "一般2"},
    {"name": "户籍地址", "type": "C", "length": 200, "meaning": "住址", "grade": "一般1", "open_type": "不予开放"},
]
PUBLIC = ["公民身份号码", "姓名", "性别", "出生日期"]


def world(f, db, tmp_path, **kw):
    return open_world(f, db, tmp_path, items=ITEMS, **kw)


def api(client, ref, what="rows", **params):
    return client.get(f"/api/v1/open/datasets/{ref}/{what}", params=params)


def last_event(db) -> AccessEvent:
    return db.scalars(select(AccessEvent).order_by(AccessEvent.id.desc()).limit(1)).one()


def masked_id(n: int) -> str:
    v = make_id(n)
    return v[:4] + "*" * 10 + v[-4:]


def assert_refused(db, r, status: int, reason: str, *, result: str = "denied", field: str | None = None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["message_en"] and err["message"] != err["message_en"]
    assert "rows" not in r.json()
    if field is not None:
        assert err["field"] == field
    ev = last_event(db)
    assert (ev.result, ev.reason, ev.rows) == (result, reason, 0) and ev.seal_seq is not None
    assert evidence.verify_seal(db, seq=ev.seal_seq).ok
    return err


def test_r_opn_2_preview_serves_public_items_masked_in_key_order_and_is_logged(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=20)
    r = api(client, w.entry.id, "preview", limit=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"] == PUBLIC and body["masked"] == ["公民身份号码", "姓名"] and body["version"] == 1
    assert body["rows"][0] == {"公民身份号码": masked_id(1), "姓名": "张**", "性别": "1", "出生日期": "1985-03-12"}
    assert [row["公民身份号码"] for row in body["rows"]] == [masked_id(n) for n in (1, 2, 3)]
    assert "户籍地址" not in r.text and "东莞市" not in r.text and make_id(1) not in r.text
    assert body["dataset"] == datasets.slug(w.entry.code)
    ds = datasets.get(db, ref=w.entry.id)
    assert body["attribution"] == datasets.attribution(ds) and w.c.dept.name in body["attribution"]
    assert unquote(r.headers["X-Attribution"]) == body["attribution"]
    ev = last_event(db)
    assert (ev.operation, ev.result, ev.rows, ev.reason) == ("open_preview", "ok", 3, "v1")
    assert (ev.consumer_org_id, ev.source_org_id, ev.entry_id, ev.grant_id) == (None, w.c.dept.id, w.entry.id, None)
    assert (ev.end_user, ev.purpose, ev.items) == ("公众", "open", PUBLIC)
    assert evidence.verify_seal(db, seq=ev.seal_seq).ok
    default = api(client, datasets.slug(w.entry.code), "preview").json()  # by slug; 20 rows by default
    assert len(default["rows"]) == 20 and default["rows"][:3] == body["rows"]


def test_r_opn_2_names_and_id_numbers_are_masked_like_the_platform_masks_them(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=12)
    ds = datasets.get(db, ref=w.entry.code)
    body = rows.preview(db, dataset=ds, limit=12)
    names = [row["姓名"] for row in body["rows"]]
    assert names[0] == "张**" and names[9] == "张一**" and all(n.startswith("张") for n in names)  # 张二1, 张一10
    assert all(len(row["公民身份号码"]) == 18 and row["公民身份号码"][4:14] == "*" * 10 for row in body["rows"])
    woman = next(row for row in body["rows"] if row["公民身份号码"].endswith(make_id(2)[-4:]))
    assert woman["性别"] == "2"
    assert body["rows"] == [datasets.mask(ds, {"公民身份号码": make_id(n), "姓名": f"张{'一二三四五六七八九十'[n % 10]}{n}",
                                               "性别": "1" if n % 2 else "2", "出生日期": "1985-03-12"})
                            for n in range(1, 13)]


def test_r_opn_2_filters_and_keyset_pages_across_pages(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=25)
    seen, after, pages = [], None, 0
    while True:
        params = {"性别": "2", "limit": 4}
        if after:
            params["after"] = after
        r = api(client, w.entry.code, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["filters"] == {"性别": "2"} and all(row["性别"] == "2" for row in body["rows"])
        seen += [row["公民身份号码"] for row in body["rows"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
        assert len(body["rows"]) == 4
    assert seen == [masked_id(n) for n in range(2, 26, 2)] and pages == 3  # 12 women: 4 + 4 + 4
    ev = last_event(db)
    assert (ev.operation, ev.result, ev.rows) == ("open_rows", "ok", 4) and ev.reason.startswith("v1 性别=2")
    both = api(client, w.entry.id, 性别="1", 出生日期="1985-03-12", limit=500).json()
    assert len(both["rows"]) == 13 and both["next"] is None
    assert api(client, w.entry.id, 出生日期="1990-01-01").json()["rows"] == []
    everything = api(client, w.entry.id).json()  # no filter: 100 by default
    assert len(everything["rows"]) == 25 and everything["next"] is None


def test_r_opn_2_bad_filters_cursors_and_limits_are_422_in_both_languages(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=6)
    err = assert_refused(db, api(client, w.entry.id, 姓名="张一1"), 422, "masked_item", field="姓名")
    assert "泄露" in err["message"] and "reveal" in err["message_en"]
    err = assert_refused(db, api(client, w.entry.id, 户籍地址="东莞市南城街道1号"), 422, "unknown_item", field="户籍地址")
    assert "户籍地址" in err["message"] and "性别" in err["message"] and "户籍地址" in err["message_en"]
    assert "东莞市" not in str(last_event(db).reason)
    assert_refused(db, api(client, w.entry.id, 宗教信仰="无"), 422, "unknown_item", field="宗教信仰")
    err = assert_refused(db, api(client, w.entry.id, 出生日期="1985-13-45"), 422, "bad_value", field="出生日期")
    assert "日期" in err["message"] and "date" in err["message_en"]
    r = client.get(f"/api/v1/open/datasets/{w.entry.id}/rows?性别=1&性别=2")
    assert_refused(db, r, 422, "repeated_filter", field="性别")
    for bad in ("0", "501", "abc", "-3", "1e3"):
        assert_refused(db, api(client, w.entry.id, limit=bad), 422, "bad_limit", field="limit")
    assert_refused(db, api(client, w.entry.id, "preview", limit="101"), 422, "bad_limit", field="limit")
    first = api(client, w.entry.id, limit=2).json()
    assert first["next"]
    blob = bytearray(base64.urlsafe_b64decode(first["next"] + "=" * (-len(first["next"]) % 4)))
    blob[-1] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(blob)).decode().rstrip("=")
    for bad in (tampered, "not a cursor", "AAAA", first["next"][:-2]):
        err = assert_refused(db, api(client, w.entry.id, limit=2, after=bad), 422, "bad_cursor", field="after")
        assert "next" in err["message"]
    again = api(client, w.entry.id, limit=2, after=first["next"]).json()  # the real one still works
    assert again["rows"][0]["公民身份号码"] == masked_id(3)


def test_r_opn_2_a_cursor_belongs_to_its_dataset(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=4)
    other = world(f, db, tmp_path, rows=4)
    nxt = api(client, w.entry.id, limit=1).json()["next"]
    assert_refused(db, api(client, other.entry.id, limit=1, after=nxt), 422, "bad_cursor")


def test_r_opn_2_conditional_data_is_refused_and_closed_data_is_not_found(f, db, tmp_path, client):
    cond = world(f, db, tmp_path, rows=3, open_type="有条件开放", open_condition="仅用于科研；签署数据使用协议")
    for what in ("rows", "preview"):
        err = assert_refused(db, api(client, cond.entry.id, what), 403, "conditional")
        assert "申请" in err["message"]
        ev = last_event(db)
        assert (ev.entry_id, ev.source_org_id, ev.operation) == (cond.entry.id, cond.c.dept.id,
                                                                 "open_" + ("rows" if what == "rows" else "preview"))
    with pytest.raises(Forbidden):
        rows.page(db, dataset=datasets.get(db, ref=cond.entry.id), filters={})
    from tests.catalog.helpers import published
    closed = published(db, cond.c, open_type="无条件开放")  # published, never reviewed for opening
    for ref in (closed.id, closed.code, "999999-99999", "no-such"):
        assert_refused(db, api(client, ref), 404, "not_found", result="not_found")
        assert last_event(db).entry_id is None
    assert_refused(db, api(client, closed.id, "preview"), 404, "not_found", result="not_found")


def test_r_opn_7_every_call_is_a_sealed_access_event(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=5)
    before = db.scalar(select(AccessEvent.id).order_by(AccessEvent.id.desc()).limit(1)) or 0
    api(client, w.entry.id, "preview")
    api(client, w.entry.id, 性别="1")
    api(client, w.entry.id, 姓名="x")
    api(client, "nothing-here")
    evs = list(db.scalars(select(AccessEvent).where(AccessEvent.id > before).order_by(AccessEvent.id)))
    assert [(e.operation, e.result) for e in evs] == [("open_preview", "ok"), ("open_rows", "ok"),
                                                      ("open_rows", "denied"), ("open_rows", "not_found")]
    assert [e.rows for e in evs] == [5, 3, 0, 0]
    assert all(e.seal_seq is not None and evidence.verify_seal(db, seq=e.seal_seq).ok for e in evs)


def test_r_opn_2_service_refuses_bad_limits_without_the_api(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    ds = datasets.get(db, ref=w.entry.id)
    with pytest.raises(Invalid) as exc:
        rows.page(db, dataset=ds, filters={}, limit=rows.PAGE_MAX + 1)
    assert exc.value.field == "limit"
    assert len(rows.page(db, dataset=ds, filters={"性别": "1"}, limit=rows.PAGE_MAX)["rows"]) == 2
    out = rows.serve_page(db, ref=w.entry.id, caller=rows.Caller(), filters={"姓名": "张一1"})
    assert isinstance(out.error, Invalid) and [(e.result, e.reason) for e in out.events] == [("denied", "masked_item")]
    named = rows.serve_preview(db, ref=w.entry.id, caller=rows.Caller(account=object(), end_user="某数据公司"))
    assert named.error is None and named.events[0].end_user == "某数据公司" and named.events[0].rows == 3


def test_r_opn_6_a_closed_dataset_stops_being_served_at_once(f, db, tmp_path, client):
    """What the public paths resolved of a dataset is reused for a moment (rows.CACHE_SECONDS), but a change
    of the rows it depends on, flushed in this process, drops it at once."""
    from gongshu.opendata.service import reviews

    w = world(f, db, tmp_path, rows=3)
    assert api(client, w.entry.id, "preview").status_code == 200
    assert api(client, w.entry.id, "preview").status_code == 200  # answered from what was resolved
    reviews.close(db, actor=w.c.reviewer, review_id=w.review.id, note="发现未脱敏的敏感信息")
    assert_refused(db, api(client, w.entry.id, "preview"), 404, "not_found", result="not_found")
    assert_refused(db, api(client, w.entry.id, 性别="1"), 404, "not_found", result="not_found")


def test_r_opn_8_the_public_data_paths_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/open/datasets/{ref}/rows", "/api/v1/open/datasets/{ref}/preview",
                 "/open/datasets/{ref}/download.{fmt}"):
        summary = paths[path]["get"]["summary"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in summary) and any(ch.isascii() and ch.isalpha() for ch in summary)
    assert {p["name"] for p in paths["/api/v1/open/datasets/{ref}/rows"]["get"]["parameters"]} >= {"ref", "limit", "after"}


def test_r_opn_2_a_vanished_store_table_is_read_afresh_then_a_clear_409(f, db, tmp_path, client):
    """Another process may replace the serving version within rows.CACHE_SECONDS: a page whose cached version's
    table is gone is read again from what serves now; if the data is really missing, a 409 without internals."""
    from gongshu.store import registry

    w = world(f, db, tmp_path, rows=3)
    assert api(client, w.entry.id, 性别="1").status_code == 200  # resolved and cached
    version = datasets.get(db, ref=w.entry.id).version
    registry.get_store().drop_table(version.table_name)  # no ORM flush: the cache is not told
    r = api(client, w.entry.id, 性别="1")
    assert_refused(db, r, 409, "data_missing", result="error")
    assert version.table_name not in r.text
