"""R-SEC-3: the hot-path append (Core statements, on SQLite straight on the driver) continues the same hash chain
as record() and record_many(), with places reserved ahead; tampering with what it wrote is caught."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from gongshu.audit import service as audit
from gongshu.audit.models import AuditEvent, AuditHead
from gongshu.auth.service import SYSTEM


def _record(db, subject_id) -> None:
    audit.record(db, actor=SYSTEM, action="test.event", subject_type="thing", subject_id=subject_id)


def test_r_sec_3_append_continues_the_chain_between_record_and_record_many(db):
    _record(db, "before")
    rows = audit.append(db, actor=SYSTEM, events=[
        audit.Event("test.fast", "thing", i, before={"i": i}, after={"i": i + 1}, detail={"n": i, "名称": "值"})
        for i in range(3)])
    audit.record_many(db, actor=SYSTEM, events=[audit.Event("test.bulk", "thing", 9)])
    _record(db, "after")
    assert [r["seq"] for r in rows] == [rows[0]["seq"], rows[0]["seq"] + 1, rows[0]["seq"] + 2]
    stored = db.scalars(select(AuditEvent).where(AuditEvent.action == "test.fast").order_by(AuditEvent.seq)).all()
    assert [(e.seq, e.hash, e.prev_hash) for e in stored] == [(r["seq"], r["hash"], r["prev_hash"]) for r in rows]
    assert json.loads(stored[0].detail) == {"n": 0, "名称": "值"} and stored[0].actor_name == SYSTEM.username
    assert stored[0].at.tzinfo is not None and stored[0].before_digest and stored[0].after_digest
    assert audit.verify(db).ok
    db.execute(text("UPDATE audit_event SET subject_id = 'x' WHERE seq = :s"), {"s": rows[1]["seq"]})
    r = audit.verify(db)
    assert not r.ok and r.problem == "altered" and r.seq == rows[1]["seq"]


def test_r_sec_3_reserved_places_are_filled_later_in_the_same_transaction(db):
    _record(db, "before")
    head = db.get(AuditHead, 1)  # loaded in this session: append() must not leave it stale
    place = audit.reserve(db, 2)
    assert place.first_seq == head.seq - 1 and place.count == 2  # reading the head again sees the reservation
    with pytest.raises(ValueError):
        audit.append(db, actor=SYSTEM, events=[audit.Event("test.fast", "thing", 1)], reserved=place)
    rows = audit.append(db, actor=SYSTEM, reserved=place, events=[audit.Event("test.fast", "thing", i)
                                                                  for i in (1, 2)])
    assert [r["seq"] for r in rows] == [place.first_seq, place.first_seq + 1]
    assert db.get(AuditHead, 1).hash == rows[-1]["hash"]
    _record(db, "after")
    assert audit.verify(db).ok


def test_r_sec_3_a_reservation_never_filled_breaks_the_chain_visibly(db):
    """A place taken and never filled (a misuse) is not hidden: verify() reports the gap."""
    _record(db, "before")
    audit.reserve(db, 1)
    r = audit.verify(db)
    assert not r.ok and r.problem in ("deleted", "inserted")
