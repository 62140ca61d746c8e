"""Aggregation API (R-AGG-2, R-AGG-6): upload, push, resumable uploads, loads, versions, data."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.db import unit_of_work
from gongshu.errors import Invalid
from gongshu.ingest.schemas import (
    CompleteIn,
    LoadOut,
    PolicyIn,
    PushIn,
    RollbackIn,
    UploadIn,
    UploadOut,
    VersionOut,
)
from gongshu.ingest.service import loads, uploads, versions
from gongshu.store import registry
from gongshu.store.service import copy_sm3
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest 归集"])


def spool(file: UploadFile) -> tuple[Path, str]:
    """Copy an uploaded file to the files root in 1 MB chunks (never whole in memory); (its path, its SM3 digest
    computed on the way)."""
    incoming = registry.files_root() / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=incoming, suffix=".upload")
    with open(fd, "wb") as out:
        _, sm3 = copy_sm3(file.file, out)
    return Path(name), sm3


@router.post("/entries/{entry_id}/loads", status_code=202, response_model=LoadOut,
             summary="上传文件归集 Upload a file (CSV/XLSX/JSON/NDJSON/Parquet)")
def upload_file(entry_id: int, file: UploadFile = File(...), mode: str = Form("full"),
                format: str = Form(""), encoding: str = Form(""), dry_run: bool = Form(False),
                actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    """Queue a load; poll ``GET /loads/{id}`` for its report. ``encoding`` overrides detection
    (utf-8, utf-8-sig, gbk, gb18030); ``dry_run`` validates without loading."""
    path, sm3 = spool(file)
    try:
        return loads.receive_file(session, actor=actor, entry_id=entry_id, path=path, filename=file.filename or "",
                                  mode=mode, format=format or None, encoding=encoding or None, dry_run=dry_run,
                                  sm3=sm3)
    finally:
        path.unlink(missing_ok=True)


@router.post("/entries/{entry_id}/push", status_code=202, response_model=LoadOut,
             summary="推送一批记录（幂等）Push a JSON batch (idempotent)")
def push(entry_id: int, body: PushIn, idempotency_key: str = Header("", alias="Idempotency-Key"),
         actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    """Rows and deletes by data item name; the same ``Idempotency-Key`` returns the first load."""
    return loads.receive_batch(session, actor=actor, entry_id=entry_id, rows=body.rows, deletes=body.delete,
                               idempotency_key=idempotency_key, mode=body.mode)


@router.get("/loads/{load_id}", response_model=LoadOut, summary="归集记录与校验报告 A load and its report")
def get_load(load_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return loads.get_load(session, actor=actor, load_id=load_id)


@router.get("/loads/{load_id}/rejects.csv", summary="被拒数据行清单 Rejected rows with reasons (CSV)")
def rejects(load_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> FileResponse:
    path = loads.rejects_file(session, actor=actor, load_id=load_id)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"load-{load_id}-rejects.csv")


@router.get("/entries/{entry_id}/loads", response_model=list[LoadOut], summary="目录的归集记录 Loads of an entry")
def entry_loads(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return loads.list_loads(session, actor=actor, entry_id=entry_id)


@router.get("/entries/{entry_id}/versions", response_model=list[VersionOut], summary="数据版本 Data versions")
def entry_versions(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return versions.list_versions(session, actor=actor, entry_id=entry_id)


@router.get("/entries/{entry_id}/diff", summary="两个版本的差异 Diff of two versions")
def diff(entry_id: int, old: int, new: int, kind: str | None = None, limit: int = Query(50, ge=1, le=500),
         offset: int = Query(0, ge=0), actor: Actor = Depends(api_actor),
         session: Session = Depends(get_db)) -> dict[str, Any]:
    out = versions.diff(session, actor=actor, entry_id=entry_id, old=old, new=new, kind=kind, limit=limit,
                        offset=offset)
    return {"old": out["old"].number, "new": out["new"].number, "counts": out["counts"], "kind": kind,
            "rows": out["rows"]}


@router.post("/entries/{entry_id}/rollback", response_model=VersionOut, summary="回退到早先版本 Roll back")
def rollback(entry_id: int, body: RollbackIn, actor: Actor = Depends(api_actor),
             session: Session = Depends(get_db)) -> Any:
    return versions.rollback(session, actor=actor, entry_id=entry_id, number=body.version, reason=body.reason)


@router.put("/entries/{entry_id}/policy", summary="验收与保留策略 Acceptance and retention policy")
def policy(entry_id: int, body: PolicyIn, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> dict[str, Any]:
    p = versions.set_policy(session, actor=actor, entry_id=entry_id, max_error_rate=body.max_error_rate,
                            keep_versions=body.keep_versions)
    return {"entry_id": p.entry_id, "max_error_rate": p.max_error_rate, "keep_versions": p.keep_versions}


@router.get("/entries/{entry_id}/data", summary="查询当前版本数据（键集分页）Query the serving version")
def data(entry_id: int, request: Request, after: str | None = None, limit: int = Query(50, ge=1, le=500),
         actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> dict[str, Any]:
    """Equality filters as query parameters named by data item (``?姓名=张三``); ``after`` is the
    ``next`` value of the previous page."""
    filters = {k: v for k, v in request.query_params.items() if k not in ("after", "limit")}
    version, columns, rows, nxt = versions.query(session, actor=actor, entry_id=entry_id, filters=filters,
                                                 after=_after(after), limit=limit)
    return {"version": version.number, "rows": [{c.label: _json(r.get(c.name)) for c in columns} for r in rows],
            "next": None if nxt is None else "\x1f".join("" if v is None else str(v) for v in nxt)}


@router.get("/entries/{entry_id}/lookup", summary="按主键查询 Key lookup")
def lookup(entry_id: int, request: Request, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> dict[str, Any]:
    key = dict(request.query_params)
    rows = versions.lookup(session, actor=actor, entry_id=entry_id, key=key)
    return {"rows": [{k: _json(v) for k, v in r.items()} for r in rows]}


def _after(value: str | None) -> list | None:
    if not value:
        return None
    return value.split("\x1f")


def _json(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# Resumable uploads --------------------------------------------------------------------------

@router.post("/uploads", response_model=UploadOut, status_code=201, summary="开始断点续传 Start a resumable upload")
def start_upload(body: UploadIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return uploads.start(session, actor=actor, entry_id=body.entry_id, filename=body.filename, size=body.size,
                         sm3=body.sm3)


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="已收到的字节数 Where to resume")
def upload_status(upload_id: str, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return uploads.get(session, actor=actor, upload_id=upload_id)


@router.patch("/uploads/{upload_id}", response_model=UploadOut, summary="追加一块 Append a chunk")
async def upload_chunk(upload_id: str, request: Request, upload_offset: int = Header(..., alias="Upload-Offset"),
                       actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    """Send the bytes from ``Upload-Offset`` (must equal ``received``) as the raw body."""
    # End the transaction that authenticated the caller before the body streams in: on SQLite it holds
    # the write lock (BEGIN IMMEDIATE), so the append's own unit of work below would wait on it and fail
    # ("database is locked"), and a slow chunk would block every other writer; on PostgreSQL it would
    # sit idle in transaction for as long as the chunk takes.
    await run_in_threadpool(session.commit)
    incoming = registry.files_root() / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=incoming, suffix=".chunk")
    chunk = Path(name)
    try:
        with open(fd, "wb") as out:
            async for part in request.stream():
                out.write(part)

        def _append() -> Any:
            with unit_of_work() as session:
                up = uploads.append(session, actor=actor, upload_id=upload_id, offset=upload_offset, chunk=chunk)
                return UploadOut.model_validate(up)
        return await run_in_threadpool(_append)
    finally:
        chunk.unlink(missing_ok=True)


@router.delete("/uploads/{upload_id}", status_code=204, summary="放弃上传 Give an upload up")
def abandon_upload(upload_id: str, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    """Deletes the bytes received so far; the upload's record stays (status ``abandoned``)."""
    uploads.abandon(session, actor=actor, upload_id=upload_id)
    return Response(status_code=204)


@router.post("/uploads/{upload_id}/complete", response_model=LoadOut, status_code=202,
             summary="完成上传并归集 Finish and load")
def complete_upload(upload_id: str, body: CompleteIn, actor: Actor = Depends(api_actor),
                    session: Session = Depends(get_db)) -> Any:
    if body.mode not in ("full", "upsert"):
        raise Invalid("mode 应为 full 或 upsert", "mode must be full or upsert", field="mode")
    return uploads.complete(session, actor=actor, upload_id=upload_id, mode=body.mode, format=body.format,
                            encoding=body.encoding, dry_run=body.dry_run)
