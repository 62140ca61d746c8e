"""Shapes of catalogue data at the edges (API bodies, import rows, exports).

EntryIn/DataItemIn are what a department submits, whatever the channel (form, API,
spreadsheet import); the service enforces the business rules on them.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class DataItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="信息项名称")
    type: str = Field(description="数据类型 C/N/Y/D/T/L/M/G/B/I/F")
    length: int | None = Field(default=None, ge=1, le=100000, description="数据长度")
    meaning: str = Field(default="", description="含义")
    is_identifier: bool = Field(default=False, description="是否标识项")
    is_key: bool = Field(default=False, description="是否主键项")
    is_personal: bool = Field(default=False, description="是否个人信息")
    grade: str | None = Field(default=None, description="分级；空则按分级规则建议")
    sharing_type: str | None = Field(default=None, description="信息项共享类型；空则同资源")
    open_type: str | None = Field(default=None, description="信息项开放属性；空则同资源")
    element_code: str | None = Field(default=None, description="关联数据元代码")
    claims_source: bool = Field(default=False, description="本部门是否为该数据元的数源部门")


class EntryIn(BaseModel):
    code: str = Field(description="信息资源代码 分类码/顺序码")
    resource_attr: str = Field(description="资源属性 基础/主题/部门")
    class_code: str | None = Field(default=None, description="分类码（类项目细目）；空则取代码斜杠前部分")
    topic: str = ""
    name: str = Field(min_length=1, max_length=200)
    summary: str = ""
    format: str
    sharing_type: str
    sharing_condition: str = ""
    sharing_basis: str = ""
    sharing_mode: str = "接口"
    sharing_scope: str = ""
    open_type: str
    open_condition: str = ""
    update_cycle: str
    release_date: date | None = None
    legal_basis: str = ""
    business: str = ""
    source_system: str = ""
    sharing_period: str = ""
    collecting_org: str | None = Field(default=None, description="采集部门名称或统一社会信用代码")
    verifying_org: str | None = Field(default=None, description="核准部门名称或统一社会信用代码")
    related_codes: list[str] = []
    grade: str | None = None
    items: list[DataItemIn] = Field(min_length=1)


class DataItemOut(DataItemIn):
    model_config = ConfigDict(from_attributes=True)
    id: int
    seq: int
    element_id: int | None = None


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    org_id: int
    code: str
    resource_attr: str
    class_code: str
    topic: str
    name: str
    summary: str
    format: str
    sharing_type: str
    sharing_condition: str
    sharing_basis: str
    sharing_mode: str
    sharing_scope: str
    open_type: str
    open_condition: str
    update_cycle: str
    release_date: date | None
    legal_basis: str
    business: str
    source_system: str
    sharing_period: str
    collecting_org_id: int | None
    verifying_org_id: int | None
    related_codes: list[str]
    grade: str
    status: str
    version: int
    filed_with_authority: bool
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    items: list[DataItemOut] = []
