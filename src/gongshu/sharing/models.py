"""The sharing system (数据共享系统): requests, grants, consumer applications and their credentials,
access events (evidence), exchange packages, analysis runs, usage reports and emergencies
(R-SHR-1 … R-SHR-10)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

#: delivery modes (R-SHR-5) and verification (R-SHR-4), by code name -> (中文, English)
MODES: dict[str, tuple[str, str]] = {
    "api": ("接口共享", "API"),
    "exchange": ("交换共享", "Exchange"),
    "analysis": ("集中分析", "On-platform analysis"),
    "verify": ("核验比对", "Verification"),
}
#: why the consumer asks (R-SHR-7): enterprises only for benefit policies or emergencies, universities
#: only for research
PURPOSES: dict[str, tuple[str, str]] = {
    "public_service": ("履行职责、政务服务", "Public duties and services"),
    "benefit_policy": ("惠企利民政策", "Benefit policies"),
    "emergency": ("应急处置", "Emergency response"),
    "research": ("科学研究", "Research"),
}
REQUEST_STATUS: dict[str, tuple[str, str]] = {
    "pending": ("待数源部门答复", "Awaiting the source's reply"),
    "escalated": ("已提请主管部门协调", "Escalated to the authority"),
    "approved": ("已同意", "Approved"),
    "refused": ("已拒绝", "Refused"),
    "withdrawn": ("已撤回", "Withdrawn"),
}
GRANT_STATUS: dict[str, tuple[str, str]] = {
    "awaiting_delivery": ("待交付", "Awaiting delivery"),
    "active": ("有效", "Active"),
    "suspended": ("已暂停", "Suspended"),
    "revoked": ("已撤销", "Revoked"),
    "expired": ("已到期", "Expired"),
}


class ShareRequest(Base):
    """A consumer's application (共享申请) for data items of one published entry, for one scenario."""

    __tablename__ = "share_request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)  # GX-2026-000123
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    source_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    entry_version: Mapped[int] = mapped_column(Integer)  # the catalogue version the request was made against
    sharing_type: Mapped[str] = mapped_column(String(10))  # the entry's type at request time
    items: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: equality scope on data items, e.g. {"户籍地区划": ["441902"]}: only those rows
    row_scope: Mapped[dict] = mapped_column(JSON, default=dict)
    mode: Mapped[str] = mapped_column(String(12))  # MODES
    purpose_kind: Mapped[str] = mapped_column(String(20), default="public_service")  # PURPOSES
    matter: Mapped[str] = mapped_column(String(200))  # 业务场景 / 事项名称
    legal_basis: Mapped[str] = mapped_column(Text)  # 依据
    system_name: Mapped[str] = mapped_column(String(200), default="")  # the consumer's system (使用系统)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("share_application.id"), nullable=True)
    term_days: Mapped[int] = mapped_column(Integer, default=365)  # asked for, calendar days from delivery
    demand_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_demand.id", ondelete="SET NULL"),
                                                  nullable=True, index=True)
    emergency_id: Mapped[int | None] = mapped_column(ForeignKey("share_emergency.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # REQUEST_STATUS
    reply_due: Mapped[date | None] = mapped_column(Date, nullable=True)  # 5 working days (DG 23, LZ 17)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    refusal_basis: Mapped[str] = mapped_column(Text, default="")  # a refusal cites law (R-SHR-2)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    decided_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Grant(Base):
    """What an approved request allows (授权): consumer, scenario, items, rows, mode, expiry (R-SHR-3)."""

    __tablename__ = "share_grant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_request.id"), unique=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    source_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("share_application.id"), nullable=True,
                                                       index=True)
    mode: Mapped[str] = mapped_column(String(12))
    purpose_kind: Mapped[str] = mapped_column(String(20))
    matter: Mapped[str] = mapped_column(String(200))
    #: granted items: [{"name": "姓名", "masked": false}, …] — masked items are served masked only
    items: Mapped[list[dict]] = mapped_column(JSON, default=list)
    row_scope: Mapped[dict] = mapped_column(JSON, default=dict)
    term_days: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # set at delivery
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="awaiting_delivery", index=True)  # GRANT_STATUS
    delivery_due: Mapped[date | None] = mapped_column(Date, nullable=True)  # 5 working days after the reply
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the provider–consumer security agreement (R-SHR-9)
    agreement: Mapped[str] = mapped_column(Text, default="")
    agreement_accepted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    agreement_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    report_every_days: Mapped[int] = mapped_column(Integer, default=90)  # usage reports (R-SHR-6)
    emergency_id: Mapped[int | None] = mapped_column(ForeignKey("share_emergency.id"), nullable=True, index=True)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Application(Base):
    """A consumer's system (应用) calling the API with client credentials (secret stored as SM3 only)."""

    __tablename__ = "share_application"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_sm3: Mapped[str] = mapped_column(String(64))
    secret_hint: Mapped[str] = mapped_column(String(8), default="")  # last 4 characters, to tell secrets apart
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=6000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccessEvent(Base):
    """Evidence of one call or delivery, allowed or denied (R-OPN-7 style logging for sharing): who, which
    application, for whom (经办人) and why (事项编号), what, and the result. Keys appear only as HMAC-SM3
    digests (:class:`AccessSubject`); rows are written in batches, each batch sealed by an audit event."""

    __tablename__ = "share_access_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    grant_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    consumer_org_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    source_org_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    end_user: Mapped[str] = mapped_column(String(100), default="")
    purpose: Mapped[str] = mapped_column(String(100), default="")  # 事项编号 / case number
    operation: Mapped[str] = mapped_column(String(20))  # lookup / batch / query / verify / exchange / analysis
    items: Mapped[list[str]] = mapped_column(JSON, default=list)
    keys: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str] = mapped_column(String(20))  # ok / denied / not_found / error
    reason: Mapped[str] = mapped_column(String(200), default="")
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    seal_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the audit event sealing its batch


class AccessSubject(Base):
    """The data subjects an access event touched, as HMAC-SM3 digests of their keys (never the key)."""

    __tablename__ = "share_access_subject"
    event_id: Mapped[int] = mapped_column(ForeignKey("share_access_event.id", ondelete="CASCADE"),
                                          primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_share_access_subject_digest", "key_digest"),)


class ExchangePackage(Base):
    """A delivery in exchange mode: the granted rows as CSV or Parquet with a signed manifest."""

    __tablename__ = "share_package"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("share_grant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # full / incremental
    format: Mapped[str] = mapped_column(String(10))  # csv / parquet
    version_id: Mapped[int] = mapped_column(Integer)
    since_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(String(500))
    sm3: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict] = mapped_column(JSON, default=dict)
    signature: Mapped[str] = mapped_column(Text)  # hex DER SM2 signature of the manifest
    key_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="ready")  # ready/received/destroyed
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # confirmed by consumer
    destroyed_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsageReport(Base):
    """A consumer's periodic report on how it used a grant (R-SHR-6)."""

    __tablename__ = "share_usage_report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("share_grant.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    calls: Mapped[int] = mapped_column(Integer, default=0)  # counted from the access events
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="due")  # due / filed
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Emergency(Base):
    """A declared emergency (R-SHR-8): covered consumers get grants at once; afterwards review,
    revocation and sealing or destruction of delivered packages."""

    __tablename__ = "share_emergency"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(Text)
    entry_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    consumer_org_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active / ended / reviewed
    review: Mapped[str] = mapped_column(Text, default="")
    declared_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
