"""The cross-source comparison itself, without the database: Parquet files in, counts and the mismatching
subjects (Parquet) out. One DuckDB pass joins every source on the subject key; the benchmark calls
:func:`compare_frames` directly.

Values are compared after normalising (:func:`norm_sql`): full-width characters to half-width, every white space
removed, upper case; dates without separators (``2020-01-02`` = ``20200102`` = ``2020/01/02``); numbers as numbers
(``1.0`` = ``1``). Empty means missing: a subject counts for an element when two sources or more hold a value. Two
values that differ only before normalising are a *formatting* difference (规范性), counted apart and never a
conflict.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import duckdb

from gongshu.store.service import sql_literal

#: full-width ASCII (U+FF01…U+FF5E) and the ideographic space, to their half-width forms
_FULL = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_HALF = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
DATE_TYPES = ("D", "T")
NUMBER_TYPES = ("N", "Y", "B", "I", "F")


@dataclass(frozen=True)
class Source:
    """One source: a Parquet file with one row per subject, its key column and the column of each element."""

    name: str
    path: str | Path
    key: str
    columns: Mapping[str, str]  # element → column


@dataclass
class PairCount:
    a: str
    b: str
    both: int  # subjects both hold a value for
    conflicts: int
    formatting: int


@dataclass
class ElementResult:
    element: str
    sources: list[str]
    legal: str | None
    subjects: int = 0  # subjects with a value in two sources or more
    conflicts: int = 0  # … whose normalised values differ between two sources
    legal_conflicts: int = 0  # … where the legal source's value differs from another's
    formatting: int = 0  # … no conflict, but values differ in formatting only
    pairs: list[PairCount] = field(default_factory=list)
    path: Path | None = None  # the conflicting subjects: k and one column per source (raw values)
    sample: list[dict] = field(default_factory=list)  # {"k": key, source: raw value…}, first keys in order


@dataclass
class CompareResult:
    elements: dict[str, ElementResult]
    seconds: float


def norm_sql(expr: str, type_: str = "C") -> str:
    """The normalised form of a VARCHAR expression (NULL when empty)."""
    wide = f"CASE WHEN regexp_matches({expr}, '[\uff01-\uff5e\u3000]') " \
           f"THEN translate({expr}, {sql_literal(_FULL)}, {sql_literal(_HALF)}) ELSE {expr} END"
    base = f"nullif(upper(regexp_replace({wide}, '\\s+', '', 'g')), '')"
    if type_ in DATE_TYPES:
        return f"nullif(regexp_replace({base}, '[-/.:年月日时分秒T]', '', 'g'), '')"
    if type_ in NUMBER_TYPES:
        return f"coalesce(CAST(TRY_CAST({base} AS DOUBLE) AS VARCHAR), {base})"
    return base


def _as_source(s: Source | Sequence) -> Source:
    return s if isinstance(s, Source) else Source(s[0], s[1], s[2], dict(s[3]))


def compare_frames(sources: Sequence[Source | tuple], out_dir: str | Path, *,
                   legal: Mapping[str, str] | None = None, types: Mapping[str, str] | None = None,
                   sample: int = 10, threads: int | None = 2, files: Mapping[str, str] | None = None
                   ) -> CompareResult:
    """Compare every element held by two sources or more, joined on the subject key.

    ``sources``: :class:`Source` or ``(name, parquet path, key column, {element: column})``; a source holds one row
    per key (keys compared trimmed and upper-cased). ``legal``: element → the name of its legal source.
    ``types``: element → catalogue type (C, D, N…) for normalising. The conflicting subjects of each element are
    written to ``out_dir / files[element]`` (default ``<n>.parquet``) with a column ``k`` and one per source (the
    source's name, raw values); elements without conflicts write nothing. Returns the counts per element."""
    started = time.perf_counter()
    srcs = [_as_source(s) for s in sources]
    names = [s.name for s in srcs]
    if len(set(names)) != len(names):
        raise ValueError("source names must be unique")
    legal, types, files = dict(legal or {}), dict(types or {}), dict(files or {})
    holders: dict[str, list[int]] = {}
    for i, s in enumerate(srcs):
        for element in s.columns:
            holders.setdefault(element, []).append(i)
    compared = {e: idx for e, idx in holders.items() if len(idx) >= 2}
    results = {e: ElementResult(e, [names[i] for i in idx], legal.get(e) if legal.get(e) in names else None)
               for e, idx in holders.items()}
    if not compared:
        return CompareResult(results, round(time.perf_counter() - started, 3))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    col = {e: f"e{n}" for n, e in enumerate(compared)}  # element → short SQL name
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads={int(threads)}")
        con.execute("SET preserve_insertion_order=false")
        parts = []
        used = sorted({i for idx in compared.values() for i in idx})
        for i in used:
            s = srcs[i]
            cols = [f"nullif(CAST({_q(s.columns[e])} AS VARCHAR), '') AS r{i}_{col[e]}"
                    for e in compared if i in compared[e]]
            parts.append(f"(SELECT upper(trim(CAST({_q(s.key)} AS VARCHAR))) AS k, {', '.join(cols)} "  # noqa: S608
                         f"FROM read_parquet({sql_literal(str(s.path))})) s{i}")
        joined = parts[0] + "".join(f" FULL JOIN {p} USING (k)" for p in parts[1:])
        con.execute(f"CREATE TEMP TABLE w AS SELECT * FROM {joined}")  # noqa: S608 - our names, escaped paths
        # both sources hold a value: counted over every subject; conflicts and formatting differences only where
        # the raw values differ (few rows), so normalising never runs over the whole join
        both_aggs, diffs, per_row, aggs, flags = [], [], ["k"], [], {}
        for e, idx in compared.items():
            c, t = col[e], types.get(e, "C")
            confs, fmts = [], []
            for a, b in combinations(idx, 2):
                ra, rb, p = f"r{a}_{c}", f"r{b}_{c}", f"{c}_{a}_{b}"
                both_aggs.append(f"count_if({ra} IS NOT NULL AND {rb} IS NOT NULL)")
                diffs.append(f"{ra} <> {rb}")
                per_row += [f"coalesce({norm_sql(ra, t)} <> {norm_sql(rb, t)}, false) AS conf_{p}",
                            f"coalesce({ra} <> {rb} AND {norm_sql(ra, t)} = {norm_sql(rb, t)}, false) AS fmt_{p}"]
                confs.append((a, b, f"conf_{p}"))
                fmts.append(f"fmt_{p}")
                aggs += [f"count_if(conf_{p})", f"count_if(fmt_{p})"]
            any_conf = " OR ".join(x[2] for x in confs)
            lg = results[e].legal
            legal_conf = " OR ".join(x[2] for x in confs if lg in (names[x[0]], names[x[1]])) or "false"
            both_aggs.append(f"count_if({' + '.join(f'(r{i}_{c} IS NOT NULL)::INTEGER' for i in idx)} >= 2)")
            flags[e] = any_conf
            aggs += [f"count_if({any_conf})", f"count_if({legal_conf})",
                     f"count_if(NOT ({any_conf}) AND ({' OR '.join(fmts)}))"]
        held = con.execute(f"SELECT {', '.join(both_aggs)} FROM w").fetchall()[0]  # noqa: S608 - our expressions
        con.execute(f"CREATE TEMP TABLE d AS SELECT * FROM w WHERE {' OR '.join(diffs)}")  # noqa: S608
        con.execute(f"CREATE TEMP TABLE f AS SELECT {', '.join(per_row)} FROM d")  # noqa: S608 - our expressions
        row = con.execute(f"SELECT {', '.join(aggs)} FROM f").fetchall()[0]  # noqa: S608 - our expressions
        pos = hpos = 0
        for n, (e, idx) in enumerate(compared.items()):
            r = results[e]
            for a, b in combinations(idx, 2):
                r.pairs.append(PairCount(names[a], names[b], held[hpos], *row[pos:pos + 2]))
                pos += 2
                hpos += 1
            r.subjects = held[hpos]
            hpos += 1
            r.conflicts, r.legal_conflicts, r.formatting = row[pos:pos + 3]
            pos += 3
            if not r.conflicts:
                continue
            r.path = out / files.get(e, f"{n}.parquet")
            select = ", ".join(["k"] + [f"d.r{i}_{col[e]} AS {_q(names[i])}" for i in idx])
            query = f"SELECT {select} FROM d JOIN (SELECT k FROM f WHERE {flags[e]}) x USING (k)"  # noqa: S608
            con.execute(f"COPY ({query}) TO {sql_literal(str(r.path))} (FORMAT parquet, COMPRESSION zstd)")
            if sample:
                cur = con.execute(f"SELECT * FROM read_parquet({sql_literal(str(r.path))}) "  # noqa: S608
                                  f"ORDER BY k LIMIT {int(sample)}")
                heads = [d[0] for d in cur.description]
                r.sample = [dict(zip(heads, v, strict=True)) for v in cur.fetchall()]
    finally:
        con.close()
    return CompareResult(results, round(time.perf_counter() - started, 3))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
