"""Catalogue API: e-government projects and their compliance check (R-CAT-8)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import projects as service
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class DeclaredItemIn(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    entry_code: str = Field(default="", description="信息资源代码（可空）")
    resource_name: str = Field(default="", description="信息资源名称（可空，代码与名称至少填一项）")
    item_name: str = Field(default="", description="信息项名称（空表示整个资源）")


class ProjectIn(BaseModel):
    name: str = Field(description="项目名称")
    approval_no: str = Field(default="", description="立项批复文号")
    items: list[DeclaredItemIn] = Field(description="申报的数据清单")


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    org_id: int
    name: str
    approval_no: str
    created_at: datetime
    items: list[DeclaredItemIn] = []


class ReportRowOut(BaseModel):
    declared: DeclaredItemIn
    entry_id: int | None
    entry_code: str | None
    entry_name: str | None
    matched_by: str
    results: dict[str, bool | None]
    ok: bool
    notes: list[str]


class ReportOut(BaseModel):
    project: ProjectOut
    org_name: str
    columns: list[dict[str, str]]
    summary: dict[str, int]
    rows: list[ReportRowOut]


def _items(body: ProjectIn) -> list[service.DeclaredItem]:
    return [service.DeclaredItem(**i.model_dump()) for i in body.items]


def _out(session: Session, p) -> ProjectOut:
    out = ProjectOut.model_validate(p)
    out.items = [DeclaredItemIn.model_validate(i) for i in service.declared(session, p.id)]
    return out


@router.get("/projects", response_model=list[ProjectOut], summary="政务信息化项目 Projects")
def list_projects(org_id: int | None = Query(None, description="部门（数据主管部门、审计可查任一部门）"),
                  actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[ProjectOut]:
    return [_out(session, p) for p in service.list_projects(session, actor=actor, org_id=org_id)]


@router.post("/projects", response_model=ProjectOut, status_code=201, summary="登记项目 Register a project")
def register_project(body: ProjectIn, actor: Actor = Depends(api_actor),
                     session: Session = Depends(get_db)) -> ProjectOut:
    p = service.register_project(session, actor=actor, name=body.name, approval_no=body.approval_no,
                                 items=_items(body))
    return _out(session, p)


@router.get("/projects/{project_id}", response_model=ProjectOut, summary="项目详情 One project")
def get_project(project_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> ProjectOut:
    return _out(session, service.get_project(session, actor=actor, project_id=project_id))


@router.put("/projects/{project_id}", response_model=ProjectOut, summary="修改项目及数据清单 Edit a project")
def update_project(project_id: int, body: ProjectIn, actor: Actor = Depends(api_actor),
                   session: Session = Depends(get_db)) -> ProjectOut:
    p = service.update_project(session, actor=actor, project_id=project_id, name=body.name,
                               approval_no=body.approval_no, items=_items(body))
    return _out(session, p)


@router.get("/projects/{project_id}/report", response_model=ReportOut,
            summary="合规检查报告 Compliance check report")
def report(project_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> ReportOut:
    """Per declared item: catalogued? published? (later issues add attached / shared columns)."""
    r = service.check(session, actor=actor, project_id=project_id)
    return ReportOut(
        project=_out(session, r.project), org_name=r.org_name,
        columns=[{"key": c.key, "zh": c.zh, "en": c.en} for c in r.checks], summary=r.summary,
        rows=[ReportRowOut(declared=DeclaredItemIn.model_validate(row.declared),
                           entry_id=row.entry.id if row.entry else None,
                           entry_code=row.entry.code if row.entry else None,
                           entry_name=row.entry.name if row.entry else None, matched_by=row.matched_by,
                           results=row.results, ok=row.ok, notes=row.notes) for row in r.rows])
