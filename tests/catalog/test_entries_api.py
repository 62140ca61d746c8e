"""The entries API under /api/v1/catalog: the same rules and lifecycle, clear 4xx on bad input."""

from __future__ import annotations

from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from tests.catalog.helpers import DEFAULT_ITEMS, cast, ensure_calendar, entry_in


def bearer(db, actor, scopes=("catalog.*",)) -> dict[str, str]:
    plain, _ = auth_service.create_token(db, actor=actor, name="t", scopes=list(scopes), days=30)
    return {"Authorization": f"Bearer {plain}"}


def body(**overrides) -> dict:
    return entry_in(**overrides).model_dump(mode="json")


def test_api_full_lifecycle_R_CAT_1_R_CAT_7(f, db, client):
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",))
    ensure_calendar(db, admin)
    officer, reviewer = bearer(db, c.officer), bearer(db, c.reviewer)
    db.commit()
    r = client.post("/api/v1/catalog/entries", json=body(), headers=officer)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["status"] == "draft" and [i["name"] for i in e["items"]] == [d["name"] for d in DEFAULT_ITEMS]
    eid = e["id"]
    r = client.get("/api/v1/catalog/entries", headers=officer)
    assert r.status_code == 200 and r.json()["total"] == 1 and r.json()["entries"][0]["id"] == eid
    r = client.post(f"/api/v1/catalog/entries/{eid}/submit", json={"note": "首次编制"}, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["due_date"] and r.json()["decision"] is None
    r = client.get("/api/v1/catalog/reviews", headers=reviewer)
    assert [row["entry"]["id"] for row in r.json()] == [eid]
    r = client.post(f"/api/v1/catalog/entries/{eid}/return", json={"reasons": ""}, headers=reviewer)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reasons"
    r = client.post(f"/api/v1/catalog/entries/{eid}/approve", json={"note": "同意"}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and len(r.json()["digest"]) == 64
    r = client.post(f"/api/v1/catalog/entries/{eid}/revise", headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "revising"
    r = client.put(f"/api/v1/catalog/entries/{eid}", json=body(code=e["code"], update_cycle="实时"), headers=officer)
    assert r.status_code == 200, r.text
    client.post(f"/api/v1/catalog/entries/{eid}/submit", headers=officer)
    client.post(f"/api/v1/catalog/entries/{eid}/approve", headers=reviewer)
    r = client.get(f"/api/v1/catalog/entries/{eid}/history", headers=officer)
    assert [v["version"] for v in r.json()] == [2, 1]
    r = client.get(f"/api/v1/catalog/entries/{eid}/diff?from=1&to=2", headers=officer)
    assert r.status_code == 200 and [x["field"] for x in r.json()["fields"]] == ["update_cycle"]
    r = client.get(f"/api/v1/catalog/entries/{eid}/versions/1", headers=officer)
    assert r.json()["update_cycle"] == "每日" and r.json()["org_name"] == c.dept.name
    r = client.post(f"/api/v1/catalog/entries/{eid}/withdraw-request", json={"reason": "业务划转"}, headers=officer)
    assert r.status_code == 201
    r = client.post(f"/api/v1/catalog/entries/{eid}/withdraw", json={"reason": "业务划转"}, headers=reviewer)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "catalog_entry",
                                                         AuditEvent.subject_id == str(eid)).order_by(AuditEvent.seq))
    assert list(actions) == ["catalog.entry.create", "catalog.entry.submit", "catalog.entry.approve",
                             "catalog.entry.revise", "catalog.entry.update", "catalog.entry.submit",
                             "catalog.entry.approve", "catalog.entry.request_withdraw", "catalog.entry.withdraw"]


def test_api_rule_violations_are_422_with_every_problem_R_CAT_3_R_CAT_5(f, db, client):
    c = cast(f)
    h = bearer(db, c.officer)
    db.commit()
    bad = body(sharing_basis="", grade="一般1", items=[dict(DEFAULT_ITEMS[0], grade="一般4"),
                                                     {"name": "姓名", "type": "C"}])
    r = client.post("/api/v1/catalog/entries", json=bad, headers=h)
    assert r.status_code == 422
    err = r.json()["error"]
    assert {d["field"] for d in err["details"]} == {"sharing_basis", "grade", "items[1].length"}
    assert all(d["message"] and d["message_en"] for d in err["details"])
    assert client.get("/api/v1/catalog/entries", headers=h).json()["total"] == 0


def test_api_bad_input_gives_4xx_not_500(f, db, client):
    c = cast(f)
    h, rh = bearer(db, c.officer), bearer(db, c.reviewer)
    db.commit()
    assert client.post("/api/v1/catalog/entries", json={"code": "1"}, headers=h).status_code == 422
    assert client.post("/api/v1/catalog/entries", json={**body(), "items": []}, headers=h).status_code == 422
    r = client.post("/api/v1/catalog/entries", json={**body(), "release_date": "2026-13-40"}, headers=h)
    assert r.status_code == 422 and "release_date" in r.text
    assert client.post("/api/v1/catalog/entries", content=b"{not json", headers={
        **h, "content-type": "application/json"}).status_code == 422
    assert client.get("/api/v1/catalog/entries/999999", headers=h).status_code == 404
    assert client.get("/api/v1/catalog/entries?status=nonsense", headers=h).status_code == 422
    assert client.get("/api/v1/catalog/entries?size=100000", headers=h).status_code == 422
    assert client.get("/api/v1/catalog/entries/abc", headers=h).status_code == 404
    assert client.post("/api/v1/catalog/entries", json=body()).status_code == 401
    assert client.post("/api/v1/catalog/entries", json=body(), headers=rh).status_code == 403
    eid = client.post("/api/v1/catalog/entries", json=body(), headers=h).json()["id"]
    assert client.post(f"/api/v1/catalog/entries/{eid}/approve", headers=rh).status_code == 409
    assert client.get(f"/api/v1/catalog/entries/{eid}/diff?from=1", headers=h).status_code == 404
    assert client.get(f"/api/v1/catalog/entries/{eid}/diff?from=0", headers=h).status_code == 422
    r = client.post("/api/v1/catalog/change-declarations", json={"kind": "duties", "description": "x"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "entry_ids"


def test_api_permissions_other_department_and_token_scope_R_CAT_1(f, db, client):
    c = cast(f)
    h, other = bearer(db, c.officer), bearer(db, c.other_officer)
    narrow = bearer(db, c.officer, scopes=("catalog.entry.view",))
    db.commit()
    e = client.post("/api/v1/catalog/entries", json=body(), headers=h).json()
    assert client.get(f"/api/v1/catalog/entries/{e['id']}", headers=other).status_code == 403
    r = client.put(f"/api/v1/catalog/entries/{e['id']}", json=body(code=e["code"]), headers=other)
    assert r.status_code == 403
    assert client.get("/api/v1/catalog/entries", headers=other).json()["total"] == 0
    assert client.get(f"/api/v1/catalog/entries/{e['id']}", headers=narrow).status_code == 200
    assert client.post("/api/v1/catalog/entries", json=body(), headers=narrow).status_code == 403


def test_api_validate_reports_without_saving_R_CAT_2(f, db, client):
    c = cast(f)
    h = bearer(db, c.officer)
    db.commit()
    r = client.post("/api/v1/catalog/entries/validate", json=body(), headers=h)
    assert r.status_code == 200 and r.json() == {"ok": True, "errors": []}
    bad = body(code="9/1")
    bad["items"][0]["length"] = "十八"
    r = client.post("/api/v1/catalog/entries/validate", json=bad, headers=h)
    assert r.status_code == 200 and r.json()["ok"] is False
    assert [e["field"] for e in r.json()["errors"]] == ["items[0].length"]  # shape errors come first
    assert "应为整数" in r.json()["errors"][0]["message"]
    r = client.post("/api/v1/catalog/entries/validate", json=body(code="9/1"), headers=h)
    assert [e["field"] for e in r.json()["errors"]] == ["code"]
    assert client.get("/api/v1/catalog/entries", headers=h).json()["total"] == 0


def test_api_change_declaration_R_CAT_4(f, db, client):
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",))
    ensure_calendar(db, admin)
    h, rh = bearer(db, c.officer), bearer(db, c.reviewer)
    db.commit()
    eid = client.post("/api/v1/catalog/entries", json=body(), headers=h).json()["id"]
    client.post(f"/api/v1/catalog/entries/{eid}/submit", headers=h)
    client.post(f"/api/v1/catalog/entries/{eid}/approve", headers=rh)
    r = client.post("/api/v1/catalog/change-declarations",
                    json={"kind": "legal_basis", "description": "条例修订"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["entry_ids"] == [eid] and r.json()["fulfilled_at"] is None
    assert [d["id"] for d in client.get("/api/v1/catalog/change-declarations", headers=h).json()] == [r.json()["id"]]
