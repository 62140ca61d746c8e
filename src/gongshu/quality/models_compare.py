"""Cross-source comparison and sensitive-data recognition (R-GOV-4, DG 49).

A **comparison** is one run over one data element (数据元) held by several sources — the serving versions of the
entries whose items are bound to it and that hold one row per subject (citizen ID number or USCC as their key).
It keeps the counts per source pair, the mismatching subjects (a Parquet file under the files root plus a masked
sample) and the data issue it raised at the element's legal source (数源部门). The newest comparison of an element
is its ``latest``.

A **scan** runs the recognizers (ID numbers, USCCs, mobile numbers, bank cards, e-mail, Chinese names, addresses)
over a sample of one data version's columns and keeps, per recognizer, whether it ran (and why not). A **grading
suggestion** is a column whose content disagrees with its declared grade or personal-information flag: the
authority accepts it (the source department is asked to revise its entry) or dismisses it with a reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

COMPARE_STATUS: dict[str, tuple[str, str]] = {
    "done": ("已完成", "Done"),
    "no_source": ("无数源部门数据", "No legal source data"),
    "failed": ("失败", "Failed"),
}
SCAN_STATUS: dict[str, tuple[str, str]] = {"done": ("已完成", "Done"), "failed": ("失败", "Failed")}
SUGGESTION_STATUS: dict[str, tuple[str, str]] = {
    "open": ("待处理", "Open"),
    "accepted": ("已采纳", "Accepted"),
    "dismissed": ("已驳回", "Dismissed"),
}
SUGGESTION_BADGE = {"open": "amber", "accepted": "green", "dismissed": ""}
#: the subject a source is keyed by: person (GB 11643) or legal entity (GB 32100)
SUBJECT_KINDS: dict[str, tuple[str, str]] = {"ric": ("自然人（公民身份号码）", "Person (citizen ID)"),
                                             "uscc": ("法人（统一社会信用代码）", "Entity (USCC)")}


def _in(name: str, values) -> CheckConstraint:
    return CheckConstraint(f"{name} IN (" + ", ".join(f"'{v}'" for v in values) + ")", name=name)


class Comparison(Base):
    """One comparison of one data element across its sources (跨源比对)."""

    __tablename__ = "quality_compare"
    __table_args__ = (_in("status", COMPARE_STATUS),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    element_id: Mapped[int] = mapped_column(ForeignKey("data_element.id", ondelete="CASCADE"), index=True)
    element_code: Mapped[str] = mapped_column(String(40))
    element_name: Mapped[str] = mapped_column(String(100))
    subject_kind: Mapped[str] = mapped_column(String(4))  # SUBJECT_KINDS
    status: Mapped[str] = mapped_column(String(10), default="done", index=True)
    #: the element's source department at the time, and the entry of it that was compared (None: none holds data)
    legal_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True, index=True)
    legal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_entry.id", ondelete="SET NULL"),
                                                       nullable=True, index=True)
    #: the version whose load started it (None: run by hand or to route library conflicts)
    trigger_version_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id", ondelete="SET NULL"),
                                                           nullable=True)
    #: [{"entry_id", "entry_name", "org_id", "version_id", "number", "item", "legal": bool, "rows"}]
    sources: Mapped[list] = mapped_column(JSON, default=list)
    #: org ids of the sources (and the legal source), for "a department sees its own"
    org_ids: Mapped[list] = mapped_column(JSON, default=list)
    subjects: Mapped[int] = mapped_column(BigInteger, default=0)  # subjects with a value in two sources or more
    conflicts: Mapped[int] = mapped_column(BigInteger, default=0)  # … whose values differ after normalising
    legal_conflicts: Mapped[int] = mapped_column(BigInteger, default=0)  # … where the legal source's value differs
    formatting: Mapped[int] = mapped_column(BigInteger, default=0)  # … differing in formatting only (规范性)
    #: per source pair: [{"a": entry_id, "b": entry_id, "both", "conflicts", "formatting"}]
    pairs: Mapped[list] = mapped_column(JSON, default=list)
    #: the conflicting subjects (key and every source's value), relative to the files root; None when none
    conflicts_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sample: Mapped[list] = mapped_column(JSON, default=list)  # the first conflicting subjects, masked
    issue_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # the data issue raised
    library_routed: Mapped[int] = mapped_column(BigInteger, default=0)  # library conflicts routed to that issue
    latest: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str] = mapped_column(Text, default="")
    error_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Scan(Base):
    """One run of the sensitive-data recognizers over a sample of one data version."""

    __tablename__ = "quality_scan"
    __table_args__ = (_in("status", SCAN_STATUS),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="done")
    rows: Mapped[int] = mapped_column(BigInteger, default=0)  # rows in the version
    sampled: Mapped[int] = mapped_column(Integer, default=0)  # rows scanned
    #: {code: {"ran": bool, "error": zh, "error_en": en}} — a recognizer that could not run says why
    recognizers: Mapped[dict] = mapped_column(JSON, default=dict)
    #: [{"item", "recognizer", "matched", "values", "share"}] — columns where a recognizer matched
    findings: Mapped[list] = mapped_column(JSON, default=list)
    suggestions: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str] = mapped_column(Text, default="")
    error_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class GradingSuggestion(Base):
    """A column's content disagrees with its declared grade or personal flag: a suggestion to the authority."""

    __tablename__ = "quality_grading_suggestion"
    __table_args__ = (_in("status", SUGGESTION_STATUS),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("quality_scan.id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department
    version_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id", ondelete="SET NULL"),
                                                   nullable=True)
    catalog_version: Mapped[int] = mapped_column(Integer, default=0)  # the published entry version declared
    item: Mapped[str] = mapped_column(String(100))
    recognizer: Mapped[str] = mapped_column(String(20))
    matched: Mapped[int] = mapped_column(Integer, default=0)
    values: Mapped[int] = mapped_column(Integer, default=0)  # non-empty values scanned
    share: Mapped[float] = mapped_column(Float, default=0.0)
    declared_grade: Mapped[str] = mapped_column(String(10))
    declared_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    suggested_grade: Mapped[str] = mapped_column(String(10))
    suggested_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    reason_en: Mapped[str] = mapped_column(Text, default="")
    sample: Mapped[list] = mapped_column(JSON, default=list)  # masked values that matched
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    #: when a later scan found the entry declares what was suggested (the department revised it)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
