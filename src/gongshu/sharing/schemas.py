"""Pydantic shapes of the sharing API (staff side: requests, decisions, grants)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class RequestIn(BaseModel):
    entry_id: int = Field(description="申请的已发布目录")
    items: list[str] = Field(description="申请的信息项名称（最小必要）")
    mode: str = Field(description="共享方式：api 接口 / exchange 交换 / analysis 集中分析 / verify 核验比对")
    matter: str = Field(description="业务场景（办理的事项）")
    legal_basis: str = Field(description="申请依据（法律法规、政策文件及条款）")
    system_name: str = Field(default="", description="使用系统")
    purpose_kind: str = Field(default="public_service", description="用途类别：public_service / benefit_policy / "
                              "emergency / research")
    row_scope: dict[str, list[str]] = Field(default_factory=dict, description="行范围：{信息项: [允许的值]}")
    term_days: int = Field(default=365, description="使用期限（天，自交付起）")
    application_id: int | None = Field(default=None, description="限定使用的应用系统")


class FromDemandIn(BaseModel):
    mode: str | None = Field(default=None, description="共享方式；默认按需求的期望方式")
    items: list[str] | None = Field(default=None, description="信息项；默认为需求所列且目录中有的")
    legal_basis: str | None = Field(default=None, description="申请依据；默认为需求依据")
    term_days: int = Field(default=365)


class GrantItem(BaseModel):
    name: str
    masked: bool = False


class ApproveIn(BaseModel):
    items: list[GrantItem] | None = Field(default=None, description="同意的信息项（可缩减）及是否脱敏；默认按分级")
    row_scope: dict[str, list[str]] | None = Field(default=None, description="行范围（不得宽于申请）")
    mode: str | None = Field(default=None, description="共享方式（可调整）")
    term_days: int | None = Field(default=None, description="使用期限（不得长于申请）")
    note: str = Field(default="", description="答复意见")


class RefuseIn(BaseModel):
    basis: str = Field(description="拒绝的法律依据（必填，告知申请部门）")
    note: str = Field(default="")


class NoteIn(BaseModel):
    note: str = Field(default="")


class ReasonIn(BaseModel):
    reason: str = Field(description="理由")


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    consumer_org_id: int
    source_org_id: int
    entry_id: int
    entry_version: int
    sharing_type: str
    items: list[str]
    row_scope: dict[str, list[str]]
    mode: str
    purpose_kind: str
    matter: str
    legal_basis: str
    system_name: str
    term_days: int
    demand_id: int | None
    status: str
    reply_due: date | None
    decision_note: str
    refusal_basis: str
    decided_at: datetime | None
    created_at: datetime


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    request_id: int
    consumer_org_id: int
    source_org_id: int
    entry_id: int
    application_id: int | None
    mode: str
    purpose_kind: str
    matter: str
    items: list[GrantItem]
    row_scope: dict[str, list[str]]
    term_days: int
    starts_on: date | None
    expires_on: date | None
    status: str
    delivery_due: date | None
    agreement: str
    agreement_accepted_at: datetime | None
    revoked_reason: str
