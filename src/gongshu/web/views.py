"""Front pages: login, logout, language switch, the workbench home with its inbox."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor
from gongshu.config import get_settings
from gongshu.errors import GongshuError, Invalid
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import LANG_COOKIE, SESSION_COOKIE, get_db, optional_actor, page_actor, render
from gongshu.web.i18n import LOCALES

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "gongshu_login_csrf"

#: links on the workbench home, shown when the actor may use them (filled by domains)
WORKBENCH_LINKS: list[tuple[str, str, str, str | None]] = [
    # (href, zh, en, action needed or None)
    ("/workbench/tokens", "API 令牌", "API tokens", "auth.token.manage"),
    ("/workbench/audit", "审计日志", "Audit log", "audit.view"),
    ("/workbench/supervision", "督办与超期", "Supervision & overdue", "tasks.view_all"),
    ("/workbench/calendar", "工作日日历", "Working-day calendar", "calendar.manage"),
]


def _safe_next(nxt: str | None) -> str:
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") else "/workbench"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(16)
    resp = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token, "error": None})
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="lax", secure=get_settings().secure_cookies)
    return resp


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/workbench"),
          login_csrf: str = Form(""), session: Session = Depends(get_db)) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    try:
        if not cookie or not secrets.compare_digest(cookie, login_csrf):
            raise Invalid("登录表单已失效，请重新打开登录页", "The login form expired; open the login page again")
        user = auth_service.authenticate(session, username=username.strip(), password=password)
        token, _ws = auth_service.open_session(session, user=user, hours=get_settings().session_hours)
    except GongshuError as exc:
        session.commit()  # keep the failed-login counter and its audit event
        fresh = secrets.token_urlsafe(16)
        resp = render(request, "login.html", {"next": _safe_next(next), "login_csrf": fresh, "error": exc,
                                              "username": username}, status_code=exc.status)
        resp.set_cookie(LOGIN_CSRF, fresh, httponly=True, samesite="lax", secure=get_settings().secure_cookies)
        return resp
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=get_settings().secure_cookies,
                    max_age=get_settings().session_hours * 3600)
    resp.delete_cookie(LOGIN_CSRF)
    return resp


@router.post("/logout")
def logout(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    auth_service.close_session(session, actor=actor, token=request.cookies.get(SESSION_COOKIE, ""))
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/lang/{lang}")
def switch_lang(lang: str, next: str | None = None) -> Response:
    resp = RedirectResponse(_safe_next(next) if next else "/", status_code=303)
    if lang in LOCALES:
        resp.set_cookie(LANG_COOKIE, lang, samesite="lax", max_age=365 * 86400)
    return resp


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: Actor | None = Depends(optional_actor)) -> Response:
    if actor is not None:
        return RedirectResponse("/workbench", status_code=303)
    return RedirectResponse("/open", status_code=303)


@router.get("/workbench", response_class=HTMLResponse)
def workbench(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    items = tasks_service.inbox(session, actor=actor)
    left = tasks_service.remaining_workdays(session, items)
    links = [(h, zh, en) for h, zh, en, action in WORKBENCH_LINKS if action is None or auth_service.can(actor, action)]
    return render(request, "workbench.html", {"items": items, "left": left, "links": links,
                                              "today": tasks_service.today()})
