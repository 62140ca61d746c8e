"""Pages for one's own API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service
from gongshu.auth.actions import ACTIONS
from gongshu.auth.service import Actor
from gongshu.errors import GongshuError
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)


def _page(request: Request, session: Session, actor: Actor, **extra) -> Response:
    ctx = {"tokens": service.list_tokens(session, actor=actor),
           "actions": sorted(a for a in ACTIONS if service.can(actor, a)), "new_token": None, "error": None}
    ctx.update(extra)
    status = extra["error"].status if extra.get("error") is not None else 200
    return render(request, "auth/tokens.html", ctx, status_code=status)


@router.get("/workbench/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return _page(request, session, actor)


@router.post("/workbench/tokens", response_class=HTMLResponse)
def tokens_create(request: Request, name: str = Form(""), scopes: str = Form(""), days: int = Form(90),
                  actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        plain, _tok = service.create_token(session, actor=actor, name=name, scopes=scopes.replace(",", " ").split(),
                                           days=days)
    except GongshuError as exc:
        return _page(request, session, actor, error=exc)
    return _page(request, session, actor, new_token=plain)


@router.post("/workbench/tokens/{token_id}/revoke", response_class=HTMLResponse)
def tokens_revoke(token_id: int, request: Request, actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    service.revoke_token(session, actor=actor, token_id=token_id)
    return _page(request, session, actor)
