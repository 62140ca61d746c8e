"""Catalogue API: grades and grading rules, grade suggestions (分类分级, R-CAT-5)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.models import DataElement
from gongshu.catalog.schemas import DataItemIn
from gongshu.catalog.service import grading as service
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class GradeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    rank: int
    description: str


class RuleIn(BaseModel):
    name: str = Field(description="规则名称")
    grade: str = Field(description="建议分级，如 一般3、重要")
    reason: str = Field(description="分级理由，向填报人解释建议")
    element_code: str | None = Field(default=None, description="匹配的数据元代码")
    match_personal: bool | None = Field(default=None, description="匹配个人信息标志；null 不限")
    match_identifier: bool | None = Field(default=None, description="匹配标识项标志；null 不限")
    name_keyword: str = Field(default="", description="信息项名称包含的关键词")


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    element_id: int | None
    element_code: str | None = None
    match_personal: bool | None
    match_identifier: bool | None
    name_keyword: str
    grade: str
    reason: str
    active: bool


class SuggestionOut(BaseModel):
    grade: str
    reasons: list[str]


def _rule_out(session: Session, rule) -> RuleOut:
    out = RuleOut.model_validate(rule)
    if rule.element_id:
        el = session.get(DataElement, rule.element_id)
        out.element_code = el.code if el else None
    return out


@router.get("/grades", response_model=list[GradeOut], summary="分级标准 Grades (GB/T 43697)")
def list_grades(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[GradeOut]:
    return [GradeOut.model_validate(g) for g in service.list_grades(session, actor=actor)]


@router.get("/grading/rules", response_model=list[RuleOut], summary="分级规则 Grading rules")
def list_rules(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[RuleOut]:
    return [_rule_out(session, r) for r in service.rules(session, actor=actor)]


@router.post("/grading/rules", response_model=RuleOut, status_code=201, summary="新增分级规则 Add a rule")
def create_rule(body: RuleIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> RuleOut:
    return _rule_out(session, service.create_rule(session, actor=actor, **body.model_dump()))


@router.put("/grading/rules/{rule_id}", response_model=RuleOut, summary="修改分级规则 Edit a rule")
def update_rule(rule_id: int, body: RuleIn, actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)) -> RuleOut:
    return _rule_out(session, service.update_rule(session, actor=actor, rule_id=rule_id, **body.model_dump()))


@router.post("/grading/rules/{rule_id}/deactivate", response_model=RuleOut, summary="停用规则 Deactivate a rule")
def deactivate_rule(rule_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> RuleOut:
    return _rule_out(session, service.set_rule_active(session, actor=actor, rule_id=rule_id, active=False))


@router.post("/grading/rules/{rule_id}/activate", response_model=RuleOut, summary="重新启用规则 Reactivate a rule")
def activate_rule(rule_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> RuleOut:
    return _rule_out(session, service.set_rule_active(session, actor=actor, rule_id=rule_id, active=True))


@router.post("/grading/suggest", response_model=SuggestionOut,
             summary="按规则建议分级 Suggest a grade for a data item")
def suggest(body: DataItemIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> SuggestionOut:
    """The strictest matching rule wins (就高从严); ``reasons`` lists every matching rule."""
    s = service.try_suggest(session, actor=actor, item=body)
    return SuggestionOut(grade=s.grade, reasons=s.reasons)
