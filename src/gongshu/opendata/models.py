"""Open data (R-OPN-6): the confidentiality review and risk assessment recorded before an entry is opened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
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
