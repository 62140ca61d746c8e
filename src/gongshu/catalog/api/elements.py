"""Catalogue API: data elements (数据元) and single-source conflicts (一数一源, R-CAT-6)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import elements as service
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class ElementIn(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="数据元代码")
    name: str = Field(min_length=1, max_length=100, description="数据元名称")
    type: str = Field(description="数据类型 C/N/Y/D/T/L/M/G/B/I/F")
    length: int | None = Field(default=None, description="数据长度")
    definition: str = Field(default="", description="定义")
    source_org_id: int | None = Field(default=None, description="数源部门（仅新建时；之后用 /source 变更）")
    source_basis: str = Field(default="", description="数源依据（法定职责、法规条款）")
    is_personal: bool = Field(default=False, description="是否个人信息")
    is_identifier: bool = Field(default=False, description="是否标识")


class ElementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    type: str
    length: int | None
    definition: str
    source_org_id: int | None
    source_basis: str
    is_personal: bool
    is_identifier: bool
    created_at: datetime


class SourceIn(BaseModel):
    source_org_id: int | None = Field(description="新的数源部门；null 表示清除")
    source_basis: str = Field(default="", description="数源依据")
    note: str = Field(default="", description="说明")


class ConflictOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    element_id: int
    incumbent_org_id: int | None
    claimant_org_id: int
    claimant_entry_id: int
    claimant_item_id: int | None
    status: str
    winner_org_id: int | None
    resolution_note: str
    created_at: datetime
    resolved_at: datetime | None
    kind: str = Field(description="claim：对无数源数据元的认领；conflict：与现数源部门冲突")


class ResolveIn(BaseModel):
    decision: str = Field(description="keep：维持原数源部门；transfer：数源转移给申报部门")
    note: str = Field(description="裁决理由")


def _conflict_out(c) -> ConflictOut:
    return ConflictOut.model_validate({**{k: getattr(c, k) for k in ConflictOut.model_fields if k != "kind"},
                                       "kind": service.conflict_kind(c)})


@router.get("/elements", response_model=list[ElementOut], summary="数据元列表 List data elements")
def list_elements(q: str = Query("", description="代码或名称关键词"),
                  source_org_id: int | None = Query(None, description="只看该部门为数源的数据元"),
                  actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[ElementOut]:
    return [ElementOut.model_validate(e) for e in
            service.list_elements(session, actor=actor, q=q, source_org_id=source_org_id)]


@router.post("/elements", response_model=ElementOut, status_code=201, summary="新建数据元 Create a data element")
def create_element(body: ElementIn, actor: Actor = Depends(api_actor),
                   session: Session = Depends(get_db)) -> ElementOut:
    return ElementOut.model_validate(service.create_element(session, actor=actor, **body.model_dump()))


@router.get("/elements/{element_id}", response_model=ElementOut, summary="数据元详情 One data element")
def get_element(element_id: int, actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)) -> ElementOut:
    return ElementOut.model_validate(service.view_element(session, actor=actor, element_id=element_id))


@router.put("/elements/{element_id}", response_model=ElementOut, summary="修改数据元 Edit a data element")
def update_element(element_id: int, body: ElementIn, actor: Actor = Depends(api_actor),
                   session: Session = Depends(get_db)) -> ElementOut:
    data = body.model_dump(exclude={"source_org_id"})
    return ElementOut.model_validate(service.update_element(session, actor=actor, element_id=element_id, **data))


@router.put("/elements/{element_id}/source", response_model=ElementOut,
            summary="指定或变更数源部门 Name or change the source department")
def set_source(element_id: int, body: SourceIn, actor: Actor = Depends(api_actor),
               session: Session = Depends(get_db)) -> ElementOut:
    return ElementOut.model_validate(service.set_source(session, actor=actor, element_id=element_id,
                                                        **body.model_dump()))


@router.get("/conflicts", response_model=list[ConflictOut], summary="一数一源冲突 Single-source conflicts")
def list_conflicts(status: str | None = Query("open", description="open / resolved / withdrawn；空为全部"),
                   org_id: int | None = Query(None, description="只看该部门参与的冲突（数据主管部门）"),
                   entry_id: int | None = Query(None, description="只看显示在该目录上的未决冲突"),
                   actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[ConflictOut]:
    if entry_id is not None:
        rows = service.conflicts_for_entry(session, actor=actor, entry_id=entry_id)
    else:
        rows = service.list_conflicts(session, actor=actor, status=status or None, org_id=org_id)
    return [_conflict_out(c) for c in rows]


@router.post("/conflicts/{conflict_id}/resolve", response_model=ConflictOut,
             summary="裁决一数一源冲突 Resolve a single-source conflict")
def resolve_conflict(conflict_id: int, body: ResolveIn, actor: Actor = Depends(api_actor),
                     session: Session = Depends(get_db)) -> ConflictOut:
    return _conflict_out(service.resolve_conflict(session, actor=actor, conflict_id=conflict_id,
                                                  decision=body.decision, note=body.note))
