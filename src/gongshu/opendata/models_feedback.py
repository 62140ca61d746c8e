"""What the public tells the portal: requests to open data not yet open (R-OPN-4, LZ 23) and error reports on
open datasets (R-OPN-5, LZ 26/31).

Both carry the submitter's contact sealed with SM4-GCM (staff read it; no public page shows it), the SM3 hash of
a tracking token (the submitter's link; the token itself is never stored) and a nullable ``account_id`` for the
portal accounts (R-OPN-3) once submitters can sign in (no foreign key: accounts live in their own tables)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

#: submitted (awaiting the authority's triage) → routed (at the department holding the data) → planned (will be
#: opened by a date) → fulfilled (an open dataset meets it) | refused (reasons and legal basis); the authority may
#: also close it as a duplicate or out of scope; the submitter may withdraw it while it is undecided
REQUEST_STATUS: dict[str, tuple[str, str]] = {
    "submitted": ("已提交", "Submitted"),
    "routed": ("已转办", "Routed"),
    "planned": ("处理中（计划开放）", "In progress (planned)"),
    "fulfilled": ("已开放", "Opened"),
    "refused": ("不予开放", "Not opened"),
    "duplicate": ("重复", "Duplicate"),
    "out_of_scope": ("不予受理", "Out of scope"),
    "withdrawn": ("已撤回", "Withdrawn"),
}
REQUEST_BADGE = {"submitted": "", "routed": "blue", "planned": "amber", "fulfilled": "green", "refused": "red",
                 "duplicate": "", "out_of_scope": "", "withdrawn": ""}
#: open → accepted (will be fixed) → fixed (in data version N); open / accepted → rejected (checked: no error).
#: LZ 31 names three outcomes of a data problem: 完成整改 (fixed), 确认无误 (rejected), 沟通解决 (accepted).
REPORT_STATUS: dict[str, tuple[str, str]] = {
    "open": ("待处理", "Open"),
    "accepted": ("已确认，待修正", "Accepted, to be fixed"),
    "fixed": ("已修正", "Fixed"),
    "rejected": ("经核实无误", "Checked: no error"),
}
REPORT_BADGE = {"open": "", "accepted": "amber", "fixed": "green", "rejected": "blue"}
#: where an error report came from (the governance issue adds its own channels)
REPORT_CHANNELS = {"portal": ("开放门户", "Open data portal")}


def _in(values) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class OpenRequest(Base):
    """开放需求: a request to open data that is not open yet."""

    __tablename__ = "open_request"
    __table_args__ = (CheckConstraint(_in(REQUEST_STATUS), name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)  # 利用目的 (LZ 23)
    #: the department the submitter thinks holds the data (a hint for the triage)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    #: the published catalogue entry the request relates to
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_entry.id", ondelete="SET NULL"), nullable=True)
    contact_sealed: Mapped[bytes] = mapped_column(LargeBinary)  # SM4-GCM of {"name", "email", "mobile"}
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # portal account (R-OPN-3), later
    token_sm3: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="submitted", index=True)
    #: kept off the public pages (the authority closed it as out of scope for its content: personal data, abuse)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    dept_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True, index=True)  # routed to
    #: what the request waits for, by when: the triage, the department's answer or the planned opening
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("open_request.id", ondelete="SET NULL"),
                                                        nullable=True)
    #: the open dataset that fulfils the request
    dataset_entry_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_entry.id", ondelete="SET NULL"),
                                                         nullable=True)
    planned_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")  # the public answer (reasons of a refusal, of a closing)
    legal_basis: Mapped[str] = mapped_column(Text, default="")  # required to refuse
    note: Mapped[str] = mapped_column(Text, default="")  # the authority's routing note (staff only)
    routed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OpenErrorReport(Base):
    """纠错: a reported error in an open dataset (a data issue of its source department). General enough for the
    governance issue's loop: which entry, version, item and row; what is wrong, the suggested correction, the
    source's answer and the version that fixed it."""

    __tablename__ = "open_error_report"
    __table_args__ = (CheckConstraint(_in(REPORT_STATUS), name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the data version seen
    item: Mapped[str] = mapped_column(String(100), default="")  # a public item's name, or "" for the row
    row_ref: Mapped[str] = mapped_column(String(200), default="")  # the row's key, number or a description
    description: Mapped[str] = mapped_column(Text)  # what is wrong
    suggestion: Mapped[str] = mapped_column(Text, default="")  # the suggested correction
    channel: Mapped[str] = mapped_column(String(12), default="portal")
    contact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_sm3: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    fixed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
