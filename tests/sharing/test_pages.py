"""Sharing pages and staff API: catalogue → request → status → grant, decisions with deadlines visible
(R-SHR-1, R-SHR-2, R-SHR-3, R-DEM-1)."""

from __future__ import annotations

from sqlalchemy import select

from gongshu.auth.models import User
from gongshu.catalog.service import demands
from gongshu.sharing.models import Grant, ShareRequest
from gongshu.sharing.service import requests
from tests.factories import login
from tests.sharing.helpers import ask, world


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def test_r_shr_1_consumer_requests_from_the_catalogue_and_source_decides_on_its_page(f, db, client, tmp_path):
    w = world(f, db, tmp_path)
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    assert "数据共享" in client.get("/workbench").text
    entry_page = client.get(f"/catalog/{w.entry.code}")
    assert f"/workbench/sharing/new?entry={w.entry.id}" in entry_page.text
    form = client.get(f"/workbench/sharing/new?entry={w.entry.id}")
    assert form.status_code == 200 and "公民身份号码" in form.text and "5 个工作日" in form.text
    bad = client.post("/workbench/sharing/new", data={"csrf_token": csrf, "entry_id": str(w.entry.id), "mode": "api",
                                                      "matter": "", "legal_basis": "x", "items": ["姓名"]})
    assert bad.status_code == 422 and "业务场景" in bad.text and 'value="姓名" id="item-2" checked' in bad.text
    r = client.post("/workbench/sharing/new", data={
        "csrf_token": csrf, "entry_id": str(w.entry.id), "mode": "api", "matter": "不动产登记身份核验",
        "legal_basis": "《不动产登记暂行条例》第十六条", "system_name": "不动产登记系统", "purpose_kind": "public_service",
        "term_days": "180", "items": ["公民身份号码", "姓名"]}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "待数源部门答复" in page.text and "剩余 5 个工作日" in page.text
    req = db.scalar(select(ShareRequest))
    assert req.items == ["公民身份号码", "姓名"] and req.term_days == 180

    csrf = login(client, _user(db, w.c.officer))
    inbox = client.get("/workbench")
    assert req.code in inbox.text
    page = client.get(f"/workbench/sharing/requests/{req.id}")
    assert 'id="approve-form"' in page.text and 'id="refuse-form"' in page.text
    bad = client.post(f"/workbench/sharing/requests/{req.id}/refuse", data={"csrf_token": csrf, "basis": " "})
    assert bad.status_code == 422 and "法律依据" in bad.text
    r = client.post(f"/workbench/sharing/requests/{req.id}/approve", data={
        "csrf_token": csrf, "items": ["公民身份号码", "姓名"], "masked": ["姓名"], "mode": "api", "term_days": "90",
        "note": "同意"}, follow_redirects=False)
    assert r.status_code == 303
    grant = db.scalar(select(Grant))
    assert grant.status == "active" and grant.term_days == 90
    assert [i for i in grant.items if i["masked"]] == [{"name": "姓名", "masked": True}]

    csrf = login(client, _user(db, w.consumer))
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert page.status_code == 200 and "有效" in page.text and "待使用部门签署" in page.text
    r = client.post(f"/workbench/sharing/grants/{grant.id}/agree", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "已签署" in client.get(f"/workbench/sharing/grants/{grant.id}").text
    overview = client.get("/workbench/sharing")
    assert req.code in overview.text and f"/workbench/sharing/grants/{grant.id}" in overview.text
    assert client.post(f"/workbench/sharing/grants/{grant.id}/revoke",
                       data={"csrf_token": csrf, "reason": "x"}).status_code == 403


def test_r_shr_1_staff_api_requests_decisions_and_bad_input(f, db, client, tmp_path):
    w = world(f, db, tmp_path)
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    h = {"x-csrf-token": csrf}
    body = {"entry_id": w.entry.id, "items": ["公民身份号码"], "mode": "api", "matter": "身份核验",
            "legal_basis": "依据"}
    assert client.post("/api/v1/sharing/requests", json={**body, "mode": "fax"}, headers=h).json()["error"]["field"] \
        == "mode"
    assert client.post("/api/v1/sharing/requests", json={**body, "entry_id": 999999}, headers=h).status_code == 404
    r = client.post("/api/v1/sharing/requests", json=body, headers=h)
    assert r.status_code == 201 and r.json()["status"] == "pending" and r.json()["reply_due"]
    rid = r.json()["id"]
    assert client.post(f"/api/v1/sharing/requests/{rid}/approve", json={}, headers=h).status_code == 403

    csrf = login(client, _user(db, w.c.officer))
    h = {"x-csrf-token": csrf}
    r = client.post(f"/api/v1/sharing/requests/{rid}/refuse", json={"basis": "《个人信息保护法》第十三条"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "refused"
    assert client.post(f"/api/v1/sharing/requests/{rid}/approve", json={}, headers=h).status_code == 409
    assert client.get("/api/v1/sharing/requests?role=source", headers=h).json()[0]["refusal_basis"].startswith("《")


def test_r_dem_1_a_matched_demand_becomes_a_share_request_in_one_step(f, db, tmp_path):
    w = world(f, db, tmp_path)
    d = demands.register(db, actor=w.consumer, title="户籍人口身份信息", purpose="办理入学登记时核验身份",
                         basis="《义务教育法》", items=["公民身份号码", "姓名", "不存在的项"],
                         provider_org_id=w.c.dept.id, sharing_mode="接口")
    demands.answer(db, actor=w.c.officer, demand_id=d.id, outcome="matched", entry_id=w.entry.id, reason="")
    req = requests.from_demand(db, actor=w.consumer, demand_id=d.id)
    assert (req.entry_id, req.items, req.mode, req.demand_id) == (w.entry.id, ["公民身份号码", "姓名"], "api", d.id)
    assert req.matter == "户籍人口身份信息" and req.legal_basis == "《义务教育法》" and req.status == "pending"
    assert ask(db, w).status == "pending"


def test_r_shr_8_authority_declares_ends_and_reviews_an_emergency_on_its_pages(f, db, client, tmp_path):
    w = world(f, db, tmp_path)
    admin = f.user(w.c.authority, ("authority_admin",))
    db.commit()
    csrf = login(client, admin)
    page = client.get("/workbench/sharing/emergencies")
    assert page.status_code == 200 and 'id="emergency-form"' in page.text
    bad = client.post("/workbench/sharing/emergencies", data={"csrf_token": csrf, "title": "台风", "scope": "安置",
                                                              "days": "0"})
    assert bad.status_code == 422 and "持续天数" in bad.text
    r = client.post("/workbench/sharing/emergencies", data={
        "csrf_token": csrf, "title": "台风应急转移", "scope": "转移安置人员户籍核查", "days": "3",
        "entry_ids": [str(w.entry.id)], "consumer_org_ids": [str(w.c.other_dept.id)]}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "应急中" in page.text and w.c.other_dept.name in page.text
    eid = r.headers["location"].split("/")[-1].split("?")[0]
    assert client.post(f"/workbench/sharing/emergencies/{eid}/review", data={"csrf_token": csrf, "text": "x"}
                       ).status_code == 409
    assert client.post(f"/workbench/sharing/emergencies/{eid}/end", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert db.scalar(select(Grant).where(Grant.emergency_id == int(eid))).status == "revoked"
    r = client.post(f"/workbench/sharing/emergencies/{eid}/review", data={"csrf_token": csrf, "text": "已复盘"},
                    follow_redirects=False)
    assert r.status_code == 303 and "已复盘" in client.get(r.headers["location"]).text
    csrf = login(client, _user(db, w.consumer))
    assert client.get("/workbench/sharing/emergencies").status_code == 403
