"""A grant's page (授权): what it allows, its deadlines, the security agreement, usage reports and revocation —
and, for the consumer department's staff, the data itself in the browser ("use the data", R-SHR-4/5).

Every use goes through the same services as applications do, so it passes the one grant check and writes
its access event (allowed or refused): verification (:mod:`.service.verify`, match / no match / not found),
on-platform analysis (:mod:`.service.analysis`, SQL over the ``granted`` view), exchange packages
(:mod:`.service.exchange`: build, download the file and its signed manifest, acknowledge receipt, verify
offline), and for API mode one record by its key (:func:`.service.access.lookup_for_staff`) beside what an
application needs (the endpoints, headers and the department's applications). The staff member is the end
user (经办人) of the call; verification and lookups ask for the case number (事项编号) they serve. Verification and analysis end the page's database transaction before the call and
record the call's evidence after it (:func:`.service.access.finish`), as the API does; exchange deliveries
write their evidence in the page's transaction, which is committed before a file is sent. For API mode the
page shows what an application needs: the endpoints, headers and the department's applications.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Forbidden, GongshuError, Invalid
from gongshu.sharing.models import Grant
from gongshu.sharing.service import (
    access,
    analysis,
    apps,
    emergency,
    exchange,
    grants,
    requests,
    usage,
    verify,
)
from gongshu.sharing.service.projection import Staff
from gongshu.sharing.views_common import BASE, vocab, whole, workdays_left
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)

#: the action a consumer's staff member needs to use a grant of each mode in the browser
USE_ACTIONS = {"verify": "sharing.verify.check", "analysis": "sharing.analysis.run",
               "exchange": "sharing.exchange.build", "api": "sharing.api.use"}
#: store item types as the page names them
TYPE_NAMES = {"C": "字符", "N": "数值", "Y": "货币", "D": "日期", "T": "日期时间", "L": "逻辑", "M": "备注",
              "G": "通用(二进制)", "B": "双精度", "I": "整型", "F": "浮点"}
PACKAGE_KINDS = {"auto": ("自动（可增量则增量）", "Automatic (incremental when possible)"),
                 "full": ("全量", "Full"), "incremental": ("增量", "Incremental")}
PACKAGE_STATUS = {"ready": ("待确认接收", "Awaiting receipt"), "received": ("已确认接收", "Received"),
                  "destroyed": ("已销毁", "Destroyed")}
ANALYSIS_ROWS = (100, 1000, analysis.MAX_ROWS)
MAX_PURPOSE = 100


# The page ------------------------------------------------------------------------------------------------

def _use_panel(session: Session, actor: Actor, g: Grant) -> dict[str, Any] | None:
    """What the consumer's staff see to use the grant (None for everyone else): whether it may be used now
    and why not, the granted items (type, key, masked), and per mode its packages or applications."""
    if actor.org_id != g.consumer_org_id or not can(actor, "sharing.grant.view", org_id=g.consumer_org_id):
        return None
    panel: dict[str, Any] = {"mode": g.mode, "allowed": can(actor, USE_ACTIONS[g.mode], org_id=g.consumer_org_id),
                             "blocked": None, "columns": [], "keys": [], "version": None}
    try:
        grants.usable(session, grant_id=g.id, consumer_org_id=g.consumer_org_id, mode=g.mode)
        served = grants.granted_columns(session, g)
    except Forbidden as exc:
        panel["blocked"] = exc
    else:
        keys = {c.label for c in served.keys}
        panel["columns"] = [{"label": c.label, "type": c.type, "masked": c.label in served.masked,
                             "key": c.label in keys} for c in served.granted]
        panel["keys"] = [c.label for c in served.keys]
        panel["version"] = served.version.number
    if g.mode == "exchange":
        panel["packages"] = exchange.list_packages(session, actor=actor, grant_id=g.id)
        panel["may_receive"] = can(actor, "sharing.exchange.receive", org_id=g.consumer_org_id)
        signed = next((p for p in panel["packages"] if p.signature), None)
        panel["signer"] = exchange.envelope(signed)["signature"] if signed is not None else None
    if g.mode == "api":
        panel["may_manage_apps"] = can(actor, "sharing.app.manage", org_id=g.consumer_org_id)
        panel["apps"] = [a for a in apps.list_applications(session, actor=actor) if a.active] \
            if panel["may_manage_apps"] else []
        panel["bound"] = next((a for a in panel["apps"] if a.id == g.application_id), None)
    return panel


def grant_page(request: Request, session: Session, actor: Actor, grant_id: int, *, error: GongshuError | None = None,
               done: str = "", use: dict[str, Any] | None = None, use_error: GongshuError | None = None) -> Response:
    """The grant's page; ``use``: the values and answer of a use of the data, ``use_error``: why it failed."""
    g = grants.get_grant(session, actor=actor, grant_id=grant_id)
    req = requests.get_request(session, actor=actor, request_id=g.request_id)
    side = {"source_org_id": g.source_org_id} if actor.org_id == g.source_org_id \
        else {"consumer_org_id": g.consumer_org_id}
    may_revoke = g.status in ("awaiting_delivery", "active", "suspended") and (
        (actor.org_id == g.source_org_id and can(actor, "sharing.grant.revoke"))
        or (actor.is_authority and can(actor, "sharing.grant.revoke")))
    failed = error or use_error
    return render(request, "sharing/grant_detail.html", {
        **vocab(), "g": g, "r": req, "error": error, "done": done, "may_revoke": may_revoke,
        "may_agree": g.agreement_accepted_at is None and actor.org_id == g.consumer_org_id
        and can(actor, "sharing.grant.agree", org_id=g.consumer_org_id),
        "orgs": {o.id: o for o in auth_service.orgs(session)},
        "entry": catalog_entries.fetch(session, entry_id=g.entry_id),
        "usage": [u for u in grants.usage(session, actor=actor, **side)
                  if u["entry_id"] == g.entry_id and u["consumer_org_id"] == g.consumer_org_id],
        "expires_left": (g.expires_on - tasks_service.today()).days if g.expires_on else None,
        "delivery_left": workdays_left(session, g.delivery_due) if g.status == "awaiting_delivery" else None,
        "reports": usage.reports_of(session, actor=actor, grant=g),
        "may_report": actor.org_id == g.consumer_org_id and can(actor, "sharing.usage.report", org_id=g.consumer_org_id),
        "packages": emergency.packages_of_grant(session, grant_id=g.id),
        "may_confirm": g.emergency_id is not None and actor.org_id == g.consumer_org_id
        and can(actor, "sharing.emergency.confirm", org_id=g.consumer_org_id),
        "may_see_log": can(actor, "sharing.view_all") or can(actor, "sharing.access.view", org_id=actor.org_id),
        "panel": _use_panel(session, actor, g), "use": use or {}, "use_error": use_error,
        "TYPE_NAMES": TYPE_NAMES, "PACKAGE_KINDS": PACKAGE_KINDS, "PACKAGE_STATUS": PACKAGE_STATUS,
        "FORMATS": exchange.FORMATS, "ANALYSIS_ROWS": ANALYSIS_ROWS, "api_base": str(request.base_url).rstrip("/"),
    }, status_code=failed.status if failed else 200)


@router.get(BASE + "/grants/{grant_id:int}", response_class=HTMLResponse)
def grant_view(grant_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return grant_page(request, session, actor, grant_id, done=done)


@router.post(BASE + "/grants/{grant_id:int}/{step:str}", response_class=HTMLResponse)
async def grant_step(grant_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
                     session: Session = Depends(get_db)) -> Response:
    if step not in ("revoke", "agree", "report", "destroyed"):
        raise Invalid(f"未知操作：{step}", f"Unknown step: {step}")
    form = await request.form()
    try:
        if step == "revoke":
            grants.revoke(session, actor=actor, grant_id=grant_id, reason=str(form.get("reason", "") or ""))
        elif step == "report":
            usage.file_report(session, actor=actor, report_id=whole(str(form.get("report_id", "") or ""), "report_id")
                              or 0, text=str(form.get("text", "") or ""))
        elif step == "destroyed":
            emergency.confirm_destroyed(session, actor=actor, package_id=whole(str(form.get("package_id", "") or ""),
                                                                               "package_id") or 0,
                                        note=str(form.get("note", "") or ""))
        else:
            grants.accept_agreement(session, actor=actor, grant_id=grant_id)
    except GongshuError as exc:
        session.rollback()
        return grant_page(request, session, actor, grant_id, error=exc)
    return RedirectResponse(f"{BASE}/grants/{grant_id}?done={step}", status_code=303)


# Using the data: verification and analysis ------------------------------------------------------------

def _call(session: Session, run: Callable[[], access.Outcome]) -> tuple[dict[str, Any] | None, GongshuError | None]:
    """Run a use of the data as the API does: the page's transaction ends first, the call only reads, its
    transaction ends, then its access events are recorded (blocking until committed) — only then the answer."""
    session.commit()
    try:
        outcome = run()
    finally:
        session.rollback()
    try:
        return access.finish(outcome), None
    except GongshuError as exc:
        return None, exc


def _purpose(value: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise Invalid("请填写事项编号（办理的业务事项或案卷编号），它会记入访问记录",
                      "Give the case number (事项编号) of the matter served; it is written into the access record",
                      field="purpose")
    if len(text) > MAX_PURPOSE:
        raise Invalid(f"事项编号不能超过 {MAX_PURPOSE} 个字符", f"The case number may have at most {MAX_PURPOSE} "
                      "characters", field="purpose")
    return text


@router.post(BASE + "/grants/{grant_id:int}/use/verify", response_class=HTMLResponse)
def use_verify(grant_id: int, request: Request, purpose: str = Form(""), key: list[str] = Form([]),
               item: str = Form(""), op: str = Form("eq"), value: str = Form(""), low: str = Form(""),
               high: str = Form(""), actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    """One check: does the record with this key have item = value (or item in low..high)?"""
    values = {"purpose": purpose, "key": key, "item": item, "op": op, "value": value, "low": low, "high": high}
    try:
        staff = Staff(actor, purpose=_purpose(purpose, required=True))
        check: dict[str, Any] = {"key": key[0] if len(key) == 1 else key, "item": item}
        if op == "range":
            if not low.strip() and not high.strip():
                raise Invalid("按范围核验请至少填写下限或上限", "For a range check give a lower or an upper bound",
                              field="low")
            check.update({"min": low or None, "max": high or None})
        elif not value.strip():
            raise Invalid("请填写要核验的值", "Give the value to verify", field="value")
        else:
            check["value"] = value
    except GongshuError as exc:
        return grant_page(request, session, actor, grant_id, use={"verify": values}, use_error=exc)
    body, exc = _call(session, lambda: verify.check(session, who=staff, grant_id=grant_id, body={"checks": [check]}))
    answer = {"result": body["results"][0], "version": body["version"]} if body else None
    return grant_page(request, session, actor, grant_id, use={"verify": values, "verified": answer}, use_error=exc)


@router.post(BASE + "/grants/{grant_id:int}/use/lookup", response_class=HTMLResponse)
def use_lookup(grant_id: int, request: Request, purpose: str = Form(""), key: list[str] = Form([]),
               actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    """One record of an API grant by its key: the granted items, masked where the grant says."""
    values = {"purpose": purpose, "key": key}
    try:
        text = _purpose(purpose, required=True)
        if not key or not all(k.strip() for k in key):
            raise Invalid("请填写要查询的主键值", "Give the key of the record to look up", field="key")
    except GongshuError as exc:
        return grant_page(request, session, actor, grant_id, use={"lookup": values}, use_error=exc)
    body, exc = _call(session, lambda: access.lookup_for_staff(
        session, actor=actor, grant_id=grant_id, key=key[0] if len(key) == 1 else key, purpose=text))
    return grant_page(request, session, actor, grant_id, use={"lookup": values, "found": body}, use_error=exc)


@router.post(BASE + "/grants/{grant_id:int}/use/analysis", response_class=HTMLResponse)
def use_analysis(grant_id: int, request: Request, sql: str = Form(""), max_rows: str = Form(""),
                 purpose: str = Form(""), actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    """One read-only query over the grant's ``granted`` view; the results, never the tables."""
    values = {"sql": sql, "max_rows": max_rows, "purpose": purpose}
    try:
        staff = Staff(actor, purpose=_purpose(purpose, required=False))
        rows = whole(max_rows, "max_rows", "返回行数上限", "The maximum rows returned")
    except GongshuError as exc:
        return grant_page(request, session, actor, grant_id, use={"analysis": values}, use_error=exc)
    body, exc = _call(session, lambda: analysis.run(session, who=staff, grant_id=grant_id, sql=sql, max_rows=rows))
    return grant_page(request, session, actor, grant_id, use={"analysis": values, "answer": body}, use_error=exc)


# Using the data: exchange packages -----------------------------------------------------------------------

@router.post(BASE + "/grants/{grant_id:int}/use/exchange", response_class=HTMLResponse)
def use_exchange(grant_id: int, request: Request, kind: str = Form("auto"), fmt: str = Form("csv"),
                 purpose: str = Form(""), actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    """Build a package of the grant now (full, incremental or automatic; CSV or Parquet)."""
    values = {"kind": kind, "fmt": fmt, "purpose": purpose}
    try:
        exchange.build(session, actor=actor, grant_id=grant_id, fmt=fmt, kind=kind,
                             purpose=_purpose(purpose, required=False))
    except GongshuError as exc:
        session.rollback()
        return grant_page(request, session, actor, grant_id, use={"exchange": values}, use_error=exc)
    return RedirectResponse(f"{BASE}/grants/{grant_id}?done=build#use-data", status_code=303)


def _package_grant(session: Session, actor: Actor, package_id: int) -> int:
    return exchange.get_package(session, actor=actor, package_id=package_id).grant_id


@router.post(BASE + "/packages/{package_id:int}/file", response_model=None)
def package_file(package_id: int, request: Request, actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    """The package's data file: a delivery, so its access event is committed before the file is sent."""
    grant_id = _package_grant(session, actor, package_id)
    try:
        got = exchange.download(session, actor=actor, package_id=package_id)
    except GongshuError as exc:
        session.rollback()
        return grant_page(request, session, actor, grant_id, use={}, use_error=exc)
    session.commit()
    return FileResponse(got.path, media_type=got.media_type, filename=got.filename,
                        headers={"X-Content-SM3": got.sm3, "Cache-Control": "no-store"})


@router.get(BASE + "/packages/{package_id:int}/manifest")
def package_manifest(package_id: int, actor: Actor = Depends(page_actor),
                     session: Session = Depends(get_db)) -> Response:
    """The signed manifest (envelope) of a package: metadata and signature, no data."""
    pkg = exchange.get_package(session, actor=actor, package_id=package_id)
    name = (pkg.manifest.get("file_name") or f"package-{pkg.id}") + exchange.ENVELOPE_SUFFIX
    return Response(exchange.envelope_bytes(pkg), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post(BASE + "/packages/{package_id:int}/receive", response_class=HTMLResponse)
def package_receive(package_id: int, request: Request, sm3: str = Form(""), actor: Actor = Depends(page_actor),
                    session: Session = Depends(get_db)) -> Response:
    """The consumer acknowledges receipt (optionally with the SM3 it computed, which must match)."""
    grant_id = _package_grant(session, actor, package_id)
    try:
        exchange.receive(session, actor=actor, package_id=package_id, sm3=sm3.strip() or None)
    except GongshuError as exc:
        session.rollback()
        return grant_page(request, session, actor, grant_id, use={"receive": {"package": package_id, "sm3": sm3}},
                          use_error=exc)
    return RedirectResponse(f"{BASE}/grants/{grant_id}?done=receive#use-data", status_code=303)
