"""Verification and comparison (核验比对, R-SHR-4, R-SHR-10): "does the record with key K have F = V (or F in
lo..hi)?" answered ``match`` / ``no_match`` / ``not_found`` — never the value. It serves the "0 证明" processes
(verify marital status or social-insurance payment instead of asking the citizen for a certificate) and is
the only way to use data not shared (不予共享): such entries can be granted in mode ``verify`` only.

A check names the record by its key (the entry's key items, in order; one value, or a list for a compound
key — the key is the caller's own input and need not be a granted item), one **granted** item, and either
``value`` (equality) or ``min`` / ``max`` (an inclusive range, either end open; numbers, amounts, dates and
times only). Text compares trimmed (identifier items also case-insensitively, for the ``X`` of ID numbers);
other types compare typed (dates as ``YYYY-MM-DD`` or ``YYYYMMDD``). A missing value in the data is no match.
A record outside the grant's row scope is ``not_found`` to the caller (and logged as denied,
``row_out_of_scope``). Masking does not apply: the comparison is made on the true value, which never leaves.

Singly or in batches of up to :data:`MAX_CHECKS`, vectorised: the values are validated in one DuckDB query
over the checks (an Arrow table); the batch's rows are read from the serving version's table in the resource
store in **one indexed statement** (:meth:`~gongshu.store.service.ResourceStore.lookup_many`: SQLite joins
``json_each`` of the keys to the unique key index, PostgreSQL ``= ANY`` of an array); one DuckDB query then
compares them with the checks. Measured on 10M rows (``benchmarks/sharing_verify.py``): a scan of the
Parquet snapshot joined with the checks takes about 1 s for 10,000 keys and as long for one key when the
snapshot is not sorted by key, the index about 0.1 s and well under a millisecond.

Rate-limited per consumer department (:data:`RATE_PER_MINUTE` checks a minute, bursts up to
:data:`BURST`; 429 with ``Retry-After``): range checks could otherwise narrow a value down. Every call is
an access event (operation ``verify``) with the HMAC-SM3 digests of the keys checked. Functions return an
:class:`.access.Outcome`; the edge ends its database transaction, then :func:`.access.finish` records the
events and returns the answer (as in API mode).
"""
# SQL here is built from quoted identifiers, item labels as escaped literals and fixed type names; the
# caller's keys and values are bound (an Arrow table and a list parameter):
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from gongshu.auth.actions import declare
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.sharing.service import access, evidence, grants, projection
from gongshu.store import registry
from gongshu.store.service import Column, sql_ident, sql_literal

declare("sharing.verify.check", "核验比对：询问记录的信息项是否为某值或在某范围内（不返回数据）",
        "Verify whether a record's item equals a value or lies in a range (the data is not returned)",
        {"dept_officer", "dept_staff"}, scope="own_org", writes=False)

MAX_CHECKS = 10_000
RATE_PER_MINUTE = 120_000
BURST = 2 * MAX_CHECKS
MAX_VALUE_CHARS = 200
RESULTS = ("match", "no_match", "not_found")
#: DuckDB types of the store's item types (G, binary, cannot be checked)
DUCK_TYPES = {"C": "VARCHAR", "M": "VARCHAR", "N": "DOUBLE", "B": "DOUBLE", "F": "DOUBLE", "Y": "DECIMAL(18,2)",
              "I": "BIGINT", "D": "DATE", "T": "TIMESTAMP", "L": "BOOLEAN"}
RANGE_TYPES = frozenset({"N", "B", "F", "Y", "I", "D", "T"})
TEXT_TYPES = frozenset({"C", "M"})

limits = projection.Bucket(per_minute=RATE_PER_MINUTE, burst=BURST)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def _text(value: Any, field: str, what_zh: str, what_en: str, *, position: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(f"第 {position + 1} 项核验的{what_zh}应为文本或数字", f"Check {position + 1}: {what_en} must be "
                      "text or a number", field=field, details=[{"index": position}])
    text = str(value).strip()
    if not text or len(text) > MAX_VALUE_CHARS or _CONTROL.search(text):
        raise Invalid(f"第 {position + 1} 项核验的{what_zh}不能为空、不能超过 {MAX_VALUE_CHARS} 个字符、不能含控制字符",
                      f"Check {position + 1}: {what_en} must be 1 to {MAX_VALUE_CHARS} characters without control "
                      "characters", field=field, details=[{"index": position}])
    return text


def _parse(body: bytes | Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The checks of a call: ``{"checks": [...]}`` or one check object; structure only."""
    if body is None or isinstance(body, Mapping):
        data: Any = body or {}
    else:
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Invalid("请求体不是有效的 JSON", "The request body is not valid JSON", field="body") from None
    if not isinstance(data, Mapping):
        raise Invalid("请求体应为 JSON 对象", "The request body must be a JSON object", field="body")
    raw = data.get("checks")
    if raw is None and "key" in data:
        raw = [data]
    if not isinstance(raw, list) or not raw:
        raise Invalid("请在 checks 中给出至少一项核验（key、item，以及 value 或 min/max）",
                      "Give at least one check in 'checks' (key, item, and value or min/max)", field="checks")
    if len(raw) > MAX_CHECKS:
        raise Invalid(f"一次最多核验 {MAX_CHECKS} 项（本次 {len(raw)} 项）", f"At most {MAX_CHECKS} checks per call "
                      f"({len(raw)} given)", field="checks", details=[{"reason": "too_many_checks"}])
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, Mapping):
            raise Invalid(f"第 {i + 1} 项核验应为对象", f"Check {i + 1} must be an object", field="checks",
                          details=[{"index": i}])
        key = c.get("key")
        parts = key if isinstance(key, list) else [key]
        if not parts:
            raise Invalid(f"第 {i + 1} 项核验缺少主键值", f"Check {i + 1} has no key", field="key", details=[{"index": i}])
        parts = [_text(p, "key", "主键值", "the key", position=i) for p in parts]
        item = _text(c.get("item"), "item", "信息项", "the item", position=i)
        has_value = c.get("value") is not None
        lo, hi = c.get("min"), c.get("max")
        if has_value == (lo is not None or hi is not None):
            raise Invalid(f"第 {i + 1} 项核验应给出 value（是否等于），或 min/max（是否在范围内），二者取其一",
                          f"Check {i + 1}: give either value (equality) or min/max (a range)", field="value",
                          details=[{"index": i}])
        out.append({"i": i, "key": parts, "item": item, "op": "eq" if has_value else "range",
                    "v": _text(c["value"], "value", "值", "the value", position=i) if has_value else None,
                    "lo": _text(lo, "min", "下限", "min", position=i) if lo is not None else None,
                    "hi": _text(hi, "max", "上限", "max", position=i) if hi is not None else None})
    return out


def _typed(expr: str, column: Column) -> str:
    """The caller's text as a value of the item's type (NULL when it is not one)."""
    if column.type == "D":
        return f"coalesce(TRY_CAST({expr} AS DATE), CAST(try_strptime({expr}, '%Y%m%d') AS DATE))"
    return f"TRY_CAST({expr} AS {DUCK_TYPES[column.type]})"


def _compare(field: str, column: Column, item: Mapping[str, Any] | None) -> str:
    """SQL true when the snapshot value ``field`` satisfies the check ``c`` (eq or range)."""
    if column.type in TEXT_TYPES:
        if (item or {}).get("is_identifier"):
            return f"upper(trim(CAST({field} AS VARCHAR))) = upper(trim(c.v))"
        return f"trim(CAST({field} AS VARCHAR)) = trim(c.v)"
    eq = f"{field} = {_typed('c.v', column)}"
    if column.type not in RANGE_TYPES:
        return eq
    rng = (f"(c.lo IS NULL OR {field} >= {_typed('c.lo', column)}) AND "
           f"(c.hi IS NULL OR {field} <= {_typed('c.hi', column)})")
    return f"CASE WHEN c.op = 'eq' THEN {eq} ELSE {rng} END"


def _invalid_values(con, labels: dict[str, Column]) -> list[int]:
    """Positions of checks whose value, min or max is not a value of the item's type (one query)."""
    conds = []
    for label, column in labels.items():
        if column.type in TEXT_TYPES:
            continue
        bad = " OR ".join(f"(c.{x} IS NOT NULL AND {_typed('c.' + x, column)} IS NULL)" for x in ("v", "lo", "hi"))
        conds.append(f"(c.item = {sql_literal(label)} AND ({bad}))")
    if not conds:
        return []
    return [r[0] for r in con.execute(f"SELECT c.i FROM checks c WHERE {' OR '.join(conds)} ORDER BY c.i LIMIT 20")
            .fetchall()]


def _checkable(ctx: projection.Ctx, served: grants.Served, checks: Sequence[dict]) -> dict[str, Column]:
    """The items checked, each granted and of a checkable type; ranges only on numbers and dates."""
    granted = set(grants.item_names(ctx.grant))
    by_label = {c.label: c for c in served.columns}
    asked = list(dict.fromkeys(c["item"] for c in checks))
    ctx.items = tuple(asked)
    outside = [a for a in asked if a not in granted or a not in by_label]
    if outside:
        raise Forbidden(f"授权不包括以下信息项，不能核验：{'、'.join(outside)}",
                        f"The grant does not cover these items, which cannot be verified: {', '.join(outside)}",
                        field="item", details=[{"reason": "item_not_granted", "items": outside}])
    labels = {a: by_label[a] for a in asked}
    binary = [a for a, col in labels.items() if col.type not in DUCK_TYPES]
    if binary:
        raise Invalid(f"这些信息项无法核验：{'、'.join(binary)}", f"These items cannot be verified: {', '.join(binary)}",
                      field="item")
    for c in checks:
        if c["op"] == "range" and labels[c["item"]].type not in RANGE_TYPES:
            raise Invalid(f"第 {c['i'] + 1} 项核验：信息项“{c['item']}”是文本，只能核验是否等于某值，不能按范围核验",
                          f"Check {c['i'] + 1}: item '{c['item']}' is text; it can be checked for equality, not a range",
                          field="min", details=[{"index": c["i"]}])
    return labels


def _table(checks: Sequence[dict], keys: Sequence[Column], served: grants.Served) -> pa.Table:
    cols: dict[str, list] = {"i": [c["i"] for c in checks]}
    for j, k in enumerate(keys):
        upper = bool((served.items.get(k.label) or {}).get("is_identifier")) and k.type in TEXT_TYPES
        cols[f"k{j}"] = [c["key"][j].upper() if upper else c["key"][j] for c in checks]
    for name in ("item", "op", "v", "lo", "hi"):
        cols[name] = [c[name] for c in checks]
    return pa.table({n: pa.array(v, pa.int32() if n == "i" else pa.string()) for n, v in cols.items()})


def _needed(grant, served: grants.Served, labels: dict[str, Column]) -> list[Column]:
    """The store columns a batch reads: the key, the items checked, the items of the row scope."""
    scope = set((grant.row_scope or {}).keys())
    wanted = {c.name for c in served.keys} | {c.name for c in labels.values()}
    return [c for c in served.columns if c.name in wanted or c.label in scope]


def _query(grant, served: grants.Served, labels: dict[str, Column]) -> str:
    """The answers, one per check in order, from ``checks`` (the batch) and ``found`` (its rows)."""
    keys = served.keys
    fields = list(labels.values())
    sel = [f"{sql_ident(k.name)} AS _k{j}" for j, k in enumerate(keys)]
    sel += [f"{sql_ident(col.name)} AS _f{m}" for m, col in enumerate(fields)]
    sel.append(f"{projection.scope_sql(grant, served.columns)} AS _in")
    on = " AND ".join(f"s._k{j} = {_typed(f'c.k{j}', k) if k.type not in TEXT_TYPES else f'c.k{j}'}"
                      for j, k in enumerate(keys))
    cmp = " ".join(f"WHEN {sql_literal(label)} THEN {_compare(f's._f{m}', col, served.items.get(label))}"
                   for m, (label, col) in enumerate(labels.items()))
    return (f"WITH s AS (SELECT {', '.join(sel)} FROM found) "
            f"SELECT c.i, CASE WHEN s._k0 IS NULL THEN 'not_found' WHEN NOT s._in THEN 'out_of_scope' "
            f"WHEN coalesce(CASE c.item {cmp} END, false) THEN 'match' ELSE 'no_match' END "
            f"FROM checks c LEFT JOIN s ON {on} ORDER BY c.i")


def answer(grant, served: grants.Served, checks: Sequence[dict], labels: dict[str, Column]) -> list[str]:
    """The data step of a batch: the rows of its keys in one indexed store statement
    (:meth:`~gongshu.store.service.ResourceStore.lookup_many`), then one DuckDB query comparing them with the
    checks (both as Arrow tables) — ``match`` / ``no_match`` / ``not_found`` / ``out_of_scope`` per check."""
    table = _table(checks, served.keys, served)
    con = projection.cursor()
    try:
        con.register("checks", table)
        bad = _invalid_values(con, labels)
        if bad:
            raise Invalid(f"第 {'、'.join(str(i + 1) for i in bad)} 项核验的值不是该信息项类型的有效值"
                          "（数值、金额、日期 YYYY-MM-DD 或 YYYYMMDD、时间、是否）",
                          f"Checks {', '.join(str(i + 1) for i in bad)}: the value is not valid for the item's type "
                          "(number, amount, date YYYY-MM-DD or YYYYMMDD, time, yes/no)", field="value",
                          details=[{"index": i} for i in bad])
        keys = list(zip(*(table.column(f"k{j}").to_pylist() for j in range(len(served.keys))), strict=True))
        found = registry.get_store().lookup_many(served.version.table_name, _needed(grant, served, labels), keys)
        con.register("found", found)
        rows = con.execute(_query(grant, served, labels)).fetchall()
    finally:
        con.close()
    if len(rows) != len(checks):  # keys are unique in a version
        raise RuntimeError(f"verification of {len(checks)} checks gave {len(rows)} answers")
    return [r for _, r in rows]


def check(session: Session, *, who: projection.Who, grant_id: Any,
          body: bytes | Mapping[str, Any] | None) -> access.Outcome:
    """Answer the checks of ``body`` (``{"checks": [{"key", "item", "value" | "min"/"max"}, …]}``, or one check)
    for ``who`` (a :class:`.projection.Staff` or an application's :class:`.access.Call`). Body:
    ``{"grant_id", "entry_id", "version", "results": ["match" | "no_match" | "not_found", …], "counts"}``."""
    ctx = projection.Ctx(operation="verify", who=who, grant_id=projection.grant_id_of(grant_id))

    def work():
        checks = _parse(body)
        ctx.keys = len(checks)
        flat = evidence.subject_digests([p for c in checks for p in c["key"]])
        digests, at = [], 0
        for c in checks:
            digests.append(flat[at:at + len(c["key"])])
            at += len(c["key"])
        ctx.subjects = sorted({d for ds in digests for d in ds})
        served = projection.authorise(session, ctx, action="sharing.verify.check", mode="verify")
        wait = limits.take(ctx.principal.org_id, len(checks))
        if wait:
            raise access.RateLimited(wait)
        if not served.keys:
            raise Conflict("该目录的数据没有主键，不能核验", "The entry's data has no key: it cannot be verified",
                           details=[{"reason": "no_key"}])
        bad_shape = [c["i"] for c in checks if len(c["key"]) != len(served.keys)]
        if bad_shape:
            names = "、".join(k.label for k in served.keys)
            raise Invalid(f"主键由 {len(served.keys)} 个信息项组成（{names}），第 {bad_shape[0] + 1} 项核验给出的值个数不符",
                          f"The key has {len(served.keys)} parts ({', '.join(k.label for k in served.keys)}); check "
                          f"{bad_shape[0] + 1} gives another number of values", field="key",
                          details=[{"index": i} for i in bad_shape[:20]])
        labels = _checkable(ctx, served, checks)
        results = answer(ctx.grant, served, checks, labels)
        hidden = sorted({d for r, ds in zip(results, digests, strict=True) if r == "out_of_scope" for d in ds})
        if hidden:
            ctx.extra.append(ctx.event("denied", "row_out_of_scope", keys=results.count("out_of_scope"),
                                       subjects=hidden))
        answers = ["not_found" if r == "out_of_scope" else r for r in results]
        shown = sorted({d for r, ds in zip(results, digests, strict=True) if r != "out_of_scope" for d in ds})
        counts = Counter(answers)
        body_out = {"grant_id": ctx.grant.id, "entry_id": ctx.grant.entry_id, "version": served.version.number,
                    "results": answers, "counts": {r: counts.get(r, 0) for r in RESULTS}}
        event = ctx.event("ok", rows=counts.get("match", 0) + counts.get("no_match", 0),
                          keys=len(checks) - results.count("out_of_scope"), subjects=shown)
        return body_out, event

    return projection.outcome(ctx, work)
