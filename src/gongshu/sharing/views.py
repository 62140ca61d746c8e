"""Sharing pages (数据共享): the consumer's way from the catalogue to a request, its status and its grant;
the source's inbox to decide (approve, possibly narrowed, or refuse with a legal basis); the authority's
view of every request and of what is overdue, where it may decide in the source's place. The grant page and
the use of the data are in :mod:`.views_grant`, applications in :mod:`.views_apps`, the access log in
:mod:`.views_access`; their routes are mounted here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import GongshuError, Invalid
from gongshu.sharing import views_access, views_apps, views_grant
from gongshu.sharing.service import apps, emergency, grants, requests
from gongshu.sharing.views_common import BASE, vocab, whole, workdays_left
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
TASK_LINKS["share_request"] = BASE + "/requests/{id}"
TASK_LINKS["share_grant"] = BASE + "/grants/{id}"
WORKBENCH_LINKS.append((BASE, "数据共享", "Data sharing", "sharing.request.view"))
WORKBENCH_LINKS.append((BASE, "全市数据共享", "City-wide sharing", "sharing.view_all"))
WORKBENCH_LINKS.append((BASE + "/emergencies", "应急数据共享", "Emergency sharing", "sharing.emergency.manage"))
WORKBENCH_LINKS.append((BASE + "/apps", "应用系统与接口凭证", "Applications and credentials", "sharing.app.manage"))
WORKBENCH_LINKS.append((BASE + "/access", "共享访问记录", "Sharing access log", "sharing.access.view"))
WORKBENCH_LINKS.append((BASE + "/access", "全市共享访问记录", "City-wide sharing access log", "sharing.view_all"))

FORM_FIELDS = ("entry_id", "mode", "matter", "legal_basis", "system_name", "purpose_kind", "term_days",
               "scope_item", "scope_values", "application_id")


# The overview --------------------------------------------------------------------------------------

@router.get(BASE, response_class=HTMLResponse)
def overview(request: Request, status: str = "", actor: Actor = Depends(page_actor),
             session: Session = Depends(get_db)) -> Response:
    view_all = can(actor, "sharing.view_all")
    mine = requests.list_requests(session, actor=actor, role="consumer", status=status or None) \
        if actor.org_id and not view_all else []
    incoming = requests.list_requests(session, actor=actor, role="source", status=status or None) \
        if actor.org_id and not view_all else []
    everything = requests.list_requests(session, actor=actor, status=status or None) if view_all else []
    shown = mine + incoming + everything
    return render(request, "sharing/overview.html", {
        **vocab(), "mine": mine, "incoming": incoming, "everything": everything, "status": status,
        "view_all": view_all, "orgs": {o.id: o for o in auth_service.orgs(session)},
        "entries": {r.entry_id: catalog_entries.fetch(session, entry_id=r.entry_id) for r in shown},
        "left": {r.id: workdays_left(session, r.reply_due) for r in shown if r.status in ("pending", "escalated")},
        "grants_used": grants.list_grants(session, actor=actor, role="consumer") if actor.org_id and not view_all
        else [],
        "grants_given": grants.list_grants(session, actor=actor, role="source") if actor.org_id and not view_all
        else [],
        "grants_all": grants.list_grants(session, actor=actor) if view_all else [],
        "usage": _usage(session, actor, view_all),
        "may_apps": view_all or can(actor, "sharing.app.manage", org_id=actor.org_id),
        "may_log": view_all or can(actor, "sharing.access.view", org_id=actor.org_id),
    })


def _usage(session: Session, actor: Actor, view_all: bool) -> list[dict[str, Any]]:
    """How consumers use the department's data (all data for the authority), per consumer and entry, most
    used first, with the entry's name (R-SHR-6)."""
    if view_all:
        rows = grants.usage(session, actor=actor)
    elif actor.org_id and can(actor, "sharing.grant.view", org_id=actor.org_id):
        rows = grants.usage(session, actor=actor, source_org_id=actor.org_id)
    else:
        return []
    names = {e: catalog_entries.fetch(session, entry_id=e).name for e in {r["entry_id"] for r in rows} if e}
    return [{**r, "entry_name": names.get(r["entry_id"], "")}
            for r in sorted(rows, key=lambda r: (-r["calls"], r["consumer_org_id"] or 0, r["entry_id"] or 0))]


# Requesting -------------------------------------------------------------------------------------------

def _form(request: Request, session: Session, actor: Actor, *, values: dict[str, Any], chosen: list[str],
          error: GongshuError | None = None) -> Response:
    auth_service.require(actor, "sharing.request.create", org_id=actor.org_id)
    entry_id = whole(str(values.get("entry_id", "")), "entry_id")
    if entry_id is None:
        raise Invalid("请从目录中选择要申请的资源", "Choose the entry to request from the catalogue", field="entry_id")
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    snapshot = catalog_entries.published_snapshot(session, entry_id=entry_id)
    masked = {i["name"]: i["masked"] for i in grants.default_items(snapshot, [it["name"] for it in snapshot["items"]])}
    return render(request, "sharing/request_form.html", {
        **vocab(), "entry": entry, "snapshot": snapshot, "values": values, "chosen": set(chosen),
        "masked": masked, "error": error, "org": auth_service.get_org(session, actor.org_id),
        "reply_due": tasks_service.calendar(session).add_workdays(tasks_service.today(), requests.REPLY_WORKDAYS),
        "apps": [a for a in apps.list_applications(session, actor=actor) if a.active]
        if can(actor, "sharing.app.manage", org_id=actor.org_id) else [],
    }, status_code=error.status if error else 200)


@router.get(BASE + "/new", response_class=HTMLResponse)
def request_new(request: Request, entry: str = "", actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    org = auth_service.get_org(session, actor.org_id) if actor.org_id else None
    purpose = requests.ALLOWED_PURPOSES.get(org.kind, requests.GOV_PURPOSES)[0] if org else "public_service"
    return _form(request, session, actor, values={"entry_id": entry, "mode": "api", "purpose_kind": purpose,
                                                  "term_days": "365"}, chosen=[])


@router.post(BASE + "/new", response_class=HTMLResponse)
async def request_create(request: Request, actor: Actor = Depends(page_actor),
                         session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "") or "") for k in FORM_FIELDS}
    chosen = [str(v) for v in form.getlist("items")]
    try:
        scope = {}
        if values["scope_item"].strip():
            scope[values["scope_item"].strip()] = [v for v in values["scope_values"].replace("，", ",").split(",")]
        req = requests.submit(session, actor=actor, entry_id=whole(values["entry_id"], "entry_id") or 0, items=chosen,
                              mode=values["mode"], matter=values["matter"], legal_basis=values["legal_basis"],
                              system_name=values["system_name"], purpose_kind=values["purpose_kind"],
                              row_scope=scope, term_days=whole(values["term_days"], "term_days", "使用期限（天）", "The term (days)"),
                              application_id=whole(values["application_id"], "application_id"))
    except GongshuError as exc:
        session.rollback()
        return _form(request, session, actor, values=values, chosen=chosen, error=exc)
    return RedirectResponse(f"{BASE}/requests/{req.id}?done=submit", status_code=303)


# A request ---------------------------------------------------------------------------------------------

def _detail(request: Request, session: Session, actor: Actor, request_id: int, *,
            error: GongshuError | None = None, done: str = "") -> Response:
    req = requests.get_request(session, actor=actor, request_id=request_id)
    snapshot = catalog_entries.published_snapshot(session, entry_id=req.entry_id)
    by_name = {it["name"]: it for it in snapshot["items"]}
    decider = req.status in ("pending", "escalated") and (
        (actor.org_id == req.source_org_id and can(actor, "sharing.request.decide", org_id=req.source_org_id))
        or (actor.is_authority and can(actor, "sharing.request.coordinate")))
    items = tasks_service.for_subject(session, subject_type="share_request", subject_id=req.id)
    grant = requests.grant_of(session, request_id=req.id)
    return render(request, "sharing/request_detail.html", {
        **vocab(), "r": req, "grant": grant, "error": error, "done": done, "decider": decider,
        "consumer": actor.org_id == req.consumer_org_id, "by_name": by_name,
        "defaults": {i["name"]: i["masked"] for i in grants.default_items(snapshot, req.items)},
        "orgs": {o.id: o for o in auth_service.orgs(session)},
        "entry": catalog_entries.fetch(session, entry_id=req.entry_id), "items": items,
        "left": {t.id: workdays_left(session, t.due_date) for t in items if t.status == "open"},
        "reply_left": workdays_left(session, req.reply_due) if req.status in ("pending", "escalated") else None,
    }, status_code=error.status if error else 200)


@router.get(BASE + "/requests/{request_id:int}", response_class=HTMLResponse)
def request_page(request_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    return _detail(request, session, actor, request_id, done=done)


@router.post(BASE + "/requests/{request_id:int}/{step:str}", response_class=HTMLResponse)
async def request_step(request_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
                       session: Session = Depends(get_db)) -> Response:
    if step not in ("approve", "refuse", "withdraw"):
        raise Invalid(f"未知操作：{step}", f"Unknown step: {step}")
    form = await request.form()
    note = str(form.get("note", "") or "")
    try:
        if step == "approve":
            masked = set(form.getlist("masked"))
            names = [str(n) for n in form.getlist("items")]
            scope = None
            scope_item = str(form.get("scope_item", "") or "").strip()
            if scope_item:
                scope = {scope_item: str(form.get("scope_values", "") or "").replace("，", ",").split(",")}
            requests.approve(session, actor=actor, request_id=request_id,
                             items=[{"name": n, "masked": n in masked} for n in names] if names else None,
                             row_scope=scope, mode=str(form.get("mode", "") or "") or None,
                             term_days=whole(str(form.get("term_days", "") or ""), "term_days", "使用期限（天）",
                                             "The term (days)"), note=note)
        elif step == "refuse":
            requests.refuse(session, actor=actor, request_id=request_id, basis=str(form.get("basis", "") or ""),
                            note=note)
        else:
            requests.withdraw(session, actor=actor, request_id=request_id, note=note)
    except GongshuError as exc:
        session.rollback()
        return _detail(request, session, actor, request_id, error=exc)
    return RedirectResponse(f"{BASE}/requests/{request_id}?done={step}", status_code=303)


# Emergencies (authority) ------------------------------------------------------------------------------

def _emergencies(request: Request, session: Session, actor: Actor, *, values: dict[str, Any] | None = None,
                 error: GongshuError | None = None) -> Response:
    return render(request, "sharing/emergencies.html", {
        **vocab(), "rows": emergency.list_emergencies(session, actor=actor), "error": error, "values": values or {},
        "may_manage": can(actor, "sharing.emergency.manage"),
        "departments": [o for o in auth_service.orgs(session) if o.kind not in ("authority", "operator")],
        "entries": catalog_entries.published(session),
    }, status_code=error.status if error else 200)


@router.get(BASE + "/emergencies", response_class=HTMLResponse)
def emergencies(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return _emergencies(request, session, actor)


@router.post(BASE + "/emergencies", response_class=HTMLResponse)
async def emergency_declare(request: Request, actor: Actor = Depends(page_actor),
                            session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "") or "") for k in ("title", "scope", "days")}
    try:
        days = whole(values["days"], "days", "持续天数", "The duration (days)") or 0
        if days < 1:
            raise Invalid("持续天数应为正整数", "The duration is a positive number of days", field="days")
        e = emergency.declare_emergency(
            session, actor=actor, title=values["title"], scope=values["scope"],
            entry_ids=[whole(str(v), "entry_ids") or 0 for v in form.getlist("entry_ids")],
            consumer_org_ids=[whole(str(v), "consumer_org_ids") or 0 for v in form.getlist("consumer_org_ids")],
            ends_at=utcnow() + timedelta(days=days))
    except GongshuError as exc:
        session.rollback()
        return _emergencies(request, session, actor, values=values, error=exc)
    return RedirectResponse(f"{BASE}/emergencies/{e.id}?done=declare", status_code=303)


def _emergency_page(request: Request, session: Session, actor: Actor, emergency_id: int, *,
                    error: GongshuError | None = None, done: str = "") -> Response:
    auth_service.require(actor, "sharing.view_all")
    e = emergency.get(session, emergency_id=emergency_id)
    return render(request, "sharing/emergency_detail.html", {
        **vocab(), "e": e, "error": error, "done": done, "may_manage": can(actor, "sharing.emergency.manage"),
        "grants": emergency.grants_of(session, emergency_id=e.id),
        "packages": emergency.packages_of(session, emergency_id=e.id),
        "orgs": {o.id: o for o in auth_service.orgs(session)},
        "entry_names": {i: catalog_entries.fetch(session, entry_id=i).name for i in e.entry_ids},
    }, status_code=error.status if error else 200)


@router.get(BASE + "/emergencies/{emergency_id:int}", response_class=HTMLResponse)
def emergency_page(emergency_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    return _emergency_page(request, session, actor, emergency_id, done=done)


@router.post(BASE + "/emergencies/{emergency_id:int}/{step:str}", response_class=HTMLResponse)
async def emergency_step(emergency_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
                         session: Session = Depends(get_db)) -> Response:
    if step not in ("end", "review"):
        raise Invalid(f"未知操作：{step}", f"Unknown step: {step}")
    form = await request.form()
    try:
        if step == "end":
            emergency.end(session, actor=actor, emergency_id=emergency_id)
        else:
            emergency.review(session, actor=actor, emergency_id=emergency_id, text=str(form.get("text", "") or ""))
    except GongshuError as exc:
        session.rollback()
        return _emergency_page(request, session, actor, emergency_id, error=exc)
    return RedirectResponse(f"{BASE}/emergencies/{emergency_id}?done={step}", status_code=303)


for _part in (views_grant, views_apps, views_access):
    router.include_router(_part.router)
