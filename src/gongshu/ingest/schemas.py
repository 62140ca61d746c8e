"""Aggregation API shapes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class LoadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    channel: str
    mode: str
    dry_run: bool
    status: str = Field(description="queued/validating/rejected/checked/applied/failed")
    filename: str
    source_size: int
    source_sm3: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    report: dict = Field(description="format, encoding, header, notes, counts per rule, first problems")
    error: str
    error_en: str
    version_id: int | None
    created_at: datetime
    finished_at: datetime | None


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    number: int
    status: str = Field(description="current/kept/expired")
    rows: int
    added: int
    changed: int
    deleted: int
    snapshot_sm3: str
    columns: list[dict]
    catalog_version: int
    channel: str
    load_id: int | None
    created_at: datetime


class PushIn(BaseModel):
    rows: list[dict] = Field(default_factory=list, description="按信息项名称给出的记录 rows by data item name")
    delete: list[dict] = Field(default_factory=list, description="要删除记录的主键 keys of rows to delete")
    mode: str = Field("upsert", description="upsert（增量）或 full（全量替换）")


class RollbackIn(BaseModel):
    version: int
    reason: str


class PolicyIn(BaseModel):
    max_error_rate: float = Field(0.0, ge=0, le=0.5, description="超过此错误率整批拒收；否则接收有效行")
    keep_versions: int = Field(5, ge=1, le=100)


class UploadIn(BaseModel):
    entry_id: int
    filename: str
    size: int
    sm3: str = ""


class UploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    entry_id: int
    filename: str
    size: int
    received: int
    status: str
    load_id: int | None


class CompleteIn(BaseModel):
    mode: str = "full"
    format: str | None = None
    encoding: str | None = None
    dry_run: bool = False


class AttachmentOut(BaseModel):
    entry_id: int
    status: str
    version: int | None
    rows: int | None
    last_loaded_on: date | None
    next_due: date | None
    late_count: int
