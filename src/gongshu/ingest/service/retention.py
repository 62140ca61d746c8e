"""Retention of data versions: the newest ``keep_versions`` keep their tables and snapshots for
rollback; older ones expire — their data is removed, their record and digests stay (R-AGG-6)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.db import unit_of_work, utcnow
from gongshu.ingest.models import DataVersion, IngestPolicy
from gongshu.ingest.service.files import snapshot_path
from gongshu.store import registry


def policy_of(session: Session, *, entry_id: int) -> IngestPolicy:
    return session.get(IngestPolicy, entry_id) or IngestPolicy(entry_id=entry_id, max_error_rate=0.0, keep_versions=5)


def expire_old(session: Session, *, entry_id: int) -> list[DataVersion]:
    """Mark versions beyond the entry's retention as expired (their data is removed after commit)."""
    keep = policy_of(session, entry_id=entry_id).keep_versions
    versions = session.scalars(select(DataVersion).where(DataVersion.entry_id == entry_id,
                                                         DataVersion.status != "expired")
                               .order_by(DataVersion.number.desc())).all()
    expired = [v for v in versions[keep:] if v.status != "current"]
    for v in expired:
        v.status, v.expired_at = "expired", utcnow()
        audit.record(session, actor=None, action="ingest.expire", subject_type="ingest_version", subject_id=v.id,
                     detail={"entry_id": entry_id, "number": v.number, "sm3": v.snapshot_sm3})
    return expired


def remove_data(versions: list[DataVersion]) -> None:
    """Drop the tables and snapshots of expired versions (after the expiry committed)."""
    store = registry.get_store()
    for v in versions:
        store.drop_table(v.table_name)
        snapshot_path(v).unlink(missing_ok=True)


def apply_retention(entry_id: int) -> int:
    with unit_of_work() as session:
        expired = expire_old(session, entry_id=entry_id)
    remove_data(expired)
    return len(expired)
