"""The portal's account pages (R-OPN-3): register (natural or legal person), sign in and out, real-name
verification, API keys (the secret shown once). Anonymous forms carry a double-submit token (cookie
``gongshu_open_form`` and a hidden field); signed-in forms the session's CSRF token."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.catalog.service import entries as catalog_entries
from gongshu.config import get_settings
from gongshu.errors import GongshuError, Invalid
from gongshu.opendata.models import ACCOUNT_KINDS, API_SCOPES, APPLICATION_STATUS, OpenAccount
from gongshu.opendata.service import accounts, applications
from gongshu.web.deps import LoginRequired, check_csrf, get_db, render

router = APIRouter(include_in_schema=False)
SESSION_COOKIE = accounts.SESSION_COOKIE
FORM_COOKIE = "gongshu_open_form"
BASE = "/open/account"


class SignInRequired(LoginRequired):
    """A portal page needs a signed-in account: the error handler redirects to the portal's sign-in page."""

    login_url = BASE + "/login"


async def portal_account(request: Request, session: Session = Depends(get_db)) -> OpenAccount | None:
    """The signed-in portal account, if any (its CSRF token checked on unsafe methods)."""
    token = request.cookies.get(SESSION_COOKIE)
    found = accounts.session_account(session, token=token) if token else None
    if found is None:
        return None
    account, row = found
    await check_csrf(request, row.csrf_token)
    request.state.csrf_token = row.csrf_token
    request.state.open_account = account
    return account


async def signed_in(account: OpenAccount | None = Depends(portal_account)) -> OpenAccount:
    if account is None:
        raise SignInRequired("请先登录开放平台账户", "Sign in to your open data account first")
    return account


def _form_page(request: Request, template: str, context: dict, status: int = 200) -> Response:
    token = secrets.token_urlsafe(16)
    resp = render(request, template, {**context, "form_token": token, "KINDS": ACCOUNT_KINDS}, status_code=status)
    resp.set_cookie(FORM_COOKIE, token, httponly=True, samesite="lax", secure=get_settings().secure_cookies)
    return resp


def _check_form(request: Request, sent: str) -> None:
    cookie = request.cookies.get(FORM_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, sent or ""):
        raise Invalid("表单已失效，请重新打开页面", "The form expired; open the page again", field="form_token")


def _signed_in_response(session: Session, account: OpenAccount, to: str) -> Response:
    token, _row = accounts.open_session(session, account=account)
    resp = RedirectResponse(to, status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=get_settings().secure_cookies,
                    max_age=accounts.SESSION_HOURS * 3600)
    resp.delete_cookie(FORM_COOKIE)
    return resp


@router.get(BASE + "/register", response_class=HTMLResponse)
def register_page(request: Request) -> Response:
    return _form_page(request, "opendata/account_register.html", {"form": {"kind": "person"}, "error": None})


@router.post(BASE + "/register", response_class=HTMLResponse)
def register(request: Request, kind: str = Form(""), username: str = Form(""), display_name: str = Form(""),
             password: str = Form(""), email: str = Form(""), form_token: str = Form(""),
             session: Session = Depends(get_db)) -> Response:
    form = {"kind": kind, "username": username, "display_name": display_name, "email": email}
    try:
        _check_form(request, form_token)
        account = accounts.register(session, kind=kind, username=username, display_name=display_name,
                                    password=password, email=email)
    except GongshuError as exc:
        session.rollback()
        return _form_page(request, "opendata/account_register.html", {"form": form, "error": exc}, exc.status)
    return _signed_in_response(session, account, BASE + "?done=registered")


@router.get(BASE + "/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> Response:
    return _form_page(request, "opendata/account_login.html", {"error": None, "next": _safe(next), "username": ""})


def _safe(nxt: str) -> str:
    return nxt if nxt.startswith("/open") and not nxt.startswith("//") else BASE


@router.post(BASE + "/login", response_class=HTMLResponse)
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form(""),
          form_token: str = Form(""), session: Session = Depends(get_db)) -> Response:
    try:
        _check_form(request, form_token)
        account = accounts.authenticate(session, username=username, password=password)
    except GongshuError as exc:
        session.commit()  # keep the failure counter and its audit event
        return _form_page(request, "opendata/account_login.html",
                          {"error": exc, "next": _safe(next), "username": username}, exc.status)
    return _signed_in_response(session, account, _safe(next))


@router.post(BASE + "/logout")
def logout(request: Request, account: OpenAccount = Depends(signed_in), session: Session = Depends(get_db)) -> Response:
    accounts.close_session(session, token=request.cookies.get(SESSION_COOKIE, ""))
    resp = RedirectResponse("/open", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


def account_page(request: Request, session: Session, account: OpenAccount, *, error: GongshuError | None = None,
                 new_key: str = "", form: dict | None = None) -> Response:
    mine = applications.of_account(session, account=account)
    entries = catalog_entries.load_many(session, entry_ids=list({a.entry_id for a in mine})) if mine else {}
    resp = render(request, "opendata/account.html", {
        "applications": mine, "app_entries": entries, "APP_STATUS": APPLICATION_STATUS,
        "DELIVERY": applications.DELIVERY, "agreement": applications.agreement_text(),
        "agreement_sm3": applications.agreement_sm3(),
        "account": account, "keys": accounts.keys_of(session, account=account), "error": error, "new_key": new_key,
        "form": form or {}, "KINDS": ACCOUNT_KINDS, "SCOPES": API_SCOPES, "attempts_left":
        accounts.MAX_VERIFY_ATTEMPTS - account.verify_attempts}, status_code=error.status if error else 200)
    if new_key:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@router.get(BASE, response_class=HTMLResponse)
def account_view(request: Request, account: OpenAccount | None = Depends(portal_account),
                 session: Session = Depends(get_db)) -> Response:
    if account is None:
        return RedirectResponse(BASE + "/login?next=" + BASE, status_code=303)
    return account_page(request, session, account)


@router.post(BASE + "/verify", response_class=HTMLResponse)
def verify(request: Request, identifier: str = Form(""), name: str = Form(""),
           account: OpenAccount = Depends(signed_in), session: Session = Depends(get_db)) -> Response:
    try:
        accounts.verify_real_name(session, account=account, identifier=identifier, name=name)
    except GongshuError as exc:
        if getattr(exc, "keep", False):
            session.commit()  # the attempt counts
        else:
            session.rollback()
        return account_page(request, session, account, error=exc, form={"name": name})
    return RedirectResponse(BASE + "?done=verified", status_code=303)


@router.post(BASE + "/keys", response_class=HTMLResponse)
def create_key(request: Request, name: str = Form(""), scopes: list[str] = Form([]), days: str = Form("365"),
               account: OpenAccount = Depends(signed_in), session: Session = Depends(get_db)) -> Response:
    try:
        if not days.strip().isdigit():
            raise Invalid("有效期应为天数（整数）", "The validity is a number of days", field="days")
        plain, _key = accounts.create_key(session, account=account, name=name, scopes=scopes, days=int(days))
    except GongshuError as exc:
        session.rollback()
        return account_page(request, session, account, error=exc, form={"key_name": name})
    return account_page(request, session, account, new_key=plain)


@router.post(BASE + "/keys/{key_id:int}/revoke", response_class=HTMLResponse)
def revoke_key(key_id: int, request: Request, account: OpenAccount = Depends(signed_in),
               session: Session = Depends(get_db)) -> Response:
    accounts.revoke_key(session, account=account, key_id=key_id)
    return RedirectResponse(BASE + "?done=revoked", status_code=303)
