"""Scheduled pulls from department databases (前置库), R-AGG-2: configure, list, change, delete, run now.

The database URL is write-only: responses carry ``url_display`` (password hidden), never the URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.ingest.service import pull
from gongshu.ingest.service.pull_db import watermark_display
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/ingest/pull-sources", tags=["ingest 归集"])


class PullSourceIn(BaseModel):
    entry_id: int
    name: str = Field(description="名称 name")
    url: str = Field(description="SQLAlchemy URL，如 postgresql://用户:密码@主机:5432/库名（加密保存，不会返回）")
    table_name: str = Field("", description="表名（可写 模式.表名）table, or …")
    query: str = Field("", description="… 一条 SELECT 查询 a single SELECT")
    mode: str = Field("full", description="full（全量替换）或 incremental（按水印列增量）")
    watermark_column: str = Field("", description="增量拉取的水印列，如更新时间 watermark column")
    every_minutes: int = Field(1440, description="拉取间隔（分钟，≥5）interval in minutes")


class PullSourcePatch(BaseModel):
    name: str | None = None
    url: str | None = Field(None, description="留空则保持原地址 empty keeps the stored URL")
    table_name: str | None = None
    query: str | None = None
    mode: str | None = None
    watermark_column: str | None = None
    every_minutes: int | None = None
    enabled: bool | None = None


class PullSourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    org_id: int
    name: str
    url_display: str = Field(description="数据库地址（已隐藏密码）URL with the password hidden")
    table_name: str
    query: str
    mode: str
    watermark_column: str
    last_watermark: str | None
    every_minutes: int
    enabled: bool
    last_run_at: datetime | None
    last_load_id: int | None
    last_error: str
    created_at: datetime

    @field_validator("last_watermark", mode="before")
    @classmethod
    def _display(cls, v: str | None) -> str | None:
        return watermark_display(v)


class RunOut(BaseModel):
    source_id: int
    job_id: int


@router.post("", status_code=201, response_model=PullSourceOut, summary="新建拉取任务 Create a pull source")
def create(body: PullSourceIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    """Tests the connection and that the source has a column for every data item of the entry."""
    return pull.create_source(session, actor=actor, **body.model_dump())


@router.get("", response_model=list[PullSourceOut], summary="拉取任务 Pull sources")
def list_all(entry_id: int | None = Query(None), actor: Actor = Depends(api_actor),
             session: Session = Depends(get_db)) -> Any:
    return pull.list_sources(session, actor=actor, entry_id=entry_id)


@router.get("/{source_id}", response_model=PullSourceOut, summary="拉取任务 A pull source")
def get(source_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return pull.get_source(session, actor=actor, source_id=source_id)


@router.patch("/{source_id}", response_model=PullSourceOut, summary="修改拉取任务 Change a pull source")
def update(source_id: int, body: PullSourcePatch, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> Any:
    return pull.update_source(session, actor=actor, source_id=source_id, **body.model_dump())


@router.delete("/{source_id}", status_code=204, summary="删除拉取任务 Delete a pull source")
def delete(source_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    pull.delete_source(session, actor=actor, source_id=source_id)
    return Response(status_code=204)


@router.post("/{source_id}/run", status_code=202, response_model=RunOut, summary="立即拉取 Run now")
def run_now(source_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    """Queues a run; follow ``GET /{id}`` (``last_load_id``, ``last_error``) and the load it makes."""
    job = pull.request_run(session, actor=actor, source_id=source_id)
    return {"source_id": source_id, "job_id": job.id}
