"""The rule engine: every rule compiles to a vectorised predicate over a data version's Parquet snapshot (R-GOV-1).

:func:`run` needs no database (the benchmarks call it directly). For one snapshot and a list of
:class:`RuleSpec` it makes

1. for the rules that need the whole data set at once — duplicates (``unique``), reference data (``reference``),
   another entry's version (``cross_table``) — one DuckDB query each that returns the positions of the rows
   that fail (DuckDB joins and groups within a memory limit, spilling to a temporary directory);
2. **one** streaming pass over the snapshot in batches (Polars): each rule is a pair of Polars expressions,
   ``checked`` (the row counts in B) and ``bad``; per batch the counts are added up and the rows failing any rule
   are appended, with one flag per rule, to a work file;
3. per failing rule, from that (small) file: its failing rows as a Parquet file (``_row`` = the row's position
   in the snapshot, from 1; the key columns; the rule's values and what was expected) and a small sample.

Row predicates are Polars, not DuckDB SQL: Polars' string kernels (trim, slicing, regular expressions) are
several times faster than DuckDB's on the same data, and a citizen ID number's check digit is one base-13 parse
(GB 11643's weights are 2^k mod 11, and 13 ≡ 2 mod 11) instead of seventeen slices.

A rule that cannot run (an item missing from the version, a regular expression that does not compile, a
comparison of incompatible types, a reference without data) comes back with ``ran=False`` and the reason in
Chinese and English; the others still run. Memory stays bounded: batches of :data:`BATCH_ROWS` rows, DuckDB's
memory limit, failing rows streamed to disk.
"""
# DuckDB SQL here is built from quoted identifiers of the snapshot and literals escaped by sql_literal only:
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import math
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from gongshu.quality.service.engine_kinds import (
    COMPILERS,
    ENGINE_KINDS,
    RIC_FORM,
    ROW,
    ROW_CHECKS,
    Compiled,
    NotRunnable,
    era_frame,
    regex_error,
)
from gongshu.store.snapshots import DUCKDB_MEMORY, file_sm3, sql_ident, sql_literal

__all__ = ["ENGINE_KINDS", "ROW", "ROW_CHECKS", "NotRunnable", "RuleOutcome", "RuleSpec", "connect", "file_name",
           "regex_error", "run"]

#: rows kept per failing rule for pages (the file has them all)
SAMPLE_ROWS = 5
#: rows per batch of the streaming pass
BATCH_ROWS = 250_000


@dataclass(frozen=True)
class RuleSpec:
    """One rule as the engine sees it: the snapshot's column names and resolved parameters.

    ``columns`` per kind: one column for most; ``unique`` and ``record_complete`` any number (``record_complete``
    without columns counts every column); ``row_rule`` and ``time_order`` (a, b); ``cross_table`` (value,
    *keys). Parameters are those of :data:`gongshu.quality.service.rules.KINDS`, with references resolved:
    ``reference`` and ``cross_table`` carry ``ref_path`` (a Parquet file) and ``ref_column``, ``cross_table``
    also ``ref_keys``; ``element`` carries the element's ``type``/``length``/``table``; ``freshness`` carries
    ``next_due`` (ISO date); ``accessible`` carries ``sm3`` (and optionally ``rows``).
    """

    key: str
    kind: str
    columns: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RuleOutcome:
    """X = A/B of one rule: ``passed`` (A) of ``checked`` (B); the failing rows' file and a few of them."""

    key: str
    ran: bool = True
    checked: int = 0
    passed: int = 0
    failing_path: Path | None = None
    sample: list[dict] = field(default_factory=list)
    error: str = ""
    error_en: str = ""

    @property
    def failed(self) -> int:
        return self.checked - self.passed

    @property
    def ratio(self) -> float | None:
        return self.passed / self.checked if self.checked else None


# Public helpers ----------------------------------------------------------------------------

def file_name(key: str) -> str:
    """A file name for a rule key: readable, safe, and distinct for distinct keys."""
    slug = re.sub(r"[^\w.-]+", "_", key).strip("._")[:80] or "rule"
    return f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}.parquet"  # noqa: S324 - a name, not a secret


def connect(*, memory_limit: str = DUCKDB_MEMORY, threads: int = 2, temp_dir: Path | None = None
            ) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a memory limit, ``threads`` and a spill directory."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*[KMGT]i?B", memory_limit):
        raise ValueError(f"memory_limit {memory_limit!r}")
    con = duckdb.connect()
    _do(con, f"SET memory_limit = '{memory_limit}'")
    _do(con, f"SET threads = {int(threads)}")
    _do(con, "SET temp_directory = " + sql_literal(temp_dir or Path(tempfile.gettempdir()) / "gongshu-duckdb"))
    _do(con, "SET preserve_insertion_order = false")
    return con


def _do(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """Run one statement to its end (DuckDB refuses new work while a result is unfinished)."""
    return con.execute(sql).fetchall()


# Running -----------------------------------------------------------------------------------

def run(snapshot: Path | None, rules: Sequence[RuleSpec], out_dir: Path, *, keys: Sequence[str] = (),
        labels: Mapping[str, str] | None = None, today: date | None = None, sample_rows: int = SAMPLE_ROWS,
        memory_limit: str = DUCKDB_MEMORY, threads: int = 2, temp_dir: Path | None = None,
        batch_rows: int = BATCH_ROWS) -> list[RuleOutcome]:
    """Run ``rules`` over the Parquet file ``snapshot``; failing rows go to ``out_dir/<file_name(key)>``.

    ``keys`` are the key columns copied into every failing-rows file; ``labels`` name the columns there (store
    column → data item name). Returns one outcome per rule, in order.
    """
    today = today or date.today()
    labels = dict(labels or {})
    out: dict[int, RuleOutcome] = {}
    data_rules: list[tuple[int, RuleSpec]] = []
    for i, spec in enumerate(rules):
        if spec.kind == "accessible":
            out[i] = _accessible(spec, snapshot)
        elif spec.kind == "freshness":
            out[i] = _freshness(spec, today)
        else:
            data_rules.append((i, spec))
    if data_rules:
        if snapshot is None or not Path(snapshot).exists():
            for i, spec in data_rules:
                out[i] = RuleOutcome(spec.key, ran=False, error="数据版本的快照文件不存在，无法检查",
                                     error_en="The version's snapshot file does not exist; nothing could be checked")
        else:
            work = Path(tempfile.mkdtemp(prefix="quality-", dir=temp_dir))
            try:
                out.update(Runner(Path(snapshot), Path(out_dir), work, list(keys), labels, today, sample_rows,
                                memory_limit, threads, batch_rows).go(data_rules))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return [out[i] for i in range(len(rules))]


class Runner:
    def __init__(self, snapshot: Path, out_dir: Path, work: Path, keys: list[str], labels: dict[str, str],
                 today: date, sample_rows: int, memory_limit: str, threads: int, batch_rows: int) -> None:
        self.snapshot, self.out_dir, self.work, self.labels = snapshot, out_dir, work, labels
        self.today, self.sample_rows, self.batch_rows = today, sample_rows, batch_rows
        self.memory_limit, self.threads = memory_limit, threads
        self.out: dict[int, RuleOutcome] = {}
        self.helpers: dict[str, pl.Expr] = {}  # computed once per batch, shared by rules
        self.lookups: dict[str, pl.DataFrame] = {}  # helper column → a table joined on it ("code") per batch
        self.schema: dict[str, pl.DataType] = {}
        self.types: dict[str, str] = {}
        self.keys = keys
        self._con: duckdb.DuckDBPyConnection | None = None

    # -- set-up

    def go(self, rules: list[tuple[int, RuleSpec]]) -> dict[int, RuleOutcome]:
        try:
            self.schema = dict(pl.scan_parquet(self.snapshot).collect_schema())
        except (pl.exceptions.PolarsError, OSError) as exc:
            for i, spec in rules:
                self.out[i] = RuleOutcome(spec.key, ran=False, error=f"快照文件无法读取：{_msg(exc)}",
                                          error_en=f"The snapshot cannot be read: {_msg(exc)}")
            return self.out
        self.types = {n: _category(t) for n, t in self.schema.items()}
        self.keys = [k for k in self.keys if k in self.types]
        compiled: dict[int, Compiled] = {}
        specs = dict(rules)
        try:
            for i, spec in rules:
                try:
                    compiled[i] = self._compile(i, spec)
                except NotRunnable as exc:
                    self.out[i] = RuleOutcome(spec.key, ran=False, error=exc.zh, error_en=exc.en)
            self._probe(compiled, specs)
            masks = self._whole_data(compiled, specs)
            if compiled:
                self._scan(compiled, specs, masks)
        finally:
            if self._con is not None:
                self._con.close()
        return self.out

    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = connect(memory_limit=self.memory_limit, threads=self.threads, temp_dir=self.work / "spill")
            self._con.read_parquet(str(self.snapshot), file_row_number=True).create_view("src")
        return self._con

    def _probe(self, compiled: dict[int, Compiled], specs: dict[int, RuleSpec]) -> None:
        """Resolve every rule's expressions against the snapshot's schema (types, operators) without data."""
        empty = self._with_helpers(pl.LazyFrame(schema={**self.schema, ROW: pl.get_index_type()}))
        for i in list(compiled):
            c = compiled[i]
            exprs = [c.checked.alias("b"), c.bad.alias("x"), *(e.alias(f"o{j}") for j, (e, _) in enumerate(c.outputs))]
            if c.duck is not None:
                empty_j = empty.with_columns(pl.lit(None, pl.Boolean).alias(f"__j{i}"),
                                             pl.lit(None, pl.Int64).alias(f"__d{i}"))
            else:
                empty_j = empty
            try:
                empty_j.select(exprs).collect()
            except pl.exceptions.PolarsError as exc:
                self.out[i] = _cannot(specs[i], exc)
                del compiled[i]

    def _with_helpers(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Add the shared helper columns: text forms first (the others may read them)."""
        first = {n: e for n, e in self.helpers.items() if n.startswith("__t_")}
        rest = {n: e for n, e in self.helpers.items() if n not in first}
        if first:
            lf = lf.with_columns(**first)
        if rest:
            lf = lf.with_columns(**rest)
        for key, table in self.lookups.items():
            lf = lf.join(table.lazy(), left_on=key, right_on="code", how="left")
        return lf

    # -- rules over the whole data set (DuckDB)

    def _whole_data(self, compiled: dict[int, Compiled], specs: dict[int, RuleSpec]) -> dict[int, pl.DataFrame]:
        masks = {}
        for i in [i for i, c in compiled.items() if c.duck is not None]:
            try:
                df = self.con().sql(compiled[i].duck).pl()
                masks[i] = df.select(pl.col(ROW).cast(pl.get_index_type()), pl.lit(True).alias(f"__j{i}"),
                                     pl.col("d").alias(f"__d{i}")).sort(ROW)
            except duckdb.Error as exc:
                self.out[i] = _cannot(specs[i], exc)
                del compiled[i]
        return masks

    # -- the streaming pass

    def _scan(self, compiled: dict[int, Compiled], specs: dict[int, RuleSpec], masks: dict[int, pl.DataFrame]
              ) -> None:
        needed = set(self.keys)
        for c in compiled.values():
            needed |= _columns_of([c.checked, c.bad, *(e for e, _ in c.outputs)])
        needed |= _columns_of(list(self.helpers.values()))
        needed = [n for n in self.schema if n in needed]
        lf = pl.scan_parquet(self.snapshot).select(needed)
        total = pq.ParquetFile(self.snapshot).metadata.num_rows
        flags = []
        for i, c in compiled.items():
            flags += [c.checked.fill_null(False).alias(f"__b{i}"),
                      (c.checked.fill_null(False) & c.bad.fill_null(False)).alias(f"__x{i}")]
        outs = [pl.col(ROW)] + [pl.col(k) for k in self.keys]
        for i, c in compiled.items():
            outs += [e.alias(f"o{i}_{j}") for j, (e, _) in enumerate(c.outputs)]
            outs.append(pl.col(f"__x{i}"))
        any_fail = pl.any_horizontal([pl.col(f"__x{i}") for i in compiled])
        counts = dict.fromkeys(compiled, 0)
        parts = 0
        for batch in self._batches(lf, total):
            frame = batch.lazy()
            if masks:
                lo, hi = batch[ROW].min(), batch[ROW].max()
                for i, m in masks.items():
                    part = _between(m, lo, hi)
                    if part.height:
                        frame = frame.join(part.lazy(), on=ROW, how="left")
                    else:
                        frame = frame.with_columns(pl.lit(None, pl.Boolean).alias(f"__j{i}"),
                                                   pl.lit(None, m.schema[f"__d{i}"]).alias(f"__d{i}"))
            frame = self._with_helpers(frame).with_columns(flags).collect()
            sums = frame.select([pl.col(f"__b{i}").sum() for i in compiled]).row(0)
            for i, n in zip(compiled, sums, strict=True):
                counts[i] += int(n)
            # joins may reorder a batch: sort its (few) failing rows, so the work files are in row order overall
            failing = frame.lazy().filter(any_fail).select(outs).sort(ROW).collect()
            if failing.height:  # the failing rows of this batch, as one work file
                failing.write_parquet(self.work / f"fails-{parts:06d}.parquet", compression="lz4")
                parts += 1
        fails_path = self.work / "fails-*.parquet"
        failed = dict.fromkeys(compiled, 0)
        if parts:
            row = pl.scan_parquet(fails_path).select([pl.col(f"__x{i}").sum() for i in compiled]) \
                .collect(engine="streaming").row(0)
            failed = {i: int(n) for i, n in zip(compiled, row, strict=True)}
        for i, c in compiled.items():
            o = RuleOutcome(specs[i].key, checked=counts[i], passed=counts[i] - failed[i])
            if failed[i]:
                o.failing_path, o.sample = self._write_rule(fails_path, i, c, specs[i].key)
            self.out[i] = o

    def _batches(self, lf: pl.LazyFrame, total: int) -> Iterator[pl.DataFrame]:
        """The snapshot in slices of ``batch_rows``, each read while the previous one is checked.

        One query per slice, pulled one ahead: memory stays at two batches whatever the size (a streaming
        ``collect_batches()`` runs ahead of a slower consumer and would buffer the whole file)."""
        starts = list(range(0, total, self.batch_rows))

        def read(start: int) -> pl.DataFrame:
            return lf.slice(start, self.batch_rows).with_row_index(ROW, offset=start + 1).collect()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality-read") as pool:
            ahead = pool.submit(read, starts[0]) if starts else None
            for k in range(len(starts)):
                batch = ahead.result()
                ahead = pool.submit(read, starts[k + 1]) if k + 1 < len(starts) else None
                yield batch

    def _write_rule(self, fails: Path, i: int, c: Compiled, key: str) -> tuple[Path, list[dict]]:
        names: list[str] = [ROW]
        sel = [pl.col(ROW).cast(pl.Int64)]
        for k in self.keys:
            name = _unique_name(self.labels.get(k, k), names)
            sel.append(pl.col(k).alias(name))
        for j, (_e, name) in enumerate(c.outputs):
            if name in self.keys:
                continue  # already there as a key column
            name = _unique_name(self.labels.get(name, name), names)
            sel.append(pl.col(f"o{i}_{j}").alias(name))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / file_name(key)
        # the work files hold the batches in order, so the rows come out ordered by _row without a sort (which
        # would hold every failing row in memory)
        rows = pl.scan_parquet(fails).filter(pl.col(f"__x{i}")).select(sel)
        rows.sink_parquet(path, compression="zstd", maintain_order=True)
        first = pl.scan_parquet(path).head(self.sample_rows).collect()
        return path, [{k: _jsonable(v) for k, v in r.items()} for r in first.iter_rows(named=True)]

    # -- compiling

    def _compile(self, i: int, spec: RuleSpec) -> Compiled:
        fn = COMPILERS.get(spec.kind)
        if fn is None:
            raise NotRunnable(f"未知的规则类型“{spec.kind}”", f"Unknown rule kind '{spec.kind}'")
        return fn(self, i, spec)

    def col(self, spec: RuleSpec, n: int) -> str:
        if len(spec.columns) <= n:
            raise NotRunnable("规则缺少要检查的信息项", "The rule names no data item to check")
        name = spec.columns[n]
        if name not in self.types or name == ROW:
            raise NotRunnable(f"信息项（列 {name}）不在这个数据版本中", f"Column {name} is not in this data version")
        return name

    def helper(self, name: str, expr: pl.Expr) -> pl.Expr:
        self.helpers.setdefault(name, expr)
        return pl.col(name)

    def filled(self, name: str) -> pl.Expr:
        if self.types[name] == "str":
            # blank = null, empty or only white space (an anchored regex fails at the first other character)
            return self.helper(f"__f_{name}", pl.col(name).is_not_null() & ~pl.col(name).str.contains(r"^\s*$"))
        return pl.col(name).is_not_null()

    def text(self, name: str) -> pl.Expr:
        if self.types[name] == "str":
            return pl.col(name)
        return self.helper(f"__t_{name}", pl.col(name).cast(pl.String))

    def ric(self, name: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        """(well-formed, check value expected (0–10), check value present) of an ID number column."""
        t = self.text(name)
        well = self.helper(f"__rw_{name}", t.str.contains(RIC_FORM).fill_null(False))
        body = self.helper(f"__rn_{name}", t.str.slice(0, 17).str.to_integer(base=13, strict=False))
        last = t.str.slice(17, 1)
        got = pl.when(last.is_in(["X", "x"])).then(pl.lit(10, pl.Int64)).otherwise(last.cast(pl.Int64, strict=False))
        return well, (1 - 2 * (body % 11)) % 11, got

    def born(self, name: str) -> pl.Expr:
        """The birth date inside an ID number (null when impossible)."""
        return self.helper(f"__rb_{name}", self.text(name).str.slice(6, 8).str.to_date("%Y%m%d", strict=False))

    def region_ok(self, name: str) -> pl.Expr:
        """The ID number's region code was in use at some time from its year of birth on (GB/T 2260 with its
        history): one join per batch with the last year each code was in use (from :func:`era_frame`).

        Not "in use in the year of birth", as python-stdnum checks: the code is where the number was first
        issued, and people born before 1984 got theirs with the codes of 1984–1999 (a person born in 1950 in
        天河区 holds 440106, a code of 1985). Only a code abolished before the birth cannot be right."""
        key = self.helper(f"__rr_{name}", self.text(name).str.slice(0, 6).cast(pl.Int64, strict=False))
        last = f"__rl_{name}"
        self.lookups.setdefault(f"__rr_{name}", era_frame().select(
            "code", pl.max_horizontal(pl.col(r"^hi\d+$")).alias(last)))
        year = self.text(name).str.slice(6, 4).cast(pl.Int64, strict=False)
        return (year <= pl.col(last)).fill_null(False) & key.is_not_null()

    def duck_text(self, name: str, alias: str = "s") -> str:
        v = f"{alias}.{sql_ident(name)}"
        return v if self.types[name] == "str" else f"CAST({v} AS VARCHAR)"

    def ref(self, i: int, p: Mapping[str, Any], needed: list[str]) -> tuple[str, dict[str, str]]:
        path = p.get("ref_path")
        if not path or not Path(path).exists():
            raise NotRunnable("参照目录没有可用的数据版本", "The referenced entry has no data version available")
        try:
            schema = dict(pl.scan_parquet(path).collect_schema())
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise NotRunnable(f"参照数据无法读取：{_msg(exc)}", f"The reference data cannot be read: {_msg(exc)}") from exc
        missing = [c for c in needed if c not in schema]
        if missing:
            raise NotRunnable(f"参照数据缺少列 {', '.join(missing)}",
                              f"The reference data lacks columns {', '.join(missing)}")
        name = f"q_ref{i}"
        self.con().read_parquet(str(path)).create_view(name, replace=True)
        return name, {c: _category(t) for c, t in schema.items()}


def _between(m: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    rows = m[ROW]
    start = rows.search_sorted(lo, side="left")
    end = rows.search_sorted(hi, side="right")
    return m.slice(start, end - start)


def _columns_of(exprs: list[pl.Expr]) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        out.update(e.meta.root_names())
    return out


def _category(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "str"
    if dtype.is_numeric():
        return "num"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "ts"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Binary:
        return "blob"
    return "other"


def _unique_name(name: str, taken: list[str]) -> str:
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.append(name)
    return name


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _msg(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return " ".join(lines[:2])[:300] if lines else type(exc).__name__


def _cannot(spec: RuleSpec, exc: BaseException) -> RuleOutcome:
    return RuleOutcome(spec.key, ran=False, error=f"规则无法在此数据上执行：{_msg(exc)}",
                       error_en=f"The rule cannot run on this data: {_msg(exc)}")


# Rules that need no scan ---------------------------------------------------------------------

def _accessible(spec: RuleSpec, snapshot: Path | None) -> RuleOutcome:
    """可访问性: the snapshot exists, reads as Parquet (with the rows the version says) and its SM3 matches."""
    p = spec.params
    o = RuleOutcome(spec.key, checked=1, passed=0)
    if snapshot is None or not Path(snapshot).exists():
        o.sample = [{"问题": "快照文件不存在", "problem": "snapshot file missing"}]
        return o
    try:
        rows = pq.ParquetFile(snapshot).metadata.num_rows
    except (OSError, pa.ArrowException) as exc:
        o.sample = [{"问题": "快照文件无法读取", "problem": f"unreadable: {_msg(exc)}"}]
        return o
    if p.get("rows") is not None and int(p["rows"]) != rows:
        o.sample = [{"问题": f"快照有 {rows} 行，版本记录为 {p['rows']} 行", "problem": "row count differs"}]
        return o
    if p.get("sm3") and file_sm3(Path(snapshot)) != p["sm3"]:
        o.sample = [{"问题": "快照的 SM3 摘要与版本记录不符（文件被改动或损坏）", "problem": "SM3 digest differs"}]
        return o
    o.passed = 1
    return o


def _freshness(spec: RuleSpec, today: date) -> RuleOutcome:
    """时效性: the data is not older than its update cycle allows (today ≤ next due date + grace days)."""
    p = spec.params
    due = p.get("next_due")
    o = RuleOutcome(spec.key, checked=1, passed=1)
    if not due:
        return o  # no fixed cycle (其他)
    due = date.fromisoformat(str(due)[:10])
    late = (today - due).days
    if late > int(p.get("grace_days") or 0):
        o.passed = 0
        o.sample = [{"应更新日期": due.isoformat(), "最近归集": p.get("last_loaded_on"), "检查日期": today.isoformat(),
                     "逾期天数": late}]
    return o


