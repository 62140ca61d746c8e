"""Record and verify audit events.

Every state change calls :func:`record` inside its own transaction.  Each event's
SM3 hash covers its fields and the previous event's hash, so altering, deleting or
inserting a row breaks the chain; :func:`verify` finds the first such break.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Select, String, bindparam, cast, func, insert, select, update
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


@dataclass(frozen=True)
class Event:
    """One event for :func:`record_many` (the same fields :func:`record` takes)."""

    action: str
    subject_type: str
    subject_id: Any
    before: Any = None
    after: Any = None
    detail: dict[str, Any] | None = None


def _bump_head(session: Session, n: int) -> tuple[int, str]:
    """Reserve ``n`` sequence numbers; returns the first one and the previous hash.

    Bumping the head row first takes the write lock (row lock on PostgreSQL, the
    database write lock on SQLite), so concurrent appends form one chain.
    """
    last, prev_hash = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + n)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    return last - n + 1, prev_hash


def _chain(actor: ActorLike | None, events: list[Event], first_seq: int, prev_hash: str,
           request_id: str | None) -> list[dict[str, Any]]:
    at = utcnow().replace(tzinfo=None)
    rid = request_id or current_request_id()
    actor_id, actor_name = getattr(actor, "user_id", None), getattr(actor, "username", "system")
    org_id = getattr(actor, "org_id", None)
    rows = []
    for i, ev in enumerate(events):
        fields = dict(
            seq=first_seq + i, at=at, actor_id=actor_id, actor_name=actor_name, org_id=org_id, action=ev.action,
            subject_type=ev.subject_type, subject_id=str(ev.subject_id), before_digest=digest(ev.before),
            after_digest=digest(ev.after), request_id=rid, prev_hash=prev_hash,
            detail=json.dumps(ev.detail or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str),
        )
        fields["hash"] = prev_hash = _sm3(_material(**fields))
        rows.append(fields)
    return rows


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
    first, prev_hash = _bump_head(session, 1)
    (fields,) = _chain(actor, [Event(action, subject_type, subject_id, before, after, detail)], first, prev_hash,
                       request_id)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=fields["hash"]))
    event = AuditEvent(**fields)
    session.add(event)
    session.flush()
    return event


def record_many(session: Session, *, actor: ActorLike | None, events: list[Event],
                request_id: str | None = None) -> int:
    """Append many events by one actor in one statement (bulk imports); same chain as :func:`record`."""
    if not events:
        return 0
    session.flush()  # events recorded earlier in this transaction come first
    first, prev_hash = _bump_head(session, len(events))
    rows = _chain(actor, events, first, prev_hash, request_id)
    session.execute(insert(AuditEvent), rows)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=rows[-1]["hash"]))
    return len(rows)


# The hot path: Core statements, no ORM unit of work -------------------------------------------------------

_HEAD = AuditHead.__table__
_BUMP = (update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + bindparam("n"))
         .returning(_HEAD.c.seq, _HEAD.c.hash))
_SET_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("last_hash"))
_EVENTS = AuditEvent.__table__
_INSERT = insert(_EVENTS)
_COLUMNS = ("seq", "at", "actor_id", "actor_name", "org_id", "action", "subject_type", "subject_id",
            "before_digest", "after_digest", "detail", "request_id", "prev_hash", "hash")
_SQLITE_INSERT = (f"INSERT INTO {_EVENTS.name} ({', '.join(_COLUMNS)}) "  # noqa: S608 - fixed names
                  f"VALUES ({', '.join('?' for _ in _COLUMNS)})")
_SQLITE_BUMP = "UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash"
_SQLITE_SET_HASH = "UPDATE audit_head SET hash = ? WHERE id = 1"
_PG_INSERT = _SQLITE_INSERT.replace("?", "%s")
_PG_BUMP = _SQLITE_BUMP.replace("?", "%s")
_PG_SET_HASH = _SQLITE_SET_HASH.replace("?", "%s")
_RAW = {"sqlite": (_SQLITE_BUMP, _SQLITE_INSERT, _SQLITE_SET_HASH),
        "postgresql": (_PG_BUMP, _PG_INSERT, _PG_SET_HASH)}


@dataclass(frozen=True)
class Reserved:
    """Places in the chain taken by :func:`reserve`: ``count`` sequence numbers from ``first_seq``, following
    the event whose hash is ``prev_hash``."""

    first_seq: int
    count: int
    prev_hash: str


def _driver(session: Session):
    """The session's driver connection (sqlite3 or psycopg; statements on it run in the session's transaction)
    and this module's statements for it, else (None, None) for a driver the hot path does not know."""
    conn = session.connection()
    sql = _RAW.get(conn.dialect.name)
    if sql is None or (conn.dialect.name == "postgresql" and conn.dialect.driver != "psycopg"):
        return None, None
    return conn.connection.driver_connection, sql


def reserve(session: Session, n: int = 1) -> Reserved:
    """Take the next ``n`` places in the chain now — the head stays locked until the transaction ends — for
    :func:`append` to fill later in the same transaction with exactly ``n`` events, nothing else appended in
    between. For a writer that must know an event's sequence number before it can compose the event (the
    sharing evidence writer marks each access event with the number of the audit event that seals it)."""
    session.flush()  # events recorded earlier in this transaction come first
    raw, sql = _driver(session)
    if raw is not None:
        last, prev_hash = raw.execute(sql[0], (n,)).fetchone()
    else:
        last, prev_hash = session.connection().execute(_BUMP, {"n": n}).one()
    _expire_head(session)
    return Reserved(first_seq=last - n + 1, count=n, prev_hash=prev_hash)


def _expire_head(session: Session) -> None:
    """The head, if this session has loaded it, is read afresh next time (it was changed behind the ORM)."""
    head = session.identity_map.get(Session.identity_key(AuditHead, 1))
    if head is not None:
        session.expire(head)


def append(session: Session, *, actor: ActorLike | None, events: list[Event], request_id: str | None = None,
           reserved: Reserved | None = None) -> list[dict[str, Any]]:
    """:func:`record_many` for hot paths: the same chain and hashes, in three statements on the session's
    connection (reserve the places — or fill those :func:`reserve` took —, insert, set the head's hash) and no
    ORM unit of work: straight on the driver (sqlite3, psycopg), the values converted by the columns' own types.
    The insert and the update fetch nothing, so inside a psycopg pipeline they travel with the caller's other
    statements in one round trip. Returns the appended rows (``seq``, ``hash`` …)."""
    if not events:
        return []
    if reserved is None:
        reserved = reserve(session, len(events))
    elif reserved.count != len(events):
        raise ValueError(f"{len(events)} events for {reserved.count} reserved places in the audit chain")
    rows = _chain(actor, events, reserved.first_seq, reserved.prev_hash, request_id)
    raw, sql = _driver(session)
    if raw is not None:
        at = _bind_processor(session, "at")
        values = [tuple(at(r["at"]) if c == "at" else r[c] for c in _COLUMNS) for r in rows]
        cur = raw.cursor()
        if len(values) == 1:
            cur.execute(sql[1], values[0])
        else:
            cur.executemany(sql[1], values)
        cur.execute(sql[2], (rows[-1]["hash"],))
    else:
        conn = session.connection()
        conn.execute(_INSERT, rows)
        conn.execute(_SET_HASH, {"last_hash": rows[-1]["hash"]})
    _expire_head(session)
    return rows


_processors: dict[tuple[str, str], Any] = {}


def _bind_processor(session: Session, column: str):
    """How a Core statement would convert a value of ``audit_event.<column>`` for the session's database."""
    dialect = session.connection().dialect
    key = (dialect.name, column)
    proc = _processors.get(key)
    if proc is None:
        t = _EVENTS.c[column].type
        proc = _processors[key] = t.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    return proc


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str | None = None  # altered / deleted / inserted / truncated
    seq: int | None = None
    event_id: int | None = None
    message: str = ""
    message_en: str = ""


def _stream(session: Session, batch: int) -> Iterator[list[tuple]]:
    """Batches of (id, seq, prev_hash, hash, material text) in chain order, straight from the driver.

    PostgreSQL renders the hashed fields as text itself (server side, in C, on another
    core) through a named server-side cursor; SQLite hands back its stored text, and
    only the few non-text fields are converted here.
    """
    e = AuditEvent
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    if pg:
        def txt(col):
            return func.coalesce(cast(col, String), "")
        at = func.to_char(func.timezone("UTC", e.at), 'YYYY-MM-DD"T"HH24:MI:SS.US')
        cols = (e.id, e.seq, e.prev_hash, e.hash, txt(e.seq), at, txt(e.actor_id), e.actor_name, txt(e.org_id),
                e.action, e.subject_type, e.subject_id, txt(e.before_digest), txt(e.after_digest), e.detail,
                e.request_id, e.prev_hash)
    else:
        cols = (e.id, e.seq, e.prev_hash, e.hash, e.at, e.actor_id, e.actor_name, e.org_id, e.action, e.subject_type,
                e.subject_id, e.before_digest, e.after_digest, e.detail, e.request_id)
    sql = str(select(*cols).order_by(e.seq, e.id).compile(dialect=conn.dialect,
                                                           compile_kwargs={"literal_binds": True}))
    raw = conn.connection.driver_connection
    cur = raw.cursor(name="gongshu_audit_verify") if pg else raw.cursor()
    if pg:
        cur.itersize = batch
    cur.execute(sql)
    sep = _SEP
    try:
        while rows := cur.fetchmany(batch):
            if pg:
                yield [(r[0], r[1], r[2], r[3], sep.join(r[4:])) for r in rows]
            else:  # stored 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) -> isoformat with 'T'
                yield [(r[0], r[1], r[2], r[3], sep.join((
                    str(r[1]), r[4][:10] + "T" + r[4][11:], "" if r[5] is None else str(r[5]), r[6],
                    "" if r[7] is None else str(r[7]), r[8], r[9], r[10], r[11] or "", r[12] or "", r[13], r[14],
                    r[2]))) for r in rows]
    finally:
        cur.close()


def verify(session: Session, *, batch: int = 20000) -> VerifyResult:
    """Recompute the whole chain; name the first event that was altered, deleted or inserted."""
    prev_hash = GENESIS
    prev_prev_hash: str | None = None
    prev_seq: int | None = None
    prev_id: int | None = None
    expected_seq = 1
    checked = 0
    sm3 = hashes.SM3()
    new_hash = hashes.Hash
    for part in _stream(session, batch):
        for eid, seq, prev, stored, material in part:
            if prev != prev_hash:
                # this row does not link to the one before it
                if prev_prev_hash is not None and prev == prev_prev_hash:
                    return _fail("inserted", checked - 1, prev_seq, prev_id)  # the row before was slipped in
                if seq > expected_seq:
                    return _fail("deleted", checked, expected_seq, eid)
                return _fail("altered", checked, seq, eid)
            h = new_hash(sm3)
            h.update(material.encode())
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
