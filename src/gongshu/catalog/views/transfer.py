"""Catalogue pages: 目录导入导出 — upload with a dry-run preview, the error table, export links."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import transfer as service
from gongshu.catalog.service import workbook
from gongshu.errors import GongshuError
from gongshu.web.deps import get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/catalog/transfer"
#: errors shown in the page table (the API returns all of them)
SHOW_ERRORS = 1000

WORKBENCH_LINKS.append((PAGE, "目录导入导出", "Catalogue import/export", "catalog.export"))


def _page(request: Request, actor: Actor, *, report: service.ImportReport | None = None,
          error: GongshuError | None = None, status: int = 200) -> Response:
    errors = (error.details if error else report.errors if report else []) or []
    return render(request, "catalog/transfer_page.html", {
        "report": report, "error": error, "errors": errors[:SHOW_ERRORS], "more": max(0, len(errors) - SHOW_ERRORS),
        "can_import": can(actor, "catalog.import", org_id=actor.org_id), "page_url": PAGE,
    }, status_code=status)


@router.get(PAGE, response_class=HTMLResponse)
def transfer_page(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    require(actor, "catalog.export")
    return _page(request, actor)


@router.post(PAGE, response_class=HTMLResponse)
def transfer_upload(request: Request, file: UploadFile = File(...), dry_run: str = Form(""),
                    actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        report = service.import_workbook(session, actor=actor, data=file.file.read(workbook.MAX_BYTES + 1),
                                         filename=file.filename or "",
                                         dry_run=bool(dry_run))
    except GongshuError as exc:
        session.rollback()
        return _page(request, actor, error=exc, status=exc.status)
    return _page(request, actor, report=report)
