"""API mode for consumer applications (接口共享, R-SHR-5): ``/api/v1/share/…``.

Applications authenticate with their client credentials, never a staff session or token::

    X-Client-Id: gsa_…            X-Client-Secret: …           (from the consumer's application page)
    X-End-User: 经办人             X-Purpose: 事项编号           (UTF-8, or percent-encoded)

Every call, allowed or refused, is logged as an access event before the answer leaves (see
:mod:`gongshu.sharing.service.access`); the request's metadata transaction ends before the event is written.
Inputs (path, query, body) are parsed by the service so a malformed call is logged too. The group-commit
evidence writer runs for the lifetime of the application (this router's lifespan).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gongshu.db import READ_ONLY, session_factory
from gongshu.sharing.service import access, analysis, evidence, verify


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    evidence.start_writer()
    try:
        yield
    finally:
        await run_in_threadpool(evidence.stop_writer)


POOL_THREADS = 4

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


def _read(fn: Callable[..., access.Outcome], kw: dict[str, Any]) -> access.Outcome:
    """The unit of work of one call: read only (a deferred transaction on SQLite), rolled back."""
    session = session_factory()()
    try:
        session.connection(execution_options={READ_ONLY: True})
        return fn(session, **kw)
    finally:
        session.close()  # rolls back


async def _answer(request: Request, fn: Callable[..., access.Outcome], **kw: Any) -> JSONResponse:
    kw["call"] = access.Call.from_headers(request.headers)
    quick = fn in _QUICK
    # a quick call is announced: the writer's next batch waits (briefly) for its event
    ticket = evidence.announce() if quick else evidence.Ticket(None)
    try:
        if quick:
            outcome = await asyncio.get_running_loop().run_in_executor(_quick_pool(), _read, fn, kw)
        else:
            outcome = await run_in_threadpool(_read, fn, kw)
        if evidence.writer() is None:  # no writer: the events are written synchronously, off the event loop
            body = await run_in_threadpool(access.finish, outcome, ticket=ticket)
        else:
            future = evidence.submit(*outcome.events, ticket=ticket)
            # wait without cancelling on timeout: the events are written anyway, the caller gets a 503
            await asyncio.wait({asyncio.wrap_future(future)}, timeout=evidence.WAIT_SECONDS)
            evidence.result(future, timeout=0)
            body = access.conclude(outcome)
    except access.RateLimited as exc:
        error = {**exc.to_dict(), "request_id": getattr(request.state, "request_id", "")}
        return JSONResponse({"error": error}, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    finally:
        ticket.close()
    return JSONResponse(body)


@router.get("/grants/{grant_id}/records", summary="按主键查询一条记录 Look up one record by key",
            description="`?key=…` (a compound key: repeat `key` in key order); optional `items=姓名,性别` "
                        "(granted items only). 404 when there is no such record in the grant's rows. " + _HEADERS_DOC)
async def lookup(grant_id: str, request: Request) -> JSONResponse:
    keys = request.query_params.getlist("key")
    return await _answer(request, access.lookup, grant_id=grant_id, key=keys if len(keys) != 1 else keys[0],
                         items=request.query_params.get("items"))


@router.post("/grants/{grant_id}/batch", summary="批量按主键查询（至多 1000 个）Batch lookup (≤ 1,000 keys)",
             description='Body: `{"keys": ["…", …], "items": ["姓名", …]}` (a compound key is a list). '
                         "Each answer says whether the record was found. " + _HEADERS_DOC)
async def batch(grant_id: str, request: Request) -> JSONResponse:
    return await _answer(request, access.batch, grant_id=grant_id, body=await request.body())


@router.post("/grants/{grant_id}/query", summary="按条件查询（键集分页）Filtered query (keyset pages)",
             description='Body: `{"filters": {"性别": "2"}, "items": [...], "limit": 100, "after": null}` — '
                         "equality filters on granted items; pass the previous page's `next` as `after`. "
                         + _HEADERS_DOC)
async def query(grant_id: str, request: Request) -> JSONResponse:
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
async def verify_records(grant_id: str, request: Request) -> JSONResponse:
    return await _answer(request, _verify, grant_id=grant_id, body=await request.body())


@router.post("/grants/{grant_id}/analysis", summary="集中分析：对授权视图运行只读 SQL On-platform analysis (read-only SQL)",
             description='Body: `{"sql": "…", "max_rows": 1000, "timeout_s": 30}` — one read-only query over the '
                         "view `granted` (granted items by name, masked ones masked, rows in scope), e.g. counts by "
                         "性别 grouped. Results are returned; the data is not. " + _HEADERS_DOC)
async def analyse(grant_id: str, request: Request) -> JSONResponse:
    return await _answer(request, _analyse, grant_id=grant_id, body=await request.body())
