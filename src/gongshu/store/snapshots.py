"""Parquet snapshots of versions, and the DuckDB work over them (R-AGG-3, R-AGG-6).

Every accepted version is written as one zstd Parquet file (:class:`SnapshotWriter`, atomically:
``path.part`` renamed on close). DuckDB — one in-process connection per call, ``memory_limit``
512 MB, 2 threads, spilling to a temporary directory — merges an incremental
load into the previous state and counts or lists the differences between two versions.

Files are opened through DuckDB's Python relation API (``read_parquet`` with the path as a value),
so no path is ever formatted into SQL; column names are validated identifiers.
"""
# SQL here is built only from validated identifiers, fixed view names and ints (never values or paths):
# ruff: noqa: S608

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.hazmat.primitives import hashes

from gongshu.errors import Invalid

ROW = "_row"
BATCH_ROWS = 50_000
#: a column is dictionary-encoded when its first batch (of at least DICTIONARY_SAMPLE rows) has at most this
#: share of distinct values; smaller first batches keep pyarrow's default (every column)
DICTIONARY_RATIO = 0.1
DICTIONARY_SAMPLE = 1_000
MAX_PAGE = 10_000
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def file_sm3(path: Path) -> str:
    """SM3 hex digest of a file, read in 1 MB chunks."""
    h = hashes.Hash(hashes.SM3())
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.finalize().hex()


def copy_sm3(src: BinaryIO, dst: BinaryIO) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` in 1 MB chunks, digesting the bytes on the way: (bytes copied, SM3 hex digest) —
    a received file is read once, not stored and then read again for its digest."""
    h = hashes.Hash(hashes.SM3())
    n = 0
    while chunk := src.read(1 << 20):
        h.update(chunk)
        dst.write(chunk)
        n += len(chunk)
    return n, h.finalize().hex()


class SnapshotWriter:
    """Streams record batches into ``path`` (zstd Parquet); ``labels`` become field metadata ``label``.

    Writes go to ``path.part``; :meth:`close` fsyncs and renames it to ``path`` and returns the rows
    written. Leaving the ``with`` block by an exception removes the part file.
    """

    def __init__(self, path: Path, schema: pa.Schema, labels: Mapping[str, str]) -> None:
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        fields = []
        for f in schema:
            if f.name in labels:
                f = f.with_metadata({**(f.metadata or {}), b"label": labels[f.name].encode()})
            fields.append(f)
        self.schema = pa.schema(fields, metadata=schema.metadata)
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: pq.ParquetWriter | None = None  # opened at the first batch, which picks the dictionaries
        self._closed = False

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self, first: pa.RecordBatch | pa.Table | None) -> pq.ParquetWriter:
        """The file's writer; dictionary encoding only for the columns that repeat their values in the first
        batch (codes, dates, counts): for ID numbers, names and addresses a dictionary is built and thrown
        away page after page — about a quarter of the write's time for a person table, for a larger file."""
        dictionary: bool | list[str] = True
        if first is not None and first.num_rows >= DICTIONARY_SAMPLE:
            dictionary = [name for name, col in zip(first.schema.names, first.columns, strict=True)
                          if pc.count_distinct(col).as_py() <= DICTIONARY_RATIO * first.num_rows]
        self._writer = pq.ParquetWriter(self.part, self.schema, compression="zstd", use_dictionary=dictionary)
        return self._writer

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self._closed:
            raise RuntimeError("snapshot writer is closed")
        if batch.num_rows == 0:
            return
        names = self.schema.names
        if batch.schema.names != names:
            missing = [n for n in names if n not in batch.schema.names]
            if missing:
                raise Invalid(f"写入快照的数据缺少列 {', '.join(missing)}",
                              f"Snapshot data lacks columns {', '.join(missing)}", field=missing[0])
            batch = batch.select(names)
        if not batch.schema.equals(self.schema, check_metadata=False):
            batch = batch.cast(self.schema)
        writer = self._writer or self._open(batch)
        if isinstance(batch, pa.Table):
            writer.write_table(batch)
        else:
            writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> int:
        if not self._closed:
            self._closed = True
            (self._writer or self._open(None)).close()  # no rows: a file with the schema all the same
            self._writer = None
            with open(self.part, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.part, self.path)
        return self.rows

    def abort(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.part.unlink(missing_ok=True)


#: DuckDB's memory cap per call: it spills beyond it; a 10M-row load (duplicate keys over 10M keys while the
#: store writer still runs) must stay under 1.5 GB in all
DUCKDB_MEMORY = "512MB"


def _duck(tmp: Path | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    con.execute("SET threads = 2")
    spill = str(tmp or Path(tempfile.gettempdir()) / "gongshu-duckdb")
    con.execute("SET temp_directory = '" + spill.replace("'", "''") + "'")
    return con


def _view(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> list[str]:
    """Register ``path`` as view ``name``; returns its column names."""
    if not Path(path).exists():
        raise Invalid(f"快照文件不存在：{path}", f"Snapshot file not found: {path}", field="path")
    rel = con.read_parquet(str(path))
    rel.create_view(name)
    return list(rel.columns)


def _names(names: Sequence[str], what: str) -> list[str]:
    out = list(names)
    for n in out:
        if not isinstance(n, str) or not _NAME.match(n):
            raise Invalid(f"{what}“{n}”不合法", f"Invalid {what} name '{n}'", field=str(n))
    return out


def _need(have: Sequence[str], want: Sequence[str], path: Path | None) -> None:
    missing = [c for c in want if c not in have]
    if missing:
        raise Invalid(f"快照 {path} 缺少列 {', '.join(missing)}", f"Snapshot {path} lacks columns {', '.join(missing)}",
                      field=missing[0])


def _q(name: str) -> str:
    return f'"{name}"'


def _on(keys: Sequence[str], a: str, b: str) -> str:
    return " AND ".join(f"{a}.{_q(k)} = {b}.{_q(k)}" for k in keys)


def merge_snapshot(*, base: Path | None, delta: Path | None, deletes: Path | None, keys: Sequence[str],
                   out: Path) -> int:
    """Incremental upsert: rows of ``base`` whose key is neither in ``delta`` nor in ``deletes``, plus
    ``delta``; ordered by the keys (so the same state gives the same file). ``_row`` is dropped.

    Written through :class:`SnapshotWriter` with the schema (types, labels) of ``base`` (else of
    ``delta``) and streamed from DuckDB in record batches. Returns the rows written.
    """
    keys = _names(keys, "主键列")
    if base is None and delta is None:
        raise Invalid("合并快照至少需要原有数据或新增数据之一", "A merge needs a base or a delta", field="delta")
    if base is not None and (delta is not None or deletes is not None) and not keys:
        raise Invalid("没有主键信息项，不能增量更新", "Without key columns an incremental upsert is impossible",
                      field="keys")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    con = _duck(out.parent / ".duckdb_tmp")
    try:
        first = base if base is not None else delta
        assert first is not None
        schema = pq.read_schema(first)
        schema = pa.schema([f for f in schema if f.name != ROW], metadata=schema.metadata)
        cols = schema.names
        sel = ", ".join(_q(c) for c in cols)
        parts = []
        if base is not None:
            _need(_view(con, "base", base), cols + keys, base)
            cond = []
            if delta is not None:
                _need(_view(con, "delta", delta), cols, delta)
                cond.append(f"NOT EXISTS (SELECT 1 FROM delta x WHERE {_on(keys, 'x', 'b')})")
            if deletes is not None:
                _need(_view(con, "deletes", deletes), keys, deletes)
                cond.append(f"NOT EXISTS (SELECT 1 FROM deletes x WHERE {_on(keys, 'x', 'b')})")
            parts.append(f"SELECT {', '.join('b.' + _q(c) for c in cols)} FROM base b"
                         + (f" WHERE {' AND '.join(cond)}" if cond else ""))
        if delta is not None:
            if base is None:
                _view(con, "delta", delta)
            parts.append(f"SELECT {sel} FROM delta")
        sql = " UNION ALL ".join(parts)
        if keys:
            sql = f"SELECT * FROM ({sql}) ORDER BY {', '.join(_q(k) for k in keys)}"
        reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        with SnapshotWriter(out, schema, {}) as w:
            for batch in reader:
                w.write(batch)
        return w.rows
    finally:
        con.close()


@dataclass
class DiffCounts:
    added: int
    changed: int
    deleted: int
    unchanged: int


def _diff_setup(con, old: Path, new: Path, keys: Sequence[str], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    keys = _names(keys, "主键列")
    cols = [c for c in _names(columns, "列") if c not in keys]
    _need(_view(con, "o_src", old), keys + cols, old)
    _need(_view(con, "n_src", new), keys + cols, new)
    return keys, cols


def _changed(cols: Sequence[str]) -> str:
    return " OR ".join(f"o.{_q(c)} IS DISTINCT FROM n.{_q(c)}" for c in cols) or "false"


def diff_snapshots(old: Path | None, new: Path, *, keys: Sequence[str], columns: Sequence[str]) -> DiffCounts:
    """Rows added / changed / deleted / unchanged from ``old`` to ``new``, matched by ``keys``.

    ``columns`` are compared (key columns among them are ignored). Without keys the two files are
    compared as multisets of whole rows: only added and deleted (and unchanged) are counted.
    With no ``old`` every row of ``new`` is added.
    """
    if old is None:
        return DiffCounts(added=pq.ParquetFile(new).metadata.num_rows, changed=0, deleted=0, unchanged=0)
    con = _duck()
    try:
        keys, cols = _diff_setup(con, old, new, keys, columns)
        if keys:
            kl = ", ".join(_q(k) for k in keys + cols)
            sql = (f"SELECT count(*) FILTER (WHERE o.__p IS NULL), "
                   f"count(*) FILTER (WHERE o.__p AND n.__p AND ({_changed(cols)})), "
                   f"count(*) FILTER (WHERE n.__p IS NULL), "
                   f"count(*) FILTER (WHERE o.__p AND n.__p AND NOT ({_changed(cols)})) "
                   f"FROM (SELECT {kl}, true AS __p FROM o_src) o "
                   f"FULL OUTER JOIN (SELECT {kl}, true AS __p FROM n_src) n ON {_on(keys, 'o', 'n')}")
            a, c, d, u = con.execute(sql).fetchone()
            return DiffCounts(added=int(a), changed=int(c), deleted=int(d), unchanged=int(u))
        a, d, u = con.execute(f"SELECT coalesce(sum(greatest(__n - __o, 0)), 0), "
                              f"coalesce(sum(greatest(__o - __n, 0)), 0), "
                              f"coalesce(sum(least(__o, __n)), 0) FROM ({_multiset(cols)})").fetchone()
        return DiffCounts(added=int(a), changed=0, deleted=int(d), unchanged=int(u))
    finally:
        con.close()


def _multiset(cols: Sequence[str]) -> str:
    cl = ", ".join(_q(c) for c in cols)
    return (f"SELECT {cl}, sum(__o) AS __o, sum(__n) AS __n FROM (SELECT {cl}, 1 AS __o, 0 AS __n FROM o_src "
            f"UNION ALL SELECT {cl}, 0 AS __o, 1 AS __n FROM n_src) GROUP BY ALL")


def diff_rows(old: Path | None, new: Path, *, keys: Sequence[str], columns: Sequence[str], kind: str,
              limit: int = 100, offset: int = 0) -> list[dict]:
    """One page of the differences of ``kind`` (``added``, ``changed`` or ``deleted``), ordered by key.

    ``added``/``deleted``: the rows as dicts (key columns first). ``changed``:
    ``{"key": {k: v}, "changes": {column: {"old": v, "new": v}}}`` with only the columns that differ.
    Without keys, rows are compared as a multiset and ``changed`` is always empty.
    """
    if kind not in ("added", "changed", "deleted"):
        raise Invalid(f"差异类型“{kind}”未知，应为 added、changed 或 deleted",
                      f"Unknown kind '{kind}': one of added, changed, deleted", field="kind")
    limit, offset = int(limit), int(offset)
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise Invalid(f"每页行数应在 1 到 {MAX_PAGE} 之间，起始位置不能为负",
                      f"limit must be between 1 and {MAX_PAGE} and offset not negative", field="limit")
    con = _duck()
    try:
        if old is None:
            if kind != "added":
                return []
            keys = _names(keys, "主键列")
            cols = keys + [c for c in _names(columns, "列") if c not in keys]
            _need(_view(con, "n_src", new), cols, new)
            order = ", ".join(_q(k) for k in keys) if keys else "ALL"
            return _fetch(con, f"SELECT {', '.join(_q(c) for c in cols)} FROM n_src ORDER BY {order}", limit, offset)
        keys, cols = _diff_setup(con, old, new, keys, columns)
        everything = keys + cols
        if not keys:
            if kind == "changed":
                return []
            a, b = ("__n", "__o") if kind == "added" else ("__o", "__n")
            cl = ", ".join(_q(c) for c in cols)
            sql = (f"SELECT {cl} FROM (SELECT {cl}, CAST({a} - {b} AS BIGINT) AS extra FROM ({_multiset(cols)}) WHERE {a} > {b}) m, "
                   f"range(m.extra) r ORDER BY ALL")
            return _fetch(con, sql, limit, offset)
        order = ", ".join(_q(k) for k in keys)
        if kind in ("added", "deleted"):
            this, other = ("n_src", "o_src") if kind == "added" else ("o_src", "n_src")
            sql = (f"SELECT {', '.join('t.' + _q(c) for c in everything)} FROM {this} t "
                   f"WHERE NOT EXISTS (SELECT 1 FROM {other} x WHERE {_on(keys, 'x', 't')}) ORDER BY {order}")
            return _fetch(con, sql, limit, offset)
        sel = ", ".join([f"o.{_q(k)}" for k in keys] + [f"o.{_q(c)}" for c in cols] + [f"n.{_q(c)}" for c in cols])
        sql = (f"SELECT {sel} FROM o_src o JOIN n_src n ON {_on(keys, 'o', 'n')} WHERE {_changed(cols)} "
               f"ORDER BY {', '.join('o.' + _q(k) for k in keys)}")
        out = []
        for r in con.execute(f"{sql} LIMIT {limit} OFFSET {offset}").fetchall():
            k, o, n = r[: len(keys)], r[len(keys): len(keys) + len(cols)], r[len(keys) + len(cols):]
            out.append({"key": dict(zip(keys, k, strict=True)),
                        "changes": {c: {"old": ov, "new": nv} for c, ov, nv in zip(cols, o, n, strict=True)
                                    if not _same(ov, nv)}})
        return out
    finally:
        con.close()


def _same(a: object, b: object) -> bool:
    return a == b or (a != a and b != b)  # NaN equals NaN, as in DuckDB's IS DISTINCT FROM


def _fetch(con, sql: str, limit: int, offset: int) -> list[dict]:
    cur = con.execute(f"{sql} LIMIT {limit} OFFSET {offset}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def sql_literal(value: object) -> str:
    """A value (text or path) as a DuckDB string literal, quotes doubled — for our own paths and names."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A column name as a quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'
