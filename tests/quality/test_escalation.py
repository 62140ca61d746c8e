"""Disputes over data issues along 东莞市公共数据管理办法第四十九条 (R-GOV-3): negotiation with the source → the
authority's coordination → joint consultation → report to the city government with each party's reasons and the
authority's opinion, then its decision — each step with its own record and deadline in working days; the sweep
escalates what is overdue."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.quality.service import answers, escalation, feedback, issues
from gongshu.tasks import service as tasks_service
from tests.catalog.helpers import cast, published


def _due(db, days: int, start: date | None = None) -> date:
    return tasks_service.calendar(db).add_workdays(start or tasks_service.today(), days)


def _audits(db, issue_id: int) -> list[str]:
    db.flush()
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "data_issue",
                                                           AuditEvent.subject_id == str(issue_id))
                           .order_by(AuditEvent.seq)))


def _open_tasks(db, issue_id: int) -> list[tuple[str, int, date]]:
    return [(t.kind, t.assignee_org_id, t.due_date) for t in issues.work_items(db, issue_id=issue_id)
            if t.status == "open"]


@pytest.fixture
def world(f, db):
    c = cast(f)
    e = published(db, c)
    issue = feedback.report(db, actor=c.other_officer, entry=e.id, title="婚姻状况与民政登记不一致",
                            description="窗口办理时发现：户籍显示未婚，民政登记为已婚", item="姓名")
    return c, e, issue


def test_R_GOV_3_every_step_of_DG_49_with_its_record_and_deadline(world, db):
    c, e, issue = world
    D = issues.DEADLINES
    answers.confirm(db, actor=c.officer, issue_id=issue.id, explanation="经核对户籍登记，数据无误")
    # stage 1: the reporter disputes → negotiation with the source, in the source's inbox
    with pytest.raises(Forbidden):
        escalation.dispute(db, actor=c.officer, issue_id=issue.id, reasons="我不同意")  # the source cannot
    with pytest.raises(Invalid) as exc:
        escalation.dispute(db, actor=c.other_officer, issue_id=issue.id, reasons="")
    assert exc.value.field == "reasons"
    escalation.dispute(db, actor=c.other_officer, issue_id=issue.id, reasons="民政登记有结婚证号，户籍未同步")
    assert (issue.status, issue.stage, issue.outcome) == ("escalated", 1, "")
    assert _open_tasks(db, issue.id) == [("quality.issue.negotiate", c.dept.id, _due(db, D["negotiate"][0]))]
    # stage 2: negotiation fails → the authority coordinates
    with pytest.raises(Conflict):
        escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="x", result="fix")
    escalation.negotiation_failed(db, actor=c.officer, issue_id=issue.id, record="3月6日会商，双方各执一词")
    assert (issue.status, issue.stage) == ("escalated", 2)
    assert _open_tasks(db, issue.id) == [("quality.issue.coordinate", c.authority.id, _due(db, D["coordinate"][0]))]
    with pytest.raises(Forbidden):
        escalation.coordinate(db, actor=c.officer, issue_id=issue.id, record="我来协调", result="confirmed")
    with pytest.raises(Invalid) as exc:
        escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="协调", result="maybe")
    assert exc.value.field == "result"
    escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="召集公安局、民政局协调，未达成一致",
                          result="failed")
    # stage 3: joint consultation, participants and minutes
    assert (issue.status, issue.stage) == ("escalated", 3)
    assert _open_tasks(db, issue.id) == [("quality.issue.consult", c.authority.id, _due(db, D["consult"][0]))]
    with pytest.raises(Invalid) as exc:
        escalation.consult(db, actor=c.reviewer, issue_id=issue.id, participants="公安局", minutes="纪要",
                           result="failed")
    assert exc.value.field == "participants"
    with pytest.raises(Invalid) as exc:
        escalation.consult(db, actor=c.reviewer, issue_id=issue.id, participants="公安局、民政局", minutes=" ",
                           result="failed")
    assert exc.value.field == "minutes"
    escalation.consult(db, actor=c.reviewer, issue_id=issue.id, participants="公安局、民政局、市委编办",
                       minutes="联合会商：职责划分存在分歧，提请市政府决定", result="failed")
    assert (issue.status, issue.stage) == ("escalated", 4)
    assert _open_tasks(db, issue.id) == [("quality.issue.report", c.authority.id, _due(db, D["report"][0]))]
    consulted = issues.steps_of(db, issue_id=issue.id)[-1]
    assert consulted.record["participants"] == ["公安局", "民政局", "市委编办"]
    assert consulted.record["minutes"].startswith("联合会商") and consulted.record["result"] == "failed"
    # stage 4: report with each party's reasons and the authority's opinion, then the decision
    with pytest.raises(Conflict):
        escalation.decide(db, actor=c.reviewer, issue_id=issue.id, decision="决定", result="fix")
    with pytest.raises(Invalid) as exc:
        escalation.report_to_government(db, actor=c.reviewer, issue_id=issue.id, parties=[("公安局", "数据无误")],
                                        opinion="倾向由公安局更正")
    assert exc.value.field == "parties"
    escalation.report_to_government(
        db, actor=c.reviewer, issue_id=issue.id, reference="东数〔2026〕12号",
        parties=[("公安局", "户籍登记以本人申报为准"), ("民政局", "婚姻登记是法定依据"), ("", "")],
        opinion="婚姻状况的法定数源为民政局，建议户籍信息据此更正")
    reported = issues.steps_of(db, issue_id=issue.id)[-1]
    assert reported.kind == "reported" and len(reported.record["parties"]) == 2
    assert reported.record["opinion"].startswith("婚姻状况的法定数源")
    assert _open_tasks(db, issue.id) == [("quality.issue.decision", c.authority.id, _due(db, D["decision"][0]))]
    with pytest.raises(Conflict):  # reported once
        escalation.report_to_government(db, actor=c.reviewer, issue_id=issue.id, parties=[("a", "b"), ("c", "d")],
                                        opinion="x")
    with pytest.raises(Invalid):  # a decision cannot "fail"
        escalation.decide(db, actor=c.reviewer, issue_id=issue.id, decision="决定", result="failed")
    escalation.decide(db, actor=c.reviewer, issue_id=issue.id, decision="由公安局据民政登记更正", result="fix",
                      reference="东府办函〔2026〕3号")
    assert (issue.status, issue.stage) == ("fixing", 4)
    assert _open_tasks(db, issue.id) == [("quality.issue.fix", c.dept.id, _due(db, D["fix"][0]))]
    kinds = [s.kind for s in issues.steps_of(db, issue_id=issue.id)]
    assert kinds == ["raised", "confirmed", "disputed", "negotiation_failed", "coordinated", "consulted", "reported",
                     "decided"]
    assert _audits(db, issue.id) == [
        "quality.issue.raise", "quality.issue.confirm", "quality.issue.dispute", "quality.issue.negotiation_failed",
        "quality.issue.coordinate", "quality.issue.consult", "quality.issue.report", "quality.issue.decide"]
    assert issues.steps_of(db, issue_id=issue.id)[-1].due_on == _due(db, D["fix"][0])


def test_R_GOV_3_the_source_rejects_and_the_authority_hands_it_to_the_legal_source(world, db):
    c, e, issue = world
    escalation.reject(db, actor=c.officer, issue_id=issue.id, reasons="婚姻状况的法定数源是民政局，不是我局")
    assert (issue.status, issue.stage) == ("escalated", 2)
    with pytest.raises(Invalid) as exc:
        escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="改由民政局", result="reassign")
    assert exc.value.field == "org_id"
    with pytest.raises(Invalid):
        escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="改由主管部门", result="reassign",
                              org_id=c.authority.id)
    escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="经协调，由民政局（法定数源）处理",
                          result="reassign", org_id=str(c.other_dept.id))
    assert (issue.status, issue.org_id) == ("open", c.other_dept.id)
    assert [t[:2] for t in _open_tasks(db, issue.id)] == [("quality.issue.answer", c.other_dept.id)]
    record = issues.steps_of(db, issue_id=issue.id)[-1].record
    assert (record["from_org_id"], record["to_org_id"], record["result"]) == (c.dept.id, c.other_dept.id, "reassign")


def test_R_GOV_3_coordination_settles_as_confirmed_and_the_reporter_is_told(world, db):
    c, e, issue = world
    escalation.escalate(db, actor=c.reviewer, issue_id=issue.id, note="涉及两部门职责，主管部门直接协调")
    escalation.coordinate(db, actor=c.reviewer, issue_id=issue.id, record="核对原始登记，数据无误", result="confirmed")
    assert (issue.status, issue.outcome, issue.stage) == ("confirmed", "confirmed", 2)
    assert [t[:2] for t in _open_tasks(db, issue.id)] == [("quality.issue.outcome", c.other_dept.id)]
    # DG 49: what the authority settled is final — the reporter is told but cannot send it back to negotiation
    assert "dispute" not in escalation.allowed_steps(db, actor=c.other_officer, issue=issue)
    with pytest.raises(Conflict, match="结论不再提出异议"):
        escalation.dispute(db, actor=c.other_officer, issue_id=issue.id, reasons="仍有异议")
    assert (issue.status, issue.stage) == ("confirmed", 2)


def test_R_GOV_3_the_sweep_escalates_overdue_answers_fixes_and_negotiations(f, db):
    c = cast(f)
    e = published(db, c)
    unanswered = feedback.report(db, actor=c.other_officer, entry=e.id, title="甲", description="甲")
    fixing = feedback.report(db, actor=c.other_officer, entry=e.id, title="乙", description="乙")
    answers.accept(db, actor=c.officer, issue_id=fixing.id, plan="下周重新归集")
    negotiating = feedback.report(db, actor=c.other_officer, entry=e.id, title="丙", description="丙")
    answers.negotiate(db, actor=c.officer, issue_id=negotiating.id, record="电话沟通")
    escalation.dispute(db, actor=c.other_officer, issue_id=negotiating.id, reasons="没有沟通过")
    coordinating = feedback.report(db, actor=c.other_officer, entry=e.id, title="丁", description="丁")
    escalation.reject(db, actor=c.officer, issue_id=coordinating.id, reasons="不是我们的数据")
    confirmed = feedback.report(db, actor=c.other_officer, entry=e.id, title="戊", description="戊")
    answers.confirm(db, actor=c.officer, issue_id=confirmed.id, explanation="核对无误")
    fresh = feedback.report(db, actor=c.other_officer, entry=e.id, title="己", description="己")

    assert escalation.sweep(db) == {"answer": 0, "fix": 0, "negotiate": 0, "dispute_expired": 0}
    later = max(i.due_on for i in (unanswered, fixing, negotiating)) + timedelta(days=1)
    fresh_due = fresh.due_on
    fresh.due_on = later + timedelta(days=30)  # not late yet
    out = escalation.sweep(db, on=later)
    assert out == {"answer": 1, "fix": 1, "negotiate": 1, "dispute_expired": 1}
    for i in (unanswered, fixing, negotiating):
        assert (i.status, i.stage) == ("escalated", 2)
        step = issues.steps_of(db, issue_id=i.id)[-1]
        assert step.kind == "overdue" and step.actor_name == "系统" and step.actor_user_id is None
        assert [t[:2] for t in _open_tasks(db, i.id)] == [("quality.issue.coordinate", c.authority.id)]
        assert _audits(db, i.id)[-1] == "quality.issue.overdue"
    assert [s.kind for s in issues.steps_of(db, issue_id=coordinating.id)][-1] == "rejected"  # already at stage 2
    assert confirmed.dispute_until is None and _open_tasks(db, confirmed.id) == []
    assert _audits(db, confirmed.id)[-1] == "quality.issue.dispute_expired"
    assert fresh.status == "open" and fresh_due
    with pytest.raises(Conflict):  # the dispute period is over
        escalation.dispute(db, actor=c.other_officer, issue_id=confirmed.id, reasons="迟到的异议")
    assert escalation.sweep(db, on=later) == {"answer": 0, "fix": 0, "negotiate": 0, "dispute_expired": 0}


def test_R_GOV_3_overview_counts_by_department_and_stage(world, db):
    c, e, issue = world
    escalation.reject(db, actor=c.officer, issue_id=issue.id, reasons="不是我们的数据")
    other = feedback.report(db, actor=c.other_officer, entry=e.id, title="乙", description="乙", severity="critical",
                            urgent=True)
    with pytest.raises(Forbidden):
        escalation.overview(db, actor=c.officer)
    data = escalation.overview(db, actor=c.reviewer, on=other.due_on + timedelta(days=1))
    (row,) = [d for d in data["by_org"] if d["org_id"] == c.dept.id]
    assert {k: row[k] for k in ("open", "urgent", "critical", "escalated", "closed", "total")} == {
        "open": 2, "urgent": 1, "critical": 1, "escalated": 1, "closed": 0, "total": 2}
    assert row["overdue"] == 1  # the urgent one, past its due date (the other's is the authority's, later)
    assert data["stages"] == {1: 0, 2: 1, 3: 0, 4: 0}
    allowed = escalation.allowed_steps(db, actor=c.reviewer, issue=issue)
    assert "coordinate" in allowed and "consult" not in allowed
    assert escalation.allowed_steps(db, actor=c.officer, issue=issue) == set()
    assert {"accept", "confirm", "negotiate", "reject", "correct"} <= escalation.allowed_steps(db, actor=c.officer,
                                                                                             issue=other)
