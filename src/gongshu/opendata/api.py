"""The open data portal's public data paths, no login (R-OPN-2, R-OPN-7, R-OPN-8):

- ``GET /api/v1/open/datasets/{ref}/preview?limit=20`` — the first rows of the current version;
- ``GET /api/v1/open/datasets/{ref}/rows?<item>=<value>&after=…&limit=100`` — equality filters on public items,
  keyset pages (:func:`.service.rows.page`);
- ``GET /open/datasets/{ref}/download.{csv|xlsx|json|parquet}?version=N`` — a streamed download of the current
  version or of an earlier listed one.

``ref`` is the dataset's id, catalogue code or slug (the code with ``-`` for ``/``). Only 无条件开放 data is
served (有条件开放: 403); public items only, masked where the rule says. Every call, served or refused, is an
access event (:mod:`.service.rows`): the service runs in a read-only unit of work of its own, which ends before
the events are recorded (:func:`gongshu.sharing.service.evidence.record` blocks until they are committed and
sealed) — no data leaves without its evidence; then the answer, or the error through the application's
handler (JSON under ``/api``). Every answer carries the attribution users must give (``X-Attribution``,
percent-encoded UTF-8; in JSON answers also ``attribution``) and the licence (``Link: <…>; rel="license"``).

Portal accounts call with their API keys (scoped, rate-limited: 429 with ``Retry-After``); 有条件开放 data goes
to an account whose application is active (:func:`.service.rows.may_read`), by key or from its signed-in session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gongshu.db import read_only_session
from gongshu.opendata.service import accounts, formats, rows
from gongshu.sharing.service import evidence
from gongshu.web.deps import PORTAL_KEY_PREFIX, bearer

router = APIRouter(tags=["open 开放数据（公众，无需登录）"])

def caller(request: Request) -> rows.Caller:
    """Who calls: a portal account by its API key (``Authorization: Bearer gso_…`` or ``X-Api-Key``), else by its
    signed-in portal session (downloads from the dataset page), else the anonymous public. The service resolves
    them (:func:`.service.rows.identify`: scope, rate limit) and the access log names the account."""
    key = bearer(request) or ""
    return rows.Caller(key=key if key.startswith(PORTAL_KEY_PREFIX) else "",
                       session_token=request.cookies.get(accounts.SESSION_COOKIE, ""))


def _call(fn: Callable[..., rows.Outcome], **kw: Any) -> rows.Outcome:
    """The service call in its own read-only unit of work, then its access events recorded (after the unit of
    work ended: on SQLite an open transaction would hold up the evidence writer)."""
    session = read_only_session()
    try:
        outcome = fn(session, **kw)
    finally:
        session.close()
    evidence.record(*outcome.events)
    return outcome


async def _serve(fn: Callable[..., rows.Outcome], **kw: Any) -> Any:
    outcome = await run_in_threadpool(_call, fn, **kw)
    if outcome.error is not None:
        raise outcome.error
    return outcome.body


def _attribution_headers(attribution: str, licence_url: str = "") -> dict[str, str]:
    headers = {"X-Attribution": quote(attribution, safe="")}
    if licence_url:
        headers["Link"] = f'<{licence_url}>; rel="license"'
    return headers


def _json(body: dict[str, Any]) -> Response:
    data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return Response(data, media_type="application/json", headers=_attribution_headers(body["attribution"]))


_ROWS_DOC = ("Query parameters: one `<item label>=<value>` per filter (equality, public unmasked items only; "
             "filtering on a masked item is refused), `limit` (1–500, default 100), `after` (the previous page's "
             "`next`). Rows come in key order, public items only, masked where the dataset's rule says. "
             "有条件开放 datasets answer 403.")


@router.get("/api/v1/open/datasets/{ref:path}/rows", summary="按条件查询开放数据（键集分页）Query an open dataset's rows "
            "(equality filters, keyset pages)", description=_ROWS_DOC)
async def rows_api(ref: str, request: Request, limit: str | None = Query(None, description="1–500, default 100"),
                   after: str | None = Query(None, description="the previous page's `next`")) -> Response:
    filters: dict[str, Any] = {}
    for key in dict.fromkeys(k for k, _ in request.query_params.multi_items()):
        if key not in rows.RESERVED:
            values = request.query_params.getlist(key)
            filters[key] = values[0] if len(values) == 1 else values
    body = await _serve(rows.serve_page, ref=ref, caller=caller(request), filters=filters, after=after, limit=limit)
    return _json(body)


@router.get("/api/v1/open/datasets/{ref:path}/preview", summary="预览开放数据的前若干行 Preview the first rows of an "
            "open dataset", description="`limit` 1–100 (default 20): the first rows of the current version, in key "
                                        "order, public items only, masked.")
async def preview_api(ref: str, request: Request,
                      limit: str | None = Query(None, description="1–100, default 20")) -> Response:
    body = await _serve(rows.serve_preview, ref=ref, caller=caller(request), limit=limit)
    return _json(body)


@router.get("/open/datasets/{ref:path}/download.{fmt}", summary="下载开放数据（CSV / XLSX / JSON / Parquet，流式）"
            "Download an open dataset (streamed)",
            description="`fmt`: csv (UTF-8 with BOM), xlsx (at most 1,048,575 rows), json (an array of objects) or "
                        "parquet. `version`: an earlier listed data version (default: the current one). Public "
                        "items only, masked. The attribution to give is in `X-Attribution` (percent-encoded).",
            response_class=StreamingResponse)
async def download(ref: str, fmt: str, request: Request,
                   version: str | None = Query(None, description="data version number")) -> Response:
    d: rows.Download = await _serve(rows.serve_download, ref=ref, caller=caller(request), fmt=fmt, number=version)
    headers = {
        "Content-Disposition": f"attachment; filename=\"{d.ascii_filename}\"; filename*=UTF-8''"
                               f"{quote(d.filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        **_attribution_headers(d.attribution, d.licence_url),
    }
    body = formats.stream(d.sql, d.fmt, d.labels, attribution=d.attribution, sheet=d.sheet, rows=d.rows)
    return StreamingResponse(body, media_type=formats.FORMATS[d.fmt], headers=headers)
