"""Library pages beyond the person/entity record: thematic libraries (主题库), the spatial library
(自然资源与空间地理库), the e-certificate library (电子证照库) and the credit library (信用库).

Include this router BEFORE ``library.views.router``: that one's ``/workbench/library/{kind}`` would
otherwise catch ``/workbench/library/themes``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can
from gongshu.errors import GongshuError, Invalid
from gongshu.library.service import certificates, credit, spatial, themes, upkeep
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/library"
WORKBENCH_LINKS.append((BASE + "/themes", "主题库", "Thematic libraries", "library.view"))
WORKBENCH_LINKS.append((BASE + "/spatial", "空间地理库", "Spatial library", "library.view"))
WORKBENCH_LINKS.append((BASE + "/certificates", "电子证照库", "E-certificate library", "library.view"))
WORKBENCH_LINKS.append((BASE + "/credit", "信用库", "Credit library", "library.view"))

#: default box: 东莞 (Dongguan) city area
DEFAULT_BBOX = "113.50,22.65,114.30,23.15"
SVG_W, SVG_H = 640, 400


# Thematic libraries ------------------------------------------------------------------------------------

def _themes_page(request: Request, session: Session, actor: Actor, *, error: GongshuError | None = None,
                 form: dict | None = None) -> Response:
    listed = themes.list_themes(session, actor=actor)
    current = {t.id: themes.current_build(session, theme_id=t.id) for t in listed}
    manage = can(actor, "library.theme.manage")
    return render(request, "library/themes.html", {
        "themes": listed, "current": current, "can_manage": manage, "error": error,
        "stale": upkeep.stale_themes(session, [t.id for t in listed], check=False),
        "form": form or {"key": "公民身份号码"},
        "attached": themes.attached_entries(session, actor=actor) if manage else []},
        status_code=error.status if error else 200)


@router.get(BASE + "/themes", response_class=HTMLResponse)
def themes_page(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    return _themes_page(request, session, actor)


@router.post(BASE + "/themes", response_class=HTMLResponse)
def define(request: Request, code: str = Form(""), name: str = Form(""), description: str = Form(""),
           key: str = Form(""), parts: str = Form(""), actor: Actor = Depends(page_actor),
           session: Session = Depends(get_db)) -> Response:
    try:
        theme = themes.define_theme(session, actor=actor, code=code, name=name, description=description, key=key,
                                    parts=themes.parse_parts(parts))
    except GongshuError as exc:
        session.rollback()
        return _themes_page(request, session, actor, error=exc, form={
            "code": code, "name": name, "description": description, "key": key, "parts": parts})
    return RedirectResponse(f"{BASE}/themes/{theme.id}", status_code=303)


def _after(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise Invalid("翻页位置无效", "Invalid page position 'after'", field="after")
    return int(value)


@router.get(BASE + "/themes/{theme_id}", response_class=HTMLResponse)
def theme_page(request: Request, theme_id: int, after: str = "", actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    theme = themes.get_theme(session, actor=actor, theme_id=theme_id)
    page, error = None, None
    if themes.current_build(session, theme_id=theme.id) is not None:
        try:
            page = themes.theme_rows(session, actor=actor, theme_id=theme.id, after=_after(after), limit=50)
        except GongshuError as exc:
            error = exc
    return render(request, "library/theme.html", {
        "theme": theme, "page": page, "error": error, "after": after,
        "builds": themes.builds(session, actor=actor, theme_id=theme.id, limit=10),
        "stale": upkeep.stale_themes(session, [theme.id]).get(theme.id),
        "refresh_minutes": int(upkeep.REFRESH_EVERY.total_seconds() // 60),
        "can_manage": can(actor, "library.theme.manage")}, status_code=error.status if error else 200)


@router.post(BASE + "/themes/{theme_id}/build", response_class=HTMLResponse)
def build(request: Request, theme_id: int, actor: Actor = Depends(page_actor),
          session: Session = Depends(get_db)) -> Response:
    themes.build_theme(session, actor=actor, theme_id=theme_id)
    return RedirectResponse(f"{BASE}/themes/{theme_id}", status_code=303)


# Spatial library --------------------------------------------------------------------------------------------

def _scatter(features: list[dict], box: tuple[float, float, float, float]) -> dict:
    """SVG coordinates for points (circles) and envelopes (rectangles clipped to the box)."""
    minx, miny, maxx, maxy = box
    sx, sy = SVG_W / ((maxx - minx) or 1e-9), SVG_H / ((maxy - miny) or 1e-9)
    points, rects = [], []
    for f in features:
        if f["geometry"] == "point" and f.get("lon") is not None:
            points.append({"x": round((f["lon"] - minx) * sx, 1), "y": round((maxy - f["lat"]) * sy, 1),
                           "title": f["entry_name"]})
        elif f["geometry"] == "wkt":
            x0, y0, x1, y1 = f["envelope"]
            x0, x1, y0, y1 = max(x0, minx), min(x1, maxx), max(y0, miny), min(y1, maxy)
            rects.append({"x": round((x0 - minx) * sx, 1), "y": round((maxy - y1) * sy, 1),
                          "w": max(round((x1 - x0) * sx, 1), 1), "h": max(round((y1 - y0) * sy, 1), 1),
                          "title": f["entry_name"]})
    return {"w": SVG_W, "h": SVG_H, "points": points, "rects": rects}


@router.get(BASE + "/spatial", response_class=HTMLResponse)
def spatial_page(request: Request, bbox: str = "", entry: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    layers = spatial.layers(session, actor=actor)
    found, error, plot = None, None, None
    if bbox:
        try:
            box = spatial.parse_bbox(bbox)
            ids = [int(entry)] if entry.isdigit() else None
            if entry and ids is None:
                raise Invalid("目录编号应为数字", "The entry id must be a number", field="entry")
            found = spatial.features(session, actor=actor, bbox=box, entry_ids=ids, limit=500)
            plot = _scatter(found, box)
        except GongshuError as exc:
            error = exc
    columns = sorted({k for f in found or [] for k in f["attributes"]})
    return render(request, "library/spatial.html", {
        "layers": layers, "bbox": bbox or DEFAULT_BBOX, "entry": entry, "features": found, "error": error,
        "plot": plot, "columns": columns, "limit": 500}, status_code=error.status if error else 200)


# E-certificate library --------------------------------------------------------------------------------------

@router.get(BASE + "/certificates", response_class=HTMLResponse)
def certificates_page(request: Request, holder: str = "", actor: Actor = Depends(page_actor),
                      session: Session = Depends(get_db)) -> Response:
    found, error = None, None
    if holder:
        try:
            found = certificates.held_by(session, actor=actor, holder=holder)
        except GongshuError as exc:
            error = exc
    return render(request, "library/certificates.html", {
        "holder": holder, "found": found, "error": error, "sources": certificates.sources(session, actor=actor)},
        status_code=error.status if error else 200)


# Credit library -----------------------------------------------------------------------------------------------

@router.get(BASE + "/credit", response_class=HTMLResponse)
def credit_page(request: Request, subject: str = "", rank: str = "", actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    """``subject`` (typed in), or ``rank`` in the most-adverse list (whose identifiers are masked)."""
    found, error = None, None
    if subject or rank:
        try:
            if rank and not subject:
                if not rank.isdigit():
                    raise Invalid(f"名次无效：{rank[:20]}", f"Invalid rank: {rank[:20]}", field="rank")
                found = credit.profile(session, actor=actor,
                                       subject=credit.ranked_subject(session, actor=actor, rank=int(rank)))
            else:
                found = credit.profile(session, actor=actor, subject=subject)
        except GongshuError as exc:
            error = exc
    return render(request, "library/credit.html", {
        "subject": subject, "found": found, "error": error, "overview": credit.overview(session, actor=actor)},
        status_code=error.status if error else 200)
