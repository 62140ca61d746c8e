"""Data issues (问题数据), R-GOV-2 (LZ 31–32): raised to the source department with working-day deadlines (shorter
when urgent), deduplicated by key, answered in LZ 31's three ways — 完成整改 closes only when a newer version
passes the re-check, 确认无误 with an explanation, 沟通解决 with the record — and the reporter is told; the flags of
entries with open critical issues."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.quality.models_issues import DataIssue
from gongshu.quality.service import answers, feedback, issues
from gongshu.tasks import service as tasks_service
from tests.catalog.helpers import cast, published
from tests.ingest.helpers import load_file, person_rows, write_csv


def _due(db, days: int, start: date | None = None) -> date:
    return tasks_service.calendar(db).add_workdays(start or tasks_service.today(), days)


def _audits(db, issue_id: int) -> list[str]:
    db.flush()
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "data_issue",
                                                           AuditEvent.subject_id == str(issue_id))
                           .order_by(AuditEvent.seq)))


def _open_tasks(db, issue_id: int) -> list[tuple[str, int]]:
    return [(t.kind, t.assignee_org_id) for t in issues.work_items(db, issue_id=issue_id) if t.status == "open"]


def _world(f, db, tmp_path, versions: int = 1):
    c = cast(f)
    e = published(db, c)
    for n in range(versions):
        done = load_file(db, c.officer, e, write_csv(tmp_path / f"v{n}.csv", person_rows(3, start=1 + n)))
        assert done.status == "applied", done.error
    return c, e


def _versions(db, e) -> dict[int, int]:
    """number -> id"""
    return {v.number: v.id for v in ingest_versions.versions_of(db, entry_id=e.id)}


def _rule_issue(db, c, e, version_id: int | None = None, **kw):
    args = dict(actor=c.reviewer, entry_id=e.id, channel="rule", title="身份号码校验位错误",
                description="3 行的公民身份号码校验位不符合 GB 11643", evidence={"failed": 3, "checked": 100},
                severity="critical", version_id=version_id, item="公民身份号码",
                dedupe_key=f"rule:{e.id}:checksum:公民身份号码")
    args.update(kw)
    return issues.raise_issue(db, **args)


def test_R_GOV_2_raise_addresses_the_source_with_a_working_day_deadline_and_dedupes(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=2)
    v = _versions(db, e)
    issue = _rule_issue(db, c, e, v[1])
    assert (issue.org_id, issue.status, issue.version_number, issue.channel) == (c.dept.id, "open", 1, "rule")
    assert issue.due_on == _due(db, issues.DEADLINES["answer"][0])
    (task,) = issues.work_items(db, issue_id=issue.id)
    assert (task.kind, task.assignee_org_id, task.assignee_role, task.due_date) == (
        "quality.issue.answer", c.dept.id, "dept_officer", issue.due_on)
    assert [s.kind for s in issues.steps_of(db, issue_id=issue.id)] == ["raised"]
    assert _audits(db, issue.id) == ["quality.issue.raise"]

    again = _rule_issue(db, c, e, v[1], evidence={"failed": 5, "checked": 100})
    # the same version again refreshes the evidence; found again in a newer version counts as another occurrence
    assert again.id == issue.id and again.occurrences == 1 and again.evidence == {"failed": 5, "checked": 100}
    again = _rule_issue(db, c, e, v[2], evidence={"failed": 4, "checked": 100})
    assert again.id == issue.id and again.occurrences == 2 and again.version_number == 2
    assert len(issues.work_items(db, issue_id=issue.id)) == 1  # no second inbox item
    assert _audits(db, issue.id) == ["quality.issue.raise", "quality.issue.refresh", "quality.issue.refresh"]
    assert db.scalar(select(DataIssue.id).where(DataIssue.entry_id == e.id, DataIssue.id != issue.id)) is None

    urgent = issues.raise_issue(db, actor=c.reviewer, entry_id=e.id, channel="compare", title="姓名与社保不一致",
                                description="", urgent=True, dedupe_key=f"compare:姓名:{e.id}")
    assert urgent.id != issue.id and urgent.due_on == _due(db, issues.DEADLINES["answer"][1])
    assert issues.DEADLINES["answer"][1] < issues.DEADLINES["answer"][0]


def test_R_GOV_2_bad_input_is_a_clear_error_naming_the_field(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=0)
    for kw, field in (({"channel": "email"}, "channel"), ({"severity": "huge"}, "severity"), ({"title": "  "}, "title"),
                      ({"entry_id": 999999}, "entry_id"), ({"version_id": 999999}, "version_id"),
                      ({"title": "a\x00b"}, "title"), ({"evidence": ["x"]}, "evidence"), ({"item": "项" * 101}, "item")):
        with pytest.raises((Invalid, NotFound)) as exc:
            _rule_issue(db, c, e, **{"version_id": None, "channel": "consumer", **kw})
        assert exc.value.field == field and exc.value.message and exc.value.message_en, kw
    assert db.scalar(select(DataIssue.id)) is None
    # a check's generated text is cut to size instead of failing the check
    cut = _rule_issue(db, c, e, item="项" * 101, title="题" * 400, description="述" * 5000)
    assert (len(cut.item), len(cut.title), len(cut.description)) == (100, 300, 4000)


def test_R_GOV_2_corrected_closes_only_when_a_newer_version_passes_the_recheck(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=3)
    v = _versions(db, e)
    issue = _rule_issue(db, c, e, v[1])
    key = issue.dedupe_key
    with pytest.raises(Forbidden):
        answers.accept(db, actor=c.other_officer, issue_id=issue.id, plan="我们来改")
    with pytest.raises(Forbidden):  # staff see, officers answer
        answers.accept(db, actor=c.staff, issue_id=issue.id, plan="改")
    with pytest.raises(Invalid) as exc:
        answers.accept(db, actor=c.officer, issue_id=issue.id, plan=" ")
    assert exc.value.field == "plan"
    answers.accept(db, actor=c.officer, issue_id=issue.id, plan="核对户籍系统后重新归集")
    assert issue.status == "fixing" and issue.due_on == _due(db, issues.DEADLINES["fix"][0])
    assert _open_tasks(db, issue.id) == [("quality.issue.fix", c.dept.id)]

    # the same version passing (e.g. a relaxed rule) is no correction
    assert issues.resolve_by_recheck(db, actor=c.reviewer, entry_id=e.id, version_id=v[1], passed_keys={key}) == 0
    # a newer version that fails again: still fixing, one "recheck_failed" step per version
    other = f"rule:{e.id}:required:姓名"
    for _ in range(2):
        assert issues.resolve_by_recheck(db, actor=c.reviewer, entry_id=e.id, version_id=v[2],
                                         passed_keys={other}) == 0
    assert issue.status == "fixing"
    assert [s.kind for s in issues.steps_of(db, issue_id=issue.id)] == ["raised", "accepted", "recheck_failed"]
    assert _open_tasks(db, issue.id) == [("quality.issue.fix", c.dept.id)]
    # explicit failed keys work too, and a passing newer version closes it as 完成整改
    assert issues.resolve_by_recheck(db, actor=c.reviewer, entry_id=e.id, version_id=v[3], passed_keys={key}) == 1
    assert (issue.status, issue.outcome, issue.fixed_version, issue.open_key) == ("corrected", "corrected", 3, None)
    assert issue.closed_at is not None and issue.due_on is None and _open_tasks(db, issue.id) == []
    assert _audits(db, issue.id)[-2:] == ["quality.issue.recheck_failed", "quality.issue.correct"]
    # the key is free again: the same problem found later is a new issue
    assert _rule_issue(db, c, e, v[3]).id != issue.id


def test_R_GOV_2_an_open_issue_whose_rule_passes_on_a_new_version_is_corrected_too(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=2)
    v = _versions(db, e)
    issue = _rule_issue(db, c, e, v[1])
    assert issues.resolve_by_recheck(db, actor=c.reviewer, entry_id=e.id, version_id=v[2],
                                     passed_keys={issue.dedupe_key}, failed_keys=set()) == 1
    assert issue.status == "corrected" and issue.fixed_version == 2


def test_R_GOV_2_a_machine_issue_waits_for_its_recheck_after_the_source_names_the_fixing_version(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=2)
    v = _versions(db, e)
    issue = _rule_issue(db, c, e, v[1])
    with pytest.raises(Invalid) as exc:
        answers.correct(db, actor=c.officer, issue_id=issue.id, version=1)
    assert exc.value.field == "version"
    answers.correct(db, actor=c.officer, issue_id=issue.id, version="2")
    assert issue.status == "fixing" and issue.fixed_version == 2  # not closed before the re-check
    assert [s.kind for s in issues.steps_of(db, issue_id=issue.id)][-1] == "fix_submitted"
    issues.resolve_by_recheck(db, actor=c.reviewer, entry_id=e.id, version_id=v[2], passed_keys={issue.dedupe_key})
    assert issue.status == "corrected"


def test_R_GOV_2_consumer_report_confirmed_with_explanation_and_the_reporter_is_told(f, db, tmp_path):
    c, e = _world(f, db, tmp_path)
    issue = feedback.report(db, actor=c.other_officer, entry=e.code, title="地址错误", description="门牌号不存在",
                            item="户籍地址", row_ref="第 2 行")
    assert (issue.channel, issue.reporter_org_id, issue.org_id, issue.version_number) == (
        "consumer", c.other_dept.id, c.dept.id, 1)
    with pytest.raises(Invalid) as exc:
        answers.confirm(db, actor=c.officer, issue_id=issue.id, explanation="")
    assert exc.value.field == "explanation"
    answers.confirm(db, actor=c.officer, issue_id=issue.id, explanation="经与户籍登记簿核对，门牌号存在且无误")
    assert (issue.status, issue.outcome) == ("confirmed", "confirmed")
    assert issue.outcome_note.startswith("经与户籍登记簿核对")
    # the reporter's inbox: the outcome, with the period to dispute it
    assert _open_tasks(db, issue.id) == [("quality.issue.outcome", c.other_dept.id)]
    assert issue.dispute_until == _due(db, issues.DEADLINES["dispute"][0])
    assert "quality.issue.confirm" in _audits(db, issue.id)
    with pytest.raises(Conflict):
        answers.accept(db, actor=c.officer, issue_id=issue.id, plan="再看看")
    answers.acknowledge(db, actor=c.other_officer, issue_id=issue.id)
    assert issue.dispute_until is None and _open_tasks(db, issue.id) == []
    assert _audits(db, issue.id)[-1] == "quality.issue.acknowledge"


def test_R_GOV_2_negotiated_needs_the_record_and_corrected_by_a_consumer_needs_a_newer_version(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=2)
    a = feedback.report(db, actor=c.other_officer, entry=e.id, title="出生日期缺失", description="部分记录无出生日期",
                        version=1, urgent=True)
    assert a.due_on == _due(db, issues.DEADLINES["answer"][1])
    with pytest.raises(Invalid) as exc:
        answers.negotiate(db, actor=c.officer, issue_id=a.id, record="")
    assert exc.value.field == "record"
    answers.negotiate(db, actor=c.officer, issue_id=a.id, record="3月5日电话沟通：历史数据待档案数字化后补录，先按现状使用",
                     agreed_with="民政局 李科长")
    assert a.status == "negotiated" and issues.steps_of(db, issue_id=a.id)[-1].record["agreed_with"] == "民政局 李科长"

    b = feedback.report(db, actor=c.other_officer, entry=e.id, title="姓名错字", description="“张三”应为“章三”",
                        version="v1", item="姓名")
    with pytest.raises(Invalid):
        answers.correct(db, actor=c.officer, issue_id=b.id, version=9)
    answers.correct(db, actor=c.officer, issue_id=b.id, version=2, note="已更正并重新归集")
    assert (b.status, b.fixed_version) == ("corrected", 2)
    assert _audits(db, b.id) == ["quality.issue.raise", "quality.issue.correct"]


def test_R_GOV_2_consumer_bad_input_names_the_field(f, db, tmp_path):
    c, e = _world(f, db, tmp_path)
    for kw, field in (({"entry": "101001/99999"}, "entry"), ({"item": "血型"}, "item"), ({"version": "x"}, "version"),
                      ({"version": 7}, "version"), ({"description": ""}, "description"),
                      ({"severity": "x"}, "severity"), ({"title": ""}, "title")):
        with pytest.raises((Invalid, NotFound)) as exc:
            feedback.report(db, actor=c.other_officer, **{"entry": e.id, "title": "问题", "description": "描述", **kw})
        assert exc.value.field == field, kw
    assert db.scalar(select(DataIssue.id)) is None


def test_R_GOV_2_consumers_report_others_data_only_and_need_the_action(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=0)
    with pytest.raises(Invalid) as exc:
        feedback.report(db, actor=c.officer, entry=e.id, title="问题", description="描述")
    assert exc.value.field == "entry"
    with pytest.raises(Forbidden):
        feedback.report(db, actor=c.auditor, entry=e.id, title="问题", description="描述")
    issue = feedback.report(db, actor=c.reviewer, entry=e.id, title="问题", description="描述")  # the authority too
    assert issue.version_id is None and issue.reporter_org_id == c.authority.id


def test_R_GOV_2_withdraw_by_the_reporter_and_visibility(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=0)
    issue = feedback.report(db, actor=c.other_officer, entry=e.id, title="问题", description="描述")
    third = f.actor(f.org())
    with pytest.raises(NotFound):
        issues.get_for(db, actor=third, issue_id=issue.id)
    assert issues.get_for(db, actor=c.staff, issue_id=issue.id).id == issue.id  # the source's staff see it
    assert issues.get_for(db, actor=c.auditor, issue_id=issue.id).id == issue.id
    with pytest.raises(Forbidden):
        answers.withdraw(db, actor=third, issue_id=issue.id, reason="不是我")
    answers.withdraw(db, actor=c.other_officer, issue_id=issue.id, reason="业务系统录入错误，数据无误")
    assert issue.status == "withdrawn" and _open_tasks(db, issue.id) == []
    assert [i.id for i in issues.list_issues(db, actor=c.other_officer, view="reported", filter="closed")] == [issue.id]
    assert issues.list_issues(db, actor=c.officer, view="inbox", filter="open") == []
    with pytest.raises(Invalid):
        issues.list_issues(db, actor=c.officer, view="nonsense")


def test_R_GOV_2_entries_with_open_critical_issues_are_flagged_until_corrected(f, db, tmp_path):
    c, e = _world(f, db, tmp_path, versions=2)
    v = _versions(db, e)
    other = published(db, c)
    assert issues.open_critical(db, entry_ids=[e.id, other.id]) == {}
    issue = _rule_issue(db, c, e, v[1])
    issues.raise_issue(db, actor=c.reviewer, entry_id=e.id, channel="rule", title="轻微问题", description="",
                       severity="minor")
    assert issues.open_critical(db, entry_ids=[e.id, other.id]) == {e.id: 1}
    badges = catalog_entries.badges(db, entry_ids=[e.id, other.id])
    assert any("存在待整改的严重问题数据" in zh and css == "red" for zh, _en, css in badges[e.id])
    assert not any("严重问题数据" in zh for zh, _en, _c in badges[other.id])
    issues.resolve_by_recheck(db, actor=c.reviewer, entry_id=e.id, version_id=v[2], passed_keys={issue.dedupe_key})
    assert issues.open_critical(db, entry_ids=[e.id]) == {}
