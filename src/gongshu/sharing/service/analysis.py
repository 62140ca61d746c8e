"""On-platform analysis (集中分析, R-SHR-5): the consumer runs read-only SQL over a view of its grant; results
are returned, the raw tables never are.

The view ``granted`` is built per run in a fresh in-memory DuckDB over the serving version's Parquet snapshot
(:func:`.projection.view_sql`): exactly the granted items, named by their labels (``SELECT 姓名, count(*) FROM
granted GROUP BY 1``), only rows in the row scope. **Masked items are in the view masked** — computed in SQL
exactly as the API and exchange packages mask them — so a query can count or group by them but never sees a
clear value; nothing is refused for being masked.

Two fences, both required (:mod:`gongshu.sharing.sqlguard`): the SQL is parsed and checked (one SELECT over
``granted`` and its own CTEs, granted columns, allow-listed functions — no other tables, file-reading table
functions, ``COPY``, ``ATTACH``, ``PRAGMA``, settings, several statements …) and regenerated from the checked
tree; and the connection is hardened after the view exists (only the snapshot file readable, no external
access or extensions, memory and threads bounded, configuration locked), because the connection itself
could still read the snapshot's raw columns. Limits: at most :data:`MAX_ROWS` rows returned (default
:data:`DEFAULT_ROWS`; the result says when it was cut), :data:`MAX_SECONDS` seconds, :data:`MEMORY_LIMIT`,
and :data:`CONCURRENT` queries at a time per consumer department (429 beyond).

Errors from running a query are reported by their kind only, except binding and parsing errors (which name
columns and syntax, never data): a conversion error's message would carry the offending value, possibly from
a row outside the scope if DuckDB evaluated the predicate before the scope filter.

Every run — answered, refused by the guard, refused by the grant check, failed — is one access event
(operation ``analysis``) whose reason carries the SM3 of the SQL as sent (``sql_sm3=…``); the SQL text itself
is not kept (it may contain key values). Functions return an :class:`.access.Outcome`; the edge ends its
database transaction and then calls :func:`.access.finish`, which records the event before anything is
returned (as in API mode).
"""
# The view SQL is built by projection (quoted identifiers, our own paths, escaped literals):
# ruff: noqa: S608

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb
from sqlalchemy.orm import Session

from gongshu.auth.actions import declare
from gongshu.errors import Invalid
from gongshu.kit.hashing import sm3_hex
from gongshu.sharing import sqlguard
from gongshu.sharing.service import access, evidence, projection
from gongshu.store import registry
from gongshu.store.service import sql_ident

declare("sharing.analysis.run", "在平台上对授权数据运行只读分析查询（集中分析）",
        "Run read-only analysis queries over granted data on the platform", {"dept_officer", "dept_staff"},
        scope="own_org", writes=False)

VIEW = "granted"
DEFAULT_ROWS = 1000
MAX_ROWS = 10_000
DEFAULT_SECONDS = 30.0
MAX_SECONDS = 120.0
MEMORY_LIMIT = "1GB"
THREADS = 2
MAX_TEMP = "4GB"
CONCURRENT = 2
#: DuckDB error kinds whose messages name only syntax and columns, never values
_SAFE_ERRORS = ("Parser Error", "Binder Error", "Catalog Error")

_running: dict[int | None, int] = defaultdict(int)
_running_lock = threading.Lock()


def _limit(value: Any, default: float, top: float, field: str, zh: str, en: str) -> float:
    if value is None or value == "":
        return default
    try:
        n = float(value)
    except (TypeError, ValueError):
        n = -1.0
    if not 0 < n <= top:
        raise Invalid(f"{zh}应在 0 到 {top:g} 之间", f"{en} must be between 0 and {top:g}", field=field)
    return n


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _sanitised(exc: Invalid) -> Invalid:
    """A failed run's error without values from the data (see the module's docstring)."""
    if isinstance(exc, sqlguard.QueryTimeout) or not exc.message.startswith("查询执行失败"):
        return exc
    detail = exc.message_en.removeprefix("The query failed: ")
    if detail.startswith(_SAFE_ERRORS):
        return exc
    kind = detail.split(":", 1)[0][:60] if ":" in detail else "Error"
    return Invalid(f"查询执行失败（{kind}）。为保护数据，不显示出错的具体值；类型转换可改用 TRY_CAST",
                   f"The query failed ({kind}). To protect the data the offending value is not shown; for type "
                   "conversions use TRY_CAST", field="sql", details=[{"reason": "query_failed", "kind": kind}])


def _slot(org_id: int | None) -> bool:
    with _running_lock:
        if _running[org_id] >= CONCURRENT:
            return False
        _running[org_id] += 1
        return True


def _release(org_id: int | None) -> None:
    with _running_lock:
        _running[org_id] = max(0, _running[org_id] - 1)


def _payload(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("请求体不是有效的 JSON", "The request body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise Invalid("请求体应为 JSON 对象", "The request body must be a JSON object", field="body")
    return data


def run(session: Session, *, who: projection.Who, grant_id: Any, sql: Any = None, max_rows: Any = None,
        timeout_s: Any = None, body: bytes | Mapping[str, Any] | None = None) -> access.Outcome:
    """Run ``sql`` over the grant's view for ``who`` (a :class:`.projection.Staff` or an application's
    :class:`.access.Call`); an API call passes its raw ``body`` ``{"sql", "max_rows", "timeout_s"}`` instead.
    Answer: ``{"grant_id", "entry_id", "version", "view", "columns", "rows", "row_count", "truncated",
    "elapsed_ms", "sql_sm3", "masked"}``."""
    ctx = projection.Ctx(operation="analysis", who=who, grant_id=projection.grant_id_of(grant_id))

    def work() -> tuple[dict[str, Any], evidence.Access]:
        nonlocal sql, max_rows, timeout_s
        if body is not None:
            data = _payload(body)
            sql, max_rows, timeout_s = data.get("sql"), data.get("max_rows"), data.get("timeout_s")
        text = sql if isinstance(sql, str) else ""
        digest = sm3_hex(text.encode("utf-8", "surrogatepass"))
        ctx.note = f"sql_sm3={digest}"
        if not isinstance(sql, str):
            raise Invalid("请提供 SQL 查询语句（文本）", "Give the SQL query as text", field="sql")
        rows_cap = int(_limit(max_rows, DEFAULT_ROWS, MAX_ROWS, "max_rows", "返回行数上限", "max_rows"))
        seconds = _limit(timeout_s, DEFAULT_SECONDS, MAX_SECONDS, "timeout_s", "时限（秒）", "timeout_s")
        served = projection.authorise(session, ctx, action="sharing.analysis.run", mode="analysis")
        labels = [c.label for c in served.granted]
        ctx.items = tuple(labels)
        try:  # refused SQL never reaches DuckDB
            sqlguard.check(text, view=VIEW, columns=labels, max_rows=rows_cap)
        except Invalid as exc:
            construct = next((str(d["construct"]) for d in exc.details if isinstance(d, dict) and d.get("construct")),
                             "")
            raise projection.Refused(exc, reason=f"sql_refused {construct}".strip()[:80]) from None
        path = projection.snapshot_of(served)
        org = ctx.principal.org_id if ctx.principal else None
        if not _slot(org):
            raise access.RateLimited(5)
        try:
            result = _execute(ctx, served, path, text, labels, rows_cap, seconds)
        finally:
            _release(org)
        answer = {"grant_id": ctx.grant.id, "entry_id": ctx.grant.entry_id, "version": served.version.number,
                  "view": VIEW, "columns": result.columns, "rows": [[_jsonable(v) for v in r] for r in result.rows],
                  "row_count": len(result.rows), "truncated": result.truncated, "elapsed_ms": result.elapsed_ms,
                  "sql_sm3": digest, "masked": sorted(served.masked)}
        return answer, ctx.event("ok", rows=len(result.rows))

    return projection.outcome(ctx, work)


def _execute(ctx: projection.Ctx, served, path, text: str, labels: list[str], rows_cap: int,
             seconds: float) -> sqlguard.QueryResult:
    tmp = registry.files_root() / "sharing" / ".analysis_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"CREATE VIEW {sql_ident(VIEW)} AS {projection.view_sql(ctx.grant, served, path)}")
        sqlguard.harden(con, allowed_paths=[path], memory_limit=MEMORY_LIMIT, threads=THREADS, temp_directory=tmp,
                        max_temp_directory_size=MAX_TEMP)
        try:
            return sqlguard.run(con, text, view=VIEW, columns=labels, max_rows=rows_cap, timeout_s=seconds)
        except Invalid as exc:
            raise _sanitised(exc) from None
    finally:
        con.close()
