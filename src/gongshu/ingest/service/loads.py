"""Loads (归集): receive a file or batch, validate it in batches, and apply it as one immutable
version — or refuse it whole (R-AGG-2, R-AGG-3, R-AGG-6).

A load runs in three steps so that nothing half-applied is ever visible and the serving path is
never blocked:

1. a short metadata transaction marks the load as validating and reads the entry's published items;
2. outside any metadata transaction (:mod:`gongshu.ingest.service.pipeline`): read the file in record
   batches, validate each batch, stream the valid rows into a new table of the resource store (one
   store transaction, committed only if the load is accepted) while writing the Parquet files, find
   duplicate keys (DuckDB), build the new state (full replace, or the serving version merged with the
   upserts and deletes), write its snapshot and count the differences;
3. one metadata transaction creates the version, re-points the entry to its table, writes the audit
   event and updates freshness. Until that commits, readers keep using the previous table.

A crash (even ``kill -9``) before step 3 leaves a table and files that no version points to;
:func:`gongshu.ingest.service.versions.recover` drops them and marks the interrupted load failed at the next start.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import unit_of_work, utcnow
from gongshu.errors import Conflict, GongshuError, Invalid, NotFound
from gongshu.ingest.models import DataVersion, EntryData, IngestPolicy, Load
from gongshu.ingest.service import (
    catalog_links,  # noqa: F401 - attached/fresh/late on catalogue pages and reports
    freshness,
    pipeline,
    retention,
)
from gongshu.ingest.service import spec as specs
from gongshu.ingest.service.files import load_dir
from gongshu.jobs.service import enqueue, handler
from gongshu.store import registry
from gongshu.store.service import (
    ARROW_TYPES,
    copy_sm3,
    file_sm3,
)

log = logging.getLogger(__name__)

DEPT_ROLES = {"dept_officer", "dept_staff"}

#: called with (session, version) in the transaction that applies a new data version; another domain appends its
#: hook here (governance enqueues its checks) so ingest imports none of them
ON_VERSION: list[Callable[[Session, DataVersion], None]] = []
declare("ingest.load", "向本部门目录归集数据（上传、推送）", "Load data behind one's department's entries",
        DEPT_ROLES, scope="own_org")
declare("ingest.view", "查看本部门的归集记录、数据版本和数据", "See one's department's loads, versions and data",
        DEPT_ROLES, scope="own_org", writes=False)
declare("ingest.view_all", "查看全市的归集记录与挂接情况", "See every department's loads and attachment",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("ingest.policy", "设置本部门目录的验收与保留策略", "Set the acceptance and retention policy of own entries",
        {"dept_officer"}, scope="own_org")

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
                 move: bool = True, sm3: str | None = None) -> Load:
    """Take a file for an entry (moved into the load's folder, or copied with ``move=False``) and queue its
    processing. ``sm3``: the file's digest when the caller computed it while storing those very bytes (a spooled
    upload); otherwise it is computed here (in the same pass as a copy)."""
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
    if move:
        shutil.move(str(path), target)
        load.source_sm3 = sm3 or file_sm3(target)
    else:
        with open(path, "rb") as src, open(target, "wb") as dst:
            _, digest = copy_sm3(src, dst)
        load.source_sm3 = sm3 or digest
    load.source_size = target.stat().st_size
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


@handler("ingest.process")
def _job(session: Session, *, load_id: int) -> None:
    session.close()  # the pipeline runs its own short transactions
    process(load_id)


# Processing --------------------------------------------------------------------------------

def _start(load_id: int) -> pipeline.Plan | None:
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
        return pipeline.Plan(load.id, load.entry_id, snap["name"], load.org_id, load.mode, load.dry_run, load.filename,
                     load.format, load.encoding, snap, policy.max_error_rate if policy else 0.0, base,
                     load.created_by, load.channel)


def process(load_id: int) -> Load | None:
    """Run a queued load to its end: rejected, checked (dry run), applied, unchanged or failed."""
    plan = _start(load_id)
    if plan is None:
        return None
    work = load_dir(load_id)
    table = f"rd_{plan.entry_id}_l{load_id}"
    try:
        outcome = pipeline.validate_and_build(plan, work, table)
    except GongshuError as exc:
        registry.get_store().drop_table(table)
        return _finish_refused(load_id, "rejected", exc.message, exc.message_en,
                               {"problems": exc.details[:pipeline.REPORT_SAMPLE], "field": exc.field})
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


def _finish_refused(load_id: int, status: str, error: str, error_en: str, report: dict) -> Load:
    with unit_of_work() as session:
        load = session.get(Load, load_id)
        load.status, load.error, load.error_en = status, error, error_en
        load.report = {**(load.report or {}), **report}
        load.finished_at = utcnow()
        audit.record(session, actor=None, action=f"ingest.{status}", subject_type="ingest_load", subject_id=load_id,
                     detail={"error": error[:500]})
        return load


def _apply(session: Session, plan: pipeline.Plan, out: pipeline.Outcome, table: str) -> Load:
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
    if out.status == "unchanged":
        load.status, load.version_id = "unchanged", current
        freshness.mark_loaded(session, entry_id=plan.entry_id, org_id=plan.org_id,
                              cycle=plan.snapshot.get("update_cycle", ""), version_id=current)
        audit.record(session, actor=None, action="ingest.unchanged", subject_type="ingest_load", subject_id=load.id,
                     detail={"rows": out.rows_read, "version_id": current, "by": plan.created_by})
        return load
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
    # the new table serves now; its planner statistics are gathered right after, off the load's path
    enqueue(session, "ingest.analyze", table=table)
    for hook in ON_VERSION:  # other domains react to new data (quality checks, comparisons) in this transaction
        hook(session, version)
    return load


@handler("ingest.analyze")
def _analyze(session: Session, *, table: str) -> None:
    registry.get_store().analyze(table)


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
