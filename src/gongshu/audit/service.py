"""Record and verify audit events.

Every state change calls :func:`record` inside its own transaction.  Each event's
SM3 hash covers its fields and the previous event's hash, so altering, deleting or
inserting a row breaks the chain; :func:`verify` finds the first such break.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Select, func, select, text, update
from sqlalchemy.orm import Session

from gongshu.audit.models import AuditEvent, AuditHead
from gongshu.db import utcnow
from gongshu.kit.context import current_request_id
from gongshu.kit.hashing import digest
from gongshu.kit.pagination import Page

GENESIS = "0" * 64
_SEP = "\x1f"


class ActorLike(Protocol):
    user_id: int | None
    username: str
    org_id: int | None


def _material(seq: int, at: datetime, actor_id, actor_name, org_id, action, subject_type, subject_id,
              before_digest, after_digest, detail: str, request_id: str, prev_hash: str) -> bytes:
    return _SEP.join((
        str(seq), at.isoformat(timespec="microseconds"), "" if actor_id is None else str(actor_id), actor_name,
        "" if org_id is None else str(org_id), action, subject_type, subject_id, before_digest or "",
        after_digest or "", detail, request_id, prev_hash,
    )).encode()


def _sm3(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def record(
    session: Session,
    *,
    actor: ActorLike | None,
    action: str,
    subject_type: str,
    subject_id: Any,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction.

    ``before``/``after`` are states of the subject; only their SM3 digests are kept,
    so the log proves what changed without copying personal data into it.
    """
    # Bumping the head row first takes the write lock (row lock on PostgreSQL,
    # the database write lock on SQLite) so concurrent appends form one chain.
    row = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    seq, prev_hash = row
    at = utcnow().replace(tzinfo=None)
    detail_text = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    rid = request_id or current_request_id()
    fields = dict(
        seq=seq, at=at, actor_id=getattr(actor, "user_id", None), actor_name=getattr(actor, "username", "system"),
        org_id=getattr(actor, "org_id", None), action=action, subject_type=subject_type,
        subject_id=str(subject_id), before_digest=digest(before), after_digest=digest(after),
        detail=detail_text, request_id=rid, prev_hash=prev_hash,
    )
    h = _sm3(_material(**fields))
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=h))
    event = AuditEvent(**fields, hash=h)
    session.add(event)
    session.flush()
    return event


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str | None = None  # altered / deleted / inserted / truncated
    seq: int | None = None
    event_id: int | None = None
    message: str = ""
    message_en: str = ""


_COLS = (AuditEvent.id, AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_name, AuditEvent.org_id,
         AuditEvent.action, AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.before_digest,
         AuditEvent.after_digest, AuditEvent.detail, AuditEvent.request_id, AuditEvent.prev_hash, AuditEvent.hash)


def _rows(session: Session, batch: int) -> Iterator[tuple]:
    result = session.execute(select(*_COLS).order_by(AuditEvent.seq, AuditEvent.id).execution_options(
        stream_results=True, yield_per=batch))
    for part in result.partitions(batch):
        yield from part


def verify(session: Session, *, batch: int = 20000) -> VerifyResult:
    """Recompute the whole chain; name the first event that was altered, deleted or inserted."""
    prev_hash = GENESIS
    prev_prev_hash: str | None = None
    prev_seq: int | None = None
    prev_id: int | None = None
    expected_seq = 1
    checked = 0
    sep = _SEP
    for row in _rows(session, batch):
        (eid, seq, at, actor_id, actor_name, org_id, action, stype, sid, bd, ad, detail, rid, prev, stored) = row
        if prev != prev_hash:
            # this row does not link to the one before it
            if prev_prev_hash is not None and prev == prev_prev_hash:
                return _fail("inserted", checked - 1, prev_seq, prev_id)  # the row before was slipped in
            if seq > expected_seq:
                return _fail("deleted", checked, expected_seq, eid)
            return _fail("altered", checked, seq, eid)
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        material = sep.join((
            str(seq), at.isoformat(timespec="microseconds"), "" if actor_id is None else str(actor_id), actor_name,
            "" if org_id is None else str(org_id), action, stype, sid, bd or "", ad or "", detail, rid, prev,
        )).encode()
        h = hashes.Hash(hashes.SM3())
        h.update(material)
        if h.finalize().hex() != stored:
            return _fail("altered", checked, seq, eid)
        if seq != expected_seq:
            return _fail("deleted" if seq > expected_seq else "inserted", checked, min(seq, expected_seq), eid)
        prev_prev_hash, prev_hash, prev_seq, prev_id = prev_hash, stored, seq, eid
        expected_seq += 1
        checked += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        if head.seq > expected_seq - 1:
            return _fail("deleted", checked, expected_seq, None)
        return _fail("inserted", checked, head.seq + 1, None)
    return VerifyResult(True, checked, message=f"审计链完整，共校验 {checked} 条事件",
                        message_en=f"Audit chain intact: {checked} events verified")


_WHAT = {
    "altered": ("被篡改", "was altered"),
    "deleted": ("之前有事件被删除", "follows a deleted event"),
    "inserted": ("为插入的事件", "was inserted"),
}


def _fail(problem: str, checked: int, seq: int | None, event_id: int | None) -> VerifyResult:
    zh, en = _WHAT[problem]
    where = f"序号 {seq}" + (f"（id {event_id}）" if event_id else "")
    where_en = f"seq {seq}" + (f" (id {event_id})" if event_id else "")
    return VerifyResult(False, checked, problem, seq, event_id, message=f"审计链断裂：{where} 的事件{zh}",
                        message_en=f"Audit chain broken: the event at {where_en} {en}")


def query(*, action: str | None = None, actor_name: str | None = None, org_id: int | None = None,
          subject_type: str | None = None, subject_id: str | None = None,
          since: datetime | None = None, until: datetime | None = None) -> Select:
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action.like(action.replace("*", "%") + ("" if "*" in action else "%")))
    if actor_name:
        stmt = stmt.where(AuditEvent.actor_name == actor_name)
    if org_id:
        stmt = stmt.where(AuditEvent.org_id == org_id)
    if subject_type:
        stmt = stmt.where(AuditEvent.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditEvent.subject_id == subject_id)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    if until:
        stmt = stmt.where(AuditEvent.at < until)
    return stmt


def search(session: Session, *, page: Page, **filters: Any) -> tuple[list[AuditEvent], int]:
    stmt = query(**filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEvent.seq.desc()).offset(page.offset).limit(page.size)).all()
    return list(rows), total


def ensure_head(session: Session) -> None:
    """Create the head row (migrations do it; kept for databases built from metadata)."""
    if session.get(AuditHead, 1) is None:
        session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": GENESIS})
