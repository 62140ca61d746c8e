"""Request plumbing shared by every domain's api.py and views.py: the unit of work,
the acting user (cookie session or bearer token), CSRF, and page rendering."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.actions import ORG_KINDS_ZH, ROLES
from gongshu.auth.service import Actor
from gongshu.db import session_factory
from gongshu.errors import Forbidden, Unauthenticated
from gongshu.kit.identifiers import mask_id_number, mask_name
from gongshu.web.i18n import Translator

SESSION_COOKIE = "gongshu_session"
LANG_COOKIE = "gongshu_lang"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

translator_var: ContextVar[Translator | None] = ContextVar("gongshu_translator", default=None)
_DEFAULT_TRANSLATOR = Translator("zh_CN")


def translator() -> Translator:
    return translator_var.get() or _DEFAULT_TRANSLATOR

PKG = Path(__file__).resolve().parent.parent
_template_dirs = [str(PKG / "web" / "templates")] + sorted(
    str(p) for p in PKG.glob("*/templates") if p.parent.name != "web"
)
templates = Jinja2Templates(env=Environment(loader=ChoiceLoader([FileSystemLoader(_template_dirs)]),
                                           extensions=["jinja2.ext.i18n"], autoescape=True))
templates.env.install_gettext_callables(
    lambda m: translator().gettext(m),
    lambda s, p, n: translator().ngettext(s, p, n),
    newstyle=True,
)
#: subject_type -> URL pattern for inbox links, filled by domains ("/workbench/catalog/{id}")
TASK_LINKS: dict[str, str] = {}


def task_href(task: Any) -> str:
    pattern = TASK_LINKS.get(task.subject_type)
    return pattern.format(id=task.subject_id) if pattern else "#"


templates.env.globals.update(
    task_href=task_href,
    mask_id=mask_id_number, mask_name=mask_name, ROLES=ROLES, ORG_KINDS_ZH=ORG_KINDS_ZH,
    pick=lambda zh, en: translator().pick(zh, en),
)


class LoginRequired(Unauthenticated):
    """Raised by page dependencies; the error handler redirects to the login page (``login_url``)."""

    login_url = "/login"


def get_db() -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


#: keys of the open data portal's accounts (``gso_…``): not staff tokens, read by the portal's API itself
PORTAL_KEY_PREFIX = "gso_"


def bearer(request: Request) -> str | None:
    """The token sent as ``Authorization: Bearer …`` or ``X-Api-Key`` (staff tokens and portal keys alike)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or None


def _bearer(request: Request) -> str | None:
    token = bearer(request)
    return None if token and token.startswith(PORTAL_KEY_PREFIX) else token



async def _check_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        sent = form.get("csrf_token")  # type: ignore[assignment]
    if not sent or not secrets.compare_digest(str(sent), expected):
        raise Forbidden("表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试",
                        "The form expired or came from elsewhere (CSRF check failed); reload and try again")


#: the CSRF check of a signed-in form (the portal's account pages use it with their own session's token)
check_csrf = _check_csrf


async def optional_actor(request: Request, session: Session = Depends(get_db)) -> Actor | None:
    token = _bearer(request)
    if token:
        actor = auth_service.token_actor(session, token=token)
        request.state.actor = actor
        return actor
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = auth_service.session_user(session, token=cookie)
    if found is None:
        return None
    user, ws = found
    await _check_csrf(request, ws.csrf_token)
    request.state.csrf_token = ws.csrf_token
    actor = auth_service.actor_for(session, user)
    request.state.actor = actor
    return actor


async def api_actor(actor: Actor | None = Depends(optional_actor)) -> Actor:
    if actor is None:
        raise Unauthenticated("请先登录或提供 API 令牌（Authorization: Bearer …）",
                              "Log in or send an API token (Authorization: Bearer …)")
    return actor


async def page_actor(actor: Actor | None = Depends(optional_actor)) -> Actor:
    if actor is None:
        raise LoginRequired("请先登录", "Please log in")
    return actor


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    ctx = {
        "request": request,
        "actor": getattr(request.state, "actor", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "lang": translator().locale,
        "request_path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
