"""What aggregation adds to the catalogue (R-AGG-1): attached / fresh / late badges on entries, and
the project compliance report's "attached" column (R-CAT-8)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from gongshu.catalog.service import entries as catalog_entries
from gongshu.catalog.service import projects as catalog_projects
from gongshu.ingest.service import freshness
from gongshu.ingest.service import versions as ingest_versions

CSS = {"fresh": "green", "late": "red"}


def _badges(session: Session, entry_ids: Sequence[int]) -> dict[int, list[tuple[str, str, str]]]:
    out = {}
    for entry_id, a in freshness.attachment(session, entry_ids=entry_ids).items():
        if a["status"] == "unattached":
            continue
        when = f"，{a['last_loaded_on']} 更新" if a["last_loaded_on"] else ""
        when_en = f", updated {a['last_loaded_on']}" if a["last_loaded_on"] else ""
        out[entry_id] = [("已挂接数据" + when, "Data attached" + when_en, "blue"),
                         (freshness.STATUS_ZH[a["status"]], freshness.STATUS_EN[a["status"]], CSS[a["status"]])]
    return out


def _attached(session: Session, m: catalog_projects.Match) -> bool:
    """The declared resource has data serving; a declared item must be among the serving version's items."""
    if m.entry is None:
        return False
    version = ingest_versions.current_version(session, entry_id=m.entry.id)
    if version is None:
        return False
    return not m.declared.item_name or m.declared.item_name in {c["label"] for c in version.columns}


catalog_entries.BADGE_PROVIDERS.append(_badges)
catalog_projects.CHECKS.append(catalog_projects.Check("attached", "已挂接", "Attached", _attached))
