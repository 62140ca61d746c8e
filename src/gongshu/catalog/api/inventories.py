"""Catalogue API: information systems and the inventories (清单, R-CAT-9), with exports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import inventories as service
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class SystemIn(BaseModel):
    name: str = Field(description="信息系统名称")
    description: str = Field(default="", description="系统简介")
    operator: str = Field(default="", description="运维单位")
    launched: date | None = Field(default=None, description="上线日期")


class SystemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    org_id: int
    name: str
    description: str
    operator: str
    launched: date | None
    created_at: datetime


class InventoryOut(BaseModel):
    kind: str
    title: str
    org_id: int | None
    org_name: str
    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]


def scope_org(actor: Actor, org_id: int | None, city: bool) -> int | None:
    """Which organisation a request means: ``city`` → None (city-wide); an explicit org; otherwise
    the whole city for those who may see it, else the actor's own department."""
    if city:
        return None
    if org_id is not None:
        return org_id
    return None if service.may_view_all(actor) else actor.org_id


@router.get("/systems", response_model=list[SystemOut], summary="信息系统清单 Information systems")
def list_systems(org_id: int | None = Query(None, description="部门；缺省为本部门（数据主管部门缺省为全市）"),
                 city: bool = Query(False, description="全市"),
                 actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[SystemOut]:
    rows = service.list_systems(session, actor=actor, org_id=scope_org(actor, org_id, city))
    return [SystemOut.model_validate(s) for s in rows]


@router.post("/systems", response_model=SystemOut, status_code=201, summary="登记信息系统 Add a system")
def create_system(body: SystemIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> SystemOut:
    return SystemOut.model_validate(service.create_system(session, actor=actor, **body.model_dump()))


@router.put("/systems/{system_id}", response_model=SystemOut, summary="修改信息系统 Edit a system")
def update_system(system_id: int, body: SystemIn, actor: Actor = Depends(api_actor),
                  session: Session = Depends(get_db)) -> SystemOut:
    return SystemOut.model_validate(service.update_system(session, actor=actor, system_id=system_id,
                                                          **body.model_dump()))


@router.delete("/systems/{system_id}", status_code=204, summary="删除信息系统 Remove a system")
def delete_system(system_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    service.delete_system(session, actor=actor, system_id=system_id)
    return Response(status_code=204)


@router.get("/inventories/{kind}", response_model=InventoryOut,
            summary="清单 Inventory: systems / data / sharing / collection")
def get_inventory(kind: str, org_id: int | None = Query(None, description="部门；缺省见 /systems"),
                  city: bool = Query(False, description="全市"),
                  actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> InventoryOut:
    inv = service.inventory(session, actor=actor, kind=kind, org_id=scope_org(actor, org_id, city))
    keys = [k for k, _zh, _en in inv.columns]
    return InventoryOut(kind=inv.kind, title=inv.title, org_id=inv.org_id, org_name=inv.org_name,
                        columns=[{"key": k, "zh": zh, "en": en} for k, zh, en in inv.columns],
                        rows=[{k: r.get(k) for k in keys} for r in inv.rows])


@router.get("/inventories/{kind}/export", summary="导出清单 Export an inventory (csv / xlsx / json)")
def export_inventory(kind: str, format: str = Query("xlsx", description="csv / xlsx / json"),
                     org_id: int | None = Query(None), city: bool = Query(False),
                     actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    name, media, content = service.export(session, actor=actor, kind=kind, org_id=scope_org(actor, org_id, city),
                                          fmt=format)
    return Response(content, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"inventory.{format}\"; filename*=UTF-8''{quote(name)}"})
