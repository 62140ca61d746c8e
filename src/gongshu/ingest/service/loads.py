"""Loads (归集): receive a file or batch, validate it in batches, and apply it as one immutable
version — or refuse it whole (R-AGG-2, R-AGG-3, R-AGG-6).

A load runs in three steps so that nothing half-applied is ever visible and the serving path is
never blocked:

1. a short metadata transaction marks the load as validating and reads the entry's published items;
2. outside any metadata transaction: read the file in record batches, validate each batch, write
   the valid rows and the rejects to Parquet, find duplicate keys (DuckDB), build the new state
   (full replace, or the current version merged with the upserts and deletes), write its snapshot,
   count the differences, and bulk-write it into a new table of the resource store;
3. one metadata transaction creates the version, re-points the entry to its table, writes the audit
   event and updates freshness. Until that commits, readers keep using the previous table.

A crash (even ``kill -9``) before step 3 leaves a table and files that no version points to;
:func:`recover` drops them and marks the interrupted load failed at the next start.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.config import get_settings
from gongshu.db import unit_of_work, utcnow
from gongshu.errors import Conflict, GongshuError, Invalid, NotFound
from gongshu.ingest.models import DataVersion, EntryData, IngestPolicy, Load
from gongshu.ingest.service import (
    catalog_links,  # noqa: F401 - attached/fresh/late on catalogue pages and reports
    freshness,
    retention,
)
from gongshu.ingest.service import spec as specs
from gongshu.ingest.service.files import load_dir, snapshot_path, snapshots_dir
from gongshu.ingest.service.readers import open_reader
from gongshu.ingest.service.validate import RULES, check_header, output_schema, validate_batch
from gongshu.jobs.service import enqueue, handler
from gongshu.store import registry
from gongshu.store.service import (
    ARROW_TYPES,
    SnapshotWriter,
    diff_snapshots,
    duplicate_keys,
    file_sm3,
    merge_snapshot,
)

log = logging.getLogger(__name__)

DEPT_ROLES = {"dept_officer", "dept_staff"}
declare("ingest.load", "向本部门目录归集数据（上传、推送）", "Load data behind one's department's entries",
        DEPT_ROLES, scope="own_org")
declare("ingest.view", "查看本部门的归集记录、数据版本和数据", "See one's department's loads, versions and data",
        DEPT_ROLES, scope="own_org", writes=False)
declare("ingest.view_all", "查看全市的归集记录与挂接情况", "See every department's loads and attachment",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("ingest.policy", "设置本部门目录的验收与保留策略", "Set the acceptance and retention policy of own entries",
        {"dept_officer"}, scope="own_org")

#: at most this many problems are kept in the load's report (all are in the rejects file)
REPORT_SAMPLE = 200
REJECT_SCHEMA = pa.schema([("_row", pa.int64()), ("field", pa.large_string()), ("value", pa.large_string()),
                           ("rule", pa.large_string()), ("message", pa.large_string()),
                           ("message_en", pa.large_string())])


# Receiving ---------------------------------------------------------------------------------

def _entry_for_load(session: Session, actor: Actor, entry_id: int):
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require(actor, "ingest.load", org_id=entry.org_id)
    if entry.version < 1 or entry.status == "withdrawn":
        raise Invalid(f"目录“{entry.name}”尚未发布或已撤销，不能归集数据",
                      f"Entry '{entry.name}' is not published (or was withdrawn); data cannot be loaded behind it",
                      field="entry_id")
    return entry


def receive_file(session: Session, *, actor: Actor, entry_id: int, path: Path, filename: str,
                 mode: str = "full", format: str | None = None, encoding: str | None = None,
                 dry_run: bool = False, channel: str = "upload", idempotency_key: str | None = None,
                 move: bool = True) -> Load:
    """Take a file for an entry (moved into the load's folder) and queue its processing."""
    entry = _entry_for_load(session, actor, entry_id)
    if mode not in ("full", "upsert"):
        raise Invalid(f"归集方式“{mode}”无效，应为 full（全量替换）或 upsert（增量更新）",
                      f"Mode '{mode}' is invalid: use full or upsert", field="mode")
    if idempotency_key:
        done = session.scalar(select(Load).where(Load.entry_id == entry.id, Load.idempotency_key == idempotency_key))
        if done is not None:
            return done
    name = Path(filename or "upload").name[:255]
    load = Load(entry_id=entry.id, org_id=entry.org_id, channel=channel, mode=mode, dry_run=dry_run,
                filename=name, format=format or None, encoding=encoding or None, catalog_version=entry.version,
                idempotency_key=idempotency_key, created_by=actor.user_id)
    session.add(load)
    session.flush()
    target = load_dir(load.id) / ("source" + _suffix(name))
    (shutil.move if move else shutil.copyfile)(str(path), target)
    load.source_size = target.stat().st_size
    load.source_sm3 = file_sm3(target)
    audit.record(session, actor=actor, action="ingest.receive", subject_type="ingest_load", subject_id=load.id,
                 after={"entry_id": entry.id, "file": name, "size": load.source_size, "sm3": load.source_sm3,
                        "mode": mode, "dry_run": dry_run, "channel": channel})
    enqueue(session, "ingest.process", load_id=load.id)
    return load


#: rows in one pushed batch (larger sets go as several batches or a file)
MAX_PUSH_ROWS = 50_000


def receive_batch(session: Session, *, actor: Actor, entry_id: int, rows: list[dict], deletes: list[dict],
                  idempotency_key: str, mode: str = "upsert") -> Load:
    """API push: a JSON batch of rows (by data item name) and keys to delete, applied once per
    idempotency key — a retried batch returns the first load instead of loading again."""
    entry = _entry_for_load(session, actor, entry_id)
    if not idempotency_key or len(idempotency_key) > 100:
        raise Invalid("推送须带幂等键（Idempotency-Key，1–100 个字符）", "A push needs an Idempotency-Key (1-100 chars)",
                      field="idempotency_key")
    done = session.scalar(select(Load).where(Load.entry_id == entry.id, Load.idempotency_key == idempotency_key))
    if done is not None:
        return done
    if len(rows) + len(deletes) > MAX_PUSH_ROWS:
        raise Invalid(f"一批最多 {MAX_PUSH_ROWS} 行，请分批推送或上传文件",
                      f"At most {MAX_PUSH_ROWS} rows per batch; split it or upload a file", field="rows")
    if not rows and not deletes:
        raise Invalid("推送内容为空（rows 和 delete 都没有数据）", "The batch is empty (no rows, no deletes)", field="rows")
    columns = specs.columns_of(catalog_entries.published_snapshot(session, entry_id=entry.id))
    keys = [c for c in columns if c.key]
    if deletes and (mode != "upsert" or not keys):
        raise Invalid("只有按主键增量更新（upsert）的目录才能删除记录", "Deletes need upsert mode and key items",
                      field="delete")
    incoming = registry.files_root() / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f"push-{secrets.token_hex(8)}.ndjson"
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: (None if v is None else str(v)) for k, v in row.items()}, ensure_ascii=False))
            fh.write("\n")
    load = receive_file(session, actor=actor, entry_id=entry.id, path=tmp, filename="push.ndjson", mode=mode,
                        format="ndjson", channel="api", idempotency_key=idempotency_key)
    if deletes:
        _write_deletes(load_dir(load.id) / "deletes.parquet", keys, deletes)
    return load


def _write_deletes(path: Path, keys, deletes: list[dict]) -> None:
    arrays = {}
    for c in keys:
        values = []
        for i, d in enumerate(deletes, start=1):
            if d.get(c.label) in (None, ""):
                raise Invalid(f"第 {i} 个删除项缺少主键“{c.label}”", f"Delete #{i} lacks key '{c.label}'",
                              field="delete", details=[{"row": i, "field": c.label, "problem": "missing"}])
            values.append(str(d[c.label]).strip())
        try:
            arrays[c.name] = pa.array(values, pa.large_string()).cast(ARROW_TYPES[c.type])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise Invalid(f"删除项的主键“{c.label}”格式不对", f"Delete keys for '{c.label}' are malformed",
                          field="delete") from exc
    pq.write_table(pa.table(arrays), path)


def _suffix(name: str) -> str:
    """The file's extension, kept on the stored source (some readers need it); letters only."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 10 else ""


def source_file(work: Path) -> Path:
    return next(work.glob("source*"))


@handler("ingest.process")
def _job(session: Session, *, load_id: int) -> None:
    session.close()  # the pipeline runs its own short transactions
    process(load_id)


# Processing --------------------------------------------------------------------------------

@dataclass
class _Plan:
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


def _start(load_id: int) -> _Plan | None:
    with unit_of_work() as session:
        load = session.get(Load, load_id)
        if load is None or load.status != "queued":
            return None
        load.status, load.started_at = "validating", utcnow()
        snap = catalog_entries.published_snapshot(session, entry_id=load.entry_id)
        policy = session.get(IngestPolicy, load.entry_id)
        state = session.get(EntryData, load.entry_id)
        base = session.get(DataVersion, state.current_version_id) if state and state.current_version_id else None
        if base is not None:
            session.expunge(base)
        return _Plan(load.id, load.entry_id, snap["name"], load.org_id, load.mode, load.dry_run, load.filename,
                     load.format, load.encoding, snap, policy.max_error_rate if policy else 0.0, base,
                     load.created_by, load.channel)


def process(load_id: int) -> Load | None:
    """Run a queued load to its end: rejected, checked (dry run), applied or failed."""
    plan = _start(load_id)
    if plan is None:
        return None
    work = load_dir(load_id)
    table = f"rd_{plan.entry_id}_l{load_id}"
    try:
        outcome = _validate_and_build(plan, work, table)
    except GongshuError as exc:
        registry.get_store().drop_table(table)
        return _finish_refused(load_id, "rejected", exc.message, exc.message_en,
                               {"problems": exc.details[:REPORT_SAMPLE], "field": exc.field})
    except Exception as exc:  # unexpected: record it for the operators, tell the user plainly
        log.exception("load %s failed", load_id)
        registry.get_store().drop_table(table)
        return _finish_refused(load_id, "failed", f"处理失败，数据未入库（{type(exc).__name__}）。请联系平台运维。",
                               f"Processing failed; nothing was loaded ({type(exc).__name__}). Contact the operators.",
                               {})
    try:
        with unit_of_work() as session:
            load = _apply(session, plan, outcome, table)
    except GongshuError as exc:
        registry.get_store().drop_table(table)
        return _finish_refused(load_id, "failed", exc.message, exc.message_en, {})
    if outcome.status == "ready":
        retention.apply_retention(plan.entry_id)
    return load


@dataclass
class _Outcome:
    report: dict
    rows_read: int
    rows_valid: int
    rows_rejected: int
    status: str  # rejected / checked / ready
    error: str = ""
    error_en: str = ""
    snapshot: Path | None = None
    snapshot_sm3: str = ""
    rows: int = 0
    counts: dict | None = None
    columns: list | None = None


def _validate_and_build(plan: _Plan, work: Path, table: str) -> _Outcome:
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
        rows_read = _validate_into(reader, spec, columns, keys, work, feed)
        return _build(plan, work, table, reader, columns, keys, rows_read, delete_only, base_path, merging, feed)
    finally:
        if feed is not None:
            feed.abort()


def _validate_into(reader, spec, columns, keys: list[str], work: Path, feed: _StoreFeed | None) -> int:
    """Read and validate every batch: the valid rows go to ``delta.parquet`` (the new rows, without
    ``_row``), their ``_row`` and key columns to ``valid.parquet`` (for the duplicate check), the problems
    to ``rejects.parquet``, and the valid rows to the store writer when there is one."""
    schema = output_schema(spec)
    labels = {c.name: c.label for c in columns}
    row_keys = pa.schema([schema.field("_row"), *(schema.field(k) for k in keys)])
    rows_read = 0
    with SnapshotWriter(work / "delta.parquet", pa.schema([f for f in schema if f.name != "_row"]), labels) as delta, \
            SnapshotWriter(work / "valid.parquet", row_keys, {}) as valid, \
            SnapshotWriter(work / "rejects.parquet", REJECT_SCHEMA, {}) as rejects:
        for batch in reader.batches(batch_rows=get_settings().ingest_batch_rows) if reader else ():
            rows_read += batch.num_rows
            good, bad = validate_batch(batch, spec)
            if feed is not None:
                feed.put(good)
            delta.write(good)
            valid.write(good)
            rejects.write(bad.cast(REJECT_SCHEMA))
    return rows_read


def _build(plan: _Plan, work: Path, table: str, reader, columns, keys: list[str], rows_read: int,
           delete_only: bool, base_path: Path | None, merging: bool, feed: _StoreFeed | None) -> _Outcome:
    if rows_read == 0 and not delete_only:
        raise Invalid(f"文件“{plan.filename}”没有数据行", f"File '{plan.filename}' has no data rows",
                      details=[{"file": plan.filename, "row": 2, "problem": "empty"}])
    dups = duplicate_keys(work / "valid.parquet", keys) if keys else pa.table({"_row": pa.array([], pa.int64())})
    _add_duplicate_rejects(work, dups, columns, keys)
    con = _duck(work)
    rej_rows, per_rule = _reject_counts(con, work / "rejects.parquet")
    rows_valid = rows_read - rej_rows
    report = {"format": reader.format if reader else "ndjson", "encoding": reader.encoding if reader else None,
              "header": reader.header if reader else [], "notes": list(getattr(reader, "notes", []) or []), "rules": per_rule,
              "problems": _sample(con, work / "rejects.parquet")}
    rate = rej_rows / rows_read if rows_read else 0.0
    if rej_rows and rate > plan.max_error_rate:
        _write_rejects_csv(con, work, plan.filename)
        limit = f"{plan.max_error_rate:.1%}"
        return _Outcome(report, rows_read, rows_valid, rej_rows, "rejected",
                        f"{rej_rows} 行（{rate:.1%}）未通过校验，超过本目录允许的 {limit}，整批拒收，未入库",
                        f"{rej_rows} rows ({rate:.1%}) failed validation, above the entry's limit of {limit}; "
                        "the whole load was refused and nothing was loaded")
    if rej_rows:
        _write_rejects_csv(con, work, plan.filename)
    if plan.dry_run:
        return _Outcome(report, rows_read, rows_valid, rej_rows, "checked")
    delta = work / "delta.parquet"
    if dups.num_rows:
        # rare: rows with a duplicated key are rejects too; the streamed write is dropped and redone
        if feed is not None:
            feed.abort()
            feed = None
        _drop_duplicates(con, work, delta)
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
    snap_sm3 = file_sm3(snap)
    store = registry.get_store()
    if feed is not None:
        feed.wait()
    else:
        store.write_batches(table, columns, pq.ParquetFile(snap).iter_batches(batch_size=50_000), create=True)
    store.finish_table(table, columns)
    return _Outcome(report, rows_read, rows_valid, rej_rows, "ready", snapshot=snap, snapshot_sm3=snap_sm3,
                    rows=rows, counts=vars(counts), columns=specs.columns_json(columns))


def _drop_duplicates(con, work: Path, delta: Path) -> None:
    """Remove the rows rejected as duplicate keys from ``delta.parquet`` (row i of it is row i of
    ``valid.parquet``, which holds their ``_row``)."""
    kept = work / "delta.kept.parquet"
    # file order is kept by DuckDB's preserve_insertion_order (no sort of the whole file)
    con.execute(f"COPY (SELECT d.* EXCLUDE (file_row_number) FROM read_parquet({_lit(delta)}, file_row_number = true) d "  # noqa: S608 - escaped path literals
                f"WHERE d.file_row_number NOT IN (SELECT v.file_row_number FROM read_parquet({_lit(work / 'valid.parquet')}, "
                f"file_row_number = true) v WHERE v._row IN (SELECT _row FROM read_parquet({_lit(work / 'rejects.parquet')}) "
                f"WHERE rule = 'duplicate_key'))) TO {_lit(kept)} (FORMAT parquet, COMPRESSION zstd)")
    kept.replace(delta)


def _duck(work: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB for the load's reports and rewrites: bounded memory (spills to the load's folder), file order kept."""
    con = duckdb.connect()
    con.execute("SET memory_limit = '512MB'")
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET temp_directory = {_lit(work / '.duckdb_tmp')}")
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
        self._future = self._pool.submit(registry.get_store().write_batches, table, columns, self._batches(),
                                         create=True)
        self._open = True

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


def _lit(path: Path) -> str:
    """A path as a DuckDB string literal (paths are ours, quotes doubled all the same)."""
    return "'" + str(path).replace("'", "''") + "'"


def _same_columns(base: DataVersion | None, columns) -> bool:
    return base is not None and base.columns == specs.columns_json(columns)


def _deletes(work: Path) -> Path | None:
    path = work / "deletes.parquet"
    return path if path.exists() else None


def _add_duplicate_rejects(work: Path, dups: pa.Table, columns, keys: list[str]) -> None:
    if dups.num_rows == 0:
        return
    labels = "、".join(c.label for c in columns if c.key)
    first = dups.column("dup_of_row").to_pylist() if "dup_of_row" in dups.column_names else [None] * dups.num_rows
    rows = dups.column("_row").to_pylist()
    extra = pa.table({
        "_row": pa.array(rows, pa.int64()),
        "field": pa.array([labels] * len(rows), pa.large_string()),
        "value": pa.array([""] * len(rows), pa.large_string()),
        "rule": pa.array(["duplicate_key"] * len(rows), pa.large_string()),
        "message": pa.array([f"主键（{labels}）重复：与第 {f} 行相同" for f in first], pa.large_string()),
        "message_en": pa.array([f"Duplicate key ({labels}): same as row {f}" for f in first], pa.large_string()),
    })
    merged = pa.concat_tables([pq.read_table(work / "rejects.parquet").cast(REJECT_SCHEMA), extra])
    pq.write_table(merged, work / "rejects.parquet", compression="zstd")


def _reject_counts(con, path: Path) -> tuple[int, dict]:
    src = f"read_parquet({_lit(path)})"
    rows = con.execute(f"SELECT count(DISTINCT _row) FROM {src}").fetchone()[0]  # noqa: S608 - our column names, escaped path literals
    per_rule = {}
    for rule, n in con.execute(f"SELECT rule, count(*) FROM {src} GROUP BY rule ORDER BY 2 DESC").fetchall():  # noqa: S608 - our column names, escaped path literals
        zh, en = RULES.get(rule, (rule, rule)) if rule != "duplicate_key" else ("主键重复", "Duplicate key")
        per_rule[rule] = {"count": n, "zh": zh, "en": en}
    return rows, per_rule


def _sample(con, path: Path) -> list[dict]:
    cur = con.execute(f"SELECT _row, field, value, rule, message, message_en FROM read_parquet({_lit(path)}) "  # noqa: S608 - our column names, escaped path literals
                      f"ORDER BY _row, field LIMIT {REPORT_SAMPLE}")
    return [dict(zip(("row", "field", "value", "rule", "message", "message_en"), r, strict=True))
            for r in cur.fetchall()]


def _write_rejects_csv(con, work: Path, filename: str) -> None:
    """The rejected rows report (file, row, field, value, rule, reason), UTF-8 with BOM for Excel."""
    table = con.sql(
        f"SELECT ? AS 文件, _row AS 行号, field AS 信息项, value AS 值, rule AS 规则, message AS 说明, "  # noqa: S608 - our column names, escaped path literals
        f"message_en AS description FROM read_parquet({_lit(work / 'rejects.parquet')}) ORDER BY _row, field",
        params=[filename]).to_arrow_table()
    out = work / "rejects.csv"
    with open(out, "wb") as fh:
        fh.write("\ufeff".encode())
        pacsv.write_csv(table, fh)


def _finish_refused(load_id: int, status: str, error: str, error_en: str, report: dict) -> Load:
    with unit_of_work() as session:
        load = session.get(Load, load_id)
        load.status, load.error, load.error_en = status, error, error_en
        load.report = {**(load.report or {}), **report}
        load.finished_at = utcnow()
        audit.record(session, actor=None, action=f"ingest.{status}", subject_type="ingest_load", subject_id=load_id,
                     detail={"error": error[:500]})
        return load


def _apply(session: Session, plan: _Plan, out: _Outcome, table: str) -> Load:
    load = session.get(Load, plan.load_id)
    load.rows_read, load.rows_valid, load.rows_rejected = out.rows_read, out.rows_valid, out.rows_rejected
    load.report = out.report
    load.finished_at = utcnow()
    if out.status in ("rejected", "checked"):
        load.status, load.error, load.error_en = out.status, out.error, out.error_en
        audit.record(session, actor=None, action=f"ingest.{out.status}", subject_type="ingest_load",
                     subject_id=load.id, detail={"rows": out.rows_read, "rejected": out.rows_rejected})
        return load
    state = session.get(EntryData, plan.entry_id, with_for_update=True)
    current = state.current_version_id if state else None
    if current != (plan.base.id if plan.base else None):
        raise Conflict("处理期间本目录已有另一批数据入库，请重新提交", "Another load was applied meanwhile; submit again")
    number = (session.scalar(select(func.max(DataVersion.number)).where(DataVersion.entry_id == plan.entry_id))
              or 0) + 1
    version = DataVersion(entry_id=plan.entry_id, number=number, load_id=load.id,
                          based_on_id=plan.base.id if plan.base else None, table_name=table,
                          snapshot_path=str(out.snapshot.relative_to(registry.files_root())),
                          snapshot_sm3=out.snapshot_sm3, columns=out.columns, catalog_version=load.catalog_version,
                          rows=out.rows, added=out.counts["added"], changed=out.counts["changed"],
                          deleted=out.counts["deleted"], channel=plan.channel, created_by=plan.created_by)
    session.add(version)
    session.flush()
    if current is not None:
        session.execute(update(DataVersion).where(DataVersion.id == current).values(status="kept"))
    load.status, load.version_id = "applied", version.id
    freshness.mark_loaded(session, entry_id=plan.entry_id, org_id=plan.org_id,
                          cycle=plan.snapshot.get("update_cycle", ""), version_id=version.id)
    audit.record(session, actor=None, action="ingest.apply", subject_type="ingest_version", subject_id=version.id,
                 after={"entry_id": plan.entry_id, "number": number, "rows": out.rows, "sm3": out.snapshot_sm3,
                        "load_id": load.id, "source_sm3": load.source_sm3},
                 detail={"added": version.added, "changed": version.changed, "deleted": version.deleted,
                         "by": plan.created_by})
    return load


# Reading loads -----------------------------------------------------------------------------

def get_load(session: Session, *, actor: Actor, load_id: int) -> Load:
    load = session.get(Load, load_id)
    if load is None:
        raise NotFound(f"归集记录不存在（编号 {load_id}）", f"Load {load_id} not found")
    if not can(actor, "ingest.view_all"):
        require(actor, "ingest.view", org_id=load.org_id)
    return load


def list_loads(session: Session, *, actor: Actor, entry_id: int | None = None, limit: int = 100) -> list[Load]:
    stmt = select(Load).order_by(Load.id.desc()).limit(limit)
    if entry_id is not None:
        stmt = stmt.where(Load.entry_id == entry_id)
    if not can(actor, "ingest.view_all"):
        require(actor, "ingest.view", org_id=actor.org_id)
        stmt = stmt.where(Load.org_id == actor.org_id)
    return list(session.scalars(stmt))


def rejects_file(session: Session, *, actor: Actor, load_id: int) -> Path:
    get_load(session, actor=actor, load_id=load_id)
    path = load_dir(load_id) / "rejects.csv"
    if not path.exists():
        raise NotFound("这次归集没有被拒的数据行", "This load has no rejected rows")
    return path
