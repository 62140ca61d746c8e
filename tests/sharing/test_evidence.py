"""Evidence of sharing (R-OPN-7 style, R-SHR-3/5): access events with HMAC-SM3 subject digests, written by
the group-commit writer (or synchronously without one), each batch sealed by one audit event; queries by
grant, consumer, source and data subject, denials included."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import delete, func, select, update

from gongshu.audit import service as audit_service
from gongshu.audit.models import AuditEvent
from gongshu.crypto import sm4
from gongshu.db import utcnow
from gongshu.errors import Forbidden, Invalid
from gongshu.kit.hashing import sm3_hex
from gongshu.sharing.models import AccessEvent, AccessSubject
from gongshu.sharing.service import evidence
from tests.catalog.helpers import cast

ID1, ID2 = "44010619850312002X", "440106198503120015"


def _access(**kw) -> evidence.Access:
    base = dict(operation="lookup", result="ok", grant_id=7, consumer_org_id=1, source_org_id=2, application_id=3,
                entry_id=4, end_user="李四", purpose="BDC-2026-1", items=("姓名", "性别"), keys=1, rows=1,
                latency_ms=1.25, subjects=(evidence.subject_digest(ID1),))
    base.update(kw)
    return evidence.Access(**base)


def _seals(db) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == evidence.SEAL_ACTION)
                           .order_by(AuditEvent.seq)))


def test_r_shr_3_subject_digest_is_a_keyed_hmac_sm3_of_the_normalised_key(monkeypatch):
    d = evidence.subject_digest(ID1)
    assert len(d) == 64 and int(d, 16) >= 0 and d == evidence.subject_digest(ID1)
    assert evidence.subject_digest(" 44010619850312002x ") == d  # trimmed, upper case
    assert evidence.subject_digest("４４０１０６１９８５０３１２００２Ｘ") == d  # full-width digits (NFKC)
    assert evidence.subject_digest(ID2) != d
    assert d != sm3_hex(ID1.encode())  # never a bare hash: ID numbers are brute-forceable
    mac = hmac.HMAC(sm4.derive_key("sharing.subject-digest"), hashes.SM3())
    mac.update(ID1.encode())
    assert d == mac.finalize().hex()
    assert evidence.subject_digests([ID1, ID2]) == [d, evidence.subject_digest(ID2)]
    monkeypatch.setenv(sm4.ENV_VAR, "ab" * 16)  # another platform key: other digests
    if sm4.data_key() != bytes.fromhex("ab" * 16):
        pytest.skip("the data key is configured in the settings")
    assert evidence.subject_digest(ID1) != d


def test_r_shr_3_without_a_writer_record_writes_and_seals_in_its_own_transaction(f, db):
    assert evidence.writer() is None
    seal = evidence.record(_access(), _access(result="denied", reason="other_consumer", rows=0,
                                              subjects=(evidence.subject_digest(ID2), evidence.subject_digest(ID1))))
    assert seal.count == 2 and seal.last_id == seal.first_id + 1
    events = db.scalars(select(AccessEvent).where(AccessEvent.id.in_(seal.ids)).order_by(AccessEvent.id)).all()
    assert [(e.result, e.reason, e.end_user, e.seal_seq) for e in events] == [
        ("ok", "", "李四", seal.seq), ("denied", "other_consumer", "李四", seal.seq)]
    assert events[0].items == ["姓名", "性别"] and events[0].latency_ms == 1.25
    assert sorted(db.scalars(select(AccessSubject.key_digest).where(AccessSubject.event_id == events[1].id))) == \
        sorted(evidence.subject_digests([ID1, ID2]))
    (sealed,) = _seals(db)
    detail = json.loads(sealed.detail)
    assert sealed.seq == seal.seq and detail == {"count": 2, "first_id": seal.first_id, "last_id": seal.last_id,
                                                 "sm3": seal.sm3}
    assert evidence.verify_seal(db, seq=seal.seq).ok
    assert audit_service.verify(db).ok  # the seal is part of the audit chain
    assert ID1 not in json.dumps([e.__dict__ for e in events], default=str)  # never the raw key


def test_r_shr_3_a_seal_detects_altered_removed_or_added_rows(f, db):
    seal = evidence.record(_access(), _access(result="not_found", rows=0))
    assert evidence.verify_seal(db, seq=seal.seq).ok
    db.execute(update(AccessEvent).where(AccessEvent.id == seal.first_id).values(end_user="别人"))
    check = evidence.verify_seal(db, seq=seal.seq)
    assert not check.ok and check.actual_sm3 != check.expected_sm3
    db.execute(update(AccessEvent).where(AccessEvent.id == seal.first_id).values(end_user="李四"))
    assert evidence.verify_seal(db, seq=seal.seq).ok
    db.execute(delete(AccessSubject).where(AccessSubject.event_id == seal.last_id))
    assert not evidence.verify_seal(db, seq=seal.seq).ok
    other = evidence.record(_access())
    db.execute(update(AccessEvent).where(AccessEvent.id == other.first_id).values(seal_seq=seal.seq))
    assert not evidence.verify_seal(db, seq=seal.seq).ok
    with pytest.raises(Invalid):
        evidence.verify_seal(db, seq=10**9)


def test_r_shr_3_group_commit_writer_batches_concurrent_calls_into_one_sealed_commit(f, db):
    """Thread mode: the writer owns its sessions (from the same factory as the test's) and commits the events
    of announced concurrent calls together, under one seal; each caller returns once its batch is committed."""
    evidence.start_writer(linger=5.0)  # long enough that all eight announced calls are waited for
    try:
        w = evidence.writer()
        assert w is not None and w.alive
        tickets = [evidence.announce() for _ in range(8)]
        seals: list = [None] * 8

        def call(n: int) -> None:
            seals[n] = evidence.record(_access(end_user=f"经办人{n}", subjects=(evidence.subject_digest(f"K{n}"),)),
                                       ticket=tickets[n])

        threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert all(s is not None for s in seals)
        assert len({s.seq for s in seals}) == 1 and seals[0].count == 8  # one commit, one seal
        assert db.scalar(select(func.count()).select_from(AccessEvent).where(AccessEvent.seal_seq == seals[0].seq)) == 8
        assert evidence.verify_seal(db, seq=seals[0].seq).ok
        alone = evidence.record(_access(end_user="单独"))  # unannounced: written at once, no waiting
        assert alone.count == 1 and alone.seq != seals[0].seq
        assert w.batches == 2 and w.events == 9
    finally:
        evidence.stop_writer()
    assert evidence.writer() is None
    assert len(_seals(db)) == 2 and audit_service.verify(db).ok


def test_r_shr_3_stopping_the_writer_writes_what_is_queued(f, db):
    w = evidence.start_writer()
    try:
        futures = [w.submit([_access(end_user=f"排队{n}")]) for n in range(20)]
    finally:
        evidence.stop_writer()
    assert all(fut.done() and fut.exception() is None for fut in futures)
    assert db.scalar(select(func.count()).select_from(AccessEvent).where(AccessEvent.end_user.like("排队%"))) == 20


def test_r_shr_3_a_failed_write_is_reported_and_the_writer_lives_on(f, db):
    bad = _access(items=(object(),))  # cannot be stored: the batch fails as a database error would
    with pytest.raises(evidence.EvidenceUnavailable) as exc:  # synchronous mode
        evidence.record(bad)
    assert exc.value.status == 503
    evidence.start_writer()
    try:
        with pytest.raises(evidence.EvidenceUnavailable):
            evidence.record(bad)
        assert evidence.writer() is not None
        assert evidence.record(_access()).count == 1  # the next batch is written
    finally:
        evidence.stop_writer()
    assert db.scalar(select(func.count()).select_from(AccessEvent)) == 1  # nothing of the failed batches


def test_r_shr_3_a_batch_the_database_refuses_leaves_nothing_behind(f, db):
    """The database refuses the seal (its place in the audit chain is taken, the last statement of the batch):
    none of the batch's events or subjects stay (on PostgreSQL they were already sent in the same pipeline), and
    the next batch is written on the same kind of connection."""
    from gongshu.audit.models import AuditHead

    evidence.record(_access())
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq - 1))  # the next seq exists
    db.commit()
    with pytest.raises(evidence.EvidenceUnavailable):
        evidence.record(_access(), _access(subjects=(evidence.subject_digest(ID2),)))
    assert db.scalar(select(func.count()).select_from(AccessEvent)) == 1
    assert db.scalar(select(func.count()).select_from(AccessSubject)) == 1
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    db.commit()
    seal = evidence.record(_access(subjects=(evidence.subject_digest(ID2),)))
    assert seal.count == 1 and evidence.verify_seal(db, seq=seal.seq).ok
    assert audit_service.verify(db).ok


def test_r_shr_3_a_caller_gives_up_after_the_timeout(f, db):
    stalled = evidence.Writer()  # never started: nothing will commit
    fut = stalled.submit([_access()])
    with pytest.raises(evidence.EvidenceUnavailable) as exc:
        evidence.result(fut, timeout=0.05)
    assert "超时" in exc.value.message and exc.value.status == 503
    with pytest.raises(ValueError):
        stalled.submit([_access(operation="download")])


def test_r_opn_7_access_events_by_grant_consumer_source_and_subject(f, db):
    c = cast(f)  # c.dept is the source, c.other_dept the consumer; a third department is unrelated
    third = f.actor(f.org(), ("dept_officer",))
    src, con = c.dept.id, c.other_dept.id
    evidence.record(
        _access(grant_id=1, consumer_org_id=con, source_org_id=src, subjects=tuple(evidence.subject_digests([ID1]))),
        _access(grant_id=1, consumer_org_id=con, source_org_id=src, result="denied", reason="row_out_of_scope",
                rows=0, subjects=tuple(evidence.subject_digests([ID2]))),
        _access(grant_id=2, consumer_org_id=con, source_org_id=src, operation="batch", keys=2,
                subjects=tuple(evidence.subject_digests([ID1, ID2]))),
        _access(grant_id=3, consumer_org_id=third.org_id, source_org_id=src, result="denied",
                reason="other_consumer", rows=0, subjects=tuple(evidence.subject_digests([ID1]))),
        _access(grant_id=None, consumer_org_id=None, source_org_id=None, application_id=None, entry_id=None,
                result="denied", reason="bad_credential", rows=0, subjects=()),
    )
    events, nxt = evidence.by_grant(db, actor=c.auditor, grant_id=1)
    assert [e.result for e in events] == ["denied", "ok"] and nxt is None  # newest first, denials included
    assert len(evidence.by_consumer(db, actor=c.auditor, org_id=con)[0]) == 3
    assert len(evidence.by_source(db, actor=c.auditor, org_id=src)[0]) == 4
    assert [e.grant_id for e in evidence.by_subject(db, actor=c.auditor, value=ID1)[0]] == [3, 2, 1]
    assert [e.grant_id for e in evidence.by_subject(db, actor=c.auditor, value=" 44010619850312002x")[0]] == [3, 2, 1]
    assert [e.reason for e in evidence.by_subject(db, actor=c.auditor, value=ID2, result="denied")[0]] == \
        ["row_out_of_scope"]
    assert [e.reason for e in evidence.search(db, actor=c.auditor, result="denied")[0]] == \
        ["bad_credential", "other_consumer", "row_out_of_scope"]
    assert len(evidence.search(db, actor=c.auditor, operation="batch")[0]) == 1
    today = utcnow().date()
    assert len(evidence.search(db, actor=c.auditor, since=today, until=today.isoformat())[0]) == 5
    assert evidence.search(db, actor=c.auditor, since=today + timedelta(days=1))[0] == []
    page1, nxt = evidence.search(db, actor=c.auditor, limit=2)
    page2, nxt2 = evidence.search(db, actor=c.auditor, limit=2, before_id=nxt)
    page3, nxt3 = evidence.search(db, actor=c.auditor, limit=2, before_id=nxt2)
    ids = [e.id for e in page1 + page2 + page3]
    assert len(ids) == 5 == len(set(ids)) and ids == sorted(ids, reverse=True) and nxt3 is None
    # departments see the events where they are consumer or source, nothing else
    assert len(evidence.search(db, actor=c.other_officer)[0]) == 3
    assert len(evidence.search(db, actor=c.officer)[0]) == 4
    assert [e.reason for e in evidence.search(db, actor=third)[0]] == ["other_consumer"]
    assert evidence.by_grant(db, actor=third, grant_id=1)[0] == []
    with pytest.raises(Forbidden):
        evidence.search(db, actor=c.staff)
    subjects = evidence.subjects_of(db, event_ids=[e.id for e in evidence.by_grant(db, actor=c.auditor, grant_id=2)[0]])
    assert sorted(next(iter(subjects.values()))) == sorted(evidence.subject_digests([ID1, ID2]))


def test_r_opn_7_access_event_queries_validate_their_filters(f, db):
    c = cast(f)
    for kw, field in (({"result": "maybe"}, "result"), ({"operation": "download"}, "operation"),
                      ({"since": "2026-13-01"}, "since"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit")):
        with pytest.raises(Invalid) as exc:
            evidence.search(db, actor=c.auditor, **kw)
        assert exc.value.field == field
    with pytest.raises(Invalid):
        evidence.by_subject(db, actor=c.auditor, value=" ")
