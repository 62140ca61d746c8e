"""Data elements (数据元) and single-source claims (一数一源, R-CAT-6).

The authority keeps a registry of data elements, each with at most one authoritative
source department (``DataElement.source_org_id``). Data items bind to elements; an item
may declare that its department is the element's source (``DataItem.claims_source``).

Single-source policy (decided here, documented in docs/compliance.md):

- claim on an element whose source is the entry's own department: nothing to resolve;
- claim on an element whose source is ANOTHER department: a :class:`SourceConflict`
  opens (once per entry and element), shown on the claimant's entry and on every entry
  of the incumbent that uses the element, until the authority resolves it;
- claim on an element with NO source yet: a pending claim opens (a SourceConflict with
  ``incumbent_org_id`` NULL). The claimant does not become the source by itself: the
  authority confirms it (``transfer``) or rejects it (``keep``). When an element gets a
  source, other pending claims on it turn into ordinary conflicts against that source;
- when the claiming item is edited so it no longer claims (or is unbound), its open
  conflict is closed as ``withdrawn``.

Resolution (authority, audited; applies to every open conflict of the same claimant
department on the same element):

- ``keep``: the incumbent stays the source; the claimant's items lose their claim;
- ``transfer``: the claimant becomes the source; the old source's items lose their claim;
  other departments' open conflicts on the element now stand against the new source.

Resolutions change the working copies of the affected items; published snapshots keep
what was published until the entry's next version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import AUTHORITY_ROLES, GOV_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.models import ITEM_TYPES, CatalogEntry, DataElement, DataItem, SourceConflict
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound

declare("catalog.element.view", "查看数据元目录", "See the data element registry", GOV_ROLES, writes=False)
declare("catalog.element.manage", "维护数据元及其数源部门", "Maintain data elements and their source departments",
        {"authority_admin"})
declare("catalog.conflict.resolve", "裁决一数一源冲突", "Resolve single-source conflicts", AUTHORITY_ROLES)

DECISIONS = {"keep": ("维持原数源部门", "Keep the current source"),
             "transfer": ("数源转移给申报部门", "Make the claimant the source")}
CONFLICT_STATUS_ZH = {"open": "待裁决", "resolved": "已裁决", "withdrawn": "已撤回"}


# Lookups ------------------------------------------------------------------------------

def element_by_code(session: Session, *, code: str) -> DataElement | None:
    return session.scalar(select(DataElement).where(DataElement.code == (code or "").strip()))


def get_element(session: Session, *, element_id: int) -> DataElement:
    el = session.get(DataElement, element_id)
    if el is None:
        raise NotFound("数据元不存在", "Data element not found")
    return el


def view_element(session: Session, *, actor: Actor, element_id: int) -> DataElement:
    require(actor, "catalog.element.view")
    return get_element(session, element_id=element_id)


def usage(session: Session, *, element_id: int) -> list[tuple[CatalogEntry, DataItem]]:
    """The (entry, item) pairs bound to an element, live entries only."""
    return list(session.execute(
        select(CatalogEntry, DataItem).join(DataItem, DataItem.entry_id == CatalogEntry.id)
        .where(DataItem.element_id == element_id, CatalogEntry.status != "withdrawn")
        .order_by(CatalogEntry.org_id, CatalogEntry.code, DataItem.seq)).all())


def list_elements(session: Session, *, actor: Actor, q: str = "", source_org_id: int | None = None) -> list[DataElement]:
    require(actor, "catalog.element.view")
    stmt = select(DataElement).order_by(DataElement.code)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(DataElement.code.like(like), DataElement.name.like(like)))
    if source_org_id:
        stmt = stmt.where(DataElement.source_org_id == source_org_id)
    return list(session.scalars(stmt))


def check_element_codes(session: Session, *, element_codes: list[str | None]) -> list[dict[str, Any]]:
    """Violations for unknown element codes, in the shape of ``entries.validate_entry``:
    ``element_codes[i]`` is the code of the i-th data item (None/blank = unbound)."""
    wanted = {c.strip() for c in element_codes if c and c.strip()}
    known = set(session.scalars(select(DataElement.code).where(DataElement.code.in_(wanted)))) if wanted else set()
    out = []
    for i, code in enumerate(element_codes):
        if code and code.strip() and code.strip() not in known:
            out.append({"field": f"items[{i}].element_code", "message": f"数据元代码“{code}”不存在",
                        "message_en": f"Unknown data element code '{code}'"})
    return out


# Binding and claims -------------------------------------------------------------------

def bind_items(session: Session, *, actor: Actor, entry: CatalogEntry,
               element_codes: dict[str, str | None]) -> list[SourceConflict]:
    """Bind the entry's data items to data elements and open/withdraw single-source conflicts.

    ``element_codes`` maps item name → element code (None/blank unbinds), in the order of
    the entry's items (errors name ``items[i].element_code`` by that order). Returns the
    open conflicts in which this entry is the claimant.
    """
    names = list(element_codes)
    problems = check_element_codes(session, element_codes=[element_codes[n] for n in names])
    if problems:
        raise Invalid(problems[0]["message"], problems[0]["message_en"], field=problems[0]["field"],
                      details=problems)
    codes = {c.strip() for c in element_codes.values() if c and c.strip()}
    elements = {e.code: e for e in session.scalars(select(DataElement).where(DataElement.code.in_(codes)))} \
        if codes else {}
    items = list(session.scalars(select(DataItem).where(DataItem.entry_id == entry.id).order_by(DataItem.seq)))
    claims: dict[int, DataItem] = {}
    for item in items:
        code = (element_codes.get(item.name) or "").strip()
        element = elements.get(code) if code else None
        item.element_id = element.id if element else None
        if element is not None and item.claims_source and element.source_org_id != entry.org_id:
            claims.setdefault(element.id, item)
    session.flush()

    existing = {c.element_id: c for c in session.scalars(
        select(SourceConflict).where(SourceConflict.claimant_entry_id == entry.id, SourceConflict.status == "open"))}
    by_id = {e.id: e for e in elements.values()}
    for element_id, conflict in existing.items():
        if element_id not in claims:
            conflict.status = "withdrawn"
            conflict.resolution_note = "申报部门已撤回数源声明"
            conflict.resolved_at = utcnow()
            audit_service.record(session, actor=actor, action="catalog.conflict.withdraw",
                                 subject_type="source_conflict", subject_id=conflict.id,
                                 detail={"element_id": element_id, "entry_id": entry.id})
        else:
            conflict.claimant_item_id = claims[element_id].id
    for element_id, item in claims.items():
        if element_id in existing:
            continue
        element = by_id[element_id]
        conflict = SourceConflict(element_id=element_id, incumbent_org_id=element.source_org_id,
                                  claimant_org_id=entry.org_id, claimant_entry_id=entry.id,
                                  claimant_item_id=item.id, status="open", resolution_note="")
        session.add(conflict)
        session.flush()
        audit_service.record(session, actor=actor, action="catalog.conflict.open", subject_type="source_conflict",
                             subject_id=conflict.id,
                             after={"element": element.code, "incumbent_org_id": element.source_org_id,
                                    "claimant_org_id": entry.org_id, "entry_id": entry.id, "item": item.name})
    session.flush()
    return list(session.scalars(select(SourceConflict).where(
        SourceConflict.claimant_entry_id == entry.id, SourceConflict.status == "open").order_by(SourceConflict.id)))


def open_conflicts_for_entry(session: Session, *, entry_id: int) -> list[SourceConflict]:
    """Open conflicts to show on an entry: those it raised as claimant, and those raised
    against its department on an element one of its items uses (the incumbent's side)."""
    org_id = session.scalar(select(CatalogEntry.org_id).where(CatalogEntry.id == entry_id))
    if org_id is None:
        return []
    used = select(DataItem.element_id).where(DataItem.entry_id == entry_id, DataItem.element_id.is_not(None))
    return list(session.scalars(select(SourceConflict).where(
        SourceConflict.status == "open",
        or_(SourceConflict.claimant_entry_id == entry_id,
            (SourceConflict.incumbent_org_id == org_id) & SourceConflict.element_id.in_(used)),
    ).order_by(SourceConflict.id)))


def conflicts_for_entry(session: Session, *, actor: Actor, entry_id: int) -> list[SourceConflict]:
    """:func:`open_conflicts_for_entry` as the actor may see it (the authority: all; a department:
    those it is a party to)."""
    require(actor, "catalog.element.view")
    rows = open_conflicts_for_entry(session, entry_id=entry_id)
    if can(actor, "catalog.conflict.resolve"):
        return rows
    return [c for c in rows if actor.org_id in (c.claimant_org_id, c.incumbent_org_id)]


def list_conflicts(session: Session, *, actor: Actor, status: str | None = "open",
                   org_id: int | None = None) -> list[SourceConflict]:
    """Conflicts (``status`` open / resolved / withdrawn / None = all). The authority sees
    every conflict; a department only those it is a party to."""
    require(actor, "catalog.element.view")
    if status is not None and status not in CONFLICT_STATUS_ZH:
        raise Invalid(f"冲突状态无效：{status}", f"Unknown conflict status {status}", field="status")
    if not can(actor, "catalog.conflict.resolve"):
        org_id = actor.org_id
    stmt = select(SourceConflict).order_by(SourceConflict.id.desc())
    if status:
        stmt = stmt.where(SourceConflict.status == status)
    if org_id:
        stmt = stmt.where(or_(SourceConflict.claimant_org_id == org_id, SourceConflict.incumbent_org_id == org_id))
    return list(session.scalars(stmt))


def conflict_kind(conflict: SourceConflict) -> str:
    """``claim``: a claim on an element without a source; ``conflict``: against another source."""
    return "claim" if conflict.incumbent_org_id is None and conflict.status == "open" else "conflict"


def get_conflict(session: Session, *, conflict_id: int) -> SourceConflict:
    c = session.get(SourceConflict, conflict_id)
    if c is None:
        raise NotFound("一数一源冲突不存在", "Single-source conflict not found")
    return c


def _transfer_source(session: Session, *, actor: Actor, element: DataElement, org_id: int | None,
                     basis: str | None, note: str) -> None:
    """Make ``org_id`` the element's source: the old source's items lose their claim; open
    conflicts of the new source close, other open ones now stand against the new source."""
    before = _element_state(element)
    old = element.source_org_id
    element.source_org_id = org_id
    if basis is not None:
        element.source_basis = basis
    if old is not None and old != org_id:
        session.execute(update(DataItem).where(
            DataItem.element_id == element.id, DataItem.claims_source.is_(True),
            DataItem.entry_id.in_(select(CatalogEntry.id).where(CatalogEntry.org_id == old)),
        ).values(claims_source=False).execution_options(synchronize_session="fetch"))
    now = utcnow()
    for c in session.scalars(select(SourceConflict).where(SourceConflict.element_id == element.id,
                                                          SourceConflict.status == "open")):
        if org_id is not None and c.claimant_org_id == org_id:
            c.status, c.winner_org_id, c.resolved_at = "resolved", org_id, now
            c.resolved_by = actor.user_id
            c.resolution_note = note or "数源已确定为申报部门"
        else:
            c.incumbent_org_id = org_id
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.element.source", subject_type="data_element",
                         subject_id=element.id, before=before, after=_element_state(element),
                         detail={"from_org_id": old, "to_org_id": org_id, "note": note})


def resolve_conflict(session: Session, *, actor: Actor, conflict_id: int, decision: str,
                     note: str) -> SourceConflict:
    """The authority decides who is the source (see the module docstring)."""
    require(actor, "catalog.conflict.resolve")
    conflict = get_conflict(session, conflict_id=conflict_id)
    if decision not in DECISIONS:
        raise Invalid("裁决结果应为“维持原数源部门”或“数源转移给申报部门”",
                      "The decision is 'keep' or 'transfer'", field="decision")
    note = (note or "").strip()
    if not note:
        raise Invalid("请填写裁决理由（如法定职责依据）", "Give the grounds of the decision", field="note")
    if conflict.status != "open":
        raise Conflict("该冲突已处理，不能再次裁决", "This conflict is already closed", field="conflict_id")
    element = get_element(session, element_id=conflict.element_id)
    before = _conflict_state(conflict)
    siblings = list(session.scalars(select(SourceConflict).where(
        SourceConflict.element_id == element.id, SourceConflict.claimant_org_id == conflict.claimant_org_id,
        SourceConflict.status == "open")))
    now = utcnow()
    if decision == "keep":
        session.execute(update(DataItem).where(
            DataItem.element_id == element.id, DataItem.claims_source.is_(True),
            DataItem.entry_id.in_([c.claimant_entry_id for c in siblings]),
        ).values(claims_source=False).execution_options(synchronize_session="fetch"))
        for c in siblings:
            c.status, c.winner_org_id, c.resolved_at = "resolved", element.source_org_id, now
            c.resolved_by, c.resolution_note = actor.user_id, note
    else:
        _transfer_source(session, actor=actor, element=element, org_id=conflict.claimant_org_id, basis=None,
                         note=note)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.conflict.resolve", subject_type="source_conflict",
                         subject_id=conflict.id, before=before, after=_conflict_state(conflict),
                         detail={"decision": decision, "note": note, "element": element.code,
                                 "also_closed": sorted(c.id for c in siblings if c.id != conflict.id)})
    return conflict


# Registry maintenance -----------------------------------------------------------------

def _element_state(el: DataElement) -> dict[str, Any]:
    return {"code": el.code, "name": el.name, "type": el.type, "length": el.length, "definition": el.definition,
            "source_org_id": el.source_org_id, "source_basis": el.source_basis, "is_personal": el.is_personal,
            "is_identifier": el.is_identifier}


def _conflict_state(c: SourceConflict) -> dict[str, Any]:
    return {"element_id": c.element_id, "incumbent_org_id": c.incumbent_org_id, "claimant_org_id": c.claimant_org_id,
            "claimant_entry_id": c.claimant_entry_id, "status": c.status, "winner_org_id": c.winner_org_id,
            "resolution_note": c.resolution_note}


def _source_org(session: Session, org_id: int | None) -> int | None:
    if org_id is None:
        return None
    org = session.get(Org, org_id)
    if org is None or not org.active:
        raise Invalid("数源部门不存在或已停用", "The source department does not exist or is inactive",
                      field="source_org_id")
    if org.kind not in ("department", "town", "park", "authority"):
        raise Invalid("数源部门应为政府部门、镇街或园区", "A source must be a department, town or park",
                      field="source_org_id")
    return org.id


def _checked(session: Session, *, element_id: int | None, code: str, name: str, type: str, length: int | None,
             definition: str, is_personal: bool, is_identifier: bool) -> dict[str, Any]:
    code, name = (code or "").strip(), (name or "").strip()
    if not code:
        raise Invalid("请填写数据元代码", "Give the element code", field="code")
    if len(code) > 40 or not all(ch.isalnum() or ch in "-_./" for ch in code):
        raise Invalid("数据元代码不超过 40 位，只含字母、数字和 - _ . /",
                      "Element codes are at most 40 letters, digits or - _ . /", field="code")
    if not name:
        raise Invalid("请填写数据元名称", "Give the element name", field="name")
    if len(name) > 100:
        raise Invalid("数据元名称不超过 100 字", "Element names are at most 100 characters", field="name")
    type = (type or "").strip().upper()
    if type not in ITEM_TYPES:
        opts = "、".join(f"{k}{v}" for k, v in ITEM_TYPES.items())
        raise Invalid(f"数据类型“{type}”无效（可选：{opts}）", f"Unknown data type '{type}'", field="type")
    if length is not None and not 1 <= length <= 100000:
        raise Invalid("数据长度应在 1 到 100000 之间", "Length must be between 1 and 100000", field="length")
    clash = session.scalar(select(DataElement).where(or_(DataElement.code == code, DataElement.name == name),
                                                     DataElement.id != (element_id or 0)))
    if clash is not None:
        if clash.code == code:
            raise Conflict(f"数据元代码已存在：{code}", f"Element code taken: {code}", field="code")
        raise Conflict(f"数据元名称已存在：{name}（代码 {clash.code}）", f"Element name taken: {name}", field="name")
    return {"code": code, "name": name, "type": type, "length": length, "definition": (definition or "").strip(),
            "is_personal": bool(is_personal), "is_identifier": bool(is_identifier)}


def create_element(session: Session, *, actor: Actor, code: str, name: str, type: str, length: int | None = None,
                   definition: str = "", source_org_id: int | None = None, source_basis: str = "",
                   is_personal: bool = False, is_identifier: bool = False) -> DataElement:
    require(actor, "catalog.element.manage")
    values = _checked(session, element_id=None, code=code, name=name, type=type, length=length,
                      definition=definition, is_personal=is_personal, is_identifier=is_identifier)
    org_id = _source_org(session, source_org_id)
    el = DataElement(**values, source_org_id=org_id, source_basis=(source_basis or "").strip())
    session.add(el)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.element.create", subject_type="data_element",
                         subject_id=el.id, after=_element_state(el))
    return el


def update_element(session: Session, *, actor: Actor, element_id: int, code: str, name: str, type: str,
                   length: int | None = None, definition: str = "", is_personal: bool = False,
                   is_identifier: bool = False, source_basis: str | None = None) -> DataElement:
    """Edit an element's description. The source department changes only through
    :func:`set_source` or a conflict resolution, which carry their consequences."""
    require(actor, "catalog.element.manage")
    el = get_element(session, element_id=element_id)
    values = _checked(session, element_id=el.id, code=code, name=name, type=type, length=length,
                      definition=definition, is_personal=is_personal, is_identifier=is_identifier)
    if values["code"] != el.code and session.scalar(select(DataItem.id).where(DataItem.element_id == el.id)
                                                    .limit(1)) is not None:
        raise Conflict("数据元已被信息项引用，不能修改代码", "The element is in use; its code cannot change",
                       field="code")
    before = _element_state(el)
    for k, v in values.items():
        setattr(el, k, v)
    if source_basis is not None:
        el.source_basis = source_basis.strip()
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.element.update", subject_type="data_element",
                         subject_id=el.id, before=before, after=_element_state(el))
    return el


def set_source(session: Session, *, actor: Actor, element_id: int, source_org_id: int | None,
               source_basis: str = "", note: str = "") -> DataElement:
    """The authority names (or changes, or clears) an element's source department."""
    require(actor, "catalog.element.manage")
    el = get_element(session, element_id=element_id)
    org_id = _source_org(session, source_org_id)
    if org_id is not None and not (source_basis or "").strip() and not el.source_basis:
        raise Invalid("请填写数源依据（法定职责或法规条款）", "Give the legal basis of the source",
                      field="source_basis")
    _transfer_source(session, actor=actor, element=el, org_id=org_id,
                     basis=source_basis.strip() if (source_basis or "").strip() else None,
                     note=(note or "").strip() or "数据主管部门指定数源部门")
    return el


def entry_labels(session: Session, *, entry_ids: list[int]) -> dict[int, str]:
    """'名称（代码）' of the entries named in conflicts, for listings."""
    if not entry_ids:
        return {}
    rows = session.execute(select(CatalogEntry.id, CatalogEntry.name, CatalogEntry.code)
                           .where(CatalogEntry.id.in_(set(entry_ids))))
    return {i: f"{name}（{code}）" for i, name, code in rows}
