"""Inventories (清单, R-CAT-9): information systems, data list, sharing responsibility list,
each department's collection list (采集清单, R-CAT-6) and the demand list (需求清单, R-DEM-1:
a department's own demands and those asked of it; rows from :mod:`demands`), per department
and city-wide, exported as CSV, XLSX and JSON.

The data list and the sharing responsibility list are built from the latest PUBLISHED
snapshot of each entry (what the city has approved), never from a working copy under
edit; withdrawn entries are left out. The collection list reads the working copies,
because element bindings and source claims live there.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.models import (
    STATUS_ZH,
    CatalogEntry,
    DataElement,
    DataItem,
    EntryVersion,
    InfoSystem,
    SourceConflict,
)
from gongshu.catalog.service import demands
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound

declare("catalog.system.manage", "维护本部门信息系统清单", "Maintain the department's information systems",
        {"dept_officer", "dept_staff"}, scope="own_org")
declare("catalog.inventory.view", "查看和导出本部门清单", "See and export the department's inventories",
        {"dept_officer", "dept_staff"}, scope="own_org", writes=False)
declare("catalog.inventory.view_all", "查看和导出全市清单", "See and export every department's inventories",
        AUTHORITY_ROLES | {"auditor"}, writes=False)

KINDS = {
    "systems": ("信息系统清单", "Information-system list"),
    "data": ("数据清单", "Data list"),
    "sharing": ("共享责任清单", "Sharing responsibility list"),
    "collection": ("采集清单", "Collection list"),
    "demand": ("需求清单", "Demand list"),
}
FORMATS = ("csv", "xlsx", "json")

#: columns of each inventory: (key, Chinese header, English header)
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "systems": [
        ("org_name", "部门", "Department"), ("name", "信息系统名称", "System"),
        ("description", "系统简介", "Description"), ("operator", "运维单位", "Operator"),
        ("launched", "上线日期", "Launched"), ("entries", "关联目录数", "Catalogue entries"),
    ],
    "data": [
        ("org_name", "提供部门", "Provider"), ("code", "信息资源代码", "Code"), ("name", "信息资源名称", "Name"),
        ("resource_attr", "资源属性", "Resource attribute"), ("class_code", "分类", "Class"),
        ("format", "资源格式", "Format"), ("items", "信息项数", "Data items"), ("grade", "分级", "Grade"),
        ("sharing_type", "共享类型", "Sharing type"), ("open_type", "开放属性", "Open attribute"),
        ("update_cycle", "更新周期", "Update cycle"), ("source_system", "来源信息系统", "Source system"),
        ("version", "版本", "Version"), ("published_at", "发布时间", "Published"),
    ],
    "sharing": [
        ("org_name", "提供方", "Provider"), ("org_uscc", "提供方统一社会信用代码", "Provider USCC"),
        ("code", "信息资源代码", "Code"), ("name", "信息资源名称", "Name"),
        ("sharing_type", "共享类型", "Sharing type"), ("sharing_condition", "共享条件", "Condition"),
        ("sharing_basis", "共享依据", "Basis"), ("sharing_mode", "共享方式", "Mode"),
        ("sharing_scope", "共享范围", "Scope"), ("sharing_period", "共享期限", "Period"),
        ("update_cycle", "更新周期", "Update cycle"), ("consumers", "使用部门", "Consumers"),
    ],
    "collection": [
        ("org_name", "数源部门", "Source department"), ("element_code", "数据元代码", "Element code"),
        ("element_name", "数据元名称", "Element"), ("source_basis", "数源依据", "Legal basis"),
        ("entry_code", "信息资源代码", "Entry code"), ("entry_name", "信息资源名称", "Entry"),
        ("item_name", "信息项", "Data item"), ("entry_status", "目录状态", "Entry status"),
        ("standing", "数源状态", "Source standing"),
    ],
    "demand": [
        ("org_name", "需求部门", "Requesting department"), ("title", "需求名称", "Demand"),
        ("description", "需求描述", "Description"), ("purpose", "用途", "Purpose"), ("basis", "需求依据", "Basis"),
        ("items", "所需数据项", "Data items"), ("serves", "服务的信息系统/项目", "System / project"),
        ("provider_name", "提供部门", "Provider"), ("sharing_mode", "共享方式", "Sharing mode"),
        ("needed_by", "期望完成日期", "Needed by"), ("status", "状态", "Status"),
        ("matched_code", "匹配目录代码", "Matched entry code"), ("matched_name", "匹配目录名称", "Matched entry"),
        ("answer", "答复", "Answer"), ("due", "办理期限", "Due"), ("registered_at", "登记日期", "Registered"),
    ],
}


@dataclass(frozen=True)
class Inventory:
    kind: str
    org_id: int | None  # None = city-wide
    org_name: str
    columns: list[tuple[str, str, str]]
    rows: list[dict[str, Any]]

    @property
    def title(self) -> str:
        return f"{self.org_name}{KINDS[self.kind][0]}"


# Permissions ------------------------------------------------------------------------

def may_view_all(actor: Actor) -> bool:
    return can(actor, "catalog.inventory.view_all")


def require_view(actor: Actor, org_id: int | None) -> None:
    """City-wide lists need ``view_all``; one department's lists need ``view`` on it (or ``view_all``)."""
    if may_view_all(actor):
        return
    if org_id is None:
        require(actor, "catalog.inventory.view_all")
    require(actor, "catalog.inventory.view", org_id=org_id)


def _org_name(session: Session, org_id: int | None) -> str:
    if org_id is None:
        return "全市"
    org = session.get(Org, org_id)
    if org is None:
        raise NotFound("部门不存在", "Department not found", field="org_id")
    return org.name


# Information systems ----------------------------------------------------------------

def _system_state(s: InfoSystem) -> dict[str, Any]:
    return {"org_id": s.org_id, "name": s.name, "description": s.description, "operator": s.operator,
            "launched": s.launched.isoformat() if s.launched else None}


def _checked_system(session: Session, *, org_id: int, system_id: int | None, name: str, description: str,
                    operator: str, launched: date | None) -> dict[str, Any]:
    name = (name or "").strip()
    if not name:
        raise Invalid("请填写信息系统名称", "Give the system's name", field="name")
    if len(name) > 200:
        raise Invalid("信息系统名称不超过 200 字", "System names are at most 200 characters", field="name")
    if len((operator or "").strip()) > 200:
        raise Invalid("运维单位不超过 200 字", "Operator is at most 200 characters", field="operator")
    if launched is not None and launched > date.today():
        raise Invalid("上线日期不能晚于今天", "The launch date cannot be in the future", field="launched")
    clash = session.scalar(select(InfoSystem.id).where(InfoSystem.org_id == org_id, InfoSystem.name == name,
                                                       InfoSystem.id != (system_id or 0)))
    if clash is not None:
        raise Conflict(f"本部门已登记同名信息系统：{name}", f"The department already lists a system named {name}",
                       field="name")
    return {"name": name, "description": (description or "").strip(), "operator": (operator or "").strip(),
            "launched": launched}


def get_system(session: Session, *, system_id: int) -> InfoSystem:
    s = session.get(InfoSystem, system_id)
    if s is None:
        raise NotFound("信息系统不存在", "Information system not found")
    return s


def create_system(session: Session, *, actor: Actor, name: str, description: str = "", operator: str = "",
                  launched: date | None = None) -> InfoSystem:
    """A department adds one of its information systems (信息系统清单)."""
    require(actor, "catalog.system.manage", org_id=actor.org_id)
    if actor.org_id is None:
        raise Invalid("系统账户不属于任何部门", "The system account belongs to no department")
    values = _checked_system(session, org_id=actor.org_id, system_id=None, name=name, description=description,
                             operator=operator, launched=launched)
    s = InfoSystem(org_id=actor.org_id, **values)
    session.add(s)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.system.create", subject_type="info_system",
                         subject_id=s.id, after=_system_state(s))
    return s


def update_system(session: Session, *, actor: Actor, system_id: int, name: str, description: str = "",
                  operator: str = "", launched: date | None = None) -> InfoSystem:
    s = get_system(session, system_id=system_id)
    require(actor, "catalog.system.manage", s)
    values = _checked_system(session, org_id=s.org_id, system_id=s.id, name=name, description=description,
                             operator=operator, launched=launched)
    before = _system_state(s)
    for k, v in values.items():
        setattr(s, k, v)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.system.update", subject_type="info_system",
                         subject_id=s.id, before=before, after=_system_state(s))
    return s


def delete_system(session: Session, *, actor: Actor, system_id: int) -> None:
    s = get_system(session, system_id=system_id)
    require(actor, "catalog.system.manage", s)
    before = _system_state(s)
    session.delete(s)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.system.delete", subject_type="info_system",
                         subject_id=system_id, before=before)


def list_systems(session: Session, *, actor: Actor, org_id: int | None) -> list[InfoSystem]:
    require_view(actor, org_id)
    stmt = select(InfoSystem).order_by(InfoSystem.org_id, InfoSystem.name)
    if org_id is not None:
        stmt = stmt.where(InfoSystem.org_id == org_id)
    return list(session.scalars(stmt))


# Building the lists -----------------------------------------------------------------

def _published(session: Session, org_id: int | None) -> list[tuple[CatalogEntry, EntryVersion]]:
    """Each non-withdrawn entry's latest published version."""
    stmt = (select(CatalogEntry, EntryVersion)
            .join(EntryVersion, (EntryVersion.entry_id == CatalogEntry.id) & (EntryVersion.version == CatalogEntry.version))
            .where(CatalogEntry.version > 0, CatalogEntry.status != "withdrawn")
            .order_by(CatalogEntry.org_id, CatalogEntry.code))
    if org_id is not None:
        stmt = stmt.where(CatalogEntry.org_id == org_id)
    return list(session.execute(stmt).all())


def _org_names(session: Session) -> dict[int, tuple[str, str]]:
    return {i: (n, u) for i, n, u in session.execute(select(Org.id, Org.name, Org.uscc))}


def _systems_rows(session: Session, org_id: int | None) -> list[dict[str, Any]]:
    names = _org_names(session)
    stmt = select(InfoSystem).order_by(InfoSystem.org_id, InfoSystem.name)
    if org_id is not None:
        stmt = stmt.where(InfoSystem.org_id == org_id)
    systems = list(session.scalars(stmt))
    counts = dict(((o, n), c) for o, n, c in session.execute(
        select(CatalogEntry.org_id, CatalogEntry.source_system, func.count())
        .where(CatalogEntry.status != "withdrawn").group_by(CatalogEntry.org_id, CatalogEntry.source_system)))
    return [{"id": s.id, "org_id": s.org_id, "org_name": names.get(s.org_id, ("", ""))[0], "name": s.name,
             "description": s.description, "operator": s.operator,
             "launched": s.launched.isoformat() if s.launched else "", "entries": counts.get((s.org_id, s.name), 0)}
            for s in systems]


def _snap(snapshot: dict[str, Any], entry: CatalogEntry, key: str) -> Any:
    value = snapshot.get(key)
    return getattr(entry, key, "") if value is None else value


def _data_rows(session: Session, org_id: int | None) -> list[dict[str, Any]]:
    names = _org_names(session)
    rows = []
    for entry, ver in _published(session, org_id):
        snap = ver.snapshot or {}
        rows.append({
            "entry_id": entry.id, "org_id": entry.org_id,
            "org_name": snap.get("org_name") or names.get(entry.org_id, ("", ""))[0],
            **{k: _snap(snap, entry, k) for k in ("code", "name", "resource_attr", "class_code", "format", "grade",
                                                  "sharing_type", "open_type", "update_cycle", "source_system")},
            "items": len(snap.get("items") or []), "version": ver.version,
            "published_at": ver.published_at.strftime("%Y-%m-%d") if ver.published_at else "",
        })
    return rows


#: who uses each entry (the sharing responsibility list's 使用部门): functions ``(session, entry_ids) ->
#: {entry_id: [consumer names]}`` appended by the sharing domain, so the catalogue never imports it
CONSUMER_PROVIDERS: list[Callable[[Session, list[int]], dict[int, list[str]]]] = []


def _sharing_rows(session: Session, org_id: int | None) -> list[dict[str, Any]]:
    names = _org_names(session)
    rows = []
    for entry, ver in _published(session, org_id):
        snap = ver.snapshot or {}
        org_name, org_uscc = names.get(entry.org_id, ("", ""))
        rows.append({
            "entry_id": entry.id, "org_id": entry.org_id, "org_name": snap.get("org_name") or org_name,
            "org_uscc": snap.get("org_uscc") or org_uscc,
            **{k: _snap(snap, entry, k) for k in ("code", "name", "sharing_type", "sharing_condition",
                                                  "sharing_basis", "sharing_mode", "sharing_scope", "sharing_period",
                                                  "update_cycle")},
            "consumers": [],
        })
    by_entry = {r["entry_id"]: r for r in rows}
    for provider in CONSUMER_PROVIDERS:
        for entry_id, consumers in provider(session, list(by_entry)).items():
            row = by_entry[entry_id]
            row["consumers"] = sorted({*row["consumers"], *consumers})
    return rows


def _collection_rows(session: Session, org_id: int | None) -> list[dict[str, Any]]:
    """Elements a department is the source of, with its items bound to them; plus its
    items that claim an element still under an open claim or conflict."""
    names = _org_names(session)
    el_stmt = select(DataElement).where(DataElement.source_org_id.is_not(None)).order_by(DataElement.code)
    if org_id is not None:
        el_stmt = el_stmt.where(DataElement.source_org_id == org_id)
    sourced = list(session.scalars(el_stmt))
    bound: dict[tuple[int, int], list[tuple[CatalogEntry, DataItem]]] = {}
    if sourced:
        stmt = (select(CatalogEntry, DataItem).join(DataItem, DataItem.entry_id == CatalogEntry.id)
                .where(DataItem.element_id.in_([e.id for e in sourced]), CatalogEntry.status != "withdrawn")
                .order_by(CatalogEntry.code, DataItem.seq))
        for entry, item in session.execute(stmt):
            bound.setdefault((item.element_id, entry.org_id), []).append((entry, item))
    rows = []
    for el in sourced:
        base = {"org_id": el.source_org_id, "org_name": names.get(el.source_org_id, ("", ""))[0],
                "element_code": el.code, "element_name": el.name, "source_basis": el.source_basis}
        pairs = bound.get((el.id, el.source_org_id), [])
        if not pairs:
            rows.append({**base, "entry_code": "", "entry_name": "", "item_name": "", "entry_status": "",
                         "standing": "数源部门（尚未编目）"})
        for entry, item in pairs:
            rows.append({**base, "entry_code": entry.code, "entry_name": entry.name, "item_name": item.name,
                         "entry_status": STATUS_ZH.get(entry.status, entry.status), "standing": "数源部门"})
    c_stmt = (select(SourceConflict, DataElement, CatalogEntry)
              .join(DataElement, DataElement.id == SourceConflict.element_id)
              .join(CatalogEntry, CatalogEntry.id == SourceConflict.claimant_entry_id)
              .where(SourceConflict.status == "open").order_by(DataElement.code, SourceConflict.id))
    if org_id is not None:
        c_stmt = c_stmt.where(SourceConflict.claimant_org_id == org_id)
    for c, el, entry in session.execute(c_stmt):
        item = session.get(DataItem, c.claimant_item_id) if c.claimant_item_id else None
        rows.append({"org_id": c.claimant_org_id, "org_name": names.get(c.claimant_org_id, ("", ""))[0],
                     "element_code": el.code, "element_name": el.name, "source_basis": el.source_basis,
                     "entry_code": entry.code, "entry_name": entry.name, "item_name": item.name if item else "",
                     "entry_status": STATUS_ZH.get(entry.status, entry.status),
                     "standing": "认领待确认" if c.incumbent_org_id is None else "一数一源冲突待裁决"})
    return rows


_BUILDERS = {"systems": _systems_rows, "data": _data_rows, "sharing": _sharing_rows, "collection": _collection_rows,
             "demand": demands.inventory_rows}


def inventory(session: Session, *, actor: Actor, kind: str, org_id: int | None) -> Inventory:
    """One inventory for one department (``org_id``) or the whole city (``org_id=None``)."""
    if kind not in KINDS:
        raise Invalid(f"清单类型无效：{kind}（可选：{'、'.join(v[0] for v in KINDS.values())}）",
                      f"Unknown inventory {kind} (one of {', '.join(KINDS)})", field="kind")
    require_view(actor, org_id)
    name = _org_name(session, org_id)
    return Inventory(kind, org_id, name, COLUMNS[kind], _BUILDERS[kind](session, org_id))


# Export -----------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "；".join(str(v) for v in value)
    return "" if value is None else value


def _csv(inv: Inventory) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([zh for _k, zh, _en in inv.columns])
    for row in inv.rows:
        w.writerow([_cell(row.get(k)) for k, _zh, _en in inv.columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def _xlsx(inv: Inventory) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = KINDS[inv.kind][0]
    ws.append([zh for _k, zh, _en in inv.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in inv.rows:
        ws.append([_cell(row.get(k)) for k, _zh, _en in inv.columns])
    for i, (_k, zh, _en) in enumerate(inv.columns, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(10, len(zh) * 2 + 4)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _json(inv: Inventory) -> bytes:
    doc = {"inventory": inv.kind, "title": inv.title, "org_id": inv.org_id, "org_name": inv.org_name,
           "generated_at": utcnow().isoformat(timespec="seconds"),
           "columns": [{"key": k, "zh": zh, "en": en} for k, zh, en in inv.columns],
           "rows": [{k: row.get(k) for k, _zh, _en in inv.columns} for row in inv.rows]}
    return json.dumps(doc, ensure_ascii=False, indent=1, default=str).encode("utf-8")


_MIME = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "json": "application/json"}


def export(session: Session, *, actor: Actor, kind: str, org_id: int | None, fmt: str) -> tuple[str, str, bytes]:
    """(file name, media type, content) of one inventory in ``fmt`` (csv / xlsx / json). Audited."""
    if fmt not in FORMATS:
        raise Invalid(f"导出格式无效：{fmt}（可选：csv、xlsx、json）", f"Unknown format {fmt} (csv, xlsx or json)",
                      field="format")
    inv = inventory(session, actor=actor, kind=kind, org_id=org_id)
    content = {"csv": _csv, "xlsx": _xlsx, "json": _json}[fmt](inv)
    audit_service.record(session, actor=actor, action="catalog.inventory.export", subject_type="inventory",
                         subject_id=f"{kind}:{org_id or 'city'}", detail={"format": fmt, "rows": len(inv.rows)})
    stamp = date.today().strftime("%Y%m%d")
    return f"{inv.title}-{stamp}.{fmt}", _MIME[fmt], content


def departments(session: Session, *, kinds: Iterable[str] = ("department", "town", "park")) -> list[Org]:
    """Organisations that keep inventories (for pickers)."""
    return list(session.scalars(select(Org).where(Org.kind.in_(list(kinds)), Org.active.is_(True))
                                .order_by(Org.kind, Org.name)))
