"""Applications for conditionally open data (R-OPN-2) in the browser: the applicant applies on the dataset's
page, sees its applications on its account page and accepts the data use agreement there; the source
department decides in the workbench (deadline in working days), and may revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, Invalid
from gongshu.opendata.models import APPLICATION_STATUS, OpenAccount
from gongshu.opendata.service import applications
from gongshu.opendata.views_accounts import BASE, account_page, signed_in
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
WORKBENCH = "/workbench/opendata/applications"
WORKBENCH_LINKS.append((WORKBENCH, "有条件开放数据申请", "Applications for conditional data", "opendata.application.view"))


@router.post("/open/datasets/{ref}/apply", response_class=HTMLResponse)
def apply(ref: str, request: Request, purpose: str = Form(""), capability: str = Form(""), measures: str = Form(""),
          delivery: str = Form("download"), account: OpenAccount = Depends(signed_in),
          session: Session = Depends(get_db)) -> Response:
    try:
        applications.apply(session, account=account, dataset_ref=ref, purpose=purpose, capability=capability,
                           measures=measures, delivery=delivery)
    except GongshuError as exc:
        session.rollback()
        return account_page(request, session, account, error=exc)
    return RedirectResponse(BASE + "?done=applied#applications", status_code=303)


@router.post(BASE + "/applications/{application_id:int}/{step}", response_class=HTMLResponse)
def applicant_step(application_id: int, step: str, request: Request, agreement_sm3: str = Form(""),
                   account: OpenAccount = Depends(signed_in), session: Session = Depends(get_db)) -> Response:
    try:
        if step == "accept":
            applications.accept(session, account=account, application_id=application_id,
                                agreement_sm3_seen=agreement_sm3)
        elif step == "withdraw":
            applications.withdraw(session, account=account, application_id=application_id)
        else:
            raise Invalid(f"未知的操作：{step}", f"Unknown step: {step}", field="step")
    except GongshuError as exc:
        session.rollback()
        return account_page(request, session, account, error=exc)
    return RedirectResponse(f"{BASE}?done={step}#applications", status_code=303)


def department_page(request: Request, session: Session, actor: Actor, *, status: str = "",
                    error: GongshuError | None = None) -> Response:
    items = applications.of_department(session, actor=actor, status=status or None)
    entries = catalog_entries.load_many(session, entry_ids=list({a.entry_id for a in items})) if items else {}
    left = {}
    if items:
        open_tasks = [t for a in items for t in tasks_service.for_subject(session, subject_type="open_application",
                                                                           subject_id=a.id) if t.status == "open"]
        days = tasks_service.remaining_workdays(session, open_tasks)
        left = {int(t.subject_id): days.get(t.id) for t in open_tasks}
    return render(request, "opendata/applications.html", {
        "items": items, "entries": entries, "status": status, "STATUS": APPLICATION_STATUS,
        "DELIVERY": applications.DELIVERY, "left": left, "error": error,
        "accounts": applications.applicants(session, account_ids=[a.account_id for a in items]),
    }, status_code=error.status if error else 200)


@router.get(WORKBENCH, response_class=HTMLResponse)
def department_view(request: Request, status: str = "", actor: Actor = Depends(page_actor),
                    session: Session = Depends(get_db)) -> Response:
    return department_page(request, session, actor, status=status)


@router.post(WORKBENCH + "/{application_id:int}/{step}", response_class=HTMLResponse)
def department_step(application_id: int, step: str, request: Request, note: str = Form(""),
                    term_days: str = Form("365"), actor: Actor = Depends(page_actor),
                    session: Session = Depends(get_db)) -> Response:
    try:
        if step == "approve":
            if not term_days.strip().isdigit():
                raise Invalid("使用期限应为天数（整数）", "The term is a number of days", field="term_days")
            applications.approve(session, actor=actor, application_id=application_id, term_days=int(term_days),
                                 note=note)
        elif step == "refuse":
            applications.refuse(session, actor=actor, application_id=application_id, note=note)
        elif step == "revoke":
            applications.revoke(session, actor=actor, application_id=application_id, note=note)
        else:
            raise Invalid(f"未知的操作：{step}", f"Unknown step: {step}", field="step")
    except GongshuError as exc:
        session.rollback()
        return department_page(request, session, actor, error=exc)
    return RedirectResponse(f"{WORKBENCH}?done={step}", status_code=303)
