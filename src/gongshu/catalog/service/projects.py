"""E-government projects and their compliance check (R-CAT-8).

A department registers a project (at approval) with its declared data list: each line
names a catalogue entry by code and/or resource name, and optionally one data item.
The check report says, per declared line, whether it is catalogued (a live entry
matches by code, else by name, and the item exists in it) and published (the latest
published version contains it). The report's columns come from :data:`CHECKS`, so later
issues add columns (attached 挂接, shared 共享) by appending a :class:`Check`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.models import STATUS_ZH, CatalogEntry, DataItem, EntryVersion, Project, ProjectItem
from gongshu.errors import Invalid, NotFound

declare("catalog.project.manage", "登记政务信息化项目及其数据清单", "Register e-government projects and their data lists",
        {"dept_officer", "dept_staff"}, scope="own_org")
declare("catalog.project.view_all", "查看全市政务信息化项目合规检查", "See every project's compliance report",
        AUTHORITY_ROLES | {"auditor"}, writes=False)

MAX_ITEMS = 2000


@dataclass(frozen=True)
class DeclaredItem:
    """One line of a project's declared data list."""

    entry_code: str = ""
    resource_name: str = ""
    item_name: str = ""


@dataclass
class Match:
    """What a declared line found in the catalogue; the input of every check."""

    declared: ProjectItem
    entry: CatalogEntry | None
    matched_by: str  # code / name / ""
    item: DataItem | None
    published_items: set[str] | None  # item names in the latest published version, None if never published
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    key: str
    zh: str
    en: str
    fn: Callable[[Session, Match], bool | None]  # None: not applicable / not yet known


def _catalogued(session: Session, m: Match) -> bool:
    return m.entry is not None and (not m.declared.item_name or m.item is not None)


def _published(session: Session, m: Match) -> bool:
    if m.entry is None or m.published_items is None:
        return False
    return not m.declared.item_name or m.declared.item_name in m.published_items


#: the report's columns, in order; later issues append attached / shared checks
CHECKS: list[Check] = [
    Check("catalogued", "已编目", "Catalogued", _catalogued),
    Check("published", "已发布", "Published", _published),
]


@dataclass
class ReportRow:
    declared: ProjectItem
    entry: CatalogEntry | None
    matched_by: str
    results: dict[str, bool | None]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(v is not False for v in self.results.values())


@dataclass
class Report:
    project: Project
    org_name: str
    checks: list[Check]
    rows: list[ReportRow]

    @property
    def summary(self) -> dict[str, int]:
        out = {"declared": len(self.rows), "compliant": sum(r.ok for r in self.rows)}
        for c in self.checks:
            out[c.key] = sum(1 for r in self.rows if r.results.get(c.key))
        return out


# Input ------------------------------------------------------------------------------

def parse_declared(text: str) -> list[DeclaredItem]:
    """Parse a pasted data list: one line per item, ``代码,资源名称,信息项`` separated by
    comma, Chinese comma or tab (the code or the name may be blank; the item may be blank
    for a whole resource). Raises Invalid with row-level details."""
    lines = [ln for ln in (text or "").replace("，", ",").splitlines() if ln.strip()]
    out, problems = [], []
    for n, line in enumerate(lines, start=1):
        cells = [c.strip() for c in line.split("\t" if "\t" in line else ",")]
        while len(cells) > 3 and not cells[-1]:
            cells.pop()
        if len(cells) > 3:
            problems.append({"row": n, "field": "items", "message": f"第 {n} 行多于 3 列（代码,资源名称,信息项）",
                             "message_en": f"Line {n} has more than 3 columns (code, resource name, item)"})
            continue
        cells += ["", "", ""]
        out.append(DeclaredItem(cells[0], cells[1], cells[2]))
    if problems:
        raise Invalid(problems[0]["message"], problems[0]["message_en"], field="items", details=problems)
    return out


def _checked(name: str, approval_no: str, items: list[DeclaredItem]) -> tuple[str, str, list[DeclaredItem]]:
    name, approval_no = (name or "").strip(), (approval_no or "").strip()
    if not name:
        raise Invalid("请填写项目名称", "Give the project's name", field="name")
    if len(name) > 200:
        raise Invalid("项目名称不超过 200 字", "Project names are at most 200 characters", field="name")
    if len(approval_no) > 100:
        raise Invalid("批复文号不超过 100 字", "Approval numbers are at most 100 characters", field="approval_no")
    if not items:
        raise Invalid("请至少申报一项数据", "Declare at least one data item", field="items")
    if len(items) > MAX_ITEMS:
        raise Invalid(f"一个项目最多申报 {MAX_ITEMS} 项数据", f"At most {MAX_ITEMS} declared items", field="items")
    problems, clean = [], []
    for i, it in enumerate(items):
        code, res, item = (it.entry_code or "").strip(), (it.resource_name or "").strip(), (it.item_name or "").strip()
        where = f"items[{i}]"
        if not code and not res:
            problems.append({"row": i + 1, "field": f"{where}.resource_name",
                             "message": f"第 {i + 1} 项：请填写信息资源代码或名称",
                             "message_en": f"Item {i + 1}: give the entry code or the resource name"})
        for key, value, limit in (("entry_code", code, 60), ("resource_name", res, 200), ("item_name", item, 100)):
            if len(value) > limit:
                problems.append({"row": i + 1, "field": f"{where}.{key}",
                                 "message": f"第 {i + 1} 项：{key} 超过 {limit} 字",
                                 "message_en": f"Item {i + 1}: {key} is longer than {limit}"})
        clean.append(DeclaredItem(code, res, item))
    if problems:
        raise Invalid(problems[0]["message"], problems[0]["message_en"], field=problems[0]["field"],
                      details=problems)
    return name, approval_no, clean


def _state(p: Project, items: list[DeclaredItem]) -> dict[str, Any]:
    return {"org_id": p.org_id, "name": p.name, "approval_no": p.approval_no,
            "items": [[i.entry_code, i.resource_name, i.item_name] for i in items]}


def _write_items(session: Session, project_id: int, items: list[DeclaredItem]) -> None:
    session.execute(insert(ProjectItem), [
        {"project_id": project_id, "entry_code": i.entry_code, "resource_name": i.resource_name,
         "item_name": i.item_name} for i in items])


# Services ---------------------------------------------------------------------------

def register_project(session: Session, *, actor: Actor, name: str, approval_no: str = "",
                     items: list[DeclaredItem]) -> Project:
    """A department registers a project with its declared data list (R-CAT-8)."""
    require(actor, "catalog.project.manage", org_id=actor.org_id)
    if actor.org_id is None:
        raise Invalid("系统账户不属于任何部门", "The system account belongs to no department")
    name, approval_no, clean = _checked(name, approval_no, items)
    p = Project(org_id=actor.org_id, name=name, approval_no=approval_no)
    session.add(p)
    session.flush()
    _write_items(session, p.id, clean)
    audit_service.record(session, actor=actor, action="catalog.project.create", subject_type="egov_project",
                         subject_id=p.id, after=_state(p, clean))
    return p


def update_project(session: Session, *, actor: Actor, project_id: int, name: str, approval_no: str = "",
                   items: list[DeclaredItem]) -> Project:
    """Replace a project's name, approval number and declared data list."""
    p = get_project(session, actor=actor, project_id=project_id)
    require(actor, "catalog.project.manage", p)
    name, approval_no, clean = _checked(name, approval_no, items)
    before = _state(p, [DeclaredItem(i.entry_code, i.resource_name, i.item_name) for i in declared(session, p.id)])
    p.name, p.approval_no = name, approval_no
    session.execute(delete(ProjectItem).where(ProjectItem.project_id == p.id))
    _write_items(session, p.id, clean)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.project.update", subject_type="egov_project",
                         subject_id=p.id, before=before, after=_state(p, clean))
    return p


def get_project(session: Session, *, actor: Actor, project_id: int) -> Project:
    p = session.get(Project, project_id)
    if p is None:
        raise NotFound("项目不存在", "Project not found")
    if not can(actor, "catalog.project.view_all"):
        require(actor, "catalog.project.manage", p)
    return p


def list_projects(session: Session, *, actor: Actor, org_id: int | None = None) -> list[Project]:
    """The actor's department's projects; the authority and auditors may list any (org_id None = all)."""
    stmt = select(Project).order_by(Project.id.desc())
    if can(actor, "catalog.project.view_all"):
        if org_id is not None:
            stmt = stmt.where(Project.org_id == org_id)
    else:
        require(actor, "catalog.project.manage", org_id=org_id if org_id is not None else actor.org_id)
        stmt = stmt.where(Project.org_id == actor.org_id)
    return list(session.scalars(stmt))


def declared(session: Session, project_id: int) -> list[ProjectItem]:
    return list(session.scalars(select(ProjectItem).where(ProjectItem.project_id == project_id)
                                .order_by(ProjectItem.id)))


def _find_entry(session: Session, org_id: int, d: ProjectItem, cache: dict) -> tuple[CatalogEntry | None, str, list]:
    notes: list[str] = []
    if d.entry_code:
        e = cache.setdefault(("code", d.entry_code), session.scalar(
            select(CatalogEntry).where(CatalogEntry.code == d.entry_code, CatalogEntry.status != "withdrawn")))
        if e is not None:
            if d.resource_name and d.resource_name != e.name:
                notes.append(f"代码对应的资源名称为“{e.name}”")
            return e, "code", notes
        notes.append("未找到该信息资源代码")
    if d.resource_name:
        key = ("name", d.resource_name)
        if key not in cache:
            candidates = list(session.scalars(select(CatalogEntry).where(
                CatalogEntry.name == d.resource_name, CatalogEntry.status != "withdrawn")))
            # prefer the project's own department, then a published one
            candidates.sort(key=lambda c: (c.org_id != org_id, c.version == 0, c.id))
            cache[key] = candidates[0] if candidates else None
        e = cache[key]
        if e is not None:
            return e, "name", notes
        notes.append("未找到同名信息资源")
    return None, "", notes


def check(session: Session, *, actor: Actor, project_id: int) -> Report:
    """The compliance report: one row per declared line, one column per :data:`CHECKS` entry."""
    p = get_project(session, actor=actor, project_id=project_id)
    cache: dict = {}
    published_cache: dict[int, set[str] | None] = {}
    rows = []
    for d in declared(session, p.id):
        entry, how, notes = _find_entry(session, p.org_id, d, cache)
        item = None
        pub: set[str] | None = None
        if entry is not None:
            if d.item_name:
                item = session.scalar(select(DataItem).where(DataItem.entry_id == entry.id,
                                                             DataItem.name == d.item_name))
                if item is None:
                    notes.append(f"资源中没有信息项“{d.item_name}”")
            if entry.id not in published_cache:
                snap = session.scalar(select(EntryVersion.snapshot).where(
                    EntryVersion.entry_id == entry.id, EntryVersion.version == entry.version)) \
                    if entry.version > 0 else None
                published_cache[entry.id] = None if snap is None else {
                    i.get("name") for i in (snap.get("items") or []) if isinstance(i, dict)}
            pub = published_cache[entry.id]
            if pub is None:
                notes.append(f"尚未发布（{STATUS_ZH.get(entry.status, entry.status)}）")
        m = Match(d, entry, how, item, pub, notes)
        results = {c.key: c.fn(session, m) for c in CHECKS}
        rows.append(ReportRow(d, entry, how, results, m.notes))
    org = session.get(Org, p.org_id)
    return Report(p, org.name if org else "", list(CHECKS), rows)
