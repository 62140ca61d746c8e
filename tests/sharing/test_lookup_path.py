"""The one-key lookup's fast path (R-SHR-5, R-SHR-3): answered in front of the application's routing with the
same answers and headers as its FastAPI route, from caches that never outlive a change of the grant in this
process and outlive one made elsewhere only for a bounded time; every call still leaves its sealed event."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from gongshu import db as gdb
from gongshu.audit import service as audit_service
from gongshu.auth.service import SYSTEM
from gongshu.sharing import api_share
from gongshu.sharing.models import AccessEvent, Grant
from gongshu.sharing.service import evidence, grants
from gongshu.tasks import service as tasks
from tests.conftest import is_postgres
from tests.ingest.helpers import make_id
from tests.sharing.test_access import WOMAN, assert_denied, events, last_event, setup

SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "same-origin"}


def _routed(app: FastAPI):
    """The same application without the fast path in front: FastAPI's own route answers."""
    async def asgi(scope, receive, send):
        await FastAPI.__call__(app, scope, receive, send)
    return asgi


def test_r_shr_5_the_fast_path_answers_as_the_documented_route(f, db, tmp_path, client, app):
    api = setup(f, db, tmp_path, client)
    routed = TestClient(_routed(app), base_url="http://testserver")
    spec = client.get("/openapi.json").json()
    assert "get" in spec["paths"]["/api/v1/share/grants/{grant_id}/records"]  # still documented
    other_secret = api.headers(**{"X-Client-Secret": "x" * 43})
    cases = [({"key": WOMAN}, api.headers()), ({"key": make_id(999)}, api.headers()),
             ({"key": WOMAN, "items": "户籍地址"}, api.headers()), ({"key": WOMAN}, other_secret),
             ({"key": WOMAN}, api.headers(**{"X-Purpose": None})), ({}, api.headers())]
    for params, headers in cases:
        answers = []
        for c in (client, routed):
            r = c.get(f"/api/v1/share/grants/{api.grant.id}/records", params=params,
                      headers={**headers, "X-Request-Id": "req-fixed-1"})
            ev = last_event(db)
            answers.append((r.status_code, r.json(), r.headers["content-type"], r.headers["x-request-id"],
                            {k: r.headers.get(k) for k in SECURITY}, (ev.result, ev.reason, ev.keys, ev.rows)))
        assert answers[0] == answers[1], params
        assert answers[0][4] == SECURITY and answers[0][3] == "req-fixed-1"
    r = client.get(f"/api/v1/share/grants/{api.grant.id}/records", params={"key": WOMAN}, headers=api.headers())
    assert r.status_code == 200 and len(r.headers["x-request-id"]) == 32  # a new request id when none is sent
    assert client.get(f"/api/v1/share/grants/{api.grant.id}/records/", params={"key": WOMAN},
                      headers=api.headers(), follow_redirects=False).status_code in (307, 404)


def test_r_shr_5_an_unexpected_error_is_a_500_with_its_event(f, db, tmp_path, client, monkeypatch):
    api = setup(f, db, tmp_path, client)

    def broken(*_a, **_kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(grants, "project", broken)
    r = api.get(WOMAN)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal" and "boom" not in r.text
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"] and WOMAN not in r.text
    ev = last_event(db)
    assert (ev.result, ev.reason) == ("error", "internal: RuntimeError") and ev.seal_seq is not None


def test_r_shr_5_a_call_answered_from_the_caches_opens_no_database_session(f, db, tmp_path, client, monkeypatch):
    api = setup(f, db, tmp_path, client)
    opened = []
    real = api_share._session
    monkeypatch.setattr(api_share, "_session", lambda: opened.append(1) or real())
    assert api.get(WOMAN).status_code == 200
    cold = len(opened)
    assert cold >= 1
    assert api.get(WOMAN).status_code == 200 and api.get(make_id(4)).status_code == 200
    assert len(opened) == cold  # credential, grant and served columns came from the caches
    assert api.get(WOMAN, grant_id=10**9).status_code == 403  # an unknown grant is read (and not cached)
    assert len(opened) == cold + 1


def test_r_shr_3_a_change_of_the_grant_in_this_process_is_effective_at_once(f, db, tmp_path, client,
                                                                            session_factory):
    api = setup(f, db, tmp_path, client)
    assert api.get(WOMAN).status_code == 200  # the grant is now cached
    with gdb.unit_of_work() as s:  # another unit of work of this process: committed, not the test's session
        grants.revoke(s, actor=api.w.c.officer, grant_id=api.grant.id, reason="超范围使用")
    assert_denied(db, api.get(WOMAN), 403, "revoked")
    assert_denied(db, api.post("batch", {"keys": [WOMAN]}), 403, "revoked")


def test_r_shr_3_a_change_made_elsewhere_is_effective_within_the_cache_time(f, db, tmp_path, client,
                                                                            monkeypatch):
    """A change this process does not see being made (another process, or SQL) is acted on within
    grants.CACHE_SECONDS."""
    monkeypatch.setattr(grants, "CACHE_SECONDS", 0.3)
    api = setup(f, db, tmp_path, client)
    assert api.get(WOMAN).status_code == 200
    db.execute(text("UPDATE share_grant SET status = 'suspended' WHERE id = :id"), {"id": api.grant.id})
    served_meanwhile = api.get(WOMAN).status_code  # 200 from the cache, unless the machine was slow
    time.sleep(0.35)
    assert_denied(db, api.get(WOMAN), 403, "suspended")
    assert served_meanwhile in (200, 403)


def test_r_shr_3_the_expiry_date_is_checked_on_every_call(f, db, tmp_path, client, monkeypatch):
    api = setup(f, db, tmp_path, client)
    assert api.get(WOMAN).status_code == 200
    tomorrow = api.grant.expires_on + timedelta(days=1)
    monkeypatch.setattr(tasks, "today", lambda: tomorrow)  # the term ran out overnight; nothing else changed
    assert_denied(db, api.get(WOMAN), 403, "expired")


def test_r_shr_3_a_grant_read_while_it_changes_is_not_cached(f, db, tmp_path, client):
    api = setup(f, db, tmp_path, client)
    grants.forget(api.grant.id)

    class Racing:
        """A session whose read of the grant is overtaken by a change (flushed by someone else meanwhile)."""

        def get(self, cls, ident):
            row = db.get(cls, ident)
            grants.forget(ident)
            return row

    snap = grants.usable_snapshot(Racing(), grant_id=api.grant.id, consumer_org_id=api.grant.consumer_org_id,
                                  mode="api")
    assert snap.status == "active" and api.grant.id not in grants._snapshots
    grants.usable_snapshot(db, grant_id=api.grant.id, consumer_org_id=api.grant.consumer_org_id, mode="api")
    assert api.grant.id in grants._snapshots
    db.get(Grant, api.grant.id).matter = "不动产登记（变更）"
    db.flush()  # any change of the row, in any module, drops it
    assert api.grant.id not in grants._snapshots


def test_r_shr_5_the_read_only_session_never_takes_the_write_lock(tmp_path, monkeypatch, engine):
    if is_postgres(engine):
        pytest.skip("SQLite's write lock")
    path = tmp_path / "meta.db"
    eng = gdb.make_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    monkeypatch.setattr(gdb, "_factory", sessionmaker(bind=eng, expire_on_commit=False))
    s = api_share._session()
    try:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0  # a transaction is open now
        other = sqlite3.connect(path, timeout=0.1)
        other.execute("INSERT INTO t VALUES (1)")  # would fail with "database is locked" under BEGIN IMMEDIATE
        other.commit()
        other.close()
    finally:
        s.close()
        eng.dispose()


def test_r_shr_3_evidence_written_in_a_callers_transaction_keeps_one_chain(f, db):
    """evidence.write() in a transaction that audits its own change before and after: one chain, the seal
    marks its events, everything verifies."""
    audit_service.record(db, actor=SYSTEM, action="test.before", subject_type="thing", subject_id=1)
    seal = evidence.write(db, [evidence.Access(operation="exchange", result="ok", end_user="张三", purpose="SX-1",
                                               subjects=(evidence.subject_digest(WOMAN),)),
                               evidence.Access(operation="exchange", result="denied", reason="revoked")])
    audit_service.record(db, actor=SYSTEM, action="test.after", subject_type="thing", subject_id=2)
    rows = db.scalars(select(AccessEvent).where(AccessEvent.id.in_(seal.ids)).order_by(AccessEvent.id)).all()
    assert [r.seal_seq for r in rows] == [seal.seq, seal.seq] and seal.last_id == seal.first_id + 1
    assert evidence.verify_seal(db, seq=seal.seq).ok and audit_service.verify(db).ok
    db.execute(text("UPDATE share_access_event SET end_user = '王五' WHERE id = :id"), {"id": seal.first_id})
    db.expire_all()
    assert not evidence.verify_seal(db, seq=seal.seq).ok
    assert len(events(db)) == 2
