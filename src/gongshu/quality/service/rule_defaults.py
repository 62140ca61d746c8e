"""The default quality rules every published entry gets (R-GOV-1): derived from its data items — types, lengths,
keys, identifiers, code tables, dates, data elements — and added once per key (a key ever used, even retired by a
person, is left alone). The rule kinds and the workbench's edits are :mod:`gongshu.quality.service.rules`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import SYSTEM, Actor
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import NotFound
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service.codes import CODE_TABLES, code_table_for
from gongshu.ingest.service.freshness import CYCLE_DAYS, CYCLE_MONTHS
from gongshu.quality.models import QualityRule
from gongshu.quality.service.rules import KINDS, default_key

DATE_MIN = "1900-01-01"


def _spec(kind: str, item: str, params: dict, severity: str, description: str, tolerance: float = 0.0
          ) -> dict[str, Any]:
    return {"kind": kind, "item": item, "params": params, "severity": severity, "description": description,
            "tolerance": tolerance}


#: words of date items that may lie in the future (validity ends, deadlines, plans): no "not after today" default
FUTURE_DATES = ("有效期", "截止", "到期", "届满", "终止", "计划", "预计", "至")


def derive_defaults(snapshot: Mapping[str, Any], elements: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The default rules of a published entry, from its items (pure: the caller resolves the data elements).

    - character items with a length → ``format``; items bound to a data element → ``element``;
    - key and identifier items → ``required``; the key items together → ``unique``;
    - citizen ID numbers and USCCs (by name, element or the standard cited in the meaning) → ``checksum``;
    - coded items (性别, 婚姻, 民族, 行政区划 …) → ``code_table``; dates → ``range`` 1900-01-01 … today;
    - an ID number with 出生日期 / 性别 beside it → ``row_rule`` (birth date, sex parity);
    - the entry → ``record_complete`` (half the items), ``freshness`` (fixed update cycles), ``accessible``.
    """
    items = sorted(snapshot.get("items") or [], key=lambda it: it["seq"])
    out: list[dict[str, Any]] = []
    ric = uscc = birth = sex = None
    keys = []
    for it in items:
        name, kind_of = it["name"], it["type"]
        element = elements.get(it.get("element_id") or 0) or {}
        meaning = (it.get("meaning") or "") + " " + (element.get("definition") or "")
        check = ingest_spec.check_for(name) or ingest_spec.check_for(element.get("name") or "")
        if check is None and "11643" in meaning:
            check = "ric"
        if check is None and "32100" in meaning:
            check = "uscc"
        table = code_table_for(name, meaning) or code_table_for(element.get("name") or "", "")
        if kind_of in ("C", "M") and it.get("length"):
            out.append(_spec("format", name, {"type": kind_of, "length": it["length"]}, "minor",
                             f"{name}：{kind_of} 型，不超过 {it['length']} 个字符", 0.01))
        if element.get("code"):
            out.append(_spec("element", name, {"element": element["code"]}, "minor",
                             f"{name} 符合数据元 {element['code']} {element.get('name', '')}", 0.01))
        if it.get("is_key") or it.get("is_identifier"):
            out.append(_spec("required", name, {}, "critical" if it.get("is_key") else "major", f"{name} 必填"))
        if it.get("is_key"):
            keys.append(name)
        if check:
            out.append(_spec("checksum", name, {"scheme": check}, "critical",
                             f"{name} 符合 {'GB 11643' if check == 'ric' else 'GB 32100'}（格式与校验位）"))
            if check == "ric" and ric is None:
                ric = name
            if check == "uscc" and uscc is None:
                uscc = name
        if table and kind_of == "C" and not check:
            out.append(_spec("code_table", name, {"table": table}, "major",
                             f"{name} 取值符合 {CODE_TABLES[table].standard} {CODE_TABLES[table].title_zh}"))
            if table == "gender" and sex is None:
                sex = name
        if kind_of in ("D", "T") and any(w in name for w in FUTURE_DATES):  # an expiry or a plan lies ahead
            out.append(_spec("range", name, {"min": DATE_MIN}, "major", f"{name} 不早于 {DATE_MIN}"))
        elif kind_of in ("D", "T"):
            out.append(_spec("range", name, {"min": DATE_MIN, "max": "today"}, "major",
                             f"{name} 在 {DATE_MIN} 至检查当日之间"))
            if "出生日期" in name and birth is None:
                birth = name
    if keys:
        params = {"items": keys} if len(keys) > 1 else {}
        out.append(_spec("unique", keys[0] if len(keys) == 1 else "", params, "critical",
                         f"主键（{'、'.join(keys)}）不重复"))
    if ric and birth:
        out.append(_spec("row_rule", ric, {"check": "ric_birth", "other": birth}, "major",
                         f"{birth} 与 {ric} 第 7–14 位一致"))
    if ric and sex:
        out.append(_spec("row_rule", ric, {"check": "ric_sex", "other": sex}, "major",
                         f"{sex} 与 {ric} 第 17 位的奇偶一致（奇数为男）"))
    if len(items) > 1:
        out.append(_spec("record_complete", "", {"threshold": 0.5}, "minor", "每条记录至少填写一半的信息项", 0.05))
    if snapshot.get("update_cycle") in CYCLE_DAYS or snapshot.get("update_cycle") in CYCLE_MONTHS:
        out.append(_spec("freshness", "", {}, "major", f"按更新周期（{snapshot['update_cycle']}）按时更新"))
    out.append(_spec("accessible", "", {}, "critical", "数据版本的快照存在、可读取且摘要一致"))
    return out


def ensure_defaults(session: Session, *, entry_id: int, actor: Actor = SYSTEM) -> list[QualityRule]:
    """Add the default rules the published entry does not have yet (a key that was ever used — even retired
    by a person — is left alone). Returns the rules added; idempotent."""
    try:
        snap = catalog_entries.published_snapshot(session, entry_id=entry_id)
    except NotFound:
        return []
    element_ids = {it["element_id"] for it in snap["items"] if it.get("element_id")}
    elements = {}
    for eid in element_ids:
        try:
            el = catalog_elements.get_element(session, element_id=eid)
        except NotFound:
            continue
        elements[eid] = {"code": el.code, "name": el.name, "definition": el.definition}
    used = set(session.scalars(select(QualityRule.key).where(QualityRule.entry_id == entry_id)))
    added = []
    for d in derive_defaults(snap, elements):
        key = default_key(d["kind"], d["item"], d["params"])
        if key in used:
            continue
        kind = KINDS[d["kind"]]
        rule = QualityRule(entry_id=entry_id, key=key, version=1, status="active", kind=d["kind"],
                           dimension=kind.dimension, item=d["item"], params=d["params"], severity=d["severity"],
                           weight=1.0, tolerance=d["tolerance"], origin="default", description=d["description"],
                           created_by=actor.user_id)
        session.add(rule)
        used.add(key)
        added.append(rule)
    if added:
        session.flush()
        audit.record(session, actor=actor, action="quality.rule.defaults", subject_type="catalog_entry",
                     subject_id=entry_id, detail={"added": [r.key for r in added],
                                                  "catalog_version": snap.get("version")})
    return added
