"""Reading a library record: attributes with provenance, masked per grade, every read logged."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, require
from gongshu.errors import Invalid, NotFound
from gongshu.ingest.service.codes import CODE_TABLES, code_table_for
from gongshu.kit.identifiers import mask_id_number
from gongshu.library.models import KINDS, LibraryBuild, LibraryConflict
from gongshu.store import registry
from gongshu.store.service import Column

declare("library.view", "查阅基础库记录（按分级脱敏，留痕）", "Read base library records (masked by grade, logged)",
        AUTHORITY_ROLES, writes=False)

#: attribute grades shown only masked on pages (sensitive personal information)
MASKED_GRADES = ("一般4", "重要", "核心")


def current_build(session: Session, *, kind: str) -> LibraryBuild | None:
    return session.scalar(select(LibraryBuild).where(LibraryBuild.kind == kind, LibraryBuild.status == "current"))


def builds(session: Session, *, actor: Actor, kind: str, limit: int = 20) -> list[LibraryBuild]:
    require(actor, "library.view")
    return list(session.scalars(select(LibraryBuild).where(LibraryBuild.kind == kind)
                                .order_by(LibraryBuild.id.desc()).limit(limit)))


def _mask(attr: dict, value: str | None) -> tuple[str, bool]:
    if value is None:
        return "", False
    if attr.get("identifier") or "号码" in attr["name"] or "证号" in attr["name"]:
        return mask_id_number(value), True
    if attr.get("grade") in MASKED_GRADES:
        return "＊" * min(len(value), 6), True
    table = code_table_for(attr["name"])
    label = CODE_TABLES[table].label(value) if table and table != "division" else None
    return (f"{value}（{label}）" if label else value), False


def name_matches(session: Session, *, kind: str, subject: str, name: str, attributes: Sequence[str]) -> bool | None:
    """Whether the current ``kind`` library's record of ``subject`` has ``name`` in one of ``attributes``
    (compared trimmed); None when there is no such library or no such subject. Only the answer leaves: for
    real-name verification (the caller logs and limits the attempts)."""
    lib = current_build(session, kind=kind)
    if lib is None:
        return None
    attrs = [a for a in lib.attributes if a["name"] in attributes]
    if not attrs:
        return None
    columns = [Column("k", "主体标识", "C", key=True)] + [Column(a["column"], a["name"], "C") for a in attrs]
    rows = registry.get_store().lookup(lib.table_name, columns, {"k": subject.strip().upper()})
    if not rows:
        return None
    wanted = (name or "").strip()
    return any((rows[0].get(a["column"]) or "").strip() == wanted for a in attrs)


def record(session: Session, *, actor: Actor, kind: str, subject: str) -> dict:
    """One subject's record: each attribute's (masked) value, its source entry and version."""
    require(actor, "library.view")
    if kind not in KINDS:
        raise Invalid(f"未知的基础库：{kind}", f"Unknown library: {kind}", field="kind")
    subject = (subject or "").strip().upper()
    if not subject or len(subject) > 40:
        raise Invalid("请输入公民身份号码或统一社会信用代码", "Enter a citizen ID number or USCC", field="subject")
    lib = current_build(session, kind=kind)
    if lib is None:
        raise NotFound(f"{KINDS[kind][0]}尚未建立", f"The {KINDS[kind][1]} has not been built yet")
    columns = [Column("k", "主体标识", "C", key=True)]
    for a in lib.attributes:
        columns += [Column(a["column"], a["name"], "C"), Column("s" + a["column"][1:], a["name"] + "·来源", "I")]
    rows = registry.get_store().lookup(lib.table_name, columns, {"k": subject})
    audit.record(session, actor=actor, action="library.read", subject_type=f"library_{kind}",
                 subject_id=mask_id_number(subject), detail={"build": lib.id, "found": bool(rows)})
    if not rows:
        raise NotFound(f"{KINDS[kind][0]}中没有该主体", f"No such subject in the {KINDS[kind][1]}")
    row = rows[0]
    by_entry = {s["entry_id"]: s for s in lib.sources}
    attrs = []
    for a in lib.attributes:
        value, masked = _mask(a, row.get(a["column"]))
        src = by_entry.get(row.get("s" + a["column"][1:]))
        attrs.append({"name": a["name"], "value": value, "masked": masked, "grade": a.get("grade"),
                      "entry_id": src["entry_id"] if src else None, "entry_name": src["entry_name"] if src else "",
                      "version": src["number"] if src else None,
                      "authoritative": bool(src and src["org_id"] == a.get("source_org_id"))})
    conflicts = session.scalars(select(LibraryConflict).where(LibraryConflict.build_id == lib.id,
                                                              LibraryConflict.subject == subject)).all()
    grades = {a["name"]: a for a in lib.attributes}
    return {"build": lib, "subject": mask_id_number(subject), "attributes": attrs,
            "conflicts": [{"attribute": c.attribute,
                           "chosen": _mask(grades.get(c.attribute, {"name": c.attribute}), c.chosen_value)[0],
                           "chosen_entry": by_entry.get(c.chosen_entry_id, {}).get("entry_name", ""),
                           "other": _mask(grades.get(c.attribute, {"name": c.attribute}), c.other_value)[0],
                           "other_entry": by_entry.get(c.other_entry_id, {}).get("entry_name", "")}
                          for c in conflicts]}
