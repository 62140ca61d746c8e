"""R-SEC-3: the audit log is a hash chain; tampering directly in SQL is caught."""

from __future__ import annotations

from sqlalchemy import select, text

from gongshu.audit import service as audit
from gongshu.audit.models import AuditEvent
from gongshu.auth.service import SYSTEM
from gongshu.kit.hashing import sm3_hex


def _events(db, n=5):
    for i in range(n):
        audit.record(db, actor=SYSTEM, action="test.event", subject_type="thing", subject_id=i, after={"i": i},
                     detail={"n": i})
    db.flush()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "test.event").order_by(AuditEvent.seq)))


def test_sm3_vector_R_SEC_1():
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_chain_intact_and_linked_R_SEC_3(db):
    evs = _events(db)
    assert audit.verify(db).ok
    for a, b in zip(evs, evs[1:], strict=False):
        assert b.prev_hash == a.hash and b.seq == a.seq + 1
    assert evs[0].after_digest and evs[0].before_digest is None


def test_altered_event_is_named_R_SEC_3(db):
    evs = _events(db)
    db.execute(text("UPDATE audit_event SET detail = :d WHERE id = :id"), {"d": '{"n":99}', "id": evs[2].id})
    db.expire_all()
    r = audit.verify(db)
    assert not r.ok and r.problem == "altered" and r.seq == evs[2].seq and r.event_id == evs[2].id
    assert str(evs[2].seq) in r.message


def test_deleted_event_is_found_R_SEC_3(db):
    evs = _events(db)
    db.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": evs[1].id})
    r = audit.verify(db)
    assert not r.ok and r.problem == "deleted" and r.seq == evs[1].seq


def test_deleted_last_event_is_found_R_SEC_3(db):
    evs = _events(db)
    db.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": evs[-1].id})
    r = audit.verify(db)
    assert not r.ok and r.problem == "deleted" and r.seq == evs[-1].seq


def test_inserted_event_is_found_R_SEC_3(db):
    evs = _events(db)
    # shift the tail up by one and forge an event into the gap, with a correct-looking own hash
    db.execute(text("UPDATE audit_event SET seq = seq + 1000000 WHERE seq > :s"), {"s": evs[2].seq})
    db.execute(text("UPDATE audit_event SET seq = seq - 1000000 + 1 WHERE seq > 1000000"))
    forged = dict(seq=evs[2].seq + 1, at=evs[2].at.replace(tzinfo=None), actor_id=None, actor_name="intruder",
                  org_id=None, action="test.event", subject_type="thing", subject_id="x", before_digest=None,
                  after_digest=None, detail="{}", request_id="r", prev_hash=evs[2].hash)
    h = audit._sm3(audit._material(**forged))
    db.execute(text("INSERT INTO audit_event (seq, at, actor_id, actor_name, org_id, action, subject_type, subject_id,"
                    " before_digest, after_digest, detail, request_id, prev_hash, hash) VALUES (:seq, :at, NULL,"
                    " :actor_name, NULL, :action, :subject_type, :subject_id, NULL, NULL, :detail, :request_id,"
                    " :prev_hash, :hash)"), {**forged, "hash": h})
    forged_id = db.scalar(select(AuditEvent.id).where(AuditEvent.actor_name == "intruder"))
    r = audit.verify(db)
    assert not r.ok and r.problem == "inserted" and r.seq == evs[2].seq + 1 and r.event_id == forged_id


def test_verify_cli_exit_code(db, session_factory):
    from click.testing import CliRunner

    from gongshu.cli import main

    _events(db, 2)
    db.commit()
    ok = CliRunner().invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    db.execute(text("UPDATE audit_event SET actor_name = 'x' WHERE action = 'test.event'"))
    db.commit()
    bad = CliRunner().invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1 and "altered" in bad.output


def test_record_many_continues_the_chain_R_SEC_3(db):
    _events(db, 2)
    n = audit.record_many(db, actor=SYSTEM, events=[
        audit.Event("test.bulk", "thing", i, after={"i": i}) for i in range(50)])
    audit.record(db, actor=SYSTEM, action="test.event", subject_type="thing", subject_id="after")
    assert n == 50
    seqs = db.scalars(select(AuditEvent.seq).where(AuditEvent.action == "test.bulk").order_by(AuditEvent.seq)).all()
    assert len(seqs) == 50 and seqs[-1] - seqs[0] == 49
    assert audit.verify(db).ok
    db.execute(text("UPDATE audit_event SET subject_id = 'x' WHERE action = 'test.bulk' AND seq = :s"), {"s": seqs[7]})
    r = audit.verify(db)
    assert r.problem == "altered" and r.seq == seqs[7]
