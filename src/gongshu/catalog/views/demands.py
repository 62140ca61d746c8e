"""Catalogue pages: 需求清单 (the demand list, R-DEM-1): the list with a status filter, the register form,
the demand page with suggested entries, routing (authority), answering (provider), confirm / reopen /
withdraw (requester)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.models import DEMAND_STATUS_ZH, SHARING_MODES, CatalogEntry, InfoSystem, Project
from gongshu.catalog.service import demands as service
from gongshu.catalog.service import inventories, projects
from gongshu.catalog.views.elements import int_or_none
from gongshu.errors import GongshuError, Invalid
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/demands"
TASK_LINKS[service.SUBJECT] = BASE + "/{id}"
WORKBENCH_LINKS.append((BASE, "需求清单", "Demand list", "catalog.demand.view"))
WORKBENCH_LINKS.append((BASE, "全市需求清单", "City-wide demand list", "catalog.demand.view_all"))

STATUS_BADGE = {"registered": "amber", "routed": "blue", "matched": "green", "planned": "amber",
                "unavailable": "red", "fulfilled": "green", "withdrawn": ""}
STEPS = ("route", "propose", "answer", "confirm", "reopen", "withdraw")
FORM_FIELDS = ("title", "purpose", "basis", "description", "items", "provider_org_id", "sharing_mode", "needed_by",
               "system_id", "project_id")


def _vocab() -> dict[str, Any]:
    return {"STATUS_ZH": DEMAND_STATUS_ZH, "STATUS_BADGE": STATUS_BADGE, "SHARING_MODES": SHARING_MODES,
            "OUTCOMES": service.OUTCOMES, "SCOPES": service.SCOPES}


def _date(value: str, field: str = "needed_by") -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("日期应为 YYYY-MM-DD", "Dates are YYYY-MM-DD", field=field) from None


# The list ------------------------------------------------------------------------------------

@router.get(BASE, response_class=HTMLResponse)
def demand_list(request: Request, status: str = "", scope: str = "all", org_id: str = "",
                actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    oid = int_or_none(org_id, "org_id")
    rows = service.list_demands(session, actor=actor, status=status or None, scope=scope, org_id=oid)
    counts = service.status_counts(session, actor=actor, scope=scope, org_id=oid)
    view_all = service.may_view_all(actor)
    return render(request, "catalog/demand_list.html", {
        **_vocab(), "rows": rows, "counts": counts, "status": status, "scope": scope, "org_id": oid,
        "orgs": {o.id: o for o in auth_service.orgs(session)}, "view_all": view_all,
        "pickable": inventories.departments(session) if view_all else [],
        "due": {d.id: service.due_date(d) for d in rows},
        "can_register": actor.org_id is not None and can(actor, "catalog.demand.manage", org_id=actor.org_id),
        "inventory_query": "city=1" if view_all and oid is None else f"org_id={oid or actor.org_id}",
    })


# Registering ---------------------------------------------------------------------------------

def _form(request: Request, session: Session, actor: Actor, *, values: dict[str, Any],
          error: GongshuError | None = None) -> Response:
    auth_service.require(actor, "catalog.demand.manage", org_id=actor.org_id)
    org_id = actor.org_id or 0
    return render(request, "catalog/demand_form.html", {
        **_vocab(), "values": values, "error": error,
        "providers": [o for o in service.providers(session) if o.id != org_id],
        "systems": inventories.list_systems(session, actor=actor, org_id=org_id)
        if can(actor, "catalog.inventory.view", org_id=org_id) else [],
        "projects": projects.list_projects(session, actor=actor, org_id=org_id)
        if can(actor, "catalog.project.manage", org_id=org_id) else [],
    }, status_code=error.status if error else 200)


@router.get(BASE + "/new", response_class=HTMLResponse)
def demand_new(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return _form(request, session, actor, values={"sharing_mode": "接口"})


@router.post(BASE + "/new", response_class=HTMLResponse)
async def demand_create(request: Request, actor: Actor = Depends(page_actor),
                        session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "") or "") for k in FORM_FIELDS}
    try:
        d = service.register(session, actor=actor, title=values["title"], purpose=values["purpose"],
                             basis=values["basis"], description=values["description"],
                             items=service.split_items(values["items"]),
                             provider_org_id=int_or_none(values["provider_org_id"], "provider_org_id"),
                             sharing_mode=values["sharing_mode"], needed_by=_date(values["needed_by"]),
                             system_id=int_or_none(values["system_id"], "system_id"),
                             project_id=int_or_none(values["project_id"], "project_id"))
    except GongshuError as exc:
        session.rollback()
        return _form(request, session, actor, values=values, error=exc)
    return RedirectResponse(f"{BASE}/{d.id}?done=register", status_code=303)


# The demand page -----------------------------------------------------------------------------

def _detail(request: Request, session: Session, actor: Actor, demand_id: int, *, error: GongshuError | None = None,
            done: str = "") -> Response:
    d = service.get_demand(session, actor=actor, demand_id=demand_id)
    requester = actor.org_id == d.org_id and can(actor, "catalog.demand.manage", org_id=d.org_id)
    provider = d.provider_org_id is not None and actor.org_id == d.provider_org_id \
        and can(actor, "catalog.demand.answer", org_id=d.provider_org_id)
    can_answer = provider and d.status in ("routed", "planned")
    items = service.work_items(session, demand_id=d.id)
    cal, today = tasks_service.calendar(session), tasks_service.today()
    left: dict[int, int | None] = {}
    for t in items:
        try:
            left[t.id] = cal.workdays_between(today, t.due_date) if t.status == "open" else None
        except GongshuError:
            left[t.id] = None
    return render(request, "catalog/demand_detail.html", {
        **_vocab(), "d": d, "error": error, "done": done,
        "orgs": {o.id: o for o in auth_service.orgs(session)},
        "entry": session.get(CatalogEntry, d.entry_id) if d.entry_id else None,
        "system": session.get(InfoSystem, d.system_id) if d.system_id else None,
        "project": session.get(Project, d.project_id) if d.project_id else None,
        "due": service.due_date(d), "items": items, "left": left,
        "suggestions": service.suggestions(session, actor=actor, demand=d)
        if d.status in ("registered", "routed", "planned") else [],
        "providers": [o for o in service.providers(session) if o.id != d.org_id],
        "own_entries": service.published_entries(session, org_id=d.provider_org_id) if can_answer else [],
        "can_route": d.status in ("registered", "routed", "unavailable") and can(actor, "catalog.demand.route"),
        "can_propose": requester and d.status in ("registered", "routed"),
        "can_answer": can_answer,
        "can_confirm": requester and d.status == "matched",
        "can_reopen": requester and d.status in ("matched", "planned", "unavailable"),
        "can_withdraw": requester and d.status in service.OPEN_STATES,
    }, status_code=error.status if error else 200)


@router.get(BASE + "/{demand_id:int}", response_class=HTMLResponse)
def demand_page(demand_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    return _detail(request, session, actor, demand_id, done=done)


@router.post(BASE + "/{demand_id:int}/{step:str}", response_class=HTMLResponse)
async def demand_step(demand_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
                      session: Session = Depends(get_db)) -> Response:
    if step not in STEPS:
        raise Invalid(f"未知操作：{step}", f"Unknown step: {step}")
    form = await request.form()
    text = str(form.get("text", "") or "")
    try:
        if step == "route":
            provider_id = int_or_none(str(form.get("provider_org_id", "") or ""), "provider_org_id")
            if provider_id is None:
                raise Invalid("请选择提供部门", "Choose the provider department", field="provider_org_id")
            service.route(session, actor=actor, demand_id=demand_id, provider_org_id=provider_id, note=text)
        elif step == "propose":
            entry_id = int_or_none(str(form.get("entry_id", "") or ""), "entry_id")
            if entry_id is None:
                raise Invalid("请选择目录", "Choose an entry", field="entry_id")
            service.propose(session, actor=actor, demand_id=demand_id, entry_id=entry_id)
        elif step == "answer":
            service.answer(session, actor=actor, demand_id=demand_id, outcome=str(form.get("outcome", "") or ""),
                           entry_id=int_or_none(str(form.get("entry_id", "") or ""), "entry_id"), reason=text)
        elif step == "confirm":
            service.confirm(session, actor=actor, demand_id=demand_id, note=text)
        elif step == "reopen":
            service.reopen(session, actor=actor, demand_id=demand_id, reason=text)
        else:
            service.withdraw(session, actor=actor, demand_id=demand_id, reason=text)
    except GongshuError as exc:
        session.rollback()
        return _detail(request, session, actor, demand_id, error=exc)
    return RedirectResponse(f"{BASE}/{demand_id}?done={step}", status_code=303)
