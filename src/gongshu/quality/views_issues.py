"""Workbench pages of the loop of data issues (R-GOV-2, R-GOV-3).

``/workbench/quality/issues`` — a department's inbox of issues addressed to it (filters: unclosed, overdue, urgent,
critical, in dispute, closed), ``?view=reported`` the issues it reported (我反馈的问题), ``?view=all`` for the
authority; ``/workbench/quality/issues/overview`` — the authority's overview by department (overdue, disputes per
stage); ``/workbench/quality/issues/new`` — a consumer's report (系统填报); ``/workbench/quality/issues/{id}`` —
the issue with its timeline, its inbox items and the forms of the steps the viewer may take.

The template global ``issue_flag(entry)`` gives the number of open critical issues of an entry: sharing and open
data pages show the flag with ``quality/_flag.html``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, object_session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import CalendarUnknown, GongshuError, Invalid, NotFound
from gongshu.quality.models import SEVERITIES
from gongshu.quality.models_issues import CHANNELS, ISSUE_BADGE, ISSUE_STATUS, STAGES, UNCLOSED
from gongshu.quality.service import answers, checks, compare, escalation, feedback, issues
from gongshu.tasks import service as tasks
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render, templates
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/quality/issues"
WORKBENCH_LINKS.append((BASE, "问题数据（本部门收到）", "Data issues addressed to us", "quality.issue.view"))
WORKBENCH_LINKS.append((BASE + "?view=reported", "我反馈的问题", "Issues we reported", "quality.issue.report"))
WORKBENCH_LINKS.append((BASE + "/new", "反馈问题数据", "Report a data issue", "quality.issue.report"))
WORKBENCH_LINKS.append((BASE + "/overview", "问题数据总览（协调与会商）", "Data issues overview (disputes)",
                        "quality.issue.view_all"))
TASK_LINKS[issues.SUBJECT] = BASE + "/{id}"
VOCAB = {"ISSUE_STATUS": ISSUE_STATUS, "ISSUE_BADGE": ISSUE_BADGE, "CHANNELS": CHANNELS, "STAGES": STAGES,
         "SEVERITIES": SEVERITIES, "RESULTS": escalation.RESULTS, "STEP_NAMES": escalation.STEP_NAMES,
         "VIEWS": issues.VIEWS, "FILTERS": issues.FILTERS, "UNCLOSED": UNCLOSED, "VIA": feedback.VIA, "BASE": BASE}
NEW_FIELDS = ("entry", "title", "description", "item", "row_ref", "version", "severity", "evidence", "external_key")
STEP_FIELDS = ("plan", "version", "note", "explanation", "record", "agreed_with", "reasons", "result", "org_id",
               "participants", "minutes", "opinion", "reference", "decision", "reason")


def issue_flag(entry: Any) -> int:
    """Open critical issues of ``entry`` (an ORM entry), read in the page's own session; 0 without one."""
    session = object_session(entry) if entry is not None else None
    if session is None:
        return 0
    return issues.open_critical(session, entry_ids=[entry.id]).get(entry.id, 0)


templates.env.globals["issue_flag"] = issue_flag


def _left(session: Session, rows: list[Any]) -> dict[int, int | None]:
    cal, today, out = tasks.calendar(session), tasks.today(), {}
    for r in rows:
        try:
            out[r.id] = cal.workdays_between(today, r.due_on) if r.due_on else None
        except CalendarUnknown:
            out[r.id] = None
    return out


def _orgs(session: Session) -> dict[int, Any]:
    return {o.id: o for o in auth_service.orgs(session)}


def _entries(session: Session, rows: list[Any]) -> dict[int, Any]:
    return catalog_entries.load_many(session, entry_ids=[r.entry_id for r in rows]) if rows else {}


# Lists --------------------------------------------------------------------------------------------------------

@router.get(BASE, response_class=HTMLResponse)
def issue_list(request: Request, view: str = "", filter: str = "open", channel: str = "", org: str = "",
               actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    view = view or ("all" if can(actor, "quality.issue.view_all") else "inbox")
    error = None
    try:
        org_id = int(org) if org.strip() else None
        if org_id is not None and not 0 < org_id <= 2**31 - 1:
            raise ValueError
    except ValueError:
        org_id, error = None, Invalid("部门应为编号", "The department must be an id", field="org")
    try:
        rows = issues.list_issues(session, actor=actor, view=view, filter=filter, org_id=org_id, channel=channel) \
            if error is None else []
    except Invalid as exc:
        rows, error = [], exc
    return render(request, "quality/issues.html", {
        **VOCAB, "rows": rows, "view": view, "filter": filter, "channel": channel, "org": org, "error": error,
        "left": _left(session, rows), "orgs": _orgs(session), "entries": _entries(session, rows),
        "may_report": can(actor, "quality.issue.report"), "may_all": can(actor, "quality.issue.view_all"),
    }, status_code=error.status if error else 200)


@router.get(BASE + "/overview", response_class=HTMLResponse)
def overview(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    data = escalation.overview(session, actor=actor)
    disputes = issues.list_issues(session, actor=actor, view="all", filter="escalated")
    overdue = issues.list_issues(session, actor=actor, view="all", filter="overdue")
    shown = disputes + overdue
    return render(request, "quality/issue_overview.html", {
        **VOCAB, **data, "disputes": disputes, "overdue": overdue, "left": _left(session, shown),
        "orgs": _orgs(session), "entries": _entries(session, shown), "DEADLINES": issues.DEADLINES,
        "DEADLINE_NAMES": issues.DEADLINE_NAMES})


# A consumer's report -------------------------------------------------------------------------------------------

def _new_form(request: Request, session: Session, actor: Actor, form: dict[str, Any],
              error: GongshuError | None = None) -> Response:
    items: list[str] = []
    entry = None
    if str(form.get("entry") or "").strip():
        try:
            entry = feedback.find_entry(session, ref=form["entry"])
            items = [i["name"] for i in catalog_entries.latest_version(session, entry_id=entry.id).snapshot["items"]]
        except GongshuError:
            entry = None
    return render(request, "quality/issue_new.html", {
        **VOCAB, "form": form, "error": error, "entry": entry, "items": items,
        "may_report": can(actor, "quality.issue.report")}, status_code=error.status if error else 200)


@router.get(BASE + "/new", response_class=HTMLResponse)
def new_issue(request: Request, entry: str = "", actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    return _new_form(request, session, actor, {"entry": entry, "severity": "major"})


@router.post(BASE + "/new", response_class=HTMLResponse)
async def create_issue(request: Request, actor: Actor = Depends(page_actor),
                       session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    values: dict[str, Any] = {k: str(form.get(k, "") or "") for k in NEW_FIELDS}
    values["urgent"] = bool(form.get("urgent"))
    try:
        evidence = {"text": values["evidence"].strip()} if values["evidence"].strip() else None
        issue = feedback.report(session, actor=actor, entry=values["entry"], title=values["title"],
                                description=values["description"], item=values["item"], row_ref=values["row_ref"],
                                version=values["version"], severity=values["severity"] or "major",
                                urgent=values["urgent"], evidence=evidence, external_key=values["external_key"])
    except GongshuError as exc:
        session.rollback()
        return _new_form(request, session, actor, values, exc)
    return RedirectResponse(f"{BASE}/{issue.id}?done=raised", status_code=303)


# One issue -----------------------------------------------------------------------------------------------------

def _visible(ref: Any, get: Callable[[int], Any]) -> Any:
    """The evidence's referenced record when the reference is an id and the viewer may open it, else None."""
    if not isinstance(ref, int) or isinstance(ref, bool):
        return None
    try:
        return get(ref)
    except GongshuError:
        return None


def _evidence_links(session: Session, actor: Actor, issue: Any) -> list[tuple[str, str, str, str]]:
    """(id, href, zh, en) from an issue's evidence to where it was found, for a viewer who may open it: the quality
    check and the rule's failing rows, or the comparison and its conflicting subjects."""
    ev, out = issue.evidence or {}, []
    rule = ev.get("rule")
    check = _visible(ev.get("check_id"), lambda i: checks.get_check(session, actor=actor, check_id=i))
    if check is not None:
        out.append(("evidence-check", f"/workbench/quality/checks/{check.id}", f"质量检查 #{check.id}（各规则结果）",
                    f"Quality check #{check.id} (results per rule)"))
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        for res, r in checks.results_of(session, check_id=check.id):
            if r.id == rule_id and res.failing_path:
                out.append(("evidence-failing", f"/workbench/quality/checks/{check.id}/results/{res.id}.csv",
                            "下载全部不符合的数据行（CSV）", "Download all failing rows (CSV)"))
    comp = _visible(ev.get("comparison_id"), lambda i: compare.get(session, actor=actor, comparison_id=i))
    if comp is not None:
        out.append(("evidence-compare", f"/workbench/quality/compare/{comp.id}", f"比对结果 #{comp.id}（不一致的主体）",
                    f"Comparison #{comp.id} (the conflicting subjects)"))
        if compare.may_download(actor, comp):
            out.append(("evidence-conflicts", f"/workbench/quality/compare/{comp.id}/conflicts.csv",
                        "下载不一致清单（CSV）", "Download the conflicts (CSV)"))
    return out


def _detail(request: Request, session: Session, actor: Actor, issue_id: int, *, error: GongshuError | None = None,
            form: dict[str, Any] | None = None, step: str = "") -> Response:
    issue = issues.get_for(session, actor=actor, issue_id=issue_id)
    items = issues.work_items(session, issue_id=issue.id)
    versions = issues.version_numbers(session, entry_id=issue.entry_id)
    left = _left(session, [issue]).get(issue.id)
    return render(request, "quality/issue_detail.html", {
        **VOCAB, "i": issue, "entry": catalog_entries.fetch(session, entry_id=issue.entry_id),
        "steps": issues.steps_of(session, issue_id=issue.id), "items": items,
        "evidence_links": _evidence_links(session, actor, issue),
        "left_items": tasks.remaining_workdays(session, items), "due_left": left, "orgs": _orgs(session),
        "allowed": escalation.allowed_steps(session, actor=actor, issue=issue), "versions": versions,
        "departments": escalation.org_choices(session), "error": error, "form": form or {}, "step": step,
        "done": request.query_params.get("done", ""),
    }, status_code=error.status if error else 200)


@router.get(BASE + "/{issue_id:int}", response_class=HTMLResponse)
def issue_page(issue_id: int, request: Request, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return _detail(request, session, actor, issue_id)


def _parties(form: Any) -> list[tuple[str, str]]:
    return list(zip([str(v) for v in form.getlist("party_org")], [str(v) for v in form.getlist("party_reasons")],
                    strict=False))


def _take(session: Session, actor: Actor, issue_id: int, step: str, v: dict[str, str], form: Any) -> None:
    if step == "accept":
        answers.accept(session, actor=actor, issue_id=issue_id, plan=v["plan"])
    elif step == "correct":
        answers.correct(session, actor=actor, issue_id=issue_id, version=v["version"], note=v["note"])
    elif step == "confirm":
        answers.confirm(session, actor=actor, issue_id=issue_id, explanation=v["explanation"])
    elif step == "negotiate":
        answers.negotiate(session, actor=actor, issue_id=issue_id, record=v["record"], agreed_with=v["agreed_with"])
    elif step == "acknowledge":
        answers.acknowledge(session, actor=actor, issue_id=issue_id, note=v["note"])
    elif step == "withdraw":
        answers.withdraw(session, actor=actor, issue_id=issue_id, reason=v["reason"])
    elif step == "reject":
        escalation.reject(session, actor=actor, issue_id=issue_id, reasons=v["reasons"])
    elif step == "dispute":
        escalation.dispute(session, actor=actor, issue_id=issue_id, reasons=v["reasons"])
    elif step == "failed":
        escalation.negotiation_failed(session, actor=actor, issue_id=issue_id, record=v["record"])
    elif step == "escalate":
        escalation.escalate(session, actor=actor, issue_id=issue_id, note=v["note"])
    elif step == "coordinate":
        escalation.coordinate(session, actor=actor, issue_id=issue_id, record=v["record"], result=v["result"],
                              org_id=v["org_id"] or None)
    elif step == "consult":
        escalation.consult(session, actor=actor, issue_id=issue_id, participants=v["participants"],
                           minutes=v["minutes"], result=v["result"], org_id=v["org_id"] or None)
    elif step == "report":
        escalation.report_to_government(session, actor=actor, issue_id=issue_id, parties=_parties(form),
                                        opinion=v["opinion"], reference=v["reference"])
    elif step == "decide":
        escalation.decide(session, actor=actor, issue_id=issue_id, decision=v["decision"], result=v["result"],
                          reference=v["reference"], org_id=v["org_id"] or None)
    elif step == "hide":
        feedback.hide_report(session, actor=actor, issue_id=issue_id)
    else:
        raise NotFound(f"没有“{step}”这一步", f"No step '{step}'", field="step")


@router.post(BASE + "/{issue_id:int}/{step}", response_class=HTMLResponse)
async def issue_step(issue_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
                     session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "") or "") for k in STEP_FIELDS}
    try:
        issues.get_for(session, actor=actor, issue_id=issue_id)  # 404 for an issue the actor may not see
        _take(session, actor, issue_id, step, values, form)
    except GongshuError as exc:
        session.rollback()
        if isinstance(exc, NotFound) and exc.field == "issue_id":
            raise
        return _detail(request, session, actor, issue_id, error=exc, form=values, step=step)
    return RedirectResponse(f"{BASE}/{issue_id}?done={step}", status_code=303)
