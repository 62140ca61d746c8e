"""API mode (接口共享, R-SHR-5): the data path for consumer applications, with the least-privilege checks of
R-SHR-3 and evidence of every call.

Every call carries the application's credentials (``X-Client-Id`` / ``X-Client-Secret``), the end user
(经办人, ``X-End-User``) and the purpose or case number (事项编号, ``X-Purpose``); a call without them is
refused. Then, in this order: the credential (:func:`apps.authenticate`), the end user and purpose, the
application's rate limit (a token bucket per application in this process; 429 with ``Retry-After``), the
grant (:func:`grants.usable_snapshot` — the one check of :func:`grants.usable` on the grant's cached row:
consumer, bound application, mode ``api``, status, expiry), the serving data (:func:`grants.served`), the
items asked for (granted ones only) and the rows (:func:`grants.in_scope`; a row outside the grant's row
scope is "not found" to the caller but logged as denied with reason ``row_out_of_scope``). Values are served masked where the grant says
(:func:`grants.project`). Data is read only through the resource store (``lookup`` / ``query``) from the
entry's serving version.

A consumer department's staff member may also look up one record of an API grant in the workbench
(:func:`lookup_for_staff`, action ``sharing.api.use``): the same grant check (for the department, not bound to
an application: the browser is the platform's own channel and the logged-in user is the end user), a case
number, a per-user rate limit (:data:`STAFF_PER_MINUTE`), the same rows, masking and evidence.

Operations: :func:`lookup` (one key), :func:`batch` (up to 1,000 keys; costs ⌈n/100⌉ calls of the rate
limit), :func:`query` (equality filters on granted items, keyset pages with an opaque SM4-sealed cursor so
keys of rows not served never leave the platform).

Each function returns an :class:`Outcome` — the response body or the error, and the access events —
without raising for refusals; the edge ends its database transaction, then calls :func:`finish`, which
records the events (:func:`evidence.record`, blocking until committed) and only then returns the body or
raises the error. No evidence, no data: a failed evidence write is a 503.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sqlalchemy.orm import Session

from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, require
from gongshu.crypto import sm4
from gongshu.errors import Conflict, Forbidden, GongshuError, Invalid, NotFound, RateLimited, Unauthenticated
from gongshu.sharing.models import Grant
from gongshu.sharing.service import apps, evidence, grants
from gongshu.store import registry

HEADER_CLIENT_ID = "X-Client-Id"
HEADER_CLIENT_SECRET = "X-Client-Secret"
HEADER_END_USER = "X-End-User"
HEADER_PURPOSE = "X-Purpose"
MAX_HEADER = 100
MAX_BATCH_KEYS = 1000
KEYS_PER_CALL = 100  # a batch of n keys costs ceil(n / 100) calls of the rate limit
DEFAULT_PAGE = 100
MAX_PAGE = 500
MAX_SCAN = 10_000  # rows a query page may skip for the row scope before it returns what it has
BURST_SECONDS = 10  # a bucket holds this many seconds of the application's rate
MAX_KEY_CHARS = 200
CURSOR_PURPOSE = "sharing.api-cursor"
#: one-record lookups a staff member may make in the workbench per minute (and at most this many at once)
STAFF_PER_MINUTE = 60
STAFF_BURST = 20

declare("sharing.api.use", "在工作台逐条查询本部门接口共享授权的数据（经办人为本人）",
        "Look up single records of one's department's API-mode grants in the workbench (as the end user)",
        {"dept_officer", "dept_staff"}, scope="own_org", writes=False)


@dataclass(frozen=True)
class Call:
    """Who calls and why, as the request headers say; ``started`` is ``time.perf_counter()`` at arrival."""

    client_id: str
    secret: str
    end_user: str
    purpose: str
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], started: float | None = None) -> Call:
        return cls(client_id=(headers.get(HEADER_CLIENT_ID) or "").strip(),
                   secret=(headers.get(HEADER_CLIENT_SECRET) or "").strip(),
                   end_user=header_text(headers.get(HEADER_END_USER)),
                   purpose=header_text(headers.get(HEADER_PURPOSE)),
                   started=time.perf_counter() if started is None else started)


def header_text(raw: str | None) -> str:
    """A header as text: raw UTF-8 (which the server decodes as Latin-1) is recovered, and percent-encoding
    (RFC 3986, for clients that send only ASCII) is decoded. (Remembered: an application sends the same
    end users and purposes again and again.)"""
    if not raw:
        return ""
    text = _header_texts.get(raw)
    if text is None:
        text = _header_text(raw)
        if len(_header_texts) >= 4096:
            _header_texts.clear()
        _header_texts[raw] = text
    return text


_header_texts: dict[str, str] = {}


def _header_text(raw: str) -> str:
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if "%" in raw:
        raw = unquote(raw)
    return raw.strip()


@dataclass
class Outcome:
    """What a call produced: the body (success) or the error, and the access events to record first."""

    events: list[evidence.Access]
    body: dict[str, Any] | None = None
    error: BaseException | None = None


# Rate limits --------------------------------------------------------------------------------------------

@dataclass
class _Bucket:
    tokens: float
    stamp: float


_buckets: dict[str, _Bucket] = {}
_buckets_lock = threading.Lock()


def _take(client: apps.Client, cost: int) -> int:
    """Take ``cost`` tokens from the application's bucket; 0 when allowed, else seconds to wait."""
    per_second = client.rate_per_minute / 60.0
    return _take_from(client.client_id, per_second, max(float(cost), per_second * BURST_SECONDS, 1.0), cost)


def _take_from(name: str, per_second: float, capacity: float, cost: int) -> int:
    now = time.monotonic()
    with _buckets_lock:
        b = _buckets.get(name)
        if b is None:
            b = _buckets[name] = _Bucket(tokens=capacity, stamp=now)
        b.tokens = min(capacity, b.tokens + (now - b.stamp) * per_second)
        b.stamp = now
        if b.tokens >= cost:
            b.tokens -= cost
            return 0
        return max(1, math.ceil((cost - b.tokens) / per_second))


# The checks -------------------------------------------------------------------------------------------

class _Refused(Exception):
    """A refusal logged with ``result``/``reason`` the caller may not see (a row outside the scope is "not
    found"); the caller gets ``error``, or ``body`` (an empty page) when it is not an error to them."""

    def __init__(self, error: GongshuError | None, result: str, reason: str, body: dict | None = None) -> None:
        super().__init__(reason)
        self.error, self.result, self.reason, self.body = error, result, reason, body


@dataclass
class _Ctx:
    call: Call
    operation: str
    grant_id: int | None = None
    client: apps.Client | None = None
    grant: Grant | grants.Snapshot | None = None
    served: grants.Served | None = None
    items: tuple[str, ...] = ()
    keys: int = 0
    subjects: list[str] = field(default_factory=list)
    extra: list[evidence.Access] = field(default_factory=list)
    staff: Actor | None = None  # a staff member in the workbench instead of an application

    def event(self, result: str, reason: str = "", *, rows: int = 0, keys: int | None = None,
              subjects: Sequence[str] | None = None) -> evidence.Access:
        g, c = self.grant, self.client
        return evidence.Access(
            operation=self.operation, result=result, reason=reason, grant_id=self.grant_id,
            consumer_org_id=c.org_id if c else (self.staff.org_id if self.staff else None), source_org_id=g.source_org_id if g else None,
            application_id=c.application_id if c else None, entry_id=g.entry_id if g else None,
            end_user=self.call.end_user[:MAX_HEADER], purpose=self.call.purpose[:MAX_HEADER], items=self.items,
            keys=self.keys if keys is None else keys, rows=rows,
            latency_ms=(time.perf_counter() - self.call.started) * 1000.0,
            subjects=tuple(self.subjects if subjects is None else subjects))


def _header(value: str, reason: str, zh: str, en: str, header: str) -> None:
    if not value:
        raise _Refused(Invalid(f"缺少{zh}（请求头 {header}），调用被拒绝", f"{en} is required (header {header}); the "
                               "call is refused", field=header, details=[{"reason": f"missing_{reason}"}]),
                       "denied", f"missing_{reason}")
    if len(value) > MAX_HEADER or not value.isprintable() and any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _Refused(Invalid(f"{zh}（请求头 {header}）不能超过 {MAX_HEADER} 个字符，也不能含控制字符",
                               f"{en} (header {header}) may have at most {MAX_HEADER} characters and no control "
                               "characters", field=header, details=[{"reason": f"invalid_{reason}"}]),
                       "denied", f"invalid_{reason}")


def _authorize(session: Session, ctx: _Ctx, *, cost: int = 1) -> None:
    """Credential, end user and purpose, rate limit, grant, serving data — in that order."""
    try:
        ctx.client = apps.authenticate(session, client_id=ctx.call.client_id, secret=ctx.call.secret)
    except apps.BadCredential as exc:
        ctx.client = exc.client
        raise _Refused(exc, "denied", exc.reason) from None
    _header(ctx.call.end_user, "end_user", "经办人", "The end user", HEADER_END_USER)
    _header(ctx.call.purpose, "purpose", "事项编号（用途）", "The purpose / case number", HEADER_PURPOSE)
    wait = _take(ctx.client, cost)
    if wait:
        raise _Refused(RateLimited(wait), "denied", "rate_limited")
    if ctx.grant_id is None:
        raise _Refused(Forbidden("授权编号无效", "Invalid grant id", details=[{"reason": "no_grant"}]), "denied",
                       "no_grant")
    try:
        ctx.grant = grants.usable_snapshot(session, grant_id=ctx.grant_id, consumer_org_id=ctx.client.org_id,
                                           mode="api", application_id=ctx.client.application_id)
        ctx.served = _served(session, ctx.grant)
    except Forbidden as exc:
        ctx.grant = None  # _whose() names it for the log
        raise _Refused(exc, "denied", _reason(exc)) from None


def _authorize_staff(session: Session, ctx: _Ctx) -> None:
    """The staff member's permission in its own department, the case number, the per-user rate limit, the
    grant (for the department, in API mode; as any caller without an application), the serving data."""
    actor = ctx.staff
    assert actor is not None
    require(actor, "sharing.api.use", org_id=actor.org_id)
    purpose = ctx.call.purpose
    if not purpose or len(purpose) > MAX_HEADER or any(unicodedata.category(ch) == "Cc" for ch in purpose):
        raise _Refused(Invalid(f"请填写事项编号（办理的业务事项或案卷编号，至多 {MAX_HEADER} 个字符），它会记入访问记录",
                               f"Give the case number (事项编号, at most {MAX_HEADER} characters) of the matter "
                               "served; it is written into the access record", field="purpose",
                               details=[{"reason": "missing_purpose" if not purpose else "invalid_purpose"}]),
                       "denied", "missing_purpose" if not purpose else "invalid_purpose")
    wait = _take_from(f"user:{actor.user_id}", STAFF_PER_MINUTE / 60.0, float(STAFF_BURST), 1)
    if wait:
        raise _Refused(RateLimited(wait), "denied", "rate_limited")
    if ctx.grant_id is None:
        raise _Refused(Forbidden("授权编号无效", "Invalid grant id", details=[{"reason": "no_grant"}]), "denied",
                       "no_grant")
    try:
        ctx.grant = grants.usable_snapshot(session, grant_id=ctx.grant_id, consumer_org_id=actor.org_id,
                                           mode="api", application_id=None)
        ctx.served = _served(session, ctx.grant)
    except Forbidden as exc:
        ctx.grant = None
        raise _Refused(exc, "denied", _reason(exc)) from None


def _served(session: Session, grant: Grant | grants.Snapshot, *, fresh: bool = False) -> grants.Served:
    """:func:`grants.served`: the grant's granted columns, cached there (see :data:`grants.SERVED_SECONDS`)."""
    return grants.served(session, grant, fresh=fresh)


def _reason(exc: GongshuError) -> str:
    for d in exc.details:
        if isinstance(d, dict) and d.get("reason"):
            return str(d["reason"])
    return exc.code


def _choose_items(ctx: _Ctx, items: Any) -> list[str]:
    """The granted items to serve: those asked for (all granted ones by default); asking for an item the
    grant does not cover is refused."""
    granted = [c.label for c in ctx.served.granted]
    if items is None or items == "" or items == []:
        ctx.items = tuple(granted)
        return granted
    if isinstance(items, str):
        items = [p for p in items.replace("，", ",").replace("、", ",").split(",")]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise Invalid("items 应为信息项名称的列表", "items must be a list of data item names", field="items")
    wanted = list(dict.fromkeys(i.strip() for i in items if i.strip()))
    ctx.items = tuple(wanted)
    _granted(ctx, wanted, "items")
    return wanted


def _granted(ctx: _Ctx, labels: Sequence[str], what: str) -> None:
    have = {c.label for c in ctx.served.granted}
    extra = [label for label in labels if label not in have]
    if extra:
        raise Forbidden(f"授权不包括以下信息项：{'、'.join(extra)}", f"The grant does not cover these data items: "
                        f"{', '.join(extra)}", field=what, details=[{"reason": "item_not_granted", "items": extra}])


def _json(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _labelled(served: grants.Served, row: Mapping[str, Any]) -> dict[str, Any]:
    return {c.label: row.get(c.name) for c in served.columns}


def _serve_row(ctx: _Ctx, row: Mapping[str, Any], wanted: Sequence[str]) -> dict[str, Any]:
    shown = grants.project(ctx.grant, ctx.served, row)
    return {label: _json(shown[label]) for label in wanted}


def _head(ctx: _Ctx, wanted: Sequence[str]) -> dict[str, Any]:
    return {"grant_id": ctx.grant.id, "entry_id": ctx.grant.entry_id, "version": ctx.served.version.number,
            "items": list(wanted), "masked": [label for label in wanted if label in ctx.served.masked]}


def _run(session: Session, ctx: _Ctx, work: Callable[[], tuple[dict[str, Any], evidence.Access]]) -> Outcome:
    """Run ``work`` and turn every way it can end into an outcome with its access events."""
    try:
        body, event = work()
        return Outcome(events=[event, *ctx.extra], body=body)
    except _Refused as r:
        _whose(session, ctx)
        return Outcome(events=[ctx.event(r.result, r.reason), *ctx.extra], error=r.error, body=r.body)
    except GongshuError as exc:
        _whose(session, ctx)
        result = ("denied" if isinstance(exc, Forbidden | Unauthenticated | RateLimited)
                  else "not_found" if isinstance(exc, NotFound) else "error")
        return Outcome(events=[ctx.event(result, _reason(exc)), *ctx.extra], error=exc)
    except Exception as exc:  # noqa: BLE001 - logged as an error event, then re-raised by finish()
        return Outcome(events=[ctx.event("error", f"internal: {type(exc).__name__}"), *ctx.extra], error=exc)


def _whose(session: Session, ctx: _Ctx) -> None:
    """For the log of a refused call: the grant it named (so its source sees the attempt), if it exists."""
    if ctx.grant is None and ctx.grant_id is not None:
        try:
            ctx.grant = session.get(Grant, ctx.grant_id)
        except Exception:  # noqa: BLE001 - the event is still written, without the grant's source
            ctx.grant = None


def finish(outcome: Outcome, *, timeout: float = evidence.WAIT_SECONDS,
           ticket: evidence.Ticket | None = None) -> dict[str, Any]:
    """Record the outcome's access events (blocking until committed), then return its body or raise its error.
    Call it after the call's database transaction has ended; ``ticket``: from :func:`evidence.announce` at the
    start of the call."""
    evidence.record(*outcome.events, timeout=timeout, ticket=ticket)
    return conclude(outcome)


def conclude(outcome: Outcome) -> dict[str, Any]:
    """The body of an outcome whose events are recorded, or its error raised."""
    if outcome.error is not None:
        raise outcome.error
    assert outcome.body is not None
    return outcome.body


def _grant_id(value: Any) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 2**63 else None


def _payload(body: bytes | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if body is None or isinstance(body, Mapping):
        return body or {}
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("请求体不是有效的 JSON", "The request body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise Invalid("请求体应为 JSON 对象", "The request body must be a JSON object", field="body")
    return data


# Keys ---------------------------------------------------------------------------------------------------

def _key_parts(key: Any) -> list[str]:
    parts = [key] if isinstance(key, str | int) else key
    if not isinstance(parts, list | tuple) or not parts or not all(isinstance(p, str | int) for p in parts):
        raise Invalid("主键值应为文本，复合主键为文本列表", "A key is a text, or a list of texts for a compound key",
                      field="key")
    out = [str(p).strip() for p in parts]
    if any(not p or len(p) > MAX_KEY_CHARS for p in out):
        raise Invalid(f"主键值不能为空，也不能超过 {MAX_KEY_CHARS} 个字符", f"Key values must be 1 to {MAX_KEY_CHARS} "
                      "characters", field="key")
    return out


def _key_condition(ctx: _Ctx, parts: Sequence[str]) -> dict[str, str]:
    keys = ctx.served.keys
    if not keys:
        raise Conflict("该目录的数据没有主键，不能按主键查询，请使用条件查询", "The entry's data has no key: use the "
                       "filtered query", details=[{"reason": "no_key"}])
    _granted(ctx, [k.label for k in keys], "key")  # one looks up only by items one may see
    if len(parts) != len(keys):
        raise Invalid(f"主键由 {len(keys)} 个信息项组成（{'、'.join(k.label for k in keys)}），应给出同样多的值",
                      f"The key has {len(keys)} parts ({', '.join(k.label for k in keys)}); give as many values",
                      field="key")
    return {k.name: p for k, p in zip(keys, parts, strict=True)}


def _find(ctx: _Ctx, parts: Sequence[str], *, held: bool = False) -> tuple[dict | None, bool]:
    """(row, in scope) for one key; (None, True) when there is no such row. ``held``: through the store's
    per-thread connection (the one-key lookups, run by few threads), else its pool (batches)."""
    store, table, cond = registry.get_store(), ctx.served.version.table_name, _key_condition(ctx, parts)
    if held:
        row = store.lookup_key(table, ctx.served.columns, cond)
    else:
        found = store.lookup(table, ctx.served.columns, cond, limit=1)
        row = found[0] if found else None
    if row is None:
        return None, True
    return row, grants.in_scope(ctx.grant, _labelled(ctx.served, row))


def _reading(session: Session, ctx: _Ctx, read: Callable[[], Any]) -> Any:
    """``read()`` from the store; when the cached serving version's table is gone (a newer version was
    attached and retention removed the old one), read the grant's columns afresh and try once more."""
    try:
        return read()
    except NotFound as exc:
        if exc.field != "name":
            raise
        ctx.served = _served(session, ctx.grant, fresh=True)
        return read()


# Operations ---------------------------------------------------------------------------------------------

def lookup(session: Session, *, call: Call, grant_id: Any, key: Any, items: Any = None) -> Outcome:
    """One record by its key (``key``: the value, or a list of values for a compound key)."""
    return _lookup(session, _Ctx(call=call, operation="lookup", grant_id=_grant_id(grant_id), keys=1), key, items)


def lookup_for_staff(session: Session, *, actor: Actor, grant_id: Any, key: Any, purpose: str,
                     items: Any = None) -> Outcome:
    """:func:`lookup` by a staff member of the consumer department in the workbench: the end user is the
    staff member, ``purpose`` the case number (required)."""
    call = Call(client_id="", secret="", end_user=(actor.display_name or actor.username)[:MAX_HEADER],
                purpose=(purpose or "").strip())
    ctx = _Ctx(call=call, operation="lookup", grant_id=_grant_id(grant_id), keys=1, staff=actor)
    return _lookup(session, ctx, key, items)


def _lookup(session: Session, ctx: _Ctx, key: Any, items: Any) -> Outcome:
    def work():
        parts, problem = _attempt(lambda: _key_parts(key))
        ctx.subjects = evidence.subject_digests(parts or [])
        if ctx.staff is not None:
            _authorize_staff(session, ctx)
        else:
            _authorize(session, ctx)  # the credentials first: a stranger learns nothing about their input
        if problem is not None:
            raise problem
        wanted = _choose_items(ctx, items)
        row, ok = _reading(session, ctx, lambda: _find(ctx, parts, held=True))
        missing = NotFound("没有该主键的记录", "No record with this key", field="key")
        if row is None:
            raise _Refused(missing, "not_found", "")
        if not ok:
            raise _Refused(missing, "denied", "row_out_of_scope")
        return {**_head(ctx, wanted), "record": _serve_row(ctx, row, wanted)}, ctx.event("ok", rows=1)

    return _run(session, ctx, work)


def batch(session: Session, *, call: Call, grant_id: Any, body: bytes | Mapping[str, Any] | None) -> Outcome:
    """Up to 1,000 keys in one call: ``{"keys": [k, …], "items": [...]}``; each answer says found or not
    (a row outside the row scope is not found, and logged as a denied event of its own)."""
    ctx = _Ctx(call=call, operation="batch", grant_id=_grant_id(grant_id))

    def work():
        data, problem = _attempt(lambda: _payload(body))
        keys = (data or {}).get("keys")
        ctx.keys = len(keys) if isinstance(keys, list) else 0
        parts, bad_keys = _attempt(lambda: _batch_keys(keys))
        problem = problem or bad_keys
        digests = [evidence.subject_digests(p) for p in parts or []]
        ctx.subjects = sorted({d for ds in digests for d in ds})
        _authorize(session, ctx, cost=max(1, math.ceil(len(parts or ()) / KEYS_PER_CALL)))
        if problem is not None:
            raise problem
        wanted = _choose_items(ctx, data.get("items"))
        rows = _reading(session, ctx, lambda: [_find(ctx, p) for p in parts])
        answers, served_digests, hidden = [], set(), set()
        found = 0
        for key, (row, ok), ds in zip(keys, rows, digests, strict=True):
            if row is not None and ok:
                found += 1
                answers.append({"key": key, "found": True, "record": _serve_row(ctx, row, wanted)})
                served_digests.update(ds)
            else:
                answers.append({"key": key, "found": False})
                (served_digests if ok else hidden).update(ds)
        if hidden:
            ctx.extra.append(ctx.event("denied", "row_out_of_scope", keys=len(hidden), subjects=sorted(hidden)))
        event = ctx.event("ok", rows=found, subjects=sorted(served_digests))
        return {**_head(ctx, wanted), "found": found, "records": answers}, event

    return _run(session, ctx, work)


def _batch_keys(keys: Any) -> list[list[str]]:
    if not isinstance(keys, list) or not keys:
        raise Invalid("请在 keys 中给出至少一个主键值", "Give at least one key in 'keys'", field="keys")
    if len(keys) > MAX_BATCH_KEYS:
        raise Invalid(f"一次最多查询 {MAX_BATCH_KEYS} 个主键（本次 {len(keys)} 个）",
                      f"At most {MAX_BATCH_KEYS} keys per call ({len(keys)} given)", field="keys",
                      details=[{"reason": "too_many_keys"}])
    return [_key_parts(k) for k in keys]


def _attempt(parse: Callable[[], Any]) -> tuple[Any, Invalid | None]:
    """Parse input now, but report a problem only after the credentials were checked."""
    try:
        return parse(), None
    except Invalid as exc:
        return None, exc


def _seal_cursor(grant: Grant, version_id: int, after: Sequence[Any]) -> str:
    plain = json.dumps({"g": grant.id, "v": version_id, "a": [_json(a) for a in after]}, ensure_ascii=False)
    blob = sm4.encrypt(plain.encode(), purpose=CURSOR_PURPOSE)
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def _open_cursor(ctx: _Ctx, cursor: Any) -> list | None:
    if cursor is None or cursor == "":
        return None
    bad = Invalid("翻页位置（after）无效，请使用上一页返回的 next", "Invalid 'after': use the 'next' of the previous "
                  "page", field="after")
    if not isinstance(cursor, str) or len(cursor) > 4000:
        raise bad
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(sm4.decrypt(blob, purpose=CURSOR_PURPOSE))
    except (ValueError, GongshuError):
        raise bad from None
    if data.get("g") != ctx.grant.id:
        raise bad
    if data.get("v") != ctx.served.version.id:
        raise Conflict("数据已更新为新版本，请从第一页重新查询", "The data was updated to a new version: start again from "
                       "the first page", field="after", details=[{"reason": "stale_cursor"}])
    return list(data.get("a") or [])


def query(session: Session, *, call: Call, grant_id: Any, body: bytes | Mapping[str, Any] | None) -> Outcome:
    """Rows matching equality ``filters`` on granted items, in keyset pages:
    ``{"filters": {item: value}, "items": [...], "limit": 100, "after": next-of-previous-page}``."""
    ctx = _Ctx(call=call, operation="query", grant_id=_grant_id(grant_id))

    def work():
        _authorize(session, ctx)
        data = _payload(body)
        filters = data.get("filters") or {}
        if not isinstance(filters, dict) or not all(isinstance(v, str | int | float | bool) for v in filters.values()):
            raise Invalid("filters 应为 {信息项: 值} 的对象（只支持等值条件）",
                          "filters must be an object {item: value} (equality only)", field="filters")
        limit = data.get("limit", DEFAULT_PAGE)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"每页行数 limit 应在 1 到 {MAX_PAGE} 之间", f"limit must be between 1 and {MAX_PAGE}",
                          field="limit")
        wanted = _choose_items(ctx, data.get("items"))
        _granted(ctx, list(filters), "filters")
        after = _open_cursor(ctx, data.get("after"))
        by_label = {c.label: c for c in ctx.served.columns}
        flt = {by_label[k].name: v for k, v in filters.items()}
        for label, allowed in (ctx.grant.row_scope or {}).items():
            if label in filters:
                if str(filters[label]) not in {str(a) for a in allowed}:
                    raise _Refused(None, "denied", "row_out_of_scope",
                                   body={**_head(ctx, wanted), "records": [], "next": None})
            elif label in by_label and len(allowed) == 1:
                flt[by_label[label].name] = allowed[0]  # the scope as a filter; in_scope() still checks each row
        rows, nxt = _reading(session, ctx, lambda: _scan(ctx, flt, after, limit))
        key_values = [str(r.get(k.name)) for r in rows for k in ctx.served.keys]
        event = ctx.event("ok", rows=len(rows), keys=0, subjects=sorted(set(evidence.subject_digests(key_values))))
        body_out = {**_head(ctx, wanted), "records": [_serve_row(ctx, r, wanted) for r in rows],
                    "next": _seal_cursor(ctx.grant, ctx.served.version.id, nxt) if nxt is not None else None}
        return body_out, event

    return _run(session, ctx, work)


def _scan(ctx: _Ctx, flt: dict[str, Any], after: list | None, limit: int) -> tuple[list[dict], list | None]:
    """Keyset pages of the store, keeping rows in the grant's scope, until ``limit`` rows or MAX_SCAN read.
    Each store page asks only for as many rows as are still wanted, so the position is always a page end."""
    store, table = registry.get_store(), ctx.served.version.table_name
    out: list[dict] = []
    scanned = 0
    while True:
        page, after = store.query(table, ctx.served.columns, filters=flt or None, after=after,
                                  limit=limit - len(out))
        scanned += len(page)
        out.extend(r for r in page if grants.in_scope(ctx.grant, _labelled(ctx.served, r)))
        if after is None or len(out) >= limit or scanned >= MAX_SCAN:
            return out, after
