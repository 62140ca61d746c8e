"""Catalogue service: import and export in the national catalogue template (R-CAT-11).

The template's layout, reading and writing are in :mod:`gongshu.catalog.service.workbook`.
An import is checked completely before anything is written: cell problems, then the entry
rules (:mod:`gongshu.catalog.service.rules`, the same as for the edit form and the API) for
every entry of the file against one shared context; every problem is reported with its
sheet, row, column letter and header, and one bad cell means nothing is applied.  A clean
file is saved with the bulk path of the entry service (a few statements for any number of
entries) inside a savepoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth import service as auth_service
from gongshu.auth.actions import GOV_ROLES, declare
from gongshu.auth.service import Actor, require
from gongshu.catalog.models import STATUS_ZH, CatalogEntry, DataElement, DataItem, EntryVersion, Grade
from gongshu.catalog.schemas import DataItemIn, EntryIn
from gongshu.catalog.service import entries as entries_service
from gongshu.catalog.service.workbook import (
    ENTRY_SHEET,
    ParsedEntry,
    add_located,
    cell_error,
    parse_workbook,
    write_workbook,
)
from gongshu.errors import Forbidden, GongshuError, Invalid
from gongshu.kit.hashing import sm3_hex

declare("catalog.import", "导入本部门目录（电子表格）", "Import one's department catalogue from a spreadsheet",
        {"dept_officer"}, scope="own_org")
declare("catalog.export", "导出目录（电子表格、JSON）", "Export the catalogue (spreadsheet, JSON)", GOV_ROLES,
        writes=False)

#: working copies of these statuses may be overwritten by an import
UPDATABLE = ("draft", "returned", "revising")


@dataclass
class ImportReport:
    dry_run: bool
    digest: str
    filename: str
    entries: int
    items: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "ok": not self.errors, "sm3": self.digest, "filename": self.filename,
                "entries": self.entries, "items": self.items, "created": len(self.created),
                "updated": len(self.updated), "unchanged": len(self.unchanged), "created_codes": self.created,
                "updated_codes": self.updated, "errors": self.errors}


def _chunks(seq: list, n: int = 5000) -> Iterable[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def import_workbook(session: Session, *, actor: Actor, data: bytes, filename: str = "",
                    dry_run: bool = False) -> ImportReport:
    """Import a department's catalogue workbook in the caller's transaction.

    With any error nothing is applied and Invalid is raised with ``details`` (one per
    problem: sheet, row, column, header, field, code, message, message_en).  ``dry_run``
    returns the report (errors or would-be counts) without writing.
    """
    if actor.org_id is None:
        raise Forbidden("只有部门人员可以导入本部门目录", "Only department staff import their catalogue")
    require(actor, "catalog.import", org_id=actor.org_id)
    org = auth_service.get_org(session, actor.org_id)
    digest = sm3_hex(data or b"")
    parsed = parse_workbook(data)
    errors = parsed.errors
    report = ImportReport(dry_run, digest, filename, len(parsed.entries), parsed.item_rows, errors=errors)
    cols = parsed.columns
    pcode = cols[ENTRY_SHEET].get("provider_code")
    good = [pe for pe in parsed.entries if pe.data is not None]
    for pe in good:
        given = pe.values.get("provider_code")
        if given and given != org.uscc and (ENTRY_SHEET, pe.row, pcode) not in pe.bad:
            errors.append(cell_error(ENTRY_SHEET, pe.row, pcode, "提供方代码", "provider_code",
                                     f"提供方代码“{given}”不是本部门（{org.name}，{org.uscc}）的统一社会信用代码，"
                                     "只能导入本部门的目录",
                                     f"Provider code '{given}' is not your department's USCC ({org.uscc}); "
                                     "only your own catalogue can be imported", pe.code))
            pe.bad.add((ENTRY_SHEET, pe.row, pcode))
    existing: dict[str, CatalogEntry] = {}
    for part in _chunks([pe.code for pe in good]):
        existing.update((e.code, e) for e in session.scalars(select(CatalogEntry).where(CatalogEntry.code.in_(part))))
    current = _working_copies(session, [e for e in existing.values() if e.org_id == org.id])
    orgs = {o.id: o for o in auth_service.orgs(session)} if existing else {}
    plan: list[tuple[ParsedEntry, CatalogEntry | None]] = []
    ecode = cols[ENTRY_SHEET]["code"]
    for pe in good:
        old = existing.get(pe.code)
        if old is not None and old.org_id != org.id:
            owner = orgs[old.org_id].name if old.org_id in orgs else str(old.org_id)
            errors.append(cell_error(ENTRY_SHEET, pe.row, ecode, "信息资源代码", "code",
                                     f"信息资源代码“{pe.code}”已被{owner}使用，不能导入",
                                     f"Code '{pe.code}' belongs to another department ({owner})", pe.code))
            continue
        if old is not None and _same(current.get(old.id), pe.data):
            report.unchanged.append(pe.code)
            continue
        if old is not None and old.status not in UPDATABLE:
            errors.append(cell_error(ENTRY_SHEET, pe.row, ecode, "信息资源代码", "code",
                                     f"信息资源“{pe.code}”当前状态为“{STATUS_ZH.get(old.status, old.status)}”，"
                                     "只有草稿、已退回或修订中的目录可以通过导入修改",
                                     f"Entry '{pe.code}' is {old.status}; only drafts, returned or revising entries "
                                     "can be changed by an import", pe.code))
            continue
        if (ENTRY_SHEET, pe.row, pcode) in pe.bad:
            continue
        plan.append((pe, old))
    report.created = [pe.code for pe, old in plan if old is None]
    report.updated = [pe.code for pe, old in plan if old is not None]
    if dry_run or errors:
        # check the rest without writing, so the report names every problem in the file
        found = entries_service.validate_entries(session, actor=actor, data=[pe.data for pe, _old in plan],
                                                 entry_ids=[old.id if old else None for _pe, old in plan])
        for (pe, _old), problems in zip(plan, found, strict=True):
            for problem in problems:
                add_located(pe, cols, errors, problem)
        _sort(errors)
        if dry_run:
            return report
        raise _failed(errors)
    # A clean file is saved in bulk (the entry service checks every entry against one shared context
    # before writing any), inside a savepoint: with any error every write is rolled back.
    new = [pe for pe, old in plan if old is None]
    changed = [(pe, old) for pe, old in plan if old is not None]
    with session.begin_nested():
        try:
            entries_service.create_entries(session, actor=actor, data=[pe.data for pe in new])
        except GongshuError as exc:
            _locate_all(exc, new, cols, errors)
        try:
            entries_service.update_entries(session, actor=actor, entry_ids=[old.id for _pe, old in changed],
                                           data=[pe.data for pe, _old in changed])
        except GongshuError as exc:
            _locate_all(exc, [pe for pe, _old in changed], cols, errors)
        if errors:
            _sort(errors)
            raise _failed(errors)
        audit_service.record(session, actor=actor, action="catalog.import", subject_type="org", subject_id=org.id,
                             detail={"filename": filename, "sm3": digest, "entries": report.entries,
                                     "items": report.items, "created": len(report.created),
                                     "updated": len(report.updated), "unchanged": len(report.unchanged)})
    return report


def _locate_all(exc: GongshuError, batch: list[ParsedEntry], cols: dict, errors: list[dict]) -> None:
    """Map the problems the entry service found in a batch (``"entry"``: position in it) to their cells."""
    for problem in exc.details or [{"field": exc.field, "message": exc.message, "message_en": exc.message_en}]:
        n = problem.get("entry")
        if isinstance(n, int) and 0 <= n < len(batch):
            add_located(batch[n], cols, errors, problem)
        else:
            errors.append(cell_error(ENTRY_SHEET, None, None, None, problem.get("field"), problem["message"],
                                     problem.get("message_en") or problem["message"]))


def _sort(errors: list[dict]) -> None:
    errors.sort(key=lambda e: (e["sheet"] != ENTRY_SHEET, e["row"] or 0, len(e["column"] or ""), e["column"] or ""))


def _failed(errors: list[dict]) -> Invalid:
    return Invalid(f"导入文件有 {len(errors)} 处错误，未导入任何内容，请修改后重新上传",
                   f"The file has {len(errors)} error(s); nothing was imported. Fix them and upload again",
                   field="file", details=errors)


def _same(current: dict | None, data: EntryIn | None) -> bool:
    if current is None or data is None:
        return False
    try:
        mine = EntryIn.model_validate(_entry_fields(current))
    except ValidationError:
        return False
    return mine.model_dump() == data.model_dump()


# Export ----------------------------------------------------------------------------------

_ENTRY_FIELDS = tuple(EntryIn.model_fields)
_ITEM_FIELDS = tuple(DataItemIn.model_fields)


def _entry_fields(row: dict) -> dict:
    out = {k: row.get(k) for k in _ENTRY_FIELDS if k != "items"}
    out["items"] = [{k: it.get(k) for k in _ITEM_FIELDS} for it in row.get("items", [])]
    return out


def _working_copies(session: Session, entries: list[CatalogEntry]) -> dict[int, dict]:
    """Working copies as export rows (EntryIn fields + provider + status), two queries for any number."""
    if not entries:
        return {}
    orgs = {o.id: o for o in auth_service.orgs(session)}
    elements = dict(session.execute(select(DataElement.id, DataElement.code)).all())
    items: dict[int, list[DataItem]] = {e.id: [] for e in entries}
    for part in _chunks(list(items)):
        for it in session.scalars(select(DataItem).where(DataItem.entry_id.in_(part))
                                  .order_by(DataItem.entry_id, DataItem.seq, DataItem.id)):
            items[it.entry_id].append(it)
    out = {}
    for e in entries:
        row = {k: getattr(e, k) for k in _ENTRY_FIELDS if hasattr(CatalogEntry, k) and k != "items"}
        org = orgs.get(e.org_id)
        row.update(provider_name=org.name if org else "", provider_code=org.uscc if org else "",
                   collecting_org=orgs[e.collecting_org_id].name if e.collecting_org_id in orgs else None,
                   verifying_org=orgs[e.verifying_org_id].name if e.verifying_org_id in orgs else None,
                   related_codes=list(e.related_codes or []), status=e.status, version=e.version)
        row["items"] = [dict({k: getattr(it, k) for k in _ITEM_FIELDS if hasattr(DataItem, k)},
                             element_code=elements.get(it.element_id), seq=it.seq) for it in items[e.id]]
        out[e.id] = row
    return out


def _snapshot_row(snap: dict, version: EntryVersion) -> dict:
    row = dict(snap)
    row.setdefault("provider_name", snap.get("org_name", ""))
    row.setdefault("provider_code", snap.get("org_uscc", ""))
    for k in ("collecting_org", "verifying_org"):
        if row.get(k) is None:
            row[k] = snap.get(f"{k}_name")
    if isinstance(row.get("release_date"), str) and row["release_date"]:
        row["release_date"] = date.fromisoformat(row["release_date"][:10])
    row["version"] = version.version
    row["published_at"] = version.published_at
    row["status"] = "published"
    return row


SCOPES = ("own", "published")


def export_rows(session: Session, *, actor: Actor, scope: str = "own", org_id: int | None = None) -> list[dict]:
    """Entries to export, as rows: ``own`` = the actor's department's working copies;
    ``published`` = the latest published snapshots city-wide (or of ``org_id``)."""
    require(actor, "catalog.export")
    if scope not in SCOPES:
        raise Invalid(f"导出范围无效：{scope}（可选 own、published）", f"Unknown export scope {scope} (own, published)",
                      field="scope")
    if scope == "own":
        if actor.org_id is None:
            raise Invalid("当前用户不属于任何部门，无法导出本部门目录", "You belong to no department", field="scope")
        found = list(session.scalars(select(CatalogEntry).where(CatalogEntry.org_id == actor.org_id)
                                     .order_by(CatalogEntry.code)))
        copies = _working_copies(session, found)
        return [copies[e.id] for e in found]
    stmt = (select(EntryVersion).join(CatalogEntry, (CatalogEntry.id == EntryVersion.entry_id)
                                      & (CatalogEntry.version == EntryVersion.version))
            .where(CatalogEntry.status != "withdrawn").order_by(CatalogEntry.code))
    if org_id is not None:
        stmt = stmt.where(CatalogEntry.org_id == org_id)
    return [_snapshot_row(v.snapshot, v) for v in session.scalars(stmt)]


def export_json(session: Session, *, actor: Actor, scope: str = "own", org_id: int | None = None) -> list[dict]:
    """Entries with their items as JSON-able dicts (published scope: the snapshots as published)."""
    out = []
    for row in export_rows(session, actor=actor, scope=scope, org_id=org_id):
        d = {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in row.items() if k != "items"}
        d["items"] = [dict(it) for it in row.get("items", [])]
        out.append(d)
    return out


def export_workbook(session: Session, *, actor: Actor, scope: str = "own", org_id: int | None = None) -> bytes:
    """The same entries in the template layout; re-importing an unchanged export reports no errors."""
    return write_workbook(export_rows(session, actor=actor, scope=scope, org_id=org_id), grades=_grades(session))


def template_workbook(session: Session, *, actor: Actor) -> bytes:
    """An empty template with drop-down lists for the controlled fields."""
    require(actor, "catalog.export")
    return write_workbook([], grades=_grades(session))


def _grades(session: Session) -> list[str]:
    return list(session.scalars(select(Grade.code).order_by(Grade.rank)))

