"""Evidence of sharing (R-OPN-7 style logging, R-SHR-3/5): every call and delivery, allowed or denied,
becomes an :class:`~gongshu.sharing.models.AccessEvent` with the HMAC-SM3 digests of the keys it touched
(:class:`~gongshu.sharing.models.AccessSubject`), never the raw key or the payload.

Writing: :func:`record` hands events to the **group-commit writer** when one runs (the API process starts it
with the application, :func:`start_writer`): a background thread that owns its own database sessions
(:func:`gongshu.db.unit_of_work`), collects what is queued, writes each table with one bulk insert, and seals
the batch with ONE audit event ``sharing.access.seal`` (count, first/last event id and the SM3 of the batch's
canonical serialisation, :func:`verify_seal`) in the same transaction. The caller blocks until its batch is
committed and gets :class:`EvidenceUnavailable` (HTTP 503) when that fails or takes longer than
``timeout``: no data is served without evidence. Without a running writer (CLI, jobs, service tests),
:func:`record` writes synchronously in a transaction of its own from the same session factory (in tests: the
test's, so it is rolled back with the test). Evidence is never written in the caller's transaction by
:func:`record` — a refused call rolls its transaction back, and its evidence must stay. Callers that want
the event to commit atomically with their own change (an exchange package row, say) call :func:`write` with
their session instead. Either way, call :func:`record` with no write transaction of your own open on the
metadata database (on SQLite it would wait on your lock).

Reading: :func:`search` by grant, consumer, source, data subject (the digest of e.g. an ID number, see
:func:`subject_digest`, which the data-subject issue reuses), result, operation and time, newest first in
keyset pages; denials included. Departments see the events where they are consumer or source
(``sharing.access.view``); the authority and auditors all (``sharing.view_all``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import Connection, Select, func, insert, or_, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.audit.models import AuditEvent
from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, can, require
from gongshu.config import get_settings
from gongshu.crypto import sm4
from gongshu.db import unit_of_work, utcnow
from gongshu.errors import GongshuError, Invalid
from gongshu.kit.hashing import canonical_json, sm3_hex
from gongshu.sharing.models import AccessEvent, AccessSubject
from gongshu.sharing.service import grants as _grants  # noqa: F401 - declares sharing.view_all, used below

log = logging.getLogger(__name__)

declare("sharing.access.view", "查看本部门作为使用方或数源方的共享访问记录",
        "See the sharing access records where one's department is consumer or source",
        {"dept_officer"}, scope="own_org", writes=False)

SUBJECT_PURPOSE = "sharing.subject-digest"
SEAL_ACTION = "sharing.access.seal"
OPERATIONS = ("lookup", "batch", "query", "verify", "exchange", "analysis",
              "open_view", "open_preview", "open_rows", "open_download")  # the last four: open data (R-OPN-7)
RESULTS = ("ok", "denied", "not_found", "error")
#: how long a caller waits for its batch to commit before giving up (503)
WAIT_SECONDS = 5.0
MAX_BATCH = 1000
#: how long a batch waits for announced calls still running (see Writer)
LINGER_SECONDS = 0.003
MAX_PAGE = 500


class EvidenceUnavailable(GongshuError):
    """The access event could not be committed: the call is not served."""

    status = 503
    code = "evidence_unavailable"


@dataclass(frozen=True)
class Access:
    """One access event as a caller records it; ``subjects`` are :func:`subject_digest` values."""

    operation: str
    result: str
    reason: str = ""
    grant_id: int | None = None
    consumer_org_id: int | None = None
    source_org_id: int | None = None
    application_id: int | None = None
    entry_id: int | None = None
    end_user: str = ""
    purpose: str = ""
    items: tuple[str, ...] = ()
    keys: int = 0
    rows: int = 0
    latency_ms: float = 0.0
    subjects: tuple[str, ...] = ()
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Seal:
    """A committed batch: the audit event that seals it and what it covers."""

    seq: int
    count: int
    first_id: int
    last_id: int
    sm3: str
    ids: tuple[int, ...]


# Subject digests ------------------------------------------------------------------------------------

_macs: dict[tuple[str, str], hmac.HMAC] = {}


def _base_mac() -> hmac.HMAC:
    """The HMAC-SM3 keyed for subject digests, derived once per platform key source (the setting or environment
    variable, else the key file — read once: this is on every call's path; a replaced key file needs a restart)."""
    settings = get_settings()
    configured = getattr(settings, "data_key", "") or os.environ.get(sm4.ENV_VAR, "")
    source = ("key", configured) if configured else ("file", str(settings.data_dir))
    mac = _macs.get(source)
    if mac is None:
        mac = hmac.HMAC(sm4.derive_key(SUBJECT_PURPOSE, master=sm4.data_key()), hashes.SM3())
        _macs.clear()
        _macs[source] = mac
    return mac


def normalise_key(value: Any) -> str:
    """A key as digested: full-width to half-width (NFKC), trimmed, upper case (ID numbers end in X)."""
    return unicodedata.normalize("NFKC", str(value)).strip().upper()


def subject_digest(value: Any) -> str:
    """HMAC-SM3 (hex) of the normalised key with the platform key derived for purpose
    ``sharing.subject-digest``: ID numbers are brute-forceable, so never a bare hash."""
    return subject_digests([value])[0]


def subject_digests(values: Iterable[Any]) -> list[str]:
    base = _base_mac()
    out = []
    for v in values:
        mac = base.copy()
        mac.update(normalise_key(v).encode())
        out.append(mac.finalize().hex())
    return out


# Writing ----------------------------------------------------------------------------------------------

_FIELDS = ("grant_id", "consumer_org_id", "source_org_id", "application_id", "entry_id", "end_user", "purpose",
           "operation", "items", "keys", "rows", "result", "reason", "latency_ms")


def _check(a: Access) -> None:
    if a.operation not in OPERATIONS or a.result not in RESULTS:
        raise ValueError(f"access event with unknown operation/result {a.operation!r}/{a.result!r}")


def _row(a: Access) -> dict[str, Any]:
    _check(a)
    return {"at": a.at, "grant_id": a.grant_id, "consumer_org_id": a.consumer_org_id,
            "source_org_id": a.source_org_id, "application_id": a.application_id, "entry_id": a.entry_id,
            "end_user": a.end_user[:100], "purpose": a.purpose[:100], "operation": a.operation,
            "items": list(a.items), "keys": int(a.keys), "rows": int(a.rows), "result": a.result,
            "reason": a.reason[:200], "latency_ms": round(float(a.latency_ms), 3)}


def _naive_utc(at: datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def canonical(rows: Sequence[dict[str, Any]]) -> bytes:
    """The bytes a seal's SM3 covers: each event (id, time as naive UTC, its fields, sorted subject digests)
    as canonical JSON, in id order."""
    out = []
    for r in sorted(rows, key=lambda r: r["id"]):
        out.append([r["id"], _naive_utc(r["at"])] + [r[f] for f in _FIELDS] + [sorted(r["subjects"])])
    return canonical_json(out)


def write(session: Session, records: Sequence[Access]) -> Seal | None:
    """Write ``records`` into ``session``'s transaction and seal them with one audit event. Used by the writer,
    by :func:`record` without a writer, and by callers that want the evidence atomically with their own
    change. This is the hot path: the seal's place in the audit chain is taken first
    (:func:`gongshu.audit.service.reserve`), so each event is inserted already marked with it; then one
    insert per table, and the seal (:func:`gongshu.audit.service.append`) — statements straight on the driver,
    never an ORM unit of work. On PostgreSQL they go in a psycopg pipeline: the event ids and the reservation
    in one round trip, the inserts and the seal in a second (the commit is the third)."""
    if not records:
        return None
    rows = [_row(a) for a in records]
    conn = session.connection()
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        with raw.pipeline():
            ids_cursor = raw.execute(_PG_IDS, (len(rows),))  # queued; sent with the reservation's statement
            place = audit.reserve(session, 1)
            ids = sorted(r[0] for r in ids_cursor.fetchall())
            return _seal(session, conn, records, rows, place, ids)
    place = audit.reserve(session, 1)
    return _seal(session, conn, records, rows, place, _new_ids(conn, len(rows)))


def _seal(session: Session, conn: Connection, records: Sequence[Access], rows: list[dict[str, Any]],
          place: audit.Reserved, ids: list[int]) -> Seal:
    seq = place.first_seq
    subjects: list[tuple[int, str]] = []
    for event_id, a, r in zip(ids, records, rows, strict=True):
        r["id"], r["seal_seq"] = event_id, seq
        digests = sorted(set(a.subjects))
        subjects.extend((event_id, d) for d in digests)
        r["subjects"] = digests
    _insert(conn, rows, subjects)
    digest = sm3_hex(canonical(rows))
    audit.append(session, actor=None, reserved=place, events=[audit.Event(
        SEAL_ACTION, "share_access_batch", ids[0],
        detail={"count": len(ids), "first_id": ids[0], "last_id": ids[-1], "sm3": digest})])
    return Seal(seq=seq, count=len(ids), first_id=ids[0], last_id=ids[-1], sm3=digest, ids=tuple(ids))


_EVENTS = AccessEvent.__table__
_SUBJECTS = AccessSubject.__table__
_COLUMNS = ("id", "at", *_FIELDS, "seal_seq")
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_SUBJECTS = insert(_SUBJECTS)
_SQLITE_INSERT_EVENTS = (f"INSERT INTO share_access_event ({', '.join(_COLUMNS)}) "  # noqa: S608 - fixed names
                         f"VALUES ({', '.join('?' for _ in _COLUMNS)})")
_SQLITE_INSERT_SUBJECTS = "INSERT INTO share_access_subject (event_id, key_digest) VALUES (?, ?)"
_RAW_INSERTS = {"sqlite": (_SQLITE_INSERT_EVENTS, _SQLITE_INSERT_SUBJECTS),
                "postgresql": (_SQLITE_INSERT_EVENTS.replace("?", "%s"), _SQLITE_INSERT_SUBJECTS.replace("?", "%s"))}
_PG_IDS = "SELECT nextval(pg_get_serial_sequence('share_access_event', 'id')) FROM generate_series(1, %s)"


def _new_ids(conn: Connection, n: int) -> list[int]:
    """Ids for ``n`` new events, ascending. PostgreSQL: from the table's sequence. SQLite: the ones after the
    largest — the transaction holds the database's write lock (``BEGIN IMMEDIATE``), so they are free (should
    they not be, the insert fails on the primary key and the batch is refused, never mixed up); SQLite could
    not return the ids of a many-row insert in order."""
    if conn.dialect.name == "sqlite":
        top = conn.connection.driver_connection.execute("SELECT max(id) FROM share_access_event").fetchone()[0]
        return list(range((top or 0) + 1, (top or 0) + 1 + n))
    return sorted(conn.exec_driver_sql(_PG_IDS.replace("%s", "%(n)s"), {"n": n}).scalars())


def _insert(conn: Connection, rows: list[dict[str, Any]], subjects: list[tuple[int, str]]) -> None:
    """One insert per table, straight on the driver (sqlite3, psycopg), each value converted by its column's
    type as a Core insert would; Core inserts on other drivers."""
    sql = _RAW_INSERTS.get(conn.dialect.name)
    if sql is None or (conn.dialect.name == "postgresql" and conn.dialect.driver != "psycopg"):
        conn.execute(_INSERT_EVENTS, [{c: r[c] for c in _COLUMNS} for r in rows])
        if subjects:
            conn.execute(_INSERT_SUBJECTS, [{"event_id": e, "key_digest": d} for e, d in subjects])
        return
    at, items = _processor(conn, "at"), _processor(conn, "items")
    cur = conn.connection.driver_connection.cursor()
    cur.executemany(sql[0], [
        (r["id"], at(r["at"]), *(items(r[f]) if f == "items" else r[f] for f in _FIELDS), r["seal_seq"])
        for r in rows])
    if subjects:
        cur.executemany(sql[1], subjects)


_processors: dict[tuple[str, str], Any] = {}


def _processor(conn: Connection, column: str):
    """How a Core statement converts a value of ``share_access_event.<column>`` for the connection's database."""
    key = (conn.dialect.name, column)
    proc = _processors.get(key)
    if proc is None:
        t = _EVENTS.c[column].type
        proc = _processors[key] = t.dialect_impl(conn.dialect).bind_processor(conn.dialect) or (lambda v: v)
    return proc


@dataclass(frozen=True)
class SealCheck:
    ok: bool
    seq: int
    count: int
    expected_sm3: str
    actual_sm3: str


def verify_seal(session: Session, *, seq: int) -> SealCheck:
    """Recompute a batch's SM3 from the stored rows and compare it with its seal (altered, deleted or added
    rows of the batch make it differ)."""
    sealed = session.scalar(select(AuditEvent).where(AuditEvent.seq == seq, AuditEvent.action == SEAL_ACTION))
    if sealed is None:
        raise Invalid(f"没有编号为 {seq} 的访问记录封存事件", f"No access seal with sequence {seq}", field="seq")
    detail = json.loads(sealed.detail)
    events = session.scalars(select(AccessEvent).where(AccessEvent.seal_seq == seq)).all()
    digests = subjects_of(session, event_ids=[e.id for e in events])
    rows = [{"id": e.id, "at": e.at, **{f: getattr(e, f) for f in _FIELDS}, "subjects": digests[e.id]}
            for e in events]
    actual = sm3_hex(canonical(rows))
    return SealCheck(ok=actual == detail["sm3"] and len(rows) == detail["count"], seq=seq, count=len(rows),
                     expected_sm3=detail["sm3"], actual_sm3=actual)


class Writer:
    """The group-commit writer: one thread, its own sessions, one transaction and one seal per batch.

    A batch is what is queued when the thread is free, up to ``max_batch`` events. Calls announced with
    :func:`announce` (the API announces each call as it starts) are waited for, at most ``linger`` seconds, so
    the events of concurrent calls share one commit instead of queueing for one each; unannounced events
    (and an idle moment) are written at once."""

    def __init__(self, *, max_batch: int = MAX_BATCH, linger: float = LINGER_SECONDS) -> None:
        self.max_batch = max_batch
        self.linger = linger
        self._cv = threading.Condition()
        self._pending: deque[tuple[tuple[Access, ...], Future]] = deque()
        self._queued = 0  # events in _pending
        self._expected = 0  # announced calls that have not submitted yet
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.events = 0

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.alive:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sharing-evidence", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is None:
            return
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        self._thread.join(timeout)
        self._thread = None

    def expect(self) -> None:
        with self._cv:
            self._expected += 1

    def unexpect(self) -> None:
        with self._cv:
            self._expected = max(0, self._expected - 1)
            self._cv.notify_all()

    def submit(self, records: Sequence[Access], *, announced: bool = False) -> Future:
        for a in records:
            _check(a)
        fut: Future = Future()
        with self._cv:
            self._pending.append((tuple(records), fut))
            self._queued += len(records)
            if announced:
                self._expected = max(0, self._expected - 1)
            self._cv.notify_all()
        return fut

    def _take(self) -> tuple[list[tuple[tuple[Access, ...], Future]], bool]:
        with self._cv:
            while not self._pending and not self._stopping:
                self._cv.wait()
            if self._pending and self._expected > 0 and not self._stopping:
                deadline = time.monotonic() + self.linger
                while self._expected > 0 and self._queued < self.max_batch and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cv.wait(remaining)
            batch, n = [], 0
            while self._pending and (n < self.max_batch or not batch):
                item = self._pending.popleft()
                item[1].set_running_or_notify_cancel()  # a caller that gave up still gets its events written
                batch.append(item)
                n += len(item[0])
            self._queued -= n
            return batch, self._stopping and not self._pending

    def _run(self) -> None:
        done = False
        while not done:
            batch, done = self._take()
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[tuple[Access, ...], Future]]) -> None:
        records = [a for recs, _ in batch for a in recs]
        try:
            with unit_of_work() as session:
                seal = write(session, records)
        except Exception as exc:  # every waiter learns it; the thread lives on for the next batch
            log.exception("access evidence batch of %d events failed", len(records))
            for _, fut in batch:
                if not fut.cancelled():
                    fut.set_exception(exc)
            return
        self.batches += 1
        self.events += len(records)
        for _, fut in batch:
            if not fut.cancelled():
                fut.set_result(seal)


_writer: Writer | None = None
_users = 0
_writer_lock = threading.Lock()


def start_writer(**options: Any) -> Writer:
    """Start the process's writer (counted: the last :func:`stop_writer` stops it)."""
    global _writer, _users
    with _writer_lock:
        if _writer is None:
            _writer = Writer(**options)
        _writer.start()
        _users += 1
        return _writer


def stop_writer() -> None:
    global _writer, _users
    with _writer_lock:
        _users = max(0, _users - 1)
        if _users == 0 and _writer is not None:
            _writer.stop()
            _writer = None


def writer() -> Writer | None:
    """The running writer, if any."""
    w = _writer
    return w if w is not None and w.alive else None


class Ticket:
    """A call announced to the writer (see :class:`Writer`); pass it to :func:`record`, or :meth:`close` it
    when the call ends without recording."""

    def __init__(self, w: Writer | None) -> None:
        self._writer = w

    def take(self) -> Writer | None:
        w, self._writer = self._writer, None
        return w

    def close(self) -> None:
        w = self.take()
        if w is not None:
            w.unexpect()


def announce() -> Ticket:
    """Tell the running writer a call has started that will record events soon."""
    w = writer()
    if w is not None:
        w.expect()
    return Ticket(w)


def submit(*records: Access, ticket: Ticket | None = None) -> Future:
    """Queue ``records`` with the running writer, or write them now when none runs; a Future of the
    :class:`Seal` either way (for callers that await it, e.g. ``asyncio.wrap_future``)."""
    announced = ticket.take() if ticket is not None else None
    w = writer()
    if w is not None:
        if announced is not None and announced is not w:
            announced.unexpect()
        return w.submit(records, announced=announced is w)
    fut: Future = Future()
    try:
        with unit_of_work() as session:
            fut.set_result(write(session, records))
    except Exception as exc:
        log.exception("access evidence (synchronous) failed")
        fut.set_exception(exc)
    return fut


def result(fut: Future, timeout: float = WAIT_SECONDS) -> Seal | None:
    """The seal of a submitted batch, or :class:`EvidenceUnavailable` when it failed or timed out."""
    try:
        return fut.result(timeout)
    except (FutureTimeout, CancelledError):
        raise EvidenceUnavailable("访问记录写入超时，本次调用未提供数据，请稍后重试",
                                  "The access record could not be written in time; nothing was served — retry "
                                  "later") from None
    except Exception as exc:
        raise EvidenceUnavailable("访问记录写入失败，本次调用未提供数据，请稍后重试",
                                  "The access record could not be written; nothing was served — retry later") \
            from exc


def record(*records: Access, timeout: float = WAIT_SECONDS, ticket: Ticket | None = None) -> Seal | None:
    """Write ``records`` in their own transaction (the writer's batch, or a synchronous one) and return once
    committed; :class:`EvidenceUnavailable` if that fails or takes longer than ``timeout`` seconds."""
    return result(submit(*records, ticket=ticket), timeout)


# Reading ----------------------------------------------------------------------------------------------

def visible_to(actor: Actor) -> Select:
    stmt = select(AccessEvent)
    if can(actor, "sharing.view_all"):
        return stmt
    require(actor, "sharing.access.view", org_id=actor.org_id)
    return stmt.where(or_(AccessEvent.consumer_org_id == actor.org_id, AccessEvent.source_org_id == actor.org_id))


def _day(value: date | datetime | str | None, field_name: str, *, end: bool = False) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(f"日期格式应为 YYYY-MM-DD：{value}", f"Dates are YYYY-MM-DD: {value}", field=field_name) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime.combine(value, dtime.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def search(session: Session, *, actor: Actor, grant_id: int | None = None, consumer_org_id: int | None = None,
           source_org_id: int | None = None, entry_id: int | None = None, application_id: int | None = None,
           subject: str | None = None, digest: str | None = None, result: str | None = None,
           operation: str | None = None, since: date | datetime | str | None = None,
           until: date | datetime | str | None = None, before_id: int | None = None,
           limit: int = 50) -> tuple[list[AccessEvent], int | None]:
    """Access events the actor may see, newest first; ``subject`` is a raw key (e.g. an ID number) looked up
    by its digest, ``digest`` one already computed; ``until`` is inclusive (a date covers its whole day).
    Returns ``(events, next_before_id)`` — pass it back as ``before_id`` for the next page (None: last page)."""
    if not 1 <= int(limit) <= MAX_PAGE:
        raise Invalid(f"每页条数应在 1 到 {MAX_PAGE} 之间", f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if result is not None and result not in RESULTS:
        raise Invalid(f"结果“{result}”无效（可选：{'、'.join(RESULTS)}）", f"Unknown result '{result}'", field="result")
    if operation is not None and operation not in OPERATIONS:
        raise Invalid(f"操作“{operation}”无效（可选：{'、'.join(OPERATIONS)}）", f"Unknown operation '{operation}'",
                      field="operation")
    stmt = visible_to(actor)
    for col, value in ((AccessEvent.grant_id, grant_id), (AccessEvent.consumer_org_id, consumer_org_id),
                       (AccessEvent.source_org_id, source_org_id), (AccessEvent.entry_id, entry_id),
                       (AccessEvent.application_id, application_id), (AccessEvent.result, result),
                       (AccessEvent.operation, operation)):
        if value is not None:
            stmt = stmt.where(col == value)
    if subject is not None and str(subject).strip():
        digest = subject_digest(subject)
    if digest:
        stmt = stmt.where(AccessEvent.id.in_(select(AccessSubject.event_id)
                                             .where(AccessSubject.key_digest == digest.strip().lower())))
    lo, hi = _day(since, "since"), _day(until, "until", end=True)
    if lo is not None:
        stmt = stmt.where(AccessEvent.at >= lo)
    if hi is not None:
        stmt = stmt.where(AccessEvent.at < hi)
    if before_id is not None:
        stmt = stmt.where(AccessEvent.id < int(before_id))
    found = list(session.scalars(stmt.order_by(AccessEvent.id.desc()).limit(int(limit) + 1)))
    more = len(found) > limit
    found = found[:limit]
    return found, (found[-1].id if more and found else None)


def by_grant(session: Session, *, actor: Actor, grant_id: int, **filters: Any):
    return search(session, actor=actor, grant_id=grant_id, **filters)


def by_consumer(session: Session, *, actor: Actor, org_id: int, **filters: Any):
    return search(session, actor=actor, consumer_org_id=org_id, **filters)


def by_source(session: Session, *, actor: Actor, org_id: int, **filters: Any):
    return search(session, actor=actor, source_org_id=org_id, **filters)


def by_subject(session: Session, *, actor: Actor, value: str, **filters: Any):
    """Who accessed (or tried to access) the data of the subject with key ``value`` (e.g. an ID number)."""
    if not str(value or "").strip():
        raise Invalid("请填写要查询的主键值（如公民身份号码）", "Give the key value (e.g. an ID number)", field="value")
    return search(session, actor=actor, subject=value, **filters)


def subjects_of(session: Session, *, event_ids: Sequence[int]) -> dict[int, list[str]]:
    """The key digests of some events (event id -> digests)."""
    out: dict[int, list[str]] = {i: [] for i in event_ids}
    if event_ids:
        for event_id, d in session.execute(select(AccessSubject.event_id, AccessSubject.key_digest)
                                           .where(AccessSubject.event_id.in_(list(event_ids)))
                                           .order_by(AccessSubject.event_id, AccessSubject.key_digest)):
            out[event_id].append(d)
    return out


def counts(session: Session, *, operations: Sequence[str], entry_ids: Sequence[int] | None = None,
           result: str | None = "ok") -> dict[int, dict[str, int]]:
    """Access events per entry and operation (by default only those served): public usage statistics of open
    data (R-OPN-7). ``entry_ids``: only these entries (else every entry with such events)."""
    stmt = (select(AccessEvent.entry_id, AccessEvent.operation, func.count())
            .where(AccessEvent.operation.in_(tuple(operations)), AccessEvent.entry_id.is_not(None))
            .group_by(AccessEvent.entry_id, AccessEvent.operation))
    if result is not None:
        stmt = stmt.where(AccessEvent.result == result)
    if entry_ids is not None:
        stmt = stmt.where(AccessEvent.entry_id.in_(list(entry_ids)))
    out: dict[int, dict[str, int]] = {}
    for entry_id, operation, n in session.execute(stmt):
        out.setdefault(entry_id, {})[operation] = int(n)
    return out
