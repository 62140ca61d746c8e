"""Library pages: look up a person or legal entity, see each attribute's source and conflicts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can
from gongshu.errors import GongshuError, Invalid
from gongshu.library.models import KINDS
from gongshu.library.service import build as build_service
from gongshu.library.service import (
    records,
    upkeep,  # noqa: F401 - registers the periodic refresh of stale builds
)
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/library"
WORKBENCH_LINKS.append((BASE + "/person", "人口库", "Person library", "library.view"))
WORKBENCH_LINKS.append((BASE + "/entity", "法人库", "Legal-entity library", "library.view"))


@router.get(BASE + "/{kind}", response_class=HTMLResponse)
def library_page(request: Request, kind: str, subject: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    if kind not in KINDS:
        raise Invalid(f"未知的基础库：{kind}", f"Unknown library: {kind}")
    found, error = None, None
    if subject:
        try:
            found = records.record(session, actor=actor, kind=kind, subject=subject)
        except GongshuError as exc:
            error = exc
    return render(request, "library/record.html", {
        "kind": kind, "kind_zh": KINDS[kind][0], "kind_en": KINDS[kind][1], "subject": subject, "found": found,
        "error": error, "builds": records.builds(session, actor=actor, kind=kind, limit=5),
        "stale": upkeep.stale_libraries(session, (kind,)).get(kind),
        "refresh_minutes": int(upkeep.REFRESH_EVERY.total_seconds() // 60),
        "can_build": can(actor, "library.build")}, status_code=error.status if error and error.status != 404 else 200)


@router.post(BASE + "/{kind}/build", response_class=HTMLResponse)
def rebuild(request: Request, kind: str, actor: Actor = Depends(page_actor),
            session: Session = Depends(get_db)) -> Response:
    build_service.build(session, actor=actor, kind=kind)
    return RedirectResponse(f"{BASE}/{kind}", status_code=303)
