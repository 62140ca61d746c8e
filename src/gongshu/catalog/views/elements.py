"""Catalogue pages: 数据元 (registry, create, edit, source department) and 一数一源冲突 (R-CAT-6)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.models import ITEM_TYPES, STATUS_ZH
from gongshu.catalog.service import elements as service
from gongshu.errors import GongshuError, Invalid
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
ELEMENTS = "/workbench/elements"
CONFLICTS = "/workbench/conflicts"

WORKBENCH_LINKS.append((ELEMENTS, "数据元", "Data elements", "catalog.element.view"))
WORKBENCH_LINKS.append((CONFLICTS, "一数一源冲突", "Single-source conflicts", "catalog.element.view"))


def int_or_none(value: str | None, field: str) -> int | None:
    """A form field holding an optional whole number."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"“{value}”不是整数", f"'{value}' is not a whole number", field=field) from None


def tristate(value: str | None) -> bool | None:
    """A select with 不限 / 是 / 否."""
    return {"1": True, "0": False}.get((value or "").strip())


def _orgs(session: Session) -> dict[int, str]:
    return {o.id: o.name for o in auth_service.orgs(session)}


def _list(request: Request, session: Session, actor: Actor, *, q: str = "", error: GongshuError | None = None,
          form: dict | None = None, done: str = "") -> Response:
    return render(request, "catalog/element_list.html", {
        "elements": service.list_elements(session, actor=actor, q=q), "q": q, "orgs": _orgs(session),
        "sources": [o for o in auth_service.orgs(session) if o.kind in ("department", "town", "park", "authority")],
        "types": ITEM_TYPES, "can_manage": can(actor, "catalog.element.manage"), "error": error, "form": form or {},
        "done": done,
    }, status_code=error.status if error else 200)


@router.get(ELEMENTS, response_class=HTMLResponse)
def element_list(request: Request, q: str = "", done: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    return _list(request, session, actor, q=q, done=done)


@router.post(ELEMENTS, response_class=HTMLResponse)
def element_create(request: Request, code: str = Form(""), name: str = Form(""), type: str = Form("C"),
                   length: str = Form(""), definition: str = Form(""), source_org_id: str = Form(""),
                   source_basis: str = Form(""), is_personal: str = Form(""), is_identifier: str = Form(""),
                   actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"code": code, "name": name, "type": type, "length": length, "definition": definition,
            "source_org_id": source_org_id, "source_basis": source_basis, "is_personal": is_personal,
            "is_identifier": is_identifier}
    try:
        el = service.create_element(session, actor=actor, code=code, name=name, type=type,
                                    length=int_or_none(length, "length"), definition=definition,
                                    source_org_id=int_or_none(source_org_id, "source_org_id"),
                                    source_basis=source_basis, is_personal=bool(is_personal),
                                    is_identifier=bool(is_identifier))
    except GongshuError as exc:
        session.rollback()
        return _list(request, session, actor, error=exc, form=form)
    return RedirectResponse(f"{ELEMENTS}/{el.id}?done=created", status_code=303)


def _edit(request: Request, session: Session, actor: Actor, element_id: int, *, error: GongshuError | None = None,
          done: str = "") -> Response:
    el = service.view_element(session, actor=actor, element_id=element_id)
    return render(request, "catalog/element_edit.html", {
        "el": el, "orgs": _orgs(session), "types": ITEM_TYPES, "usage": service.usage(session, element_id=el.id),
        "sources": [o for o in auth_service.orgs(session) if o.kind in ("department", "town", "park", "authority")],
        "conflicts": [c for c in service.list_conflicts(session, actor=actor, status=None) if c.element_id == el.id],
        "can_manage": can(actor, "catalog.element.manage"), "error": error, "done": done,
        "STATUS_ZH": STATUS_ZH, "CONFLICT_STATUS_ZH": service.CONFLICT_STATUS_ZH,
    }, status_code=error.status if error else 200)


@router.get(ELEMENTS + "/{element_id}", response_class=HTMLResponse)
def element_page(element_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    return _edit(request, session, actor, element_id, done=done)


@router.post(ELEMENTS + "/{element_id}", response_class=HTMLResponse)
def element_update(element_id: int, request: Request, code: str = Form(""), name: str = Form(""),
                   type: str = Form("C"), length: str = Form(""), definition: str = Form(""),
                   source_basis: str = Form(""), is_personal: str = Form(""), is_identifier: str = Form(""),
                   actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        service.update_element(session, actor=actor, element_id=element_id, code=code, name=name, type=type,
                               length=int_or_none(length, "length"), definition=definition,
                               is_personal=bool(is_personal), is_identifier=bool(is_identifier),
                               source_basis=source_basis)
    except GongshuError as exc:
        session.rollback()
        return _edit(request, session, actor, element_id, error=exc)
    return RedirectResponse(f"{ELEMENTS}/{element_id}?done=saved", status_code=303)


@router.post(ELEMENTS + "/{element_id}/source", response_class=HTMLResponse)
def element_source(element_id: int, request: Request, source_org_id: str = Form(""), source_basis: str = Form(""),
                   note: str = Form(""), actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    try:
        service.set_source(session, actor=actor, element_id=element_id,
                           source_org_id=int_or_none(source_org_id, "source_org_id"), source_basis=source_basis,
                           note=note)
    except GongshuError as exc:
        session.rollback()
        return _edit(request, session, actor, element_id, error=exc)
    return RedirectResponse(f"{ELEMENTS}/{element_id}?done=source", status_code=303)


# Conflicts --------------------------------------------------------------------------

def _conflicts(request: Request, session: Session, actor: Actor, *, status: str = "open",
               error: GongshuError | None = None, failed_id: int | None = None, done: str = "") -> Response:
    rows = service.list_conflicts(session, actor=actor, status=status or None)
    els = {e.id: e for e in service.list_elements(session, actor=actor)}
    return render(request, "catalog/conflict_list.html", {
        "rows": rows, "status": status, "elements": els, "orgs": _orgs(session),
        "kinds": {c.id: service.conflict_kind(c) for c in rows}, "can_resolve": can(actor, "catalog.conflict.resolve"),
        "CONFLICT_STATUS_ZH": service.CONFLICT_STATUS_ZH, "DECISIONS": service.DECISIONS, "error": error,
        "failed_id": failed_id, "done": done,
        "entry_labels": service.entry_labels(session, entry_ids=[c.claimant_entry_id for c in rows]),
    }, status_code=error.status if error else 200)


@router.get(CONFLICTS, response_class=HTMLResponse)
def conflict_list(request: Request, status: str = "open", done: str = "", actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    return _conflicts(request, session, actor, status=status, done=done)


@router.post(CONFLICTS + "/{conflict_id}/resolve", response_class=HTMLResponse)
def conflict_resolve(conflict_id: int, request: Request, decision: str = Form(""), note: str = Form(""),
                     actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        service.resolve_conflict(session, actor=actor, conflict_id=conflict_id, decision=decision, note=note)
    except GongshuError as exc:
        session.rollback()
        return _conflicts(request, session, actor, error=exc, failed_id=conflict_id)
    return RedirectResponse(f"{CONFLICTS}?done=resolved", status_code=303)
