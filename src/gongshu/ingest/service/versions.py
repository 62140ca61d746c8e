"""Data versions (版本): history, diff, rollback, retention; reading the serving version's rows;
and recovery after a crash (R-AGG-6)."""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import unit_of_work, utcnow
from gongshu.errors import Invalid, NotFound
from gongshu.ingest.models import DataVersion, EntryData, IngestPolicy, Load
from gongshu.ingest.service import freshness
from gongshu.ingest.service import spec as specs
from gongshu.ingest.service.files import snapshot_path
from gongshu.jobs.service import on_start
from gongshu.store import registry
from gongshu.store.service import diff_rows, diff_snapshots

log = logging.getLogger(__name__)

declare("ingest.rollback", "将目录数据回退到早先的版本", "Roll an entry's data back to an earlier version",
        {"dept_officer"}, scope="own_org")
declare("ingest.data.read", "查询本部门归集的数据（按主键、条件、导出）", "Read one's department's aggregated data",
        {"dept_officer", "dept_staff"}, scope="own_org", writes=False)

DIFF_KINDS = ("added", "changed", "deleted")


def _entry(session: Session, actor: Actor, entry_id: int, action: str = "ingest.view"):
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    if action == "ingest.view" and can(actor, "ingest.view_all"):
        return entry
    require(actor, action, org_id=entry.org_id)
    return entry


def list_versions(session: Session, *, actor: Actor, entry_id: int) -> list[DataVersion]:
    _entry(session, actor, entry_id)
    return list(session.scalars(select(DataVersion).where(DataVersion.entry_id == entry_id)
                                .order_by(DataVersion.number.desc())))


def get_version(session: Session, *, actor: Actor, entry_id: int, number: int) -> DataVersion:
    _entry(session, actor, entry_id)
    version = session.scalar(select(DataVersion).where(DataVersion.entry_id == entry_id,
                                                       DataVersion.number == number))
    if version is None:
        raise NotFound(f"目录 {entry_id} 没有第 {number} 个数据版本", f"Entry {entry_id} has no data version {number}")
    return version


def current_version(session: Session, *, entry_id: int) -> DataVersion | None:
    state = session.get(EntryData, entry_id)
    return session.get(DataVersion, state.current_version_id) if state and state.current_version_id else None


def versions_of(session: Session, *, entry_id: int) -> list[DataVersion]:
    """Every data version of an entry, newest first, without a permission check: for callers that decide who
    may see them (the open data portal lists the versions of open entries)."""
    return list(session.scalars(select(DataVersion).where(DataVersion.entry_id == entry_id)
                                .order_by(DataVersion.number.desc())))


def _available(version: DataVersion) -> None:
    if version.status == "expired":
        raise Invalid(f"第 {version.number} 版已超过保留期，数据已清除（摘要与记录仍保留）",
                      f"Version {version.number} is past retention; its data was removed (digests remain)")


def diff(session: Session, *, actor: Actor, entry_id: int, old: int, new: int, kind: str | None = None,
         limit: int = 50, offset: int = 0) -> dict:
    """Counts of added/changed/deleted rows between two versions, and rows of one kind."""
    a = get_version(session, actor=actor, entry_id=entry_id, number=old)
    b = get_version(session, actor=actor, entry_id=entry_id, number=new)
    _available(a)
    _available(b)
    if a.columns != b.columns:
        raise Invalid("两个版本的信息项不同（目录已修订），无法逐行比较",
                      "The two versions have different data items (the entry was revised); no row diff")
    columns = specs.columns_from_json(b.columns)
    keys = [c.name for c in columns if c.key]
    names = [c.name for c in columns]
    counts = diff_snapshots(snapshot_path(a), snapshot_path(b), keys=keys, columns=names)
    out = {"old": a, "new": b, "counts": vars(counts), "columns": columns, "kind": kind, "rows": []}
    if kind:
        if kind not in DIFF_KINDS:
            raise Invalid(f"差异类型“{kind}”无效", f"Unknown diff kind '{kind}'", field="kind")
        out["rows"] = diff_rows(snapshot_path(a), snapshot_path(b), keys=keys, columns=names, kind=kind,
                                limit=limit, offset=offset)
    return out


def rollback(session: Session, *, actor: Actor, entry_id: int, number: int, reason: str) -> DataVersion:
    """Serve an earlier version again (re-point); audited with the reason."""
    entry = _entry(session, actor, entry_id, "ingest.rollback")
    if not reason.strip():
        raise Invalid("请填写回退原因", "Give a reason for the rollback", field="reason")
    target = get_version(session, actor=actor, entry_id=entry.id, number=number)
    _available(target)
    current = current_version(session, entry_id=entry.id)
    if current is not None and current.id == target.id:
        raise Invalid(f"第 {number} 版已是当前版本", f"Version {number} already serves")
    if current is not None:
        current.status = "kept"
    target.status = "current"
    freshness.repoint(session, entry_id=entry.id, version_id=target.id)
    audit.record(session, actor=actor, action="ingest.rollback", subject_type="catalog_entry", subject_id=entry.id,
                 before={"version": current.number if current else None}, after={"version": number},
                 detail={"reason": reason.strip()[:500]})
    return target


def set_policy(session: Session, *, actor: Actor, entry_id: int, max_error_rate: float,
               keep_versions: int) -> IngestPolicy:
    entry = _entry(session, actor, entry_id, "ingest.policy")
    if not 0 <= max_error_rate <= 0.5:
        raise Invalid("允许的错误率应在 0 到 50% 之间", "The error-rate limit must be between 0 and 50%",
                      field="max_error_rate")
    if not 1 <= keep_versions <= 100:
        raise Invalid("保留版本数应在 1 到 100 之间", "Versions kept must be between 1 and 100", field="keep_versions")
    policy = session.get(IngestPolicy, entry.id)
    before = None
    if policy is None:
        policy = IngestPolicy(entry_id=entry.id)
        session.add(policy)
    else:
        before = {"max_error_rate": policy.max_error_rate, "keep_versions": policy.keep_versions}
    policy.max_error_rate, policy.keep_versions, policy.updated_at = max_error_rate, keep_versions, utcnow()
    session.flush()
    audit.record(session, actor=actor, action="ingest.policy", subject_type="catalog_entry", subject_id=entry.id,
                 before=before, after={"max_error_rate": max_error_rate, "keep_versions": keep_versions})
    return policy


# Reading the serving version -----------------------------------------------------------------

def serving(session: Session, *, actor: Actor, entry_id: int) -> tuple[DataVersion, list]:
    entry = _entry(session, actor, entry_id, "ingest.data.read")
    version = current_version(session, entry_id=entry.id)
    if version is None:
        raise NotFound(f"目录“{entry.name}”尚未挂接数据", f"Entry '{entry.name}' has no data loaded yet")
    return version, specs.columns_from_json(version.columns)


def lookup(session: Session, *, actor: Actor, entry_id: int, key: dict[str, str]) -> list[dict]:
    """Rows of the serving version with this key (by data item name); the read is access-logged."""
    version, columns = serving(session, actor=actor, entry_id=entry_id)
    by_label = {c.label: c for c in columns}
    unknown = [k for k in key if k not in by_label]
    if unknown or not key:
        raise Invalid(f"未知的信息项：{'、'.join(unknown) or '（空）'}", f"Unknown data items: {', '.join(unknown) or '(none)'}",
                      field="key")
    rows = registry.get_store().lookup(version.table_name, columns, {by_label[k].name: v for k, v in key.items()})
    audit.record(session, actor=actor, action="ingest.data.read", subject_type="ingest_version",
                 subject_id=version.id, detail={"how": "lookup", "fields": sorted(key), "rows": len(rows)})
    return [_labelled(r, columns) for r in rows]


def query(session: Session, *, actor: Actor, entry_id: int, filters: dict[str, str] | None = None,
          after: list | None = None, limit: int = 50) -> tuple[DataVersion, list, list[dict], list | None]:
    version, columns = serving(session, actor=actor, entry_id=entry_id)
    by_label = {c.label: c for c in columns}
    flt = {}
    for k, v in (filters or {}).items():
        if k not in by_label:
            raise Invalid(f"未知的信息项：{k}", f"Unknown data item: {k}", field="filters")
        flt[by_label[k].name] = v
    rows, nxt = registry.get_store().query(version.table_name, columns, filters=flt or None, after=after,
                                           limit=max(1, min(limit, 500)))
    audit.record(session, actor=actor, action="ingest.data.read", subject_type="ingest_version",
                 subject_id=version.id, detail={"how": "query", "fields": sorted(filters or {}), "rows": len(rows)})
    return version, columns, rows, nxt


def _labelled(row: dict, columns) -> dict:
    return {c.label: row.get(c.name) for c in columns}


# Recovery ---------------------------------------------------------------------------------------

@on_start
def recover() -> dict:
    """After a crash: interrupted loads are marked failed, tables and snapshots no version uses are
    removed. Run where loads are processed (the in-process runner, ``gongshu worker``) at start."""
    with unit_of_work() as session:
        stuck = session.scalars(select(Load.id).where(Load.status == "validating")).all()
        if stuck:
            session.execute(update(Load).where(Load.id.in_(stuck)).values(
                status="failed", finished_at=utcnow(), error="处理中断（服务重启），数据未入库，请重新提交",
                error_en="Processing was interrupted (restart); nothing was loaded — submit again"))
            for load_id in stuck:
                audit.record(session, actor=None, action="ingest.failed", subject_type="ingest_load",
                             subject_id=load_id, detail={"error": "interrupted"})
        keep = {t for t, in session.execute(select(DataVersion.table_name).where(DataVersion.status != "expired"))}
        snaps = {p for p, in session.execute(select(DataVersion.snapshot_path).where(DataVersion.status != "expired"))}
    dropped = registry.get_store().cleanup(keep=keep)
    root = registry.files_root()
    removed = []
    for path in (root / "snapshots").glob("*/*.parquet") if (root / "snapshots").exists() else []:
        if str(path.relative_to(root)) not in snaps:
            path.unlink(missing_ok=True)
            removed.append(str(path))
    for load_id in stuck:
        for name in ("rejects.parquet", "delta.parquet"):
            (root / "loads" / str(load_id) / name).unlink(missing_ok=True)
    if stuck or dropped or removed:
        log.warning("recovered: %d interrupted loads, %d tables, %d snapshots", len(stuck), len(dropped), len(removed))
    return {"loads": list(stuck), "tables": dropped, "snapshots": removed}


def serving_versions(session: Session) -> list[DataVersion]:
    """Every entry's serving version (for libraries assembled from them; no permission check)."""
    return list(session.scalars(select(DataVersion).join(EntryData, EntryData.current_version_id == DataVersion.id)
                                .order_by(DataVersion.entry_id)))
