"""R-CAT-10: the public catalogue page and the search API (no login needed)."""

from __future__ import annotations

import pytest

from gongshu.auth import service as auth_service
from tests.catalog.helpers import published
from tests.catalog.test_search import c, city, open_entry, publish_civil  # noqa: F401  (fixtures)
from tests.factories import login


@pytest.fixture
def world(db, c, city):  # noqa: F811
    publish_civil(db, c, **open_entry(
        name="养老服务机构信息", summary="全市养老服务机构的名称、地址和床位数", open_type="有条件开放", open_condition="签订数据利用协议", code="101002/00903",
        items=[{"name": "机构名称", "type": "C", "length": 100, "grade": "一般1"},
               {"name": "负责人联系电话", "type": "C", "length": 20, "grade": "一般1", "open_type": "不予开放"}]))
    db.commit()
    return city


def test_public_page_searches_without_login_R_CAT_10(client, world):
    r = client.get("/catalog", params={"q": "人口"})
    assert r.status_code == 200
    assert "婚姻登记统计" in r.text
    assert "户籍人口基本信息" not in r.text  # 不予开放: not for the public
    assert "<mark>婚姻</mark>登记统计" in client.get("/catalog", params={"q": "婚姻"}).text
    assert 'data-facet="dept"' in r.text and "东莞市民政局" in r.text
    assert "无条件开放" in r.text and "每年" in r.text  # badges


def test_public_page_pinyin_and_facet_links_R_CAT_10(client, world):
    r = client.get("/catalog", params={"q": "ylfw"})
    assert r.status_code == 200 and "养老服务机构信息" in r.text
    r = client.get("/catalog", params=[("format", "电子表格")])
    assert "最低生活保障对象名单" in r.text and "婚姻登记统计" not in r.text
    assert "format=%E7%94%B5%E5%AD%90%E8%A1%A8%E6%A0%BC" in r.text  # the selected value links back (toggle off)
    assert 'id="catalog-total">1<' in r.text


def test_public_page_bad_filter_is_4xx_not_500_R_CAT_10(client, world):
    r = client.get("/catalog", params={"q": "人" * 300})
    assert r.status_code == 422 and "检索词过长" in r.text
    r = client.get("/catalog", params={"page": "x"})
    assert r.status_code == 422


def test_public_detail_page_R_CAT_10(client, world):
    r = client.get("/catalog/101002/00903")
    assert r.status_code == 200
    assert "签订数据利用协议" in r.text and "机构名称" in r.text
    assert "负责人联系电话" not in r.text and "另有 1 个信息项不予开放" in r.text
    assert client.get(f"/catalog/{world['huji'].id}").status_code == 404
    assert client.get("/catalog/999999/1").status_code == 404


def test_english_switch_R_CAT_10(client, world):
    r = client.get("/catalog", params={"q": "人口", "lang": "en"})
    assert r.status_code == 200
    assert "Public data catalogue" in r.text and "Department" in r.text


def test_staff_page_sees_closed_entries_R_CAT_10(client, db, f, c, world):  # noqa: F811
    user = f.user(c.dept, ("dept_staff",))
    db.commit()
    login(client, user)
    r = client.get("/catalog", params={"q": "huji"})
    assert "<mark>户籍</mark>人口基本信息" in r.text
    r = client.get(f"/catalog/{world['huji'].id}")
    assert r.status_code == 200 and "公民身份号码" in r.text


def test_search_api_public_and_with_token_R_CAT_10(client, db, f, c, world):  # noqa: F811
    r = client.get("/api/v1/catalog/search", params={"q": "hj"})
    assert r.status_code == 200
    body = r.json()
    assert body["public_only"] is True and body["total"] == 0
    r = client.get("/api/v1/catalog/search", params=[("q", ""), ("dept", "东莞市民政局"), ("update_cycle", "每月"),
                                                     ("update_cycle", "每年")])
    body = r.json()
    assert body["total"] == 2 and {h["name"] for h in body["hits"]} == {"最低生活保障对象名单", "婚姻登记统计"}
    facets = {fc["key"]: {v["value"]: v["count"] for v in fc["values"]} for fc in body["facets"]}
    assert facets["dept"] == {"东莞市民政局": 2}  # counted with the update_cycle filter
    assert facets["update_cycle"]["每月"] == 1 and facets["update_cycle"]["每年"] == 1

    user = f.user(c.dept, ("dept_officer",))
    token, _ = auth_service.create_token(db, actor=auth_service.actor_for(db, user), name="检索", scopes=["catalog.*"],
                                         days=30)
    db.commit()
    r = client.get("/api/v1/catalog/search", params={"q": "huji"}, headers={"Authorization": f"Bearer {token}"})
    body = r.json()
    assert body["public_only"] is False and body["total"] == 1
    assert body["hits"][0]["name_highlight"] == "【户籍】人口基本信息"
    assert body["hits"][0]["url"] == f"/catalog/{body['hits'][0]['code']}"
    # a token whose scopes do not cover the catalogue searches like the public
    narrow, _ = auth_service.create_token(db, actor=auth_service.actor_for(db, user), name="审计", scopes=["auth.*"],
                                          days=30)
    db.commit()
    r = client.get("/api/v1/catalog/search", params={"q": "huji"}, headers={"Authorization": f"Bearer {narrow}"})
    assert r.json()["total"] == 0


def test_search_api_errors_R_CAT_10(client, world):
    r = client.get("/api/v1/catalog/search", params={"size": 1000})
    assert r.status_code == 422 and r.json()["error"]["field"] == "size"
    r = client.get("/api/v1/catalog/search", params={"q": "x" * 300})
    assert r.status_code == 422 and r.json()["error"]["field"] == "q"


def test_published_api_R_CAT_10(client, world):
    r = client.get("/api/v1/catalog/published/101002/00903")
    assert r.status_code == 200
    body = r.json()
    assert [i["name"] for i in body["items"]] == ["机构名称"] and body["hidden_items"] == 1
    assert "sharing_basis" not in body["entry"] and "grade" not in body["entry"]
    assert set(body["items"][0]) <= {"seq", "name", "type", "length", "meaning", "open_type", "is_identifier"}
    assert client.get("/api/v1/catalog/published/99999999999999").status_code == 404
    assert client.get("/catalog/²").status_code == 404
    r = client.get(f"/api/v1/catalog/published/{world['huji'].id}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_new_publication_is_found_at_once_R_CAT_10(client, db, c):  # noqa: F811
    published(db, c, name="出生医学证明签发信息", open_type="无条件开放", sharing_type="无条件共享", sharing_condition="",
              grade="一般1", items=[{"name": "签发日期", "type": "D", "grade": "一般1"}])
    db.commit()
    r = client.get("/api/v1/catalog/search", params={"q": "出生"})
    assert r.json()["total"] == 1
