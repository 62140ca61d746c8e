"""The SQL guard of on-platform analysis (在平台分析, R-SHR-5): read-only SQL over one granted view.

A consumer department writes SQL; the platform runs it in DuckDB over a view of its grant (a Parquet
snapshot, only the granted columns and rows) and returns the result, never the raw tables.
:func:`check` parses the SQL with sqlglot (dialect ``duckdb``) and refuses, with a bilingual
:class:`~gongshu.errors.Invalid` naming what and where, everything but:

- one SELECT (``WITH`` incl. ``RECURSIVE``, subqueries, joins, ``GROUP BY`` / ``ROLLUP`` / ``CUBE``,
  ``HAVING``, ``QUALIFY``, window functions, ``ORDER BY``, ``LIMIT``/``OFFSET``,
  ``UNION``/``INTERSECT``/``EXCEPT``);
- whose every table reference is the granted view or a CTE in scope — no schema-qualified names,
  no table functions (``read_csv``, ``read_parquet``, ``glob``, ``query`` …), no ``'file.parquet'``;
- whose every column reference is a granted column or a name the query itself defines (alias, CTE
  or derived-table column);
- whose every function and operator is on the allow-lists below (aggregates, window, string, date,
  math, ``CASE``, ``CAST``, ``COALESCE`` …); anything else (``getenv``, ``current_setting``,
  ``read_text``, lambdas, placeholders …) is refused.

``SELECT *`` is allowed: the view is built from exactly the granted columns, so a star expands to
granted columns only (:func:`run` checks that the view has no other column before it runs anything).

The SQL that runs is not the text the user sent: it is regenerated from the checked syntax tree
(comments dropped), with the row cap applied, then parsed and checked a second time, so what DuckDB
sees is exactly what passed the guard.

The guard is one of two fences. The DuckDB connection must be hardened too — :func:`harden` does
it, :func:`run` refuses a connection without it:

- ``allowed_paths`` = the snapshot files the view reads (set first; the view is created by the caller),
- ``enable_external_access = false`` (no other files, URLs, extensions, Python replacement scans),
- ``autoinstall_known_extensions`` / ``autoload_known_extensions`` / ``allow_community_extensions``
  ``= false``, ``python_enable_replacements = false``,
- ``memory_limit`` and ``threads`` bounded (spilling stays under ``temp_directory`` and
  ``max_temp_directory_size``),
- ``lock_configuration = true`` last, so the query cannot change any of it.

:func:`run` also stops a query after ``timeout_s`` seconds with ``con.interrupt()`` from a timer
thread, and fetches at most ``max_rows`` rows (one more tells that the result was cut). Use one
connection per query at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from gongshu.errors import Invalid

DIALECT = "duckdb"
MAX_SQL_CHARS = 20_000
#: how a query may begin (after comments): SELECT, WITH, DuckDB's FROM-first, or a parenthesis
_FIRST_TOKENS = frozenset({TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.L_PAREN})
#: subquery alias used when the row cap cannot be put on the query itself
_WRAP_ALIAS = "_gongshu_q"

#: syntax nodes (exact classes) a read-only query may contain
ALLOWED_NODES: frozenset[type[exp.Expression]] = frozenset({
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.From, exp.Join, exp.Where,
    exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.With,
    exp.CTE, exp.TableAlias, exp.Alias, exp.Identifier, exp.Column, exp.Star, exp.Table, exp.Distinct,
    exp.Cube, exp.Rollup, exp.GroupingSets,
    exp.Literal, exp.RawString, exp.Boolean, exp.Null, exp.Var, exp.Paren, exp.Tuple, exp.Array,
    exp.Bracket, exp.Interval, exp.DataType, exp.DataTypeParam,
    exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls,
    exp.Exists, exp.In, exp.Between, exp.Is, exp.Like, exp.ILike, exp.SimilarTo, exp.Glob, exp.Escape,
    exp.Any, exp.All, exp.Not, exp.Neg, exp.And, exp.Or, exp.Xor,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Pow, exp.DPipe,
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift,
    exp.BitwiseRightShift,
})

#: functions as sqlglot knows them (exact classes): what a statistical analysis needs, nothing that
#: reads files, settings, the environment or the catalogue
ALLOWED_FUNCTIONS: frozenset[type[exp.Expression]] = frozenset({
    # conditionals and types
    exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Cast, exp.TryCast, exp.Greatest, exp.Least, exp.Typeof,
    # aggregates
    exp.Count, exp.CountIf, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Mode, exp.Stddev,
    exp.StddevSamp, exp.StddevPop, exp.Variance, exp.VariancePop, exp.Quantile, exp.PercentileCont,
    exp.PercentileDisc, exp.ApproxDistinct, exp.GroupConcat, exp.ArrayAgg, exp.AnyValue, exp.First,
    exp.Last, exp.ArgMax, exp.ArgMin, exp.LogicalAnd, exp.LogicalOr, exp.Corr, exp.CovarPop,
    exp.CovarSamp, exp.RegrSlope, exp.Kurtosis, exp.Skewness,
    # window
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile, exp.Lag, exp.Lead,
    exp.FirstValue, exp.LastValue, exp.NthValue,
    # strings
    exp.Lower, exp.Upper, exp.Length, exp.Substring, exp.Trim, exp.Replace, exp.Concat, exp.ConcatWs,
    exp.Left, exp.Right, exp.StrPosition, exp.Contains, exp.StartsWith, exp.EndsWith, exp.Pad,
    exp.Reverse, exp.SplitPart, exp.RegexpLike, exp.RegexpFullMatch, exp.RegexpReplace,
    exp.RegexpExtract, exp.Translate, exp.Levenshtein, exp.Ascii, exp.Chr,
    # dates and times
    exp.CurrentDate, exp.CurrentTimestamp, exp.TimestampTrunc, exp.DateTrunc, exp.Extract, exp.DateDiff,
    exp.DateAdd, exp.TimeToStr, exp.StrToTime, exp.StrToDate, exp.Year, exp.Month, exp.Day,
    exp.DayOfWeek, exp.DayOfWeekIso, exp.DayOfMonth, exp.DayOfYear, exp.Week, exp.WeekOfYear,
    exp.Quarter, exp.Hour, exp.Minute, exp.Second, exp.DateFromParts, exp.TimestampFromParts,
    exp.LastDay, exp.Monthname, exp.Dayname, exp.DateBin,
    # numbers
    exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sqrt, exp.Cbrt, exp.Pow, exp.Ln, exp.Log, exp.Exp,
    exp.Sign, exp.Trunc, exp.Pi, exp.IsNan, exp.IsInf,
})

#: DuckDB functions sqlglot has no class for (parsed as ``Anonymous``), by lower-case name
ALLOWED_ANONYMOUS: frozenset[str] = frozenset({
    "mean", "product", "entropy", "strlen", "prefix", "suffix", "date_part", "datepart", "age",
    "try_strptime", "weekday", "isoyear", "yearweek", "bit_length",
})

_TABLE_ARGS = frozenset({"this", "alias", "db", "catalog"})
_WITH_ARGS = frozenset({"expressions", "recursive"})


class QueryTimeout(Invalid):
    """The analysis query ran longer than its time limit and was stopped."""

    code = "query_timeout"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    #: more rows than ``max_rows`` existed; ``rows`` holds the first ``max_rows``
    truncated: bool
    #: the SQL that ran (regenerated from the checked tree, with the row cap)
    sql: str
    elapsed_ms: int


# --- checking ---

def _position(node: exp.Expression) -> tuple[int, int] | None:
    for n in node.walk():
        meta = n.meta
        if "line" in meta:  # sqlglot's col is where the token ends; report where it starts
            return meta["line"], max(1, meta["col"] - (meta.get("end", 0) - meta.get("start", 0)))
    return None


def _refuse(zh: str, en: str, node: exp.Expression | None = None, *, construct: str | None = None) -> Invalid:
    pos = _position(node) if node is not None else None
    where_zh = f"（第 {pos[0]} 行第 {pos[1]} 列）" if pos else ""
    where_en = f" (line {pos[0]}, column {pos[1]})" if pos else ""
    detail: dict[str, Any] = {}
    if construct:
        detail["construct"] = construct
    if pos:
        detail.update(line=pos[0], column=pos[1])
    return Invalid(f"{zh}{where_zh}", f"{en}{where_en}", field="sql", details=[detail] if detail else None)


def _at(token: Token) -> tuple[str, str, dict[str, Any]]:
    col = max(1, token.col - (token.end - token.start))
    return (f"（第 {token.line} 行第 {col} 列）", f" (line {token.line}, column {col})",
            {"line": token.line, "column": col})


def _precheck(sql: str) -> None:
    """On the tokens, before parsing: exactly one statement, and it begins like a query."""
    try:
        tokens = Dialect.get_or_raise(DIALECT).tokenize(sql)
    except TokenError:
        raise Invalid("SQL 无法解析：有未闭合的引号或注释",
                      "The SQL cannot be read: a quote or comment is not closed", field="sql") from None
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [s for s in statements if s]
    if not statements:
        raise Invalid("查询语句为空", "The query is empty", field="sql")
    if len(statements) > 1:
        zh, en, where = _at(statements[1][0])
        raise Invalid(f"只允许一条查询语句，发现 {len(statements)} 条（以分号分隔）{zh}",
                      f"Only one statement is allowed; found {len(statements)} (separated by semicolons){en}",
                      field="sql", details=[{"construct": "multiple statements", **where}])
    first = statements[0][0]
    if first.token_type not in _FIRST_TOKENS:
        kind = first.text.upper()
        zh, en, where = _at(first)
        raise Invalid(f"只允许只读的 SELECT 查询，不允许 {kind} 语句{zh}",
                      f"Only a read-only SELECT query is allowed; {kind} statements are not{en}",
                      field="sql", details=[{"construct": kind, **where}])


def _parse(sql: str) -> exp.Expression:
    _precheck(sql)
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        line, col = err.get("line"), err.get("col")
        near = (err.get("highlight") or "").strip()[:40]
        desc_en = desc_zh = str(err.get("description") or exc).split(". Line")[0][:200]
        if "<" in desc_en:  # sqlglot internals (class or token reprs) say nothing to a reader
            desc_zh, desc_en = "语句不完整或有误", "incomplete or invalid statement"
        where_zh = f"第 {line} 行第 {col} 列" if line else "未知位置"
        where_en = f"line {line}, column {col}" if line else "unknown position"
        raise Invalid(f"SQL 语法错误（{where_zh}，“{near}”附近）：{desc_zh}",
                      f"SQL syntax error at {where_en} near '{near}': {desc_en}", field="sql",
                      details=[{"line": line, "column": col, "near": near}]) from None
    except TokenError:
        raise Invalid("SQL 无法解析：有未闭合的引号或注释",
                      "The SQL cannot be read: a quote or comment is not closed", field="sql") from None
    except RecursionError:
        raise Invalid("SQL 嵌套过深", "The SQL is nested too deeply", field="sql") from None
    if not statements:
        raise Invalid("查询语句为空", "The query is empty", field="sql")
    if len(statements) > 1:
        raise _refuse(f"只允许一条查询语句，发现 {len(statements)} 条（以分号分隔）",
                      f"Only one statement is allowed; found {len(statements)} (separated by semicolons)",
                      statements[1], construct="multiple statements")
    tree = statements[0]
    while isinstance(tree, exp.Subquery) and not tree.alias and isinstance(tree.this, exp.Query):
        tree = tree.this
    if not isinstance(tree, exp.Select | exp.SetOperation):
        kind = (tree.name if isinstance(tree, exp.Command) else tree.key).upper()
        raise _refuse(f"只允许只读的 SELECT 查询，不允许 {kind} 语句",
                      f"Only a read-only SELECT query is allowed; {kind} statements are not",
                      tree, construct=kind)
    return tree


def _defined_names(tree: exp.Expression) -> set[str]:
    """Column names the query itself defines: SELECT aliases and CTE / derived-table column lists."""
    names: set[str] = set()
    for node in tree.walk():
        if isinstance(node, exp.Alias):
            names.add(node.alias.casefold())
        elif isinstance(node, exp.TableAlias):
            names.update(c.name.casefold() for c in node.columns)
    return names


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.upper()


def _check_table(node: exp.Table, view: str, ctes: frozenset[str]) -> None:
    if not isinstance(node.this, exp.Identifier):
        name = _function_name(node.this)
        raise _refuse(f"不允许表函数 {name}()：只能查询授权视图 {view}",
                      f"Table function {name}() is not allowed: only the granted view {view} can be queried",
                      node, construct=name)
    full = ".".join(p.name for p in node.parts)
    if node.args.get("db") or node.args.get("catalog"):
        raise _refuse(f"不允许访问 {full}：只能查询授权视图 {view}",
                      f"{full} is not allowed: only the granted view {view} can be queried", node, construct=full)
    if node.name.casefold() != view.casefold() and node.name.casefold() not in ctes:
        raise _refuse(f"不允许访问表 {node.name}：只能查询授权视图 {view}（或本查询的 WITH 子查询）",
                      f"Table {node.name} is not allowed: only the granted view {view} (or this query's "
                      "WITH subqueries) can be queried", node, construct=node.name)
    extra = sorted(k for k, v in node.args.items() if v not in (None, [], False) and k not in _TABLE_ARGS)
    if extra:
        raise _refuse(f"表 {node.name} 上不支持附加子句（{', '.join(extra)}）",
                      f"Table {node.name} does not support the added clause ({', '.join(extra)})", node,
                      construct=extra[0])


def _check_column(node: exp.Column, granted: set[str], defined: set[str]) -> None:
    if isinstance(node.this, exp.Star):
        return
    if node.args.get("db") or node.args.get("catalog"):
        raise _refuse(f"不支持多级限定的列名 {node.sql(DIALECT)}",
                      f"Multi-part column name {node.sql(DIALECT)} is not supported", node, construct=node.name)
    name = node.name.casefold()
    if name not in granted and name not in defined:
        raise _refuse(f"列 {node.name} 未获授权或不存在", f"Column {node.name} is not granted or does not exist",
                      node, construct=node.name)


def _check_tree(tree: exp.Expression, *, view: str, granted: set[str]) -> None:
    """Walk every node, tracking which CTE names are in scope (iteratively: no recursion limit)."""
    defined = _defined_names(tree)
    column_error: Invalid | None = None  # reported after tables and functions, which say more
    stack: list[tuple[exp.Expression, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, ctes = stack.pop()
        kind = type(node)
        if isinstance(node, exp.Table):
            _check_table(node, view, ctes)
        elif isinstance(node, exp.Column):
            try:
                _check_column(node, granted, defined)
            except Invalid as exc:
                column_error = column_error or exc
        elif kind is exp.Select and not node.expressions:
            raise _refuse("SELECT 后缺少要查询的列", "SELECT lists no columns", node, construct="SELECT")
        elif kind is exp.Anonymous:
            if node.name.lower() not in ALLOWED_ANONYMOUS:
                name = node.name.lower()
                raise _refuse(f"不允许使用函数 {name}()", f"Function {name}() is not allowed", node, construct=name)
        elif kind not in ALLOWED_NODES and kind not in ALLOWED_FUNCTIONS:
            name = _function_name(node)
            if isinstance(node, exp.Func):
                raise _refuse(f"不允许使用函数 {name}()", f"Function {name}() is not allowed", node, construct=name)
            snippet = node.sql(DIALECT)[:60]
            raise _refuse(f"不支持的语法 {name}：{snippet}", f"Unsupported syntax {name}: {snippet}", node,
                          construct=name)

        scope = ctes
        pending: list[tuple[exp.Expression, frozenset[str]]] = []
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            extra = sorted(k for k, v in with_.args.items() if v not in (None, [], False) and k not in _WITH_ARGS)
            if extra:
                raise _refuse(f"WITH 子句不支持 {', '.join(extra)}", f"WITH does not support {', '.join(extra)}",
                              with_, construct=extra[0])
            recursive = bool(with_.args.get("recursive"))
            names = set(ctes)
            for cte in with_.expressions:
                if recursive:
                    names.add(cte.alias.casefold())
                pending.append((cte, frozenset(names)))
                names.add(cte.alias.casefold())
            scope = frozenset(names)
        for key, value in node.args.items():
            if key == "with_" and isinstance(value, exp.With):
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    pending.append((child, scope))
        stack.extend(reversed(pending))  # so the walk follows the text: first things are reported first
    if column_error is not None:
        raise column_error


def _cap_rows(tree: exp.Expression, cap: int) -> exp.Expression:
    """At most ``cap`` rows: keep or lower the query's own LIMIT, else wrap it in a capped SELECT *."""
    tree = tree.copy()
    limit = tree.args.get("limit")
    if limit is None:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(cap)))
        return tree
    value = limit.args.get("expression")
    if type(limit) is exp.Limit and isinstance(value, exp.Literal) and value.is_int and not limit.args.get("limit_options"):
        if int(value.this) > cap:
            limit.set("expression", exp.Literal.number(cap))
        return tree
    return exp.select("*").from_(tree.subquery(_WRAP_ALIAS)).limit(cap)


def check(sql: str, *, view: str, columns: Iterable[str], max_rows: int, max_chars: int = MAX_SQL_CHARS) -> str:
    """The SQL to run for ``sql`` over ``view`` (at most ``max_rows + 1`` rows); :class:`Invalid` otherwise."""
    if max_rows < 1:
        raise ValueError("max_rows must be positive")
    if not isinstance(sql, str) or not sql.strip():
        raise Invalid("查询语句为空", "The query is empty", field="sql")
    if len(sql) > max_chars:
        raise Invalid(f"查询语句过长（{len(sql)} 个字符，上限 {max_chars}）",
                      f"The query is too long ({len(sql)} characters, at most {max_chars})", field="sql")
    granted = {c.casefold() for c in columns}
    tree = _parse(sql)
    _check_tree(tree, view=view, granted=granted)
    try:
        out = _cap_rows(tree, max_rows + 1).sql(dialect=DIALECT, comments=False)
        # what runs is checked again, as DuckDB will read it
        again = _parse(out)
        _check_tree(again, view=view, granted=granted)
        stable = again.sql(dialect=DIALECT, comments=False) == out
    except RecursionError:
        raise Invalid("SQL 嵌套过深", "The SQL is nested too deeply", field="sql") from None
    if not stable:
        raise Invalid("无法安全地改写该查询，请简化后重试",
                      "The query cannot be rewritten safely; simplify it and try again", field="sql")
    return out


# --- running ---

def harden(con: duckdb.DuckDBPyConnection, *, allowed_paths: Sequence[str | Path] = (),
           memory_limit: str = "1GB", threads: int = 2, temp_directory: str | Path | None = None,
           max_temp_directory_size: str = "4GB") -> None:
    """Lock ``con`` down for untrusted queries; create the grant's view *before* calling this."""
    paths = [str(Path(p).resolve()) for p in allowed_paths]
    statements: list[tuple[str, Any]] = [("allowed_paths", paths)] if paths else []
    if temp_directory is not None:
        statements.append(("temp_directory", str(temp_directory)))
    statements += [
        ("enable_external_access", False), ("autoinstall_known_extensions", False),
        ("autoload_known_extensions", False), ("allow_community_extensions", False),
        ("python_enable_replacements", False), ("memory_limit", memory_limit), ("threads", int(threads)),
        ("max_temp_directory_size", max_temp_directory_size), ("lock_configuration", True),
    ]
    for name, value in statements:
        con.execute(f"SET {name} = {exp.convert(value).sql(DIALECT)}")


def assert_hardened(con: duckdb.DuckDBPyConnection) -> None:
    """RuntimeError unless ``con`` has external access off, extension autoloading off and its configuration locked."""
    wanted = {"enable_external_access": False, "autoload_known_extensions": False,
              "autoinstall_known_extensions": False, "lock_configuration": True}
    for name, value in wanted.items():
        (actual,) = con.execute("SELECT current_setting(?)", [name]).fetchone()
        if actual is not value:
            raise RuntimeError(f"the DuckDB connection is not hardened: {name} = {actual!r} (see sqlguard.harden)")


def _assert_view(con: duckdb.DuckDBPyConnection, view: str, granted: set[str]) -> None:
    probe = exp.select("*").from_(exp.Table(this=exp.to_identifier(view, quoted=True))).limit(0).sql(DIALECT)
    names = [d[0] for d in con.execute(probe).description]
    extra = [n for n in names if n.casefold() not in granted]
    if extra:
        raise RuntimeError(f"view {view} exposes columns outside the grant: {extra}")


def run(con: duckdb.DuckDBPyConnection, sql: str, *, view: str, columns: Iterable[str], max_rows: int,
        timeout_s: float = 30.0) -> QueryResult:
    """Check ``sql`` and run it on the hardened connection ``con``; nothing runs if the check fails."""
    granted = {c.casefold() for c in columns}
    checked = check(sql, view=view, columns=granted, max_rows=max_rows)
    assert_hardened(con)
    _assert_view(con, view, granted)

    lock = threading.Lock()
    state = {"running": True, "stopped": False}

    def stop() -> None:
        with lock:
            if state["running"]:
                state["stopped"] = True
                con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.daemon = True
    started = time.perf_counter()
    timer.start()
    try:
        cur = con.execute(checked)
        names = [d[0] for d in cur.description]
        rows = cur.fetchmany(max_rows + 1)
    except duckdb.Error as exc:
        if state["stopped"] or isinstance(exc, duckdb.InterruptException):
            raise QueryTimeout(f"查询超过 {timeout_s:g} 秒时限，已终止", f"The query exceeded its "
                               f"{timeout_s:g} s time limit and was stopped", field="sql") from None
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise Invalid("查询所需内存超过上限，已终止", "The query needed more memory than allowed and was stopped",
                          field="sql") from None
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise Invalid(f"查询执行失败：{first}", f"The query failed: {first}", field="sql") from None
    finally:
        with lock:
            state["running"] = False
        timer.cancel()
    elapsed = int((time.perf_counter() - started) * 1000)
    return QueryResult(columns=names, rows=rows[:max_rows], truncated=len(rows) > max_rows, sql=checked,
                       elapsed_ms=elapsed)
