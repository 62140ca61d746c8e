"""Catalogue API: the demand list (需求清单, R-DEM-1): register, route, answer, confirm, reopen, withdraw;
suggestions of published entries from the catalogue search."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import demands as service
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class DemandIn(BaseModel):
    title: str = Field(description="需求名称（需要什么数据）")
    purpose: str = Field(description="用途（应用场景）")
    basis: str = Field(description="需求依据（法律法规或政策文件）")
    description: str = Field(default="", description="需求描述")
    items: list[str] = Field(default_factory=list, description="所需数据项名称")
    provider_org_id: int | None = Field(default=None, description="提供部门；不确定时留空，由数据主管部门转派")
    sharing_mode: str = Field(default="接口", description="期望共享方式：库表 / 接口 / 文件")
    needed_by: date | None = Field(default=None, description="期望完成日期")
    system_id: int | None = Field(default=None, description="服务的本部门信息系统")
    project_id: int | None = Field(default=None, description="服务的本部门政务信息化项目")


class DemandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    org_id: int
    title: str
    description: str
    purpose: str
    basis: str
    items: list[str]
    system_id: int | None
    project_id: int | None
    provider_org_id: int | None
    sharing_mode: str
    needed_by: date | None
    status: str
    entry_id: int | None
    answer: str
    answer_due: date | None
    plan_due: date | None
    note: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class RouteIn(BaseModel):
    provider_org_id: int = Field(description="提供部门")
    note: str = Field(default="", description="转派说明")


class ProposeIn(BaseModel):
    entry_id: int = Field(description="选用的已发布目录")


class AnswerIn(BaseModel):
    outcome: str = Field(description="matched 已匹配 / planned 计划编目 / unavailable 无法提供")
    entry_id: int | None = Field(default=None, description="匹配的本部门已发布目录（matched 时必填）")
    reason: str = Field(default="", description="答复说明；无法提供时必填理由及依据")


class NoteIn(BaseModel):
    note: str = Field(default="", description="说明")


class ReasonIn(BaseModel):
    reason: str = Field(default="", description="理由")


class SuggestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    entry_id: int
    code: str
    name: str
    org_id: int
    org_name: str
    score: int
    matched: list[str]
    of_provider: bool


def _out(d) -> DemandOut:
    return DemandOut.model_validate(d)


@router.get("/demands", response_model=list[DemandOut], summary="需求清单 Data demands")
def list_demands(status: str | None = Query(None, description="状态"),
                 scope: str = Query("all", description="all / mine 本部门提出 / incoming 向本部门提出"),
                 org_id: int | None = Query(None, description="部门（数据主管部门可指定）"),
                 actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[DemandOut]:
    return [_out(d) for d in service.list_demands(session, actor=actor, status=status or None, scope=scope,
                                                  org_id=org_id)]


@router.post("/demands", response_model=DemandOut, status_code=201, summary="登记数据需求 Register a demand")
def register(body: DemandIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.register(session, actor=actor, **body.model_dump()))


@router.get("/demands/{demand_id}", response_model=DemandOut, summary="数据需求 One demand")
def get_demand(demand_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.get_demand(session, actor=actor, demand_id=demand_id))


@router.get("/demands/{demand_id}/suggestions", response_model=list[SuggestionOut],
            summary="可能满足需求的已发布目录 Suggested entries")
def suggestions(demand_id: int, actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)) -> list[SuggestionOut]:
    d = service.get_demand(session, actor=actor, demand_id=demand_id)
    return [SuggestionOut.model_validate(s) for s in service.suggestions(session, actor=actor, demand=d)]


@router.post("/demands/{demand_id}/route", response_model=DemandOut, summary="转派 Route (authority)")
def route(demand_id: int, body: RouteIn, actor: Actor = Depends(api_actor),
          session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.route(session, actor=actor, demand_id=demand_id, **body.model_dump()))


@router.post("/demands/{demand_id}/propose", response_model=DemandOut, summary="选用目录 Propose an entry (requester)")
def propose(demand_id: int, body: ProposeIn, actor: Actor = Depends(api_actor),
            session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.propose(session, actor=actor, demand_id=demand_id, entry_id=body.entry_id))


@router.post("/demands/{demand_id}/answer", response_model=DemandOut, summary="答复 Answer (provider)")
def answer(demand_id: int, body: AnswerIn, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.answer(session, actor=actor, demand_id=demand_id, **body.model_dump()))


@router.post("/demands/{demand_id}/confirm", response_model=DemandOut, summary="确认满足 Confirm fulfilled")
def confirm(demand_id: int, body: NoteIn, actor: Actor = Depends(api_actor),
            session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.confirm(session, actor=actor, demand_id=demand_id, note=body.note))


@router.post("/demands/{demand_id}/reopen", response_model=DemandOut, summary="重新提出 Reopen")
def reopen(demand_id: int, body: ReasonIn, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.reopen(session, actor=actor, demand_id=demand_id, reason=body.reason))


@router.post("/demands/{demand_id}/withdraw", response_model=DemandOut, summary="撤回 Withdraw")
def withdraw(demand_id: int, body: ReasonIn, actor: Actor = Depends(api_actor),
             session: Session = Depends(get_db)) -> DemandOut:
    return _out(service.withdraw(session, actor=actor, demand_id=demand_id, reason=body.reason))
