"""The rule kinds of the engine (:mod:`gongshu.quality.service.engine`): each compiles a rule to Polars expressions
(``checked``, ``bad``) over a snapshot's columns, or to a DuckDB query of failing rows for the rules that need the
whole data set at once (duplicates, reference data, another entry's version).

A compiler gets the :class:`~gongshu.quality.service.engine.Runner` of the check (the snapshot's column types and
the helper columns shared between rules), the rule's position and its :class:`RuleSpec`; it raises
:class:`NotRunnable` with the reason when the rule cannot run on this snapshot.
"""
# DuckDB SQL here is built from quoted identifiers of the snapshot only:
# ruff: noqa: S608

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from typing import TYPE_CHECKING, Any

import polars as pl
from stdnum import numdb

from gongshu.ingest.service.codes import CODE_TABLES
from gongshu.ingest.service.validate import USCC_ALPHABET, USCC_WEIGHTS
from gongshu.store.snapshots import sql_ident

if TYPE_CHECKING:
    from gongshu.quality.service.engine import RuleSpec, Runner

ROW = "_row"
#: the operators of a comparison between two items
OPS: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "=": lambda a, b: a == b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
RIC_FORM = r"^[0-9]{17}[0-9Xx]$"
USCC_FORM = r"^[0-9]{8}[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{10}$"
SCHEMES = {"ric": "ric", "gb11643": "ric", "uscc": "uscc", "gb32100": "uscc"}
#: row_rule checks
ROW_CHECKS = ("ric_birth", "ric_sex", "compare")
TRUE_WORDS = ("true", "false", "1", "0", "是", "否", "t", "f", "y", "n")
#: which declared item types (catalogue letters) a physical column type can hold
_HOLDS = {"str": set("CMNBFYIDTLG"), "num": set("NBFYI"), "date": {"D"}, "ts": {"T", "D"}, "bool": {"L"},
          "blob": {"G"}}


class NotRunnable(Exception):
    """The rule cannot run on this snapshot; carries the reason in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(zh)
        self.zh, self.en = zh, en


@dataclass
class Compiled:
    checked: pl.Expr
    bad: pl.Expr
    outputs: list[tuple[pl.Expr, str]] = field(default_factory=list)  # (value, column name or a display name)
    #: DuckDB SELECT of the failing rows' positions (and a derived value ``d``), for whole-data rules
    duck: str | None = None
    duck_value: str | None = None  # the display name of ``d``



def regex_error(regex: str) -> str | None:
    """Why a regular expression does not compile (Rust regex syntax, as Polars uses), or None."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(anchored(regex))
        return None
    except pl.exceptions.PolarsError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return " ".join(lines[:4])[:300]


def anchored(regex: str) -> str:
    return f"^(?:{regex})$"


@cache
def _eras() -> list[tuple[dict[str, int], dict[str, int]]]:
    """The years each 6-digit division code was in use, as segments: ``[(start by code, end by code), …]``.

    From python-stdnum's GB/T 2260 data (``cn/loc``): a county named without ``[from-to]`` is valid in every year;
    overlapping or adjacent periods merge; the few codes used twice with a gap between get a second segment."""
    periods: dict[str, list[tuple[int, int]]] = {}

    def walk(prefixes: list, base: str) -> None:
        for length, low, high, props, children in prefixes:
            for n in range(int(low), int(high) + 1):
                code = base + str(n).zfill(length)
                if children:
                    walk(children, code)
                if len(code) == 6:
                    periods[code] = _periods(props.get("county", ""))
    walk(numdb.get("cn/loc").prefixes, "")
    segments: list[tuple[dict[str, int], dict[str, int]]] = []
    for code, spans in periods.items():
        for k, (lo, hi) in enumerate(spans):
            while len(segments) <= k:
                segments.append(({}, {}))
            segments[k][0][code], segments[k][1][code] = lo, hi
    return segments


@cache
def era_frame() -> pl.DataFrame:
    """``code`` (the 6-digit division code as an integer) and ``lo0, hi0, lo1, hi1 …``: the years it was in use."""
    segments = _eras()
    codes = sorted({int(c) for lo, _hi in segments for c in lo})
    cols: dict[str, list] = {"code": codes}
    for k, (lo, hi) in enumerate(segments):
        cols[f"lo{k}"] = [lo.get(f"{c:06d}") for c in codes]
        cols[f"hi{k}"] = [hi.get(f"{c:06d}") for c in codes]
    return pl.DataFrame(cols, schema={n: pl.Int64 for n in cols})


def _periods(counties: str) -> list[tuple[int, int]]:
    spans = []
    for county in (c for c in counties.split(",") if c):
        m = re.match(r"^\[([0-9]*)-([0-9]*)\]", county)
        if m is None:
            return [(0, 9999)]
        spans.append((int(m.group(1) or 0), int(m.group(2) or 9999)))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged or [(0, 9999)]


# Compilers, one per kind -------------------------------------------------------------------

def _out(name: str) -> tuple[pl.Expr, str]:
    return pl.col(name), name


def _format(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    p = spec.params
    v, t = pl.col(name), r.types[name]
    bad: list[pl.Expr] = []
    declared = str(p.get("type") or "")
    if declared:
        if declared not in _HOLDS.get(t, set()):
            bad.append(pl.lit(True))  # a column of this type cannot hold values of the declared type
        elif t == "str":
            bad.append(_not_of_type(v, declared))
        elif t == "num" and declared == "I" and r.schema[name].is_float():
            bad.append(v != v.floor())
    text = r.text(name)
    # lengths are of text: a date, number or logical column holds typed values (a date element's length 8 is its
    # YYYYMMDD exchange form, not the stored value's rendering, which may be 2026-01-31)
    textual = t == "str" and declared not in ("D", "T", "L")
    if p.get("length") not in (None, "") and textual:
        bad.append(text.str.len_chars() > int(p["length"]))
    if p.get("min_length") not in (None, "") and textual:
        bad.append(text.str.len_chars() < int(p["min_length"]))
    if p.get("trim") and t == "str":
        bad.append(v != v.str.strip_chars())
    if p.get("pattern"):
        bad.append(~text.str.contains(_regex(str(p["pattern"]))))
    return Compiled(r.filled(name), pl.any_horizontal(bad) if bad else pl.lit(False), [_out(name)])


def _not_of_type(v: pl.Expr, declared: str) -> pl.Expr:
    if declared in ("N", "B", "F", "Y"):
        return v.cast(pl.Float64, strict=False).is_null()
    if declared == "I":
        return v.str.strip_chars().cast(pl.Int64, strict=False).is_null()
    if declared == "D":
        return pl.coalesce(v.str.to_date("%Y-%m-%d", strict=False), v.str.to_date("%Y%m%d", strict=False)).is_null()
    if declared == "T":
        return v.str.to_datetime(strict=False, time_unit="us").is_null()
    if declared == "L":
        return ~v.str.to_lowercase().is_in(list(TRUE_WORDS))
    return pl.lit(False)


def _regex(regex: str) -> str:
    err = regex_error(regex)
    if err:
        raise NotRunnable(f"正则表达式无效：{err}", f"Invalid regular expression: {err}")
    return anchored(regex)


def _values(p: Mapping[str, Any]) -> list[str]:
    if p.get("table"):
        table = CODE_TABLES.get(str(p["table"]))
        if table is None:
            raise NotRunnable(f"代码表“{p['table']}”不存在", f"Code table '{p['table']}' does not exist")
        return sorted(table.codes)
    if p.get("values"):
        return sorted({str(v) for v in p["values"]})
    raise NotRunnable("代码表规则没有给出代码表或取值清单", "The code rule names no code table and no values")


def _code_table(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    values = pl.Series(_values(spec.params), dtype=pl.String).implode()
    return Compiled(r.filled(name), ~r.text(name).is_in(values), [_out(name)])


def _element(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    """Conformity to the data element: its type and length (as ``format``) and its code table when it has one."""
    fmt = _format(r, i, spec)
    p = spec.params
    if not (p.get("table") or p.get("values")):
        return fmt
    code = _code_table(r, i, spec)
    return Compiled(fmt.checked, fmt.bad | code.bad, fmt.outputs)


def _checksum(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    scheme = SCHEMES.get(str(spec.params.get("scheme", "")).lower())
    if scheme is None:
        raise NotRunnable(f"校验方案“{spec.params.get('scheme')}”未知（ric 或 uscc）",
                          f"Unknown checksum scheme '{spec.params.get('scheme')}' (ric or uscc)")
    t = r.text(name)
    if scheme == "ric":
        well, expected, got = r.ric(name)
        born = r.born(name)
        good = (well & (expected == got) & (t.str.slice(6, 4) >= "0001") & born.is_not_null() & r.region_ok(name))
        shown = pl.when(expected == 10).then(pl.lit("X")).otherwise(expected.cast(pl.String))
    else:
        u = t.str.to_uppercase()
        alphabet = {ch: n for n, ch in enumerate(USCC_ALPHABET)}
        total = pl.sum_horizontal([u.str.slice(k, 1).replace_strict(alphabet, default=None, return_dtype=pl.Int64) * w
                                   for k, w in enumerate(USCC_WEIGHTS)])
        code = (31 - total % 31) % 31
        shown = code.replace_strict(dict(enumerate(USCC_ALPHABET)), default=None, return_dtype=pl.String)
        good = t.str.contains(USCC_FORM).fill_null(False) & (u.str.slice(17, 1) == shown)
    return Compiled(r.filled(name), ~good.fill_null(False), [_out(name), (shown, "应为校验位")])


def _required(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    return Compiled(pl.lit(True), ~r.filled(name), [_out(name)])


def _record_complete(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    names = [r.col(spec, n) for n in range(len(spec.columns))] if spec.columns else list(r.schema)
    if not names:
        raise NotRunnable("没有可统计的信息项", "No data items to count")
    filled = pl.sum_horizontal([r.filled(n).cast(pl.Int32) for n in names])
    p = spec.params
    if p.get("min_filled") not in (None, ""):
        need = int(p["min_filled"])
    else:
        need = math.ceil(float(p.get("threshold", 1.0)) * len(names) - 1e-9)
    return Compiled(pl.lit(True), filled < need, [*(_out(n) for n in names), (filled, "已填项数")])


def _bound(r: Runner, value: Any, t: str, *, upper: bool) -> pl.Expr:
    """A range bound as a literal of the column's kind."""
    if t == "num" or (t == "str" and _is_number(value)):
        if not _is_number(value):
            raise NotRunnable(f"范围“{value}”不是数字", f"Range bound '{value}' is not a number")
        return pl.lit(float(value))
    if t in ("date", "ts", "str"):
        text = str(value).strip()
        if text.lower() == "today":
            if t == "ts":
                return pl.lit(datetime.combine(r.today, time.max if upper else time.min), pl.Datetime("us"))
            return pl.lit(r.today, pl.Date)
        try:
            if t == "ts" or len(text) > 10:
                return pl.lit(datetime.fromisoformat(text), pl.Datetime("us"))
            return pl.lit(date.fromisoformat(text), pl.Date)
        except ValueError as exc:
            raise NotRunnable(f"范围“{value}”不是日期（YYYY-MM-DD）或 today",
                              f"Range bound '{value}' is not a date (YYYY-MM-DD) or today") from exc
    raise NotRunnable("这类信息项不能按范围检查", "Items of this type have no range")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    try:
        return math.isfinite(float(str(value)))
    except ValueError:
        return False


def _range(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    t, p = r.types[name], spec.params
    lo, hi = p.get("min"), p.get("max")
    if lo in (None, "") and hi in (None, ""):
        raise NotRunnable("范围规则至少要有下限或上限", "A range needs a minimum or a maximum")
    v = pl.col(name)
    bound = lo if lo not in (None, "") else hi
    if t == "num" and isinstance(r.schema[name], pl.Decimal):
        v = v.cast(pl.Float64)
    if t == "str":  # text holding numbers or dates
        v = v.str.strip_chars().cast(pl.Float64, strict=False) if _is_number(bound) else \
            v.str.to_date("%Y-%m-%d", strict=False)
    bad = [v.is_null()] if t == "str" else []
    if lo not in (None, ""):
        bad.append(v < _bound(r, lo, t, upper=False))
    if hi not in (None, ""):
        bad.append(v > _bound(r, hi, t, upper=True))
    return Compiled(r.filled(name), pl.any_horizontal(bad), [_out(name)])


def _pattern(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    regex = spec.params.get("regex") or spec.params.get("pattern")
    if not regex:
        raise NotRunnable("格式规则没有给出正则表达式", "The pattern rule has no regular expression")
    return Compiled(r.filled(name), ~r.text(name).str.contains(_regex(str(regex))), [_out(name)])


def _joined(i: int, c: Compiled, duck: str, value: str | None = None) -> Compiled:
    c.duck, c.duck_value = duck, value
    c.bad = pl.col(f"__j{i}").is_not_null()
    if value:
        c.outputs.append((pl.col(f"__d{i}"), value))
    return c


#: a reference of at most this many rows is held as a set and checked inside the streaming pass (``is_in``); a
#: larger one is an anti-join in DuckDB (bounded memory, spilling), its failing rows joined back per batch
REFERENCE_IN_MEMORY = 1_000_000


def _reference(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    name = r.col(spec, 0)
    rc = str(spec.params.get("ref_column") or "")
    view, types = r.ref(i, spec.params, [rc])
    ref = pl.scan_parquet(str(spec.params["ref_path"])).select(pl.col(rc))
    if ref.select(pl.len()).collect().item() <= REFERENCE_IN_MEMORY:
        values = ref.select(pl.col(rc).cast(pl.String)).drop_nulls().unique().collect().to_series()
        return Compiled(r.filled(name), ~r.text(name).is_in(values.implode()), [_out(name)])
    ref = sql_ident(rc) if types[rc] == "str" else f"CAST({sql_ident(rc)} AS VARCHAR)"
    duck = (f"SELECT s.file_row_number + 1 AS {ROW}, NULL::BIGINT AS d FROM src s "
            f"WHERE s.{sql_ident(name)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM (SELECT DISTINCT {ref} AS v FROM "
            f"{view} WHERE {sql_ident(rc)} IS NOT NULL) x WHERE x.v = {r.duck_text(name)})")
    return _joined(i, Compiled(r.filled(name), pl.lit(False), [_out(name)]), duck)


def _unique(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    names = [r.col(spec, n) for n in range(len(spec.columns))]
    if not names:
        raise NotRunnable("唯一性规则没有给出信息项", "The uniqueness rule names no data items")
    present = " AND ".join(f"{sql_ident(n)} IS NOT NULL" for n in names)
    cols = ", ".join(sql_ident(n) for n in names)
    # duplicates of the key's hash first (grouping integers is several times faster than grouping text), then the
    # exact duplicates among those few candidate rows
    duck = (f"WITH h AS (SELECT hash({cols}) AS h FROM src WHERE {present} GROUP BY 1 HAVING count(*) > 1), "
            f"c AS (SELECT file_row_number, {cols} FROM src WHERE {present} AND hash({cols}) IN (SELECT h FROM h)) "
            f"SELECT file_row_number + 1 AS {ROW}, count(*) OVER (PARTITION BY {cols}) AS d FROM c QUALIFY d > 1")
    checked = pl.all_horizontal([r.filled(n) for n in names])
    return _joined(i, Compiled(checked, pl.lit(False), [_out(n) for n in names]), duck, "重复次数")


def _row_rule(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    a, b = r.col(spec, 0), r.col(spec, 1)
    check = str(spec.params.get("check") or "compare")
    if check == "ric_birth":
        well = r.ric(a)[0]
        if r.types[b] in ("date", "ts"):
            given = pl.col(b).cast(pl.Date)
            bad = given != r.born(a)
        else:
            bad = r.text(b).str.replace_all("[^0-9]", "") != r.text(a).str.slice(6, 8)
        return Compiled(r.filled(a) & r.filled(b) & well, bad.fill_null(True), [_out(a), _out(b)])
    if check == "ric_sex":
        well = r.ric(a)[0]
        t = r.text(b)
        sex = (pl.when(t.is_in(["1", "男", "男性"])).then(pl.lit("1"))
               .when(t.is_in(["2", "女", "女性"])).then(pl.lit("2")).otherwise(pl.lit(None, pl.String)))
        odd = r.text(a).str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 1
        return Compiled(r.filled(a) & well & sex.is_not_null(), odd != (sex == "1"), [_out(a), _out(b)])
    if check == "compare":
        return _compare(r, a, b, str(spec.params.get("op") or "="))
    raise NotRunnable(f"未知的行内检查“{check}”", f"Unknown row check '{check}'")


def _compare(r: Runner, a: str, b: str, op: str) -> Compiled:
    if op not in OPS:
        raise NotRunnable(f"比较符“{op}”无效", f"Invalid operator '{op}'")
    x, y = pl.col(a), pl.col(b)
    if r.types[a] != r.types[b] and {r.types[a], r.types[b]} != {"date", "ts"}:
        raise NotRunnable("两个信息项的类型不同，不能比较", "The two items have different types and cannot be compared")
    return Compiled(r.filled(a) & r.filled(b), ~OPS[op](x, y), [_out(a), _out(b)])


def _time_order(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    a, b = r.col(spec, 0), r.col(spec, 1)
    return _compare(r, a, b, "<" if spec.params.get("strict") else "<=")


def _cross_table(r: Runner, i: int, spec: RuleSpec) -> Compiled:
    value = r.col(spec, 0)
    mine = [r.col(spec, n) for n in range(1, len(spec.columns))]
    p = spec.params
    theirs = [str(k) for k in p.get("ref_keys") or []]
    if not mine or len(mine) != len(theirs):
        raise NotRunnable("跨表规则的主键没有一一对应", "The cross-table rule's keys do not pair up")
    rc = str(p.get("ref_column") or "")
    mode = str(p.get("mode") or "equals")
    if mode not in ("equals", "exists"):
        raise NotRunnable(f"跨表比对方式“{mode}”无效（equals 或 exists）", f"Invalid mode '{mode}' (equals or exists)")
    view, types = r.ref(i, p, [rc, *theirs])

    def rt(c: str) -> str:
        return sql_ident(c) if types[c] == "str" else f"CAST({sql_ident(c)} AS VARCHAR)"
    keys = ", ".join(f"{rt(k)} AS k{n}" for n, k in enumerate(theirs))
    on = " AND ".join(f"{r.duck_text(m)} = j.k{n}" for n, m in enumerate(mine))
    present = [m for m in mine] + ([value] if mode == "equals" else [])
    where = " AND ".join(f"s.{sql_ident(c)} IS NOT NULL" for c in dict.fromkeys(present))
    v = r.duck_text(value)
    bad = "j.hit IS NULL" if mode == "exists" else f"(j.hit IS NULL OR j.lo <> {v} OR j.hi <> {v})"
    duck = (f"SELECT s.file_row_number + 1 AS {ROW}, j.lo AS d FROM src s LEFT JOIN (SELECT {keys}, min({rt(rc)}) AS lo, "
            f"max({rt(rc)}) AS hi, true AS hit FROM {view} GROUP BY ALL) j ON {on} WHERE {where} AND {bad}")
    checked = pl.all_horizontal([r.filled(c) for c in dict.fromkeys(present)])
    outs = [_out(value)] + [_out(m) for m in mine if m != value]
    return _joined(i, Compiled(checked, pl.lit(False), outs), duck, "对方取值")


COMPILERS: dict[str, Callable[[Runner, int, RuleSpec], Compiled]] = {
    "format": _format, "code_table": _code_table, "checksum": _checksum, "element": _element,
    "required": _required, "record_complete": _record_complete, "range": _range, "pattern": _pattern,
    "reference": _reference, "unique": _unique, "row_rule": _row_rule, "cross_table": _cross_table,
    "time_order": _time_order,
}
#: every kind the engine runs (the two without a scan included)
ENGINE_KINDS = frozenset(COMPILERS) | {"freshness", "accessible"}
