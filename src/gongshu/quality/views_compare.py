"""Cross-source comparison and grading-suggestion pages (R-GOV-4).

``/workbench/quality/compare``: each element's newest comparison (the authority: city-wide; a department: those it
is a source or the legal source of), counts by source pair, the issue raised at the legal source, the masked
sample, the download of the mismatching subjects for the legal source. ``/workbench/quality/suggestions``: grading
suggestions from the sensitive-data recognizers, accepted or dismissed by the authority. ``/workbench/quality/scans``:
each scan with the recognizers that could not run."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, Invalid, NotFound
from gongshu.quality.models_compare import COMPARE_STATUS, SUBJECT_KINDS, SUGGESTION_BADGE, SUGGESTION_STATUS
from gongshu.quality.service import compare, recognize, recognizers
from gongshu.tasks import service as tasks
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/quality"
COMPARE = BASE + "/compare"
SUGGESTIONS = BASE + "/suggestions"
SCANS = BASE + "/scans"
ISSUES = BASE + "/issues"
WORKBENCH_LINKS.append((COMPARE, "跨源比对", "Cross-source comparison", "quality.compare.view"))
WORKBENCH_LINKS.append((COMPARE, "全市跨源比对", "City-wide cross-source comparison", "quality.compare.view_all"))
WORKBENCH_LINKS.append((SUGGESTIONS, "分级建议（敏感数据识别）", "Grading suggestions (sensitive data)",
                        "quality.suggestion.view"))
WORKBENCH_LINKS.append((SUGGESTIONS, "分级建议（敏感数据识别）", "Grading suggestions (sensitive data)",
                        "quality.suggestion.view_all"))
TASK_LINKS[recognize.SUBJECT] = SUGGESTIONS + "/{id}"
CTX = {"COMPARE_STATUS": COMPARE_STATUS, "SUBJECT_KINDS": SUBJECT_KINDS, "SUGGESTION_STATUS": SUGGESTION_STATUS,
       "SUGGESTION_BADGE": SUGGESTION_BADGE, "RECOGNIZERS": recognizers.RECOGNIZERS, "COMPARE": COMPARE,
       "SUGGESTIONS": SUGGESTIONS, "SCANS": SCANS, "ISSUES": ISSUES}


def _id(value: str | None) -> int | None:
    v = (value or "").strip()
    return int(v) if v.isdigit() and len(v) <= 9 else None


def _orgs(session: Session) -> dict[int, str]:
    return {o.id: o.name for o in auth_service.orgs(session)}


def _entries(session: Session, rows) -> dict[int, str]:
    found = catalog_entries.load_many(session, entry_ids=sorted({r.entry_id for r in rows}))
    return {i: e.name for i, e in found.items()}


# Comparisons ------------------------------------------------------------------------------------

@router.get(COMPARE, response_class=HTMLResponse)
def compare_list(request: Request, entry_id: str = "", element_id: str = "", conflicts: str = "",
                 actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    rows = compare.latest(session, actor=actor, entry_id=_id(entry_id), element_id=_id(element_id),
                          conflicts_only=conflicts == "1")
    return render(request, "quality/compare_list.html", {
        **CTX, "rows": rows, "orgs": _orgs(session), "entry_id": _id(entry_id), "element_id": _id(element_id),
        "conflicts": conflicts == "1", "can_run": can(actor, "quality.compare.run"),
        "elements": catalog_elements.list_elements(session, actor=actor) if can(actor, "quality.compare.run") else [],
        "done": request.query_params.get("done", ""), "routed": _id(request.query_params.get("routed"))})


@router.get(COMPARE + "/{comparison_id:int}", response_class=HTMLResponse)
def compare_detail(request: Request, comparison_id: int, actor: Actor = Depends(page_actor),
                   session: Session = Depends(get_db)) -> Response:
    comp = compare.get(session, actor=actor, comparison_id=comparison_id)
    names = {s["entry_id"]: s["entry_name"] for s in comp.sources}
    return render(request, "quality/compare_detail.html", {
        **CTX, "c": comp, "names": names, "orgs": _orgs(session),
        "history": compare.history(session, actor=actor, element_id=comp.element_id, kind=comp.subject_kind),
        "may_download": compare.may_download(actor, comp), "can_run": can(actor, "quality.compare.run")})


@router.get(COMPARE + "/{comparison_id:int}/conflicts.csv")
def compare_download(comparison_id: int, actor: Actor = Depends(page_actor),
                     session: Session = Depends(get_db)) -> Response:
    name, data = compare.conflicts_csv(session, actor=actor, comparison_id=comparison_id)
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"compare.csv\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


@router.post(COMPARE + "/run", response_class=HTMLResponse)
async def compare_run(request: Request, actor: Actor = Depends(page_actor),
                      session: Session = Depends(get_db)) -> Response:
    element_id = _id(str((await request.form()).get("element_id", "") or ""))
    if not element_id:
        raise Invalid("请选择要比对的数据元", "Choose the data element to compare", field="element_id")
    compare.compare_element(session, actor=actor, element_id=element_id)
    return RedirectResponse(f"{COMPARE}?element_id={element_id}&done=run", status_code=303)


@router.post(COMPARE + "/route-library", response_class=HTMLResponse)
def compare_route(actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    n = compare.route_library_conflicts(session, actor=actor)
    return RedirectResponse(f"{COMPARE}?done=route&routed={n}", status_code=303)


# Grading suggestions ----------------------------------------------------------------------------

@router.get(SUGGESTIONS, response_class=HTMLResponse)
def suggestion_list(request: Request, status: str = "open", actor: Actor = Depends(page_actor),
                    session: Session = Depends(get_db)) -> Response:
    status = status if status in SUGGESTION_STATUS else ""
    rows = recognize.list_suggestions(session, actor=actor, status=status or None)
    return render(request, "quality/suggest_list.html", {
        **CTX, "rows": rows, "status": status, "orgs": _orgs(session), "entries": _entries(session, rows)})


def _suggestion_page(request: Request, session: Session, actor: Actor, suggestion_id: int,
                     error: GongshuError | None = None, form: dict | None = None) -> Response:
    s = recognize.get_suggestion(session, actor=actor, suggestion_id=suggestion_id)
    items = tasks.for_subject(session, subject_type=recognize.SUBJECT, subject_id=s.id)
    orgs = {o.id: o for o in auth_service.orgs(session)}
    return render(request, "quality/suggest_detail.html", {
        **CTX, "s": s, "org_names": {i: o.name for i, o in orgs.items()}, "error": error, "form": form or {},
        "entry_name": _entries(session, [s]).get(s.entry_id, ""),
        "scan": recognize.get_scan(session, actor=actor, scan_id=s.scan_id) if s.scan_id else None,
        "may_decide": can(actor, "quality.suggestion.decide") and s.status == "open",
        "items": items, "left": tasks.remaining_workdays(session, items), "orgs": orgs,
        "done": request.query_params.get("done", "")}, status_code=error.status if error else 200)


@router.get(SUGGESTIONS + "/{suggestion_id:int}", response_class=HTMLResponse)
def suggestion_detail(request: Request, suggestion_id: int, actor: Actor = Depends(page_actor),
                      session: Session = Depends(get_db)) -> Response:
    return _suggestion_page(request, session, actor, suggestion_id)


@router.post(SUGGESTIONS + "/{suggestion_id:int}/{decision}", response_class=HTMLResponse)
async def suggestion_decide(request: Request, suggestion_id: int, decision: str, actor: Actor = Depends(page_actor),
                            session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    values = {"note": str(form.get("note", "") or ""), "reason": str(form.get("reason", "") or "")}
    try:
        if decision == "accept":
            recognize.accept(session, actor=actor, suggestion_id=suggestion_id, note=values["note"])
        elif decision == "dismiss":
            recognize.dismiss(session, actor=actor, suggestion_id=suggestion_id, reason=values["reason"])
        else:
            raise NotFound(f"没有“{decision}”这一操作", f"No action '{decision}'", field="decision")
    except GongshuError as exc:
        session.rollback()
        if isinstance(exc, NotFound) and exc.field in ("suggestion_id", "decision"):
            raise
        return _suggestion_page(request, session, actor, suggestion_id, error=exc, form=values)
    return RedirectResponse(f"{SUGGESTIONS}/{suggestion_id}?done={decision}", status_code=303)


# Scans ------------------------------------------------------------------------------------------

@router.get(SCANS, response_class=HTMLResponse)
def scan_list(request: Request, entry_id: str = "", actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    rows = recognize.scans_of(session, actor=actor, entry_id=_id(entry_id), limit=100)
    return render(request, "quality/suggest_scans.html", {**CTX, "rows": rows, "orgs": _orgs(session),
                                                          "entries": _entries(session, rows),
                                                          "entry_id": _id(entry_id)})


@router.get(SCANS + "/{scan_id:int}", response_class=HTMLResponse)
def scan_detail(request: Request, scan_id: int, actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    scan = recognize.get_scan(session, actor=actor, scan_id=scan_id)
    return render(request, "quality/suggest_scan.html", {
        **CTX, "scan": scan, "orgs": _orgs(session), "entry_name": _entries(session, [scan]).get(scan.entry_id, ""),
        "suggestions": recognize.suggestions_of_scan(session, actor=actor, scan_id=scan.id)})
