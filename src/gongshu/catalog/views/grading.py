"""Catalogue pages: 分级规则 — grades, rules (add, edit, deactivate) and a "try it" box (R-CAT-5)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can
from gongshu.catalog.schemas import DataItemIn
from gongshu.catalog.service import elements as elements_service
from gongshu.catalog.service import grading as service
from gongshu.catalog.views.elements import tristate
from gongshu.errors import GongshuError
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/grading"

WORKBENCH_LINKS.append((PAGE, "分级规则", "Grading rules", "catalog.grading.view"))


def _page(request: Request, session: Session, actor: Actor, *, error: GongshuError | None = None,
          form: dict | None = None, trial: dict | None = None, suggestion: service.GradeSuggestion | None = None,
          edit: int | None = None, done: str = "") -> Response:
    els = {e.id: e for e in elements_service.list_elements(session, actor=actor)}
    return render(request, "catalog/grading_rules.html", {
        "grades": service.list_grades(session, actor=actor), "rules": service.rules(session, actor=actor),
        "elements": els, "can_manage": can(actor, "catalog.grading.manage"), "error": error, "form": form or {},
        "trial": trial or {}, "suggestion": suggestion, "edit": edit, "done": done,
    }, status_code=error.status if error else 200)


@router.get(PAGE, response_class=HTMLResponse)
def grading_page(request: Request, try_name: str = "", try_element: str = "", try_personal: str = "",
                 try_identifier: str = "", edit: int | None = None, done: str = "",
                 actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    trial = {"name": try_name, "element": try_element, "personal": try_personal, "identifier": try_identifier}
    suggestion = None
    if try_name.strip():
        el = elements_service.element_by_code(session, code=try_element) if try_element.strip() else None
        item = DataItemIn(name=try_name.strip()[:100], type=el.type if el else "C",
                          is_personal=bool(try_personal), is_identifier=bool(try_identifier),
                          element_code=el.code if el else None)
        suggestion = service.try_suggest(session, actor=actor, item=item)
        if try_element.strip() and el is None:
            suggestion = service.GradeSuggestion(suggestion.grade, [f"数据元“{try_element}”不存在，未参与匹配",
                                                                    *suggestion.reasons])
    return _page(request, session, actor, trial=trial, suggestion=suggestion, edit=edit, done=done)


def _rule_args(name: str, grade: str, reason: str, element_code: str, match_personal: str, match_identifier: str,
               name_keyword: str) -> dict:
    return {"name": name, "grade": grade, "reason": reason, "element_code": element_code.strip() or None,
            "match_personal": tristate(match_personal), "match_identifier": tristate(match_identifier),
            "name_keyword": name_keyword}


@router.post(PAGE, response_class=HTMLResponse)
def rule_create(request: Request, name: str = Form(""), grade: str = Form(""), reason: str = Form(""),
                element_code: str = Form(""), match_personal: str = Form(""), match_identifier: str = Form(""),
                name_keyword: str = Form(""), actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    form = {"name": name, "grade": grade, "reason": reason, "element_code": element_code,
            "match_personal": match_personal, "match_identifier": match_identifier, "name_keyword": name_keyword}
    try:
        service.create_rule(session, actor=actor, **_rule_args(name, grade, reason, element_code, match_personal,
                                                              match_identifier, name_keyword))
    except GongshuError as exc:
        session.rollback()
        return _page(request, session, actor, error=exc, form=form)
    return RedirectResponse(f"{PAGE}?done=created", status_code=303)


@router.post(PAGE + "/{rule_id}", response_class=HTMLResponse)
def rule_update(rule_id: int, request: Request, name: str = Form(""), grade: str = Form(""), reason: str = Form(""),
                element_code: str = Form(""), match_personal: str = Form(""), match_identifier: str = Form(""),
                name_keyword: str = Form(""), actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    try:
        service.update_rule(session, actor=actor, rule_id=rule_id, **_rule_args(
            name, grade, reason, element_code, match_personal, match_identifier, name_keyword))
    except GongshuError as exc:
        session.rollback()
        return _page(request, session, actor, error=exc, edit=rule_id)
    return RedirectResponse(f"{PAGE}?done=saved", status_code=303)


@router.post(PAGE + "/{rule_id}/active", response_class=HTMLResponse)
def rule_active(rule_id: int, request: Request, active: str = Form("0"), actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    service.set_rule_active(session, actor=actor, rule_id=rule_id, active=active == "1")
    return RedirectResponse(f"{PAGE}?done=saved", status_code=303)


