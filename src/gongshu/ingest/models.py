"""Aggregation (归集): loads, the immutable data versions they produce, each entry's policy and
current pointer, resumable uploads, and the record of late loads.

The rows themselves live in the resource store (``gongshu.store``): one typed table per version
plus a Parquet snapshot. What is here is the metadata that says which table is current.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

CHANNELS = ("upload", "api", "pull")
MODES = ("full", "upsert")
LOAD_STATUSES = ("queued", "validating", "rejected", "applied", "unchanged", "checked", "failed")
LOAD_STATUS_ZH = {"queued": "排队中", "validating": "校验中", "rejected": "已拒收", "applied": "已入库",
                  "unchanged": "无变化（沿用当前版本）", "checked": "已校验（试运行）", "failed": "失败"}
VERSION_STATUSES = ("current", "kept", "expired")


class IngestPolicy(Base):
    """How loads of one entry are accepted (验收策略) and how long versions are kept."""

    __tablename__ = "ingest_policy"
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), primary_key=True)
    #: reject the whole load when more than this share of rows is invalid; at or below it, valid rows
    #: are accepted and the rejects recorded. 0 = any invalid row rejects the load.
    max_error_rate: Mapped[float] = mapped_column(Float, default=0.0)
    #: versions whose tables and snapshots are kept for rollback; older ones expire (metadata stays)
    keep_versions: Mapped[int] = mapped_column(Integer, default=5)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Load(Base):
    """One attempt to load data behind an entry, from any channel."""

    __tablename__ = "ingest_load"
    __table_args__ = (UniqueConstraint("entry_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10), default="full")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str | None] = mapped_column(String(10), nullable=True)
    encoding: Mapped[str | None] = mapped_column(String(20), nullable=True)  # as asked (None = detect)
    source_size: Mapped[int] = mapped_column(BigInteger, default=0)
    source_sm3: Mapped[str] = mapped_column(String(64), default="")
    catalog_version: Mapped[int] = mapped_column(Integer, default=0)  # the published entry version loaded against
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_valid: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the validation report: detected format/encoding, header, notes, counts per rule, first problems
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")  # why the load was refused or failed (zh)
    error_en: Mapped[str] = mapped_column(Text, default="")
    version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version it produced
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DataVersion(Base):
    """One immutable accepted load (版本): its table in the store, its Parquet snapshot and digests."""

    __tablename__ = "ingest_version"
    __table_args__ = (UniqueConstraint("entry_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_load.id"), nullable=True)
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="current", index=True)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    snapshot_path: Mapped[str] = mapped_column(String(500))  # relative to the snapshot directory
    snapshot_sm3: Mapped[str] = mapped_column(String(64))
    #: the columns at the time: [{"name": "c1", "label": …, "type": "C", "length": 18, "key": true}]
    columns: Mapped[list] = mapped_column(JSON)
    catalog_version: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    added: Mapped[int] = mapped_column(BigInteger, default=0)
    changed: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    channel: Mapped[str] = mapped_column(String(10), default="upload")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EntryData(Base):
    """Per entry: which version serves (挂接), when data last arrived and when the next load is due."""

    __tablename__ = "ingest_entry_data"
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), primary_key=True)
    current_version_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_version.id"), nullable=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    update_cycle: Mapped[str] = mapped_column(String(10), default="")  # the entry's, when last loaded
    last_loaded_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    next_due: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    late_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LateLoad(Base):
    """A due date that passed without a load (逾期归集), kept for evaluation."""

    __tablename__ = "ingest_late"
    __table_args__ = (UniqueConstraint("entry_id", "due_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    detected_on: Mapped[date] = mapped_column(Date)
    loaded_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class Upload(Base):
    """A resumable chunked upload: bytes arrive in order at ``received``; complete when all are there."""

    __tablename__ = "ingest_upload"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random token
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    sm3: Mapped[str] = mapped_column(String(64), default="")  # declared by the client, checked at the end
    status: Mapped[str] = mapped_column(String(12), default="open")  # open / complete / abandoned
    load_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_load.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PullSource(Base):
    """A scheduled pull from a department database (前置库): a table or query, full or incremental by
    a watermark column. The SQLAlchemy URL (with its password) is stored SM4-encrypted."""

    __tablename__ = "ingest_pull_source"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url_encrypted: Mapped[bytes] = mapped_column(LargeBinary)  # SM4-GCM: nonce ‖ ciphertext ‖ tag
    url_display: Mapped[str] = mapped_column(String(300))  # the URL with the password hidden
    table_name: Mapped[str] = mapped_column(String(200), default="")  # either a table …
    query: Mapped[str] = mapped_column(Text, default="")  # … or a SELECT
    mode: Mapped[str] = mapped_column(String(12), default="full")  # full / incremental
    watermark_column: Mapped[str] = mapped_column(String(100), default="")
    last_watermark: Mapped[str | None] = mapped_column(String(100), nullable=True)
    every_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_load_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
