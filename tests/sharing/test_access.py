"""API mode (R-SHR-5) and least privilege (R-SHR-3): every way to read beyond a grant is refused AND logged
as a denied access event with the right reason; allowed calls serve only granted items and rows, masked
where the grant says, and are logged too. Through the HTTP API (the group-commit writer runs with the
app) and, for the synchronous seam, through the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select, text

from gongshu.errors import Forbidden
from gongshu.sharing.models import AccessEvent, AccessSubject, Grant
from gongshu.sharing.service import access, apps, evidence, grants, requests
from gongshu.tasks import service as tasks
from tests.catalog.helpers import published
from tests.ingest.helpers import make_id
from tests.sharing.helpers import World, ask, world

END_USER = "李四（不动产登记窗口）"
PURPOSE = "BDC-2026-000123"
#: the grant: the ID number in clear, the name masked, sex and birth date in clear; not the address
GRANTED = [{"name": "公民身份号码", "masked": False}, {"name": "姓名", "masked": True},
           {"name": "性别", "masked": False}, {"name": "出生日期", "masked": False}]
WOMAN, MAN = make_id(2), make_id(1)  # persons 1..20 are loaded; odd = male (性别 1), even = female (性别 2)


@dataclass
class Api:
    w: World
    grant: Grant
    app: object
    secret: str
    client: object

    def headers(self, **kw) -> dict:
        h = {"X-Client-Id": self.app.client_id, "X-Client-Secret": self.secret, "X-End-User": quote(END_USER),
             "X-Purpose": PURPOSE}
        h.update(kw)
        return {k: v for k, v in h.items() if v is not None}

    def get(self, key: str | None = None, *, grant_id=None, headers: dict | None = None, **params):
        if key is not None:
            params["key"] = key
        return self.client.get(f"/api/v1/share/grants/{grant_id or self.grant.id}/records", params=params,
                               headers=headers if headers is not None else self.headers())

    def post(self, op: str, body, *, grant_id=None, headers: dict | None = None):
        return self.client.post(f"/api/v1/share/grants/{grant_id or self.grant.id}/{op}", json=body,
                                headers=headers if headers is not None else self.headers())


def setup(f, db, tmp_path, client, *, row_scope=None, **kw) -> Api:
    w = world(f, db, tmp_path, rows=20)
    req = ask(db, w, items=tuple(i["name"] for i in GRANTED), row_scope=row_scope, **kw)
    grant = requests.approve(db, actor=w.c.officer, request_id=req.id, items=GRANTED)
    assert grant.status == "active"
    app, secret = apps.register(db, actor=w.consumer, name="不动产登记系统")
    return Api(w, grant, app, secret, client)


def last_event(db) -> AccessEvent:
    return db.scalars(select(AccessEvent).order_by(AccessEvent.id.desc()).limit(1)).one()


def events(db) -> list[AccessEvent]:
    return list(db.scalars(select(AccessEvent).order_by(AccessEvent.id)))


def subjects(db, event: AccessEvent) -> list[str]:
    return sorted(db.scalars(select(AccessSubject.key_digest).where(AccessSubject.event_id == event.id)))


def assert_denied(db, r, status: int, reason: str, *, logged_reason: str | None = None) -> AccessEvent:
    assert r.status_code == status, r.text
    body = r.json()
    assert "record" not in body and "records" not in body and body["error"]["message"]
    ev = last_event(db)
    assert (ev.result, ev.reason) == ("denied", logged_reason or reason)
    assert ev.rows == 0 and ev.seal_seq is not None
    return ev


# Allowed calls --------------------------------------------------------------------------------------------

def test_r_shr_5_lookup_serves_only_granted_items_masked_as_granted_and_is_logged(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    r = api.get(WOMAN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["record"] == {"公民身份号码": WOMAN, "姓名": "张**", "性别": "2", "出生日期": "1985-03-12"}
    assert body["items"] == [i["name"] for i in GRANTED] and body["masked"] == ["姓名"] and "户籍地址" not in r.text
    assert body["grant_id"] == api.grant.id and body["version"] == 1
    ev = last_event(db)
    assert (ev.operation, ev.result, ev.reason, ev.keys, ev.rows) == ("lookup", "ok", "", 1, 1)
    assert (ev.grant_id, ev.consumer_org_id, ev.source_org_id, ev.application_id, ev.entry_id) == (
        api.grant.id, api.w.c.other_dept.id, api.w.c.dept.id, api.app.id, api.w.entry.id)
    assert (ev.end_user, ev.purpose) == (END_USER, PURPOSE) and ev.items == body["items"] and ev.latency_ms > 0
    assert subjects(db, ev) == [evidence.subject_digest(WOMAN)]
    assert evidence.verify_seal(db, seq=ev.seal_seq).ok
    r = api.get(WOMAN, items="性别，出生日期")  # a subset of the granted items
    assert r.json()["record"] == {"性别": "2", "出生日期": "1985-03-12"} and last_event(db).items == ["性别", "出生日期"]
    raw = api.get(WOMAN, headers=api.headers(**{"X-End-User": "王五".encode()}))  # raw UTF-8 header
    assert raw.status_code == 200 and last_event(db).end_user == "王五"


def test_r_shr_5_batch_lookup_of_up_to_1000_keys(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    keys = [make_id(n) for n in (2, 4, 999)]  # two persons and one that was never loaded
    r = api.post("batch", {"keys": keys, "items": ["姓名"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] == 2 and [a["found"] for a in body["records"]] == [True, True, False]
    assert body["records"][0] == {"key": keys[0], "found": True, "record": {"姓名": "张**"}}
    ev = last_event(db)
    assert (ev.operation, ev.result, ev.keys, ev.rows) == ("batch", "ok", 3, 2)
    assert subjects(db, ev) == sorted(evidence.subject_digests(keys))
    r = api.post("batch", {"keys": [make_id(n) for n in range(1, 1001)]})
    assert r.status_code == 200 and r.json()["found"] == 20 and len(r.json()["records"]) == 1000
    assert len(subjects(db, last_event(db))) == 1000
    r = api.post("batch", {"keys": [make_id(n) for n in range(1, 1002)]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "keys"
    ev = last_event(db)
    assert (ev.result, ev.reason, ev.keys) == ("error", "too_many_keys", 1001)
    for bad in ({"keys": []}, {"keys": "x"}, {"keys": [{"a": 1}]}, [1, 2]):
        assert api.post("batch", bad).status_code == 422
        assert last_event(db).result == "error"
    r = client.post(f"/api/v1/share/grants/{api.grant.id}/batch", content=b"{not json", headers=api.headers())
    assert r.status_code == 422 and last_event(db).reason == "invalid"


def test_r_shr_5_filtered_query_pages_with_an_opaque_cursor(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    seen, after, calls = [], None, 0
    while True:
        r = api.post("query", {"filters": {"性别": "2"}, "limit": 3, "after": after})
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [rec["公民身份号码"] for rec in body["records"]]
        calls += 1
        after = body["next"]
        if after is None:
            break
        assert "4401" not in after and "19850312" not in after  # no key in the cursor
    assert sorted(seen) == sorted(make_id(n) for n in range(2, 21, 2)) and len(seen) == len(set(seen)) == 10
    assert calls == 4
    ev = last_event(db)
    assert (ev.operation, ev.result, ev.rows) == ("query", "ok", 1) and len(subjects(db, ev)) == 1
    first = api.post("query", {"limit": 2}).json()
    assert len(first["records"]) == 2
    tampered = first["next"][:-2] + ("AA" if first["next"][-2:] != "AA" else "BB")
    r = api.post("query", {"limit": 2, "after": tampered})
    assert r.status_code == 422 and r.json()["error"]["field"] == "after" and last_event(db).result == "error"
    for bad in ({"limit": 0}, {"limit": 501}, {"filters": {"性别": ["1", "2"]}}, {"filters": "性别=1"}):
        assert api.post("query", bad).status_code == 422


# Refused calls: the security tests of the issue ----------------------------------------------------------------

def test_r_shr_3_other_items_are_refused_and_logged(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    ev = assert_denied(db, api.get(WOMAN, items="姓名,户籍地址"), 403, "item_not_granted")
    assert ev.items == ["姓名", "户籍地址"] and subjects(db, ev) == [evidence.subject_digest(WOMAN)]
    assert_denied(db, api.post("batch", {"keys": [WOMAN], "items": ["户籍地址"]}), 403, "item_not_granted")
    assert_denied(db, api.post("query", {"filters": {"户籍地址": "东莞市南城街道2号"}}), 403, "item_not_granted")
    assert_denied(db, api.post("query", {"items": ["户籍地址"]}), 403, "item_not_granted")
    assert "东莞市南城街道" not in "".join(e.reason + str(e.items) for e in events(db))


def test_r_shr_3_rows_outside_the_scope_are_not_found_to_the_caller_but_logged_denied(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client, row_scope={"性别": ["2"]})
    assert api.grant.row_scope == {"性别": ["2"]}
    assert api.get(WOMAN).status_code == 200
    outside, missing = api.get(MAN), api.get(make_id(999))
    assert outside.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(outside) == strip(missing)  # the caller cannot tell a row outside the scope from no row
    out_ev, miss_ev = events(db)[-2:]
    assert (out_ev.result, out_ev.reason) == ("denied", "row_out_of_scope")
    assert subjects(db, out_ev) == [evidence.subject_digest(MAN)]
    assert (miss_ev.result, miss_ev.reason) == ("not_found", "")
    r = api.post("batch", {"keys": [WOMAN, MAN, make_id(3)]})
    assert [a["found"] for a in r.json()["records"]] == [True, False, False] and "record" not in r.json()["records"][1]
    ok, denied = events(db)[-2:]
    assert (ok.result, ok.rows, subjects(db, ok)) == ("ok", 1, [evidence.subject_digest(WOMAN)])
    assert (denied.result, denied.reason, denied.keys) == ("denied", "row_out_of_scope", 2)
    assert subjects(db, denied) == sorted(evidence.subject_digests([MAN, make_id(3)]))
    r = api.post("query", {"limit": 500})
    assert {rec["性别"] for rec in r.json()["records"]} == {"2"} and len(r.json()["records"]) == 10
    r = api.post("query", {"filters": {"性别": "1"}})
    assert r.status_code == 200 and r.json()["records"] == []
    assert (last_event(db).result, last_event(db).reason) == ("denied", "row_out_of_scope")


def test_r_shr_3_a_scope_of_several_values_is_applied_row_by_row(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client, row_scope={"公民身份号码": [make_id(n) for n in (3, 4, 17)]})
    r = api.post("query", {"limit": 2})
    got = [rec["公民身份号码"] for rec in r.json()["records"]]
    while r.json()["next"]:
        r = api.post("query", {"limit": 2, "after": r.json()["next"]})
        got += [rec["公民身份号码"] for rec in r.json()["records"]]
    assert sorted(got) == sorted(make_id(n) for n in (3, 4, 17))
    assert api.get(make_id(3)).status_code == 200
    assert_denied(db, api.get(make_id(5)), 404, "row_out_of_scope")


def test_r_shr_3_grants_of_other_entries_and_other_consumers_are_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    c = api.w.c
    third = f.actor(f.org(), ("dept_officer",))
    theirs = requests.approve(db, actor=c.officer, request_id=ask(db, api.w, actor=third).id)
    ev = assert_denied(db, api.get(WOMAN, grant_id=theirs.id), 403, "other_consumer")
    assert (ev.grant_id, ev.consumer_org_id, ev.source_org_id) == (theirs.id, c.other_dept.id, c.dept.id)
    other_entry = published(db, c, name="婚姻登记信息")
    w2 = World(c, other_entry, third)
    on_other_entry = requests.approve(db, actor=c.officer, request_id=ask(db, w2, actor=third).id)
    assert on_other_entry.status == "awaiting_delivery"  # no data yet; it is not the caller's anyway
    ev = assert_denied(db, api.get(WOMAN, grant_id=on_other_entry.id), 403, "other_consumer")
    assert ev.entry_id == other_entry.id
    exchange = requests.approve(db, actor=c.officer, request_id=ask(db, api.w, mode="exchange").id)
    assert_denied(db, api.get(WOMAN, grant_id=exchange.id), 403, "wrong_mode")
    assert_denied(db, api.get(WOMAN, grant_id=10**9), 403, "no_grant")
    ev = assert_denied(db, api.get(WOMAN, grant_id="abc"), 403, "no_grant")
    assert ev.grant_id is None


def test_r_shr_3_an_expired_grant_is_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    assert api.get(WOMAN).status_code == 200
    api.grant.expires_on = tasks.today() - timedelta(days=1)  # the term ran out; the sweep has not run yet
    db.flush()
    assert_denied(db, api.get(WOMAN), 403, "expired")
    api.grant.expires_on = tasks.today() + timedelta(days=3)
    db.flush()
    assert api.get(WOMAN).status_code == 200
    assert grants.expire(db, on=api.grant.expires_on + timedelta(days=1)) == 1  # the sweep, days later
    assert api.grant.status == "expired"
    assert_denied(db, api.post("query", {}), 403, "expired")


def test_r_shr_3_a_revoked_grant_is_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    assert api.get(WOMAN).status_code == 200
    grants.revoke(db, actor=api.w.c.officer, grant_id=api.grant.id, reason="使用方超范围使用")
    assert_denied(db, api.get(WOMAN), 403, "revoked")
    assert_denied(db, api.post("batch", {"keys": [WOMAN]}), 403, "revoked")


def test_r_shr_5_another_consumers_credentials_are_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    third = f.actor(f.org(), ("dept_officer",))
    their_app, their_secret = apps.register(db, actor=third, name="别的部门的系统")
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Id": their_app.client_id,
                                                                  "X-Client-Secret": their_secret})),
                       403, "other_consumer")
    assert (ev.consumer_org_id, ev.application_id) == (third.org_id, their_app.id)
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Id": their_app.client_id})),
                       401, "bad_credential")  # our secret with their client id
    assert ev.application_id == their_app.id


def test_r_shr_5_a_rotated_old_secret_is_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    assert api.get(WOMAN).status_code == 200  # the old secret is now cached in the process
    old = api.secret
    _, api.secret = apps.rotate(db, actor=api.w.consumer, application_id=api.app.id)
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Secret": old})), 401, "bad_credential")
    assert ev.application_id == api.app.id and ev.consumer_org_id == api.w.c.other_dept.id
    assert api.get(WOMAN).status_code == 200


def test_r_shr_5_tampered_missing_or_deactivated_credentials_are_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    tampered = api.secret[:10] + ("x" if api.secret[10] != "x" else "y") + api.secret[11:]
    assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Secret": tampered})), 401, "bad_credential")
    junk = client.post(f"/api/v1/share/grants/{api.grant.id}/batch", content=b"{not json",
                       headers=api.headers(**{"X-Client-Secret": tampered}))
    assert_denied(db, junk, 401, "bad_credential")  # the credentials are checked before the input
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Id": "gsa_forged0000000000000"})),
                       401, "bad_credential")
    assert ev.application_id is None and ev.consumer_org_id is None and ev.source_org_id == api.w.c.dept.id
    assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Secret": None})), 401, "missing_credential")
    assert_denied(db, api.get(WOMAN, headers={}), 401, "missing_credential")
    apps.deactivate(db, actor=api.w.consumer, application_id=api.app.id)
    assert_denied(db, api.get(WOMAN), 401, "inactive_application")


def test_r_shr_5_a_call_without_end_user_or_purpose_is_refused(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-End-User": None})), 422, "missing_end_user")
    assert ev.application_id == api.app.id and ev.purpose == PURPOSE and ev.end_user == ""
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Purpose": "  "})), 422, "missing_purpose")
    assert ev.end_user == END_USER
    assert_denied(db, api.post("batch", {"keys": [WOMAN]}, headers=api.headers(**{"X-Purpose": None})), 422,
                  "missing_purpose")
    assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-End-User": "x" * 101})), 422, "invalid_end_user")
    assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Purpose": "SX%0A1"})), 422, "invalid_purpose")


def test_r_shr_5_a_grant_bound_to_one_application_refuses_the_others(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=5)
    bound_app, bound_secret = apps.register(db, actor=w.consumer, name="不动产登记系统")
    other_app, other_secret = apps.register(db, actor=w.consumer, name="档案系统")
    grant = requests.approve(db, actor=w.c.officer, request_id=ask(db, w, application_id=bound_app.id).id)
    assert grant.application_id == bound_app.id
    api = Api(w, grant, bound_app, bound_secret, client)
    assert api.get(WOMAN).status_code == 200
    ev = assert_denied(db, api.get(WOMAN, headers=api.headers(**{"X-Client-Id": other_app.client_id,
                                                                  "X-Client-Secret": other_secret})),
                       403, "other_application")
    assert ev.application_id == other_app.id


def test_r_shr_5_rate_limit_answers_429_with_retry_after_and_is_logged(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    apps.set_rate(db, actor=api.w.consumer, application_id=api.app.id, rate_per_minute=1)  # a bucket of one call
    assert api.get(WOMAN).status_code == 200
    r = api.get(WOMAN)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    ev = assert_denied(db, r, 429, "rate_limited")
    assert subjects(db, ev) == [evidence.subject_digest(WOMAN)]


def test_r_shr_5_no_evidence_no_data(f, db, tmp_path, client):
    """When the access event cannot be written, the call is answered 503 and serves nothing."""
    api = setup(f, db, tmp_path, client)
    db.execute(text("DROP TABLE share_access_subject"))  # inside the test's transaction: rolled back after it
    r = api.get(WOMAN)
    assert r.status_code == 503 and r.json()["error"]["code"] == "evidence_unavailable"
    assert "张" not in r.text and WOMAN not in r.text


def test_r_shr_5_synchronous_seam_records_through_the_session_factory(f, db, tmp_path):
    """Without the writer (CLI, jobs, service tests) the same path records synchronously, in a transaction of
    its own from the session factory, so a refusal's evidence survives the caller's rollback."""
    w = world(f, db, tmp_path, rows=5)
    grant = requests.approve(db, actor=w.c.officer, request_id=ask(db, w).id, items=GRANTED[:2])
    app, secret = apps.register(db, actor=w.consumer, name="不动产登记系统")
    assert evidence.writer() is None
    call = access.Call(client_id=app.client_id, secret=secret, end_user="张三", purpose="SX-1")
    body = access.finish(access.lookup(db, call=call, grant_id=grant.id, key=WOMAN))
    assert body["record"] == {"公民身份号码": WOMAN, "姓名": "张**"}
    assert (last_event(db).result, last_event(db).end_user) == ("ok", "张三")
    outcome = access.lookup(db, call=call, grant_id=grant.id, key=WOMAN, items=["性别"])
    assert outcome.body is None and outcome.error is not None and outcome.events[0].reason == "item_not_granted"
    with pytest.raises(Forbidden):
        access.finish(outcome)
    assert (last_event(db).result, last_event(db).reason) == ("denied", "item_not_granted")
