"""Open data: the review before opening (R-OPN-6), the portal's accounts and API keys (R-OPN-3)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

#: submitted → approved (the entry is open) | returned (the source may submit again); approved → closed
REVIEW_STATUS = {"submitted": ("待审定", "Awaiting decision"), "approved": ("已批准开放", "Approved for opening"),
                 "returned": ("已退回", "Returned"), "closed": ("已停止开放", "Opening stopped")}
RISK_LEVELS = {"低": "low", "中": "medium", "高": "high"}


class OpeningReview(Base):
    """开放前审查: the source department's confidentiality review (保密审查) and risk assessment (风险评估) of
    opening one entry, and the authority's decision. An entry is open while its latest review is approved."""

    __tablename__ = "open_review"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department
    catalog_version: Mapped[int] = mapped_column(Integer)  # the published catalogue version reviewed
    confidentiality: Mapped[str] = mapped_column(Text)  # 保密审查结论
    risk_assessment: Mapped[str] = mapped_column(Text)  # 风险评估
    risk_level: Mapped[str] = mapped_column(String(2))  # 低 / 中 / 高
    measures: Mapped[str] = mapped_column(Text, default="")  # 脱敏及安全措施
    status: Mapped[str] = mapped_column(String(10), default="submitted", index=True)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")  # the decision's reasons (required to return or close)


# Public accounts (R-OPN-3) ---------------------------------------------------------------------------------

ACCOUNT_KINDS = {"person": ("自然人", "Natural person"), "legal": ("法人或其他组织", "Legal person or organisation")}


class OpenAccount(Base):
    """An account of the open data portal: a natural person or a legal person. Not a staff user: it never reaches
    the workbench. Real-name verification checks the ID number (or USCC) and name against the person (or
    legal-entity) library; the identifier is kept only masked and as an HMAC-SM3 digest."""

    __tablename__ = "open_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # person / legal
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    #: real name: the verified name, the identifier masked (ID number) or in clear (USCC), its digest
    real_name: Mapped[str] = mapped_column(String(200), default="")
    identifier_shown: Mapped[str] = mapped_column(String(18), default="")
    identifier_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OpenSession(Base):
    """A signed-in portal session (cookie ``gongshu_open``): its token and CSRF token, stored hashed / as is."""

    __tablename__ = "open_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("open_account.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


API_SCOPES = {"rows": ("行查询接口", "Row queries"), "download": ("下载", "Downloads")}


class OpenApiKey(Base):
    """An API key of a portal account: scoped, expiring, stored as its SM3 hash, rate-limited per key."""

    __tablename__ = "open_api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("open_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# Applications for conditionally open data (R-OPN-2) ------------------------------------------------------------

#: submitted → approved (awaiting the applicant's acceptance of the agreement) → active → expired | revoked;
#: submitted → refused | withdrawn
APPLICATION_STATUS = {"submitted": ("待审核", "Awaiting review"), "approved": ("已同意，待签署协议", "Approved, agreement "
                      "to accept"), "active": ("使用中", "Active"), "refused": ("不予同意", "Refused"),
                      "withdrawn": ("已撤回", "Withdrawn"), "revoked": ("已撤销", "Revoked"),
                      "expired": ("已到期", "Expired")}


class OpenApplication(Base):
    """An account's application for a conditionally open dataset: purpose, technical capability and security
    measures; the source department's decision (with a deadline in working days); the applicant's acceptance
    of the data use agreement (its version and SM3); the term."""

    __tablename__ = "open_application"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("open_account.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department
    purpose: Mapped[str] = mapped_column(Text)
    capability: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(String(10), default="download")  # download / api / both
    status: Mapped[str] = mapped_column(String(10), default="submitted", index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reply_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")  # the decision's reasons (required to refuse or revoke)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    agreement_version: Mapped[str] = mapped_column(String(20), default="")
    agreement_sm3: Mapped[str] = mapped_column(String(64), default="")
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
