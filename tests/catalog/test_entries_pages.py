"""Workbench pages for entries: 我的目录, the form with inline validation, the entry page, 审核队列, changes."""

from __future__ import annotations

import re

from sqlalchemy import select

from gongshu.auth.service import actor_for
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.service import elements, entries
from tests.catalog.helpers import DEFAULT_ITEMS, ensure_calendar, entry_in, next_code
from tests.factories import login


def form_data(csrf: str, **overrides) -> dict[str, str]:
    data = {"csrf_token": csrf, "code": next_code(), "resource_attr": "基础", "name": "户籍人口基本信息",
            "summary": "本市户籍人口基本信息", "format": "数据库", "sharing_type": "有条件共享",
            "sharing_condition": "身份核验", "sharing_basis": "《户口登记条例》", "sharing_mode": "接口",
            "open_type": "不予开放", "update_cycle": "每日", "grade": "", "release_date": "",
            "item_rows": str(len(DEFAULT_ITEMS) + 1)}
    for i, it in enumerate(DEFAULT_ITEMS):
        data.update({f"items-{i}-name": it["name"], f"items-{i}-type": it["type"],
                     f"items-{i}-length": str(it.get("length") or ""), f"items-{i}-grade": it["grade"],
                     f"items-{i}-meaning": it["meaning"]})
        if it.get("is_personal"):
            data[f"items-{i}-is_personal"] = "1"
    data[f"items-{len(DEFAULT_ITEMS)}-name"] = ""  # the blank row is ignored
    data.update(overrides)
    return data


def setup(f, db):
    authority = f.org(kind="authority")
    dept = f.org()
    officer = f.user(dept, ("dept_officer",))
    reviewer = f.user(authority, ("authority_reviewer",))
    admin = f.actor(authority, ("authority_admin",))
    ensure_calendar(db, admin)
    return authority, dept, officer, reviewer


def test_pages_render_and_workbench_links_R_CAT_1(f, db, client):
    _, dept, officer, _ = setup(f, db)
    db.commit()
    login(client, officer)
    home = client.get("/workbench")
    assert "/workbench/catalog" in home.text and "我的目录" in home.text and "依据或职责变更申报" in home.text
    assert "目录审核队列" not in home.text
    r = client.get("/workbench/catalog")
    assert r.status_code == 200 and "我的目录" in r.text and "暂无目录" in r.text
    r = client.get("/workbench/catalog/new")
    assert r.status_code == 200 and 'name="csrf_token"' in r.text and 'name="items-0-name"' in r.text
    assert client.get("/workbench/catalog/changes").status_code == 200
    r = client.get("/workbench/catalog/new?lang=en")
    assert r.status_code == 200


def test_form_with_errors_rerenders_422_next_to_fields_R_CAT_3(f, db, client):
    _, _, officer, _ = setup(f, db)
    db.commit()
    csrf = login(client, officer)
    data = form_data(csrf, sharing_basis="", **{"items-1-length": ""})
    r = client.post("/workbench/catalog/new", data=data)
    assert r.status_code == 422
    assert "有条件共享的资源必须填写共享依据" in r.text
    assert "必须填写数据长度" in r.text and 'id="err-items[1].length"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert "身份核验" in r.text and "公民身份号码" in r.text  # what was typed is kept
    assert db.scalar(select(CatalogEntry.id)) is None
    r = client.post("/workbench/catalog/new", data=form_data(csrf, **{"items-0-length": "十八"}))
    assert r.status_code == 422 and "应为整数" in r.text
    r = client.post("/workbench/catalog/new", data=form_data(csrf, sharing_type="不予共享", open_type="无条件开放",
                                                             sharing_basis="《保密法》"))
    assert r.status_code == 422 and "不予开放" in r.text


def test_form_add_row_and_create_then_edit_R_CAT_2(f, db, client):
    _, dept, officer, _ = setup(f, db)
    db.commit()
    csrf = login(client, officer)
    r = client.post("/workbench/catalog/new", data=form_data(csrf, add_row="1"))
    assert r.status_code == 200 and 'name="items-7-name"' in r.text and 'value="户籍地址"' in r.text
    data = form_data(csrf)
    r = client.post("/workbench/catalog/new", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    entry_id = int(re.search(r"/workbench/catalog/(\d+)", r.headers["location"]).group(1))
    e = db.get(CatalogEntry, entry_id)
    assert e.org_id == dept.id and e.code == data["code"] and e.grade == "一般3"
    assert [i.name for i in entries.items_of(db, entry_id=e.id)] == [d["name"] for d in DEFAULT_ITEMS]
    page = client.get(f"/workbench/catalog/{entry_id}")
    assert page.status_code == 200 and "户籍人口基本信息" in page.text and "提交审核" in page.text
    edit = client.get(f"/workbench/catalog/{entry_id}/edit")
    assert edit.status_code == 200 and data["code"] in edit.text and 'value="公民身份号码"' in edit.text
    r = client.post(f"/workbench/catalog/{entry_id}/edit", data=form_data(csrf, code=data["code"],
                                                                          summary="已更新的摘要"),
                    follow_redirects=False)
    assert r.status_code == 303
    db.refresh(e)
    assert e.summary == "已更新的摘要"


def test_submit_review_queue_approve_and_diff_pages_R_CAT_1_R_CAT_7(f, db, client):
    _, dept, officer, reviewer = setup(f, db)
    db.commit()
    csrf = login(client, officer)
    client.post("/workbench/catalog/new", data=form_data(csrf))
    e = db.scalar(select(CatalogEntry))
    r = client.post(f"/workbench/catalog/{e.id}/submit", data={"csrf_token": csrf, "text": "请审核"},
                    follow_redirects=False)
    assert r.status_code == 303
    csrf = login(client, reviewer)
    queue = client.get("/workbench/catalog/review")
    assert queue.status_code == 200 and e.name in queue.text and "请审核" in queue.text
    assert "剩余工作日" in queue.text and 'name="csrf_token"' in queue.text
    home = client.get("/workbench")
    assert "目录审核" in home.text and f"/workbench/catalog/{e.id}" in home.text  # inbox link (TASK_LINKS)
    r = client.post(f"/workbench/catalog/{e.id}/return", data={"csrf_token": csrf, "text": ""})
    assert r.status_code == 422 and "退回时必须说明理由" in r.text
    r = client.post(f"/workbench/catalog/{e.id}/approve", data={"csrf_token": csrf, "next": "/workbench/catalog/review"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/workbench/catalog/review")
    db.refresh(e)
    assert e.status == "published" and e.version == 1
    # revise as the department, then the entry page shows the difference with <ins>/<del>
    csrf = login(client, officer)
    client.post(f"/workbench/catalog/{e.id}/revise", data={"csrf_token": csrf, "text": "改名"})
    client.post(f"/workbench/catalog/{e.id}/edit", data=form_data(csrf, code=e.code, name="户籍人口信息（新）"))
    page = client.get(f"/workbench/catalog/{e.id}")
    assert page.status_code == 200 and "<ins>" in page.text and "<del>" in page.text and "仍看到已发布的第" in page.text
    client.post(f"/workbench/catalog/{e.id}/submit", data={"csrf_token": csrf})
    csrf = login(client, reviewer)
    client.post(f"/workbench/catalog/{e.id}/approve", data={"csrf_token": csrf})
    r = client.get(f"/workbench/catalog/{e.id}/diff?a=1&b=2")
    assert r.status_code == 200 and "<ins>" in r.text and "信息资源名称" in r.text
    assert client.get(f"/workbench/catalog/{e.id}/diff?a=7").status_code == 404


def test_permissions_on_pages_R_CAT_1(f, db, client):
    _, dept, officer, reviewer = setup(f, db)
    other = f.user(f.org(), ("dept_officer",))
    db.commit()
    csrf = login(client, officer)
    client.post("/workbench/catalog/new", data=form_data(csrf))
    e = db.scalar(select(CatalogEntry))
    r = client.post(f"/workbench/catalog/{e.id}/submit", data={"text": "no csrf"})
    assert r.status_code == 403 and "CSRF" in r.text
    login(client, other)
    assert client.get(f"/workbench/catalog/{e.id}").status_code == 403
    assert client.get(f"/workbench/catalog/{e.id}/edit").status_code == 403
    csrf = login(client, reviewer)
    assert client.get(f"/workbench/catalog/{e.id}").status_code == 200  # the authority sees every entry
    assert client.get(f"/workbench/catalog/{e.id}/edit").status_code == 403
    r = client.post("/workbench/catalog/new", data=form_data(csrf))
    assert r.status_code == 403
    r = client.post(f"/workbench/catalog/{e.id}/approve", data={"csrf_token": csrf})
    assert r.status_code == 409 and "没有待审核的提交" in r.text
    assert client.get("/workbench/catalog/changes").status_code == 403
    assert client.post(f"/workbench/catalog/{e.id}/explode", data={"csrf_token": csrf}).status_code == 422


def test_change_declaration_page_R_CAT_4(f, db, client):
    authority, dept, officer, reviewer = setup(f, db)
    db.commit()
    csrf = login(client, officer)
    client.post("/workbench/catalog/new", data=form_data(csrf))
    e = db.scalar(select(CatalogEntry))
    client.post(f"/workbench/catalog/{e.id}/submit", data={"csrf_token": csrf})
    rcsrf = login(client, reviewer)
    client.post(f"/workbench/catalog/{e.id}/approve", data={"csrf_token": rcsrf})
    csrf = login(client, officer)
    page = client.get("/workbench/catalog/changes")
    assert page.status_code == 200 and e.code in page.text
    r = client.post("/workbench/catalog/changes", data={"csrf_token": csrf, "kind": "duties", "description": ""})
    assert r.status_code == 422 and "请至少选择" in r.text
    r = client.post("/workbench/catalog/changes", data={"csrf_token": csrf, "kind": "duties", "description": "",
                                                        "entry_ids": str(e.id)})
    assert r.status_code == 422 and "请说明变更内容" in r.text
    r = client.post("/workbench/catalog/changes", data={"csrf_token": csrf, "kind": "duties",
                                                        "description": "职能划转", "entry_ids": str(e.id)},
                    follow_redirects=False)
    assert r.status_code == 303
    home = client.get("/workbench")
    assert "目录更新（职责变更）" in home.text


def test_entry_page_shows_open_single_source_conflicts_R_CAT_6(f, db, client):
    authority, dept, officer, _ = setup(f, db)
    admin = f.actor(authority, ("authority_admin",))
    other = f.org()
    elements.create_element(db, actor=admin, code="DE01", name="公民身份号码", type="C", length=18,
                            source_org_id=other.id)
    e = entries.create_entry(db, actor=actor_for(db, officer), data=entry_in(
        items=[dict(DEFAULT_ITEMS[0], element_code="DE01", claims_source=True)]))
    db.commit()
    login(client, officer)
    page = client.get(f"/workbench/catalog/{e.id}")
    assert page.status_code == 200 and "一数一源冲突" in page.text and other.name in page.text
