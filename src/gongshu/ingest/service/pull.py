"""Scheduled pull from a department database (前置库) — R-AGG-2.

A pull source names a department database by SQLAlchemy URL (PostgreSQL, MySQL/MariaDB, SQLite;
stored SM4-GCM encrypted, shown with the password hidden), a table or a single SELECT, and a mode:
``full`` replaces the entry's data, ``incremental`` upserts the rows whose watermark column is
greater than the last one applied. A run streams the rows through a server-side cursor into a
Parquet file (all values as text, columns named by data item, dates ISO), hands it to the load
pipeline as the source's creator (channel ``pull``) and records the outcome on the source. The
watermark advances only when the load was applied; failures are recorded, never raised.

The department database side (URL checks, read-only sessions, streaming to Parquet) is in
:mod:`gongshu.ingest.service.pull_db`.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.models import User
from gongshu.auth.service import Actor, actor_for, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.crypto import sm4
from gongshu.db import unit_of_work, utcnow
from gongshu.errors import GongshuError, Invalid, NotFound
from gongshu.ingest.models import Load, PullSource
from gongshu.ingest.service import loads, pull_db
from gongshu.ingest.service.pull_db import encode_watermark, parse_url
from gongshu.jobs.models import Job
from gongshu.jobs.service import enqueue, handler, periodic
from gongshu.store import registry

log = logging.getLogger(__name__)

PURPOSE = "ingest.pull.url"
MODES = ("full", "incremental")
#: how long a run waits for its load when another worker took the processing job
WAIT_FOR_LOAD_SECONDS = 3600
FINAL = ("applied", "unchanged", "rejected", "failed", "checked")
_FIELDS = ("name", "url_display", "table_name", "query", "mode", "watermark_column", "every_minutes", "enabled")


# Sources -----------------------------------------------------------------------------------

def _published(session: Session, actor: Actor, entry_id: int):
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require(actor, "ingest.load", org_id=entry.org_id)
    if entry.version < 1 or entry.status == "withdrawn":
        raise Invalid(f"目录“{entry.name}”尚未发布或已撤销，不能配置拉取",
                      f"Entry '{entry.name}' is not published (or was withdrawn)", field="entry_id")
    return entry, catalog_entries.published_snapshot(session, entry_id=entry.id)


def _validate(snapshot: dict, u: URL, *, table_name: str, query: str, mode: str,
              watermark_column: str) -> dict:
    table_name, query, watermark_column = table_name.strip(), query.strip(), watermark_column.strip()
    if bool(table_name) == bool(query):
        raise Invalid("请填写表名或查询语句（二者只能选一）", "Give either a table name or a query, not both",
                      field="table_name")
    if table_name and not all(pull_db.NAME.match(p) for p in table_name.split(".")):
        raise Invalid(f"表名“{table_name}”无效（可写 模式.表名，只含字母、数字、下划线）",
                      f"Table name '{table_name}' is invalid (schema.table of letters, digits, _)", field="table_name")
    if query:
        query = pull_db.check_query(query)
    if mode not in MODES:
        raise Invalid(f"拉取方式“{mode}”无效，应为 full（全量）或 incremental（增量）",
                      f"Mode '{mode}' is invalid: use full or incremental", field="mode")
    if mode == "incremental" and not watermark_column:
        raise Invalid("增量拉取须指定水印列（如更新时间）", "Incremental pulls need a watermark column",
                      field="watermark_column")
    if mode == "incremental" and not any(it.get("is_key") for it in snapshot["items"]):
        raise Invalid("本目录没有主键信息项，只能全量拉取", "The entry has no key items: only full pulls are possible",
                      field="mode")
    keys = pull_db.probe(u, table_name=table_name, query=query)
    _, missing = pull_db.column_map(keys, [it["name"] for it in snapshot["items"]])
    if missing:
        raise Invalid(f"前置库的列中缺少目录信息项：{'、'.join(missing)}（现有列：{'、'.join(keys)}）",
                      f"The source lacks the entry's data items: {', '.join(missing)} (has: {', '.join(keys)})",
                      field="table_name" if table_name else "query",
                      details=[{"field": m, "problem": "missing_column"} for m in missing])
    if mode == "incremental" and watermark_column not in keys:
        raise Invalid(f"前置库的列中没有水印列“{watermark_column}”", f"The source has no column '{watermark_column}'",
                      field="watermark_column")
    return {"table_name": table_name, "query": query, "mode": mode,
            "watermark_column": watermark_column if mode == "incremental" else ""}


def _check_basics(name: str, every_minutes: int) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("名称须为 1–100 个字符", "The name must be 1-100 characters", field="name")
    if not 5 <= every_minutes <= 525_600:
        raise Invalid("拉取间隔须在 5 分钟到 1 年之间", "The interval must be 5 minutes to 1 year", field="every_minutes")
    return name


def _platform_url(session: Session) -> URL:
    return session.get_bind().engine.url


def _public(s: PullSource) -> dict:
    return {f: getattr(s, f) for f in _FIELDS}


def create_source(session: Session, *, actor: Actor, entry_id: int, name: str, url: str, table_name: str = "",
                  query: str = "", mode: str = "full", watermark_column: str = "",
                  every_minutes: int = 1440) -> PullSource:
    """Configure a pull after testing the connection and the columns against the entry's items."""
    entry, snapshot = _published(session, actor, entry_id)
    name = _check_basics(name, every_minutes)
    u = parse_url(url, platform_url=_platform_url(session))
    checked = _validate(snapshot, u, table_name=table_name, query=query, mode=mode,
                        watermark_column=watermark_column)
    source = PullSource(entry_id=entry.id, org_id=entry.org_id, name=name, every_minutes=every_minutes,
                        url_encrypted=sm4.encrypt(u.render_as_string(hide_password=False).encode(), purpose=PURPOSE),
                        url_display=u.render_as_string(hide_password=True)[:300], created_by=actor.user_id,
                        **checked)
    session.add(source)
    session.flush()
    audit.record(session, actor=actor, action="ingest.pull.create", subject_type="ingest_pull_source",
                 subject_id=source.id, after=_public(source), detail={"entry_id": entry.id})
    return source


def get_source(session: Session, *, actor: Actor, source_id: int) -> PullSource:
    source = session.get(PullSource, source_id)
    if source is None:
        raise NotFound(f"拉取任务不存在（编号 {source_id}）", f"Pull source {source_id} not found")
    if not can(actor, "ingest.view_all"):
        require(actor, "ingest.view", org_id=source.org_id)
    return source


def list_sources(session: Session, *, actor: Actor, entry_id: int | None = None) -> list[PullSource]:
    stmt = select(PullSource).order_by(PullSource.id)
    if entry_id is not None:
        stmt = stmt.where(PullSource.entry_id == entry_id)
    if not can(actor, "ingest.view_all"):
        require(actor, "ingest.view", org_id=actor.org_id)
        stmt = stmt.where(PullSource.org_id == actor.org_id)
    return list(session.scalars(stmt))


def update_source(session: Session, *, actor: Actor, source_id: int, name: str | None = None,
                  url: str | None = None, table_name: str | None = None, query: str | None = None,
                  mode: str | None = None, watermark_column: str | None = None, every_minutes: int | None = None,
                  enabled: bool | None = None) -> PullSource:
    """Change a source (None = unchanged; an empty ``url`` keeps the stored one). Giving ``table_name`` or
    ``query`` replaces both. A changed URL, table/query, mode or watermark column resets the watermark."""
    source = get_source(session, actor=actor, source_id=source_id)
    require(actor, "ingest.load", org_id=source.org_id)
    before = _public(source)
    source.name = _check_basics(source.name if name is None else name,
                                source.every_minutes if every_minutes is None else every_minutes)
    source.every_minutes = source.every_minutes if every_minutes is None else every_minutes
    if enabled is not None:
        source.enabled = enabled
    if table_name is not None or query is not None:
        table_name, query = table_name or "", query or ""
    else:
        table_name, query = source.table_name, source.query
    u = parse_url(url, platform_url=_platform_url(session)) if url else make_url(
        sm4.decrypt(source.url_encrypted, purpose=PURPOSE).decode())
    config = {"table_name": table_name, "query": query, "mode": mode or source.mode,
              "watermark_column": source.watermark_column if watermark_column is None else watermark_column}
    if url or config != {k: getattr(source, k) for k in config}:
        _, snapshot = _published(session, actor, source.entry_id)
        checked = _validate(snapshot, u, **config)
        if url or checked != {k: getattr(source, k) for k in checked}:
            source.last_watermark = None
        for k, v in checked.items():
            setattr(source, k, v)
        source.url_encrypted = sm4.encrypt(u.render_as_string(hide_password=False).encode(), purpose=PURPOSE)
        source.url_display = u.render_as_string(hide_password=True)[:300]
    audit.record(session, actor=actor, action="ingest.pull.update", subject_type="ingest_pull_source",
                 subject_id=source.id, before=before, after=_public(source),
                 detail={"changed": sorted(k for k, v in _public(source).items() if before[k] != v),
                         "watermark_reset": source.last_watermark is None})
    return source


def delete_source(session: Session, *, actor: Actor, source_id: int) -> None:
    source = get_source(session, actor=actor, source_id=source_id)
    require(actor, "ingest.load", org_id=source.org_id)
    audit.record(session, actor=actor, action="ingest.pull.delete", subject_type="ingest_pull_source",
                 subject_id=source.id, before=_public(source), detail={"entry_id": source.entry_id})
    session.delete(source)
    session.flush()


def request_run(session: Session, *, actor: Actor, source_id: int) -> Job:
    """Queue a run now (the worker runs :func:`run_pull`)."""
    source = get_source(session, actor=actor, source_id=source_id)
    require(actor, "ingest.load", org_id=source.org_id)
    job = enqueue(session, "ingest.pull", source_id=source.id)
    audit.record(session, actor=actor, action="ingest.pull.request", subject_type="ingest_pull_source",
                 subject_id=source.id, detail={"job_id": job.id})
    return job


# Running -----------------------------------------------------------------------------------

@dataclass
class _Run:
    source_id: int
    entry_id: int
    created_by: int | None
    url_encrypted: bytes
    table_name: str
    query: str
    incremental: bool
    watermark_column: str
    last_watermark: str | None
    items: list[tuple[str, str]]  # (data item name, type) in catalogue order


class _PullFailed(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def _begin(source_id: int) -> _Run | None:
    with unit_of_work() as session:
        s = session.get(PullSource, source_id)
        if s is None:
            return None
        s.last_run_at = utcnow()
        snap = catalog_entries.published_snapshot(session, entry_id=s.entry_id)
        items = [(it["name"], it["type"]) for it in sorted(snap["items"], key=lambda it: it["seq"])]
        return _Run(s.id, s.entry_id, s.created_by, bytes(s.url_encrypted), s.table_name, s.query,
                    s.mode == "incremental", s.watermark_column, s.last_watermark, items)


def _extract(run: _Run, out: Path) -> tuple[int, Any]:
    u = make_url(sm4.decrypt(run.url_encrypted, purpose=PURPOSE).decode())
    try:
        return pull_db.extract(u, table_name=run.table_name, query=run.query, items=run.items,
                               watermark_column=run.watermark_column, incremental=run.incremental,
                               last_watermark=run.last_watermark, out=out)
    except pull_db.SourceError as exc:
        raise _PullFailed(exc.zh, exc.en) from None


def _creator(session: Session, run: _Run) -> Actor:
    user = session.get(User, run.created_by) if run.created_by else None
    if user is None or not user.active:
        raise _PullFailed("创建该拉取任务的账号不存在或已停用，请由本部门人员重新保存任务",
                          "The user who created this pull is gone or disabled; have a colleague save it again")
    return actor_for(session, user)


def _record(run: _Run, *, load: Load | None, rows: int, last: Any = None, zh: str = "", en: str = "") -> None:
    with unit_of_work() as session:
        s = session.get(PullSource, run.source_id)
        if s is None:
            return
        try:
            actor = _creator(session, run)
        except _PullFailed:
            actor = None
        before = s.last_watermark
        status = load.status if load is not None else ("failed" if zh else "nothing_new")
        if load is not None and status not in ("applied", "unchanged"):
            zh, en = load.error or f"归集未完成（{status}）", load.error_en or f"The load did not apply ({status})"
        s.last_error = f"{zh}\n{en}" if zh else ""
        s.last_load_id = load.id if load is not None else s.last_load_id
        same = (s.watermark_column, s.last_watermark) == (run.watermark_column, run.last_watermark)
        if status in ("applied", "unchanged") and run.incremental and last is not None and same:
            s.last_watermark = encode_watermark(last)
        audit.record(session, actor=actor, action="ingest.pull.fail" if zh else "ingest.pull.run",
                     subject_type="ingest_pull_source", subject_id=s.id, before={"last_watermark": before},
                     after={"last_watermark": s.last_watermark},
                     detail={"status": status, "rows": rows, "load_id": load.id if load else None,
                             "error": zh[:500]})


def _wait(load_id: int) -> Load | None:
    deadline = time.monotonic() + WAIT_FOR_LOAD_SECONDS
    while time.monotonic() < deadline:
        with unit_of_work() as session:
            load = session.get(Load, load_id)
            if load is None or load.status in FINAL:
                return load
        time.sleep(1)
    return None


def run_pull(source_id: int) -> Load | None:
    """Run one source now; the finished load, or None when nothing was loaded (no new rows, failure)."""
    run = _begin(source_id)
    if run is None:
        return None
    incoming = registry.files_root() / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    out = incoming / f"pull-{source_id}-{secrets.token_hex(6)}.parquet"
    try:
        rows, last = _extract(run, out)
        if run.incremental and rows == 0:
            _record(run, load=None, rows=0)
            return None
        with unit_of_work() as session:
            load = loads.receive_file(session, actor=_creator(session, run), entry_id=run.entry_id, path=out,
                                      filename=f"pull-{source_id}.parquet", format="parquet", channel="pull",
                                      mode="upsert" if run.incremental else "full")
            load_id = load.id
        done = loads.process(load_id) or _wait(load_id)
        if done is None or done.status not in FINAL:
            raise _PullFailed("归集仍在处理中，水印未推进", "The load is still processing; the watermark was not advanced")
        _record(run, load=done, rows=rows, last=last)
        return done
    except _PullFailed as exc:
        _record(run, load=None, rows=0, zh=exc.zh, en=exc.en)
    except GongshuError as exc:
        _record(run, load=None, rows=0, zh=exc.message, en=exc.message_en)
    except Exception as exc:  # never raise out of the job; the operators get the traceback in the log
        log.exception("pull source %s failed", source_id)
        _record(run, load=None, rows=0, zh=f"拉取失败（{type(exc).__name__}），请联系平台运维",
                en=f"The pull failed ({type(exc).__name__}); contact the operators")
    finally:
        out.unlink(missing_ok=True)
    return None


@handler("ingest.pull")
def _job(session: Session, *, source_id: int) -> None:
    session.close()  # a run has its own short transactions
    run_pull(source_id)


@periodic("ingest.pull", every=timedelta(minutes=5))
def enqueue_due(session: Session, now: datetime | None = None) -> list[int]:
    """Queue a run of every enabled source whose interval has passed since its last run."""
    now = now or utcnow()
    due = []
    for s in session.scalars(select(PullSource).where(PullSource.enabled.is_(True)).order_by(PullSource.id)):
        if s.last_run_at is None or s.last_run_at + timedelta(minutes=s.every_minutes) <= now:
            s.last_run_at = now
            enqueue(session, "ingest.pull", source_id=s.id)
            due.append(s.id)
    return due
