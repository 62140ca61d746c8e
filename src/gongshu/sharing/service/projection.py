"""What the three non-API delivery paths share — exchange packages, on-platform analysis, verification
(R-SHR-3, R-SHR-4, R-SHR-5): a grant's view of its entry's data in DuckDB SQL, who is calling, and the
evidence of each call.

**The view.** What a consumer may see is decided by :mod:`.grants` (``usable`` → ``granted_columns``); this
module says it again in SQL, vectorised over the serving version's Parquet snapshot (no Python per row):

- :func:`view_sql` — the granted columns only, each named by its item label, masked items masked, only rows
  in the row scope (:func:`scope_sql`: AND over items of OR over allowed values, compared as text like
  :func:`.grants.in_scope`; a NULL, or an item the version lacks, is out of scope);
- :func:`mask_sql` — the masking of :func:`.grants.mask_value` in SQL. Which of the kit's masks a label gets
  is *asked of* ``mask_value`` (a probe value tells them apart), so the rule has one home; the four masks (ID
  number, name, mobile, first character) are written here and a test holds them equal to ``mask_value``
  value by value. The view computes each masked value's text once (an inner query) and masks it outside.

All SQL is built from labels quoted as identifiers, our own snapshot paths and the grant's scope values as
escaped string literals (the source approved them; DuckDB views cannot take parameters).

**Who calls.** A :class:`Staff` member (workbench, with its action checked in its own department) or an
application (:class:`.access.Call`: credential, end user and purpose, as in API mode); :func:`authorise` then
runs the one grant check. :func:`outcome` turns a call into an :class:`.access.Outcome` — the answer or the
error, and its access events — which the edge records with :func:`.access.finish` after its own database
transaction has ended (on SQLite an open transaction holds the write lock the evidence needs).

**Refusals of state-changing calls** (exchange builds and downloads, which run inside the caller's
transaction): :func:`record_refusal` hands the event to :func:`.evidence.submit` without waiting — its own
transaction, so it stays when the caller rolls back; the group-commit writer writes it once the caller's
transaction has ended. Allowed exchange deliveries write theirs with :func:`.evidence.write` in the caller's
transaction: it commits with the package, or neither does.
"""
# SQL here is built from quoted identifiers and escaped literals only (see above):
# ruff: noqa: S608

from __future__ import annotations

import math
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, require
from gongshu.errors import Conflict, Forbidden, GongshuError, Invalid, NotFound, Unauthenticated
from gongshu.ingest.service.files import snapshot_path
from gongshu.kit.identifiers import mask_id_number, mask_mobile, mask_name
from gongshu.sharing.models import Grant
from gongshu.sharing.service import access, apps, evidence, grants
from gongshu.store.service import Column, sql_ident, sql_literal

#: DuckDB limits for one call over a snapshot (it spills beyond the memory limit)
MEMORY_LIMIT = "512MB"
THREADS = 2
#: every character Python's str.strip() removes (the kit masks strip their input)
_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
_PROBE = "ABCDEFGHIJK"  # 11 characters: the four masks give four different results


def _char_class(chars: str) -> str:
    """An RE2 character class of ``chars`` (as ranges of code points)."""
    points = sorted(ord(c) for c in chars)
    ranges: list[list[int]] = []
    for p in points:
        if ranges and p == ranges[-1][1] + 1:
            ranges[-1][1] = p
        else:
            ranges.append([p, p])
    return "[" + "".join(f"\\x{{{a:x}}}" + (f"-\\x{{{b:x}}}" if b > a else "") for a, b in ranges) + "]"


_WS_CLASS = _char_class(_WHITESPACE)


def _strip(expr: str) -> str:
    """``expr`` without leading and trailing whitespace as Python's str.strip() sees it (one regexp: much
    faster in DuckDB than trim() with a character list)."""
    return f"regexp_replace({expr}, {sql_literal(f'^{_WS_CLASS}+|{_WS_CLASS}+$')}, '', 'g')"


def _as_text(expr: str, column: Column) -> str:
    """The value as Python's ``str()`` writes it (booleans ``True``/``False``, timestamps without trailing
    zeros of the fraction cut), which is what ``mask_value`` masks."""
    if column.type == "L":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'True' ELSE 'False' END"
    if column.type == "T":
        return (f"strftime({expr}, '%Y-%m-%d %H:%M:%S') || CASE WHEN microsecond({expr}) % 1000000 = 0 THEN '' "
                f"ELSE '.' || lpad(CAST(microsecond({expr}) % 1000000 AS VARCHAR), 6, '0') END")
    return f"CAST({expr} AS VARCHAR)"


def _kind(label: str, item: Mapping[str, Any] | None) -> str:
    """Which mask ``grants.mask_value`` applies to ``label`` — told apart by its output on a probe."""
    out = grants.mask_value(label, _PROBE, dict(item or {}))
    kinds = {mask_id_number(_PROBE): "id", mask_name(_PROBE): "name", mask_mobile(_PROBE): "mobile",
             _PROBE[0] + "*" * min(len(_PROBE) - 1, 8): "first"}
    if out not in kinds:
        raise RuntimeError(f"grants.mask_value has a mask for {label!r} that projection.mask_sql does not know")
    return kinds[out]


def _mask_parts(label: str, item: Mapping[str, Any] | None, column: Column) -> tuple[Callable[[str], str],
                                                                                  Callable[[str], str]]:
    """The mask of ``label`` in two steps: ``inner(expr)`` (the value as text, stripped when the kit's mask
    strips) and ``outer(v)`` (the mask over that text), so a query can compute the text once per row."""
    kind = _kind(label, item)
    if kind == "first":  # no strip: first character, then at most 8 stars
        return (lambda expr: _as_text(expr, column),
                lambda v: (f"CASE WHEN {v} IS NULL THEN NULL WHEN length({v}) <= 1 THEN '*' "
                           f"ELSE left({v}, 1) || repeat('*', least(length({v}) - 1, 8)) END"))

    def outer(v: str) -> str:
        n = f"length({v})"
        if kind == "id":
            body = f"CASE WHEN {n} <= 8 THEN repeat('*', {n}) ELSE left({v}, 4) || repeat('*', {n} - 8) || right({v}, 4) END"
        elif kind == "name":
            body = (f"CASE WHEN {n} <= 1 THEN {v} WHEN {n} <= 3 THEN left({v}, 1) || repeat('*', {n} - 1) "
                    f"ELSE left({v}, 2) || repeat('*', {n} - 2) END")
        else:  # mobile
            body = f"CASE WHEN {n} <> 11 THEN repeat('*', {n}) ELSE left({v}, 3) || '****' || right({v}, 4) END"
        return f"CASE WHEN {v} IS NULL THEN NULL ELSE {body} END"

    return (lambda expr: _strip(_as_text(expr, column))), outer


def mask_sql(label: str, item: Mapping[str, Any] | None, expr: str, column: Column) -> str:
    """SQL giving ``grants.mask_value(label, value, item)`` for the values of ``expr`` (NULL stays NULL)."""
    inner, outer = _mask_parts(label, item, column)
    return outer(inner(expr))


def _col(column: Column, alias: str | None) -> str:
    return f"{alias}.{sql_ident(column.name)}" if alias else sql_ident(column.name)


def scope_sql(grant: Grant, columns: Iterable[Column], *, alias: str | None = None) -> str:
    """The grant's row scope as a SQL predicate over the snapshot's columns (``true`` without a scope)."""
    return rows_sql(grant.row_scope or {}, columns, alias=alias)


def rows_sql(row_scope: Mapping[str, Iterable[Any]], columns: Iterable[Column], *, alias: str | None = None) -> str:
    """A row scope ({label: allowed values}) as a SQL predicate over the snapshot's columns (``true`` if empty)."""
    by_label = {c.label: c for c in columns}
    parts = []
    for label, allowed in sorted(row_scope.items()):
        column = by_label.get(label)
        values = sorted({str(a) for a in allowed or []})
        if column is None or not values:
            return "false"
        text = _as_text(_col(column, alias), column)
        parts.append(f"coalesce({text} IN ({', '.join(sql_literal(v) for v in values)}), false)")
    return " AND ".join(parts) or "true"


def snapshot_of(served: grants.Served) -> Path:
    """The serving version's snapshot file; :class:`Conflict` if it is gone (the grant cannot be served)."""
    path = snapshot_path(served.version)
    if not path.exists():
        raise Conflict(f"目录数据第 {served.version.number} 版的快照文件缺失，暂时无法提供，请联系数源部门",
                       f"The snapshot of data version {served.version.number} is missing; the data cannot be served "
                       "now — contact the source department", details=[{"reason": "snapshot_missing"}])
    return path


def read_sql(path: Path) -> str:
    """``read_parquet('<path>')`` for one of our own snapshot files."""
    return f"read_parquet({sql_literal(str(path))})"


def view_sql(grant: Grant, served: grants.Served, path: Path) -> str:
    """SELECT of the grant's view over ``path``: granted labels, masked, rows in scope. Two levels: the inner
    one reads the rows in scope and computes each masked value's text once, the outer one masks it."""
    return select_sql(served, path, where=scope_sql(grant, served.columns))


def select_sql(served: grants.Served, path: Path, *, where: str = "true") -> str:
    """SELECT over ``path`` of ``served.granted`` by label, ``served.masked`` masked, rows where ``where`` (a
    predicate over the snapshot's columns, e.g. :func:`rows_sql`), in the snapshot's order — the one projection
    behind a grant's view and the open data portal's rows."""
    inner, outer = [], []
    for i, c in enumerate(served.granted):
        name = f"_g{i}"
        if c.label in served.masked:
            to_text, mask = _mask_parts(c.label, served.items.get(c.label), c)
            inner.append(f"{to_text(sql_ident(c.name))} AS {name}")
            outer.append(f"{mask(name)} AS {sql_ident(c.label)}")
        else:
            inner.append(f"{sql_ident(c.name)} AS {name}")
            outer.append(f"{name} AS {sql_ident(c.label)}")
    return (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {read_sql(path)} "
            f"WHERE {where}) AS _granted")


def connect(*, threads: int = THREADS, memory_limit: str = MEMORY_LIMIT,
            temp_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with bounded memory and threads, spilling under ``temp_directory``."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    con.execute(f"SET threads = {int(threads)}")
    if temp_directory is not None:
        con.execute(f"SET temp_directory = {sql_literal(str(temp_directory))}")
    return con


_shared: duckdb.DuckDBPyConnection | None = None
_shared_lock = threading.Lock()


def cursor() -> duckdb.DuckDBPyConnection:
    """A connection (``cursor()``) to the process's shared in-memory DuckDB — memory and threads bounded
    once, spilling under the system's temporary directory — for short read-only queries over snapshots
    (verification): much cheaper than a database of its own per call. Close it after use; never harden it
    (analysis builds a database of its own per run)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = connect(temp_directory=Path(tempfile.gettempdir()) / "gongshu-duckdb")
        return _shared.cursor()


def version(session: Session, served: grants.Served, version_id: int | None) -> Any:
    """Another data version of the same entry by id (its class is the serving version's: no import of the
    ingest models here), or None."""
    return session.get(type(served.version), version_id) if version_id is not None else None


def refusal_reason(exc: GongshuError) -> str:
    """The reason code of a refusal: ``grants.usable``'s (no_grant, other_consumer, expired …), else the
    error's code (``forbidden`` for a missing permission, ``invalid`` for refused SQL …)."""
    for d in exc.details or []:
        if isinstance(d, dict) and d.get("reason"):
            return str(d["reason"])[:60]
    return exc.code


def record_refusal(session: Session, exc: GongshuError, *, operation: str, grant_id: int | None,
                   consumer_org_id: int | None, application_id: int | None = None, end_user: str = "",
                   purpose: str = "", started: float | None = None, keys: int = 0,
                   subjects: Iterable[str] = (), reason: str | None = None) -> None:
    """Record a refused call (result ``denied``) against the grant it asked for (with that grant's entry and
    source when it exists, so the source sees attempts on its data)."""
    grant = session.get(Grant, grant_id) if grant_id is not None else None
    evidence.submit(evidence.Access(
        operation=operation, result="denied", reason=(reason or refusal_reason(exc))[:200], grant_id=grant_id,
        consumer_org_id=consumer_org_id, source_org_id=grant.source_org_id if grant else None,
        application_id=application_id, entry_id=grant.entry_id if grant else None, end_user=end_user or "",
        purpose=purpose or "", items=tuple(grants.item_names(grant)) if grant else (), keys=keys,
        subjects=tuple(subjects),
        latency_ms=(time.perf_counter() - started) * 1000 if started is not None else 0.0))


# Who calls: staff through the workbench, or an application with its credentials --------------------------

@dataclass(frozen=True)
class Principal:
    """The consumer side of a call: department, application (None for staff), end user (经办人) and purpose
    (事项编号); ``started`` is ``time.perf_counter()`` at arrival."""

    org_id: int | None
    application_id: int | None
    end_user: str
    purpose: str
    started: float


@dataclass(frozen=True)
class Staff:
    """A staff member calling through the workbench (or a personal API token)."""

    actor: Actor
    purpose: str = ""
    started: float = field(default_factory=time.perf_counter)


Who = Staff | access.Call


def _header(value: str, reason: str, zh: str, en: str, header: str) -> None:
    if not value:
        raise Invalid(f"缺少{zh}（请求头 {header}），调用被拒绝", f"{en} is required (header {header}); the call is "
                      "refused", field=header, details=[{"reason": f"missing_{reason}"}])
    if len(value) > access.MAX_HEADER or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise Invalid(f"{zh}（请求头 {header}）不能超过 {access.MAX_HEADER} 个字符，也不能含控制字符",
                      f"{en} (header {header}) may have at most {access.MAX_HEADER} characters and no control "
                      "characters", field=header, details=[{"reason": f"invalid_{reason}"}])


@dataclass
class Ctx:
    """One call on its way: who, which grant, and what its access events say."""

    operation: str
    who: Who
    grant_id: int | None
    principal: Principal | None = None
    grant: Grant | None = None
    items: tuple[str, ...] = ()
    keys: int = 0
    subjects: list[str] = field(default_factory=list)
    note: str = ""  # appended to every event's reason (e.g. the SQL's SM3)
    extra: list[evidence.Access] = field(default_factory=list)
    application_id: int | None = None  # known from the credential even when it was refused

    @property
    def started(self) -> float:
        return self.who.started

    def event(self, result: str, reason: str = "", *, rows: int = 0, keys: int | None = None,
              subjects: Iterable[str] | None = None) -> evidence.Access:
        p, g = self.principal, self.grant
        staff = self.who.actor if isinstance(self.who, Staff) else None
        reason = "; ".join(r for r in (reason, self.note) if r)
        return evidence.Access(
            operation=self.operation, result=result, reason=reason[:200], grant_id=self.grant_id,
            consumer_org_id=p.org_id if p else (staff.org_id if staff else None),
            source_org_id=g.source_org_id if g else None,
            application_id=p.application_id if p else self.application_id, entry_id=g.entry_id if g else None,
            end_user=(p.end_user if p else (staff.display_name if staff else self.who.end_user))[:100],
            purpose=(p.purpose if p else self.who.purpose)[:100], items=self.items,
            keys=self.keys if keys is None else keys, rows=rows,
            latency_ms=(time.perf_counter() - self.started) * 1000.0,
            subjects=tuple(self.subjects if subjects is None else subjects))


def authorise(session: Session, ctx: Ctx, *, action: str, mode: str) -> grants.Served:
    """Who the caller is (staff: ``action`` in its own department; application: credential, end user and
    purpose), then the one grant check (:func:`.grants.usable` in ``mode``) and the serving data."""
    who = ctx.who
    if isinstance(who, Staff):
        require(who.actor, action, org_id=who.actor.org_id)
        ctx.principal = Principal(org_id=who.actor.org_id, application_id=None,
                                  end_user=who.actor.display_name or who.actor.username,
                                  purpose=(who.purpose or "").strip()[:100], started=who.started)
    else:
        try:
            client = apps.authenticate(session, client_id=who.client_id, secret=who.secret)
        except apps.BadCredential as exc:
            if exc.client is not None:
                ctx.application_id = exc.client.application_id
                ctx.principal = Principal(org_id=exc.client.org_id, application_id=exc.client.application_id,
                                          end_user=who.end_user, purpose=who.purpose, started=who.started)
            raise
        ctx.principal = Principal(org_id=client.org_id, application_id=client.application_id,
                                  end_user=who.end_user, purpose=who.purpose, started=who.started)
        _header(who.end_user, "end_user", "经办人", "The end user", access.HEADER_END_USER)
        _header(who.purpose, "purpose", "事项编号（用途）", "The purpose / case number", access.HEADER_PURPOSE)
    if ctx.grant_id is None:
        raise Forbidden("授权编号无效", "Invalid grant id", details=[{"reason": "no_grant"}])
    try:
        ctx.grant = grants.usable(session, grant_id=ctx.grant_id, consumer_org_id=ctx.principal.org_id, mode=mode,
                                  application_id=ctx.principal.application_id)
        return grants.granted_columns(session, ctx.grant)
    except Forbidden:
        ctx.grant = session.get(Grant, ctx.grant_id)  # for the log: whose data was asked for
        raise


def grant_id_of(value: Any) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 2**63 else None


class Refused(Exception):
    """A refusal whose access event says more than the error the caller gets (``result``, ``reason``)."""

    def __init__(self, error: GongshuError, *, result: str = "denied", reason: str = "") -> None:
        super().__init__(reason)
        self.error, self.result, self.reason = error, result, reason


def outcome(ctx: Ctx, work: Callable[[], tuple[dict[str, Any], evidence.Access]]) -> access.Outcome:
    """Run ``work`` and turn every way it can end into an :class:`.access.Outcome` with its access events
    (record them with :func:`.access.finish` once the call's transaction has ended)."""
    try:
        body, event = work()
        return access.Outcome(events=[event, *ctx.extra], body=body)
    except Refused as r:
        return access.Outcome(events=[ctx.event(r.result, r.reason), *ctx.extra], error=r.error)
    except GongshuError as exc:
        result = ("denied" if isinstance(exc, Forbidden | Unauthenticated | access.RateLimited)
                  else "not_found" if isinstance(exc, NotFound) else "error")
        if isinstance(exc, Invalid) and refusal_reason(exc).startswith(("missing_", "invalid_")):
            result = "denied"
        return access.Outcome(events=[ctx.event(result, refusal_reason(exc)), *ctx.extra], error=exc)
    except Exception as exc:  # noqa: BLE001 - logged as an error event, then re-raised by access.finish()
        return access.Outcome(events=[ctx.event("error", f"internal: {type(exc).__name__}"), *ctx.extra], error=exc)


class Bucket:
    """Token buckets per name (a consumer department, say) in this process: ``per_minute`` tokens a minute,
    holding at most ``burst`` (or the cost of the call, if larger)."""

    def __init__(self, per_minute: float, burst: float) -> None:
        self.per_minute, self.burst = per_minute, burst
        self._state: dict[Any, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: Any, cost: float) -> int:
        """0 when ``cost`` tokens were taken, else the seconds to wait."""
        per_second = self.per_minute / 60.0
        capacity = max(float(cost), self.burst)
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get(name, (capacity, now))
            tokens = min(capacity, tokens + (now - stamp) * per_second)
            if tokens >= cost:
                self._state[name] = (tokens - cost, now)
                return 0
            self._state[name] = (tokens, now)
            return max(1, math.ceil((cost - tokens) / per_second))

    def reset(self) -> None:
        with self._lock:
            self._state.clear()
