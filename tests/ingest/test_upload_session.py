"""Resumable upload from the workbench page (R-AGG-2): the browser sends its chunks with the login session
cookie and the page's CSRF token, against a database file the way a real server uses it — every request on
its own connection, not the shared rolled-back transaction of the other tests.

On SQLite each transaction starts with BEGIN IMMEDIATE; the chunk route used to keep the transaction that
authenticated the caller open while its own unit of work appended the chunk, so every PATCH waited for the
lock and failed with "database is locked" (a 500) after the busy timeout. This test always runs on a SQLite
file of its own (the lock is SQLite's), also when the suite runs on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from gongshu import db as gdb
from gongshu.app import create_app
from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.kit.hashing import sm3
from tests.factories import Factory, login
from tests.ingest.helpers import person_rows, setup, write_csv


@pytest.fixture
def file_db(tmp_path) -> Iterator[sessionmaker]:
    """A migrated SQLite file of its own, used by the app exactly as `gongshu serve` uses it."""
    previous_engine, previous_factory = gdb.get_engine(), gdb.session_factory()
    engine = gdb.make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    gdb.upgrade(engine)
    gdb.set_engine(engine)
    try:
        yield gdb.session_factory()
    finally:
        gdb.set_engine(previous_engine)
        gdb.set_session_factory(previous_factory)
        engine.dispose()


def test_chunks_sent_with_the_session_cookie_and_csrf_token_are_appended_R_AGG_2(file_db, tmp_path):
    with file_db() as s:
        c, entry = setup(Factory(s), s)
        officer = s.get(User, c.officer.user_id)
        s.commit()
        entry_id = entry.id
    data = write_csv(tmp_path / "p.csv", person_rows(200)).read_bytes()
    half = len(data) // 2
    with TestClient(create_app(check_db=False, run_jobs=False), base_url="http://testserver") as client:
        csrf = login(client, officer)
        h = {"X-CSRF-Token": csrf}
        r = client.post("/api/v1/ingest/uploads", headers=h, json={
            "entry_id": entry_id, "filename": "户籍.csv", "size": len(data), "sm3": sm3(data).hex()})
        assert r.status_code == 201, r.text
        up = r.json()["id"]
        # CSRF is still enforced on cookie-authenticated chunks
        r = client.patch(f"/api/v1/ingest/uploads/{up}", headers={"Upload-Offset": "0"}, content=data[:half])
        assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
        r = client.patch(f"/api/v1/ingest/uploads/{up}", content=data[:half],
                         headers={**h, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert r.status_code == 200, r.text
        assert r.json()["received"] == half
        assert client.get(f"/api/v1/ingest/uploads/{up}").json()["received"] == half
        r = client.patch(f"/api/v1/ingest/uploads/{up}", headers={**h, "Upload-Offset": str(half)},
                         content=data[half:])
        assert r.status_code == 200 and r.json()["received"] == len(data), r.text
        # the page's options travel with the complete call: mode, encoding override, dry run
        r = client.post(f"/api/v1/ingest/uploads/{up}/complete", headers=h,
                        json={"mode": "upsert", "encoding": "gbk", "dry_run": True})
        assert r.status_code == 202, r.text
        load = r.json()
        assert load["mode"] == "upsert" and load["dry_run"] is True and load["source_sm3"] == sm3(data).hex()
        done = client.get(f"/api/v1/ingest/uploads/{up}").json()
        assert done["status"] == "complete" and done["load_id"] == load["id"]
        r = client.post(f"/api/v1/ingest/uploads/{up}/complete", headers=h, json={"mode": "sideways"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "mode"
    with file_db() as s:
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == up)))
        assert "ingest.upload.start" in actions
