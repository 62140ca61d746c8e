"""Applications and their client credentials (应用系统与接口凭证, R-SHR-5): a consumer department's data
officer registers its systems (the secret is shown once, on the page that answers the registration or
rotation, and never again), rotates a secret, changes the rate limit and deactivates an application; the
authority and auditors see every department's applications. What each application may read is decided by
its grants alone; the page lists the grants bound to it and the calls it made."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.errors import GongshuError, Invalid
from gongshu.sharing.service import access, apps, grants
from gongshu.sharing.views_common import BASE, vocab, whole
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)
APPS = BASE + "/apps"


def apps_page(request: Request, session: Session, actor: Actor, *, error: GongshuError | None = None,
              done: str = "", secret: dict[str, Any] | None = None, values: dict[str, str] | None = None) -> Response:
    """The applications page; ``secret``: ``{"app": Application, "secret": str}`` to show this once."""
    view_all = can(actor, "sharing.view_all")
    may_manage = actor.org_id is not None and can(actor, "sharing.app.manage", org_id=actor.org_id)
    if not (view_all or may_manage):
        auth_service.require(actor, "sharing.app.manage", org_id=actor.org_id)
    rows = apps.list_applications(session, actor=actor)
    bound: dict[int, list] = {}
    for g in grants.list_grants(session, actor=actor, role="all" if view_all else "consumer"):
        if g.application_id is not None:
            bound.setdefault(g.application_id, []).append(g)
    response = render(request, "sharing/apps.html", {
        **vocab(), "rows": rows, "bound": bound, "may_manage": may_manage, "view_all": view_all, "error": error,
        "done": done, "secret": secret, "values": values or {}, "DEFAULT_RATE": apps.DEFAULT_RATE,
        "MAX_RATE": apps.MAX_RATE, "orgs": {o.id: o for o in auth_service.orgs(session)},
        "api_base": str(request.base_url).rstrip("/"),
        "HEADERS": (access.HEADER_CLIENT_ID, access.HEADER_CLIENT_SECRET, access.HEADER_END_USER,
                    access.HEADER_PURPOSE),
    }, status_code=error.status if error else 200)
    if secret is not None:  # a page carrying a secret is never stored by the browser or a proxy
        response.headers["Cache-Control"] = "no-store"
    return response


def _rate(value: str) -> int | None:
    return whole(value, "rate_per_minute", "调用频率上限（次/分钟）", "The rate limit (calls per minute)")


@router.get(APPS, response_class=HTMLResponse)
def apps_view(request: Request, done: str = "", actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    return apps_page(request, session, actor, done=done)


@router.post(APPS, response_class=HTMLResponse)
def apps_register(request: Request, name: str = Form(""), rate_per_minute: str = Form(""),
                  actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    values = {"name": name, "rate_per_minute": rate_per_minute}
    try:
        app, secret = apps.register(session, actor=actor, name=name,
                                    rate_per_minute=_rate(rate_per_minute) or apps.DEFAULT_RATE)
    except GongshuError as exc:
        session.rollback()
        return apps_page(request, session, actor, error=exc, values=values)
    return apps_page(request, session, actor, done="register", secret={"app": app, "secret": secret})


@router.post(APPS + "/{application_id:int}/{step:str}", response_class=HTMLResponse)
def apps_step(application_id: int, step: str, request: Request, reason: str = Form(""),
              rate_per_minute: str = Form(""), actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    if step not in ("rotate", "deactivate", "rate"):
        raise Invalid(f"未知操作：{step}", f"Unknown step: {step}")
    try:
        if step == "rotate":
            app, secret = apps.rotate(session, actor=actor, application_id=application_id)
            return apps_page(request, session, actor, done="rotate", secret={"app": app, "secret": secret})
        if step == "deactivate":
            apps.deactivate(session, actor=actor, application_id=application_id, reason=reason)
        else:
            rate = _rate(rate_per_minute)
            if rate is None:
                raise Invalid("请填写每分钟调用次数上限", "Give the rate limit in calls per minute", field="rate_per_minute")
            apps.set_rate(session, actor=actor, application_id=application_id, rate_per_minute=rate)
    except GongshuError as exc:
        session.rollback()
        return apps_page(request, session, actor, error=exc)
    return RedirectResponse(f"{APPS}?done={step}", status_code=303)
