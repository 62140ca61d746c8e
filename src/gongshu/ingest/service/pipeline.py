"""The work of one load between receiving it and applying it (R-AGG-3, R-AGG-6): read the source in
record batches, validate each batch (vectorised), stream the valid rows into a new table of the resource
store in a worker thread while writing the Parquet files, find duplicate keys across batches (key hashes
kept in memory, colliding candidates compared by value),
build the new state (full replace, or the serving version merged with upserts and deletes), count the
differences, and write the rejected-rows report. Nothing here touches the metadata database: the
caller (:func:`gongshu.ingest.service.loads.process`) applies the outcome in one transaction.
"""

from __future__ import annotations

import logging
import queue
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gongshu.config import get_settings
from gongshu.errors import Invalid
from gongshu.ingest.models import DataVersion
from gongshu.ingest.service import spec as specs
from gongshu.ingest.service.files import snapshot_path, snapshots_dir
from gongshu.ingest.service.normalise import Normalisations
from gongshu.ingest.service.readers import open_reader
from gongshu.ingest.service.validate import RULES, check_header, output_schema, validate_batch
from gongshu.store import registry
from gongshu.store.service import (
    SnapshotWriter,
    diff_snapshots,
    file_sm3,
    merge_snapshot,
    sql_literal,
)

log = logging.getLogger(__name__)

#: at most this many problems are kept in the load's report (all are in the rejects file)
REPORT_SAMPLE = 200
REJECT_SCHEMA = pa.schema([("_row", pa.int64()), ("field", pa.large_string()), ("value", pa.large_string()),
                           ("rule", pa.large_string()), ("message", pa.large_string()),
                           ("message_en", pa.large_string())])
#: ``rejects.parquet`` once finished: ``_row`` is the line a user sees, ``record`` the data row where it differs
REPORT_SCHEMA = pa.schema([*REJECT_SCHEMA, pa.field("record", pa.int64())])


def source_file(work: Path) -> Path:
    return next(work.glob("source*"))


@dataclass
class Plan:
    load_id: int
    entry_id: int
    entry_name: str
    org_id: int
    mode: str
    dry_run: bool
    filename: str
    format: str | None
    encoding: str | None
    snapshot: dict
    max_error_rate: float
    base: DataVersion | None
    created_by: int | None
    channel: str


@dataclass
class Outcome:
    report: dict
    rows_read: int
    rows_valid: int
    rows_rejected: int
    status: str  # rejected / checked / unchanged / ready
    error: str = ""
    error_en: str = ""
    snapshot: Path | None = None
    snapshot_sm3: str = ""
    rows: int = 0
    counts: dict | None = None
    columns: list | None = None


def validate_and_build(plan: Plan, work: Path, table: str) -> Outcome:
    spec = specs.load_spec(plan.snapshot, filename=plan.filename)
    columns = specs.columns_of(plan.snapshot)
    keys = [c.name for c in columns if c.key]
    source = source_file(work)
    delete_only = _deletes(work) is not None and source.stat().st_size == 0
    reader = None if delete_only else open_reader(source, filename=plan.filename, format=plan.format,
                                                   encoding=plan.encoding)
    if reader is not None:
        check_header(reader.header, spec)
    base_path = snapshot_path(plan.base) if plan.base is not None else None
    merging = plan.mode == "upsert" and base_path is not None
    # full replace (or a first upsert): the new table is exactly the valid rows in file order, so the
    # store writes them while the file is still being read; the write commits only once the load is accepted
    feed = _StoreFeed(table, columns) if reader is not None and not plan.dry_run and not merging else None
    try:
        rows_read, seen, normalised = _validate_into(reader, spec, columns, keys, work, feed)
        return _build(plan, work, table, reader, columns, keys, rows_read, seen, normalised, delete_only, base_path,
                      merging,
                      feed)
    finally:
        if feed is not None:
            feed.abort()


def _validate_into(reader, spec, columns, keys: list[str], work: Path,
                   feed: _StoreFeed | None) -> tuple[int, _Keys, Normalisations]:
    """Read and validate every batch: the valid rows go to ``delta.parquet`` (the new rows, without
    ``_row``), the problems to ``rejects.parquet``, the valid rows to the store writer when there is one,
    and each valid row's key hash and ``_row`` to memory for the duplicate check."""
    schema = output_schema(spec)
    labels = {c.name: c.label for c in columns}
    seen = _Keys(keys)
    normalised = Normalisations()
    rows_read = 0
    with SnapshotWriter(work / "delta.parquet", pa.schema([f for f in schema if f.name != "_row"]), labels) as delta, \
            SnapshotWriter(work / "rejects.parquet", REJECT_SCHEMA, {}) as rejects, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
        # the Parquet files are written on their own thread (pyarrow releases the GIL) while the next batch
        # is read and validated; one writer thread keeps the batches in order, two pending batches at most
        def write(good: pa.Table, bad: pa.Table) -> None:
            delta.write(good.drop_columns(["_row"]))
            rejects.write(bad.cast(REJECT_SCHEMA))

        pending: deque[Future] = deque()
        for batch in reader.batches(batch_rows=get_settings().ingest_batch_rows) if reader else ():
            rows_read += batch.num_rows
            good, bad = validate_batch(batch, spec, normalised)
            seen.add(good)
            if feed is not None:
                feed.put(good)
            pending.append(pool.submit(write, good, bad))
            while len(pending) > 2:
                pending.popleft().result()
        while pending:
            pending.popleft().result()
    return rows_read, seen, normalised


class _Keys:
    """The key of every valid row in stream order, as a 64-bit hash (8 bytes a row) with its source row
    number (4 bytes), so duplicates are found without writing or re-reading the keys: rows whose hashes
    collide are the only candidates, and their real key values are compared (read back from
    ``delta.parquet`` at their positions). Rows with an empty key part are not considered."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self._hashes: list[pl.Series] = []
        self._rows: list[pl.Series] = []

    def add(self, good: pa.Table) -> None:
        if not self.keys or not good.num_rows:
            return
        df = pl.from_arrow(good.select(["_row", *self.keys]))
        assert isinstance(df, pl.DataFrame)
        h = df.select(self.keys).hash_rows(seed=0)
        empty = pl.any_horizontal([pl.col(k).is_null() for k in self.keys])
        h = df.select(pl.when(empty).then(None).otherwise(h)).to_series()  # null: not considered
        self._hashes.append(h)
        self._rows.append(df["_row"].cast(pl.Int32))

    def duplicates(self, delta: Path) -> tuple[pa.Table, list[int]]:
        """(``_row``, ``dup_of_row`` and the key columns of every row whose key an earlier row has, ordered
        by ``_row``; their 0-based positions in the stream / in ``delta.parquet``)."""
        empty = pa.table({"_row": pa.array([], pa.int64()), "dup_of_row": pa.array([], pa.int64())})
        if not self._hashes:
            return empty, []
        hashes = pl.concat(self._hashes)
        self._hashes = []
        pos = (hashes.is_not_null() & hashes.is_duplicated()).arg_true()
        del hashes
        if not len(pos):
            return empty, []
        rows = pl.concat(self._rows).gather(pos)
        self._rows = []
        found = pl.DataFrame({"pos": pos.cast(pl.Int64), "_row": rows.cast(pl.Int64)}).hstack(
            _rows_at(delta, self.keys, pos.cast(pl.Int64).to_numpy()))
        found = found.with_columns(pl.col("_row").min().over(self.keys).alias("dup_of_row"))
        dups = found.filter(pl.col("_row") != pl.col("dup_of_row")).sort("_row")
        return dups.select("_row", "dup_of_row", *self.keys).to_arrow(), dups["pos"].to_list()


def _rows_at(path: Path, columns: list[str], positions: np.ndarray) -> pl.DataFrame:
    """``columns`` of the rows at the ascending 0-based ``positions`` of a Parquet file, read batch by batch
    (a 10M-row file is never held whole)."""
    parts, start = [], 0
    for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=262_144):
        lo, hi = np.searchsorted(positions, [start, start + batch.num_rows])
        if hi > lo:
            parts.append(batch.take(pa.array(positions[lo:hi] - start)))
        start += batch.num_rows
    out = pl.from_arrow(pa.Table.from_batches(parts))
    assert isinstance(out, pl.DataFrame)
    return out


def _build(plan: Plan, work: Path, table: str, reader, columns, keys: list[str], rows_read: int, seen: _Keys,
           normalised: Normalisations,
           delete_only: bool, base_path: Path | None, merging: bool, feed: _StoreFeed | None) -> Outcome:
    structural = reader.structural_rows if reader is not None else 0  # ragged rows: read, and refuse the load
    rows_read += structural
    if rows_read == 0 and not delete_only:
        raise Invalid(f"文件“{plan.filename}”没有数据行", f"File '{plan.filename}' has no data rows",
                      details=[{"file": plan.filename, "row": 2, "problem": "empty"}])
    delta = work / "delta.parquet"
    dups, positions = seen.duplicates(delta)
    _add_duplicate_rejects(work, dups, columns, keys, reader)
    con = _duck(work)
    rej_rows, per_rule = _reject_counts(con, work / "rejects.parquet")
    if structural:  # beyond the listed ones
        rej_rows += structural - reader.structural.num_rows
    rows_valid = rows_read - rej_rows
    report = {"format": reader.format if reader else "ndjson", "encoding": reader.encoding if reader else None,
              "header": reader.header if reader else [], "notes": [*(getattr(reader, "notes", []) or []), *normalised.notes()],
              "normalised": normalised.report(), "rules": per_rule,
              "problems": _sample(con, work / "rejects.parquet")}
    rate = rej_rows / rows_read if rows_read else 0.0
    if structural or (rej_rows and rate > plan.max_error_rate):
        _write_rejects_csv(con, work, plan.filename)
        if structural:
            return Outcome(report, rows_read, rows_valid, rej_rows, "rejected",
                           *_structural_refusal(reader, rej_rows - structural))
        limit = f"{plan.max_error_rate:.1%}"
        return Outcome(report, rows_read, rows_valid, rej_rows, "rejected",
                        f"{rej_rows} 行（{rate:.1%}）未通过校验，超过本目录允许的 {limit}，整批拒收，未入库",
                        f"{rej_rows} rows ({rate:.1%}) failed validation, above the entry's limit of {limit}; "
                        "the whole load was refused and nothing was loaded")
    if rej_rows:
        _write_rejects_csv(con, work, plan.filename)
    if plan.dry_run:
        return Outcome(report, rows_read, rows_valid, rej_rows, "checked")
    if dups.num_rows:
        # rows with a duplicated key are rejects too: left out of the snapshot, and out of the streamed
        # table by their position in the stream (row i of the stream is row i of delta.parquet)
        _drop_duplicates(con, work, delta, positions)
        if feed is not None:
            feed.exclude(positions)
    con.close()
    snap = snapshots_dir(plan.entry_id) / f"l{plan.load_id}.parquet"
    if merging:
        if not keys:
            raise Invalid("本目录没有主键信息项，只能全量替换", "This entry has no key items: only full replace is possible",
                          field="mode")
        rows = merge_snapshot(base=base_path, delta=delta, deletes=_deletes(work), keys=keys, out=snap)
    else:
        shutil.move(delta, snap)
        rows = pq.ParquetFile(snap).metadata.num_rows
    if feed is not None:
        feed.finish()  # the store commits the streamed rows while the snapshot is digested and compared
    counts = diff_snapshots(base_path if _same_columns(plan.base, columns) else None, snap, keys=keys,
                            columns=[c.name for c in columns])
    if merging and _same_columns(plan.base, columns) and not (counts.added or counts.changed or counts.deleted):
        # an upsert that changes nothing (a retried push, a pull re-reading rows at its watermark): no new
        # version; the serving one stays and the delivery still counts for freshness
        snap.unlink(missing_ok=True)
        return Outcome(report, rows_read, rows_valid, rej_rows, "unchanged", rows=rows, counts=vars(counts),
                       columns=specs.columns_json(columns))
    snap_sm3 = file_sm3(snap)
    store = registry.get_store()
    if feed is not None:
        feed.wait()
    else:
        store.write_batches(table, columns, pq.ParquetFile(snap).iter_batches(batch_size=50_000), create=True,
                            index=True, analyze=False)
    return Outcome(report, rows_read, rows_valid, rej_rows, "ready", snapshot=snap, snapshot_sm3=snap_sm3,
                    rows=rows, counts=vars(counts), columns=specs.columns_json(columns))


def _drop_duplicates(con, work: Path, delta: Path, positions: list[int]) -> None:
    """Remove the rows at ``positions`` from ``delta.parquet``, keeping the file order."""
    kept = work / "delta.kept.parquet"
    con.execute("CREATE TEMP TABLE dup_pos (p BIGINT)")
    con.execute("INSERT INTO dup_pos SELECT unnest(?::BIGINT[])", [positions])
    # file order is kept by DuckDB's preserve_insertion_order (no sort of the whole file)
    con.execute(f"COPY (SELECT d.* EXCLUDE (file_row_number) FROM read_parquet({sql_literal(delta)}, file_row_number = true) d "  # noqa: S608 - escaped path literals
                f"WHERE d.file_row_number NOT IN (SELECT p FROM dup_pos)) TO {sql_literal(kept)} "
                "(FORMAT parquet, COMPRESSION zstd)")
    kept.replace(delta)


def _duck(work: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB for the load's reports and rewrites: bounded memory (spills to the load's folder), file order kept."""
    con = duckdb.connect()
    con.execute("SET memory_limit = '512MB'")
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET temp_directory = {sql_literal(work / '.duckdb_tmp')}")
    return con


_END = object()


class _StoreAborted(Exception):
    """Raised inside the store writer to roll back a streamed write that is not wanted any more."""


class _StoreFeed:
    """Validated batches handed to ``store.write_batches`` running in a worker thread (one transaction).

    A small queue bounds the memory; :meth:`finish` lets the write commit, :meth:`abort` rolls it back
    (no table is left behind). An error of the writer surfaces in the caller at the next call.
    """

    def __init__(self, table: str, columns) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=3)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-feed")
        self._excluded: list[int] = []
        self._future = self._pool.submit(registry.get_store().write_batches, table, columns, self._batches(),
                                         create=True, index=True, analyze=False, exclude=lambda: self._excluded)
        self._open = True

    def exclude(self, positions: list[int]) -> None:
        """Leave the rows at these 0-based positions of the stream out of the table (call before finish)."""
        self._excluded = [p + 1 for p in positions]

    def _batches(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _StoreAborted):
                raise item
            yield item

    def _send(self, item) -> None:
        while True:
            if self._future.done():
                self._future.result()  # the writer failed: raise its error here
                raise RuntimeError("store writer stopped early")
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def put(self, batch: pa.Table) -> None:
        if batch.num_rows:
            self._send(batch)

    def finish(self) -> None:
        self._send(_END)
        self._open = False

    def wait(self) -> None:
        try:
            self._future.result()
        finally:
            self._pool.shutdown()

    def abort(self) -> None:
        """Roll the streamed write back unless it was finished, and wait for the writer; never raises."""
        if self._open and not self._future.done():
            try:
                self._send(_StoreAborted())
            except Exception:  # noqa: BLE001 - the writer failed on its own; it rolled back already
                log.debug("store writer already stopped", exc_info=True)
        self._open = False
        try:
            self._future.result()
        except _StoreAborted:
            pass
        except Exception:  # noqa: BLE001 - the caller is already failing (or the writer was told to stop)
            log.debug("store writer failed while aborting", exc_info=True)
        self._pool.shutdown()


def _same_columns(base: DataVersion | None, columns) -> bool:
    return base is not None and base.columns == specs.columns_json(columns)


def _deletes(work: Path) -> Path | None:
    path = work / "deletes.parquet"
    return path if path.exists() else None


def _add_duplicate_rejects(work: Path, dups: pa.Table, columns, keys: list[str], reader=None) -> None:
    """Finish ``rejects.parquet`` (R-AGG-3): the duplicate-key rejects and the rows the reader refused for
    their shape added, and every problem named by the line a user opens (``_row``) with its data row
    (``record``) where that differs; the file is rewritten batch by batch."""
    path = work / "rejects.parquet"
    extra = []
    if dups.num_rows:
        labels = "、".join(c.label for c in columns if c.key)
        first, first_record = _locate(reader, dups.column("dup_of_row").to_numpy())
        same = [f"第 {f} 行（第 {r} 条数据）" if r is not None else f"第 {f} 行"
                for f, r in zip(first.to_pylist(), first_record.to_pylist(), strict=True)]
        same_en = [f"row {f} (data row {r})" if r is not None else f"row {f}"
                   for f, r in zip(first.to_pylist(), first_record.to_pylist(), strict=True)]
        n = dups.num_rows
        extra.append(pa.table({
            "_row": dups.column("_row").cast(pa.int64()),
            "field": pa.array([labels] * n, pa.large_string()),
            "value": pa.array([""] * n, pa.large_string()),
            "rule": pa.array(["duplicate_key"] * n, pa.large_string()),
            "message": pa.array([f"主键（{labels}）重复：与{x}相同" for x in same], pa.large_string()),
            "message_en": pa.array([f"Duplicate key ({labels}): same as {x}" for x in same_en], pa.large_string()),
        }))
    located = work / "rejects.located.parquet"
    with pq.ParquetWriter(located, REPORT_SCHEMA, compression="zstd") as out:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=262_144):
            out.write_table(_with_lines(reader, pa.Table.from_batches([batch]).cast(REJECT_SCHEMA)))
        for part in extra:
            out.write_table(_with_lines(reader, part.cast(REJECT_SCHEMA)))
        if reader is not None and reader.structural is not None:
            out.write_table(reader.structural.cast(REPORT_SCHEMA))
    located.replace(path)


def _locate(reader, rows) -> tuple[pa.Array, pa.Array]:
    if reader is None:
        return pa.array(rows, pa.int64()), pa.nulls(len(rows), pa.int64())
    return reader.locate(rows)


def _with_lines(reader, table: pa.Table) -> pa.Table:
    lines, records = _locate(reader, table.column("_row").to_numpy())
    return table.set_column(0, "_row", lines).append_column("record", records)


def _structural_refusal(reader, others: int) -> tuple[str, str]:
    zh, en = reader.structural_message
    return (zh + (f"；另有 {others} 行未通过校验" if others > 0 else "") + "。问题清单列出了全部问题，请一并修正后重新上传",
            en + (f"; {others} more rows failed validation" if others > 0 else "")
            + ". The report lists every problem: fix them all and upload again")


_PIPELINE_RULES = {"duplicate_key": ("主键重复", "Duplicate key"),
                   "ragged_row": ("列数与表头不一致", "Another number of columns than the header")}


def _reject_counts(con, path: Path) -> tuple[int, dict]:
    src = f"read_parquet({sql_literal(path)})"
    rows = con.execute(f"SELECT count(DISTINCT _row) FROM {src}").fetchone()[0]  # noqa: S608 - our column names, escaped path literals
    per_rule = {}
    for rule, n in con.execute(f"SELECT rule, count(*) FROM {src} GROUP BY rule ORDER BY 2 DESC").fetchall():  # noqa: S608 - our column names, escaped path literals
        zh, en = _PIPELINE_RULES.get(rule) or RULES.get(rule, (rule, rule))
        per_rule[rule] = {"count": n, "zh": zh, "en": en}
    return rows, per_rule


def _sample(con, path: Path) -> list[dict]:
    """The first problems by line; ``record`` (the data row) only where it differs from the line − 1."""
    cur = con.execute(f"SELECT _row, field, value, rule, message, message_en, record FROM read_parquet({sql_literal(path)}) "  # noqa: S608 - our column names, escaped path literals
                      f"ORDER BY _row, field LIMIT {REPORT_SAMPLE}")
    keys = ("row", "field", "value", "rule", "message", "message_en", "record")
    return [{k: v for k, v in zip(keys, r, strict=True) if k != "record" or v is not None} for r in cur.fetchall()]


def _write_rejects_csv(con, work: Path, filename: str) -> None:
    """The rejected rows report (file, line, data row where it differs, field, value, rule, reason), UTF-8
    with BOM for Excel."""
    table = con.sql(
        f"SELECT ? AS 文件, _row AS 行号, record AS 数据行, field AS 信息项, value AS 值, rule AS 规则, message AS 说明, "  # noqa: S608 - our column names, escaped path literals
        f"message_en AS description FROM read_parquet({sql_literal(work / 'rejects.parquet')}) ORDER BY _row, field",
        params=[filename]).to_arrow_table()
    out = work / "rejects.csv"
    with open(out, "wb") as fh:
        fh.write("\ufeff".encode())
        pacsv.write_csv(table, fh)
