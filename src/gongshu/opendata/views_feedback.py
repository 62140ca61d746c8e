"""The public's feedback on the portal and its handling in the workbench: open data requests (R-OPN-4) and error
reports on open datasets (R-OPN-5).

Public (no login): ``/open/requests`` (the list, newest first), ``/open/requests/new`` (the form, with the
catalogue's search to find whether the data is open already or which entry it relates to), ``/open/requests/{id}``,
the submitter's tracking pages ``/open/requests/track/{token}`` and ``/open/reports/track/{token}``, and the error
report form and list on each dataset's page (``opendata/_feedback_dataset.html``, fed by the template global
``open_feedback(ds)``). Anonymous submissions are limited per client address (the address uvicorn reports: behind
a reverse proxy, list the proxy in ``FORWARDED_ALLOW_IPS`` so it is the visitor's); beyond it, 429 with
``Retry-After``.

Workbench: ``/workbench/opendata/requests`` (the authority's triage queue, a department's requests to answer,
deadlines in working days, overdue ones) and ``/workbench/opendata/reports`` (error reports to answer)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, object_session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import search
from gongshu.errors import CalendarUnknown, GongshuError, Invalid
from gongshu.kit import textsearch
from gongshu.kit.pagination import Page
from gongshu.opendata.models import OpenAccount
from gongshu.opendata.models_feedback import REPORT_BADGE, REPORT_STATUS, REQUEST_BADGE, REQUEST_STATUS
from gongshu.opendata.service import datasets, error_reports, feedback, requests
from gongshu.opendata.views_accounts import portal_account
from gongshu.tasks import service as tasks
from gongshu.web.deps import TASK_LINKS, get_db, optional_actor, page_actor, render, templates
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
WORKBENCH_LINKS.append(("/workbench/opendata/requests", "开放需求办理", "Open data requests", "opendata.feedback.view"))
WORKBENCH_LINKS.append(("/workbench/opendata/reports", "开放数据纠错", "Error reports on open data",
                        "opendata.feedback.view"))
TASK_LINKS[requests.SUBJECT] = "/workbench/opendata/requests/{id}"
TASK_LINKS[error_reports.SUBJECT] = "/workbench/opendata/reports/{id}"
PAGE_SIZE = 20
MAX_PAGE = 10_000
SUGGESTIONS = 8
COMMON = {"REQUEST_STATUS": REQUEST_STATUS, "REQUEST_BADGE": REQUEST_BADGE, "REPORT_STATUS": REPORT_STATUS,
          "REPORT_BADGE": REPORT_BADGE}
PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _failed(request: Request, template: str, context: dict, exc: GongshuError) -> Response:
    response = render(request, template, {**COMMON, **context, "error": exc}, status_code=exc.status)
    if isinstance(exc, feedback.RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _int(value: str | None, field: str, zh: str, en: str) -> int | None:
    v = (value or "").strip()
    if not v:
        return None
    if not v.isdigit() or len(v) > 9:
        raise Invalid(f"{zh}应为编号（整数）", f"{en} must be an id (a whole number)", field=field)
    return int(v)


def _date(value: str | None, field: str, zh: str, en: str) -> date | None:
    v = (value or "").strip()
    if not v:
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise Invalid(f"{zh}应为日期（YYYY-MM-DD）", f"{en} must be a date (YYYY-MM-DD)", field=field) from None


def _left(session: Session, rows: list[Any]) -> dict[int, int | None]:
    """Working days from today to each row's ``due_on`` (negative: overdue by that many)."""
    cal, today, out = tasks.calendar(session), tasks.today(), {}
    for r in rows:
        try:
            out[r.id] = cal.workdays_between(today, r.due_on) if r.due_on else None
        except CalendarUnknown:
            out[r.id] = None
    return out


def _handling(session: Session, items: list[Any]) -> dict[str, Any]:
    """The context of ``_work_items.html``: a subject's inbox items, working days left, the orgs."""
    return {"items": items, "left": tasks.remaining_workdays(session, items),
            "orgs": {o.id: o for o in auth_service.orgs(session)}}


# The dataset page's block (error reports) -----------------------------------------------------------------

def open_feedback(ds: datasets.Dataset) -> dict[str, Any]:
    """For ``opendata/_feedback_dataset.html`` on a dataset's page: the dataset's public reports and their counts
    (read in the page's own session and transaction)."""
    session = object_session(ds.entry)
    if session is None:
        return {"reports": [], "counts": {}, **COMMON}
    reports, counts = error_reports.public_for_entry(session, entry_id=ds.entry.id)
    return {"reports": reports, "counts": counts, **COMMON}


templates.env.globals["open_feedback"] = open_feedback


# Open data requests: public pages ------------------------------------------------------------------------

@router.get("/open/requests", response_class=HTMLResponse)
def requests_page(request: Request, status: str = "", org: str = "", page: str = "1",
                  session: Session = Depends(get_db)) -> Response:
    try:
        number = min(max(int(page), 1), MAX_PAGE) if page.strip().lstrip("-").isdigit() else 1
        org_id = _int(org, "org", "部门", "The department")
        rows, total = requests.public_list(session, page=Page(number, PAGE_SIZE), status=status or None,
                                           org_id=org_id)
    except GongshuError as exc:
        return _failed(request, "opendata/feedback_requests.html", {
            "rows": [], "total": 0, "status": status, "page": 1, "pages": 1, "counts": {}, "names": {},
            "entries": {}, "url": lambda p: "/open/requests", "dataset_url": _dataset_url}, exc)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)

    def url(p: int) -> str:
        pairs = [(k, v) for k, v in (("status", status), ("org", org)) if v] + ([("page", str(p))] if p > 1 else [])
        return "/open/requests" + ("?" + urlencode(pairs) if pairs else "")

    return render(request, "opendata/feedback_requests.html", {
        **COMMON, "rows": rows, "total": total, "status": status, "page": number, "pages": pages, "url": url,
        "counts": requests.public_counts(session), "names": requests.org_names(session),
        "entries": requests.labels_for(session, requests=rows), "dataset_url": _dataset_url})


def _dataset_url(code: str) -> str:
    return "/open/datasets/" + datasets.slug(code)


def _request_form(request: Request, session: Session, *, q: str = "", entry: str = "", form: dict | None = None,
                  error: GongshuError | None = None) -> Response:
    """The request form with, for ``q``, the catalogue search's hits (those already open link to their page)."""
    form = dict(form or {})
    hits, opened, search_error, chosen = [], set(), None, None
    q = (q or "").strip()
    if q:
        try:
            result = search.search(session, actor=None, q=q, page=Page(1, SUGGESTIONS))
            hits = result.hits
            opened = datasets.opened_ids(session) & {h.entry_id for h in hits}
        except GongshuError as exc:
            search_error = exc
    entry_id = form.get("entry_id") or entry
    if entry_id:
        try:
            chosen = requests.public_entry(session, entry_id=_int(str(entry_id), "entry_id", "目录", "The entry"))
        except GongshuError as exc:
            search_error = search_error or exc
    context = {**COMMON, "form": form, "q": q, "hits": hits, "opened": opened, "search_error": search_error,
               "chosen": chosen, "holders": requests.holders(session), "dataset_url": _dataset_url,
               "max_query": textsearch.MAX_QUERY}
    if error is not None:
        return _failed(request, "opendata/feedback_request_form.html", context, error)
    return render(request, "opendata/feedback_request_form.html", context)


@router.get("/open/requests/new", response_class=HTMLResponse)
def new_request_page(request: Request, q: str = "", entry: str = "", session: Session = Depends(get_db),
                     _account: OpenAccount | None = Depends(portal_account)) -> Response:
    return _request_form(request, session, q=q, entry=entry, form={"title": q.strip()[:requests.MAX_TITLE]})


@router.post("/open/requests", response_class=HTMLResponse)
def submit_request(request: Request, title: str = Form(""), description: str = Form(""), purpose: str = Form(""),
                   org_id: str = Form(""), entry_id: str = Form(""), contact_name: str = Form(""),
                   contact_email: str = Form(""), contact_mobile: str = Form(""),
                   actor: Actor | None = Depends(optional_actor), session: Session = Depends(get_db),
                   account: OpenAccount | None = Depends(portal_account)) -> Response:
    form = {"title": title, "description": description, "purpose": purpose, "org_id": org_id,
            "entry_id": entry_id, "contact_name": contact_name, "contact_email": contact_email,
            "contact_mobile": contact_mobile}
    try:
        _r, token = requests.submit(
            session, actor=actor, client=_client(request), title=title, description=description, purpose=purpose,
            contact_name=contact_name, contact_email=contact_email, contact_mobile=contact_mobile,
            org_id=_int(org_id, "org_id", "掌握数据的部门", "The department holding the data"),
            entry_id=_int(entry_id, "entry_id", "相关目录", "The related entry"), account=account)
    except GongshuError as exc:
        session.rollback()
        return _request_form(request, session, form=form, error=exc)
    return RedirectResponse(f"/open/requests/track/{token}?new=1", status_code=303)


def _request_context(session: Session, r: Any) -> dict[str, Any]:
    return {**COMMON, "r": r, "entries": requests.labels_for(session, requests=[r]),
            "duplicate_of": requests.public_or_none(session, request_id=r.duplicate_of_id),
            "dataset_url": _dataset_url,
            **_handling(session, requests.work_items(session, request_id=r.id))}


@router.get("/open/requests/{request_id:int}", response_class=HTMLResponse)
def request_page(request_id: int, request: Request, session: Session = Depends(get_db)) -> Response:
    r = requests.public_get(session, request_id=request_id)
    return render(request, "opendata/feedback_request.html", {**_request_context(session, r), "tracking": False})


@router.get("/open/requests/track/{token}", response_class=HTMLResponse)
def track_request_page(token: str, request: Request, new: str = "", session: Session = Depends(get_db),
                       _account: OpenAccount | None = Depends(portal_account)) -> Response:
    r = requests.track(session, token=token)
    contact = feedback.unseal(r.contact_sealed)
    response = render(request, "opendata/feedback_request.html", {
        **_request_context(session, r), "tracking": True, "token": token, "new": bool(new),
        "contact_masked": contact.masked if contact else ""})
    response.headers.update(PRIVATE_HEADERS)
    return response


@router.post("/open/requests/track/{token}/withdraw", response_class=HTMLResponse)
def withdraw_request(token: str, request: Request, reason: str = Form(""),
                     actor: Actor | None = Depends(optional_actor), session: Session = Depends(get_db),
                     account: OpenAccount | None = Depends(portal_account)) -> Response:
    try:
        requests.withdraw(session, token=token, reason=reason, account=account)
    except GongshuError as exc:
        session.rollback()
        r = requests.track(session, token=token)
        response = _failed(request, "opendata/feedback_request.html", {
            **_request_context(session, r), "tracking": True, "token": token, "new": False, "contact_masked": ""}, exc)
        response.headers.update(PRIVATE_HEADERS)
        return response
    return RedirectResponse(f"/open/requests/track/{token}", status_code=303)


# Error reports: public pages ------------------------------------------------------------------------------

def _report_form(request: Request, session: Session, ref: str, form: dict | None = None,
                 error: GongshuError | None = None) -> Response:
    ds = error_reports.dataset_of(session, ref=ref)
    context = {**COMMON, **open_feedback(ds), "ds": ds, "e": ds.snapshot, "slug": datasets.slug(ds.entry.code),
               "form": form or {}}
    if error is not None:
        return _failed(request, "opendata/feedback_report_form.html", context, error)
    return render(request, "opendata/feedback_report_form.html", context)


@router.get("/open/datasets/{ref}/reports/new", response_class=HTMLResponse)
def new_report_page(ref: str, request: Request, session: Session = Depends(get_db),
                    _account: OpenAccount | None = Depends(portal_account)) -> Response:
    return _report_form(request, session, ref)


@router.post("/open/datasets/{ref}/reports", response_class=HTMLResponse)
def submit_report(ref: str, request: Request, item: str = Form(""), row_ref: str = Form(""),
                  description: str = Form(""), suggestion: str = Form(""), version: str = Form(""),
                  contact_name: str = Form(""), contact_email: str = Form(""), contact_mobile: str = Form(""),
                  actor: Actor | None = Depends(optional_actor), session: Session = Depends(get_db),
                  account: OpenAccount | None = Depends(portal_account)) -> Response:
    form = {"item": item, "row_ref": row_ref, "description": description, "suggestion": suggestion,
            "version": version, "contact_name": contact_name, "contact_email": contact_email,
            "contact_mobile": contact_mobile}
    try:
        _r, token = error_reports.submit(
            session, actor=actor, client=_client(request), dataset=ref, item=item, row_ref=row_ref,
            description=description, suggestion=suggestion, version=version, contact_name=contact_name,
            contact_email=contact_email, contact_mobile=contact_mobile, account=account)
    except GongshuError as exc:
        session.rollback()
        return _report_form(request, session, ref, form, exc)
    return RedirectResponse(f"/open/reports/track/{token}?new=1", status_code=303)


@router.get("/open/reports/track/{token}", response_class=HTMLResponse)
def track_report_page(token: str, request: Request, new: str = "", session: Session = Depends(get_db)) -> Response:
    r = error_reports.track(session, token=token)
    contact = feedback.unseal(r.contact_sealed)
    entry = error_reports.entries_of(session, reports=[r]).get(r.entry_id)
    response = render(request, "opendata/feedback_report_track.html", {
        **COMMON, "r": r, "entry": entry, "open": datasets.is_open(session, entry_id=r.entry_id), "new": bool(new),
        "token": token, "contact_masked": contact.masked if contact else "", "dataset_url": _dataset_url,
        **_handling(session, error_reports.work_items(session, report_id=r.id))})
    response.headers.update(PRIVATE_HEADERS)
    return response


# The workbench: open data requests -----------------------------------------------------------------------

@router.get("/workbench/opendata/requests", response_class=HTMLResponse)
def wb_requests(request: Request, view: str = "waiting", status: str = "", actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    rows = requests.staff_list(session, actor=actor, view=view, status=status or None)
    return render(request, "opendata/feedback_wb_requests.html", {
        **COMMON, "rows": rows, "view": view, "status": status, "VIEWS": requests.VIEWS,
        "left": _left(session, rows), "names": requests.org_names(session),
        "may_triage": can(actor, "opendata.request.triage"),
        "triage_waiting": len(requests.staff_list(session, actor=actor, view="waiting", status="submitted"))
        if can(actor, "opendata.request.triage") else 0})


def _wb_request(request: Request, session: Session, actor: Actor, request_id: int,
                error: GongshuError | None = None, form: dict | None = None) -> Response:
    r = requests.get_for(session, actor=actor, request_id=request_id)
    suggestions = []
    try:
        words = r.title[:textsearch.MAX_QUERY]
        suggestions = search.search(session, actor=None, q=words, page=Page(1, 5),
                                    within=datasets.opened_ids_select()).hits
    except GongshuError:
        suggestions = []
    context = {
        **_request_context(session, r), "contact": requests.contact_of(session, actor=actor, request=r),
        "may_triage": can(actor, "opendata.request.triage") and r.status in ("submitted", "routed"),
        "may_answer": r.dept_org_id is not None and r.status in ("routed", "planned")
        and can(actor, "opendata.request.answer", org_id=r.dept_org_id),
        "holders": requests.holders(session), "suggestions": suggestions, "form": form or {},
        "due_left": _left(session, [r]).get(r.id), "today": tasks.today(),
    }
    if error is not None:
        return _failed(request, "opendata/feedback_wb_request.html", context, error)
    return render(request, "opendata/feedback_wb_request.html", context)


@router.get("/workbench/opendata/requests/{request_id:int}", response_class=HTMLResponse)
def wb_request(request_id: int, request: Request, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return _wb_request(request, session, actor, request_id)


REQUEST_STEPS = ("route", "duplicate", "out_of_scope", "fulfil", "refuse", "plan", "return")


@router.post("/workbench/opendata/requests/{request_id:int}/{step}", response_class=HTMLResponse)
def wb_request_step(request_id: int, step: str, request: Request, dept_org_id: str = Form(""), note: str = Form(""),
                    duplicate_of_id: str = Form(""), reason: str = Form(""), hide: str = Form(""),
                    dataset: str = Form(""), legal_basis: str = Form(""), planned_on: str = Form(""),
                    actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"step": step, "dept_org_id": dept_org_id, "note": note, "duplicate_of_id": duplicate_of_id,
            "reason": reason, "dataset": dataset, "legal_basis": legal_basis, "planned_on": planned_on}
    try:
        if step == "route":
            dept = _int(dept_org_id, "dept_org_id", "承办部门", "The department")
            if dept is None:
                raise Invalid("请选择承办部门", "Choose the department", field="dept_org_id")
            requests.route(session, actor=actor, request_id=request_id, dept_org_id=dept, note=note)
        elif step == "duplicate":
            other = _int(duplicate_of_id, "duplicate_of_id", "重复的需求编号", "The duplicated request")
            if other is None:
                raise Invalid("请填写与之重复的需求编号", "Give the id of the request it duplicates",
                              field="duplicate_of_id")
            requests.close_duplicate(session, actor=actor, request_id=request_id, duplicate_of_id=other, note=note)
        elif step == "out_of_scope":
            requests.close_out_of_scope(session, actor=actor, request_id=request_id, reason=reason, hide=bool(hide))
        elif step == "fulfil":
            requests.fulfil(session, actor=actor, request_id=request_id, dataset=dataset, note=note)
        elif step == "refuse":
            requests.refuse(session, actor=actor, request_id=request_id, reason=reason, legal_basis=legal_basis)
        elif step == "plan":
            requests.plan(session, actor=actor, request_id=request_id, note=note,
                          planned_on=_date(planned_on, "planned_on", "计划开放日期", "The planned date"))
        elif step == "return":
            requests.return_to_triage(session, actor=actor, request_id=request_id, reason=reason)
        else:
            raise Invalid(f"未知的操作：{step[:40]}", f"Unknown step: {step[:40]}", field="step")
    except GongshuError as exc:
        session.rollback()
        return _wb_request(request, session, actor, request_id, exc, form)
    return RedirectResponse(f"/workbench/opendata/requests/{request_id}?done={step}", status_code=303)


# The workbench: error reports ----------------------------------------------------------------------------

@router.get("/workbench/opendata/reports", response_class=HTMLResponse)
def wb_reports(request: Request, view: str = "waiting", actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    rows = error_reports.staff_list(session, actor=actor, view=view)
    return render(request, "opendata/feedback_wb_reports.html", {
        **COMMON, "rows": rows, "view": view, "VIEWS": error_reports.VIEWS, "left": _left(session, rows),
        "names": requests.org_names(session), "entries": error_reports.entries_of(session, reports=rows),
        "dataset_url": _dataset_url})


def _wb_report(request: Request, session: Session, actor: Actor, report_id: int,
               error: GongshuError | None = None, form: dict | None = None) -> Response:
    r = error_reports.get_for(session, actor=actor, report_id=report_id)
    handled = error_reports.handled_by(session, report_id=r.id)  # answered in the loop of data issues
    context = {
        **COMMON, "r": r, "entry": error_reports.entries_of(session, reports=[r]).get(r.entry_id),
        "handled_href": TASK_LINKS.get(handled[0], "#").format(id=handled[1]) if handled else "",
        "open": datasets.is_open(session, entry_id=r.entry_id),
        "contact": error_reports.contact_of(session, actor=actor, report=r), "form": form or {},
        "versions": error_reports.version_numbers(session, entry_id=r.entry_id),
        "may_answer": r.status in error_reports.WAITING and not handled
        and can(actor, "opendata.report.answer", org_id=r.org_id),
        "due_left": _left(session, [r]).get(r.id), "dataset_url": _dataset_url,
        **_handling(session, error_reports.work_items(session, report_id=r.id)),
    }
    if error is not None:
        return _failed(request, "opendata/feedback_wb_report.html", context, error)
    return render(request, "opendata/feedback_wb_report.html", context)


@router.get("/workbench/opendata/reports/{report_id:int}", response_class=HTMLResponse)
def wb_report(report_id: int, request: Request, actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    return _wb_report(request, session, actor, report_id)


@router.post("/workbench/opendata/reports/{report_id:int}/{step}", response_class=HTMLResponse)
def wb_report_step(report_id: int, step: str, request: Request, note: str = Form(""), reason: str = Form(""),
                   version: str = Form(""), hide: str = Form(""), actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    form = {"step": step, "note": note, "reason": reason, "version": version}
    try:
        if step == "accept":
            error_reports.accept(session, actor=actor, report_id=report_id, note=note, hide=bool(hide))
        elif step == "fix":
            error_reports.fix(session, actor=actor, report_id=report_id, version=version, note=note, hide=bool(hide))
        elif step == "reject":
            error_reports.reject(session, actor=actor, report_id=report_id, reason=reason, hide=bool(hide))
        else:
            raise Invalid(f"未知的操作：{step[:40]}", f"Unknown step: {step[:40]}", field="step")
    except GongshuError as exc:
        session.rollback()
        return _wb_report(request, session, actor, report_id, exc, form)
    return RedirectResponse(f"/workbench/opendata/reports/{report_id}?done={step}", status_code=303)
