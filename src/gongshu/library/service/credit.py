"""The credit library (信用库, R-AGG-4): what the city's credit information says about a legal entity
(USCC) or a person (citizen ID number).

A **credit source** is the serving version of a published entry about social credit — classified
under the topic 社会信用, or whose name says it is credit information — that has a holder column
(公民身份号码 / 统一社会信用代码). Each source has a **polarity**, read from its name by a rule that is
shown with the word that decided it: 守信 (positive: A级, 红名单, 守信, 诚信), 失信 (negative: 欠税, 处罚,
失信, 黑名单, 异常名录, 严重违法) or 一般 (neutral). A profile lists every record about the subject in
every source (DuckDB over the Parquet snapshots, one pass per source) with the providing department and
the version read; values are masked as the person/entity record masks them (identifiers, items graded
一般4 and above), and each source's **record date** is its first date item in catalogue order (公告日期,
处罚日期, 列入日期 …) — the profile gives the latest per source and per polarity. Every look-up is an
access event.
"""

from __future__ import annotations

import duckdb
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Invalid
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.kit.identifiers import mask_id_number
from gongshu.library.service import records  # declares library.view
from gongshu.library.service.certificates import _json, holder_kind
from gongshu.store.service import sql_ident, sql_literal

CREDIT_TOPIC = "社会信用"
#: (polarity, 中文, English, words in the entry name that decide it), checked in this order
POLARITIES = (
    ("negative", "失信", "adverse", ("欠税", "处罚", "失信", "黑名单", "异常名录", "严重违法", "违法")),
    ("positive", "守信", "good standing", ("A级", "红名单", "守信", "诚信", "信用良好")),
)
NEUTRAL = ("neutral", "一般", "general")
CREDIT_WORDS = ("信用", *(w for _p, _z, _e, words in POLARITIES for w in words))
#: records returned per source for one subject
MAX_PER_SOURCE = 200
#: subjects listed on the overview as having the most adverse records
TOP_ADVERSE = 10


def polarity(entry_name: str) -> dict:
    """The polarity of a credit source and the word in its name that decided it (none: neutral)."""
    for code, zh, en, words in POLARITIES:
        for w in words:
            if w in entry_name:
                return {"code": code, "zh": zh, "en": en, "word": w}
    return {"code": NEUTRAL[0], "zh": NEUTRAL[1], "en": NEUTRAL[2], "word": ""}


def _sources(session: Session) -> list[dict]:
    out = []
    for v in ingest_versions.serving_versions(session):
        snap = catalog_entries.published_snapshot(session, entry_id=v.entry_id, version=v.catalog_version)
        name = snap["name"]
        if snap.get("topic") != CREDIT_TOPIC and not any(w in name for w in CREDIT_WORDS):
            continue
        cols = ingest_spec.columns_from_json(v.columns)
        holder = next((c for c in cols if ingest_spec.check_for(c.label)), None)
        if holder is None:
            continue
        items = {it["name"]: it for it in snap.get("items", [])}
        dated = next((c for c in cols if c.type == "D"), None)
        out.append({"entry_id": v.entry_id, "entry_name": name, "org_id": snap["org_id"],
                    "org_name": snap.get("org_name") or "", "version_id": v.id,
                    "version": v.number, "rows": v.rows, "holder_kind": ingest_spec.check_for(holder.label),
                    "holder": holder, "columns": cols, "polarity": polarity(name), "path": str(snapshot_path(v)),
                    "date_item": dated.label if dated else None,
                    "mask": {c.name: {"name": c.label, "grade": items.get(c.label, {}).get("grade"),
                                      "identifier": bool(ingest_spec.check_for(c.label))} for c in cols}})
    return out


_MEMO_KEY = "library_credit_adverse"


def _adverse(session: Session, found: list[dict]) -> dict[str, int]:
    """Counts distinct subjects per source (into ``s["subjects"]``) and adverse records per subject.

    Versions never change, so the counts are kept on the session by the versions read: a page that
    lists the overview and opens a subject by rank reads the snapshots once."""
    memo = session.info.setdefault(_MEMO_KEY, {})
    key = tuple(s["version_id"] for s in found)
    if key in memo:
        subjects, adverse = memo[key]
        for s in found:
            s["subjects"] = subjects[s["version_id"]]
        return adverse
    adverse: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        for s in found:
            h = sql_ident(s["holder"].name)
            src = f"read_parquet({sql_literal(s['path'])})"
            s["subjects"] = con.execute(f"SELECT count(DISTINCT {h}) FROM {src}").fetchone()[0]  # noqa: S608 - escaped
            if s["polarity"]["code"] == "negative":
                for subject, n in con.execute(f"SELECT CAST({h} AS VARCHAR), count(*) FROM {src} "  # noqa: S608
                                          f"WHERE {h} IS NOT NULL GROUP BY 1").fetchall():
                    adverse[subject] = adverse.get(subject, 0) + n
    finally:
        con.close()
    memo[key] = ({s["version_id"]: s["subjects"] for s in found}, adverse)
    return adverse


def _top(adverse: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(adverse.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ADVERSE]


def overview(session: Session, *, actor: Actor) -> dict:
    """The credit sources (polarity with its reason, version, rows, distinct subjects) and the subjects
    with the most adverse records (identifiers masked; each opens by its rank, see :func:`ranked_subject`)."""
    require(actor, "library.view")
    found = _sources(session)
    adverse = _adverse(session, found)
    return {"sources": [{k: v for k, v in s.items() if k not in ("holder", "columns", "path", "mask")} | {
                "holder_item": s["holder"].label} for s in found],
            "top_adverse": [{"rank": n, "subject": mask_id_number(k), "records": c}
                            for n, (k, c) in enumerate(_top(adverse), start=1)],
            "adverse_subjects": len(adverse)}


def ranked_subject(session: Session, *, actor: Actor, rank: int) -> str:
    """The subject at ``rank`` (1-based) of the overview's most-adverse list, so that list can link to the
    profiles without putting full identifiers in pages or addresses."""
    require(actor, "library.view")
    top = _top(_adverse(session, _sources(session)))
    if not 1 <= rank <= len(top):
        raise Invalid(f"失信记录最多的主体中没有第 {rank} 名（共 {len(top)} 名）",
                      f"There is no rank {rank} among the subjects with most adverse records ({len(top)})",
                      field="rank")
    return top[rank - 1][0]


def profile(session: Session, *, actor: Actor, subject: str) -> dict:
    """Every credit record about ``subject`` (a USCC or citizen ID number), source by source, with the
    count per polarity. Identifiers other than the subject's are masked; the look-up is logged."""
    require(actor, "library.view")
    subject = (subject or "").strip().upper()
    kind = holder_kind(subject)
    found = [s for s in _sources(session) if s["holder_kind"] == kind]
    sections, counts = [], {"positive": 0, "negative": 0, "neutral": 0}
    latest: dict[str, str | None] = {"positive": None, "negative": None, "neutral": None}
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        for s in found:
            names = ", ".join(sql_ident(c.name) for c in s["columns"])
            rows = con.sql(f"SELECT {names} FROM read_parquet({sql_literal(s['path'])}) "  # noqa: S608 - escaped
                           f"WHERE CAST({sql_ident(s['holder'].name)} AS VARCHAR) = ? LIMIT ?",
                           params=[subject, MAX_PER_SOURCE + 1]).to_arrow_table().to_pylist()
            if not rows:
                continue
            shown, dates = [], []
            for row in rows[:MAX_PER_SOURCE]:
                attrs = {}
                for c in s["columns"]:
                    if c.name == s["holder"].name:
                        continue
                    v = _json(row.get(c.name))
                    if c.label == s["date_item"] and v is not None:
                        dates.append(str(v))
                    if v is not None:
                        v = records._mask(s["mask"][c.name], str(v))[0]
                    attrs[c.label] = v
                shown.append(attrs)
            code = s["polarity"]["code"]
            counts[code] += len(rows[:MAX_PER_SOURCE])
            last = max(dates) if dates else None
            if last and (latest[code] is None or last > latest[code]):
                latest[code] = last
            sections.append({"entry_id": s["entry_id"], "entry_name": s["entry_name"], "org_name": s["org_name"],
                             "version": s["version"], "version_id": s["version_id"], "polarity": s["polarity"],
                             "records": shown, "date_item": s["date_item"], "latest": last,
                             "truncated": len(rows) > MAX_PER_SOURCE})
    finally:
        con.close()
    sections.sort(key=lambda x: ("negative", "positive", "neutral").index(x["polarity"]["code"]))
    audit.record(session, actor=actor, action="library.credit.read", subject_type="library_credit",
                 subject_id=mask_id_number(subject),
                 detail={"kind": kind, "records": counts, "entries": [x["entry_id"] for x in sections]})
    return {"subject": mask_id_number(subject), "kind": kind, "counts": counts, "latest": latest, "sections": sections,
            "sources": len(found)}
