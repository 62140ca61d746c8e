"""The aggregation overview: published entries with their attachment and freshness (R-AGG-1)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.ingest.service import freshness


def overview(session: Session, *, actor: Actor, org_id: int | None = None, status: str | None = None,
             limit: int = 500) -> tuple[list[tuple], dict[str, int]]:
    """(entry, attachment) for published entries the actor may see, and counts per status."""
    if not can(actor, "ingest.view_all"):
        require(actor, "ingest.view", org_id=actor.org_id)
        org_id = actor.org_id
    stmt = catalog_entries.visible_to(actor)
    entity = stmt.column_descriptions[0]["entity"]
    stmt = stmt.where(entity.version > 0, entity.status != "withdrawn")
    if org_id is not None:
        stmt = stmt.where(entity.org_id == org_id)
    entries = list(session.scalars(stmt.order_by(entity.org_id, entity.code)))
    att = freshness.attachment(session, entry_ids=[e.id for e in entries])
    counts = {"unattached": 0, "fresh": 0, "late": 0}
    for a in att.values():
        counts[a["status"]] += 1
    rows = [(e, att[e.id]) for e in entries if status is None or att[e.id]["status"] == status]
    return rows[:limit], counts
