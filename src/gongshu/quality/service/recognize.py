"""Sensitive-data recognizers (R-GOV-4): what a data version's columns really hold, against what its catalogue
entry declares (grade, personal-information flag).

A scan reads a sample of the version's Parquet snapshot (:data:`SAMPLE_ROWS`, a repeatable reservoir sample) and
evaluates every recognizer on every column in one vectorised Polars pass:

- ``ric`` citizen ID numbers (GB 11643: format, valid birth date, check character — a random 18-digit string passes
  the check 1 time in 11, the date test removes most of the rest);
- ``uscc`` unified social credit codes (GB 32100: alphabet and check character);
- ``mobile`` mainland mobile numbers (``1[3-9]`` + 9 digits, optional +86, spaces and dashes ignored);
- ``bank_card`` bank card numbers (16–19 digits passing Luhn and not a valid ID number: 1 random number in 10
  passes Luhn, so precision rests on the column share, see below);
- ``email`` e-mail addresses (a pragmatic pattern, not RFC 5322);
- ``name`` Chinese personal names: a common surname (:data:`SURNAMES`, about 400 single and 40 compound) followed by
  1–2 Han characters, or a minority name with ``·``; values with words of places and organisations are excluded.
  **Precision is modest**: two- and three-character words that begin with a surname character (和平, 高新, 文化…)
  match too, and names with a rare surname do not. It is meant for columns, not single values;
- ``address`` addresses: an administrative level (省/市/区/县/镇/乡/街道…) followed by a street or house part
  (路/巷/号/栋/室/村/组/社区…). It does not tell a home from an office: it suggests the personal flag only when
  the same version also holds citizen ID numbers, or names without USCCs (an enterprise register names legal
  representatives: its addresses are the enterprises').

A column is *found* to hold a kind when at least :data:`MIN_SHARE` of its non-empty sampled values match (and at
least :data:`MIN_MATCHED` do). A finding whose suggested grade is stricter than the declared one, or that is personal
while the item is not declared personal, becomes a :class:`GradingSuggestion` for the authority — never a
suggestion to lower a grade (就高从严). A recognizer that raises is recorded as not run, with the reason, and the
others still run. The authority accepts a suggestion (the source department gets an inbox item to revise its entry:
grades change only through a catalogue revision, ``catalog.service.lifecycle.revise``) or dismisses it with a
reason; a later scan that finds the entry revised marks the suggestion applied.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, authority_org_id, can, require
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.catalog.service import grading
from gongshu.db import utcnow
from gongshu.errors import Conflict, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.kit import forms
from gongshu.quality.models_compare import SUGGESTION_STATUS, GradingSuggestion, Scan
from gongshu.quality.service.recognizers import (
    RECOGNIZERS,
    SAMPLE_ROWS,
    ColumnFinding,
    Recognizer,
    read_sample,
    scan_frame,
)
from gongshu.tasks import service as tasks

log = logging.getLogger(__name__)

DEPT_ROLES = {"dept_officer", "dept_staff"}
declare("quality.suggestion.view", "查看本部门目录的分级建议和敏感数据识别结果",
        "See grading suggestions and sensitive-data scans of one's department's entries", DEPT_ROLES,
        scope="own_org", writes=False)
declare("quality.suggestion.view_all", "查看全市的分级建议和敏感数据识别结果",
        "See every grading suggestion and sensitive-data scan", AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("quality.suggestion.decide", "采纳或驳回分级建议（数据主管部门）",
        "Accept or dismiss grading suggestions (authority)", AUTHORITY_ROLES)
declare("quality.scan.run", "对数据版本重新进行敏感数据识别", "Re-run the sensitive-data recognizers on a version",
        {"authority_admin"})

MIN_SHARE = 0.5
MIN_MATCHED = 3
SUBJECT = "grading_suggestion"
TASK_DECIDE = "quality.suggestion"
TASK_REVISE = "quality.regrade"
DECIDE_WORKDAYS = 10
REVISE_WORKDAYS = 10

# Scans of data versions -------------------------------------------------------------------------

def _declared(session: Session, snap: dict) -> dict[str, dict]:
    """item name → {"grade", "personal"} as published (an item bound to a personal element counts as personal)."""
    out = {}
    for it in snap["items"]:
        personal = bool(it.get("is_personal"))
        if not personal and it.get("element_id"):
            try:
                personal = catalog_elements.get_element(session, element_id=it["element_id"]).is_personal
            except NotFound:
                personal = False
        out[it["name"]] = {"grade": it.get("grade") or grading.DEFAULT_GRADE, "personal": personal}
    return out


def _failed_scan(session: Session, *, actor: Actor, version, entry, zh: str, en: str, started: float) -> Scan:
    scan = Scan(entry_id=entry.id, org_id=entry.org_id, version_id=version.id, version_number=version.number,
                status="failed", rows=version.rows or 0, sampled=0, findings=[], suggestions=0, error=zh, error_en=en,
                recognizers={c: {"ran": False, "error": zh, "error_en": en} for c in RECOGNIZERS},
                seconds=round(time.perf_counter() - started, 3))
    session.add(scan)
    session.flush()
    audit.record(session, actor=actor, action="quality.scan", subject_type="quality_scan", subject_id=scan.id,
                 after={"entry_id": entry.id, "version": version.number, "status": "failed", "error": zh})
    return scan


def scan_version(session: Session, *, actor: Actor, entry_id: int, version_id: int,
                 sample_rows: int = SAMPLE_ROWS) -> Scan:
    """Scan one data version (a job after each load; by hand with ``quality.scan.run``), record the findings,
    open or refresh grading suggestions, and mark accepted suggestions the entry now meets as applied."""
    require(actor, "quality.scan.run")
    started = time.perf_counter()
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    version = next((v for v in ingest_versions.versions_of(session, entry_id=entry_id) if v.id == version_id), None)
    if version is None:
        raise NotFound(f"目录 {entry_id} 没有编号为 {version_id} 的数据版本",
                       f"Entry {entry_id} has no data version {version_id}", field="version_id")
    if version.status == "expired":
        return _failed_scan(session, actor=actor, version=version, entry=entry, started=started,
                            zh=f"第 {version.number} 版已超过保留期，数据已清除，无法识别",
                            en=f"Version {version.number} is past retention: its data is gone")
    path = snapshot_path(version)
    try:
        df = read_sample(str(path), rows=sample_rows)
    except Exception as exc:  # a missing or unreadable snapshot: the scan says so
        log.warning("scan of version %s: %s", version_id, exc)
        return _failed_scan(session, actor=actor, version=version, entry=entry, started=started,
                            zh=f"无法读取数据快照：{type(exc).__name__}", en=f"The snapshot cannot be read: {type(exc).__name__}")
    labels = {c["name"]: c["label"] for c in version.columns}
    df = df.select([c for c in df.columns if c in labels]).rename(labels)
    findings, status = scan_frame(df)
    snap = catalog_entries.published_snapshot(session, entry_id=entry_id, version=version.catalog_version or None)
    declared = _declared(session, snap)
    ranks = grading.ranks(session)
    best: dict[str, ColumnFinding] = {}
    for fd in findings:
        if fd.share >= MIN_SHARE and fd.matched >= MIN_MATCHED:
            cur = best.get(fd.column)
            if cur is None or fd.share > cur.share:
                best[fd.column] = fd
    # person data: ID numbers, or names in a table not keyed by legal entities (a register of enterprises names
    # legal representatives, and its addresses are the enterprises')
    kinds = {fd.recognizer for fd in best.values()}
    has_person = "ric" in kinds or ("name" in kinds and "uscc" not in kinds)
    scan = Scan(entry_id=entry.id, org_id=entry.org_id, version_id=version.id, version_number=version.number,
                status="done", rows=version.rows or 0, sampled=df.height, recognizers=status,
                findings=[{"item": fd.column, "recognizer": fd.recognizer, "matched": fd.matched, "values": fd.values,
                           "share": fd.share, "found": best.get(fd.column) is fd} for fd in findings])
    session.add(scan)
    session.flush()
    opened = 0
    for fd in best.values():
        r = RECOGNIZERS[fd.recognizer]
        d = declared.get(fd.column)
        if d is None:
            continue
        personal = r.personal and (not r.needs_person or has_person)
        want = r.grade if personal or not r.needs_person else grading.DEFAULT_GRADE
        higher = ranks.get(want, 0) > ranks.get(d["grade"], 0)
        if not higher and not (personal and not d["personal"]):
            continue
        opened += _suggest(session, actor=actor, scan=scan, entry=entry, version=version, finding=fd, rec=r,
                           declared=d, grade=want if higher else d["grade"], personal=personal or d["personal"])
    _applied(session, actor=actor, entry_id=entry.id, declared=declared, ranks=ranks)
    scan.suggestions = opened
    scan.seconds = round(time.perf_counter() - started, 3)
    audit.record(session, actor=actor, action="quality.scan", subject_type="quality_scan", subject_id=scan.id,
                 after={"entry_id": entry.id, "version": version.number, "sampled": scan.sampled,
                        "found": {c: f.recognizer for c, f in best.items()}, "suggestions": opened,
                        "not_run": sorted(c for c, s in status.items() if not s["ran"])})
    return scan


def _suggest(session: Session, *, actor: Actor, scan: Scan, entry, version, finding: ColumnFinding, rec: Recognizer,
             declared: dict, grade: str, personal: bool) -> int:
    """Open a suggestion (1) or refresh the open one (0); nothing when the same one was already decided."""
    same = list(session.scalars(select(GradingSuggestion).where(
        GradingSuggestion.entry_id == entry.id, GradingSuggestion.item == finding.column,
        GradingSuggestion.recognizer == rec.code).order_by(GradingSuggestion.id.desc())))
    evidence = {"scan_id": scan.id, "version_id": version.id, "matched": finding.matched, "values": finding.values,
                "share": finding.share, "sample": finding.sample, "updated_at": utcnow()}
    current = next((s for s in same if s.status == "open"), None)
    if current is not None:
        for k, v in evidence.items():
            setattr(current, k, v)
        current.declared_grade, current.declared_personal = declared["grade"], declared["personal"]
        current.suggested_grade, current.suggested_personal = grade, personal
        audit.record(session, actor=actor, action="quality.suggestion.refresh", subject_type=SUBJECT,
                     subject_id=current.id, after={"scan_id": scan.id, "share": finding.share})
        return 0
    if any(s.declared_grade == declared["grade"] and s.declared_personal == declared["personal"]
           and s.suggested_grade == grade for s in same):
        return 0  # decided already for this declaration: dismissed, or accepted and awaiting the revision
    why = [rec.reason]
    why_en = [rec.reason_en]
    if grade != declared["grade"]:
        why.append(f"建议分级由“{declared['grade']}”调整为“{grade}”")
        why_en.append(f"grade {declared['grade']} → {grade}")
    if personal and not declared["personal"]:
        why.append("建议标注为个人信息")
        why_en.append("flag as personal information")
    s = GradingSuggestion(scan_id=scan.id, entry_id=entry.id, org_id=entry.org_id, version_id=version.id,
                          catalog_version=version.catalog_version, item=finding.column, recognizer=rec.code,
                          matched=finding.matched, values=finding.values, share=finding.share,
                          declared_grade=declared["grade"], declared_personal=declared["personal"],
                          suggested_grade=grade, suggested_personal=personal, reason="；".join(why),
                          reason_en="; ".join(why_en), sample=finding.sample, status="open", decision_note="")
    session.add(s)
    session.flush()
    authority = authority_org_id(session)
    if authority is not None:
        tasks.open_task(session, actor=actor, kind=TASK_DECIDE, title=f"分级建议：{entry.name} · {finding.column}",
                        subject_type=SUBJECT, subject_id=s.id, org_id=authority, workdays=DECIDE_WORKDAYS,
                        basis="敏感数据识别与申报分级不一致（R-GOV-4）")
    audit.record(session, actor=actor, action="quality.suggestion.open", subject_type=SUBJECT, subject_id=s.id,
                 after={"entry_id": entry.id, "item": finding.column, "recognizer": rec.code, "share": finding.share,
                        "declared": [declared["grade"], declared["personal"]], "suggested": [grade, personal]})
    return 1


def _applied(session: Session, *, actor: Actor, entry_id: int, declared: dict[str, dict], ranks: dict[str, int]) -> None:
    """Accepted suggestions the entry's published items now meet: applied, the revision item closed."""
    for s in session.scalars(select(GradingSuggestion).where(
            GradingSuggestion.entry_id == entry_id, GradingSuggestion.status == "accepted",
            GradingSuggestion.applied_at.is_(None))):
        d = declared.get(s.item)
        if d is None or ranks.get(d["grade"], 0) < ranks.get(s.suggested_grade, 0) \
                or (s.suggested_personal and not d["personal"]):
            continue
        s.applied_at = utcnow()
        tasks.close_tasks(session, actor=actor, kind=TASK_REVISE, subject_type=SUBJECT, subject_id=s.id)
        audit.record(session, actor=actor, action="quality.suggestion.applied", subject_type=SUBJECT,
                     subject_id=s.id, after={"grade": d["grade"], "personal": d["personal"]})


# Reading and deciding ---------------------------------------------------------------------------

def _may_see(actor: Actor, org_id: int) -> bool:
    return can(actor, "quality.suggestion.view_all") or can(actor, "quality.suggestion.view", org_id=org_id)


def _scoped(actor: Actor, stmt: Select, model) -> Select:
    """The authority sees every row; a department only its own (and needs the view action)."""
    if can(actor, "quality.suggestion.view_all"):
        return stmt
    require(actor, "quality.suggestion.view")
    return stmt.where(model.org_id == actor.org_id)


def _visible(session: Session, actor: Actor, model, row_id: int, zh: str, en: str, field: str):
    if not can(actor, "quality.suggestion.view_all"):
        require(actor, "quality.suggestion.view")
    row = session.get(model, row_id) if 0 < row_id < 2**31 else None
    if row is None or not _may_see(actor, row.org_id):
        raise NotFound(zh, en, field=field)
    return row


def list_suggestions(session: Session, *, actor: Actor, status: str | None = "open", limit: int = 500
                     ) -> list[GradingSuggestion]:
    """Suggestions the actor may see (the authority: all; a department: its own entries'), newest first."""
    if status and status not in SUGGESTION_STATUS:
        status = None
    stmt = _scoped(actor, select(GradingSuggestion).order_by(GradingSuggestion.id.desc()).limit(limit),
                   GradingSuggestion)
    if status:
        stmt = stmt.where(GradingSuggestion.status == status)
    return list(session.scalars(stmt))


def get_suggestion(session: Session, *, actor: Actor, suggestion_id: int) -> GradingSuggestion:
    return _visible(session, actor, GradingSuggestion, suggestion_id, f"没有编号为 {suggestion_id} 的分级建议",
                    f"No grading suggestion {suggestion_id}", "suggestion_id")


def _open(session: Session, actor: Actor, suggestion_id: int) -> GradingSuggestion:
    require(actor, "quality.suggestion.decide")
    s = get_suggestion(session, actor=actor, suggestion_id=suggestion_id)
    if s.status != "open":
        raise Conflict(f"该分级建议已{SUGGESTION_STATUS[s.status][0]}，不能再次处理",
                       f"This suggestion is already {SUGGESTION_STATUS[s.status][1].lower()}", field="suggestion_id")
    return s


def accept(session: Session, *, actor: Actor, suggestion_id: int, note: str = "") -> GradingSuggestion:
    """The authority agrees: recorded, and the source department gets an inbox item to revise the entry's grade
    (a catalogue revision); a later scan marks the suggestion applied when the published entry meets it."""
    s = _open(session, actor, suggestion_id)
    s.status, s.decided_by, s.decided_at, s.updated_at = "accepted", actor.user_id, utcnow(), utcnow()
    s.decision_note = forms.text(note, "note", "采纳意见", "The note", required=False)
    tasks.close_tasks(session, actor=actor, kind=TASK_DECIDE, subject_type=SUBJECT, subject_id=s.id)
    entry = catalog_entries.fetch(session, entry_id=s.entry_id)
    flag = "，并标注为个人信息" if s.suggested_personal and not s.declared_personal else ""
    tasks.open_task(session, actor=actor, kind=TASK_REVISE, org_id=s.org_id, workdays=REVISE_WORKDAYS,
                    title=f"按分级建议修订目录：{entry.name} · {s.item} 调整为{s.suggested_grade}{flag}",
                    subject_type=SUBJECT, subject_id=s.id, basis="数据主管部门采纳的分级建议（R-GOV-4）")
    audit.record(session, actor=actor, action="quality.suggestion.accept", subject_type=SUBJECT, subject_id=s.id,
                 after={"status": "accepted", "grade": s.suggested_grade, "personal": s.suggested_personal,
                        "note": s.decision_note})
    return s


def dismiss(session: Session, *, actor: Actor, suggestion_id: int, reason: str) -> GradingSuggestion:
    """The authority disagrees, with a reason (kept; the same finding is not suggested again for this declaration)."""
    s = _open(session, actor, suggestion_id)
    s.decision_note = forms.text(reason, "reason", "驳回理由", "The reason")
    s.status, s.decided_by, s.decided_at, s.updated_at = "dismissed", actor.user_id, utcnow(), utcnow()
    tasks.close_tasks(session, actor=actor, kind=TASK_DECIDE, subject_type=SUBJECT, subject_id=s.id)
    audit.record(session, actor=actor, action="quality.suggestion.dismiss", subject_type=SUBJECT, subject_id=s.id,
                 after={"status": "dismissed", "reason": s.decision_note})
    return s


def scans_of(session: Session, *, actor: Actor, entry_id: int | None = None, limit: int = 50) -> list[Scan]:
    """Recent scans the actor may see (each says which recognizers could not run)."""
    stmt = _scoped(actor, select(Scan).order_by(Scan.id.desc()).limit(limit), Scan)
    if entry_id:
        stmt = stmt.where(Scan.entry_id == entry_id)
    return list(session.scalars(stmt))


def get_scan(session: Session, *, actor: Actor, scan_id: int) -> Scan:
    return _visible(session, actor, Scan, scan_id, f"没有编号为 {scan_id} 的识别记录", f"No scan {scan_id}", "scan_id")


def suggestions_of_scan(session: Session, *, actor: Actor, scan_id: int) -> list[GradingSuggestion]:
    """The suggestions a scan opened or refreshed last."""
    scan = get_scan(session, actor=actor, scan_id=scan_id)
    return list(session.scalars(select(GradingSuggestion).where(GradingSuggestion.scan_id == scan.id)
                                .order_by(GradingSuggestion.id)))
