"""Data quality pages (R-GOV-1): the landing page (a department's own scores; the city and the ranking for the
authority), the department ranking, the quality report of a department and of an entry, and their CSV/XLSX
exports."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.errors import Forbidden
from gongshu.quality.models import DIMENSIONS, SEVERITIES
from gongshu.quality.service import reports, scores
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/quality"
REPORTS = BASE + "/reports"
WORKBENCH_LINKS.append((BASE, "数据质量评分与报告", "Data quality scores & reports", reports.VIEW))
#: level → badge colour
LEVEL_BADGE = {1: "green", 2: "blue", 3: "amber", 4: "red", 5: "red"}


def pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f}%"


def month_points(trend: list[scores.MonthScore]) -> list[tuple[str, float | None]]:
    return [(m.month, m.score) for m in trend]


def check_points(checks: list) -> list[tuple[str, float | None]]:
    """An entry's checks as trend points: the version (or 无数据) and the day."""
    return [((f"v{c.version_number} · " if c.version_number else "") + f"{c.created_at:%Y-%m-%d}", c.score)
            for c in checks]


CTX = {"DIMENSIONS": DIMENSIONS, "SEVERITIES": SEVERITIES, "LEVEL_NAMES": scores.LEVEL_NAMES, "LEVEL_BADGE": LEVEL_BADGE,
       "level_name": scores.level_name, "level_of": scores.level_of, "pct": pct, "BASE": BASE, "REPORTS": REPORTS,
       "FORMATS": reports.EXPORT_FORMATS,
       "month_points": month_points, "check_points": check_points}


def _download(name: str, media: str, content: bytes, fmt: str) -> Response:
    return Response(content, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"quality.{fmt}\"; filename*=UTF-8''{quote(name)}"})


@router.get(BASE, response_class=HTMLResponse)
def landing(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    if reports.may_view_all(actor):
        city = reports.city_overview(session, actor=actor)
        return render(request, "quality/overview.html", {**CTX, "city": city})
    if actor.org_id is None:
        raise Forbidden("没有所属部门，无法查看数据质量", "No department: no data quality to show")
    report = reports.department_report(session, actor=actor, org_id=actor.org_id)
    return render(request, "quality/report_department.html", {**CTX, "report": report, "landing": True})


@router.get(BASE + "/ranking", response_class=HTMLResponse)
def ranking_page(request: Request, actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    lines = reports.ranking(session, actor=actor)
    return render(request, "quality/ranking.html", {**CTX, "lines": lines})


@router.get(BASE + "/ranking/export")
def ranking_export(format: str = "xlsx", actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    return _download(*reports.export_ranking(session, actor=actor, fmt=format), format)


@router.get(REPORTS + "/departments/{org_id}", response_class=HTMLResponse)
def department_page(request: Request, org_id: int, actor: Actor = Depends(page_actor),
                    session: Session = Depends(get_db)) -> Response:
    report = reports.department_report(session, actor=actor, org_id=org_id)
    return render(request, "quality/report_department.html", {**CTX, "report": report, "landing": False})


@router.get(REPORTS + "/departments/{org_id}/export")
def department_export(org_id: int, format: str = "xlsx", actor: Actor = Depends(page_actor),
                      session: Session = Depends(get_db)) -> Response:
    return _download(*reports.export_department(session, actor=actor, org_id=org_id, fmt=format), format)


@router.get(REPORTS + "/entries/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: int, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    report = reports.entry_report(session, actor=actor, entry_id=entry_id)
    return render(request, "quality/report_entry.html", {**CTX, "report": report,
                                                         "all_orgs": reports.may_view_all(actor)})


@router.get(REPORTS + "/entries/{entry_id}/export")
def entry_export(entry_id: int, format: str = "xlsx", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    return _download(*reports.export_entry(session, actor=actor, entry_id=entry_id, fmt=format), format)
