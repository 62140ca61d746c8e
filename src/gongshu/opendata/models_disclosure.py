"""Open data: 双公示 publication tracking (R-OPN-9) and the open catalogue's yearly adjustment with livelihood
priority (R-OPN-1)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

#: 双公示: the two kinds of administrative decisions published within 7 working days (GD 四(一))
DISCLOSURE_KINDS = {"行政许可": "Administrative licensing", "行政处罚": "Administrative penalty"}
#: a version's check: ok (every new decision on time) | late (some published late) | unverifiable (the data
#: or the calendar needed is not available: the reason is stored)
CHECK_STATUS = {"ok": ("按时公示", "On time"), "late": ("逾期公示", "Published late"),
                "unverifiable": ("无法核验", "Cannot be checked")}

#: adjustment rounds: open (proposals accepted until the closing date, decisions) → closed
ROUND_STATUS = {"open": ("征集中", "Open"), "closed": ("已结束", "Closed")}
PROPOSAL_KINDS = {"add": ("增补开放", "Add to the open catalogue"), "remove": ("停止开放", "Remove"),
                  "priority": ("民生优先", "Livelihood priority")}
PROPOSAL_STATUS = {"pending": ("待审定", "Awaiting decision"), "approved": ("已同意", "Approved"),
                   "refused": ("不予同意", "Refused")}
#: 民生领域 (livelihood domains, LZ 24: data closely related to people's livelihood is opened first)
LIVELIHOOD_DOMAINS = {
    "教育": "Education", "医疗卫生": "Health care", "社会保障": "Social security", "就业创业": "Employment",
    "住房保障": "Housing", "交通出行": "Transport", "养老服务": "Elderly care", "食品药品": "Food and drugs",
    "生态环境": "Environment", "公共安全": "Public safety", "民政服务": "Civil affairs", "文化旅游": "Culture and tourism",
    "市场监管": "Market regulation",
}


class DisclosureDataset(Base):
    """An open entry the authority flagged as a 双公示 dataset: its kind and the data item holding each row's
    decision date (决定日期, a D-type item)."""

    __tablename__ = "open_disclosure"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department
    kind: Mapped[str] = mapped_column(String(10))  # 行政许可 / 行政处罚
    date_item: Mapped[str] = mapped_column(String(200))  # the data item (label) of the decision date
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    flagged_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")  # why it was unflagged


class DisclosureCheck(Base):
    """One data version of a 双公示 dataset checked: of the decisions first published in it, how many were
    published more than 7 working days after the decision, the worst lag and a sample of the late rows."""

    __tablename__ = "open_disclosure_check"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("open_disclosure.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("ingest_version.id", ondelete="CASCADE"), unique=True)
    version_number: Mapped[int] = mapped_column(Integer)
    published_on: Mapped[date] = mapped_column(Date)  # the day the version was loaded (Beijing time)
    status: Mapped[str] = mapped_column(String(14), index=True)
    rows_new: Mapped[int] = mapped_column(Integer, default=0)  # rows first published in this version
    rows_checked: Mapped[int] = mapped_column(Integer, default=0)  # … with a usable decision date
    rows_invalid: Mapped[int] = mapped_column(Integer, default=0)  # … without (missing, or after publication)
    rows_late: Mapped[int] = mapped_column(Integer, default=0)
    worst_lag: Mapped[int | None] = mapped_column(Integer, nullable=True)  # working days
    #: up to 20 late rows, worst first: [{"key": {label: value}, "decision_date": "YYYY-MM-DD", "lag": n}]
    sample: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it could not be checked
    reason_en: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    explanation: Mapped[str] = mapped_column(Text, default="")  # the source department's explanation
    explained_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    explained_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AdjustmentRound(Base):
    """A yearly adjustment of the open catalogue (年度动态调整, DG 32): opened by the authority with a
    closing date for the departments' proposals."""

    __tablename__ = "open_adjustment_round"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, unique=True)
    closes_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AdjustmentProposal(Base):
    """A department's proposal in a round: add an entry of its own to the open catalogue (with the open
    attribute), remove an open one (with reasons), or mark one as priority livelihood data (with the domain);
    and the authority's decision."""

    __tablename__ = "open_adjustment_proposal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("open_adjustment_round.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # add / remove / priority
    open_type: Mapped[str] = mapped_column(String(10), default="")  # add: 无条件开放 / 有条件开放
    open_condition: Mapped[str] = mapped_column(Text, default="")  # add, 有条件开放: the conditions
    livelihood: Mapped[str] = mapped_column(String(20), default="")  # 民生领域, or ""
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class LivelihoodPriority(Base):
    """An entry marked as priority livelihood data (民生优先) by an approved proposal; shown on the portal."""

    __tablename__ = "open_priority"
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(20))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("open_adjustment_round.id", ondelete="SET NULL"),
                                                 nullable=True)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
