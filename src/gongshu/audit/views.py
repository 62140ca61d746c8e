"""The auditors' page: browse and filter the log, verify the chain."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from gongshu.audit import service
from gongshu.audit.filters import parse_filters
from gongshu.auth.service import Actor, can, require
from gongshu.kit.pagination import Page
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)


@router.get("/workbench/audit", response_class=HTMLResponse)
def audit_page(request: Request, action: str = "", actor_name: str = "", subject_type: str = "", subject_id: str = "",
               since: str = "", until: str = "", page: int = 1, verify: int = 0,
               actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    require(actor, "audit.view")
    p = Page(page, 50)
    filters = parse_filters(action=action, actor=actor_name, subject_type=subject_type, subject_id=subject_id,
                            since=since, until=until)
    rows, total = service.search(session, page=p, **filters)
    result = service.verify(session) if verify and can(actor, "audit.verify") else None
    return render(request, "audit/log.html", {
        "rows": rows, "total": total, "page": p, "verify": result, "can_verify": can(actor, "audit.verify"),
        "f": {"action": action, "actor_name": actor_name, "subject_type": subject_type, "subject_id": subject_id,
              "since": since, "until": until},
        "pages": (total + p.size - 1) // p.size,
    })
