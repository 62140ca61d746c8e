"""The authority's supervision page and calendar override page."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, require
from gongshu.errors import GongshuError, Invalid
from gongshu.kit import workdays
from gongshu.tasks import service
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)


@router.get("/workbench/supervision", response_class=HTMLResponse)
def supervision_page(request: Request, actor: Actor = Depends(page_actor),
                     session: Session = Depends(get_db)) -> Response:
    tasks = service.all_open(session, actor=actor)
    orgs = {o.id: o for o in auth_service.orgs(session)}
    return render(request, "tasks/supervision.html", {
        "tasks": tasks, "left": service.remaining_workdays(session, tasks), "orgs": orgs,
        "events": service.supervision(session, actor=actor)})


def _calendar_page(request: Request, session: Session, error: GongshuError | None = None,
                   form: dict | None = None) -> Response:
    cal = service.calendar_status(session)
    nxt = next(y for y in range(service.today().year, 2101) if y not in cal["declared"] and y not in cal["packaged"])
    return render(request, "tasks/calendar.html", {"cal": cal, "error": error, "form": form or {}, "next_year": nxt},
                  status_code=error.status if error else 200)


@router.get("/workbench/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, prefill: str = "", actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    """``prefill=YEAR`` fills the year form with the statutory holidays of the 放假办法, for the authority
    to complete with the State Council notice's 调休 and 补假 days."""
    require(actor, "calendar.manage")
    if not prefill:
        return _calendar_page(request, session)
    try:
        year = int(prefill)
        days = workdays.statutory_holidays(year)
    except ValueError:
        return _calendar_page(request, session, Invalid(f"年份无效：{prefill[:20]}", f"Invalid year: {prefill[:20]}",
                                                        field="prefill"))
    except GongshuError as exc:
        return _calendar_page(request, session, exc)
    return _calendar_page(request, session, form={"year": year, "prefilled": True, "days": len(days),
                                                  "holidays": "\n".join(f"{d} {note}" for d, note in days)})


def _parse_days(text: str, field: str) -> list[tuple[date, str]]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        day, _, note = line.partition(" ")
        try:
            out.append((date.fromisoformat(day), note.strip()))
        except ValueError as exc:
            raise Invalid(f"第 {n} 行日期无效：{day}（格式 YYYY-MM-DD 说明）",
                          f"Line {n}: invalid date {day} (format: YYYY-MM-DD note)", field=field) from exc
    return out


@router.post("/workbench/calendar/year", response_class=HTMLResponse)
def calendar_year(request: Request, year: int = Form(...), source: str = Form(""), holidays: str = Form(""),
                  workdays: str = Form(""), actor: Actor = Depends(page_actor),
                  session: Session = Depends(get_db)) -> Response:
    try:
        service.declare_year(session, actor=actor, year=year, source=source,
                             holidays=_parse_days(holidays, "holidays"), workdays=_parse_days(workdays, "workdays"))
    except GongshuError as exc:
        session.rollback()
        return _calendar_page(request, session, exc, form={"year": year, "source": source, "holidays": holidays,
                                                           "workdays": workdays})
    return RedirectResponse("/workbench/calendar", status_code=303)


@router.post("/workbench/calendar/override", response_class=HTMLResponse)
def calendar_override(request: Request, day: str = Form(""), kind: str = Form("off"), note: str = Form(""),
                      actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        try:
            d = date.fromisoformat(day)
        except ValueError as exc:
            raise Invalid(f"日期无效：{day}", f"Invalid date: {day}", field="day") from exc
        service.set_override(session, actor=actor, day=d, is_workday=(kind == "work"), note=note)
    except GongshuError as exc:
        session.rollback()
        return _calendar_page(request, session, exc)
    return RedirectResponse("/workbench/calendar", status_code=303)
