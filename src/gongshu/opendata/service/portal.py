"""What the portal's pages show beyond one dataset: the home page (newest, most used, by theme and by
department), a department's open datasets, and public usage figures (R-OPN-1, R-OPN-7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.catalog.service import entries as catalog_entries
from gongshu.catalog.service import search
from gongshu.errors import NotFound
from gongshu.ingest.service import freshness
from gongshu.kit.pagination import Page
from gongshu.opendata.service import datasets
from gongshu.sharing.service import evidence

#: which access events count as what on the public usage figures
USAGE = {"views": ("open_view",), "previews": ("open_preview",), "downloads": ("open_download",),
         "api_calls": ("open_rows",)}
_ALL_OPERATIONS = tuple(op for ops in USAGE.values() for op in ops)


def usage(session: Session, *, entry_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Per open entry: views, previews, downloads and API calls served (denied calls are not counted)."""
    raw = evidence.counts(session, operations=_ALL_OPERATIONS, entry_ids=entry_ids)
    return {entry_id: {k: sum(by_op.get(op, 0) for op in ops) for k, ops in USAGE.items()}
            for entry_id, by_op in raw.items()}


@dataclass(frozen=True)
class Home:
    total: int
    newest: list[dict]  # published snapshots of the newest open entries
    most_used: list[tuple[dict, dict[str, int]]]  # (snapshot, usage)
    topics: list[tuple[str, int]]
    departments: list[tuple[str, int]]


def home(session: Session, *, limit: int = 8) -> Home:
    """The portal's home page: the counts by theme and department (the catalogue search over the open
    entries), the newest datasets, and the most used ones (downloads and API calls, then views)."""
    within = datasets.opened_ids_select()
    found = search.search(session, actor=None, page=Page(1, 1), within=within)
    newest = catalog_entries.newest(session, within=within, limit=limit)
    open_ids = datasets.opened_ids(session)
    used = {i: u for i, u in usage(session).items() if i in open_ids}
    top = sorted(used, key=lambda i: (-(used[i]["downloads"] + used[i]["api_calls"]),
                                      -(used[i]["views"] + used[i]["previews"]), i))[:limit]
    loaded = catalog_entries.load_many(session, entry_ids=[e.id for e in newest] + top)
    snaps = catalog_entries.snapshots(session, entries=list(loaded.values()))
    return Home(total=found.total, newest=[snaps[e.id] for e in newest],
                most_used=[(snaps[i], used[i]) for i in top],
                topics=found.facets.get("topic", []), departments=found.facets.get("dept", []))


def department(session: Session, *, org_id: int) -> tuple[Any, list[Any]]:
    """A department (with at least one open dataset) and its open entries; :class:`NotFound` otherwise."""
    try:
        org = auth_service.get_org(session, org_id)
    except NotFound:
        org = None
    ids = [i for i in datasets.opened_ids(session)]
    entries = catalog_entries.load_many(session, entry_ids=ids) if ids else {}
    mine = sorted((e for e in entries.values() if org is not None and e.org_id == org.id), key=lambda e: e.code)
    if org is None or not mine:
        raise NotFound("没有该部门的开放数据", "No open data of this department", field="org")
    return org, mine


def freshness_of(session: Session, *, entry_id: int) -> dict[str, Any]:
    """The dataset's update state: fresh / late / unattached, last load, next due date."""
    return freshness.attachment(session, entry_ids=[entry_id])[entry_id]
