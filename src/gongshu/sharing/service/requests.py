"""Share requests (共享申请): one application, approval and feedback mechanism for all sharing (R-SHR-1,
R-SHR-2, R-SHR-3, R-SHR-7).

- :func:`submit`: a consumer asks for items of a published entry for a scenario. 无条件共享 is granted at
  once (still recorded and audited); 有条件共享 puts an item in the source department's inbox due in 5 working
  days (DG 23, LZ 17); 不予共享 can only be verified (核验, R-SHR-4) — other modes are refused with a pointer.
- :func:`approve` (the source may narrow items, masking, rows, mode and term) creates the grant; delivery is
  due within 5 working days of the reply. :func:`refuse` must cite a legal basis.
- :func:`escalate_overdue` (periodic): an unanswered request past its due date, or a grant not delivered in
  time, goes to the authority's inbox; the authority may then decide in the source's place (:func:`approve` /
  :func:`refuse` by an authority actor).
- :func:`from_demand`: a matched demand (需求清单) becomes a share request in one step (R-DEM-1).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import SYSTEM, Actor, authority_org_id, can, require
from gongshu.catalog.service import demands as catalog_demands
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.jobs.service import periodic
from gongshu.sharing.models import MODES, PURPOSES, REQUEST_STATUS, Application, Grant, ShareRequest
from gongshu.sharing.service import (
    catalog_links,  # noqa: F401 - consumers on the sharing list, the project report's shared column
    grants,
)
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task

declare("sharing.request.create", "提出共享申请", "Request shared data", {"dept_officer", "dept_staff"}, scope="own_org")
declare("sharing.request.view", "查看本部门提出或收到的共享申请", "See the share requests one's department made or received",
        {"dept_officer", "dept_staff"}, scope="own_org", writes=False)
declare("sharing.request.decide", "答复共享申请（数源部门）", "Decide on a share request (source department)",
        {"dept_officer"}, scope="own_org")
declare("sharing.request.coordinate", "协调并决定逾期或有争议的共享申请", "Coordinate and decide overdue or disputed requests",
        AUTHORITY_ROLES)

REPLY_WORKDAYS = 5
REPLY_BASIS = "东莞市公共数据管理办法第二十三条、泸州市公共数据管理办法第十七条（5 个工作日内答复）"
COORDINATE_WORKDAYS = 5
MAX_TERM_DAYS = 5 * 366
MAX_TEXT = 2000
#: which purposes each kind of requesting organisation may state (R-SHR-7)
ALLOWED_PURPOSES = {"enterprise": ("benefit_policy", "emergency"), "university": ("research",)}
GOV_PURPOSES = ("public_service", "emergency")
#: the demand list's sharing modes (catalogue vocabulary) -> delivery modes
DEMAND_MODES = {"接口": "api", "库表": "exchange", "文件": "exchange"}


def visible_to(actor: Actor) -> Select:
    stmt = select(ShareRequest)
    if can(actor, "sharing.view_all"):
        return stmt
    require(actor, "sharing.request.view", org_id=actor.org_id)
    return stmt.where(or_(ShareRequest.consumer_org_id == actor.org_id, ShareRequest.source_org_id == actor.org_id))


def get_request(session: Session, *, actor: Actor, request_id: int) -> ShareRequest:
    req = session.scalar(visible_to(actor).where(ShareRequest.id == request_id))
    if req is None:
        raise NotFound(f"共享申请 {request_id} 不存在或无权查看", f"Share request {request_id} does not exist or is not "
                       "yours to see")
    return req


def list_requests(session: Session, *, actor: Actor, role: str = "all", status: str | None = None,
                  limit: int = 200) -> list[ShareRequest]:
    stmt = visible_to(actor)
    if role == "consumer":
        stmt = stmt.where(ShareRequest.consumer_org_id == actor.org_id)
    elif role == "source":
        stmt = stmt.where(ShareRequest.source_org_id == actor.org_id)
    if status:
        if status not in REQUEST_STATUS:
            raise Invalid(f"状态“{status}”无效（可选：{'、'.join(REQUEST_STATUS)}）", f"Unknown status '{status}'",
                          field="status")
        stmt = stmt.where(ShareRequest.status == status)
    return list(session.scalars(stmt.order_by(ShareRequest.id.desc()).limit(limit)))


def grant_of(session: Session, *, request_id: int) -> Grant | None:
    return session.scalar(select(Grant).where(Grant.request_id == request_id))


# Validation ------------------------------------------------------------------------------------------

def _text(value: str | None, field: str, zh: str, en: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    v = (value or "").strip()
    if required and not v:
        raise Invalid(f"请填写{zh}", f"{en} is required", field=field)
    if len(v) > limit:
        raise Invalid(f"{zh}不能超过 {limit} 个字", f"{en} may have at most {limit} characters", field=field)
    return v


def _published(session: Session, entry_id: int):
    """The entry and its latest published snapshot (with ``version``); NotFound unless it is published."""
    try:
        entry = catalog_entries.fetch(session, entry_id=entry_id)
    except NotFound:
        entry = None
    if entry is None or entry.status not in ("published", "revising"):
        raise NotFound(f"目录 {entry_id} 不存在或未发布，不能申请共享", f"Entry {entry_id} does not exist or is not published",
                       field="entry_id")
    version = catalog_entries.latest_version(session, entry_id=entry_id)
    return entry, {**version.snapshot, "version": version.version}


def _items(snapshot: dict, items: list[str] | None) -> list[str]:
    names = [(n or "").strip() for n in (items or []) if (n or "").strip()]
    if not names:
        raise Invalid("请至少选择一个信息项", "Choose at least one data item", field="items")
    known = {it["name"] for it in snapshot["items"]}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise Invalid(f"目录中没有这些信息项：{'、'.join(unknown)}", f"The entry has no items: {', '.join(unknown)}",
                      field="items")
    if len(set(names)) != len(names):
        raise Invalid("信息项重复", "An item is listed twice", field="items")
    return names


def _scope(snapshot: dict, scope: dict[str, Any] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    known = {it["name"] for it in snapshot["items"]}
    for label, values in (scope or {}).items():
        if label not in known:
            raise Invalid(f"行范围中的信息项“{label}”不在目录中", f"Row scope item '{label}' is not in the entry",
                          field="row_scope")
        vals = [str(v).strip() for v in (values if isinstance(values, list | tuple) else [values]) if str(v).strip()]
        if not vals:
            raise Invalid(f"行范围“{label}”至少要有一个值", f"Row scope '{label}' needs at least one value",
                          field="row_scope")
        out[label] = sorted(set(vals))
    return out


def _effective_type(snapshot: dict, names: list[str]) -> str:
    """The strictest sharing type of the entry and the requested items."""
    order = {"无条件共享": 0, "有条件共享": 1, "不予共享": 2}
    types = [snapshot["sharing_type"]] + [it.get("sharing_type") or snapshot["sharing_type"]
                                           for it in snapshot["items"] if it["name"] in names]
    return max(types, key=lambda t: order.get(t, 1))


def _purpose(org: Org, purpose_kind: str) -> str:
    if purpose_kind not in PURPOSES:
        raise Invalid(f"用途类别“{purpose_kind}”无效", f"Unknown purpose '{purpose_kind}'", field="purpose_kind")
    allowed = ALLOWED_PURPOSES.get(org.kind, GOV_PURPOSES)
    if purpose_kind not in allowed:
        names = "、".join(PURPOSES[p][0] for p in allowed)
        raise Forbidden(f"{org.name}只能为以下用途申请共享数据：{names}（东莞市公共数据管理办法第二十五条）",
                        f"{org.name} may request shared data only for: {', '.join(PURPOSES[p][1] for p in allowed)} "
                        "(Dongguan measures art. 25)", field="purpose_kind")
    return purpose_kind


def _term(term_days: int | None) -> int:
    try:
        days = int(term_days if term_days is not None else 365)
    except (TypeError, ValueError):
        raise Invalid("使用期限应为天数", "The term must be a number of days", field="term_days") from None
    if not 1 <= days <= MAX_TERM_DAYS:
        raise Invalid(f"使用期限应在 1 到 {MAX_TERM_DAYS} 天之间", f"The term must be 1 to {MAX_TERM_DAYS} days",
                      field="term_days")
    return days


def _state(r: ShareRequest) -> dict:
    return {"status": r.status, "items": r.items, "mode": r.mode, "row_scope": r.row_scope, "term_days": r.term_days}


def _authority_id(session: Session) -> int:
    org_id = authority_org_id(session)
    if org_id is None:
        raise Conflict("尚未设置数据主管部门", "No data authority is configured")
    return org_id


# Transitions -------------------------------------------------------------------------------------------

def submit(session: Session, *, actor: Actor, entry_id: int, items: list[str], mode: str, matter: str,
           legal_basis: str, system_name: str = "", purpose_kind: str = "public_service",
           row_scope: dict[str, Any] | None = None, term_days: int | None = 365, application_id: int | None = None,
           demand_id: int | None = None, emergency_id: int | None = None) -> ShareRequest:
    """File a request; granted at once for unconditional data, else routed to the source with a deadline."""
    require(actor, "sharing.request.create", org_id=actor.org_id)
    org = session.get(Org, actor.org_id)
    entry, snapshot = _published(session, entry_id)
    if entry.org_id == actor.org_id:
        raise Conflict("这是本部门的目录，无需申请共享", "This is your own department's entry: no request is needed",
                       field="entry_id")
    if mode not in MODES:
        raise Invalid(f"共享方式“{mode}”无效（可选：{'、'.join(v[0] for v in MODES.values())}）",
                      f"Unknown mode '{mode}' (one of {', '.join(MODES)})", field="mode")
    names = _items(snapshot, items)
    kind = _effective_type(snapshot, names)
    if kind == "不予共享" and mode != "verify":
        raise Conflict(f"“{entry.name}”为不予共享数据，不能获取数据本身；可以申请核验比对服务（只返回是否一致，不返回数据）",
                       f"'{entry.name}' is not shared: the data itself cannot be obtained; request verification "
                       "instead (it answers match / no match without disclosing the data)", field="mode",
                       details=[{"reason": "not_shared", "use_mode": "verify"}])
    if mode == "verify" and not any(it.get("is_key") for it in snapshot["items"]):
        raise Invalid("核验比对需要目录有主键信息项（如公民身份号码）", "Verification needs an entry with key items",
                      field="mode")
    if application_id is not None:
        app = session.get(Application, application_id)
        if app is None or app.org_id != actor.org_id or not app.active:
            raise Invalid("应用系统不存在或不属于本部门", "The application does not exist or is not your department's",
                          field="application_id")
    req = ShareRequest(
        code=f"tmp-{utcnow().timestamp()}", consumer_org_id=actor.org_id, source_org_id=entry.org_id,
        entry_id=entry.id, entry_version=snapshot["version"],
        sharing_type=kind, items=names, row_scope=_scope(snapshot, row_scope), mode=mode,
        purpose_kind=_purpose(org, purpose_kind),
        matter=_text(matter, "matter", "业务场景（事项）", "The business scenario (matter)", limit=200),
        legal_basis=_text(legal_basis, "legal_basis", "申请依据", "The legal basis"),
        system_name=_text(system_name, "system_name", "使用系统", "The consumer system", required=False, limit=200),
        application_id=application_id, term_days=_term(term_days), demand_id=demand_id,
        status="pending", created_by=actor.user_id)
    session.add(req)
    session.flush()
    req.code = f"GX-{tasks.today().year}-{req.id:06d}"
    audit.record(session, actor=actor, action="sharing.request.submit", subject_type="share_request",
                 subject_id=req.id, after=_state(req), detail={"entry_id": entry.id, "sharing_type": kind, "mode": mode})
    if kind == "无条件共享":
        _grant(session, actor=SYSTEM, req=req, snapshot=snapshot, items=grants.default_items(snapshot, names),
               row_scope=req.row_scope, mode=mode, term_days=req.term_days, note="无条件共享，自动授权")
        return req
    task = tasks.open_task(session, actor=actor, kind="sharing.reply",
                           title=f"答复共享申请 {req.code}：{org.name}申请“{entry.name}”",
                           subject_type="share_request", subject_id=req.id, org_id=entry.org_id,
                           workdays=REPLY_WORKDAYS, role="dept_officer", basis=REPLY_BASIS)
    req.reply_due = task.due_date
    return req


def emergency_grant(session: Session, *, actor: Actor, emergency, consumer_org_id: int, entry_id: int,
                    items: list[str], term_days: int) -> Grant:
    """A grant under a declared emergency (R-SHR-8), recorded as a request with the emergency's purpose and
    granted at once by the authority (items masked per grade as always)."""
    entry, snapshot = _published(session, entry_id)
    names = _items(snapshot, items)
    req = ShareRequest(
        code=f"tmp-{utcnow().timestamp()}", consumer_org_id=consumer_org_id, source_org_id=entry.org_id,
        entry_id=entry.id, entry_version=snapshot["version"], sharing_type=_effective_type(snapshot, names),
        items=names, row_scope={}, mode="api", purpose_kind="emergency", matter=f"应急：{emergency.title}"[:200],
        legal_basis=f"泸州市公共数据管理办法第二十条（应急状态下的数据共享）；{emergency.scope}"[:MAX_TEXT],
        term_days=_term(term_days), emergency_id=emergency.id, status="pending", created_by=actor.user_id)
    session.add(req)
    session.flush()
    req.code = f"GX-{tasks.today().year}-{req.id:06d}"
    audit.record(session, actor=actor, action="sharing.request.submit", subject_type="share_request",
                 subject_id=req.id, after=_state(req), detail={"entry_id": entry.id, "emergency_id": emergency.id})
    return _grant(session, actor=actor, req=req, snapshot=snapshot, items=grants.default_items(snapshot, names),
                  row_scope={}, mode="api", term_days=req.term_days, note="应急授权")


def _decider(session: Session, actor: Actor, req: ShareRequest) -> None:
    """The source department decides; the authority may decide in its place (coordination)."""
    if actor.is_authority and can(actor, "sharing.request.coordinate"):
        return
    require(actor, "sharing.request.decide", org_id=req.source_org_id)
    if actor.org_id != req.source_org_id:
        raise Forbidden("只有数源部门可以答复该申请", "Only the source department may decide on this request")


def _open(req: ShareRequest) -> None:
    if req.status not in ("pending", "escalated"):
        raise Conflict(f"申请当前状态为“{REQUEST_STATUS[req.status][0]}”，不能再答复",
                       f"The request is {REQUEST_STATUS[req.status][1].lower()}: it can no longer be decided")


def _close_reply(session: Session, actor: Actor, req: ShareRequest, status: str = "done") -> None:
    for kind in ("sharing.reply", "sharing.coordinate"):
        tasks.close_tasks(session, actor=actor, kind=kind, subject_type="share_request", subject_id=req.id,
                          status=status)


def approve(session: Session, *, actor: Actor, request_id: int, items: list[dict] | None = None,
            row_scope: dict[str, Any] | None = None, mode: str | None = None, term_days: int | None = None,
            note: str = "") -> Grant:
    """Approve, possibly narrowing: ``items`` [{"name", "masked"}] a subset of those asked for, ``row_scope`` no
    wider than asked, ``term_days`` no longer; ``mode`` may change (not away from verification of data not
    shared). The grant is delivered at once when the entry has data, else due in 5 working days."""
    req = session.get(ShareRequest, request_id)
    if req is None:
        raise NotFound(f"共享申请 {request_id} 不存在", f"Share request {request_id} does not exist")
    _decider(session, actor, req)
    _open(req)
    _, snapshot = _published(session, req.entry_id)
    chosen = items if items is not None else grants.default_items(snapshot, req.items)
    names = [i.get("name") for i in chosen]
    extra = [n for n in names if n not in req.items]
    if not names or extra:
        raise Invalid(f"只能在申请的信息项范围内同意（多出：{'、'.join(str(n) for n in extra) or '无'}）",
                      "Approve a non-empty subset of the requested items", field="items")
    chosen = [{"name": n, "masked": bool(i.get("masked"))} for n, i in zip(names, chosen, strict=True)]
    grants.check_clear(snapshot, chosen)
    scope = _scope(snapshot, row_scope) if row_scope is not None else dict(req.row_scope or {})
    for label, asked in (req.row_scope or {}).items():
        if label not in scope or not set(scope[label]) <= set(asked):
            raise Invalid(f"行范围“{label}”不能比申请的更宽", f"Row scope '{label}' may not be wider than requested",
                          field="row_scope")
    new_mode = mode or req.mode
    if new_mode not in MODES or (req.sharing_type == "不予共享" and new_mode != "verify"):
        raise Invalid("共享方式无效（不予共享的数据只能核验）", "Invalid mode (data not shared can only be verified)",
                      field="mode")
    term = _term(term_days) if term_days is not None else req.term_days
    if term > req.term_days:
        raise Invalid(f"使用期限不能长于申请的 {req.term_days} 天", f"The term may not exceed the {req.term_days} days asked",
                      field="term_days")
    grant = _grant(session, actor=actor, req=req, snapshot=snapshot, items=chosen, row_scope=scope, mode=new_mode,
                   term_days=term, note=_text(note, "note", "答复意见", "The note", required=False))
    _close_reply(session, actor, req)
    return grant


def _grant(session: Session, *, actor: Actor, req: ShareRequest, snapshot: dict, items: list[dict],
           row_scope: dict, mode: str, term_days: int, note: str) -> Grant:
    before = _state(req)
    req.status, req.decided_by, req.decided_at = "approved", actor.user_id, utcnow()
    req.decided_by_org_id, req.decision_note = actor.org_id, note
    grant = Grant(request_id=req.id, consumer_org_id=req.consumer_org_id, source_org_id=req.source_org_id,
                  entry_id=req.entry_id, application_id=req.application_id, mode=mode, purpose_kind=req.purpose_kind,
                  matter=req.matter, items=items, row_scope=row_scope, term_days=term_days,
                  agreement=grants.AGREEMENT, emergency_id=req.emergency_id, status="awaiting_delivery")
    session.add(grant)
    session.flush()
    audit.record(session, actor=actor, action="sharing.request.approve", subject_type="share_request",
                 subject_id=req.id, before=before, after=_state(req),
                 detail={"grant_id": grant.id, "items": [i["name"] for i in items],
                         "masked": [i["name"] for i in items if i["masked"]], "mode": mode, "term_days": term_days,
                         "by_authority": actor.is_authority})
    if not grants.deliver(session, actor=actor, grant=grant):
        task = tasks.open_task(session, actor=actor, kind="sharing.deliver",
                               title=f"完成共享交付：授权 {grant.id}（申请 {req.code}）——目录尚未挂接数据",
                               subject_type="share_grant", subject_id=grant.id, org_id=req.source_org_id,
                               workdays=grants.DELIVERY_WORKDAYS, role="dept_officer", basis=grants.DELIVERY_BASIS)
        grant.delivery_due = task.due_date
    return grant


def refuse(session: Session, *, actor: Actor, request_id: int, basis: str, note: str = "") -> ShareRequest:
    """Refuse; the legal basis is required and shown to the consumer (R-SHR-2)."""
    req = session.get(ShareRequest, request_id)
    if req is None:
        raise NotFound(f"共享申请 {request_id} 不存在", f"Share request {request_id} does not exist")
    _decider(session, actor, req)
    _open(req)
    before = _state(req)
    req.refusal_basis = _text(basis, "basis", "拒绝的法律依据（法律、法规或规章的条款）",
                              "The legal basis of a refusal (article of a law or regulation)")
    req.decision_note = _text(note, "note", "答复意见", "The note", required=False)
    req.status, req.decided_by, req.decided_by_org_id, req.decided_at = "refused", actor.user_id, actor.org_id, utcnow()
    _close_reply(session, actor, req)
    audit.record(session, actor=actor, action="sharing.request.refuse", subject_type="share_request",
                 subject_id=req.id, before=before, after=_state(req),
                 detail={"basis": req.refusal_basis[:200], "by_authority": actor.is_authority})
    return req


def withdraw(session: Session, *, actor: Actor, request_id: int, note: str = "") -> ShareRequest:
    req = session.get(ShareRequest, request_id)
    if req is None:
        raise NotFound(f"共享申请 {request_id} 不存在", f"Share request {request_id} does not exist")
    require(actor, "sharing.request.create", org_id=req.consumer_org_id)
    _open(req)
    before = _state(req)
    req.status, req.decision_note = "withdrawn", _text(note, "note", "撤回说明", "The note", required=False)
    _close_reply(session, actor, req, status="cancelled")
    audit.record(session, actor=actor, action="sharing.request.withdraw", subject_type="share_request",
                 subject_id=req.id, before=before, after=_state(req))
    return req


def escalate_overdue(session: Session, *, on: date | None = None) -> dict[str, int]:
    """Unanswered requests past their reply date and grants not delivered in time go to the authority."""
    today = on or tasks.today()
    authority = _authority_id(session)
    late = session.scalars(select(ShareRequest).where(ShareRequest.status == "pending",
                                                      ShareRequest.reply_due < today)).all()
    for req in late:
        before = _state(req)
        req.status = "escalated"
        tasks.open_task(session, actor=SYSTEM, kind="sharing.coordinate",
                        title=f"协调逾期未答复的共享申请 {req.code}（应于 {req.reply_due.isoformat()} 前答复）",
                        subject_type="share_request", subject_id=req.id, org_id=authority,
                        workdays=COORDINATE_WORKDAYS, basis="东莞市公共数据管理办法第二十三条")
        audit.record(session, actor=SYSTEM, action="sharing.request.escalate", subject_type="share_request",
                     subject_id=req.id, before=before, after=_state(req), detail={"reply_due": req.reply_due.isoformat()})
    undelivered = session.scalars(select(Grant).where(Grant.status == "awaiting_delivery",
                                                      Grant.delivery_due < today)).all()
    flagged = 0
    for g in undelivered:
        if session.scalar(select(Task.id).where(Task.kind == "sharing.delivery_overdue",
                                                      Task.subject_id == str(g.id))) is not None:
            continue
        tasks.open_task(session, actor=SYSTEM, kind="sharing.delivery_overdue",
                        title=f"督办：授权 {g.id} 未在 {g.delivery_due.isoformat()} 前完成交付",
                        subject_type="share_grant", subject_id=g.id, org_id=authority,
                        workdays=COORDINATE_WORKDAYS, basis=grants.DELIVERY_BASIS)
        audit.record(session, actor=SYSTEM, action="sharing.grant.delivery_overdue", subject_type="share_grant",
                     subject_id=g.id, detail={"delivery_due": g.delivery_due.isoformat()})
        flagged += 1
    return {"requests": len(late), "deliveries": flagged}


@periodic("sharing.escalate_overdue", every=timedelta(minutes=30))
def _escalate(session: Session) -> None:
    if authority_org_id(session) is not None:
        escalate_overdue(session)


def from_demand(session: Session, *, actor: Actor, demand_id: int, mode: str | None = None,
                items: list[str] | None = None, legal_basis: str | None = None,
                term_days: int | None = 365) -> ShareRequest:
    """A matched demand becomes a share request in one step: its entry, items, purpose and basis (R-DEM-1)."""
    try:
        demand = catalog_demands.fetch(session, demand_id=demand_id)
    except NotFound:
        demand = None
    if demand is None or demand.org_id != actor.org_id:
        raise NotFound(f"数据需求 {demand_id} 不存在或不是本部门的", f"Demand {demand_id} does not exist or is not yours")
    if demand.status != "matched" or demand.entry_id is None:
        raise Conflict("只有已匹配到目录的需求才能转为共享申请", "Only a demand matched to an entry becomes a share request")
    _, snapshot = _published(session, demand.entry_id)
    known = {it["name"] for it in snapshot["items"]}
    wanted = items or [n for n in demand.items if n in known] or [it["name"] for it in snapshot["items"]]
    return submit(session, actor=actor, entry_id=demand.entry_id, items=wanted,
                  mode=mode or DEMAND_MODES.get(demand.sharing_mode, "api"), matter=demand.title[:200],
                  legal_basis=legal_basis or demand.basis, system_name="", term_days=term_days, demand_id=demand.id)
