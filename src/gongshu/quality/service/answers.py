"""The answers to a data issue (R-GOV-2; LZ 31–32): the source department's — 完成整改 (:func:`accept` with a plan,
then a new version that passes the re-check, or :func:`correct` naming it), 确认无误 (:func:`confirm`, explanation
required), 沟通解决 (:func:`negotiate`, the record required) — and the reporter's (:func:`acknowledge` an outcome,
:func:`withdraw` a report). Raising, reading and the shared transition are :mod:`gongshu.quality.service.issues`;
disputes go on in :mod:`gongshu.quality.service.escalation`. Services never commit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can, require
from gongshu.errors import Conflict, Invalid
from gongshu.ingest.service import versions as ingest_versions
from gongshu.quality.models import QualityCheck, QualityResult, QualityRule
from gongshu.quality.models_issues import UNCLOSED, DataIssue
from gongshu.quality.service.issues import (
    MACHINE,
    close_as,
    locked,
    require_status,
    text,
    transition,
)

# The source's answers (LZ 31) -------------------------------------------------------------------------------

def _as_source(session: Session, actor: Actor, issue_id: Any) -> DataIssue:
    issue = locked(session, issue_id)
    require(actor, "quality.issue.answer", org_id=issue.org_id)
    return issue


def accept(session: Session, *, actor: Actor, issue_id: int, plan: str, start: date | None = None) -> DataIssue:
    """The source accepts the issue and corrects it (整改中): a fix item, due in ``fix`` working days."""
    issue = _as_source(session, actor, issue_id)
    require_status(issue, ("open", "escalated"), "受理整改", "accepted for correction", stages=(1,))
    plan = text(plan, "plan", "整改计划（如何修正、何时重新归集）", "The plan (how and when it is corrected)")
    transition(session, actor=actor, issue=issue, kind="accepted", action="quality.issue.accept", to="fixing",
               note=plan, task=("quality.issue.fix", issue.org_id), start=start)
    return issue


def _fixing_version(session: Session, issue: DataIssue, version: Any) -> int:
    try:
        number = int(str(version).strip())
    except ValueError:
        raise Invalid("数据版本应为整数", "The data version must be a whole number", field="version") from None
    if number not in {v.number for v in ingest_versions.versions_of(session, entry_id=issue.entry_id)}:
        raise Invalid(f"该目录没有第 {number} 版数据", f"The entry has no data version {number}", field="version")
    if issue.version_number is not None and number <= issue.version_number:
        raise Invalid(f"整改后的版本应晚于问题所在的第 {issue.version_number} 版（修正后须重新归集）",
                      f"The corrected version must be newer than version {issue.version_number} (correct, then load "
                      "again)", field="version")
    return number


def _failing_on_item(session: Session, issue: DataIssue, number: int) -> list[str]:
    """Rules on the issue's item that failed in the latest finished check of version ``number`` (the re-check of a
    person's report)."""
    if not issue.item:
        return []
    check = session.scalar(select(QualityCheck).where(QualityCheck.entry_id == issue.entry_id,
                                                      QualityCheck.version_number == number,
                                                      QualityCheck.status == "done")
                           .order_by(QualityCheck.id.desc()).limit(1))
    if check is None:
        return []
    return list(session.scalars(
        select(QualityRule.key).join(QualityResult, QualityResult.rule_id == QualityRule.id)
        .where(QualityResult.check_id == check.id, QualityResult.ran.is_(True), QualityRule.item == issue.item,
               QualityResult.passed < QualityResult.checked, QualityRule.severity.in_(("critical", issue.severity)))))


def correct(session: Session, *, actor: Actor, issue_id: int, version: Any, note: str = "") -> DataIssue:
    """完成整改: the source names the new data version that carries the correction (loaded again, LZ 31).

    An issue found by a machine (rule, comparison, recognizer) closes only when that version passes its re-check
    (:func:`resolve_by_recheck`, called after every check): here it waits, fixing, with the version noted. A person's
    report closes now unless the version's latest quality check still fails a rule on the reported item."""
    issue = _as_source(session, actor, issue_id)
    require_status(issue, ("open", "fixing"), "答复为完成整改", "answered as corrected")
    number = _fixing_version(session, issue, version)
    note = text(note, "note", "整改说明", "The note", required=False)
    if issue.channel in MACHINE:
        issue.fixed_version = number
        transition(session, actor=actor, issue=issue, kind="fix_submitted", action="quality.issue.fix_submitted",
                   to="fixing", note=note or f"已在第 {number} 版数据中整改，等待复核。", record={"version": number},
                   keep_tasks=issue.status == "fixing",
                   task=None if issue.status == "fixing" else ("quality.issue.fix", issue.org_id))
        return issue
    failing = _failing_on_item(session, issue, number)
    if failing:
        raise Conflict(f"第 {number} 版数据的质量检查在“{issue.item}”上仍有未通过的规则（{'、'.join(failing)}），"
                       "复核未通过，问题不能关闭", f"The quality check of version {number} still fails rules on "
                       f"'{issue.item}' ({', '.join(failing)}): the re-check did not pass", field="version")
    close_as(session, actor=actor, issue=issue, outcome="corrected", fixed_version=number,
             note=note or f"已在第 {number} 版数据中修正并重新归集。", kind="corrected", action="quality.issue.correct",
             record={"version": number})
    return issue


def confirm(session: Session, *, actor: Actor, issue_id: int, explanation: str) -> DataIssue:
    """确认无误: checked, the data is right; the explanation goes to the reporter."""
    issue = _as_source(session, actor, issue_id)
    require_status(issue, ("open", "fixing", "escalated"), "答复为确认无误", "confirmed correct", stages=(1,))
    why = text(explanation, "explanation", "核实情况和说明（将告知反馈方）", "The explanation (told to the reporter)")
    if len(why) < 4:
        raise Invalid("请具体说明核实的情况", "Say what was checked", field="explanation")
    close_as(session, actor=actor, issue=issue, outcome="confirmed", note=why, kind="confirmed",
             action="quality.issue.confirm")
    return issue


def negotiate(session: Session, *, actor: Actor, issue_id: int, record: str, agreed_with: str = "") -> DataIssue:
    """沟通解决: a problem not solvable soon, settled with the reporter; the record of the negotiation is kept."""
    issue = _as_source(session, actor, issue_id)
    require_status(issue, ("open", "fixing", "escalated"), "答复为沟通解决", "settled by negotiation", stages=(1,))
    rec = text(record, "record", "沟通记录（时间、方式、商定的处理）", "The record (when, how, what was agreed)")
    who = text(agreed_with, "agreed_with", "沟通对象", "Who it was agreed with", limit=200, required=False)
    close_as(session, actor=actor, issue=issue, outcome="negotiated", note=rec, kind="negotiated",
             action="quality.issue.negotiate", record={"record": rec, "agreed_with": who})
    return issue


# The reporter -------------------------------------------------------------------------------------------------

def _as_reporter(session: Session, actor: Actor, issue_id: Any) -> DataIssue:
    issue = locked(session, issue_id)
    if issue.reporter_org_id is None:
        raise Conflict("该问题数据没有反馈部门", "The issue has no reporting organisation", field="issue_id")
    require(actor, "quality.issue.dispute", org_id=issue.reporter_org_id)
    return issue


def acknowledge(session: Session, *, actor: Actor, issue_id: int, note: str = "") -> DataIssue:
    """The reporter takes note of the outcome (no dispute): its inbox item closes."""
    issue = _as_reporter(session, actor, issue_id)
    require_status(issue, ("corrected", "confirmed", "negotiated"), "确认收悉", "acknowledged")
    if issue.dispute_until is None:
        raise Conflict("该处理结果已确认收悉或已过异议期", "The outcome was acknowledged already or the dispute period "
                       "has passed", field="status")
    issue.dispute_until = None
    transition(session, actor=actor, issue=issue, kind="acknowledged", action="quality.issue.acknowledge",
               note=text(note, "note", "说明", "The note", required=False))
    return issue


def withdraw(session: Session, *, actor: Actor, issue_id: int, reason: str) -> DataIssue:
    """The reporter withdraws an unclosed issue (the authority may too, e.g. for a mistaken rule finding)."""
    issue = locked(session, issue_id)
    if not (can(actor, "quality.issue.coordinate") or (
            issue.reporter_org_id is not None and can(actor, "quality.issue.dispute", org_id=issue.reporter_org_id))):
        require(actor, "quality.issue.dispute", org_id=issue.reporter_org_id or -1)
    require_status(issue, UNCLOSED, "撤回", "withdrawn")
    why = text(reason, "reason", "撤回理由", "The reason")
    close_as(session, actor=actor, issue=issue, outcome="withdrawn", note=why, kind="withdrawn",
             action="quality.issue.withdraw")
    return issue
