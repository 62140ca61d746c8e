"""The demand list (需求清单, R-CAT-9, R-DEM-1): departments register the data they need, the need is
matched to the catalogue, routed to a provider department and tracked to fulfilment (ZJ 3, 5)::

    registered ──route (authority)──▶ routed ──answer (provider)──▶ matched ──confirm──▶ fulfilled
        │  (or a provider given / an entry proposed by the requester)     ├──▶ planned ──answer──▶ matched / unavailable
        │                                                                  └──▶ unavailable
    reopen (requester): matched / planned → routed (the provider answers again); unavailable → registered
    (the authority decides again, DG 22); withdraw (requester): any state before fulfilled.

* A demand names the requesting department, what is needed and why (用途, 依据), the wanted data
  items, the system or project it serves, the desired sharing mode and when it is needed. The
  provider department may be left open: the authority routes it (an inbox item for its reviewers).
* Routing opens an answer item in the provider's inbox, due in ``ANSWER_WORKDAYS`` working days;
  the answer closes it. "Matched" must name a PUBLISHED entry of the provider; "planned" sets a
  cataloguing due date ``PLAN_WORKDAYS`` working days ahead (an inbox item until it is matched);
  "unavailable" needs the reason and its basis. A match puts a confirm item in the requester's inbox.
* Suggestions (:func:`suggestions`) come from the catalogue search over the title, the wanted
  items and the title's words, so the requester or provider can pick a published entry.
* Who: department officers and staff register and follow their department's demands
  (``catalog.demand.manage``); the authority routes (``catalog.demand.route``); the provider's data
  officer answers (``catalog.demand.answer``); departments see their own demands and those asked
  of them (``catalog.demand.view``), the authority and auditors all (``catalog.demand.view_all``).
  Every change is audited in the same transaction; services never commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, authority_org_id, can, require
from gongshu.catalog.models import (
    DEMAND_STATUS_ZH,
    SHARING_MODES,
    CatalogEntry,
    DataDemand,
    InfoSystem,
    Project,
)
from gongshu.catalog.service import search
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.kit import textsearch
from gongshu.kit.pagination import Page
from gongshu.tasks import service as tasks_service
from gongshu.tasks.models import Task

declare("catalog.demand.view", "查看本部门提出和向本部门提出的数据需求", "See the department's data demands and those asked of it",
        {"dept_officer", "dept_staff"}, scope="own_org", writes=False)
declare("catalog.demand.view_all", "查看全市数据需求", "See every department's data demands",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("catalog.demand.manage", "登记和跟踪本部门数据需求", "Register and follow the department's data demands",
        {"dept_officer", "dept_staff"}, scope="own_org")
declare("catalog.demand.route", "转派数据需求至提供部门", "Route data demands to a provider department", AUTHORITY_ROLES)
declare("catalog.demand.answer", "答复向本部门提出的数据需求", "Answer data demands asked of the department",
        {"dept_officer"}, scope="own_org")

#: 东莞市公共数据管理办法第二十二条: the source department answers a (conditional) sharing request within
#: 5 working days; the same period is given to a provider for answering a demand routed to it.
ANSWER_WORKDAYS = 5
#: No rule sets the authority's routing period; it is given the provider's answer period.
ROUTE_WORKDAYS = 5
#: 东莞市公共数据管理办法第十二条 gives a department 15 working days to update its catalogue; a provider
#: that plans to catalogue the demanded data is held to the same period.
PLAN_WORKDAYS = 15
#: No rule; the requester is asked to confirm (or reopen) a match within the provider's answer period.
CONFIRM_WORKDAYS = 5
ANSWER_BASIS = "东莞市公共数据管理办法第二十二条（5个工作日内答复）"
ROUTE_BASIS = "东莞市公共数据管理办法第二十二条（数据主管部门统筹协调数据需求）"
PLAN_BASIS = "东莞市公共数据管理办法第十二条（15个工作日内更新目录）"
CONFIRM_BASIS = "湛江市数据要素市场化配置改革实施意见（需求清单对接）"

SUBJECT = "catalog_demand"
TASK_ROUTE, TASK_ANSWER, TASK_PLAN, TASK_CONFIRM = (
    "catalog.demand.route", "catalog.demand.answer", "catalog.demand.plan", "catalog.demand.confirm")
TASK_KINDS = (TASK_ROUTE, TASK_ANSWER, TASK_PLAN, TASK_CONFIRM)
OUTCOMES = {"matched": ("已匹配已发布目录", "Matched to a published entry"),
            "planned": ("计划编目", "Will catalogue it"),
            "unavailable": ("无法提供", "Cannot supply")}
OPEN_STATES = ("registered", "routed", "matched", "planned", "unavailable")
PROVIDER_KINDS = ("department", "town", "park")
MAX_ITEMS = 200
MAX_TEXT = 4000
MAX_SUGGESTION_QUERIES = 12
#: words too common in catalogue names to suggest anything on their own
GENERIC_WORDS = frozenset("信息 数据 资源 基本 基础 查询 核验 共享 需求 情况 相关 名单 清单 目录 管理 业务 办理 全市 本市"
                          .split())


# Reading -------------------------------------------------------------------------------------

def may_view_all(actor: Actor) -> bool:
    return can(actor, "catalog.demand.view_all")


def visible_to(actor: Actor) -> Select:
    """Demands an actor may list: their department's and those asked of it; the authority and auditors all."""
    stmt = select(DataDemand)
    if may_view_all(actor):
        return stmt
    if actor.org_id is not None and can(actor, "catalog.demand.view", org_id=actor.org_id):
        return stmt.where(or_(DataDemand.org_id == actor.org_id, DataDemand.provider_org_id == actor.org_id))
    return stmt.where(false())


def fetch(session: Session, *, demand_id: int) -> DataDemand:
    d = session.get(DataDemand, demand_id)
    if d is None:
        raise NotFound(f"数据需求不存在（编号 {demand_id}）", f"Data demand {demand_id} not found")
    return d


def _locked(session: Session, demand_id: int) -> DataDemand:
    """The demand for a transition, its row locked on PostgreSQL (SQLite transactions already serialise)."""
    d = session.get(DataDemand, demand_id, with_for_update=True, populate_existing=True)
    if d is None:
        raise NotFound(f"数据需求不存在（编号 {demand_id}）", f"Data demand {demand_id} not found")
    return d


def get_demand(session: Session, *, actor: Actor, demand_id: int) -> DataDemand:
    d = fetch(session, demand_id=demand_id)
    if may_view_all(actor):
        return d
    if actor.org_id is None or actor.org_id not in (d.org_id, d.provider_org_id):
        raise Forbidden("只能查看本部门提出或向本部门提出的数据需求",
                        "Only demands of your department or asked of it can be seen")
    require(actor, "catalog.demand.view", org_id=actor.org_id)
    return d


SCOPES = {"all": ("全部", "All"), "mine": ("本部门提出", "Ours"), "incoming": ("向本部门提出", "Asked of us")}


def _scoped(actor: Actor, stmt: Select, *, status: str | None, scope: str, org_id: int | None) -> Select:
    if status:
        if status not in DEMAND_STATUS_ZH:
            raise Invalid(f"状态“{status}”无效，可选：{'、'.join(DEMAND_STATUS_ZH)}",
                          f"Unknown status '{status}' (one of {', '.join(DEMAND_STATUS_ZH)})", field="status")
        stmt = stmt.where(DataDemand.status == status)
    if scope not in SCOPES:
        raise Invalid(f"范围“{scope}”无效，可选：{'、'.join(SCOPES)}", f"Unknown scope '{scope}' ({', '.join(SCOPES)})",
                      field="scope")
    org = org_id if org_id is not None else (None if may_view_all(actor) else actor.org_id)
    if org is not None and scope == "mine":
        stmt = stmt.where(DataDemand.org_id == org)
    elif org is not None and scope == "incoming":
        stmt = stmt.where(DataDemand.provider_org_id == org)
    elif org is not None:
        stmt = stmt.where(or_(DataDemand.org_id == org, DataDemand.provider_org_id == org))
    return stmt


def list_demands(session: Session, *, actor: Actor, status: str | None = None, scope: str = "all",
                 org_id: int | None = None, limit: int = 500) -> list[DataDemand]:
    """Visible demands, newest first; ``scope`` mine / incoming / all relative to ``org_id`` (default: own)."""
    stmt = _scoped(actor, visible_to(actor), status=status, scope=scope, org_id=org_id)
    return list(session.scalars(stmt.order_by(DataDemand.id.desc()).limit(limit)))


def status_counts(session: Session, *, actor: Actor, scope: str = "all", org_id: int | None = None) -> dict[str, int]:
    sub = _scoped(actor, visible_to(actor), status=None, scope=scope, org_id=org_id).subquery()
    return dict(session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())


def providers(session: Session) -> list[Org]:
    """Organisations a demand can be asked of (for pickers)."""
    return list(session.scalars(select(Org).where(Org.kind.in_(PROVIDER_KINDS), Org.active.is_(True))
                                .order_by(Org.kind, Org.name)))


def published_entries(session: Session, *, org_id: int) -> list[CatalogEntry]:
    """A department's entries that have a published version (what a match may name)."""
    return list(session.scalars(select(CatalogEntry).where(CatalogEntry.org_id == org_id, CatalogEntry.version > 0,
                                                           CatalogEntry.status != "withdrawn")
                                .order_by(CatalogEntry.code)))


def work_items(session: Session, *, demand_id: int) -> list[Task]:
    """The inbox items a demand has raised (open and closed), oldest first: its tracking history."""
    return tasks_service.for_subject(session, subject_type=SUBJECT, subject_id=demand_id)


def due_date(d: DataDemand) -> date | None:
    """What the demand waits for, by when: the provider's answer (routed) or the cataloguing (planned)."""
    return d.answer_due if d.status == "routed" else d.plan_due if d.status == "planned" else None


# Validation ----------------------------------------------------------------------------------

def split_items(text: str) -> list[str]:
    """Wanted data items from free text: one per line, or separated by 、，,；;"""
    return [p for p in (s.strip() for s in re.split(r"[\n\r、，,；;]+", text or "")) if p]


def _text(value: str | None, field_name: str, zh: str, en: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise Invalid(f"请填写{zh}", f"Give the {en}", field=field_name)
    if len(value) > limit:
        raise Invalid(f"{zh}不超过 {limit} 字", f"The {en} is at most {limit} characters", field=field_name)
    return value


def _items(items: Iterable[str] | None) -> list[str]:
    out: dict[str, None] = {}
    for n, raw in enumerate(items or [], start=1):
        name = str(raw or "").strip()
        if not name:
            continue
        if len(name) > 100:
            raise Invalid(f"第 {n} 个数据项名称超过 100 字", f"Data item {n} is longer than 100 characters", field="items")
        out[name] = None
    if len(out) > MAX_ITEMS:
        raise Invalid(f"所需数据项最多 {MAX_ITEMS} 个", f"At most {MAX_ITEMS} data items", field="items")
    return list(out)


def _provider(session: Session, provider_org_id: int, requester_org_id: int) -> Org:
    org = session.get(Org, provider_org_id)
    if org is None or not org.active or org.kind not in PROVIDER_KINDS:
        raise Invalid(f"提供部门无效（编号 {provider_org_id}）：应为在用的部门、镇街或园区",
                      f"Unknown provider {provider_org_id}: choose an active department, town or park",
                      field="provider_org_id")
    if org.id == requester_org_id:
        raise Invalid("提供部门不能是需求部门本身", "The provider cannot be the requesting department itself",
                      field="provider_org_id")
    return org


def _own(session: Session, model: type, obj_id: int | None, org_id: int, field_name: str, zh: str, en: str) -> None:
    if obj_id is None:
        return
    obj = session.get(model, obj_id)
    if obj is None or obj.org_id != org_id:
        raise Invalid(f"{zh}（编号 {obj_id}）不是本部门登记的{zh}", f"{en} {obj_id} is not one of your department's",
                      field=field_name)


def _published_of(session: Session, entry_id: int, org_id: int | None, field_name: str = "entry_id") -> CatalogEntry:
    entry = session.get(CatalogEntry, entry_id)
    if entry is None or entry.version == 0 or entry.status == "withdrawn":
        raise Invalid(f"目录（编号 {entry_id}）不是已发布的目录", f"Entry {entry_id} is not a published catalogue entry",
                      field=field_name)
    if org_id is not None and entry.org_id != org_id:
        raise Invalid(f"目录 {entry.code} 不属于提供部门", f"Entry {entry.code} does not belong to the provider",
                      field=field_name)
    return entry


# Transitions ---------------------------------------------------------------------------------

def _state(d: DataDemand) -> dict[str, Any]:
    return {"status": d.status, "org_id": d.org_id, "provider_org_id": d.provider_org_id, "entry_id": d.entry_id,
            "answer_due": d.answer_due.isoformat() if d.answer_due else None,
            "plan_due": d.plan_due.isoformat() if d.plan_due else None}


def _record(session: Session, actor: Actor, action: str, d: DataDemand, before: dict | None, **detail: Any) -> None:
    """The event keeps digests of the states and, readable, the transition and its particulars."""
    after = _state(d)
    audit_service.record(session, actor=actor, action=action, subject_type=SUBJECT, subject_id=d.id, before=before,
                         after=after, detail={"from": (before or {}).get("status"), "to": d.status,
                                              "provider_org_id": d.provider_org_id, "entry_id": d.entry_id,
                                              "due": after["plan_due"] or after["answer_due"], **detail})


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _org_short(session: Session, org_id: int | None) -> str:
    org = session.get(Org, org_id) if org_id else None
    return org.short_name or org.name if org else ""


def _authority_id(session: Session) -> int:
    org_id = authority_org_id(session)
    if org_id is None:
        raise Conflict("尚未设置数据主管部门，无法转派数据需求", "No data authority is configured to route demands")
    return org_id


def _close(session: Session, actor: Actor, d: DataDemand, kinds: Iterable[str], status: str = "done") -> None:
    for kind in kinds:
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=d.id, status=status)


def _status(d: DataDemand, allowed: Iterable[str], zh_what: str, en_what: str) -> None:
    if d.status not in allowed:
        raise Conflict(f"需求当前状态为“{DEMAND_STATUS_ZH.get(d.status, d.status)}”，不能{zh_what}",
                       f"The demand is {d.status}; it cannot be {en_what}")


def _await_route(session: Session, actor: Actor, d: DataDemand, start: date | None) -> None:
    d.status, d.answer_due = "registered", None
    tasks_service.open_task(session, actor=actor, kind=TASK_ROUTE, title=f"数据需求待转派：{_short(d.title)}"
                            f"（{_org_short(session, d.org_id)}）", subject_type=SUBJECT, subject_id=d.id,
                            org_id=_authority_id(session), workdays=ROUTE_WORKDAYS, role="authority_reviewer",
                            basis=ROUTE_BASIS, start=start)


def _send(session: Session, actor: Actor, d: DataDemand, provider_id: int, start: date | None) -> None:
    """Route to ``provider_id``: the provider's answer item, due in ANSWER_WORKDAYS working days."""
    d.provider_org_id, d.status, d.plan_due = provider_id, "routed", None
    d.routed_by, d.routed_at = actor.user_id, utcnow()
    task = tasks_service.open_task(session, actor=actor, kind=TASK_ANSWER,
                                   title=f"数据需求待答复：{_short(d.title)}（{_org_short(session, d.org_id)}）",
                                   subject_type=SUBJECT, subject_id=d.id, org_id=provider_id,
                                   workdays=ANSWER_WORKDAYS, role="dept_officer", basis=ANSWER_BASIS, start=start)
    d.answer_due = task.due_date


def register(session: Session, *, actor: Actor, title: str, purpose: str, basis: str, description: str = "",
             items: Iterable[str] | None = None, provider_org_id: int | None = None, sharing_mode: str = "接口",
             needed_by: date | None = None, system_id: int | None = None, project_id: int | None = None,
             start: date | None = None) -> DataDemand:
    """A department registers a need. With a provider it is routed at once; without, the authority routes it."""
    if actor.org_id is None:
        raise Invalid("系统账户不属于任何部门", "The system account belongs to no department")
    require(actor, "catalog.demand.manage", org_id=actor.org_id)
    values = {
        "title": _text(title, "title", "需求名称", "title", required=True, limit=200),
        "purpose": _text(purpose, "purpose", "用途（应用场景）", "purpose", required=True),
        "basis": _text(basis, "basis", "需求依据", "legal or policy basis", required=True),
        "description": _text(description, "description", "需求描述", "description", required=False),
        "items": _items(items),
    }
    if sharing_mode not in SHARING_MODES:
        raise Invalid(f"共享方式无效：{sharing_mode}（可选：{'、'.join(SHARING_MODES)}）",
                      f"Unknown sharing mode {sharing_mode} (one of {', '.join(SHARING_MODES)})", field="sharing_mode")
    if needed_by is not None and needed_by < tasks_service.today():
        raise Invalid("期望完成日期不能早于今天", "The needed-by date cannot be in the past", field="needed_by")
    _own(session, InfoSystem, system_id, actor.org_id, "system_id", "信息系统", "Information system")
    _own(session, Project, project_id, actor.org_id, "project_id", "政务信息化项目", "Project")
    if provider_org_id is not None:
        _provider(session, provider_org_id, actor.org_id)
    now = utcnow()
    d = DataDemand(org_id=actor.org_id, sharing_mode=sharing_mode, needed_by=needed_by, system_id=system_id,
                   project_id=project_id, status="registered", created_by=actor.user_id, created_at=now,
                   updated_at=now, answer="", note="", **values)
    session.add(d)
    session.flush()
    if provider_org_id is None:
        _await_route(session, actor, d, start)
    else:
        _send(session, actor, d, provider_org_id, start)
    session.flush()
    _record(session, actor, "catalog.demand.register", d, None, **values, sharing_mode=sharing_mode,
            needed_by=needed_by.isoformat() if needed_by else None, system_id=system_id, project_id=project_id)
    return d


def route(session: Session, *, actor: Actor, demand_id: int, provider_org_id: int, note: str = "",
          start: date | None = None) -> DataDemand:
    """The authority routes a demand (registered, not yet answered, or refused) to a provider department."""
    d = _locked(session, demand_id)
    require(actor, "catalog.demand.route")
    _status(d, ("registered", "routed", "unavailable"), "转派", "routed")
    _provider(session, provider_org_id, d.org_id)
    if d.status == "routed" and d.provider_org_id == provider_org_id:
        raise Conflict("需求已转派给该部门", "The demand is already routed to that department", field="provider_org_id")
    before = _state(d)
    _close(session, actor, d, (TASK_ROUTE,))
    _close(session, actor, d, (TASK_ANSWER,), status="cancelled")
    if d.entry_id is not None and session.get(CatalogEntry, d.entry_id).org_id != provider_org_id:
        d.entry_id = None  # a proposal of another department's entry does not follow the demand
    d.answer = ""  # a former provider's answer is in the audit trail
    _send(session, actor, d, provider_org_id, start)
    d.updated_at = utcnow()
    session.flush()
    _record(session, actor, "catalog.demand.route", d, before, note=(note or "").strip())
    return d


def propose(session: Session, *, actor: Actor, demand_id: int, entry_id: int, start: date | None = None) -> DataDemand:
    """The requester picks a published entry (e.g. a suggestion) before the answer; an unrouted demand
    goes to the entry's department, which confirms the match by answering."""
    d = _locked(session, demand_id)
    require(actor, "catalog.demand.manage", org_id=d.org_id)
    _status(d, ("registered", "routed"), "选用目录", "given a proposed entry")
    entry = _published_of(session, entry_id, d.provider_org_id if d.status == "routed" else None)
    if entry.org_id == d.org_id:
        raise Invalid("所选目录是本部门自己的目录，无需提出需求", "That entry is your own department's",
                      field="entry_id")
    before = _state(d)
    d.entry_id = entry.id
    if d.status == "registered":
        _close(session, actor, d, (TASK_ROUTE,))
        _send(session, actor, d, entry.org_id, start)
    d.updated_at = utcnow()
    session.flush()
    _record(session, actor, "catalog.demand.propose", d, before, entry_code=entry.code)
    return d


def answer(session: Session, *, actor: Actor, demand_id: int, outcome: str, entry_id: int | None = None,
           reason: str = "", start: date | None = None) -> DataDemand:
    """The provider answers: matched (a published entry of its own), planned (catalogued within
    PLAN_WORKDAYS working days) or unavailable (reason and basis required)."""
    d = _locked(session, demand_id)
    if d.provider_org_id is None:
        raise Conflict("需求尚未转派给提供部门", "The demand has not been routed to a provider yet")
    require(actor, "catalog.demand.answer", org_id=d.provider_org_id)
    if outcome not in OUTCOMES:
        raise Invalid(f"答复结果无效：{outcome}（可选：matched 已匹配、planned 计划编目、unavailable 无法提供）",
                      f"Unknown outcome {outcome} (matched, planned or unavailable)", field="outcome")
    _status(d, ("routed", "planned"), "答复", "answered")
    if d.status == "planned" and outcome == "planned":
        raise Conflict("需求已在计划编目中；编目发布后请答复为“已匹配”", "Already planned; answer 'matched' once published",
                       field="outcome")
    reason = _text(reason, "reason", "答复说明", "answer", required=outcome == "unavailable")
    if outcome == "unavailable" and len(reason) < 4:
        raise Invalid("请说明无法提供的理由及其依据（如法律法规条款）", "Give the reason and its basis (e.g. the law)",
                      field="reason")
    entry = None
    if outcome == "matched":
        if entry_id is None:
            raise Invalid("请选择匹配的已发布目录", "Choose the matching published entry", field="entry_id")
        entry = _published_of(session, entry_id, d.provider_org_id)
    before = _state(d)
    _close(session, actor, d, (TASK_ANSWER,))
    d.answer, d.answered_by, d.answered_at, d.status = reason, actor.user_id, utcnow(), outcome
    if outcome == "matched":
        _close(session, actor, d, (TASK_PLAN,))
        d.entry_id = entry.id
        tasks_service.open_task(session, actor=actor, kind=TASK_CONFIRM,
                                title=f"数据需求已匹配，请确认是否满足：{_short(d.title)}（{entry.code}）",
                                subject_type=SUBJECT, subject_id=d.id, org_id=d.org_id, workdays=CONFIRM_WORKDAYS,
                                basis=CONFIRM_BASIS, start=start)
    elif outcome == "planned":
        task = tasks_service.open_task(session, actor=actor, kind=TASK_PLAN,
                                       title=f"按数据需求编目：{_short(d.title)}（{_org_short(session, d.org_id)}）",
                                       subject_type=SUBJECT, subject_id=d.id, org_id=d.provider_org_id,
                                       workdays=PLAN_WORKDAYS, role="dept_officer", basis=PLAN_BASIS, start=start)
        d.plan_due, d.entry_id = task.due_date, None
    else:
        _close(session, actor, d, (TASK_PLAN,), status="cancelled")
        d.entry_id = None
    d.updated_at = utcnow()
    session.flush()
    _record(session, actor, "catalog.demand.answer", d, before, outcome=outcome, reason=reason,
            entry_code=entry.code if entry else None)
    return d


def confirm(session: Session, *, actor: Actor, demand_id: int, note: str = "") -> DataDemand:
    """The requester confirms the matched entry meets the need (已满足)."""
    d = _locked(session, demand_id)
    require(actor, "catalog.demand.manage", org_id=d.org_id)
    _status(d, ("matched",), "确认满足", "confirmed")
    before = _state(d)
    d.status, d.note, d.closed_at = "fulfilled", _text(note, "note", "说明", "note", required=False), utcnow()
    d.updated_at = d.closed_at
    _close(session, actor, d, (TASK_CONFIRM,))
    session.flush()
    _record(session, actor, "catalog.demand.confirm", d, before, note=d.note)
    return d


def reopen(session: Session, *, actor: Actor, demand_id: int, reason: str, start: date | None = None) -> DataDemand:
    """The requester does not accept the answer: a match or plan goes back to the provider; a refusal goes to
    the authority, which may route it again (DG 22)."""
    d = _locked(session, demand_id)
    require(actor, "catalog.demand.manage", org_id=d.org_id)
    reason = _text(reason, "reason", "重新提出的理由", "reason for reopening", required=True)
    _status(d, ("matched", "planned", "unavailable"), "重新提出", "reopened")
    before = _state(d)
    _close(session, actor, d, (TASK_CONFIRM, TASK_PLAN), status="cancelled")
    d.note, d.entry_id, d.plan_due = reason, None, None
    if before["status"] == "unavailable":
        _await_route(session, actor, d, start)
    else:
        _send(session, actor, d, d.provider_org_id, start)
    d.updated_at = utcnow()
    session.flush()
    _record(session, actor, "catalog.demand.reopen", d, before, reason=reason)
    return d


def withdraw(session: Session, *, actor: Actor, demand_id: int, reason: str = "") -> DataDemand:
    """The requester withdraws a demand that is not yet fulfilled; open inbox items are cancelled."""
    d = _locked(session, demand_id)
    require(actor, "catalog.demand.manage", org_id=d.org_id)
    _status(d, OPEN_STATES, "撤回", "withdrawn")
    before = _state(d)
    d.status, d.note, d.closed_at = "withdrawn", _text(reason, "reason", "撤回理由", "reason", required=False), utcnow()
    d.updated_at = d.closed_at
    _close(session, actor, d, TASK_KINDS, status="cancelled")
    session.flush()
    _record(session, actor, "catalog.demand.withdraw", d, before, reason=d.note)
    return d


# Suggestions ---------------------------------------------------------------------------------

@dataclass
class Suggestion:
    entry_id: int
    code: str
    name: str
    org_id: int
    org_name: str
    score: int = 0
    #: the texts (title, item names, title words) that found it
    matched: list[str] = field(default_factory=list)
    of_provider: bool = False


def _queries(d: DataDemand) -> list[tuple[str, int]]:
    """(query, weight): the title, each wanted item, then the title's distinctive words."""
    out: dict[str, int] = {d.title: 3}
    for item in d.items or []:
        out.setdefault(item, 2)
    for word in textsearch.cut(d.title):
        word = word.strip()
        if len(word) >= 2 and word not in GENERIC_WORDS and word not in textsearch.STOP_WORDS:
            out.setdefault(word, 1)
    return list(out.items())[:MAX_SUGGESTION_QUERIES]


def suggestions(session: Session, *, actor: Actor, demand: DataDemand, limit: int = 8) -> list[Suggestion]:
    """Published entries that may meet the demand, found by the catalogue search (R-CAT-10): each query's
    hits score its weight; the provider's own entries first among equals; the requester's own left out."""
    found: dict[int, Suggestion] = {}
    for q, weight in _queries(demand):
        for hit in search.search(session, actor=actor, q=q[:textsearch.MAX_QUERY], page=Page(1, 10)).hits:
            s = found.get(hit.entry_id)
            if s is None:
                s = found[hit.entry_id] = Suggestion(hit.entry_id, hit.code, hit.name, 0, hit.org_name)
            s.score += weight
            s.matched.append(q)
    if not found:
        return []
    owners = dict(session.execute(select(CatalogEntry.id, CatalogEntry.org_id)
                                  .where(CatalogEntry.id.in_(list(found)))).all())
    out = []
    for s in found.values():
        s.org_id = owners.get(s.entry_id, 0)
        s.of_provider = s.org_id == demand.provider_org_id
        if s.org_id != demand.org_id:
            out.append(s)
    out.sort(key=lambda s: (-s.score, not s.of_provider, s.name, s.entry_id))
    return out[:limit]


# The demand list (inventory) ------------------------------------------------------------------

def inventory_rows(session: Session, org_id: int | None) -> list[dict[str, Any]]:
    """需求清单 rows: a department's own demands and those asked of it (``org_id``), or the city's; not withdrawn.
    The caller (``inventories.inventory``) checks who may see them."""
    stmt = select(DataDemand).where(DataDemand.status != "withdrawn").order_by(DataDemand.org_id, DataDemand.id)
    if org_id is not None:
        stmt = stmt.where(or_(DataDemand.org_id == org_id, DataDemand.provider_org_id == org_id))
    demands = list(session.scalars(stmt))
    if not demands:
        return []
    names = dict(session.execute(select(Org.id, Org.name)).all())
    entry_ids = {d.entry_id for d in demands if d.entry_id}
    entries = {i: (c, n) for i, c, n in session.execute(
        select(CatalogEntry.id, CatalogEntry.code, CatalogEntry.name).where(CatalogEntry.id.in_(sorted(entry_ids))))}
    systems = dict(session.execute(select(InfoSystem.id, InfoSystem.name).where(
        InfoSystem.id.in_(sorted({d.system_id for d in demands if d.system_id})))).all())
    projects = dict(session.execute(select(Project.id, Project.name).where(
        Project.id.in_(sorted({d.project_id for d in demands if d.project_id})))).all())
    rows = []
    for d in demands:
        code, ename = entries.get(d.entry_id, ("", "")) if d.entry_id else ("", "")
        serves = "；".join(x for x in (systems.get(d.system_id, ""), projects.get(d.project_id, "")) if x)
        rows.append({
            "demand_id": d.id, "org_id": d.org_id, "org_name": names.get(d.org_id, ""), "title": d.title,
            "description": d.description, "purpose": d.purpose, "basis": d.basis, "items": list(d.items or []),
            "serves": serves, "provider_name": names.get(d.provider_org_id, "") if d.provider_org_id else "待转派",
            "sharing_mode": d.sharing_mode, "needed_by": d.needed_by.isoformat() if d.needed_by else "",
            "status": DEMAND_STATUS_ZH.get(d.status, d.status), "matched_code": code, "matched_name": ename,
            "answer": d.answer, "due": due_date(d).isoformat() if due_date(d) else "",
            "registered_at": d.created_at.strftime("%Y-%m-%d") if d.created_at else "",
        })
    return rows
