"""Catalogue pages: 项目合规检查 — register an e-government project with its declared data list,
see the compliance report (R-CAT-8)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can
from gongshu.catalog.service import projects as service
from gongshu.errors import GongshuError
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/projects"

WORKBENCH_LINKS.append((PAGE, "项目合规检查", "Project compliance", "catalog.project.manage"))
WORKBENCH_LINKS.append((PAGE, "全市项目合规检查", "Project compliance (city)", "catalog.project.view_all"))


def _as_text(items) -> str:
    return "\n".join(",".join((i.entry_code, i.resource_name, i.item_name)).rstrip(",") for i in items)


def _list(request: Request, session: Session, actor: Actor, *, error: GongshuError | None = None,
          form: dict | None = None) -> Response:
    return render(request, "catalog/project_list.html", {
        "projects": service.list_projects(session, actor=actor),
        "can_register": can(actor, "catalog.project.manage", org_id=actor.org_id), "error": error,
        "form": form or {},
    }, status_code=error.status if error else 200)


@router.get(PAGE, response_class=HTMLResponse)
def project_list(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return _list(request, session, actor)


@router.post(PAGE, response_class=HTMLResponse)
def project_register(request: Request, name: str = Form(""), approval_no: str = Form(""), items: str = Form(""),
                     actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"name": name, "approval_no": approval_no, "items": items}
    try:
        p = service.register_project(session, actor=actor, name=name, approval_no=approval_no,
                                     items=service.parse_declared(items))
    except GongshuError as exc:
        session.rollback()
        return _list(request, session, actor, error=exc, form=form)
    return RedirectResponse(f"{PAGE}/{p.id}", status_code=303)


def _report(request: Request, session: Session, actor: Actor, project_id: int, *,
            error: GongshuError | None = None, form: dict | None = None, done: str = "") -> Response:
    report = service.check(session, actor=actor, project_id=project_id)
    p = report.project
    return render(request, "catalog/project_report.html", {
        "r": report, "p": p, "error": error, "done": done,
        "can_edit": can(actor, "catalog.project.manage", org_id=p.org_id),
        "form": form or {"name": p.name, "approval_no": p.approval_no,
                         "items": _as_text(service.declared(session, p.id))},
    }, status_code=error.status if error else 200)


@router.get(PAGE + "/{project_id}", response_class=HTMLResponse)
def project_report(project_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    return _report(request, session, actor, project_id, done=done)


@router.post(PAGE + "/{project_id}", response_class=HTMLResponse)
def project_update(project_id: int, request: Request, name: str = Form(""), approval_no: str = Form(""),
                   items: str = Form(""), actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    form = {"name": name, "approval_no": approval_no, "items": items}
    try:
        service.update_project(session, actor=actor, project_id=project_id, name=name, approval_no=approval_no,
                               items=service.parse_declared(items))
    except GongshuError as exc:
        session.rollback()
        return _report(request, session, actor, project_id, error=exc, form=form)
    return RedirectResponse(f"{PAGE}/{project_id}?done=saved", status_code=303)
