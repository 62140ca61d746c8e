"""Disputes over data issues, along 东莞市公共数据管理办法第四十九条 (R-GOV-3)::

    stage 1  negotiation with the source (协商)          the reporter disputes an outcome → the source negotiates:
                                                         accepts, confirms, settles (沟通解决) or says it failed
    stage 2  coordination by the authority (协调)         the source rejects the issue, a negotiation fails, an
                                                         answer or a correction is overdue, or the authority steps in
    stage 3  joint consultation (联合会商)                with the 机构编制管理部门 and others: participants, minutes
    stage 4  report to the city government (报请市政府决定)  each party's reasons, the authority's opinion (倾向性意见),
                                                         then the decision recorded

Each stage has its own record (an :class:`~gongshu.quality.models_issues.IssueStep` with a ``record``) and its
own deadline in working days (``issues.DEADLINES``); a stage resolves the issue into one of LZ 31's outcomes (the
source must correct it, it is confirmed correct, it is settled by negotiation), hands it to the department that
is its legal source, or fails and moves to the next stage. :func:`sweep` (periodic) escalates unanswered,
uncorrected and stalled negotiations to stage 2.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.models import Org
from gongshu.auth.service import SYSTEM, Actor, authority_org_id, can, require
from gongshu.errors import Conflict, Invalid
from gongshu.jobs.service import periodic
from gongshu.quality.models_issues import UNCLOSED, DataIssue
from gongshu.quality.service import issues
from gongshu.quality.service.issues import close_as, locked, text, transition
from gongshu.tasks import service as tasks

#: what a stage may resolve an issue into
RESULTS: dict[str, tuple[str, str]] = {
    "fix": ("数源部门限期整改", "The source corrects it"),
    "confirmed": ("数据无误（确认无误）", "The data is right (confirmed)"),
    "negotiated": ("达成一致（沟通解决）", "Agreed (settled by negotiation)"),
    "reassign": ("改由法定数源部门处理", "Handed to the legal source department"),
    "failed": ("未能解决，进入下一步", "Not resolved: next step"),
}
#: the steps' names on the timeline (zh, en)
STEP_NAMES: dict[str, tuple[str, str]] = {
    "raised": ("发现并反馈", "Raised"), "accepted": ("受理整改", "Accepted for correction"),
    "fix_submitted": ("报告已整改，待复核", "Correction reported, awaiting re-check"),
    "recheck_passed": ("复核通过，完成整改", "Re-check passed: corrected"),
    "recheck_failed": ("复核未通过", "Re-check failed"), "corrected": ("完成整改", "Corrected"),
    "confirmed": ("确认无误", "Confirmed correct"), "negotiated": ("沟通解决", "Settled by negotiation"),
    "acknowledged": ("反馈方确认收悉", "Reporter acknowledged"), "withdrawn": ("撤回", "Withdrawn"),
    "rejected": ("数源部门提出异议", "Source rejects"), "disputed": ("反馈方提出异议", "Reporter disputes"),
    "negotiation_failed": ("协商不成", "Negotiation failed"),
    "escalated": ("提请主管部门协调", "Escalated to the authority"),
    "overdue": ("逾期，提请主管部门协调", "Overdue: escalated to the authority"),
    "coordinated": ("主管部门协调", "Coordination"), "consulted": ("联合会商", "Joint consultation"),
    "reported": ("报请市人民政府决定", "Reported to the city government"),
    "decided": ("市人民政府决定", "City government decision"),
}
MAX_PARTIES = 20


#: DG 49: what the authority's coordination, the joint consultation or the city government settled is final
#: (the reporter is told, and may not send it back to negotiation)
FINAL_FROM = 2


def _authority(session: Session) -> int:
    org_id = authority_org_id(session)
    if org_id is None:
        raise Conflict("尚未设置数据主管部门，不能提请协调", "No authority organisation is configured to coordinate",
                       field="authority")
    return org_id


def _coordinator(session: Session, actor: Actor, issue_id: Any) -> DataIssue:
    issue = locked(session, issue_id)
    require(actor, "quality.issue.coordinate")
    return issue


def _to_stage2(session: Session, actor: Any, issue: DataIssue, kind: str, action: str, note: str,
               record: dict | None = None, tasks_status: str = "done") -> None:
    transition(session, actor=actor, issue=issue, kind=kind, action=action, to="escalated", stage=2, note=note,
               record=record, task=("quality.issue.coordinate", _authority(session)), tasks_status=tasks_status)


# The parties ------------------------------------------------------------------------------------------------

def reject(session: Session, *, actor: Actor, issue_id: int, reasons: str) -> DataIssue:
    """The source does not accept the issue (not its data, not an error it can answer for): the authority
    coordinates (stage 2)."""
    issue = locked(session, issue_id)
    require(actor, "quality.issue.answer", org_id=issue.org_id)
    issues.require_status(issue, ("open",), "提出异议", "rejected")
    why = text(reasons, "reasons", "异议理由", "The reasons")
    _to_stage2(session, actor, issue, "rejected", "quality.issue.reject", why, {"source_reasons": why})
    return issue


def dispute(session: Session, *, actor: Actor, issue_id: int, reasons: str) -> DataIssue:
    """The reporter disputes an outcome within the dispute period: negotiation with the source (stage 1)."""
    issue = locked(session, issue_id)
    if issue.reporter_org_id is None:
        raise Conflict("该问题数据没有反馈部门，可由数据主管部门提请协调", "The issue has no reporting organisation; the "
                       "authority may escalate it", field="issue_id")
    require(actor, "quality.issue.dispute", org_id=issue.reporter_org_id)
    issues.require_status(issue, ("corrected", "confirmed", "negotiated"), "提出异议", "disputed")
    if issue.stage >= FINAL_FROM:
        raise Conflict("该问题已经数据主管部门协调、联合会商或市人民政府决定，结论不再提出异议",
                       "The issue was settled by the authority's coordination, the joint consultation or the city "
                       "government's decision; that settlement cannot be disputed", field="status")
    if issue.dispute_until is None or issue.dispute_until < tasks.today():
        raise Conflict("已过提出异议的期限（或已确认收悉），可请数据主管部门协调", "The dispute period has passed (or the "
                       "outcome was acknowledged); ask the authority to coordinate", field="status")
    why = text(reasons, "reasons", "异议理由", "The reasons")
    disputed = issue.outcome
    issue.outcome, issue.outcome_note = "", ""
    transition(session, actor=actor, issue=issue, kind="disputed", action="quality.issue.dispute", to="escalated",
               stage=1, note=why, record={"reporter_reasons": why, "disputed_outcome": disputed},
               task=("quality.issue.negotiate", issue.org_id))
    return issue


def negotiation_failed(session: Session, *, actor: Actor, issue_id: int, record: str) -> DataIssue:
    """协商不成: either party ends stage 1 with the record of the negotiation; the authority coordinates."""
    issue = locked(session, issue_id)
    party = can(actor, "quality.issue.answer", org_id=issue.org_id) or (
        issue.reporter_org_id is not None and can(actor, "quality.issue.dispute", org_id=issue.reporter_org_id))
    if not party:
        require(actor, "quality.issue.answer", org_id=issue.org_id)
    issues.require_status(issue, ("escalated",), "记录协商不成", "recorded as a failed negotiation", stages=(1,))
    rec = text(record, "record", "协商记录（时间、方式、各方意见）", "The record of the negotiation")
    _to_stage2(session, actor, issue, "negotiation_failed", "quality.issue.negotiation_failed", rec, {"record": rec})
    return issue


# The authority ----------------------------------------------------------------------------------------------

def escalate(session: Session, *, actor: Actor, issue_id: int, note: str) -> DataIssue:
    """The authority takes up an issue itself (e.g. a dispute without a reporting department): stage 2."""
    issue = _coordinator(session, actor, issue_id)
    if not (issue.status in ("open", "fixing") or (issue.status == "escalated" and issue.stage == 1)
            or issue.dispute_until is not None):
        issues.require_status(issue, (), "提请协调", "escalated")
    why = text(note, "note", "提请协调的理由", "Why it is escalated")
    if issue.status not in UNCLOSED:
        issue.outcome, issue.outcome_note = "", ""
    _to_stage2(session, actor, issue, "escalated", "quality.issue.escalate", why)
    return issue


def _department(session: Session, org_id: Any) -> int:
    try:
        oid = int(str(org_id).strip())
    except ValueError:
        raise Invalid("请选择法定数源部门", "Choose the legal source department", field="org_id") from None
    org = session.get(Org, oid) if 0 < oid <= 2**31 - 1 else None
    if org is None or org.kind == "authority" or not org.active:
        raise Invalid("请选择一个部门作为法定数源部门", "Choose a department as the legal source", field="org_id")
    return org.id


def _resolve(session: Session, actor: Actor, issue: DataIssue, *, result: str, kind: str, action: str, note: str,
             record: dict, org_id: Any = None, next_stage: tuple[int, str] | None = None) -> None:
    if result not in RESULTS or (result == "failed" and next_stage is None):
        allowed = [r for r in RESULTS if r != "failed" or next_stage is not None]
        raise Invalid(f"结果“{result}”无效（可选：{'、'.join(allowed)}）", f"Unknown result '{result}' (one of "
                      f"{', '.join(allowed)})", field="result")
    record = {**record, "result": result}
    if result == "fix":
        transition(session, actor=actor, issue=issue, kind=kind, action=action, to="fixing", note=note, record=record,
                   task=("quality.issue.fix", issue.org_id), result=result)
    elif result in ("confirmed", "negotiated"):
        close_as(session, actor=actor, issue=issue, outcome=result, note=note, kind=kind, action=action, record=record,
                 result=result)
    elif result == "reassign":
        new_org = _department(session, org_id)
        if new_org == issue.org_id:
            raise Invalid("问题数据已在该部门，请选择另一个部门", "The issue is with that department already",
                          field="org_id")
        record["from_org_id"], record["to_org_id"] = issue.org_id, new_org
        issue.org_id = new_org
        transition(session, actor=actor, issue=issue, kind=kind, action=action, to="open", note=note, record=record,
                   task=("quality.issue.answer", new_org), result=result, org_id=new_org)
    else:
        stage, task_kind = next_stage  # type: ignore[misc]
        transition(session, actor=actor, issue=issue, kind=kind, action=action, to="escalated", stage=stage,
                   note=note, record=record, task=(task_kind, _authority(session)), result=result)


def coordinate(session: Session, *, actor: Actor, issue_id: int, record: str, result: str,
               org_id: Any = None) -> DataIssue:
    """Stage 2: the authority's coordination, its record and result; "failed" leads to joint consultation."""
    issue = _coordinator(session, actor, issue_id)
    issues.require_status(issue, ("escalated",), "协调", "coordinated", stages=(2,))
    rec = text(record, "record", "协调记录（各方意见、协调结论）", "The record of the coordination")
    _resolve(session, actor, issue, result=result, kind="coordinated", action="quality.issue.coordinate", note=rec,
             record={"record": rec}, org_id=org_id, next_stage=(3, "quality.issue.consult"))
    return issue


def _names(values: Any, field: str, zh: str, en: str) -> list[str]:
    raw = values.replace("，", ",").replace("、", ",").replace("\n", ",").split(",") if isinstance(values, str) \
        else list(values or [])
    names = [str(v).strip()[:200] for v in raw if str(v).strip()]
    if len(names) < 2:
        raise Invalid(f"请列出{zh}（至少两个单位）", f"List {en} (at least two organisations)", field=field)
    if len(names) > MAX_PARTIES:
        raise Invalid(f"{zh}最多 {MAX_PARTIES} 个", f"At most {MAX_PARTIES} {en}", field=field)
    return names


def consult(session: Session, *, actor: Actor, issue_id: int, participants: Any, minutes: str, result: str,
            org_id: Any = None) -> DataIssue:
    """Stage 3: joint consultation with the 机构编制管理部门 and the other units concerned — participants and
    minutes recorded; "failed" leads to the report to the city government."""
    issue = _coordinator(session, actor, issue_id)
    issues.require_status(issue, ("escalated",), "记录联合会商", "consulted on", stages=(3,))
    people = _names(participants, "participants", "参加会商的单位", "the participants")
    mins = text(minutes, "minutes", "会商纪要", "The minutes")
    _resolve(session, actor, issue, result=result, kind="consulted", action="quality.issue.consult", note=mins,
             record={"participants": people, "minutes": mins}, org_id=org_id,
             next_stage=(4, "quality.issue.report"))
    return issue


def report_to_government(session: Session, *, actor: Actor, issue_id: int, parties: Any, opinion: str,
                         reference: str = "") -> DataIssue:
    """Stage 4: the authority lists each party's reasons (理据) and its own opinion (倾向性意见) and reports to the
    city government; an item stays in its inbox until the decision is recorded."""
    issue = _coordinator(session, actor, issue_id)
    issues.require_status(issue, ("escalated",), "报请市人民政府决定", "reported", stages=(4,))
    if reported(session, issue=issue):
        raise Conflict("该争议已报请市人民政府决定，请登记决定", "It has been reported already: record the decision",
                       field="status")
    rows = parties.items() if isinstance(parties, dict) else parties
    listed: list[dict[str, str]] = []
    for row in rows or []:
        org, reasons = (row if isinstance(row, tuple | list) else (row.get("org", ""), row.get("reasons", "")))
        org, reasons = str(org or "").strip()[:200], str(reasons or "").strip()[:issues.MAX_TEXT]
        if org or reasons:
            if not (org and reasons):
                raise Invalid("每一方都须写明单位和理据", "Give each party's name and its reasons", field="parties")
            listed.append({"org": org, "reasons": reasons})
    if len(listed) < 2:
        raise Invalid("请列明各方理据（至少两方）", "List each party's reasons (at least two parties)", field="parties")
    if len(listed) > MAX_PARTIES:
        raise Invalid(f"最多列出 {MAX_PARTIES} 方", f"At most {MAX_PARTIES} parties", field="parties")
    op = text(opinion, "opinion", "数据主管部门的倾向性意见", "The authority's opinion")
    ref = text(reference, "reference", "报送文号", "The reference", limit=200, required=False)
    transition(session, actor=actor, issue=issue, kind="reported", action="quality.issue.report", note=op,
               record={"parties": listed, "opinion": op, "reference": ref},
               task=("quality.issue.decision", _authority(session)))
    return issue


def reported(session: Session, *, issue: DataIssue) -> bool:
    """Whether the report of the issue's current stage 4 has been sent (the decision may be recorded)."""
    if issue.status != "escalated" or issue.stage != 4:
        return False
    steps = issues.steps_of(session, issue_id=issue.id)
    entered = max((n for n, s in enumerate(steps) if s.stage == 4 and s.kind != "reported"), default=-1)
    return any(s.kind == "reported" for s in steps[entered + 1:])


def decide(session: Session, *, actor: Actor, issue_id: int, decision: str, result: str, reference: str = "",
           org_id: Any = None) -> DataIssue:
    """Stage 4: the city government's decision, recorded by the authority, settles the issue."""
    issue = _coordinator(session, actor, issue_id)
    issues.require_status(issue, ("escalated",), "登记市人民政府决定", "decided", stages=(4,))
    if not reported(session, issue=issue):
        raise Conflict("尚未报请市人民政府决定，请先列明各方理据和倾向性意见并报送", "Report to the city government "
                       "first (each party's reasons and the authority's opinion)", field="status")
    dec = text(decision, "decision", "市人民政府的决定", "The city government's decision")
    ref = text(reference, "reference", "决定文号", "The reference", limit=200, required=False)
    _resolve(session, actor, issue, result=result, kind="decided", action="quality.issue.decide", note=dec,
             record={"decision": dec, "reference": ref}, org_id=org_id)
    return issue


# The sweep ----------------------------------------------------------------------------------------------------

def sweep(session: Session, *, on: date | None = None) -> dict[str, int]:
    """Escalate to the authority (stage 2) issues unanswered, uncorrected or under negotiation past their due date;
    close the reporter's dispute items whose period has passed."""
    today = on or tasks.today()
    out = {"answer": 0, "fix": 0, "negotiate": 0, "dispute_expired": 0}
    if authority_org_id(session) is not None:
        late = session.scalars(select(DataIssue).where(DataIssue.status.in_(("open", "fixing", "escalated")),
                                                       DataIssue.stage <= 1, DataIssue.due_on < today)
                               .order_by(DataIssue.id).with_for_update()).all()
        for issue in late:
            what = "negotiate" if issue.status == "escalated" else ("fix" if issue.status == "fixing" else "answer")
            zh = {"answer": "未在期限内答复", "fix": "未在期限内完成整改", "negotiate": "协商未在期限内完成"}[what]
            _to_stage2(session, SYSTEM, issue, "overdue", "quality.issue.overdue",
                       f"{zh}（应于 {issue.due_on.isoformat()} 前），提请数据主管部门协调。",
                       {"overdue": what, "due_on": issue.due_on.isoformat()}, tasks_status="cancelled")
            out[what] += 1
    expired = session.scalars(select(DataIssue).where(DataIssue.status.not_in(UNCLOSED),
                                                      DataIssue.dispute_until < today)).all()
    for issue in expired:
        until, issue.dispute_until = issue.dispute_until, None
        issues.close_open_tasks(session, actor=SYSTEM, issue=issue, status="cancelled")
        audit.record(session, actor=SYSTEM, action="quality.issue.dispute_expired", subject_type=issues.SUBJECT,
                     subject_id=issue.id, detail={"dispute_until": until.isoformat(), "outcome": issue.outcome})
        out["dispute_expired"] += 1
    return out


@periodic("quality.issues.sweep", every=timedelta(minutes=30))
def _sweep(session: Session) -> None:
    sweep(session)


# The authority's overview --------------------------------------------------------------------------------------

def overview(session: Session, *, actor: Actor, on: date | None = None) -> dict[str, Any]:
    """Per source department: unclosed, overdue, urgent, critical, in dispute and closed issues; the city's totals;
    disputes per stage."""
    require(actor, "quality.issue.view_all")
    today = on or tasks.today()
    unclosed = DataIssue.status.in_(UNCLOSED)

    def count(cond):
        return func.sum(case((cond, 1), else_=0))

    cols = {
        "open": count(unclosed),
        "overdue": count(unclosed & (DataIssue.due_on < today)),
        "urgent": count(unclosed & DataIssue.urgent.is_(True)),
        "critical": count(unclosed & (DataIssue.severity == "critical")),
        "escalated": count(DataIssue.status == "escalated"),
        "closed": count(~unclosed),
        "total": func.count(),
    }
    rows = session.execute(select(DataIssue.org_id, *cols.values()).group_by(DataIssue.org_id)).all()
    names = dict(session.execute(select(Org.id, Org.name)).all())
    by_org = sorted(({"org_id": r[0], "org": names.get(r[0], ""), **{k: int(v or 0) for k, v in zip(cols, r[1:],
                                                                                                     strict=True)}}
                     for r in rows), key=lambda d: (-d["overdue"], -d["open"], d["org"]))
    totals = {k: sum(d[k] for d in by_org) for k in cols}
    stages = dict(session.execute(select(DataIssue.stage, func.count()).where(DataIssue.status == "escalated")
                                  .group_by(DataIssue.stage)).all())
    return {"by_org": by_org, "totals": totals, "stages": {s: int(stages.get(s, 0)) for s in (1, 2, 3, 4)}}


def org_choices(session: Session) -> list[Org]:
    """Departments an issue may be handed to (the legal source of a data element)."""
    return list(session.scalars(select(Org).where(Org.kind != "authority", Org.active.is_(True)).order_by(Org.id)))



def allowed_steps(session: Session, *, actor: Actor, issue: DataIssue, on: date | None = None) -> set[str]:
    """The transitions ``actor`` may take on ``issue`` now (the detail page shows their forms; the functions check
    again)."""
    today = on or tasks.today()
    out: set[str] = set()
    s, stage = issue.status, issue.stage
    stage1 = s == "escalated" and stage == 1
    disputable = s in ("corrected", "confirmed", "negotiated") and issue.dispute_until is not None \
        and stage < FINAL_FROM
    if issue.org_id == actor.org_id and can(actor, "quality.issue.answer", org_id=issue.org_id):
        if s == "open" or stage1:
            out |= {"accept", "confirm", "negotiate"}
        if s == "fixing":
            out |= {"confirm", "negotiate"}
        if s in ("open", "fixing"):
            out.add("correct")
        if s == "open":
            out.add("reject")
        if stage1:
            out.add("failed")
        if issue.channel == "public":
            out.add("hide")
    if issue.reporter_org_id is not None and issue.reporter_org_id == actor.org_id \
            and can(actor, "quality.issue.dispute", org_id=issue.reporter_org_id):
        if disputable and issue.dispute_until >= today:
            out |= {"dispute", "acknowledge"}
        if s in UNCLOSED:
            out.add("withdraw")
        if stage1:
            out.add("failed")
    if can(actor, "quality.issue.coordinate"):
        if s in ("open", "fixing") or stage1 or disputable:
            out.add("escalate")
        if s in UNCLOSED:
            out.add("withdraw")
        if s == "escalated":
            out |= {2: {"coordinate"}, 3: {"consult"}, 4: {"decide"} if reported(session, issue=issue) else
                    {"report"}}.get(stage, set())
    return out
