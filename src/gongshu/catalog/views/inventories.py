"""Catalogue pages: 信息系统清单 and 清单 (data list, sharing responsibility list, collection list)
with CSV / XLSX / JSON export (R-CAT-9, R-CAT-6)."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can
from gongshu.catalog.service import inventories as service
from gongshu.catalog.views.elements import int_or_none
from gongshu.errors import GongshuError, Invalid
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
SYSTEMS = "/workbench/systems"
LISTS = "/workbench/inventories"

WORKBENCH_LINKS.append((SYSTEMS, "信息系统清单", "Information systems", "catalog.system.manage"))
WORKBENCH_LINKS.append((LISTS, "清单", "Inventories", "catalog.inventory.view"))
WORKBENCH_LINKS.append((LISTS + "?city=1", "全市清单", "City-wide inventories", "catalog.inventory.view_all"))


def _scope(actor: Actor, org_id: str, city: str) -> int | None:
    if city:
        return None
    oid = int_or_none(org_id, "org_id")
    if oid is not None:
        return oid
    return None if service.may_view_all(actor) else actor.org_id


def _date(value: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("上线日期应为 YYYY-MM-DD", "The launch date is YYYY-MM-DD", field="launched") from None


# Information systems -----------------------------------------------------------------

def _systems(request: Request, session: Session, actor: Actor, *, org_id: int | None,
             error: GongshuError | None = None, form: dict | None = None, edit: int | None = None,
             done: str = "") -> Response:
    return render(request, "catalog/inventory_systems.html", {
        "inv": service.inventory(session, actor=actor, kind="systems", org_id=org_id),
        "can_manage": can(actor, "catalog.system.manage", org_id=actor.org_id) and org_id == actor.org_id,
        "orgs": service.departments(session) if service.may_view_all(actor) else [], "org_id": org_id,
        "error": error, "form": form or {}, "edit": edit, "done": done,
    }, status_code=error.status if error else 200)


@router.get(SYSTEMS, response_class=HTMLResponse)
def systems_page(request: Request, org_id: str = "", city: str = "", edit: int | None = None, done: str = "",
                 actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return _systems(request, session, actor, org_id=_scope(actor, org_id, city), edit=edit, done=done)


@router.post(SYSTEMS, response_class=HTMLResponse)
def system_create(request: Request, name: str = Form(""), description: str = Form(""), operator: str = Form(""),
                  launched: str = Form(""), actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    form = {"name": name, "description": description, "operator": operator, "launched": launched}
    try:
        service.create_system(session, actor=actor, name=name, description=description, operator=operator,
                              launched=_date(launched))
    except GongshuError as exc:
        session.rollback()
        return _systems(request, session, actor, org_id=actor.org_id, error=exc, form=form)
    return RedirectResponse(f"{SYSTEMS}?done=created", status_code=303)


@router.post(SYSTEMS + "/{system_id}", response_class=HTMLResponse)
def system_update(system_id: int, request: Request, name: str = Form(""), description: str = Form(""),
                  operator: str = Form(""), launched: str = Form(""), actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    try:
        service.update_system(session, actor=actor, system_id=system_id, name=name, description=description,
                              operator=operator, launched=_date(launched))
    except GongshuError as exc:
        session.rollback()
        return _systems(request, session, actor, org_id=actor.org_id, error=exc, edit=system_id)
    return RedirectResponse(f"{SYSTEMS}?done=saved", status_code=303)


@router.post(SYSTEMS + "/{system_id}/delete", response_class=HTMLResponse)
def system_delete(system_id: int, request: Request, actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    service.delete_system(session, actor=actor, system_id=system_id)
    return RedirectResponse(f"{SYSTEMS}?done=deleted", status_code=303)


# Inventories -------------------------------------------------------------------------

@router.get(LISTS, response_class=HTMLResponse)
def inventories_page(request: Request, kind: str = "data", org_id: str = "", city: str = "",
                     actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    scope = _scope(actor, org_id, city)
    inv = service.inventory(session, actor=actor, kind=kind, org_id=scope)
    return render(request, "catalog/inventory_lists.html", {
        "inv": inv, "kinds": service.KINDS, "formats": service.FORMATS,
        "orgs": service.departments(session) if service.may_view_all(actor) else [],
        "query": "city=1" if scope is None else f"org_id={scope}",
    })


@router.get(LISTS + "/export")
def inventory_export(kind: str = "data", format: str = "xlsx", org_id: str = "", city: str = "",
                     actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    name, media, content = service.export(session, actor=actor, kind=kind, org_id=_scope(actor, org_id, city),
                                          fmt=format)
    return Response(content, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"inventory.{format}\"; filename*=UTF-8''{quote(name)}"})
