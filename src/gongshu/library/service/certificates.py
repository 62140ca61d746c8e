"""The e-certificate library (电子证照库, R-AGG-4): the certificates a person (citizen ID number) or a
legal entity (USCC) holds, found in the serving versions of every entry that has a holder column
(公民身份号码 / 统一社会信用代码) and a certificate-number column (label containing 证号, 证书编号,
许可证编号 or 证照编号). Each entry's Parquet snapshot is scanned by DuckDB (vectorised, with the
row-group statistics pruning what it can); every look-up is an access event.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Invalid
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.kit.identifiers import is_valid_id_number, is_valid_uscc, mask_id_number
from gongshu.library.service import records  # noqa: F401 - declares library.view
from gongshu.store.service import sql_ident, sql_literal

CERT_WORDS = ("证号", "证书编号", "许可证编号", "证照编号")
HOLDER_KINDS = {"ric": ("个人", "person"), "uscc": ("法人", "legal entity")}
#: certificates returned per entry (a holder with more is shown the first ones, and told so)
MAX_PER_ENTRY = 1000


def _source(session: Session, version) -> dict | None:
    cols = ingest_spec.columns_from_json(version.columns)
    holder = next((c for c in cols if ingest_spec.check_for(c.label)), None)
    if holder is None:
        return None
    cert = next((c for c in cols if c is not holder and not ingest_spec.check_for(c.label)
                 and any(w in c.label for w in CERT_WORDS)), None)
    if cert is None:
        return None
    entry = catalog_entries.fetch(session, entry_id=version.entry_id)
    return {"entry_id": entry.id, "entry_name": entry.name, "org_id": entry.org_id, "version_id": version.id,
            "version": version.number, "holder_kind": ingest_spec.check_for(holder.label), "holder": holder,
            "certificate": cert, "columns": cols, "path": str(snapshot_path(version))}


def _sources(session: Session) -> list[dict]:
    return [s for v in ingest_versions.serving_versions(session) if (s := _source(session, v)) is not None]


def sources(session: Session, *, actor: Actor) -> list[dict]:
    """The entries that make up the e-certificate library now (entry, serving version, holder kind)."""
    require(actor, "library.view")
    return [{"entry_id": s["entry_id"], "entry_name": s["entry_name"], "version": s["version"],
             "version_id": s["version_id"], "holder_kind": s["holder_kind"],
             "holder_item": s["holder"].label, "certificate_item": s["certificate"].label} for s in _sources(session)]


def holder_kind(holder: str) -> str:
    """``ric`` or ``uscc`` for a valid citizen ID number or USCC; Invalid (zh/en) otherwise."""
    if len(holder) == 18 and is_valid_id_number(holder):
        return "ric"
    if len(holder) == 18 and is_valid_uscc(holder):
        return "uscc"
    raise Invalid(f"“{mask_id_number(holder) if holder else '（空）'}”既不是有效的公民身份号码，也不是有效的统一社会信用代码"
                  "（18 位，校验码须正确）",
                  f"'{mask_id_number(holder) if holder else '(empty)'}' is neither a valid citizen ID number nor a "
                  "valid unified social credit code (18 characters with a correct check character)", field="holder")


def _json(value: object) -> object:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def held_by(session: Session, *, actor: Actor, holder: str) -> list[dict]:
    """The certificates the person or entity holds: entry, version, certificate number and the other
    columns (other identifiers masked). The look-up is logged with the holder masked."""
    require(actor, "library.view")
    holder = (holder or "").strip().upper()
    kind = holder_kind(holder)
    found = [s for s in _sources(session) if s["holder_kind"] == kind]
    out: list[dict] = []
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        for s in found:
            h, names = sql_ident(s["holder"].name), ", ".join(sql_ident(c.name) for c in s["columns"])
            rows = con.sql(f"SELECT {names} FROM read_parquet({sql_literal(s['path'])}) "  # noqa: S608 - escaped
                           f"WHERE CAST({h} AS VARCHAR) = ? LIMIT ?", params=[holder, MAX_PER_ENTRY + 1]
                           ).to_arrow_table().to_pylist()
            for row in rows[:MAX_PER_ENTRY]:
                attrs = {}
                for c in s["columns"]:
                    if c.name in (s["holder"].name, s["certificate"].name):
                        continue
                    v = row.get(c.name)
                    if v is not None and (ingest_spec.check_for(c.label) or "号码" in c.label):
                        v = mask_id_number(str(v))
                    attrs[c.label] = _json(v)
                out.append({"entry_id": s["entry_id"], "entry_name": s["entry_name"], "version_id": s["version_id"],
                            "version": s["version"], "certificate_item": s["certificate"].label,
                            "certificate_number": _json(row.get(s["certificate"].name)), "attributes": attrs,
                            "truncated": len(rows) > MAX_PER_ENTRY})
    finally:
        con.close()
    audit.record(session, actor=actor, action="library.certificates.read", subject_type="library_certificates",
                 subject_id=mask_id_number(holder),
                 detail={"kind": kind, "certificates": len(out), "entries": sorted({c["entry_id"] for c in out})})
    return out
