"""R-CAT-10: search speaks in the abbreviations people use — the synonym and abbreviation dictionary (同义词/简称词典).

Entries are published through the real services (which index them); the dictionary is the one the
migration seeds, edited through the service, the workbench page and the JSON API. Nothing is reindexed
after an edit: the next search uses it.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.search_models import SearchSynonym
from gongshu.catalog.service import search, synonyms
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.kit import textsearch
from gongshu.kit.hashing import digest
from gongshu.kit.pagination import Page
from tests.catalog.helpers import next_code, published
from tests.catalog.test_search import c, open_entry, publish_civil  # noqa: F401  (fixtures)
from tests.factories import login


@pytest.fixture
def city(db, c):  # noqa: F811
    """社会保险参保信息 (公安 cast department, open), 最低生活保障对象信息 and 婚姻登记信息 (民政, open),
    户籍人口基本信息 (公安, 不予开放) and a service-point list that says 社保 in its summary."""
    return {
        "shebao": published(db, c, **open_entry(
            name="社会保险参保信息", topic="社会保障", resource_attr="主题", code=next_code("201001"),
            summary="职工基本养老、失业、工伤保险参保登记信息。")),
        "dibao": publish_civil(db, c, **open_entry(
            name="最低生活保障对象信息", topic="社会保障", resource_attr="主题", code=next_code("201001"),
            summary="城乡最低生活保障对象及保障金发放信息。")),
        "marriage": publish_civil(db, c, **open_entry(
            name="婚姻登记信息", topic="人口", resource_attr="主题", code=next_code("201001"),
            summary="内地居民结婚、离婚登记信息。")),
        "huji": published(db, c),
        "points": published(db, c, **open_entry(
            name="人力资源服务网点信息", topic="公共服务", resource_attr="主题", code=next_code("201001"),
            summary="可办理社保、就业业务的经办网点名称和地址。")),
    }


def find(db, actor, q, **kw):
    return search.search(db, actor=actor, q=q, page=Page(), **kw)


def plain_text(response) -> str:
    """The page without tags (hit names carry <mark> highlights)."""
    return re.sub(r"<[^>]+>", "", response.text)


def names(result) -> list[str]:
    return [h.name for h in result.hits]


@pytest.fixture
def admin(f):
    return f.actor(f.org(kind="authority"), roles=("authority_admin",), kind="authority")


def audit(db, action, subject_id) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                    AuditEvent.subject_id == str(subject_id))))


def test_r_cat_10_seeded_dictionary_has_common_government_abbreviations(db):
    rows = {s.term: s for s in db.scalars(select(SearchSynonym))}
    assert len(rows) >= 40
    assert rows["社保"].expansions[0] == "社会保险"
    assert rows["低保"].expansions == ["最低生活保障"]
    assert rows["公积金"].expansions == ["住房公积金"]
    assert "医疗保险" in rows["医保"].expansions and "医疗保障" in rows["医保"].expansions
    assert rows["危化品"].expansions == ["危险化学品"] and rows["环评"].expansions == ["环境影响评价"]
    assert rows["户籍"].bidirectional and rows["户籍"].expansions == ["户口"]
    assert all(r.updated_by is None for r in rows.values())  # built in, nobody has edited them yet
    for r in rows.values():  # every seed passes the rules the authority's own entries must pass
        assert r.term not in r.expansions and 0 < len(r.term) <= synonyms.MAX_TERM
        assert all(0 < len(e) <= synonyms.MAX_EXPANSION for e in r.expansions)


def test_r_cat_10_abbreviation_finds_the_full_term_and_says_so(db, c, city):  # noqa: F811
    r = find(db, c.officer, "社保")
    assert "社会保险参保信息" in names(r)
    assert r.expanded == [{"term": "社保", "also": ["社会保险"]}]
    hit = next(h for h in r.hits if h.name == "社会保险参保信息")
    assert ("社会保险", True) in hit.name_marked  # the expansion is highlighted
    d = find(db, None, "低保")  # the public too
    assert names(d) == ["最低生活保障对象信息"] and d.expanded == [{"term": "低保", "also": ["最低生活保障"]}]
    # without the dictionary the abbreviations find nothing (no entry says 低保)
    plain = find(db, c.officer, "低保", expand=False)
    assert plain.total == 0 and plain.expanded == [] and plain.expand is False
    assert "社会保险参保信息" not in names(find(db, c.officer, "社保", expand=False))
    # a word outside the dictionary is searched as before and nothing is reported
    r = find(db, c.officer, "婚姻")
    assert names(r) == ["婚姻登记信息"] and r.expanded == []


def test_r_cat_10_each_word_is_expanded_on_its_own_and_all_must_match(db, c, city):  # noqa: F811
    # AND of ORs: 低保 (or 最低生活保障) and the department's name
    assert names(find(db, c.officer, "低保 民政局")) == ["最低生活保障对象信息"]
    assert find(db, c.officer, "低保 公安局").total == 0
    # (社保 or 社会保险) and (低保 or 最低生活保障): no entry is about both
    both = find(db, c.officer, "社保 低保")
    assert both.total == 0
    assert both.expanded == [{"term": "社保", "also": ["社会保险"]}, {"term": "低保", "also": ["最低生活保障"]}]
    # (社保 or 社会保险) and 养老 (in its summary)
    assert names(find(db, c.officer, "社保 养老")) == ["社会保险参保信息"]
    # a term jieba splits into several words (婚登 → 婚 / 登) is matched as a run of words
    assert textsearch.cut("婚登") == ["婚", "登"]
    r = find(db, c.officer, "婚登")
    assert names(r) == ["婚姻登记信息"] and r.expanded == [{"term": "婚登", "also": ["婚姻登记"]}]


def test_r_cat_10_direct_matches_rank_before_expansion_only_matches(db, c, city):  # noqa: F811
    r = find(db, c.officer, "社保")
    # 人力资源服务网点信息 says 社保 (in its summary only); 社会保险参保信息 only has the full term (in its name)
    assert names(r)[0] == "人力资源服务网点信息"
    assert names(r).index("人力资源服务网点信息") < names(r).index("社会保险参保信息")


def test_r_cat_10_bidirectional_group(db, c, city, admin):  # noqa: F811
    # 户籍 ⇄ 户口 (seeded): 户口 also searches 户籍
    r = find(db, c.officer, "户口")
    assert "户籍人口基本信息" in names(r) and r.expanded == [{"term": "户口", "also": ["户籍"]}]
    # a one-way entry does not search backwards; made bidirectional, it does
    row = synonyms.create(db, actor=admin, term="居保", expansions="城乡居民养老保险", bidirectional=False)
    assert find(db, c.officer, "城乡居民养老保险").expanded == []
    synonyms.update(db, actor=admin, synonym_id=row.id, term="居保", expansions=["城乡居民养老保险"],
                    bidirectional=True)
    assert find(db, c.officer, "城乡居民养老保险").expanded == [{"term": "城乡居民养老保险", "also": ["居保"]}]


def test_r_cat_10_service_changes_are_audited_and_apply_at_once(db, c, city, admin):  # noqa: F811
    assert find(db, c.officer, "网点").total == 1
    assert find(db, c.officer, "办事点").total == 0
    row = synonyms.create(db, actor=admin, term="办事点", expansions="经办网点、服务网点")
    assert row.expansions == ["经办网点", "服务网点"] and row.updated_by == admin.user_id
    assert names(find(db, c.officer, "办事点")) == ["人力资源服务网点信息"]  # no reindex
    [ev] = audit(db, "catalog.synonyms.create", row.id)
    state = {"term": "办事点", "expansions": ["经办网点", "服务网点"], "bidirectional": False}
    assert ev.actor_id == admin.user_id and ev.after_digest == digest(state) and ev.before_digest is None
    assert json.loads(ev.detail) == {"after": state}  # readable in the audit log: not personal data
    synonyms.update(db, actor=admin, synonym_id=row.id, term="办事点", expansions=["窗口"])
    assert find(db, c.officer, "办事点").total == 0
    [ev] = audit(db, "catalog.synonyms.update", row.id)
    assert ev.before_digest == digest(state) and ev.after_digest == digest({**state, "expansions": ["窗口"]})
    assert json.loads(ev.detail)["after"]["expansions"] == ["窗口"]
    synonyms.update(db, actor=admin, synonym_id=row.id, term="办事点", expansions=["窗口"])  # no change
    assert len(audit(db, "catalog.synonyms.update", row.id)) == 1
    shebao = db.scalar(select(SearchSynonym).where(SearchSynonym.term == "社保"))
    synonyms.delete(db, actor=admin, synonym_id=shebao.id)
    r = find(db, c.officer, "社保")
    assert "社会保险参保信息" not in names(r) and r.expanded == []
    [ev] = audit(db, "catalog.synonyms.delete", shebao.id)
    assert json.loads(ev.detail)["before"]["term"] == "社保" and ev.after_digest is None


def test_r_cat_10_only_the_authority_edits_the_dictionary(db, c, f):  # noqa: F811
    n = db.scalar(select(func.count()).select_from(SearchSynonym))
    for actor in (c.officer, c.reviewer, c.auditor):
        with pytest.raises(Forbidden):
            synonyms.create(db, actor=actor, term="两违", expansions="违法建设")
        with pytest.raises(Forbidden):
            synonyms.list_synonyms(db, actor=actor)
    sysadmin = f.actor(f.org(kind="authority"), roles=("sysadmin",), kind="authority")
    synonyms.create(db, actor=sysadmin, term="两违", expansions="违法建设、违法用地")
    assert db.scalar(select(func.count()).select_from(SearchSynonym)) == n + 1
    assert not audit(db, "catalog.synonyms.create", "x")


@pytest.mark.parametrize("term,expansions,field,status,text", [
    ("", "社会保险", "term", 422, "请填写词语"),
    ("   ", "社会保险", "term", 422, "请填写词语"),
    ("社" * 21, "社会保险", "term", 422, "最多 20 字"),
    ("——", "社会保险", "term", 422, "不含汉字、字母或数字"),
    ("社\x00保", "社会保险", "term", 422, "控制字符"),
    ("两违", "", "expansions", 422, "至少一个"),
    ("两违", "两违", "expansions", 422, "与词语“两违”相同"),
    ("两违", "违法建设、两违", "expansions", 422, "与词语“两违”相同"),
    ("两违", "违" * 41, "expansions", 422, "最多 40 字"),
    ("两违", "、".join(f"违法{i}" for i in range(11)), "expansions", 422, "最多 10 个"),
    ("社保", "社会保险", "term", 409, "词典中已有“社保”"),
    ("ＰＭ2.5", "细颗粒物", "term", 409, "词典中已有“PM2.5”"),  # full-width and case do not make it new
])
def test_r_cat_10_bad_input_is_a_clear_bilingual_4xx(db, admin, term, expansions, field, status, text):
    with pytest.raises((Invalid, Conflict)) as e:
        synonyms.create(db, actor=admin, term=term, expansions=expansions)
    assert e.value.status == status and e.value.field == field and text in e.value.message
    assert e.value.message_en and e.value.message_en != e.value.message


def test_r_cat_10_workbench_page_add_edit_delete_takes_effect_on_next_search(client, db, f, c, city):  # noqa: F811
    user = f.user(f.org(kind="authority"), ("authority_admin",))
    db.commit()
    csrf = login(client, user)
    assert "/workbench/catalog/synonyms" in client.get("/workbench").text  # linked from the workbench
    page = client.get("/workbench/catalog/synonyms")
    assert page.status_code == 200 and "医疗保险、医疗保障" in page.text and "系统预置" in page.text
    assert "人力资源服务网点信息" not in plain_text(client.get("/catalog", params={"q": "办事点"}))
    r = client.post("/workbench/catalog/synonyms", data={"term": "办事点", "expansions": "经办网点，服务网点",
                                                         "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    row = db.scalar(select(SearchSynonym).where(SearchSynonym.term == "办事点"))
    assert row.expansions == ["经办网点", "服务网点"] and row.updated_by == user.id
    row_id = row.id
    assert audit(db, "catalog.synonyms.create", row_id)[0].actor_id == user.id
    listed = client.get("/workbench/catalog/synonyms").text
    assert "经办网点、服务网点" in listed and user.display_name in listed
    r = client.get("/catalog", params={"q": "办事点"})
    assert "人力资源服务网点信息" in plain_text(r) and "也搜索了：经办网点、服务网点（办事点）" in r.text
    # edit: takes effect on the next search, no reindex
    assert client.get("/workbench/catalog/synonyms", params={"edit": row_id}).status_code == 200
    r = client.post(f"/workbench/catalog/synonyms/{row_id}", data={"term": "办事点", "expansions": "窗口",
                                                                   "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.get("/catalog", params={"q": "办事点"})
    assert "人力资源服务网点信息" not in plain_text(r) and "也搜索了：窗口（办事点）" in r.text
    assert len(audit(db, "catalog.synonyms.update", row_id)) == 1
    # delete
    r = client.post(f"/workbench/catalog/synonyms/{row_id}/delete", data={"csrf_token": csrf},
                    follow_redirects=False)
    db.expire_all()
    assert r.status_code == 303 and db.get(SearchSynonym, row_id) is None
    assert "也搜索了" not in client.get("/catalog", params={"q": "办事点"}).text
    assert len(audit(db, "catalog.synonyms.delete", row_id)) == 1
    # a missing row is a 404, not a 500
    assert client.post(f"/workbench/catalog/synonyms/{row_id}/delete", data={"csrf_token": csrf}).status_code == 404
    # without the CSRF token nothing changes
    r = client.post("/workbench/catalog/synonyms", data={"term": "两违", "expansions": "违法建设"})
    assert r.status_code == 403 and db.scalar(select(SearchSynonym).where(SearchSynonym.term == "两违")) is None


def test_r_cat_10_page_bad_input_keeps_the_form(client, db, f):
    user = f.user(f.org(kind="authority"), ("authority_admin",))
    db.commit()
    csrf = login(client, user)
    r = client.post("/workbench/catalog/synonyms", data={"term": "", "expansions": "违法建设、违法用地",
                                                         "csrf_token": csrf})
    assert r.status_code == 422 and "请填写词语" in r.text and 'value="违法建设、违法用地"' in r.text
    r = client.post("/workbench/catalog/synonyms", data={"term": "两违", "expansions": "两违", "csrf_token": csrf})
    assert r.status_code == 422 and "相同" in r.text and 'value="两违"' in r.text
    r = client.post("/workbench/catalog/synonyms", data={"term": "社保", "expansions": "社会保险",
                                                         "csrf_token": csrf})
    assert r.status_code == 409 and "词典中已有“社保”" in r.text
    row = db.scalar(select(SearchSynonym).where(SearchSynonym.term == "低保"))
    r = client.post(f"/workbench/catalog/synonyms/{row.id}", data={"term": "社保", "expansions": "最低生活保障",
                                                                   "csrf_token": csrf})
    assert r.status_code == 409 and 'value="最低生活保障"' in r.text  # the edit form keeps what was typed
    r = client.post("/workbench/catalog/synonyms", params={"lang": "en"},
                    data={"term": "社" * 30, "expansions": "x", "csrf_token": csrf})
    assert r.status_code == 422 and "The term is too long" in r.text
    assert db.scalar(select(SearchSynonym).where(SearchSynonym.term == "两违")) is None
    db.expire_all()
    assert db.get(SearchSynonym, row.id).term == "低保"


def test_r_cat_10_department_officer_cannot_open_or_change_the_page(client, db, f, c):  # noqa: F811
    user = f.user(c.dept, ("dept_officer",))
    db.commit()
    csrf = login(client, user)
    assert "/workbench/catalog/synonyms" not in client.get("/workbench").text
    assert client.get("/workbench/catalog/synonyms").status_code == 403
    row = db.scalar(select(SearchSynonym).where(SearchSynonym.term == "低保"))
    for url, data in (("/workbench/catalog/synonyms", {"term": "两违", "expansions": "违法建设"}),
                      (f"/workbench/catalog/synonyms/{row.id}", {"term": "低保", "expansions": "救助"}),
                      (f"/workbench/catalog/synonyms/{row.id}/delete", {})):
        assert client.post(url, data={**data, "csrf_token": csrf}).status_code == 403
    r = client.post("/api/v1/catalog/synonyms", headers={"x-csrf-token": csrf},
                    json={"term": "两违", "expansions": ["违法建设"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.delete(f"/api/v1/catalog/synonyms/{row.id}", headers={"x-csrf-token": csrf}).status_code == 403
    db.expire_all()
    assert db.get(SearchSynonym, row.id).expansions == ["最低生活保障"]
    assert not audit(db, "catalog.synonyms.delete", row.id)


def test_r_cat_10_json_api_dictionary_and_search(client, db, f, c, city):  # noqa: F811
    db.commit()
    r = client.get("/api/v1/catalog/search", params={"q": "社保"})  # the public
    body = r.json()
    assert r.status_code == 200 and body["expanded"] == [{"term": "社保", "also": ["社会保险"]}]
    assert "社会保险参保信息" in {h["name"] for h in body["hits"]} and body["exact"] is False
    exact = client.get("/api/v1/catalog/search", params={"q": "社保", "exact": "true"}).json()
    assert exact["expanded"] == [] and exact["exact"] is True and exact["total"] < body["total"]
    assert client.get("/api/v1/catalog/synonyms").status_code == 401

    user = f.user(f.org(kind="authority"), ("authority_admin",))
    db.commit()
    csrf = login(client, user)
    listed = client.get("/api/v1/catalog/synonyms").json()
    assert {"term": "低保", "expansions": ["最低生活保障"], "bidirectional": False} in [
        {k: x[k] for k in ("term", "expansions", "bidirectional")} for x in listed]
    r = client.post("/api/v1/catalog/synonyms", headers={"x-csrf-token": csrf},
                    json={"term": "办事点", "expansions": ["经办网点"], "bidirectional": False})
    assert r.status_code == 201
    made = r.json()
    assert made["term"] == "办事点" and made["updated_by"] == user.display_name
    assert client.get("/api/v1/catalog/search", params={"q": "办事点"}).json()["total"] == 1
    r = client.put(f"/api/v1/catalog/synonyms/{made['id']}", headers={"x-csrf-token": csrf},
                   json={"term": "办事点", "expansions": ["窗口"]})
    assert r.status_code == 200 and r.json()["expansions"] == ["窗口"]
    r = client.post("/api/v1/catalog/synonyms", headers={"x-csrf-token": csrf},
                    json={"term": "办事点", "expansions": ["经办网点"]})
    assert r.status_code == 409 and r.json()["error"]["field"] == "term"
    r = client.post("/api/v1/catalog/synonyms", headers={"x-csrf-token": csrf},
                    json={"term": "两违", "expansions": []})
    assert r.status_code == 422 and r.json()["error"]["field"] == "expansions"
    assert client.delete(f"/api/v1/catalog/synonyms/{made['id']}", headers={"x-csrf-token": csrf}).status_code == 204
    assert client.delete(f"/api/v1/catalog/synonyms/{made['id']}", headers={"x-csrf-token": csrf}).status_code == 404
    assert client.get("/api/v1/catalog/search", params={"q": "办事点"}).json()["total"] == 0
    assert [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.subject_id == str(made["id"]),
                                                                   AuditEvent.subject_type == "search_synonym")
                                         .order_by(AuditEvent.id))] == [
        "catalog.synonyms.create", "catalog.synonyms.update", "catalog.synonyms.delete"]


def test_r_cat_10_public_page_says_what_was_also_searched(client, db, c, city):  # noqa: F811
    db.commit()
    r = client.get("/catalog", params={"q": "低保"})
    assert r.status_code == 200 and "<mark>最低生活保障</mark>对象信息" in r.text  # highlighted
    assert "也搜索了：最低生活保障（低保）" in r.text and "exact=1" in r.text
    r = client.get("/catalog", params={"q": "低保", "exact": "1"})
    assert "最低生活保障对象信息" not in plain_text(r) and "也搜索了" not in r.text and 'id="catalog-exact"' in r.text
    r = client.get("/catalog", params={"q": "低保", "lang": "en"})
    assert "Also searched: 最低生活保障 (低保)" in r.text
