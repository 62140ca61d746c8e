"""The aggregation API (R-AGG-2): multipart upload, resumable chunked upload with offsets and an SM3
check, push with an idempotency key, and the load report and rejects file — over HTTP with a token."""

from __future__ import annotations

from gongshu.auth import service as auth_service
from gongshu.ingest.service import loads
from gongshu.kit.hashing import sm3
from tests.ingest.helpers import make_id, person_rows, setup, write_csv


def _headers(db, actor) -> dict:
    plain, _ = auth_service.create_token(db, actor=actor, name="t", scopes=["ingest.*"], days=30)
    return {"Authorization": f"Bearer {plain}"}


def test_resumable_upload_resumes_at_the_servers_offset_and_checks_sm3(f, db, client, tmp_path):
    c, entry = setup(f, db)
    h = _headers(db, c.officer)
    data = write_csv(tmp_path / "p.csv", person_rows(300)).read_bytes()
    r = client.post("/api/v1/ingest/uploads", headers=h, json={"entry_id": entry.id, "filename": "户籍.csv",
                                                                 "size": len(data), "sm3": sm3(data).hex()})
    assert r.status_code == 201, r.text
    up = r.json()["id"]
    half = len(data) // 2
    r = client.patch(f"/api/v1/ingest/uploads/{up}", headers={**h, "Upload-Offset": "0"}, content=data[:half])
    assert r.json()["received"] == half
    # the connection broke; the client sends from the wrong place: told where to resume
    r = client.patch(f"/api/v1/ingest/uploads/{up}", headers={**h, "Upload-Offset": "0"}, content=data[:10])
    assert r.status_code == 409 and r.json()["error"]["details"][0]["received"] == half
    assert client.get(f"/api/v1/ingest/uploads/{up}", headers=h).json()["received"] == half
    early = client.post(f"/api/v1/ingest/uploads/{up}/complete", headers=h, json={})
    assert early.status_code == 409
    r = client.patch(f"/api/v1/ingest/uploads/{up}", headers={**h, "Upload-Offset": str(half)}, content=data[half:])
    assert r.json()["received"] == len(data)
    r = client.post(f"/api/v1/ingest/uploads/{up}/complete", headers=h, json={"mode": "full"})
    assert r.status_code == 202, r.text
    load_id = r.json()["id"]
    db.flush()
    loads.process(load_id)
    got = client.get(f"/api/v1/ingest/loads/{load_id}", headers=h).json()
    assert got["status"] == "applied" and got["rows_read"] == 300 and got["source_sm3"] == sm3(data).hex()
    look = client.get(f"/api/v1/ingest/entries/{entry.id}/lookup", headers=h, params={"公民身份号码": make_id(9)})
    assert look.json()["rows"][0]["姓名"] == "张十9"


def test_resumable_upload_with_a_corrupted_chunk_fails_the_sm3_check(f, db, client, tmp_path):
    c, entry = setup(f, db)
    h = _headers(db, c.officer)
    data = write_csv(tmp_path / "p.csv", person_rows(20)).read_bytes()
    up = client.post("/api/v1/ingest/uploads", headers=h, json={"entry_id": entry.id, "filename": "p.csv",
                                                                  "size": len(data), "sm3": sm3(data).hex()}).json()["id"]
    bad = data[:-3] + b"000"
    client.patch(f"/api/v1/ingest/uploads/{up}", headers={**h, "Upload-Offset": "0"}, content=bad)
    r = client.post(f"/api/v1/ingest/uploads/{up}/complete", headers=h, json={})
    assert r.status_code == 422 and r.json()["error"]["field"] == "sm3"


def test_multipart_upload_report_and_rejects_over_http(f, db, client, tmp_path):
    c, entry = setup(f, db)
    h = _headers(db, c.officer)
    rows = person_rows(10)
    rows[2][2] = "5"  # not a GB/T 2261.1 code
    path = write_csv(tmp_path / "bad.csv", rows)
    r = client.post(f"/api/v1/ingest/entries/{entry.id}/loads", headers=h,
                    files={"file": ("户籍.csv", path.read_bytes(), "text/csv")}, data={"mode": "full"})
    assert r.status_code == 202, r.text
    load_id = r.json()["id"]
    db.flush()
    loads.process(load_id)
    got = client.get(f"/api/v1/ingest/loads/{load_id}", headers=h).json()
    assert got["status"] == "rejected" and got["report"]["problems"][0]["row"] == 4
    csv_text = client.get(f"/api/v1/ingest/loads/{load_id}/rejects.csv", headers=h).content.decode("utf-8-sig")
    assert "性别" in csv_text and "户籍.csv" in csv_text
    other = _headers(db, c.other_officer)
    assert client.get(f"/api/v1/ingest/loads/{load_id}", headers=other).status_code == 403


def test_push_twice_with_the_same_key_is_one_load(f, db, client, tmp_path):
    c, entry = setup(f, db)
    h = {**_headers(db, c.officer), "Idempotency-Key": "b-1"}
    row = dict(zip(["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"], person_rows(1)[0], strict=True))
    a = client.post(f"/api/v1/ingest/entries/{entry.id}/push", headers=h, json={"rows": [row], "mode": "full"})
    b = client.post(f"/api/v1/ingest/entries/{entry.id}/push", headers=h, json={"rows": [row], "mode": "full"})
    assert a.status_code == b.status_code == 202 and a.json()["id"] == b.json()["id"]
    none = client.post(f"/api/v1/ingest/entries/{entry.id}/push", headers=_headers(db, c.officer),
                       json={"rows": [row]})
    assert none.status_code == 422 and none.json()["error"]["field"] == "idempotency_key"


def test_abandoned_and_stale_uploads_lose_their_partial_files_R_AGG_2(f, db, client, tmp_path):
    """R-AGG-2: the client can give an upload up (DELETE); an upload idle for a week is abandoned by the
    periodic sweep. Either way the bytes received are deleted and the record stays, audited."""
    import os
    import time

    from sqlalchemy import select

    from gongshu.audit.models import AuditEvent
    from gongshu.ingest.models import Upload
    from gongshu.ingest.service import uploads

    c, entry = setup(f, db)
    h = _headers(db, c.officer)
    data = write_csv(tmp_path / "p.csv", person_rows(50)).read_bytes()
    ids = []
    for _ in range(3):
        r = client.post("/api/v1/ingest/uploads", headers=h, json={"entry_id": entry.id, "filename": "p.csv",
                                                                     "size": len(data)})
        ids.append(r.json()["id"])
        client.patch(f"/api/v1/ingest/uploads/{ids[-1]}", headers={**h, "Upload-Offset": "0"}, content=data[:100])
    given_up, stale, fresh = ids
    assert client.delete(f"/api/v1/ingest/uploads/{given_up}", headers=h).status_code == 204
    assert not uploads._path(given_up).exists()
    r = client.delete(f"/api/v1/ingest/uploads/{given_up}", headers=h)
    assert r.status_code == 409 and r.json()["error"]["message"]
    week_ago = time.time() - uploads.STALE_AFTER.total_seconds() - 60
    os.utime(uploads._path(stale), (week_ago, week_ago))
    assert uploads.expire_stale(db) == [stale]
    assert not uploads._path(stale).exists() and uploads._path(fresh).exists()
    db.expire_all()
    assert {u.id: u.status for u in db.scalars(select(Upload))} == {given_up: "abandoned", stale: "abandoned",
                                                                    fresh: "open"}
    assert client.patch(f"/api/v1/ingest/uploads/{stale}", headers={**h, "Upload-Offset": "100"},
                        content=data[100:200]).status_code == 409
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "ingest.upload.abandon")).all()
    assert sorted(e.subject_id for e in events) == sorted([given_up, stale])
