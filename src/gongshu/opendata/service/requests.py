"""Open data requests (开放需求, R-OPN-4; LZ 23): anyone asks, through the portal, for data that is not open yet,
saying what it is and what it would be used for; the authority routes the request to the department holding the
data, which answers within a deadline in working days::

    submitted ──route (authority)──▶ routed ──plan──▶ planned ──fulfil / refuse──▶ fulfilled / refused
        │                              │ └─fulfil (an open dataset) / refuse (reasons + legal basis)
        │                              └─return (not our data) ──▶ submitted
        ├─fulfil (authority: the data is open already)
        └─duplicate / out of scope (authority)           withdraw (submitter): before an answer

* No login is needed. The submitter gives a contact (sealed, staff only) and gets a tracking link whose token
  is stored as its SM3 hash only; anonymous submissions are rate-limited per client address (:mod:`.feedback`).
* A submission opens the authority's triage item (:data:`TRIAGE_WORKDAYS`); routing opens the department's answer
  item (:data:`ANSWER_WORKDAYS`); "planned" opens an item due on the planned date. The overdue sweep of the inbox
  (``tasks.sweep_overdue``) flags late items and puts them under the authority's supervision.
* "Fulfilled" must name an open dataset (:func:`.datasets.is_open`); "refused" needs the reasons and the legal
  basis (LZ 26: 对不予开放的应说明理由). Every change is audited in the same transaction; services never commit.
* The public sees every request that is not hidden (the authority hides abusive ones when closing them out of
  scope), newest first, with its status and answer, never the contact.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, authority_org_id, require
from gongshu.catalog.service import demands as catalog_demands
from gongshu.catalog.service import entries as catalog_entries
from gongshu.catalog.service.search import NOT_OPEN
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.kit.pagination import Page
from gongshu.opendata.models_feedback import REQUEST_STATUS, OpenRequest
from gongshu.opendata.service import datasets, feedback
from gongshu.opendata.service.datasets import PUBLISHED
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task

#: The authority's triage. No rule of the seeds sets a period; the authority is given DG 22's answer period
#: (东莞市公共数据管理办法第二十二条: 5 working days), as for the demand list.
TRIAGE_WORKDAYS = 5
TRIAGE_BASIS = "泸州办法第二十三条（开放申请）；分办期限参照东莞办法第二十二条（5个工作日）"
#: The department's answer. LZ 23/26 require the holder to accept the request promptly and give reasons for a
#: refusal but set no period; 10 working days follows the practice for open data applications (Shandong: 10
#: working days to reply) and is half of the period for information disclosure requests (《政府信息公开条例》
#: 第三十三条: 20 working days).
ANSWER_WORKDAYS = 10
ANSWER_BASIS = "泸州办法第二十三、二十六条（及时受理，不予开放的说明理由）；答复期限10个工作日"
PLAN_BASIS = "开放需求答复“计划开放”的承诺日期"
#: a planned opening is at most this far ahead
MAX_PLAN_DAYS = 366
SUBJECT = "open_request"
TASK_TRIAGE, TASK_ANSWER, TASK_PLAN = "opendata.request.triage", "opendata.request.answer", "opendata.request.plan"
TASK_KINDS = (TASK_TRIAGE, TASK_ANSWER, TASK_PLAN)
UNDECIDED = ("submitted", "routed", "planned")
CLOSED = ("fulfilled", "refused", "duplicate", "out_of_scope", "withdrawn")
MAX_TITLE, MAX_TEXT = 200, 4000
HOLDER_KINDS = ("department", "town", "park")


# Reading --------------------------------------------------------------------------------------------------

def _public() -> Select:
    return select(OpenRequest).where(OpenRequest.hidden.is_(False))


def public_list(session: Session, *, page: Page, status: str | None = None,
                org_id: int | None = None) -> tuple[list[OpenRequest], int]:
    """The public list: requests not hidden, newest first, with the total."""
    stmt = _public()
    if status:
        if status not in REQUEST_STATUS:
            raise Invalid(f"状态“{status}”无效", f"Unknown status '{status}'", field="status")
        stmt = stmt.where(OpenRequest.status == status)
    if org_id is not None:
        stmt = stmt.where(OpenRequest.dept_org_id == org_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(OpenRequest.id.desc()).offset(page.offset).limit(page.size))
    return list(rows), int(total)


def public_counts(session: Session) -> dict[str, int]:
    sub = _public().subquery()
    return dict(session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())


def public_get(session: Session, *, request_id: int) -> OpenRequest:
    r = session.get(OpenRequest, request_id) if feedback.is_id(request_id) else None
    if r is None or r.hidden:
        raise NotFound(f"没有编号为 {request_id} 的开放需求", f"No open data request {request_id}",
                       field="request_id")
    return r


def public_or_none(session: Session, *, request_id: int | None) -> OpenRequest | None:
    r = session.get(OpenRequest, request_id) if feedback.is_id(request_id) else None
    return None if r is None or r.hidden else r


def track(session: Session, *, token: str) -> OpenRequest:
    """The submitter's request by the token of their link (the same 404 for a wrong token and a malformed one)."""
    return feedback.by_token(session, OpenRequest, token)


def visible_to(actor: Actor) -> Select:
    """Requests staff may list: the authority and auditors all, a department those routed to it."""
    return feedback.staff_select(actor, OpenRequest, OpenRequest.dept_org_id)


VIEWS = {"all": ("全部", "All"), "waiting": ("待办理", "Waiting"), "overdue": ("已超期", "Overdue"),
         "closed": ("已办结", "Closed")}


def staff_list(session: Session, *, actor: Actor, view: str = "waiting", status: str | None = None,
               on: date | None = None, limit: int = 300) -> list[OpenRequest]:
    """Staff lists: ``waiting`` (undecided; for a department: routed or planned), ``overdue`` (undecided and past
    their deadline), ``closed`` or ``all``; a ``status`` narrows it. Waiting ones by deadline, others newest first."""
    if view not in VIEWS:
        raise Invalid(f"视图“{view}”无效", f"Unknown view '{view}'", field="view")
    stmt = visible_to(actor)
    if status:
        if status not in REQUEST_STATUS:
            raise Invalid(f"状态“{status}”无效", f"Unknown status '{status}'", field="status")
        stmt = stmt.where(OpenRequest.status == status)
    if view in ("waiting", "overdue"):
        stmt = stmt.where(OpenRequest.status.in_(UNDECIDED))
        if view == "overdue":
            stmt = stmt.where(OpenRequest.due_on < (on or tasks.today()))
        stmt = stmt.order_by(OpenRequest.due_on, OpenRequest.id)
    else:
        if view == "closed":
            stmt = stmt.where(OpenRequest.status.in_(CLOSED))
        stmt = stmt.order_by(OpenRequest.id.desc())
    return list(session.scalars(stmt.limit(limit)))


def get_for(session: Session, *, actor: Actor, request_id: int) -> OpenRequest:
    r = session.get(OpenRequest, request_id) if feedback.is_id(request_id) else None
    if r is None:
        raise NotFound(f"没有编号为 {request_id} 的开放需求", f"No open data request {request_id}",
                       field="request_id")
    feedback.require_view(actor, r.dept_org_id)
    return r


def contact_of(session: Session, *, actor: Actor, request: OpenRequest) -> feedback.Contact | None:
    """The submitter's contact, for staff who may see the request."""
    feedback.require_view(actor, request.dept_org_id)
    return feedback.unseal(request.contact_sealed)


def work_items(session: Session, *, request_id: int) -> list[Task]:
    """The inbox items a request raised, oldest first: its handling record (办理记录) with deadlines."""
    return tasks.for_subject(session, subject_type=SUBJECT, subject_id=request_id)


def holders(session: Session) -> list[Org]:
    """Organisations that may hold the data (the pickers of the form and of the triage)."""
    return catalog_demands.providers(session)


# Checks ---------------------------------------------------------------------------------------------------

def _holder(session: Session, org_id: int | None, field: str) -> int | None:
    if org_id is None:
        return None
    org = session.get(Org, org_id) if feedback.is_id(org_id) else None
    if org is None or not org.active or org.kind not in HOLDER_KINDS:
        raise Invalid(f"部门（编号 {org_id}）无效：应为在用的部门、镇街或园区",
                      f"Unknown department {org_id}: choose an active department, town or park", field=field)
    return org.id


def public_entry(session: Session, *, entry_id: int, field: str = "entry_id") -> Any:
    """A published catalogue entry the public can see (not 不予开放), as a request may name."""
    try:
        entry = catalog_entries.fetch(session, entry_id=entry_id) if feedback.is_id(entry_id) else None
    except NotFound:
        entry = None
    if entry is None or entry.status not in PUBLISHED or entry.open_type == NOT_OPEN:
        raise Invalid(f"目录（编号 {entry_id}）不是公开的已发布目录", f"Entry {entry_id} is not a published public "
                      "catalogue entry", field=field)
    return entry


def _open_dataset(session: Session, ref: Any) -> Any:
    text = feedback.text(ref, "dataset", "满足需求的开放数据集", "The open dataset that meets the request", limit=80,
                         multiline=False)
    try:
        return datasets.entry_of(session, ref=text)
    except NotFound:
        raise Invalid(f"“{text}”不是已开放的数据集：请填写开放数据集的目录代码或编号",
                      f"'{text}' is not an open dataset: give the catalogue code or id of an open dataset",
                      field="dataset") from None


def _locked(session: Session, request_id: int) -> OpenRequest:
    """The request for a transition, its row locked on PostgreSQL (SQLite transactions already serialise)."""
    r = session.get(OpenRequest, request_id, with_for_update=True, populate_existing=True) \
        if feedback.is_id(request_id) else None
    if r is None:
        raise NotFound(f"没有编号为 {request_id} 的开放需求", f"No open data request {request_id}",
                       field="request_id")
    return r


def _status(r: OpenRequest, allowed: tuple[str, ...], zh: str, en: str) -> None:
    if r.status not in allowed:
        now_zh, now_en = REQUEST_STATUS[r.status]
        raise Conflict(f"该需求当前为“{now_zh}”，不能{zh}", f"The request is '{now_en}': it cannot be {en}",
                       field="status")


def _state(r: OpenRequest) -> dict[str, Any]:
    return {"status": r.status, "dept_org_id": r.dept_org_id, "due_on": r.due_on.isoformat() if r.due_on else None,
            "dataset_entry_id": r.dataset_entry_id, "duplicate_of_id": r.duplicate_of_id,
            "planned_on": r.planned_on.isoformat() if r.planned_on else None, "hidden": r.hidden}


def _record(session: Session, actor: Any, action: str, r: OpenRequest, before: dict | None, **detail: Any) -> None:
    audit.record(session, actor=actor, action=action, subject_type=SUBJECT, subject_id=r.id, before=before,
                 after=_state(r), detail={"from": (before or {}).get("status"), "to": r.status, **detail})


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _close_items(session: Session, actor: Any, r: OpenRequest, kinds: tuple[str, ...], status: str = "done") -> None:
    for kind in kinds:
        tasks.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=r.id, status=status)


def _await_triage(session: Session, actor: Any, r: OpenRequest, start: date | None) -> None:
    authority = authority_org_id(session)
    if authority is None:
        raise Conflict("尚未设置数据主管部门，暂不能受理开放需求", "No data authority is configured to take requests")
    task = tasks.open_task(session, actor=actor, kind=TASK_TRIAGE, title=f"开放需求待分办：{_short(r.title)}",
                           subject_type=SUBJECT, subject_id=r.id, org_id=authority, workdays=TRIAGE_WORKDAYS,
                           role="authority_reviewer", basis=TRIAGE_BASIS, start=start)
    r.status, r.dept_org_id, r.due_on = "submitted", None, task.due_date


# Submitting -----------------------------------------------------------------------------------------------

def submit(session: Session, *, actor: Actor | None, client: str | None, title: str, description: str,
           purpose: str, contact_name: str, contact_email: str = "", contact_mobile: str = "",
           org_id: int | None = None, entry_id: int | None = None, account: Any | None = None,
           start: date | None = None) -> tuple[OpenRequest, str]:
    """Someone asks for data to be opened (``account``: the signed-in portal account, if any); returns the request
    and the tracking token (shown once)."""
    values = {
        "title": feedback.text(title, "title", "需求名称", "The title", limit=MAX_TITLE, multiline=False),
        "description": feedback.text(description, "description", "需求描述（需要哪些数据）",
                                     "The description (which data)", limit=MAX_TEXT),
        "purpose": feedback.text(purpose, "purpose", "利用目的（数据将用于什么）", "The purpose (what the data is for)",
                                 limit=MAX_TEXT),
    }
    who = feedback.contact(contact_name, contact_email, contact_mobile)
    entry = public_entry(session, entry_id=entry_id) if entry_id is not None else None
    holder = _holder(session, org_id, "org_id")
    if entry is not None and holder is None:
        holder = entry.org_id
    feedback.throttle(actor, client)
    token, digest = feedback.new_token()
    now = utcnow()
    r = OpenRequest(**values, org_id=holder, entry_id=entry.id if entry else None, contact_sealed=feedback.seal(who),
                    account_id=account.id if account is not None else None, token_sm3=digest, status="submitted", hidden=False, answer="",
                    legal_basis="", note="", created_at=now, updated_at=now)
    session.add(r)
    session.flush()
    who_acts = feedback.audit_actor(actor, account)
    _await_triage(session, who_acts, r, start)
    session.flush()
    _record(session, who_acts, "opendata.request.submit", r, None, org_id=holder, entry_id=r.entry_id,
            title=_short(r.title, 80))
    return r, token


def withdraw(session: Session, *, token: str, reason: str = "", account: Any | None = None) -> OpenRequest:
    """The submitter withdraws an undecided request through the tracking link; open items are cancelled."""
    r = track(session, token=token)
    r = _locked(session, r.id)
    _status(r, UNDECIDED, "撤回", "withdrawn")
    why = feedback.text(reason, "reason", "撤回理由", "The reason", limit=MAX_TEXT, required=False)
    before = _state(r)
    who = feedback.audit_actor(None, account)
    _close_items(session, who, r, TASK_KINDS, status="cancelled")
    r.status, r.due_on, r.closed_at = "withdrawn", None, utcnow()
    r.answer, r.updated_at = why, r.closed_at
    session.flush()
    _record(session, who, "opendata.request.withdraw", r, before)
    return r


# The authority's triage -----------------------------------------------------------------------------------

def route(session: Session, *, actor: Actor, request_id: int, dept_org_id: int, note: str = "",
          start: date | None = None) -> OpenRequest:
    """Route a request (new, or routed elsewhere before) to the department holding the data: its answer item is
    due in :data:`ANSWER_WORKDAYS` working days."""
    require(actor, "opendata.request.triage")
    r = _locked(session, request_id)
    _status(r, ("submitted", "routed"), "转办", "routed")
    dept = _holder(session, dept_org_id, "dept_org_id")
    if r.status == "routed" and r.dept_org_id == dept:
        raise Conflict("该需求已转办该部门", "The request is already routed to that department", field="dept_org_id")
    note = feedback.text(note, "note", "转办说明", "The note", limit=MAX_TEXT, required=False)
    before = _state(r)
    _close_items(session, actor, r, (TASK_TRIAGE,))
    _close_items(session, actor, r, (TASK_ANSWER,), status="cancelled")
    task = tasks.open_task(session, actor=actor, kind=TASK_ANSWER, title=f"开放需求待答复：{_short(r.title)}",
                           subject_type=SUBJECT, subject_id=r.id, org_id=dept, workdays=ANSWER_WORKDAYS,
                           role="dept_officer", basis=ANSWER_BASIS, start=start)
    r.status, r.dept_org_id, r.due_on, r.note = "routed", dept, task.due_date, note
    r.routed_by, r.routed_at = actor.user_id, utcnow()
    r.updated_at = r.routed_at
    session.flush()
    _record(session, actor, "opendata.request.route", r, before, note=_short(note, 200))
    return r


def close_duplicate(session: Session, *, actor: Actor, request_id: int, duplicate_of_id: int,
                    note: str = "") -> OpenRequest:
    """Close a request as a duplicate of another (followed to the one it duplicates, if that is one too)."""
    require(actor, "opendata.request.triage")
    r = _locked(session, request_id)
    _status(r, ("submitted", "routed"), "作为重复需求办结", "closed as a duplicate")
    other = session.get(OpenRequest, duplicate_of_id) if feedback.is_id(duplicate_of_id) else None
    seen = {r.id}
    while other is not None and other.status == "duplicate" and other.duplicate_of_id and other.id not in seen:
        seen.add(other.id)
        other = session.get(OpenRequest, other.duplicate_of_id)
    if other is None or other.id == r.id or other.hidden or other.status in ("withdrawn", "out_of_scope",
                                                                               "duplicate"):
        raise Invalid(f"编号 {duplicate_of_id} 不是可对照的另一项开放需求（须为公开、未撤回、未被驳回的其他需求）",
                      f"{duplicate_of_id} is not another request this one can duplicate (it must be public, not "
                      "withdrawn and not out of scope)", field="duplicate_of_id")
    note = feedback.text(note, "note", "说明", "The note", limit=MAX_TEXT, required=False)
    before = _state(r)
    _close_items(session, actor, r, (TASK_TRIAGE,))
    _close_items(session, actor, r, (TASK_ANSWER,), status="cancelled")
    r.status, r.duplicate_of_id, r.due_on, r.closed_at = "duplicate", other.id, None, utcnow()
    r.answer = note or f"与第 {other.id} 号开放需求重复，请关注该需求的办理情况。"
    r.answered_by, r.answered_at, r.updated_at = actor.user_id, r.closed_at, r.closed_at
    session.flush()
    _record(session, actor, "opendata.request.duplicate", r, before, duplicate_of_id=other.id)
    return r


def close_out_of_scope(session: Session, *, actor: Actor, request_id: int, reason: str,
                       hide: bool = False) -> OpenRequest:
    """Close a request that is not a request for public data (reasons shown publicly); ``hide`` keeps it off the
    public pages (personal data, abuse)."""
    require(actor, "opendata.request.triage")
    r = _locked(session, request_id)
    _status(r, ("submitted", "routed"), "作为不予受理办结", "closed as out of scope")
    why = feedback.reason(reason, "reason", "不予受理的理由", "the reason")
    before = _state(r)
    _close_items(session, actor, r, (TASK_TRIAGE,))
    _close_items(session, actor, r, (TASK_ANSWER,), status="cancelled")
    r.status, r.answer, r.hidden, r.due_on, r.closed_at = "out_of_scope", why, bool(hide), None, utcnow()
    r.answered_by, r.answered_at, r.updated_at = actor.user_id, r.closed_at, r.closed_at
    session.flush()
    _record(session, actor, "opendata.request.out_of_scope", r, before, hidden=bool(hide))
    return r


# The department's answer ----------------------------------------------------------------------------------

def _require_answer(actor: Actor, r: OpenRequest) -> None:
    require(actor, "opendata.request.answer", org_id=r.dept_org_id)


def fulfil(session: Session, *, actor: Actor, request_id: int, dataset: Any, note: str = "") -> OpenRequest:
    """The data is open: name the open dataset that meets the request (the department it was routed to, or the
    authority at triage when the data is open already)."""
    r = _locked(session, request_id)
    if r.status == "submitted":
        require(actor, "opendata.request.triage")
    else:
        _status(r, ("routed", "planned"), "答复为已开放", "answered as opened")
        _require_answer(actor, r)
    entry = _open_dataset(session, dataset)
    note = feedback.text(note, "note", "答复说明", "The note", limit=MAX_TEXT, required=False)
    before = _state(r)
    _close_items(session, actor, r, TASK_KINDS)
    r.status, r.dataset_entry_id, r.answer, r.due_on = "fulfilled", entry.id, note, None
    r.answered_by, r.answered_at = actor.user_id, utcnow()
    r.closed_at = r.updated_at = r.answered_at
    session.flush()
    _record(session, actor, "opendata.request.fulfil", r, before, dataset=entry.code)
    return r


def refuse(session: Session, *, actor: Actor, request_id: int, reason: str, legal_basis: str) -> OpenRequest:
    """Not opened: the reasons and the legal basis (law, regulation or rule) are required and shown publicly."""
    r = _locked(session, request_id)
    _status(r, ("routed", "planned"), "答复为不予开放", "refused")
    _require_answer(actor, r)
    why = feedback.reason(reason, "reason", "不予开放的理由", "the reasons")
    basis = feedback.reason(legal_basis, "legal_basis", "不予开放的法律依据（法律、法规、规章条款）",
                            "the legal basis (the article of a law, regulation or rule)")
    before = _state(r)
    _close_items(session, actor, r, TASK_KINDS)
    r.status, r.answer, r.legal_basis, r.due_on = "refused", why, basis, None
    r.answered_by, r.answered_at = actor.user_id, utcnow()
    r.closed_at = r.updated_at = r.answered_at
    session.flush()
    _record(session, actor, "opendata.request.refuse", r, before, legal_basis=_short(basis, 200))
    return r


def plan(session: Session, *, actor: Actor, request_id: int, planned_on: date | None, note: str = "",
         start: date | None = None) -> OpenRequest:
    """Will be opened by ``planned_on``: an item in the department's inbox due then (at the latest)."""
    r = _locked(session, request_id)
    _status(r, ("routed",), "答复为计划开放", "answered as planned")
    _require_answer(actor, r)
    today = start or tasks.today()
    if planned_on is None:
        raise Invalid("请填写计划开放日期", "Give the planned opening date", field="planned_on")
    if not today < planned_on <= today + timedelta(days=MAX_PLAN_DAYS):
        raise Invalid(f"计划开放日期应在今天之后、{MAX_PLAN_DAYS} 天以内", f"The planned date must be after today and "
                      f"within {MAX_PLAN_DAYS} days", field="planned_on")
    note = feedback.text(note, "note", "答复说明", "The note", limit=MAX_TEXT, required=False)
    days = max(1, tasks.calendar(session).workdays_between(today, planned_on))
    before = _state(r)
    _close_items(session, actor, r, (TASK_ANSWER,))
    task = tasks.open_task(session, actor=actor, kind=TASK_PLAN, title=f"按开放需求计划开放：{_short(r.title)}",
                           subject_type=SUBJECT, subject_id=r.id, org_id=r.dept_org_id, workdays=days,
                           role="dept_officer", basis=PLAN_BASIS, start=today)
    r.status, r.planned_on, r.answer, r.due_on = "planned", planned_on, note, task.due_date
    r.answered_by, r.answered_at = actor.user_id, utcnow()
    r.updated_at = r.answered_at
    session.flush()
    _record(session, actor, "opendata.request.plan", r, before)
    return r


def return_to_triage(session: Session, *, actor: Actor, request_id: int, reason: str,
                     start: date | None = None) -> OpenRequest:
    """The department does not hold the data: back to the authority (with the reason) to route again."""
    r = _locked(session, request_id)
    _status(r, ("routed",), "退回分办", "returned")
    _require_answer(actor, r)
    why = feedback.reason(reason, "reason", "退回理由（如：非本部门数据，应由某部门提供）", "the reason")
    before = _state(r)
    _close_items(session, actor, r, (TASK_ANSWER,))
    _await_triage(session, actor, r, start)
    r.note, r.updated_at = f"{actor.org_name}退回：{why}", utcnow()
    session.flush()
    _record(session, actor, "opendata.request.return", r, before, reason=_short(why, 200))
    return r


def labels_for(session: Session, *, requests: list[OpenRequest]) -> dict[int, dict[str, str]]:
    """The entries requests name (related or fulfilling)."""
    return feedback.entry_labels(session, entry_ids=[i for r in requests for i in (r.entry_id, r.dataset_entry_id)])


def org_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Org.id, Org.name)).all())
