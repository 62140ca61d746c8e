"""Workbench pages of the open data system: 双公示 publication checks (R-OPN-9) and the open catalogue's yearly
adjustment with livelihood priority (R-OPN-1)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Forbidden, GongshuError, Invalid
from gongshu.opendata.models_disclosure import (
    CHECK_STATUS,
    DISCLOSURE_KINDS,
    LIVELIHOOD_DOMAINS,
    PROPOSAL_KINDS,
    PROPOSAL_STATUS,
    ROUND_STATUS,
)
from gongshu.opendata.service import adjustment, datasets, disclosure
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
DISCLOSURE = "/workbench/opendata/disclosure"
ADJUSTMENT = "/workbench/opendata/adjustment"
WORKBENCH_LINKS.append((DISCLOSURE, "双公示公示时限", "双公示 publication deadlines", "opendata.disclosure.view"))
WORKBENCH_LINKS.append((ADJUSTMENT, "开放目录年度调整", "Yearly open catalogue adjustment", "opendata.adjustment.view"))
TASK_LINKS[disclosure.SUBJECT] = DISCLOSURE + "/checks/{id}"
TASK_LINKS[adjustment.ROUND_SUBJECT] = ADJUSTMENT + "/{id}"
TASK_LINKS[adjustment.PROPOSAL_SUBJECT] = ADJUSTMENT + "/proposals/{id}"
CHECK_BADGE = {"ok": "green", "late": "red", "unverifiable": "amber"}
PROPOSAL_BADGE = {"pending": "amber", "approved": "green", "refused": "red"}
PROGRESS = {"awaiting_review": ("待提交开放前审查", "Awaiting the review before opening"),
            "review_submitted": ("已提交开放前审查", "Review before opening submitted"),
            "open": ("已开放", "Open")}


def _whole(value: str, field: str, zh: str, en: str) -> int:
    v = (value or "").strip()
    if not v.isdigit() or len(v) > 9:
        raise Invalid(f"{zh}应为正整数", f"{en} must be a whole number", field=field)
    return int(v)


def _day(value: str, field: str, zh: str, en: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError as exc:
        raise Invalid(f"{zh}应为日期（YYYY-MM-DD）", f"{en} must be a date (YYYY-MM-DD)", field=field) from exc


def _orgs(session: Session) -> dict:
    return {o.id: o for o in auth_service.orgs(session)}


# 双公示 ------------------------------------------------------------------------------------------------

@router.get(DISCLOSURE, response_class=HTMLResponse)
def disclosure_view(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return disclosure_page(request, actor=actor, session=session)


def disclosure_page(request: Request, *, actor: Actor, session: Session, error: GongshuError | None = None,
                    form: dict | None = None) -> Response:
    view = disclosure.overview(session, actor=actor)
    may_flag = can(actor, "opendata.disclosure.flag")
    return render(request, "opendata/disclosure_list.html", {
        "view": view, "orgs": _orgs(session), "CHECK_STATUS": CHECK_STATUS, "CHECK_BADGE": CHECK_BADGE,
        "KINDS": DISCLOSURE_KINDS, "LIMIT": disclosure.LIMIT_WORKDAYS, "may_flag": may_flag,
        "may_check": can(actor, "opendata.disclosure.check"),
        "flaggable": disclosure.flaggable(session, actor=actor) if may_flag else [],
        "error": error, "form": form or {}}, status_code=error.status if error else 200)


@router.post(DISCLOSURE, response_class=HTMLResponse)
def flag_dataset(request: Request, entry_id: str = Form(""), kind: str = Form(""), date_item: str = Form(""),
                 actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"entry_id": entry_id, "kind": kind, "date_item": date_item}
    try:
        disclosure.flag(session, actor=actor, entry_id=_whole(entry_id, "entry_id", "目录", "The entry"), kind=kind,
                        date_item=date_item)
    except GongshuError as exc:
        session.rollback()
        return disclosure_page(request, actor=actor, session=session, error=exc, form=form)
    return RedirectResponse(DISCLOSURE + "?done=flagged", status_code=303)


@router.post(DISCLOSURE + "/{dataset_id:int}/unflag", response_class=HTMLResponse)
def unflag_dataset(dataset_id: int, request: Request, reason: str = Form(""), actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    try:
        disclosure.unflag(session, actor=actor, dataset_id=dataset_id, reason=reason)
    except GongshuError as exc:
        session.rollback()
        return disclosure_page(request, actor=actor, session=session, error=exc)
    return RedirectResponse(DISCLOSURE + "?done=unflagged", status_code=303)


@router.post(DISCLOSURE + "/{dataset_id:int}/check", response_class=HTMLResponse)
def check_dataset(dataset_id: int, request: Request, actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    try:
        disclosure.check_now(session, actor=actor, dataset_id=dataset_id)
    except GongshuError as exc:
        session.rollback()
        return disclosure_page(request, actor=actor, session=session, error=exc)
    return RedirectResponse(DISCLOSURE + f"?done=checked#dataset-{dataset_id}", status_code=303)


@router.get(DISCLOSURE + "/checks/{check_id:int}", response_class=HTMLResponse)
def check_view(check_id: int, request: Request, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return check_page(request, check_id=check_id, actor=actor, session=session)


def check_page(request: Request, *, check_id: int, actor: Actor, session: Session,
               error: GongshuError | None = None, form: dict | None = None) -> Response:
    check = disclosure.get_check(session, actor=actor, check_id=check_id)
    dataset = disclosure.get_dataset(session, dataset_id=check.dataset_id)
    items = tasks_service.for_subject(session, subject_type=disclosure.SUBJECT, subject_id=check.id)
    return render(request, "opendata/disclosure_check.html", {
        "check": check, "dataset": dataset, "entry": catalog_entries.fetch(session, entry_id=check.entry_id),
        "org": _orgs(session).get(check.org_id), "CHECK_STATUS": CHECK_STATUS, "CHECK_BADGE": CHECK_BADGE,
        "KINDS": DISCLOSURE_KINDS, "LIMIT": disclosure.LIMIT_WORKDAYS,
        "may_explain": check.status == "late" and can(actor, "opendata.disclosure.explain", org_id=check.org_id)
        and actor.org_id == check.org_id,
        "items": items, "left": tasks_service.remaining_workdays(session, items), "orgs": _orgs(session),
        "error": error, "form": form or {}}, status_code=error.status if error else 200)


@router.post(DISCLOSURE + "/checks/{check_id:int}/explain", response_class=HTMLResponse)
def explain_check(check_id: int, request: Request, explanation: str = Form(""), actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    try:
        disclosure.explain(session, actor=actor, check_id=check_id, explanation=explanation)
    except GongshuError as exc:
        session.rollback()
        return check_page(request, check_id=check_id, actor=actor, session=session, error=exc,
                          form={"explanation": explanation})
    return RedirectResponse(DISCLOSURE + f"/checks/{check_id}?done=explained", status_code=303)


# The yearly adjustment ----------------------------------------------------------------------------------

@router.get(ADJUSTMENT, response_class=HTMLResponse)
def rounds_view(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return rounds_page(request, actor=actor, session=session)


def rounds_page(request: Request, *, actor: Actor, session: Session, error: GongshuError | None = None,
                form: dict | None = None) -> Response:
    return render(request, "opendata/adjustment_rounds.html", {
        "rounds": adjustment.rounds(session, actor=actor), "ROUND_STATUS": ROUND_STATUS,
        "may_manage": can(actor, "opendata.adjustment.manage"), "today": tasks_service.today(),
        "error": error, "form": form or {}}, status_code=error.status if error else 200)


@router.post(ADJUSTMENT, response_class=HTMLResponse)
def open_round(request: Request, year: str = Form(""), closes_on: str = Form(""), note: str = Form(""),
               actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"year": year, "closes_on": closes_on, "note": note}
    try:
        row = adjustment.open_round(session, actor=actor, year=_whole(year, "year", "年度", "The year"),
                                    closes_on=_day(closes_on, "closes_on", "截止日期", "The closing date"), note=note)
    except GongshuError as exc:
        session.rollback()
        return rounds_page(request, actor=actor, session=session, error=exc, form=form)
    return RedirectResponse(f"{ADJUSTMENT}/{row.id}?done=opened", status_code=303)


@router.get(ADJUSTMENT + "/{round_id:int}", response_class=HTMLResponse)
def round_view(round_id: int, request: Request, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return round_page(request, round_id=round_id, actor=actor, session=session)


def round_page(request: Request, *, round_id: int, actor: Actor, session: Session,
               error: GongshuError | None = None, form: dict | None = None) -> Response:
    view = adjustment.round_view(session, actor=actor, round_id=round_id)
    may_propose = actor.org_id is not None and can(actor, "opendata.adjustment.propose", org_id=actor.org_id)
    mine_open = [t for t in tasks_service.for_subject(session, subject_type=adjustment.ROUND_SUBJECT,
                                                      subject_id=view.round.id)
                 if t.status == "open" and t.assignee_org_id == actor.org_id]
    return render(request, "opendata/adjustment_round.html", {
        "view": view, "orgs": _orgs(session), "ROUND_STATUS": ROUND_STATUS, "PROPOSAL_KINDS": PROPOSAL_KINDS,
        "PROPOSAL_STATUS": PROPOSAL_STATUS, "PROPOSAL_BADGE": PROPOSAL_BADGE, "PROGRESS": PROGRESS,
        "DOMAINS": LIVELIHOOD_DOMAINS, "OPEN_TYPES": datasets.OPEN_TYPES,
        "may_decide": can(actor, "opendata.adjustment.decide") and view.round.status == "open",
        "may_manage": can(actor, "opendata.adjustment.manage") and view.round.status == "open",
        "proposable": adjustment.proposable(session, actor=actor) if may_propose and view.accepting else [],
        "may_finish": bool(mine_open) and may_propose,
        "error": error, "form": form or {}}, status_code=error.status if error else 200)


@router.post(ADJUSTMENT + "/{round_id:int}/proposals", response_class=HTMLResponse)
def propose(round_id: int, request: Request, entry_id: str = Form(""), kind: str = Form(""),
            open_type: str = Form(""), open_condition: str = Form(""), livelihood: str = Form(""),
            reason: str = Form(""), actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"entry_id": entry_id, "kind": kind, "open_type": open_type, "open_condition": open_condition,
            "livelihood": livelihood, "reason": reason}
    try:
        adjustment.propose(session, actor=actor, round_id=round_id,
                           entry_id=_whole(entry_id, "entry_id", "目录", "The entry"), kind=kind, open_type=open_type,
                           open_condition=open_condition, livelihood=livelihood, reason=reason)
    except GongshuError as exc:
        session.rollback()
        return round_page(request, round_id=round_id, actor=actor, session=session, error=exc, form=form)
    return RedirectResponse(f"{ADJUSTMENT}/{round_id}?done=proposed", status_code=303)


@router.post(ADJUSTMENT + "/{round_id:int}/{step}", response_class=HTMLResponse)
def round_step(round_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    try:
        if step == "close":
            adjustment.close_round(session, actor=actor, round_id=round_id)
        elif step == "finish":
            adjustment.finish(session, actor=actor, round_id=round_id)
        else:
            raise Invalid(f"未知的操作：{step}", f"Unknown step: {step}", field="step")
    except GongshuError as exc:
        session.rollback()
        return round_page(request, round_id=round_id, actor=actor, session=session, error=exc)
    return RedirectResponse(f"{ADJUSTMENT}/{round_id}?done={step}", status_code=303)


@router.get(ADJUSTMENT + "/proposals/{proposal_id:int}", response_class=HTMLResponse)
def proposal_link(proposal_id: int, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    """Inbox items point at a proposal: its place on its round's page."""
    p = adjustment.get_proposal(session, proposal_id=proposal_id)
    view = adjustment.round_view(session, actor=actor, round_id=p.round_id)
    if p not in view.proposals:
        raise Forbidden("只能查看本部门的调整申请", "Only your own department's proposals can be seen")
    return RedirectResponse(f"{ADJUSTMENT}/{p.round_id}#proposal-{p.id}", status_code=303)


DECISIONS = {"approve": adjustment.approve, "refuse": adjustment.refuse}


@router.post(ADJUSTMENT + "/proposals/{proposal_id:int}/{step}", response_class=HTMLResponse)
def decide(proposal_id: int, step: str, request: Request, note: str = Form(""), actor: Actor = Depends(page_actor),
           session: Session = Depends(get_db)) -> Response:
    round_id = None
    try:
        if step not in DECISIONS:
            raise Invalid(f"未知的操作：{step}", f"Unknown step: {step}", field="step")
        round_id = adjustment.get_proposal(session, proposal_id=proposal_id).round_id
        DECISIONS[step](session, actor=actor, proposal_id=proposal_id, note=note)
    except GongshuError as exc:
        session.rollback()
        if round_id is None:
            raise
        return round_page(request, round_id=round_id, actor=actor, session=session, error=exc)
    return RedirectResponse(f"{ADJUSTMENT}/{round_id}?done={step}#proposal-{proposal_id}", status_code=303)
