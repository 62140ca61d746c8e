"""Sharing API for staff (session or personal token): requests, decisions and grants (R-SHR-1/2/3).
The applications' data API is in :mod:`gongshu.sharing.api_share`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.sharing.schemas import (
    ApproveIn,
    FromDemandIn,
    GrantOut,
    NoteIn,
    ReasonIn,
    RefuseIn,
    RequestIn,
    RequestOut,
)
from gongshu.sharing.service import grants, requests
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing 数据共享"])


@router.get("/requests", response_model=list[RequestOut])
def list_requests(role: str = Query("all", description="consumer / source / all"), status: str = "",
                  actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return requests.list_requests(session, actor=actor, role=role, status=status or None)


@router.post("/requests", response_model=RequestOut, status_code=201)
def submit(body: RequestIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    """提出共享申请：无条件共享即时授权；有条件共享由数源部门 5 个工作日内答复。"""
    return requests.submit(session, actor=actor, **body.model_dump())


@router.post("/demands/{demand_id}/request", response_model=RequestOut, status_code=201)
def from_demand(demand_id: int, body: FromDemandIn, actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)):
    """已匹配目录的数据需求一键转为共享申请（R-DEM-1）。"""
    return requests.from_demand(session, actor=actor, demand_id=demand_id, **body.model_dump())


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(request_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return requests.get_request(session, actor=actor, request_id=request_id)


@router.post("/requests/{request_id}/approve", response_model=GrantOut)
def approve(request_id: int, body: ApproveIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    data = body.model_dump()
    if data["items"] is not None:
        data["items"] = [dict(i) for i in data["items"]]
    return requests.approve(session, actor=actor, request_id=request_id, **data)


@router.post("/requests/{request_id}/refuse", response_model=RequestOut)
def refuse(request_id: int, body: RefuseIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return requests.refuse(session, actor=actor, request_id=request_id, basis=body.basis, note=body.note)


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut)
def withdraw(request_id: int, body: NoteIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return requests.withdraw(session, actor=actor, request_id=request_id, note=body.note)


@router.get("/grants", response_model=list[GrantOut])
def list_grants(role: str = Query("all", description="consumer / source / all"), status: str = "",
                actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return grants.list_grants(session, actor=actor, role=role, status=status or None)


@router.get("/grants/{grant_id}", response_model=GrantOut)
def get_grant(grant_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return grants.get_grant(session, actor=actor, grant_id=grant_id)


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
def revoke(grant_id: int, body: ReasonIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    return grants.revoke(session, actor=actor, grant_id=grant_id, reason=body.reason)


@router.post("/grants/{grant_id}/agree", response_model=GrantOut)
def agree(grant_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)):
    """使用部门签署共享数据安全协议（R-SHR-9）。"""
    return grants.accept_agreement(session, actor=actor, grant_id=grant_id)
