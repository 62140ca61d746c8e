"""The CKAN Action API over the open datasets (R-OPN-8): CKAN's routes, envelope, errors and shapes; the
catalogue's search within the open entries; datastore_search over the masked rows, each call an access
event (R-OPN-7)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest
from sqlalchemy import select

from gongshu.opendata.service import datasets, reviews
from gongshu.sharing.models import AccessEvent
from tests.catalog.helpers import DEFAULT_ITEMS, cast, published
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv
from tests.opendata.helpers import PLAIN_ITEMS, open_entry

#: 户籍人口 with sex and birth date opened plainly (not personal, grade 一般1); ID number, name, address masked
MIXED_ITEMS = [dict(i, is_personal=False, grade="一般1") if i["name"] in ("性别", "出生日期") else dict(i)
               for i in DEFAULT_ITEMS]
PEOPLE = 12


@dataclasses.dataclass
class World:
    c: object
    people: object
    cond: object
    closed: object
    firms: object

    def slug(self, entry) -> str:
        return datasets.slug(entry.code)


def world(f, db, tmp_path) -> World:
    """公安局 opens 户籍人口 (无条件开放, loaded) and 流动人口 (有条件开放, loaded); 出租屋 is published but not
    opened; another department opens 企业登记信息 (no data yet)."""
    c = cast(f)
    people = published(db, c, open_type="无条件开放", items=MIXED_ITEMS, summary="本市户籍人口的基本信息（已脱敏）。")
    assert load_file(db, c.officer, people, write_csv(tmp_path / "p.csv", person_rows(PEOPLE))).status == "applied"
    open_entry(db, c, people)
    cond = published(db, c, open_type="有条件开放", open_condition="仅用于科研，须签订数据使用协议", name="流动人口登记信息",
                     items=MIXED_ITEMS)
    assert load_file(db, c.officer, cond, write_csv(tmp_path / "c.csv", person_rows(3))).status == "applied"
    open_entry(db, c, cond)
    closed = published(db, c, open_type="无条件开放", name="出租屋人口信息", items=MIXED_ITEMS)
    firms = published(db, c, by=c.other_officer, open_type="无条件开放", name="企业登记信息", topic="法人",
                      summary="本市企业的登记信息。", items=PLAIN_ITEMS, grade="一般1")
    open_entry(db, dataclasses.replace(c, officer=c.other_officer), firms)
    return World(c, people, cond, closed, firms)


def call(client, action: str, /, *, prefix: str = "/api/3/action", post: dict | None = None, **params):
    r = client.post(f"{prefix}/{action}", json=post) if post is not None else \
        client.get(f"{prefix}/{action}", params=params, follow_redirects=False)
    assert r.status_code < 500, r.text
    body = r.json()
    assert body["help"].startswith("http://testserver/api/3/action/help_show?name=")
    return r.status_code, body


def ok(client, action: str, /, **kw):
    status, body = call(client, action, **kw)
    assert status == 200 and body["success"] is True, body
    return body["result"]


def refused(client, action: str, status: int, kind: str, /, **kw) -> dict:
    got, body = call(client, action, **kw)
    assert (got, body["success"], body["error"]["__type"]) == (status, False, kind), body
    return body["error"]


def test_r_opn_8_both_prefixes_get_and_post_no_redirect_and_the_envelope(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    names = sorted([w.slug(w.people), w.slug(w.cond), w.slug(w.firms)])
    assert ok(client, "package_list", prefix="/api/action") == names
    assert ok(client, "package_list") == names
    assert ok(client, "package_list", post={}) == names
    assert ok(client, "package_list", prefix="/api/action", post={"limit": 2, "offset": 1}) == names[1:3]
    for url in ("/api/3/action/package_list/", "/api/action/package_list/"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 200 and r.json()["result"] == names
    # a form body: plain fields, or CKAN's JSON-as-the-field-name
    r = client.post("/api/action/package_show", data={"id": w.slug(w.people)})
    assert r.status_code == 200 and r.json()["result"]["name"] == w.slug(w.people)
    r = client.post("/api/action/package_list", content=json.dumps({"limit": 1}),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["result"] == names[:1]
    assert client.get("/api/3").json() == {"version": 3}
    assert "Search the open datasets" in ok(client, "help_show", name="package_search")


def test_r_opn_8_package_show_shape(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    slug = w.slug(w.people)
    pkg = ok(client, "package_show", id=slug)
    assert ok(client, "package_show", id=str(w.people.id)) == pkg == ok(client, "package_show", id=w.people.code)
    assert ok(client, "package_show", post={"id": slug, "use_default_schema": True, "include_tracking": "True"}) == pkg
    assert (pkg["id"], pkg["name"], pkg["title"], pkg["type"], pkg["state"], pkg["private"]) == \
        (slug, slug, "户籍人口基本信息", "dataset", "active", False)
    assert pkg["notes"] == "本市户籍人口的基本信息（已脱敏）。"
    assert (pkg["license_id"], pkg["license_url"]) == ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/")
    assert "CC BY 4.0" in pkg["license_title"] and pkg["isopen"] is True
    created, modified = datetime.fromisoformat(pkg["metadata_created"]), datetime.fromisoformat(pkg["metadata_modified"])
    assert created.tzinfo is None and modified >= created
    org = pkg["organization"]
    assert org["name"] == w.c.dept.uscc.lower() == pkg["owner_org"] and org["title"] == w.c.dept.name
    assert org["is_organization"] is True and org["type"] == "organization"
    assert [t["name"] for t in pkg["tags"]] == ["人口"] and pkg["num_tags"] == 1
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["update_cycle"] == "每日" and extras["open_type"] == "无条件开放" and extras["version"] == "1"
    assert extras["rows"] == str(PEOPLE) and w.c.dept.name in extras["attribution"]
    assert pkg["num_resources"] == 4 == len(pkg["resources"])
    assert [r["format"] for r in pkg["resources"]] == ["CSV", "XLSX", "JSON", "Parquet"]
    csv = pkg["resources"][0]
    assert csv["id"] == f"{slug}.csv" and csv["package_id"] == slug and csv["mimetype"] == "text/csv"
    assert csv["url"] == f"http://testserver/open/datasets/{slug}/download.csv"
    assert csv["datastore_active"] is True and csv["last_modified"]
    got = client.get(csv["url"])  # the resource's URL is the portal's own download
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    # 有条件开放: the agreement, no rows to anyone; a dataset without data has no resources
    cond = ok(client, "package_show", id=w.slug(w.cond))
    assert cond["license_id"] == datasets.AGREEMENT_LICENCE["id"] and cond["isopen"] is False
    assert {e["key"]: e["value"] for e in cond["extras"]}["open_condition"] == "仅用于科研，须签订数据使用协议"
    assert [r["datastore_active"] for r in cond["resources"]] == [False] * 4
    firms = ok(client, "package_show", id=w.slug(w.firms))
    assert firms["num_resources"] == 0 and firms["resources"] == [] and firms["owner_org"] == w.c.other_dept.uscc.lower()
    assert ok(client, "resource_show", id=f"{slug}.parquet")["format"] == "Parquet"


def test_r_opn_8_what_is_not_open_does_not_exist(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    closed = w.slug(w.closed)
    assert closed not in ok(client, "package_list")
    for ref in (closed, str(w.closed.id), w.closed.code, "nope", "999999"):
        err = refused(client, "package_show", 404, "Not Found Error", id=ref)
        assert err["message"].startswith("Not found: ") and "No such open dataset" in err["message"]
    refused(client, "resource_show", 404, "Not Found Error", id=f"{closed}.csv")
    refused(client, "resource_show", 404, "Not Found Error", id=f"{w.slug(w.people)}.exe")
    refused(client, "resource_show", 404, "Not Found Error", id=f"{w.slug(w.firms)}.csv")  # no data yet
    refused(client, "datastore_search", 404, "Not Found Error", resource_id=f"{closed}.csv")
    assert ok(client, "package_search", fq=f"name:{closed}")["count"] == 0
    assert ok(client, "package_search", q="出租屋")["count"] == 0
    reviews.close(db, actor=w.c.reviewer, review_id=datasets.latest_review(db, entry_id=w.people.id).id,
                  note="发现未脱敏的敏感信息")
    refused(client, "package_show", 404, "Not Found Error", id=w.slug(w.people))
    assert w.slug(w.people) not in ok(client, "package_list")


def test_r_opn_8_errors_in_ckan_shape_never_a_500(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    r = client.get("/api/3/action/package_create")
    assert r.status_code == 400 and r.json()["success"] is False and r.json()["error"]["__type"] == "Bad Request"
    assert "package_create" in r.json()["error"]["message"]
    err = refused(client, "package_show", 409, "Validation Error")
    assert err["id"] and "Missing value" in err["message"]
    for body in (b"{not json", b"[1, 2]", b'"text"'):
        r = client.post("/api/action/package_search", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["__type"] == "Bad Request", r.text
    bad = [("package_search", {"rows": "-1"}, "rows"), ("package_search", {"rows": "ten"}, "rows"),
           ("package_search", {"start": "-5"}, "start"), ("package_search", {"sort": "size desc"}, "sort"),
           ("package_search", {"sort": "name sideways"}, "sort"), ("package_search", {"fq": "groups:x"}, "fq"),
           ("package_search", {"fq": "-tags:人口"}, "fq"), ("package_search", {"fq": 'tags:"人口'}, "fq"),
           ("package_search", {"facet.field": "[not json"}, "facet.field"),
           ("package_search", {"facet": "perhaps"}, "facet"), ("package_search", {"q": "人" * 300}, "q"),
           ("organization_list", {"all_fields": "2"}, "all_fields"), ("organization_list", {"sort": "x"}, "sort"),
           ("datastore_search", {}, "resource_id"),
           ("datastore_search", {"resource_id": f"{w.slug(w.people)}.csv", "limit": "-1"}, "limit")]
    for name, params, field in bad:
        err = refused(client, name, 409, "Validation Error", **params)
        assert err[field] and err["message_zh"] and err["message_en"], (name, params, err)
    assert "organization" in refused(client, "package_search", 409, "Validation Error", fq="groups:x")["message"]
    r = client.post("/api/3/action/package_search", json={"rows": {"a": 1}, "q": ["a", "b"]})
    assert r.status_code == 409 and r.json()["error"]["__type"] == "Validation Error"
    assert client.put("/api/3/action/package_list").status_code == 405


def test_r_opn_8_booleans_as_strings_and_unknown_parameters_ignored(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    names = sorted([w.c.dept.uscc.lower(), w.c.other_dept.uscc.lower()])
    for value in ("false", "False", "0", "no"):
        assert ok(client, "organization_list", all_fields=value, colour="blue") == names
    for value in ("true", "True", "1", "TRUE"):
        orgs = ok(client, "organization_list", all_fields=value)
        assert [o["name"] for o in orgs] == names
    assert ok(client, "organization_list", post={"all_fields": True, "include_extras": True})[0]["name"] == names[0]
    shown = ok(client, "organization_show", id=w.c.dept.uscc.lower(), include_datasets="True", include_users="1")
    assert {p["name"] for p in shown["packages"]} == {w.slug(w.people), w.slug(w.cond)}
    assert "packages" not in ok(client, "organization_show", id=w.c.dept.uscc, include_datasets="0")
    assert ok(client, "package_search", q="企业", facet="false", facet__field="x", api_key="k")["facets"] == {}
    assert ok(client, "package_search", post={"q": "企业", "include_private": "True", "whatever": [1]})["count"] == 1


def test_r_opn_8_organizations(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    police, other = w.c.dept.uscc.lower(), w.c.other_dept.uscc.lower()
    orgs = {o["name"]: o for o in ok(client, "organization_list", all_fields=True)}
    assert set(orgs) == {police, other}  # the authority has no open data: not an organization here
    assert (orgs[police]["package_count"], orgs[other]["package_count"]) == (2, 1)
    assert orgs[police]["title"] == w.c.dept.name
    by_count = ok(client, "organization_list", sort="package_count desc")
    assert by_count == [police, other]
    assert ok(client, "organization_list", sort="package_count asc", limit=1) == [other]
    assert ok(client, "organization_list", organizations=json.dumps([other])) == [other]
    shown = ok(client, "organization_show", id=str(w.c.other_dept.id), include_datasets=True)
    assert shown["name"] == other and [p["name"] for p in shown["packages"]] == [w.slug(w.firms)]
    refused(client, "organization_show", 404, "Not Found Error", id=w.c.authority.uscc.lower())
    refused(client, "organization_show", 404, "Not Found Error", id="no-such-org")


def test_r_opn_8_package_search_words_fq_paging_sort_and_facets(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    people, cond, firms = w.slug(w.people), w.slug(w.cond), w.slug(w.firms)
    found = ok(client, "package_search", q="人口")
    assert found["count"] == 2 and {p["name"] for p in found["results"]} == {people, cond}
    assert found["sort"] == "score desc, metadata_modified desc" and found["results"][0]["resources"]
    assert ok(client, "package_search", q="renkou")["count"] == 2  # pinyin, the catalogue's own search
    assert ok(client, "package_search", q="*:*")["count"] == 3 == ok(client, "package_search")["count"]
    # fq
    assert [p["name"] for p in ok(client, "package_search", fq=f"organization:{w.c.other_dept.uscc.lower()}")[
        "results"]] == [firms]
    assert ok(client, "package_search", fq='tags:"法人"')["count"] == 1
    assert ok(client, "package_search", fq="res_format:CSV")["count"] == 2
    assert ok(client, "package_search", fq="res_format:CSV tags:法人")["count"] == 0
    assert ok(client, "package_search", fq="tags:人口 AND tags:法人")["count"] == 0
    assert ok(client, "package_search", fq=f"+name:{cond} +capacity:public +dataset_type:dataset")["count"] == 1
    assert ok(client, "package_search", fq="license_id:CC-BY-4.0")["count"] == 2
    assert ok(client, "package_search", fq="organization:nobody")["count"] == 0
    assert ok(client, "package_search", q=f"人口 name:{people}")["count"] == 1
    assert ok(client, "package_search", post={"fq_list": ["tags:人口", f"name:{cond}"]})["count"] == 1
    # paging and sorting
    by_name = [p["name"] for p in ok(client, "package_search", sort="name asc", rows=10)["results"]]
    assert by_name == sorted([people, cond, firms])
    assert [p["name"] for p in ok(client, "package_search", sort="name desc")["results"]] == by_name[::-1]
    pages = [ok(client, "package_search", sort="name asc", rows=1, start=i)["results"] for i in range(4)]
    assert [p[0]["name"] for p in pages[:3]] == by_name and pages[3] == []
    assert ok(client, "package_search", rows=0)["results"] == [] and ok(client, "package_search", rows=0)["count"] == 3
    assert len(ok(client, "package_search", rows=5000)["results"]) == 3  # lowered to 1000, as CKAN does
    titles = [p["title"] for p in ok(client, "package_search", sort="title_string asc")["results"]]
    assert titles == sorted(titles)
    newest = [p["name"] for p in ok(client, "package_search", sort="metadata_modified desc")["results"]]
    assert newest == [firms, cond, people]  # opened in that order, last first
    assert [p["name"] for p in ok(client, "package_search")["results"]] == newest  # CKAN's default order
    assert [p["name"] for p in ok(client, "package_search", sort="metadata_created asc")["results"]] == newest[::-1]
    # facets, in CKAN's two shapes; counts within the fq
    res = ok(client, "package_search", **{"facet.field": json.dumps(["organization", "tags", "res_format",
                                                                      "license_id", "groups"])})
    police = w.c.dept.uscc.lower()
    assert res["facets"]["organization"] == {police: 2, w.c.other_dept.uscc.lower(): 1}
    assert res["facets"]["tags"] == {"人口": 2, "法人": 1} and res["facets"]["groups"] == {}
    assert res["facets"]["res_format"] == {"CSV": 2, "XLSX": 2, "JSON": 2, "Parquet": 2}
    assert res["facets"]["license_id"] == {"CC-BY-4.0": 2, datasets.AGREEMENT_LICENCE["id"]: 1}
    org_items = res["search_facets"]["organization"]
    assert org_items["title"] == "organization"
    assert {"name": police, "display_name": w.c.dept.name, "count": 2} in org_items["items"]
    within = ok(client, "package_search", fq="tags:人口", **{"facet.field": '["tags", "organization"]'})
    assert within["facets"] == {"tags": {"人口": 2}, "organization": {police: 2}}
    assert ok(client, "package_search", **{"facet.field": '["tags"]', "facet.limit": "1"})["facets"]["tags"] == \
        {"人口": 2}


def test_r_opn_8_datastore_search_serves_masked_public_rows(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    rid = f"{w.slug(w.people)}.csv"
    res = ok(client, "datastore_search", resource_id=rid)
    assert res["total"] == PEOPLE == len(res["records"]) and res["total_was_estimated"] is False
    assert [(x["id"], x["type"]) for x in res["fields"]] == [
        ("公民身份号码", "text"), ("姓名", "text"), ("性别", "text"), ("出生日期", "date"), ("户籍地址", "text")]
    assert [x["info"]["masked"] for x in res["fields"]] == [True, True, False, False, True]
    first = res["records"][0]
    assert first["公民身份号码"] == make_id(1)[:4] + "*" * 10 + make_id(1)[-4:]
    assert first["姓名"].startswith("张") and "*" in first["姓名"] and first["出生日期"] == "1985-03-12"
    r = client.get("/api/action/datastore_search", params={"resource_id": rid, "limit": 1000})
    assert all(make_id(i) not in r.text for i in range(1, PEOPLE + 1))  # no ID number in clear
    assert res["_links"]["next"].startswith("/api/3/action/datastore_search?") and "offset=100" in res["_links"]["next"]
    # any of the four formats names the same rows; POST with JSON; filters, q, fields, sort, paging
    men = ok(client, "datastore_search", post={"resource_id": f"{w.slug(w.people)}.json", "filters": {"性别": "1"}})
    assert men["total"] == PEOPLE // 2 and {x["性别"] for x in men["records"]} == {"1"}
    both = ok(client, "datastore_search", resource_id=rid, filters=json.dumps({"性别": ["1", "2"]}), limit=0)
    assert both["total"] == PEOPLE and both["records"] == []
    dated = ok(client, "datastore_search", resource_id=rid, filters='{"出生日期": "1985-03-12"}', include_total="1")
    assert dated["total"] == PEOPLE
    assert ok(client, "datastore_search", resource_id=rid, q="南城街道 11号")["total"] == 0  # masked address
    assert ok(client, "datastore_search", resource_id=rid, q="张")["total"] == PEOPLE  # the masked name keeps 张
    assert ok(client, "datastore_search", resource_id=rid, q='{"性别": "2"}')["total"] == PEOPLE // 2
    slim = ok(client, "datastore_search", resource_id=rid, fields="性别,出生日期", sort="性别 desc", limit=3,
              offset=1, include_total="false")
    assert "total" not in slim and [x["id"] for x in slim["fields"]] == ["性别", "出生日期"]
    assert slim["records"] == [{"性别": "2", "出生日期": "1985-03-12"}] * 3
    ordered = ok(client, "datastore_search", resource_id=rid, sort='"性别" asc, 姓名 desc', limit=1000)["records"]
    assert [x["性别"] for x in ordered] == ["1"] * 6 + ["2"] * 6
    page = ok(client, "datastore_search", resource_id=rid, sort="性别 asc, 姓名 desc", offset=5, limit=2)["records"]
    assert page == ordered[5:7]
    lists = ok(client, "datastore_search", resource_id=rid, fields=json.dumps(["性别"]), distinct="true",
               sort="性别", records_format="lists")
    assert lists["records"] == [["1"], ["2"]] and lists["total"] == 2
    # refusals: a masked item, unknown labels, bad values, a conditional dataset
    for params, field in (({"filters": '{"姓名": "张一1"}'}, "filters"), ({"filters": '{"年龄": "1"}'}, "filters"),
                          ({"filters": '{"出生日期": "yesterday"}'}, "filters"), ({"filters": "[1]"}, "filters"),
                          ({"filters": '{"性别": {"a": 1}}'}, "filters"), ({"filters": "{bad"}, "filters"),
                          ({"fields": "性别,年龄"}, "fields"), ({"sort": "年龄 desc"}, "sort"),
                          ({"records_format": "csv"}, "records_format"), ({"q": '{"年龄": "1"}'}, "q")):
        err = refused(client, "datastore_search", 409, "Validation Error", resource_id=rid, **params)
        assert err[field], (params, err)
    assert "masked" in refused(client, "datastore_search", 409, "Validation Error", resource_id=rid,
                               filters='{"姓名": "张一1"}')["message"]
    err = refused(client, "datastore_search", 403, "Authorization Error", resource_id=f"{w.slug(w.cond)}.csv")
    assert err["message"].startswith("Access denied: ") and "conditions" in err["message"]


def test_r_opn_7_each_datastore_search_is_an_access_event(f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    before = db.scalar(select(AccessEvent.id).order_by(AccessEvent.id.desc()).limit(1)) or 0
    ok(client, "datastore_search", resource_id=f"{w.slug(w.people)}.csv", fields="性别", limit=5)
    refused(client, "datastore_search", 403, "Authorization Error", resource_id=f"{w.slug(w.cond)}.csv")
    refused(client, "datastore_search", 409, "Validation Error", resource_id=f"{w.slug(w.people)}.csv",
            filters='{"姓名": "x"}')
    refused(client, "datastore_search", 404, "Not Found Error", resource_id="nothing.csv")
    ok(client, "package_show", id=w.slug(w.people))  # metadata is not an access to the data
    events = db.scalars(select(AccessEvent).where(AccessEvent.id > before).order_by(AccessEvent.id)).all()
    assert [(e.operation, e.result, e.entry_id) for e in events] == [
        ("open_rows", "ok", w.people.id), ("open_rows", "denied", w.cond.id), ("open_rows", "error", w.people.id),
        ("open_rows", "not_found", None)]
    assert (events[0].rows, events[0].items, events[0].source_org_id) == (5, ["性别"], w.c.dept.id)


def test_r_opn_8_status_show(client):
    status = ok(client, "status_show")
    assert status["ckan_version"].startswith("2.10") and status["site_url"] == "http://testserver"
    assert status["site_title"] and "datastore" in status["extensions"]


@pytest.mark.parametrize("prefix", ["/api/action", "/api/3/action"])
def test_r_opn_8_every_action_answers_on_both_prefixes(prefix, f, db, tmp_path, client):
    w = world(f, db, tmp_path)
    slug = w.slug(w.people)
    for name, params in (("package_list", {}), ("package_show", {"id": slug}), ("package_search", {"q": "人口"}),
                         ("organization_list", {}), ("organization_show", {"id": w.c.dept.uscc.lower()}),
                         ("resource_show", {"id": f"{slug}.xlsx"}),
                         ("datastore_search", {"resource_id": f"{slug}.csv", "limit": 1}), ("status_show", {})):
        ok(client, name, prefix=prefix, **params)
        ok(client, name, prefix=prefix, post=params)
