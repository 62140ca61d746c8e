"""The catalogue (数据目录): entries, data items, versions, reviews, data elements,
single-source conflicts, grades and grading rules, information systems, projects."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

# Controlled vocabularies (national guide 2017). Stored as the Chinese terms themselves.
RESOURCE_ATTRS = {"1": "基础", "2": "主题", "3": "部门"}
FORMATS = ("电子文件", "电子表格", "数据库", "图形图像", "流媒体", "自描述格式", "服务接口")
ITEM_TYPES = {"C": "字符", "N": "数值", "Y": "货币", "D": "日期", "T": "日期时间", "L": "逻辑", "M": "备注",
              "G": "通用(二进制)", "B": "双精度", "I": "整型", "F": "浮点"}
SHARING_TYPES = ("无条件共享", "有条件共享", "不予共享")
SHARING_MODES = ("库表", "接口", "文件")
OPEN_TYPES = ("无条件开放", "有条件开放", "不予开放")
UPDATE_CYCLES = ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "其他")
#: openness order: a data item may be no more open than its entry
SHARING_RANK = {"无条件共享": 2, "有条件共享": 1, "不予共享": 0}
OPEN_RANK = {"无条件开放": 2, "有条件开放": 1, "不予开放": 0}
STATUSES = ("draft", "submitted", "returned", "published", "revising", "withdrawn")
STATUS_ZH = {"draft": "草稿", "submitted": "待审核", "returned": "已退回", "published": "已发布",
             "revising": "修订中", "withdrawn": "已撤销"}


class CatalogEntry(Base):
    """One catalogued data resource; its row is the working copy, versions are published snapshots."""

    __tablename__ = "catalog_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # providing department (提供方)
    code: Mapped[str] = mapped_column(String(60), unique=True)  # 分类码/顺序码
    resource_attr: Mapped[str] = mapped_column(String(4))  # 基础/主题/部门
    class_code: Mapped[str] = mapped_column(String(30))  # 类(1)项(2)目(3)细目(…) digits
    topic: Mapped[str] = mapped_column(String(40), default="")  # e.g. 人口, 法人, 社会保障
    name: Mapped[str] = mapped_column(String(200), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(20))
    sharing_type: Mapped[str] = mapped_column(String(10))
    sharing_condition: Mapped[str] = mapped_column(Text, default="")
    sharing_basis: Mapped[str] = mapped_column(Text, default="")
    sharing_mode: Mapped[str] = mapped_column(String(10), default="接口")
    sharing_scope: Mapped[str] = mapped_column(String(200), default="")
    open_type: Mapped[str] = mapped_column(String(10))
    open_condition: Mapped[str] = mapped_column(Text, default="")
    update_cycle: Mapped[str] = mapped_column(String(10))
    release_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    business: Mapped[str] = mapped_column(String(200), default="")  # 所属业务 / 事项
    source_system: Mapped[str] = mapped_column(String(200), default="")  # 来源信息系统
    sharing_period: Mapped[str] = mapped_column(String(100), default="")  # 共享期限, e.g. 长期
    collecting_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    verifying_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    related_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    grade: Mapped[str] = mapped_column(String(10), default="一般1")
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)  # latest published version, 0 = never published
    filed_with_authority: Mapped[bool] = mapped_column(Boolean, default=False)  # 不予共享 备案
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DataItem(Base):
    """One field (信息项) of an entry's working copy."""

    __tablename__ = "catalog_item"
    __table_args__ = (UniqueConstraint("entry_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(1))
    length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    meaning: Mapped[str] = mapped_column(Text, default="")
    is_identifier: Mapped[bool] = mapped_column(Boolean, default=False)
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)  # part of the record key (for aggregation)
    is_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    grade: Mapped[str] = mapped_column(String(10), default="一般1")
    sharing_type: Mapped[str | None] = mapped_column(String(10), nullable=True)  # None: as the entry
    open_type: Mapped[str | None] = mapped_column(String(10), nullable=True)  # None: as the entry
    element_id: Mapped[int | None] = mapped_column(ForeignKey("data_element.id"), nullable=True, index=True)
    claims_source: Mapped[bool] = mapped_column(Boolean, default=False)  # this department says it is the source


class EntryVersion(Base):
    """An immutable published snapshot of an entry and its items."""

    __tablename__ = "catalog_entry_version"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))  # SM3 of the canonical snapshot
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    change_note: Mapped[str] = mapped_column(Text, default="")


class Review(Base):
    """One submission and the authority's decision on it (审定)."""

    __tablename__ = "catalog_review"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    change_note: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date] = mapped_column(Date)
    decision: Mapped[str | None] = mapped_column(String(10), nullable=True)  # approve / return
    reasons: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChangeDeclaration(Base):
    """A department declares a change of legal basis or duties: its entries are due for update (DG 12)."""

    __tablename__ = "catalog_change_declaration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # legal_basis / duties
    description: Mapped[str] = mapped_column(Text)
    declared_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_date: Mapped[date] = mapped_column(Date)
    entry_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DataElement(Base):
    """A data element (数据元) with its one authoritative source department (一数一源)."""

    __tablename__ = "data_element"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(1))
    length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    definition: Mapped[str] = mapped_column(Text, default="")
    source_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True, index=True)
    source_basis: Mapped[str] = mapped_column(Text, default="")  # the law that makes it the source
    is_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    is_identifier: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SourceConflict(Base):
    """A second department claims to be the source of an element: the authority must resolve it."""

    __tablename__ = "source_conflict"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    element_id: Mapped[int] = mapped_column(ForeignKey("data_element.id"), index=True)
    incumbent_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    claimant_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    claimant_entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    claimant_item_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_item.id", ondelete="SET NULL"),
                                                         nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open / resolved
    winner_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Grade(Base):
    """A security grade (GB/T 43697): 一般1–4, 重要, 核心; rank orders them (higher = stricter)."""

    __tablename__ = "grade"
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class GradingRule(Base):
    """Suggests a grade for a data item from its element and flags; the reason explains it."""

    __tablename__ = "grading_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    element_id: Mapped[int | None] = mapped_column(ForeignKey("data_element.id"), nullable=True)
    match_personal: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    match_identifier: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    name_keyword: Mapped[str] = mapped_column(String(50), default="")
    grade: Mapped[str] = mapped_column(ForeignKey("grade.code"))
    reason: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class InfoSystem(Base):
    """An information system of a department (信息系统清单)."""

    __tablename__ = "info_system"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    operator: Mapped[str] = mapped_column(String(200), default="")
    launched: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Project(Base):
    """An e-government project and its declared data list (R-CAT-8)."""

    __tablename__ = "egov_project"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    approval_no: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectItem(Base):
    __tablename__ = "egov_project_item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("egov_project.id", ondelete="CASCADE"), index=True)
    entry_code: Mapped[str] = mapped_column(String(60), default="")  # declared code, may be blank
    resource_name: Mapped[str] = mapped_column(String(200))
    item_name: Mapped[str] = mapped_column(String(100), default="")


DEMAND_STATUSES = ("registered", "routed", "matched", "planned", "unavailable", "fulfilled", "withdrawn")
DEMAND_STATUS_ZH = {"registered": "已登记", "routed": "已转派", "matched": "已匹配", "planned": "计划编目",
                    "unavailable": "无法提供", "fulfilled": "已满足", "withdrawn": "已撤回"}


class DataDemand(Base):
    """A department's need for data (需求清单, R-DEM-1): registered, routed to a provider department,
    answered (matched to a published entry / to be catalogued / cannot supply) and confirmed fulfilled."""

    __tablename__ = "catalog_demand"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # requesting department (需求部门)
    title: Mapped[str] = mapped_column(String(200))  # what data is needed (需求名称)
    description: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(Text)  # business use (用途 / 应用场景)
    basis: Mapped[str] = mapped_column(Text)  # legal or policy basis (依据)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # wanted data items (所需数据项)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("info_system.id", ondelete="SET NULL"), nullable=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("egov_project.id", ondelete="SET NULL"), nullable=True)
    #: the department asked for the data; None = unknown, the authority routes it
    provider_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True, index=True)
    sharing_mode: Mapped[str] = mapped_column(String(10), default="接口")  # SHARING_MODES
    needed_by: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="registered", index=True)  # DEMAND_STATUSES
    #: the matched published entry (or the one the requester proposed while routing)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_entry.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    answer: Mapped[str] = mapped_column(Text, default="")  # the provider's answer / reason
    answer_due: Mapped[date | None] = mapped_column(Date, nullable=True)  # provider answers by (working days)
    plan_due: Mapped[date | None] = mapped_column(Date, nullable=True)  # 计划编目: catalogued by
    note: Mapped[str] = mapped_column(Text, default="")  # the requester's last note (confirm / reopen / withdraw)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    routed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # fulfilled or withdrawn
