"""Catalogue pages: 检索同义词/简称词典 — the authority adds, edits and deletes the abbreviations search expands (R-CAT-10)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import synonyms as service
from gongshu.errors import GongshuError
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/catalog/synonyms"

WORKBENCH_LINKS.append((PAGE, "检索同义词/简称词典", "Search synonyms & abbreviations", "catalog.synonyms.manage"))


def _page(request: Request, session: Session, actor: Actor, *, error: GongshuError | None = None,
          form: dict | None = None, edit: int | None = None, done: str = "") -> Response:
    return render(request, "catalog/synonyms.html", {
        "rows": service.list_synonyms(session, actor=actor), "error": error, "form": form or {}, "edit": edit,
        "done": done, "search_url": lambda term: "/catalog?q=" + quote(term),
        "MAX_TERM": service.MAX_TERM, "MAX_EXPANSION": service.MAX_EXPANSION,
    }, status_code=error.status if error else 200)


@router.get(PAGE, response_class=HTMLResponse)
def synonyms_page(request: Request, edit: int | None = None, done: str = "", actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    return _page(request, session, actor, edit=edit, done=done)


@router.post(PAGE, response_class=HTMLResponse)
def synonym_create(request: Request, term: str = Form(""), expansions: str = Form(""), bidirectional: str = Form(""),
                   actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"term": term, "expansions": expansions, "bidirectional": bool(bidirectional)}
    try:
        service.create(session, actor=actor, term=term, expansions=expansions, bidirectional=bool(bidirectional))
    except GongshuError as exc:
        session.rollback()
        return _page(request, session, actor, error=exc, form=form)
    return RedirectResponse(f"{PAGE}?done=created", status_code=303)


@router.post(PAGE + "/{synonym_id:int}", response_class=HTMLResponse)
def synonym_update(synonym_id: int, request: Request, term: str = Form(""), expansions: str = Form(""),
                   bidirectional: str = Form(""), actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    form = {"term": term, "expansions": expansions, "bidirectional": bool(bidirectional)}
    try:
        service.update(session, actor=actor, synonym_id=synonym_id, term=term, expansions=expansions,
                       bidirectional=bool(bidirectional))
    except GongshuError as exc:
        session.rollback()
        return _page(request, session, actor, error=exc, form=form, edit=synonym_id)
    return RedirectResponse(f"{PAGE}?done=saved", status_code=303)


@router.post(PAGE + "/{synonym_id:int}/delete", response_class=HTMLResponse)
def synonym_delete(synonym_id: int, request: Request, actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    service.delete(session, actor=actor, synonym_id=synonym_id)
    return RedirectResponse(f"{PAGE}?done=deleted", status_code=303)
