"""Catalogue API: spreadsheet import and spreadsheet/JSON export in the national template (R-CAT-11)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import transfer as service
from gongshu.catalog.service import workbook
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])
XLSX = workbook.XLSX_MEDIA_TYPE


def attachment(data: bytes, filename: str, media_type: str = XLSX) -> Response:
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"catalog.xlsx\"; filename*=UTF-8''{quote(filename)}"})


@router.post("/import", summary="导入本部门目录（xlsx）Import the department's catalogue spreadsheet")
def import_catalogue(file: UploadFile = File(..., description="目录模板格式的 .xlsx 文件"),
                     dry_run: bool = Form(False, description="只检查不写入：返回错误清单或将要新增/更新的数量"),
                     actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> dict[str, Any]:
    """Import a workbook in the national template layout.

    Any error means nothing is written: 422 with ``error.details`` (sheet, row, column,
    header, field, code, message, message_en per problem). With ``dry_run`` the answer is
    200 with ``ok``, ``errors`` and the would-be counts (a file that cannot be read at all
    is still a 422).
    """
    report = service.import_workbook(session, actor=actor, data=file.file.read(workbook.MAX_BYTES + 1),
                                         filename=file.filename or "",
                                     dry_run=dry_run)
    return report.to_dict()


@router.get("/export.xlsx", summary="导出目录（xlsx）Export the catalogue as a spreadsheet")
def export_xlsx(scope: str = Query("own", description="own：本部门目录（工作副本）；published：已发布目录"),
                org_id: int | None = Query(None, description="published 时只导出该部门"),
                actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    data = service.export_workbook(session, actor=actor, scope=scope, org_id=org_id)
    name = "本部门目录" if scope == "own" else "已发布目录"
    return attachment(data, f"{name}.xlsx")


@router.get("/export.json", summary="导出目录（JSON）Export the catalogue as JSON")
def export_json(scope: str = Query("own", description="own：本部门目录（工作副本）；published：已发布目录"),
                org_id: int | None = Query(None, description="published 时只导出该部门"),
                actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    return JSONResponse(service.export_json(session, actor=actor, scope=scope, org_id=org_id))


@router.get("/template.xlsx", summary="下载空白目录模板 Download the empty catalogue template")
def template_xlsx(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    return attachment(service.template_workbook(session, actor=actor), "政务信息资源目录模板.xlsx")
