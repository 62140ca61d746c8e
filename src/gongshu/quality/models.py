"""Quality rules, the checks of data versions and their results (R-GOV-1).

A rule is data: one row per version of a rule (``key`` + ``version``); editing a rule retires the row and adds the
next version, so every check result names the exact rule text it ran. Rules are per entry, optionally per data
item; defaults are derived from the entry's items and data elements (``origin = "default"``).

A check runs every active rule of an entry over one data version's Parquet snapshot (DuckDB) and keeps, per rule,
the indicator X = A/B (``passed``/``checked``) and the failing rows (a Parquet file under the files root plus a small
sample for pages). Scores are weighted from the results: per dimension, per entry (the check), then per department
and the city (from each entry's latest check).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

#: the six dimensions of GB/T 36344-2018 (code → zh, en); 唯一性 is measured under 准确性 (duplication rate,
#: uniqueness) and 可理解性 (ZQ 20) under 规范性 (metadata and data elements) — docs/quality.md maps them
DIMENSIONS: dict[str, tuple[str, str]] = {
    "normative": ("规范性", "Normativity"),
    "complete": ("完整性", "Completeness"),
    "accurate": ("准确性", "Accuracy"),
    "consistent": ("一致性", "Consistency"),
    "timely": ("时效性", "Timeliness"),
    "accessible": ("可访问性", "Accessibility"),
}
#: critical failures flag the entry (and open an issue at once); the others are weighed in the score
SEVERITIES: dict[str, tuple[str, str]] = {
    "critical": ("严重", "Critical"),
    "major": ("一般", "Major"),
    "minor": ("轻微", "Minor"),
}
RULE_STATUS = ("active", "retired")
#: where a rule came from
RULE_ORIGINS = {"default": ("默认规则", "Default"), "workbench": ("工作台", "Workbench"), "import": ("导入", "Import")}
CHECK_STATUS = ("queued", "running", "done", "failed")
#: what started a check
CHECK_TRIGGERS = {"load": ("新版本入库", "New version"), "schedule": ("定期复核", "Scheduled re-check"),
                  "manual": ("手动", "Manual"), "rules": ("规则变更", "Rules changed")}
#: five-level rating (DB11/T 2317-2024 style): lower bound of the score → level
LEVELS: tuple[tuple[float, int, str, str], ...] = (
    (0.95, 1, "优", "Excellent"), (0.85, 2, "良", "Good"), (0.70, 3, "中", "Fair"), (0.60, 4, "差", "Poor"),
    (0.0, 5, "劣", "Bad"),
)


def _in(name: str, values) -> CheckConstraint:
    return CheckConstraint(f"{name} IN (" + ", ".join(f"'{v}'" for v in values) + ")", name=name)


class QualityRule(Base):
    """One version of one quality rule of a catalogue entry (optionally of one data item)."""

    __tablename__ = "quality_rule"
    __table_args__ = (_in("status", RULE_STATUS), _in("dimension", DIMENSIONS), _in("severity", SEVERITIES))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    #: stable identity across versions, unique per entry (e.g. ``required:姓名``, ``range:年龄``)
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    kind: Mapped[str] = mapped_column(String(30))  # one of service.rules.KINDS
    dimension: Mapped[str] = mapped_column(String(12))
    item: Mapped[str] = mapped_column(String(100), default="")  # the data item's name ("" = the whole record)
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # kind-specific (pattern, min/max, codes, other item…)
    severity: Mapped[str] = mapped_column(String(10), default="major")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    #: a failing share at or below this is tolerated (no issue is raised; the score still counts it)
    tolerance: Mapped[float] = mapped_column(Float, default=0.0)
    origin: Mapped[str] = mapped_column(String(10), default="default")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class QualityCheck(Base):
    """One run of an entry's active rules over one data version (or, without data, the accessibility rules)."""

    __tablename__ = "quality_check"
    __table_args__ = (_in("status", CHECK_STATUS),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the source department
    version_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trigger: Mapped[str] = mapped_column(String(10), default="load")
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    rules: Mapped[int] = mapped_column(Integer, default=0)  # rules run
    failed_rules: Mapped[int] = mapped_column(Integer, default=0)  # rules with at least one failing row
    not_run: Mapped[int] = mapped_column(Integer, default=0)  # rules that could not run (each result says why)
    #: weighted score in [0, 1] and its five-level rating; per dimension {code: score}
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dimensions: Mapped[dict] = mapped_column(JSON, default=dict)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str] = mapped_column(Text, default="")  # why the check failed as a whole (zh)
    error_en: Mapped[str] = mapped_column(Text, default="")
    latest: Mapped[bool] = mapped_column(Boolean, default=True, index=True)  # the entry's newest finished check
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class QualityResult(Base):
    """One rule's indicator in one check: X = A/B with A = ``passed`` and B = ``checked``."""

    __tablename__ = "quality_result"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("quality_check.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("quality_rule.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(12))
    checked: Mapped[int] = mapped_column(BigInteger, default=0)
    passed: Mapped[int] = mapped_column(BigInteger, default=0)
    ran: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str] = mapped_column(Text, default="")  # why the rule could not run (zh)
    error_en: Mapped[str] = mapped_column(Text, default="")
    #: the failing rows (key columns, the offending values, the line in the source file when known), relative to
    #: the files root; None when nothing failed
    failing_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sample: Mapped[list] = mapped_column(JSON, default=list)  # the first failing rows, masked for pages
