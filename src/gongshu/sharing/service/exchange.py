"""Exchange mode (交换共享, R-SHR-5): the granted data delivered as a file that lands at the consumer, with a
manifest signed by the platform (SM3 of the file, SM2 signature), a receipt, and offline verification.

A **package** holds what the grant allows and nothing more — the granted items named by label, masked as
granted, only rows in the row scope (:mod:`.projection`) — read from the serving version's Parquet snapshot
by DuckDB and streamed in record batches into CSV (UTF-8 with BOM, header of item labels) or Parquet
(zstd); no Python per row. Files live under the files root: ``sharing/<grant id>/``.

- **full**: every row of the view.
- **incremental**: the changes since the version of the consumer's last *received* package, as the
  consumer sees them (a change only in items it was not granted, or hidden by masking, is no change): the
  file has a first column ``_change`` — ``added`` / ``changed`` (the whole new row) or ``deleted`` (only the
  key items filled: the deletes list by key). It needs every key item granted in clear and the same layout
  of data items in both versions; ``kind="auto"`` falls back to a full package otherwise (the manifest says
  why), ``kind="incremental"`` refuses.

The **manifest** (JSON) names the package, grant, consumer, source, entry, version(s), kind, format, columns,
row count, creation time, file name, size and SM3, and the signer (key id and public key). The platform
signs its canonical form — :func:`gongshu.kit.hashing.canonical_json`: keys sorted, no spaces, UTF-8, no
ASCII escaping; the manifest holds only strings, integers, booleans, lists and objects — with SM2
(:func:`gongshu.crypto.sm2.signature_provider`). The **envelope** file ``<file>.manifest.json`` carries
``{"envelope", "manifest", "signature": {"algorithm", "key_id", "public_key", "user_id", "value"}}``.
:func:`verify_package` checks the signature and the file's SM3 (and size) offline, as does
``gongshu sharing verify-package``; the public key should come from the platform (published), not only
from the envelope itself.

Building (on demand by the consumer, or by the periodic job ``sharing.exchange.schedule`` for grants whose
entry got a newer version than their last package) and downloading are deliveries: each writes an access
event (operation ``exchange``) in the caller's transaction, with the package row; refusals are recorded in
their own transaction (:func:`.projection.record_refusal`) so they stay when the caller rolls back. Bulk
deliveries carry no per-subject key digests: which subjects a package holds follows from its version and
the grant's row scope. The consumer acknowledges receipt (:func:`receive`, audited), which makes the
package the base of the next increment.
"""
# SQL here is built from quoted identifiers, our own snapshot paths and escaped literals (see projection):
# ruff: noqa: S608

from __future__ import annotations

import codecs
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.models import Org
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.crypto import sm2
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, GongshuError, Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.jobs.service import periodic
from gongshu.kit.hashing import canonical_json, sm3_hex
from gongshu.sharing.models import ExchangePackage, Grant, ShareRequest
from gongshu.sharing.service import evidence, grants, projection
from gongshu.store import registry
from gongshu.store.service import file_sm3, sql_ident
from gongshu.tasks import service as tasks

log = logging.getLogger(__name__)

declare("sharing.exchange.build", "生成交换数据包（使用部门按需交付）", "Build an exchange package of a grant (consumer, "
        "on demand)", {"dept_officer", "dept_staff"}, scope="own_org")
declare("sharing.exchange.receive", "下载交换数据包并确认接收", "Download exchange packages and acknowledge receipt",
        {"dept_officer", "dept_staff"}, scope="own_org")

FORMATS: dict[str, tuple[str, str]] = {"csv": (".csv", "text/csv; charset=utf-8"),
                                       "parquet": (".parquet", "application/vnd.apache.parquet")}
KINDS = ("auto", "full", "incremental")
CHANGE_COLUMN = "_change"
CHANGES = ("added", "changed", "deleted")
MANIFEST_FORMAT = "gongshu-exchange-manifest/1"
ENVELOPE_FORMAT = "gongshu-exchange-package/1"
ENVELOPE_SUFFIX = ".manifest.json"
BATCH_ROWS = 50_000
SCHEDULE_EVERY = timedelta(hours=1)
SCHEDULED_USER = "系统定时交付"


# Who, and the refusals -----------------------------------------------------------------------------------

def _end_user(actor: Actor) -> str:
    return actor.display_name or actor.username


def _authorised(session: Session, *, actor: Actor, grant_id: int, action: str, purpose: str) -> Grant:
    """The grant if ``actor`` may use it in exchange mode now; a refusal is recorded and raised."""
    started = time.perf_counter()
    try:
        require(actor, action, org_id=actor.org_id)
        return grants.usable(session, grant_id=grant_id, consumer_org_id=actor.org_id, mode="exchange")
    except Forbidden as exc:
        projection.record_refusal(session, exc, operation="exchange", grant_id=grant_id,
                                  consumer_org_id=actor.org_id, end_user=_end_user(actor), purpose=purpose,
                                  started=started)
        raise


# Building ------------------------------------------------------------------------------------------------

def package_dir(grant_id: int) -> Path:
    path = registry.files_root() / "sharing" / str(int(grant_id))
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_path(pkg: ExchangePackage) -> Path:
    return registry.files_root() / pkg.path


def _choose_format(fmt: str) -> str:
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise Invalid(f"数据包格式“{fmt}”无效（可选：csv、parquet）", f"Unknown package format '{fmt}' (csv or parquet)",
                      field="format")
    return fmt


@dataclass
class _Plan:
    kind: str
    base: ExchangePackage | None = None
    base_version: Any = None
    reason: str = ""  # why a full package when an increment was possible in principle


def _plan(session: Session, grant: Grant, served: grants.Served, kind: str) -> _Plan:
    """Full or incremental, and against which received package."""
    if kind not in KINDS:
        raise Invalid(f"数据包类型“{kind}”无效（可选：auto、full、incremental）",
                      f"Unknown package kind '{kind}' (auto, full or incremental)", field="kind")
    if kind == "full":
        return _Plan("full")
    base = session.scalar(select(ExchangePackage).where(ExchangePackage.grant_id == grant.id,
                                                        ExchangePackage.status == "received")
                          .order_by(ExchangePackage.id.desc()).limit(1))
    reason = ""
    base_version = projection.version(session, served, base.version_id if base is not None else None)
    keys = {c.label for c in served.keys}
    granted_clear = {c.label for c in served.granted if c.label not in served.masked}
    if base is None:
        reason = "no_received_package"
    elif base.version_id == served.version.id:
        if kind == "incremental":
            raise Conflict("自上次确认接收的数据包以来，数据没有新版本，无需增量包",
                           "No newer data version since the last received package: there is no increment",
                           field="kind", details=[{"reason": "no_newer_version"}])
        reason = "no_newer_version"
    elif not keys or not keys <= granted_clear:
        reason = "keys_not_granted_in_clear"
    elif base_version is None or base_version.status == "expired" or not snapshot_path(base_version).exists():
        reason = "base_version_gone"
    elif base_version.columns != served.version.columns:
        reason = "columns_changed"
    if not reason:
        return _Plan("incremental", base=base, base_version=base_version)
    if kind == "incremental":
        zh = {"no_received_package": "尚无已确认接收的数据包", "keys_not_granted_in_clear": "授权不含明文的主键信息项",
              "base_version_gone": "上次接收的数据版本已超过保留期", "columns_changed": "目录的信息项已变化"}[reason]
        raise Conflict(f"不能生成增量包：{zh}，请生成全量包", f"An incremental package is impossible ({reason}); build a "
                       "full package", field="kind", details=[{"reason": reason}])
    return _Plan("full", reason=reason)


def _full_sql(grant: Grant, served: grants.Served, path: Path) -> str:
    return projection.view_sql(grant, served, path)


def _incremental_sql(grant: Grant, served: grants.Served, new: Path, old_served: grants.Served, old: Path) -> str:
    labels = [c.label for c in served.granted]
    keys = [c.label for c in served.keys]
    on = " AND ".join(f"o.{sql_ident(k)} = n.{sql_ident(k)}" for k in keys)
    values = [lb for lb in labels if lb not in keys]
    changed = " OR ".join(f"o.{sql_ident(v)} IS DISTINCT FROM n.{sql_ident(v)}" for v in values) or "false"
    cols = ", ".join(f"n.{sql_ident(lb)}" for lb in labels)
    gone = ", ".join(f"o.{sql_ident(lb)}" if lb in keys else f"NULL AS {sql_ident(lb)}" for lb in labels)
    change = sql_ident(CHANGE_COLUMN)
    return (f"WITH n AS ({projection.view_sql(grant, served, new)}), "
            f"o AS ({projection.view_sql(grant, old_served, old)}) "
            f"SELECT 'added' AS {change}, {cols} FROM n WHERE NOT EXISTS (SELECT 1 FROM o WHERE {on}) "
            f"UNION ALL SELECT 'changed', {cols} FROM n JOIN o ON {on} WHERE {changed} "
            f"UNION ALL SELECT 'deleted', {gone} FROM o WHERE NOT EXISTS (SELECT 1 FROM n WHERE {on})")


def _write(con: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> tuple[int, dict[str, int]]:
    """Stream the query's result into ``path`` (written aside, then renamed); rows and change counts."""
    part = path.with_name(path.name + ".part")
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    rows, changes = 0, dict.fromkeys(CHANGES, 0)
    counting = CHANGE_COLUMN in reader.schema.names
    try:
        with open(part, "wb") as fh:
            if fmt == "csv":
                fh.write(codecs.BOM_UTF8)
                writer: Any = pacsv.CSVWriter(fh, reader.schema,
                                              write_options=pacsv.WriteOptions(quoting_style="needed"))
            else:
                writer = pq.ParquetWriter(fh, reader.schema, compression="zstd")
            try:
                for batch in reader:
                    if batch.num_rows:
                        writer.write_batch(batch)
                        rows += batch.num_rows
                        if counting:
                            for value in batch.column(CHANGE_COLUMN).value_counts().to_pylist():
                                changes[value["values"]] += value["counts"]
            finally:
                writer.close()
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return rows, (changes if counting else {})


def _columns(served: grants.Served, kind: str) -> list[dict[str, Any]]:
    out = [{"name": CHANGE_COLUMN, "type": "C", "masked": False, "key": False, "values": list(CHANGES)}] \
        if kind == "incremental" else []
    keys = {c.label for c in served.keys}
    out += [{"name": c.label, "type": c.type, "masked": c.label in served.masked, "key": c.label in keys}
            for c in served.granted]
    return out


def _org(session: Session, org_id: int) -> dict[str, Any]:
    org = session.get(Org, org_id)
    return {"id": org_id, "name": org.name if org else "", "uscc": org.uscc if org else ""}


def _manifest(session: Session, *, pkg: ExchangePackage, grant: Grant, served: grants.Served, plan: _Plan,
              fmt: str, rows: int, changes: dict[str, int], path: Path, digest: str,
              signer: sm2.SignatureProvider) -> dict[str, Any]:
    entry = catalog_entries.fetch(session, entry_id=grant.entry_id)
    req = session.get(ShareRequest, grant.request_id)
    version = served.version
    base = plan.base_version
    return {
        "format": MANIFEST_FORMAT,
        "package_id": pkg.id,
        "grant": {"id": grant.id, "request_code": req.code if req else "", "matter": grant.matter,
                  "purpose_kind": grant.purpose_kind, "row_scope": grant.row_scope or {},
                  "expires_on": grant.expires_on.isoformat() if grant.expires_on else None},
        "consumer": _org(session, grant.consumer_org_id),
        "source": _org(session, grant.source_org_id),
        "entry": {"id": entry.id, "code": entry.code, "name": entry.name, "catalog_version": version.catalog_version},
        "version": {"id": version.id, "number": version.number, "snapshot_sm3": version.snapshot_sm3},
        "since_version": {"id": base.id, "number": base.number} if base is not None else None,
        "since_package_id": plan.base.id if plan.base is not None else None,
        "kind": plan.kind,
        "full_reason": plan.reason or None,
        "file_format": fmt,
        "encoding": "UTF-8 with BOM" if fmt == "csv" else None,
        "columns": _columns(served, plan.kind),
        "rows": rows,
        "changes": changes or None,
        "created_at": utcnow().isoformat(timespec="seconds"),
        "file_name": path.name,
        "file_bytes": path.stat().st_size,
        "file_sm3": digest,
        "signer": {"algorithm": sm2.ALGORITHM, "key_id": signer.key_id, "public_key": signer.public_key_hex(),
                   "user_id": sm2.DEFAULT_USER_ID.decode()},
    }


def envelope(pkg: ExchangePackage) -> dict[str, Any]:
    """The signed manifest as handed to the consumer (also written next to the file)."""
    signer = pkg.manifest.get("signer", {})
    return {"envelope": ENVELOPE_FORMAT, "manifest": pkg.manifest,
            "signature": {"algorithm": signer.get("algorithm", sm2.ALGORITHM), "key_id": pkg.key_id,
                          "public_key": signer.get("public_key", ""), "user_id": signer.get("user_id", ""),
                          "value": pkg.signature}}


def envelope_bytes(pkg: ExchangePackage) -> bytes:
    return (json.dumps(envelope(pkg), ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _build(session: Session, *, grant: Grant, actor: Actor, fmt: str, kind: str, end_user: str,
           purpose: str) -> ExchangePackage:
    started = time.perf_counter()
    served = grants.granted_columns(session, grant)
    plan = _plan(session, grant, served, kind)
    new = projection.snapshot_of(served)
    if plan.kind == "incremental":
        old_served = grants.Served(version=plan.base_version, columns=served.columns, granted=served.granted,
                                   masked=served.masked, keys=served.keys, items=served.items)
        sql = _incremental_sql(grant, served, new, old_served, snapshot_path(plan.base_version))
    else:
        sql = _full_sql(grant, served, new)
    pkg = ExchangePackage(grant_id=grant.id, kind=plan.kind, format=fmt, version_id=served.version.id,
                          since_version_id=plan.base_version.id if plan.base_version is not None else None,
                          path="", sm3="", signature="", key_id="", status="ready", created_by=actor.user_id)
    session.add(pkg)
    session.flush()
    req = session.get(ShareRequest, grant.request_id)
    name = f"{req.code if req else 'grant'}-p{pkg.id}-{plan.kind}-v{served.version.number}{FORMATS[fmt][0]}"
    path = package_dir(grant.id) / name
    con = projection.connect(temp_directory=path.parent / ".duckdb_tmp")
    try:
        rows, changes = _write(con, sql, path, fmt)
    finally:
        con.close()
    try:
        digest = file_sm3(path)
        signer = sm2.signature_provider()
        manifest = _manifest(session, pkg=pkg, grant=grant, served=served, plan=plan, fmt=fmt, rows=rows,
                             changes=changes, path=path, digest=digest, signer=signer)
        signature = signer.sign(canonical_json(manifest))
        pkg.path = str(path.relative_to(registry.files_root()))
        pkg.rows, pkg.sm3, pkg.manifest = rows, digest, manifest
        pkg.signature, pkg.key_id = signature.hex(), signer.key_id
        path.with_name(path.name + ENVELOPE_SUFFIX).write_bytes(envelope_bytes(pkg))
        audit.record(session, actor=actor, action="sharing.package.build", subject_type="share_package",
                     subject_id=pkg.id, after={"kind": plan.kind, "format": fmt, "rows": rows, "sm3": digest},
                     detail={"grant_id": grant.id, "version_id": served.version.id, "kind": plan.kind,
                             "since_version_id": pkg.since_version_id, "rows": rows, "file_sm3": digest,
                             "key_id": signer.key_id, "full_reason": plan.reason or None})
        evidence.write(session, [evidence.Access(
            operation="exchange", result="ok", reason=f"build {plan.kind}", grant_id=grant.id,
            consumer_org_id=grant.consumer_org_id, source_org_id=grant.source_org_id,
            application_id=grant.application_id, entry_id=grant.entry_id, end_user=end_user, purpose=purpose,
            items=tuple(c.label for c in served.granted), rows=rows,
            latency_ms=(time.perf_counter() - started) * 1000)])
    except BaseException:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ENVELOPE_SUFFIX).unlink(missing_ok=True)
        raise
    return pkg


def build(session: Session, *, actor: Actor, grant_id: int, fmt: str = "csv", kind: str = "auto",
          purpose: str = "") -> ExchangePackage:
    """Build a package of the grant for its consumer, on demand (full, incremental or ``auto``)."""
    fmt = _choose_format(fmt)
    grant = _authorised(session, actor=actor, grant_id=grant_id, action="sharing.exchange.build", purpose=purpose)
    return _build(session, grant=grant, actor=actor, fmt=fmt, kind=kind, end_user=_end_user(actor),
                  purpose=(purpose or "").strip()[:100])


@periodic("sharing.exchange.schedule", every=SCHEDULE_EVERY)
def deliver_scheduled(session: Session) -> int:
    """Scheduled delivery: for each active exchange grant that has had a package and whose entry now serves
    another version than its last package, build the next package (incremental when possible) in the last
    package's format. One grant failing does not stop the others (each in a savepoint)."""
    today = tasks.today()
    last = (select(ExchangePackage.grant_id, func.max(ExchangePackage.id).label("pid"))
            .group_by(ExchangePackage.grant_id).subquery())
    rows = session.execute(select(Grant, ExchangePackage).join(last, last.c.grant_id == Grant.id)
                           .join(ExchangePackage, ExchangePackage.id == last.c.pid)
                           .where(Grant.mode == "exchange", Grant.status == "active", Grant.expires_on >= today)
                           .order_by(Grant.id)).all()
    built = 0
    for grant, pkg in rows:
        current = ingest_versions.current_version(session, entry_id=grant.entry_id)
        if current is None or current.id == pkg.version_id:
            continue
        try:
            with session.begin_nested():
                grants.usable(session, grant_id=grant.id, consumer_org_id=grant.consumer_org_id, mode="exchange",
                              on=today)
                _build(session, grant=grant, actor=SYSTEM, fmt=pkg.format, kind="auto", end_user=SCHEDULED_USER,
                       purpose="scheduled")
            built += 1
        except GongshuError as exc:
            log.warning("scheduled exchange package for grant %s failed: %s", grant.id, exc.message_en)
    return built


# Listing, downloading, receipt ---------------------------------------------------------------------------

def list_packages(session: Session, *, actor: Actor, grant_id: int) -> list[ExchangePackage]:
    """A grant's packages, newest first (consumer, source, authority and auditors)."""
    grants.get_grant(session, actor=actor, grant_id=grant_id)
    return list(session.scalars(select(ExchangePackage).where(ExchangePackage.grant_id == grant_id)
                                .order_by(ExchangePackage.id.desc())))


def get_package(session: Session, *, actor: Actor, package_id: int) -> ExchangePackage:
    pkg = session.get(ExchangePackage, package_id)
    if pkg is None:
        raise NotFound(f"交换数据包 {package_id} 不存在", f"Exchange package {package_id} does not exist")
    grants.get_grant(session, actor=actor, grant_id=pkg.grant_id)
    return pkg


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    media_type: str
    sm3: str
    rows: int


def download(session: Session, *, actor: Actor, package_id: int, purpose: str = "") -> Download:
    """The package file for the consumer, while its grant may still be used. A delivery: its access event is
    written in the caller's transaction — commit it before sending the file."""
    started = time.perf_counter()
    pkg = session.get(ExchangePackage, package_id)
    if pkg is None:
        raise NotFound(f"交换数据包 {package_id} 不存在", f"Exchange package {package_id} does not exist")
    grant = _authorised(session, actor=actor, grant_id=pkg.grant_id, action="sharing.exchange.receive",
                        purpose=purpose)
    if pkg.status == "destroyed":
        raise Conflict("该数据包已确认销毁，不能再下载", "This package was confirmed destroyed: it cannot be downloaded")
    path = package_path(pkg)
    if not path.exists():
        raise Conflict("数据包文件已不存在，请重新生成", "The package file is gone; build a new package",
                       details=[{"reason": "file_missing"}])
    evidence.write(session, [evidence.Access(
        operation="exchange", result="ok", reason=f"download package {pkg.id}", grant_id=grant.id,
        consumer_org_id=grant.consumer_org_id, source_org_id=grant.source_org_id,
        application_id=grant.application_id, entry_id=grant.entry_id, end_user=_end_user(actor),
        purpose=(purpose or "").strip()[:100], items=tuple(c["name"] for c in pkg.manifest.get("columns", [])
                                                          if c["name"] != CHANGE_COLUMN),
        rows=pkg.rows, latency_ms=(time.perf_counter() - started) * 1000)])
    return Download(path=path, filename=path.name, media_type=FORMATS[pkg.format][1], sm3=pkg.sm3, rows=pkg.rows)


def receive(session: Session, *, actor: Actor, package_id: int, sm3: str | None = None) -> ExchangePackage:
    """The consumer acknowledges receipt (optionally stating the SM3 it computed, which must match)."""
    pkg = session.get(ExchangePackage, package_id)
    if pkg is None:
        raise NotFound(f"交换数据包 {package_id} 不存在", f"Exchange package {package_id} does not exist")
    grant = session.get(Grant, pkg.grant_id)
    require(actor, "sharing.exchange.receive", org_id=grant.consumer_org_id)
    if actor.org_id != grant.consumer_org_id:
        raise Forbidden("只有使用部门可以确认接收", "Only the consumer may acknowledge receipt")
    if pkg.status != "ready":
        raise Conflict(f"数据包当前状态为“{pkg.status}”，不能再确认接收", f"The package is {pkg.status}: it cannot be "
                       "acknowledged again")
    if sm3 is not None and sm3.strip().lower() != pkg.sm3:
        raise Invalid("确认接收时提供的 SM3 摘要与数据包不一致：文件可能不完整或被改动",
                      "The SM3 digest given does not match the package: the file may be incomplete or altered",
                      field="sm3")
    pkg.status, pkg.received_at, pkg.received_by = "received", utcnow(), actor.user_id
    audit.record(session, actor=actor, action="sharing.package.receive", subject_type="share_package",
                 subject_id=pkg.id, before={"status": "ready"}, after={"status": "received"},
                 detail={"grant_id": grant.id, "file_sm3": pkg.sm3, "sm3_confirmed": sm3 is not None})
    return pkg


# Verification (offline) ----------------------------------------------------------------------------------

@dataclass
class PackageCheck:
    """Outcome of :func:`verify_package`: ``ok`` when the signature and the file digest both hold."""

    signature_ok: bool
    digest_ok: bool
    manifest: dict[str, Any]
    file_sm3: str
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.digest_ok and not self.problems


def _problem(code: str, zh: str, en: str) -> dict[str, str]:
    return {"code": code, "message": zh, "message_en": en}


def verify_package(manifest_bytes: bytes, signature: bytes | str, file: bytes | str | os.PathLike,
                   public_key: str | bytes) -> PackageCheck:
    """Check a received package offline: the SM2 signature over ``manifest_bytes`` under ``public_key``, and
    that ``file`` (its bytes, or a path) has the manifest's SM3 digest and size."""
    if isinstance(signature, str):
        try:
            signature = bytes.fromhex(signature.strip())
        except ValueError:
            signature = b""
    signature_ok = sm2.verify(bytes(manifest_bytes), signature, public_key)
    try:
        manifest = json.loads(bytes(manifest_bytes).decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError):
        raise Invalid("清单不是有效的 JSON 对象", "The manifest is not a JSON object", field="manifest") from None
    if isinstance(file, bytes | bytearray):
        digest, size = sm3_hex(bytes(file)), len(file)
    else:
        path = Path(file)
        if not path.is_file():
            raise Invalid(f"数据文件不存在：{path}", f"Data file not found: {path}", field="file")
        digest, size = file_sm3(path), path.stat().st_size
    problems = []
    if not signature_ok:
        problems.append(_problem("bad_signature", "清单的 SM2 签名无效：清单被改动，或不是该公钥签发的",
                                 "The manifest's SM2 signature is invalid: the manifest was altered or not signed "
                                 "with this key"))
    digest_ok = digest == manifest.get("file_sm3") and size == manifest.get("file_bytes")
    if not digest_ok:
        problems.append(_problem("file_digest_mismatch", "数据文件的 SM3 摘要或大小与清单不符：文件不完整或被改动",
                                 "The data file's SM3 digest or size differs from the manifest: the file is "
                                 "incomplete or altered"))
    signer = manifest.get("signer") or {}
    try:
        expected_id = sm2.key_id(public_key)
    except Invalid:
        expected_id = ""
    if signer.get("key_id") and signer.get("key_id") != expected_id:
        problems.append(_problem("other_key", f"清单声明的签名密钥 {signer.get('key_id')} 不是所用公钥 {expected_id}",
                                 f"The manifest names signing key {signer.get('key_id')}, not the public key given "
                                 f"({expected_id})"))
    return PackageCheck(signature_ok=signature_ok, digest_ok=digest_ok, manifest=manifest, file_sm3=digest,
                        problems=problems)


@dataclass(frozen=True)
class Envelope:
    manifest: dict[str, Any]
    manifest_bytes: bytes
    signature: bytes
    public_key: str
    key_id: str


def read_envelope(data: bytes) -> Envelope:
    """Parse an envelope file (``<file>.manifest.json``): the manifest's canonical bytes and its signature."""
    try:
        doc = json.loads(bytes(data).decode("utf-8-sig"))
        manifest, sig = doc["manifest"], doc["signature"]
        if doc.get("envelope") != ENVELOPE_FORMAT or not isinstance(manifest, dict) or not isinstance(sig, dict):
            raise ValueError(doc.get("envelope"))
        value = bytes.fromhex(str(sig.get("value", "")))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise Invalid("清单文件格式不正确（应为平台生成的 *.manifest.json）",
                      "The manifest file is malformed (expected the platform's *.manifest.json)",
                      field="manifest") from None
    return Envelope(manifest=manifest, manifest_bytes=canonical_json(manifest), signature=value,
                    public_key=str(sig.get("public_key", "")), key_id=str(sig.get("key_id", "")))


def verify_files(manifest_path: str | os.PathLike, file_path: str | os.PathLike,
                 public_key: str | None = None) -> tuple[PackageCheck, bool]:
    """Verify an envelope file and a data file; ``public_key`` defaults to the one in the envelope (then the
    second value is False: integrity is proven, not who signed)."""
    env = read_envelope(Path(manifest_path).read_bytes())
    pinned = bool(public_key)
    key = public_key or env.public_key
    if not key:
        raise Invalid("清单中没有公钥，请用 --public-key 提供平台公钥", "The envelope has no public key; give the "
                      "platform's key with --public-key", field="public_key")
    return verify_package(env.manifest_bytes, env.signature, file_path, key), pinned
