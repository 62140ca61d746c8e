"""Data issues (问题数据) and their timeline: the closed loop of R-GOV-2 and the escalation of R-GOV-3.

An issue is addressed to the source department of one catalogue entry (optionally one data version, item and row)
and comes from a channel: a quality rule, a cross-source comparison, a consumer (workbench form or business-system
API), the public (an open-data error report) or a sensitive-data recognizer. Its status says who must act::

    open ──accept──▶ fixing ──re-check passes──▶ corrected (完成整改)
      ├──confirm (explanation)──▶ confirmed (确认无误)
      ├──negotiate (record)──▶ negotiated (沟通解决)
      └──reject / overdue──▶ escalated (DG 49: 1 negotiation → 2 coordination → 3 joint consultation → 4 city
                                            government), resolved by the authority into one of the outcomes

Every transition is an :class:`IssueStep` (actor, org, note, a record of the step, the deadline it set), written
with its audit event in the same transaction. ``open_key`` is the dedupe key while the issue is unclosed (NULL once
closed): the database refuses a second unclosed issue with the same key.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow
from gongshu.quality.models import SEVERITIES

#: where an issue came from (LZ 31–33, DG 49, ZQ 20)
CHANNELS: dict[str, tuple[str, str]] = {
    "rule": ("规则检查", "Quality rule"),
    "compare": ("多源比对", "Cross-source comparison"),
    "consumer": ("使用部门反馈", "Consumer feedback"),
    "public": ("社会公众纠错", "Public error report"),
    "recognizer": ("敏感数据识别", "Sensitive-data recognizer"),
}
ISSUE_STATUS: dict[str, tuple[str, str]] = {
    "open": ("待处理", "Open"),
    "fixing": ("整改中", "Being corrected"),
    "escalated": ("争议处理中", "In dispute resolution"),
    "corrected": ("完成整改", "Corrected"),
    "confirmed": ("确认无误", "Confirmed correct"),
    "negotiated": ("沟通解决", "Settled by negotiation"),
    "withdrawn": ("已撤回", "Withdrawn"),
}
ISSUE_BADGE = {"open": "amber", "fixing": "blue", "escalated": "red", "corrected": "green", "confirmed": "green",
               "negotiated": "green", "withdrawn": ""}
#: the states in which somebody still has to act (the flags count these)
UNCLOSED = ("open", "fixing", "escalated")
#: the three outcomes of LZ 31 (and a withdrawal by the reporter)
OUTCOMES = ("corrected", "confirmed", "negotiated", "withdrawn")
#: DG 49's steps once the source and the reporter disagree (0: none)
STAGES: dict[int, tuple[str, str]] = {
    0: ("—", "—"),
    1: ("与数源部门协商", "Negotiation with the source"),
    2: ("数据主管部门协调", "Coordination by the authority"),
    3: ("联合会商", "Joint consultation"),
    4: ("报请市人民政府决定", "Reported to the city government"),
}


def _in(name: str, values) -> CheckConstraint:
    return CheckConstraint(f"{name} IN (" + ", ".join(f"'{v}'" for v in values) + ")", name=name)


class DataIssue(Base):
    """问题数据: one problem with one entry's data, addressed to its source department."""

    __tablename__ = "quality_issue"
    __table_args__ = (_in("status", ISSUE_STATUS), _in("channel", CHANNELS), _in("severity", SEVERITIES),
                      CheckConstraint("stage BETWEEN 0 AND 4", name="stage"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department addressed
    version_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id", ondelete="SET NULL"),
                                                   nullable=True)
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the data version concerned
    item: Mapped[str] = mapped_column(String(100), default="")  # the data item's name ("" = the record)
    row_ref: Mapped[str] = mapped_column(String(200), default="")  # the row's key, line or description
    channel: Mapped[str] = mapped_column(String(12), index=True)
    #: what raised it (e.g. ``open_error_report`` 12, ``quality_result`` 40)
    origin_type: Mapped[str] = mapped_column(String(40), default="")
    origin_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)  # counts, failing rows' sample, other values…
    severity: Mapped[str] = mapped_column(String(10), default="major", index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # 业务紧急 (LZ 31): shorter deadlines
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    stage: Mapped[int] = mapped_column(Integer, default=0)  # DG 49 stage reached (kept after it is resolved)
    dedupe_key: Mapped[str | None] = mapped_column(String(300), nullable=True, index=True)
    open_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)  # dedupe_key while unclosed
    occurrences: Mapped[int] = mapped_column(Integer, default=1)  # times the same problem was raised again
    reporter_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True, index=True)
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)  # of whoever must act now
    #: until when the reporter may dispute the outcome (DG 49 starts with negotiation with the source)
    dispute_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    outcome: Mapped[str] = mapped_column(String(12), default="")  # one of OUTCOMES once closed
    outcome_note: Mapped[str] = mapped_column(Text, default="")  # the explanation / record told to the reporter
    fixed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version that carries the fix
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IssueStep(Base):
    """One step of an issue's timeline: a transition (or a re-check) with who, why, its record and deadline."""

    __tablename__ = "quality_issue_step"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("quality_issue.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # raised, accepted, corrected, recheck_failed, dispute, …
    from_status: Mapped[str] = mapped_column(String(12), default="")
    to_status: Mapped[str] = mapped_column(String(12), default="")
    stage: Mapped[int] = mapped_column(Integer, default=0)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    #: the step's own record: a negotiation's record, the participants and minutes of a consultation, each
    #: party's reasons and the authority's opinion of a report, the government's decision, a re-check's version…
    record: Mapped[dict] = mapped_column(JSON, default=dict)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # the deadline this step set
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
