"""Resumable chunked uploads for big files (R-AGG-2): the client declares the size (and optionally
the SM3) of the file, sends chunks in order at the offset the server reports, and can ask for that
offset again after a broken connection. Chunks stream to disk; nothing holds the whole file.

An upload the client gives up (``abandon``), or that receives nothing for ``STALE_AFTER``, is
abandoned: its partial file is deleted (a periodic sweep), its record kept for the audit trail."""

from __future__ import annotations

import secrets
import shutil
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.config import get_settings
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.ingest.models import Load, Upload
from gongshu.ingest.service import loads
from gongshu.jobs.service import periodic
from gongshu.store import registry
from gongshu.store.service import file_sm3


def _path(upload_id: str) -> Path:
    folder = registry.files_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{upload_id}.part"


def start(session: Session, *, actor: Actor, entry_id: int, filename: str, size: int, sm3: str = "") -> Upload:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require(actor, "ingest.load", org_id=entry.org_id)
    limit = get_settings().ingest_max_upload_mb * 1024 * 1024
    if size <= 0 or size > limit:
        raise Invalid(f"文件大小应在 1 字节到 {limit // 1024 // 1024} MB 之间", f"Size must be 1 byte to {limit // 1024 // 1024} MB",
                      field="size")
    if sm3 and (len(sm3) != 64 or any(ch not in "0123456789abcdef" for ch in sm3.lower())):
        raise Invalid("SM3 摘要应为 64 位十六进制", "The SM3 digest must be 64 hex digits", field="sm3")
    upload = Upload(id=secrets.token_hex(16), entry_id=entry.id, org_id=entry.org_id,
                    filename=Path(filename or "upload").name[:255], size=size, sm3=sm3.lower(),
                    created_by=actor.user_id)
    session.add(upload)
    session.flush()
    _path(upload.id).touch()
    audit.record(session, actor=actor, action="ingest.upload.start", subject_type="ingest_upload",
                 subject_id=upload.id, after={"entry_id": entry.id, "file": upload.filename, "size": size})
    return upload


def get(session: Session, *, actor: Actor, upload_id: str) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFound("上传不存在或已过期", "No such upload")
    require(actor, "ingest.load", org_id=upload.org_id)
    return upload


def append(session: Session, *, actor: Actor, upload_id: str, offset: int, chunk: Path) -> Upload:
    """Append a chunk written to ``chunk`` at ``offset``; a wrong offset is a 409 telling the right one."""
    upload = get(session, actor=actor, upload_id=upload_id)
    if upload.status != "open":
        raise Conflict("该上传已完成或已放弃", "This upload is complete or was abandoned")
    if offset != upload.received:
        raise Conflict(f"偏移量不符：服务器已收到 {upload.received} 字节，请从该处续传",
                       f"Offset mismatch: the server has {upload.received} bytes; resume from there",
                       details=[{"received": upload.received}])
    n = chunk.stat().st_size
    if upload.received + n > upload.size:
        raise Invalid("数据超过声明的文件大小", "More bytes than the declared size", field="size")
    with open(_path(upload.id), "r+b") as out, open(chunk, "rb") as src:
        out.seek(upload.received)
        out.truncate()
        shutil.copyfileobj(src, out, 1024 * 1024)
    upload.received += n
    return upload


def complete(session: Session, *, actor: Actor, upload_id: str, mode: str = "full", format: str | None = None,
             encoding: str | None = None, dry_run: bool = False) -> Load:
    upload = get(session, actor=actor, upload_id=upload_id)
    if upload.status != "open":
        raise Conflict("该上传已完成或已放弃", "This upload is complete or was abandoned")
    if upload.received != upload.size:
        raise Conflict(f"文件未传完：{upload.received}/{upload.size} 字节", f"Incomplete: {upload.received}/{upload.size} bytes",
                       details=[{"received": upload.received}])
    path = _path(upload.id)
    digest = file_sm3(path)  # once: checked against the declared one, and the load's
    if upload.sm3 and digest != upload.sm3:
        raise Invalid("文件 SM3 摘要与声明不符，传输可能出错，请重新上传",
                      "The file's SM3 digest differs from the declared one; upload again", field="sm3")
    load = loads.receive_file(session, actor=actor, entry_id=upload.entry_id, path=path, filename=upload.filename,
                              mode=mode, format=format, encoding=encoding, dry_run=dry_run, sm3=digest)
    upload.status, upload.load_id = "complete", load.id
    return load


#: an open upload that received nothing for this long is abandoned and its partial file deleted
STALE_AFTER = timedelta(days=7)


def abandon(session: Session, *, actor: Actor, upload_id: str) -> Upload:
    """The client gives the upload up: its partial file is deleted; a complete upload cannot be."""
    upload = get(session, actor=actor, upload_id=upload_id)
    if upload.status != "open":
        raise Conflict("该上传已完成或已放弃", "This upload is complete or abandoned")
    _drop(session, upload, actor=actor, reason="client")
    return upload


def _drop(session: Session, upload: Upload, *, actor: Actor, reason: str) -> None:
    path = _path(upload.id)
    kept = path.stat().st_size if path.exists() else 0
    path.unlink(missing_ok=True)
    upload.status = "abandoned"
    audit.record(session, actor=actor, action="ingest.upload.abandon", subject_type="ingest_upload",
                 subject_id=upload.id, before={"received": upload.received}, detail={"reason": reason, "bytes": kept})


def expire_stale(session: Session, *, now: float | None = None) -> list[str]:
    """Abandon open uploads whose partial file has not grown for ``STALE_AFTER``; returns their ids."""
    cutoff = (now if now is not None else time.time()) - STALE_AFTER.total_seconds()
    gone = []
    for upload in session.scalars(select(Upload).where(Upload.status == "open")):
        path = _path(upload.id)
        last = path.stat().st_mtime if path.exists() else 0.0
        if last < cutoff:
            _drop(session, upload, actor=SYSTEM, reason="stale")
            gone.append(upload.id)
    return gone


@periodic("ingest.expire_uploads", every=timedelta(hours=6))
def _expire(session: Session) -> None:
    expire_stale(session)
