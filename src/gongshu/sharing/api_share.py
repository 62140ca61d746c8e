"""API mode for consumer applications (接口共享, R-SHR-5): ``/api/v1/share/…``.

Applications authenticate with their client credentials, never a staff session or token::

    X-Client-Id: gsa_…            X-Client-Secret: …           (from the consumer's application page)
    X-End-User: 经办人             X-Purpose: 事项编号           (UTF-8, or percent-encoded)

Every call, allowed or refused, is logged as an access event before the answer leaves (see
:mod:`gongshu.sharing.service.access`); the request's metadata transaction ends before the event is written.
Inputs (path, query, body) are parsed by the service so a malformed call is logged too. The group-commit
evidence writer runs for the lifetime of the application (this router's lifespan).

The one-key lookup (``GET …/grants/{id}/records``) is the applications' hot path: :class:`FastPath`, an ASGI
layer in front of the application's routing (``create_app`` installs it), answers it directly — the same
service call, the same answers and headers as the FastAPI route below, which stays for the OpenAPI
documentation (and answers a request that reaches it all the same). Its checks run on the event loop when
the resource store is the embedded SQLite one (everything but the key read is answered from the caches of
:mod:`.service.apps` and :mod:`.service.grants`; the read is a prepared statement on a connection kept
open), else on a few threads of their own; the wait for the group commit is awaited on the loop, with one
wake-up of the loop per committed batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from gongshu.db import READ_ONLY, session_factory
from gongshu.errors import GongshuError
from gongshu.kit.context import new_request_id
from gongshu.sharing.service import access, analysis, evidence, verify
from gongshu.store import registry

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    evidence.start_writer()
    try:
        yield
    finally:
        await run_in_threadpool(evidence.stop_writer)


POOL_THREADS = 4
#: run the one-key lookups' checks and read on the event loop: None = when the store is SQLite (a read of a
#: few cached pages, shorter than a hand-over to a thread); a PostgreSQL read waits for the network
INLINE: bool | None = None

router = APIRouter(prefix="/api/v1/share", tags=["share 接口共享（应用系统）"], lifespan=_lifespan)

_HEADERS_DOC = ("请求头 Headers: `X-Client-Id`, `X-Client-Secret`（应用凭证 application credentials）, "
                "`X-End-User`（经办人 end user）, `X-Purpose`（事项编号 purpose / case number）— all required.")


#: the threads that run the quick calls' database work (key lookups, query pages): few, so they do not fight
#: over the GIL (the wait for the evidence is awaited on the event loop, not in a thread). Slow calls (batches,
#: verification, analysis) run in the server's general thread pool and never hold these up.
_pool: ThreadPoolExecutor | None = None
_QUICK = (access.lookup, access.query)


def _quick_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="share-api")
    return _pool


_read_only_engines: dict[Engine, Engine] = {}


def _session() -> Session:
    """The unit of work of one call: read only, and opened lazily — a call answered from the caches never
    checks out a connection. On an engine, its connections begin read-only transactions (deferred on
    SQLite); a session bound to a connection (the tests') joins its transaction."""
    factory = session_factory()
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        return factory()
    ro = _read_only_engines.get(bind)
    if ro is None:
        ro = _read_only_engines[bind] = bind.execution_options(**{READ_ONLY: True})
    return factory(bind=ro)


class _LazySession:
    """The call's session (:func:`_session`), opened on first use: a call answered from the caches opens none."""

    __slots__ = ("_session",)

    def __init__(self) -> None:
        self._session: Session | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = _session()
        return getattr(self._session, name)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()  # rolls back


def _read(fn: Callable[..., access.Outcome], kw: dict[str, Any]) -> access.Outcome:
    session = _LazySession()
    try:
        return fn(session, **kw)
    finally:
        session.close()


def _inline() -> bool:
    return INLINE if INLINE is not None else registry.get_store().dialect == "sqlite"


class _Wakeups:
    """Resolves the loop's futures of committed evidence batches with one ``call_soon_threadsafe`` per batch
    (the writer's thread completes a batch's futures one after another)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.ready: list[asyncio.Future] = []
        self.scheduled = False

    def watch(self, fut: Future) -> asyncio.Future:
        waiter = self.loop.create_future()
        fut.add_done_callback(lambda _f: self._done(waiter))
        return waiter

    def _done(self, waiter: asyncio.Future) -> None:
        with self.lock:
            self.ready.append(waiter)
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self.lock:
            ready, self.ready, self.scheduled = self.ready, [], False
        for waiter in ready:
            if not waiter.done():
                waiter.set_result(None)


_wakeups: dict[asyncio.AbstractEventLoop, _Wakeups] = {}


async def _committed(fut: Future) -> None:
    """Wait (without blocking the loop) until the writer has committed ``fut``'s batch, at most
    :data:`evidence.WAIT_SECONDS`; the events are written anyway, a caller that gave up gets a 503."""
    loop = asyncio.get_running_loop()
    w = _wakeups.get(loop)
    if w is None:
        for old in [lp for lp in _wakeups if lp.is_closed()]:
            del _wakeups[old]
        w = _wakeups[loop] = _Wakeups(loop)
    waiter = w.watch(fut)
    timer = loop.call_later(evidence.WAIT_SECONDS, lambda: waiter.done() or waiter.set_result(None))
    try:
        await waiter
    finally:
        timer.cancel()


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


async def _respond(headers: Mapping[str, str], request_id: str, fn: Callable[..., access.Outcome],
                   kw: dict[str, Any]) -> tuple[int, bytes, list[tuple[str, str]]]:
    """One call of the share API: the service call, its events committed, and the answer as (status, JSON
    body, extra headers); a refusal is answered as the application's error handler answers a GongshuError."""
    kw["call"] = access.Call.from_headers(headers)
    quick = fn in _QUICK
    inline = fn is access.lookup and _inline()
    # a quick call run on a thread is announced: the writer's next batch waits (briefly) for its event
    ticket = evidence.announce() if quick and not inline else evidence.Ticket(None)
    try:
        if inline:
            outcome = _read(fn, kw)
        elif quick:
            outcome = await asyncio.get_running_loop().run_in_executor(_quick_pool(), _read, fn, kw)
        else:
            outcome = await run_in_threadpool(_read, fn, kw)
        if evidence.writer() is None:  # no writer: the events are written synchronously, off the event loop
            body = await run_in_threadpool(access.finish, outcome, ticket=ticket)
        else:
            future = evidence.submit(*outcome.events, ticket=ticket)
            await _committed(future)
            evidence.result(future, timeout=0)
            body = access.conclude(outcome)
    except GongshuError as exc:
        extra = [("Retry-After", str(exc.retry_after))] if isinstance(exc, access.RateLimited) else []
        return exc.status, _json({"error": {**exc.to_dict(), "request_id": request_id}}), extra
    finally:
        ticket.close()
    return 200, _json(body), []


async def _answer(request: Request, fn: Callable[..., access.Outcome], **kw: Any) -> Response:
    status, body, extra = await _respond(request.headers, getattr(request.state, "request_id", ""), fn, kw)
    return Response(body, status_code=status, headers=dict(extra), media_type="application/json")


# The hot path, in front of the routing ---------------------------------------------------------------

_PREFIX = router.prefix + "/grants/"
_RECORDS = "/records"
_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                     (b"referrer-policy", b"same-origin")]


class FastPath:
    """ASGI layer answering ``GET /api/v1/share/grants/{grant_id}/records`` without the application's
    middleware, routing and dependency injection (what they would add — the request id, the security headers,
    the JSON error body, ``internal_error`` for an unexpected error — it adds itself); every other request
    goes to ``app``."""

    def __init__(self, app: ASGIApp, *, internal_error: Mapping[str, str]) -> None:
        self.app = app
        self.internal_error = dict(internal_error)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_RECORDS):
                grant_id = path[len(_PREFIX):-len(_RECORDS)]
                if grant_id and "/" not in grant_id:
                    await self._lookup(scope, send, grant_id)
                    return
        await self.app(scope, receive, send)

    async def _lookup(self, scope: Scope, send: Send, grant_id: str) -> None:
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or new_request_id()
        params = QueryParams(scope["query_string"])
        keys = params.getlist("key")
        try:
            status, body, extra = await _respond(headers, request_id, access.lookup, {
                "grant_id": grant_id, "key": keys if len(keys) != 1 else keys[0], "items": params.get("items")})
        except Exception:  # what the application's handler of unexpected errors does
            log.exception("unexpected error on GET %s", scope["path"])
            status, body, extra = 500, _json({"error": {**self.internal_error, "request_id": request_id}}), []
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"),
            (b"x-request-id", request_id.encode("latin-1")), *_SECURITY_HEADERS,
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra)]})
        await send({"type": "http.response.body", "body": body})


# The routes (OpenAPI) ----------------------------------------------------------------------------------

@router.get("/grants/{grant_id}/records", summary="按主键查询一条记录 Look up one record by key",
            description="`?key=…` (a compound key: repeat `key` in key order); optional `items=姓名,性别` "
                        "(granted items only). 404 when there is no such record in the grant's rows. " + _HEADERS_DOC)
async def lookup(grant_id: str, request: Request) -> Response:
    keys = request.query_params.getlist("key")
    return await _answer(request, access.lookup, grant_id=grant_id, key=keys if len(keys) != 1 else keys[0],
                         items=request.query_params.get("items"))


@router.post("/grants/{grant_id}/batch", summary="批量按主键查询（至多 1000 个）Batch lookup (≤ 1,000 keys)",
             description='Body: `{"keys": ["…", …], "items": ["姓名", …]}` (a compound key is a list). '
                         "Each answer says whether the record was found. " + _HEADERS_DOC)
async def batch(grant_id: str, request: Request) -> Response:
    return await _answer(request, access.batch, grant_id=grant_id, body=await request.body())


@router.post("/grants/{grant_id}/query", summary="按条件查询（键集分页）Filtered query (keyset pages)",
             description='Body: `{"filters": {"性别": "2"}, "items": [...], "limit": 100, "after": null}` — '
                         "equality filters on granted items; pass the previous page's `next` as `after`. "
                         + _HEADERS_DOC)
async def query(grant_id: str, request: Request) -> Response:
    return await _answer(request, access.query, grant_id=grant_id, body=await request.body())


# Verification and analysis (核验比对 R-SHR-4/10, 集中分析 R-SHR-5): the same credentials and headers ------------

def _verify(session: Session, *, call: access.Call, grant_id: str, body: bytes) -> access.Outcome:
    return verify.check(session, who=call, grant_id=grant_id, body=body)


def _analyse(session: Session, *, call: access.Call, grant_id: str, body: bytes) -> access.Outcome:
    return analysis.run(session, who=call, grant_id=grant_id, body=body)


@router.post("/grants/{grant_id}/verify", summary="核验比对（只答是否一致，不返回数据）Verify (match / no match, never the value)",
             description='Body: `{"checks": [{"key": "…", "item": "婚姻状况", "value": "已婚"}, '
                         '{"key": "…", "item": "缴费月数", "min": "12"}, …]}` (up to 10,000; a single check may be '
                         "the body itself). Answers `results`: `match` / `no_match` / `not_found` in order. "
                         "Rate-limited per consumer (429 with Retry-After). " + _HEADERS_DOC)
async def verify_records(grant_id: str, request: Request) -> Response:
    return await _answer(request, _verify, grant_id=grant_id, body=await request.body())


@router.post("/grants/{grant_id}/analysis", summary="集中分析：对授权视图运行只读 SQL On-platform analysis (read-only SQL)",
             description='Body: `{"sql": "…", "max_rows": 1000, "timeout_s": 30}` — one read-only query over the '
                         "view `granted` (granted items by name, masked ones masked, rows in scope), e.g. counts by "
                         "性别 grouped. Results are returned; the data is not. " + _HEADERS_DOC)
async def analyse(grant_id: str, request: Request) -> Response:
    return await _answer(request, _analyse, grant_id=grant_id, body=await request.body())
