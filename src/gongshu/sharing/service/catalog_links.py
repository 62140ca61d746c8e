"""What sharing adds to the catalogue: the sharing responsibility list names each entry's consumers
(R-CAT-9), and the project compliance report gains its "shared" column (R-CAT-8)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.auth.models import Org
from gongshu.catalog.service import inventories as catalog_inventories
from gongshu.catalog.service import projects as catalog_projects
from gongshu.ingest.service import versions as ingest_versions
from gongshu.sharing.models import Grant

#: grants that count as sharing happening (delivered and in force, or approved and awaiting delivery)
LIVE = ("active", "awaiting_delivery")


def consumers(session: Session, entry_ids: list[int]) -> dict[int, list[str]]:
    """The departments holding a live grant on each entry."""
    out: dict[int, list[str]] = {}
    if not entry_ids:
        return out
    for part in range(0, len(entry_ids), 1000):
        rows = session.execute(select(Grant.entry_id, Org.name).join(Org, Org.id == Grant.consumer_org_id)
                               .where(Grant.entry_id.in_(entry_ids[part:part + 1000]), Grant.status.in_(LIVE))
                               .distinct()).all()
        for entry_id, name in rows:
            out.setdefault(entry_id, []).append(name)
    return out


def _shared(session: Session, m: catalog_projects.Match) -> bool | None:
    """A declared resource is shared when a consumer holds a delivered grant covering the declared item, or
    when it is shared unconditionally and its data is attached (anyone may obtain it at once). Data that is not
    shared (不予共享) counts as shared once verification is granted on it; otherwise the column does not apply."""
    if m.entry is None:
        return False
    live = session.scalars(select(Grant).where(Grant.entry_id == m.entry.id, Grant.status == "active")).all()
    if any(not m.declared.item_name or m.declared.item_name in {i["name"] for i in g.items} for g in live):
        return True
    if m.entry.sharing_type == "不予共享":
        return None
    return m.entry.sharing_type == "无条件共享" and ingest_versions.current_version(session, entry_id=m.entry.id) \
        is not None


catalog_inventories.CONSUMER_PROVIDERS.append(consumers)
catalog_projects.CHECKS.append(catalog_projects.Check("shared", "已共享", "Shared", _shared))
