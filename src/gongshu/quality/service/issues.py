"""Data issues (问题数据): raising them, reading them, the re-check that closes a correction, the reporter being
told, and the flags (R-GOV-2; LZ 31–32); the answers of the source and the reporter are
:mod:`gongshu.quality.service.answers`.

Every issue is addressed to the source department of its entry with a deadline in working days (shorter when
urgent, :data:`DEADLINES`). The source answers in one of LZ 31's three ways — 完成整改 (:func:`.answers.accept`
then a new version that passes the re-check: :func:`resolve_by_recheck`, or :func:`.answers.correct` naming it),
确认无误 (:func:`.answers.confirm`, explanation required) or 沟通解决 (:func:`.answers.negotiate`, the record
required) — or rejects it, which
starts DG 49's escalation (:mod:`gongshu.quality.service.escalation`). The reporter is told every outcome: a
consumer department gets an inbox item (and may dispute within :data:`DEADLINES` ``dispute``), the public's error
report is settled through :data:`ON_OUTCOME` (``quality.service.feedback``).

Every transition goes through :func:`transition`: it closes the issue's open inbox items, opens the next party's,
writes the timeline step and the audit event in the caller's transaction. Services never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.kit import forms
from gongshu.quality.models import SEVERITIES
from gongshu.quality.models_issues import CHANNELS, ISSUE_STATUS, STAGES, UNCLOSED, DataIssue, IssueStep
from gongshu.tasks import service as tasks

DEPT = {"dept_officer", "dept_staff"}
declare("quality.issue.report", "反馈问题数据（使用部门、运营机构、开发单位）",
        "Report a data issue (consumers, operators, developers)", DEPT | AUTHORITY_ROLES)
declare("quality.issue.view", "查看本部门收到或反馈的问题数据", "See the data issues addressed to or reported by "
        "one's organisation", DEPT, scope="own_org", writes=False)
declare("quality.issue.view_all", "查看全市问题数据及其处理情况", "See every data issue and its handling",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("quality.issue.answer", "答复问题数据（数源部门：整改、确认无误、沟通解决、提出异议）",
        "Answer a data issue (source: correct, confirm, negotiate, reject)", {"dept_officer"}, scope="own_org")
declare("quality.issue.dispute", "对问题数据的处理结果提出异议、确认或撤回（反馈方）",
        "Dispute, acknowledge or withdraw an issue one's organisation reported", DEPT, scope="own_org")
declare("quality.issue.coordinate", "协调、会商问题数据争议并报请市政府决定（数据主管部门）",
        "Coordinate and consult on disputed issues and report them to the city government (authority)",
        AUTHORITY_ROLES)

#: Deadlines in working days, (normal, urgent). LZ 31 asks the source to handle an issue "promptly" and urgent
#: ones within a set time; DG 49 names the steps but no periods. The platform's choice, in one place
#: (docs/quality.md, "Closed loop"):
DEADLINES: dict[str, tuple[int, int]] = {
    "answer": (10, 2),  # the source answers (accepts, confirms, negotiates or rejects)
    "answer_public": (5, 2),  # an open-data error report: the period its tracking page promised (opendata)
    "fix": (15, 5),  # an accepted issue is corrected and the data aggregated again
    "dispute": (10, 5),  # the reporter may dispute an outcome
    "negotiate": (10, 3),  # DG 49 step 1: negotiation between the reporter and the source
    "coordinate": (10, 5),  # step 2: the authority coordinates
    "consult": (15, 10),  # step 3: joint consultation (联合会商)
    "report": (10, 5),  # step 4: the authority reports to the city government with its opinion
    "decision": (20, 20),  # the authority follows up and records the city government's decision
}
DEADLINE_NAMES: dict[str, tuple[str, str]] = {
    "answer": ("数源部门答复", "The source answers"), "answer_public": ("答复社会公众纠错", "Answer a public error report"),
    "fix": ("受理后完成整改", "Correct after accepting"), "dispute": ("反馈方提出异议", "The reporter may dispute"),
    "negotiate": ("与数源部门协商", "Negotiation with the source"), "coordinate": ("主管部门协调", "Coordination"),
    "consult": ("联合会商", "Joint consultation"), "report": ("报请市人民政府决定", "Report to the city government"),
    "decision": ("跟进并登记决定", "Follow up the decision"),
}
BASIS = {
    "answer": "泸州办法第三十一条（收到问题反馈后及时处理；业务紧急的限时处理）",
    "fix": "泸州办法第三十一条（完成整改：修正问题数据后重新归集）",
    "dispute": "东莞办法第四十九条（与数源部门协商解决）",
    "negotiate": "东莞办法第四十九条（与数源部门协商解决）",
    "coordinate": "东莞办法第四十九条（协商不成的，由公共数据主管部门协调解决）",
    "consult": "东莞办法第四十九条（协调不成的，会同机构编制管理部门等单位联合会商）",
    "report": "东莞办法第四十九条（列明各方理据，提出倾向性意见，报请市人民政府决定）",
    "decision": "东莞办法第四十九条（报请市人民政府决定）",
}
SUBJECT = "data_issue"
#: inbox item kinds → (deadline, title prefix, role of the assignee)
TASKS: dict[str, tuple[str, str, str | None]] = {
    "quality.issue.answer": ("answer", "问题数据待答复", "dept_officer"),
    "quality.issue.fix": ("fix", "问题数据待整改", "dept_officer"),
    "quality.issue.outcome": ("dispute", "问题数据已答复，请查收（可提出异议）", None),
    "quality.issue.negotiate": ("negotiate", "问题数据争议：与反馈方协商", "dept_officer"),
    "quality.issue.coordinate": ("coordinate", "问题数据争议：协调", None),
    "quality.issue.consult": ("consult", "问题数据争议：组织联合会商", None),
    "quality.issue.report": ("report", "问题数据争议：报请市人民政府决定", None),
    "quality.issue.decision": ("decision", "问题数据争议：跟进并登记市人民政府决定", None),
}
#: machine channels: their dedupe key is checked again by every check, and only a passing re-check corrects them
MACHINE = ("rule", "compare", "recognizer")
MAX_TITLE, MAX_TEXT, MAX_ITEM, MAX_ROW, MAX_KEY = 300, 4000, 100, 200, 300

#: called with (session, actor, issue, step) after every transition, in its transaction: the public channel settles
#: its open-data error report here (``quality.service.feedback``)
ON_OUTCOME: list[Callable[[Session, Any, DataIssue, IssueStep], None]] = []


# Small helpers ----------------------------------------------------------------------------------------------

def text(value: Any, field: str, zh: str, en: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    """The loop's free text: :func:`gongshu.kit.forms.text` with the loop's length limit."""
    return forms.text(value, field, zh, en, limit=limit, required=required)


def workdays(kind: str, urgent: bool) -> int:
    normal, short = DEADLINES[kind]
    return short if urgent else normal


def _state(i: DataIssue) -> dict[str, Any]:
    return {"status": i.status, "stage": i.stage, "org_id": i.org_id, "outcome": i.outcome,
            "due_on": i.due_on.isoformat() if i.due_on else None, "fixed_version": i.fixed_version,
            "severity": i.severity, "urgent": i.urgent}


def _version_number(session: Session, entry_id: int, version_id: int | None) -> int | None:
    if version_id is None:
        return None
    for v in ingest_versions.versions_of(session, entry_id=entry_id):
        if v.id == version_id:
            return v.number
    raise Invalid(f"数据版本 {version_id} 不属于该目录", f"Data version {version_id} is not one of the entry's",
                  field="version_id")


def locked(session: Session, issue_id: Any) -> DataIssue:
    """The issue, locked for update (NotFound for anything that is not one)."""
    ok = isinstance(issue_id, int) and not isinstance(issue_id, bool) and 0 < issue_id <= 2**31 - 1
    issue = session.get(DataIssue, issue_id, with_for_update=True, populate_existing=True) if ok else None
    if issue is None:
        raise NotFound(f"问题数据 {issue_id} 不存在", f"Data issue {issue_id} does not exist", field="issue_id")
    return issue


def require_status(issue: DataIssue, statuses: Sequence[str], zh: str, en: str, *,
                   stages: Sequence[int] | None = None) -> None:
    """Conflict unless the issue is in one of ``statuses`` (an escalated one also at one of ``stages``)."""
    ok = issue.status in statuses and (issue.status != "escalated" or stages is None or issue.stage in stages)
    if not ok:
        now_zh, now_en = ISSUE_STATUS[issue.status]
        where_zh = f"（{STAGES[issue.stage][0]}）" if issue.status == "escalated" else ""
        where_en = f" ({STAGES[issue.stage][1]})" if issue.status == "escalated" else ""
        raise Conflict(f"问题数据当前为“{now_zh}”{where_zh}，不能{zh}", f"The issue is '{now_en}'{where_en}: it "
                       f"cannot be {en}", field="status")


def close_open_tasks(session: Session, *, actor: Any, issue: DataIssue, status: str = "done") -> int:
    kinds = {t.kind for t in tasks.for_subject(session, subject_type=SUBJECT, subject_id=issue.id)
             if t.status == "open"}
    return sum(tasks.close_tasks(session, actor=actor, kind=k, subject_type=SUBJECT, subject_id=issue.id,
                                 status=status) for k in sorted(kinds))


def _entry_name(session: Session, entry_id: int) -> str:
    return catalog_entries.fetch(session, entry_id=entry_id).name


def open_issue_task(session: Session, *, actor: Any, issue: DataIssue, kind: str, org_id: int,
                    start: date | None = None) -> date:
    """Put the next party's item in its inbox; returns its due date."""
    deadline, prefix, role = TASKS[kind]
    if kind == "quality.issue.answer" and issue.channel == "public":
        deadline = "answer_public"
    basis = BASIS.get(deadline, BASIS["answer"])
    t = tasks.open_task(session, actor=actor, kind=kind, title=f"{prefix}：{_entry_name(session, issue.entry_id)}"
                        f"——{issue.title}"[:300], subject_type=SUBJECT, subject_id=issue.id, org_id=org_id,
                        workdays=workdays(deadline, issue.urgent), role=role, basis=basis, start=start)
    return t.due_date


def transition(session: Session, *, actor: Any, issue: DataIssue, kind: str, action: str, to: str | None = None,
               stage: int | None = None, note: str = "", record: dict | None = None,
               task: tuple[str, int] | None = None, tasks_status: str = "done", keep_tasks: bool = False,
               start: date | None = None, **detail: Any) -> IssueStep:
    """One step of the loop: close the issue's open inbox items (unless ``keep_tasks``: a step that changes no
    duty), move it to ``to`` (and ``stage``), open ``task`` = (kind, org id) for whoever must act next (the issue's
    ``due_on`` follows it), tell the reporter of an outcome, write the timeline step and the audit event."""
    before, frm = _state(issue), issue.status
    if not keep_tasks:
        close_open_tasks(session, actor=actor, issue=issue, status=tasks_status)
    now = utcnow()
    if to is not None:
        issue.status = to
    if stage is not None:
        issue.stage = stage
    issue.updated_at = now
    due = open_issue_task(session, actor=actor, issue=issue, kind=task[0], org_id=task[1], start=start) \
        if task else (issue.due_on if keep_tasks else None)
    if issue.status in UNCLOSED:
        issue.closed_at, issue.dispute_until, issue.due_on = None, None, due
        if issue.open_key is None and issue.dedupe_key and session.scalar(
                select(DataIssue.id).where(DataIssue.open_key == issue.dedupe_key)) is None:
            issue.open_key = issue.dedupe_key  # a reopened issue takes its key back unless a newer one holds it
    else:
        issue.closed_at, issue.open_key, issue.due_on = issue.closed_at or now, None, None
        if frm in UNCLOSED and issue.status != "withdrawn" and issue.reporter_org_id \
                and issue.reporter_org_id != issue.org_id:
            issue.dispute_until = open_issue_task(session, actor=actor, issue=issue, kind="quality.issue.outcome",
                                                  org_id=issue.reporter_org_id, start=start)
            due = issue.dispute_until
    step = IssueStep(issue_id=issue.id, kind=kind, from_status=frm, to_status=issue.status, stage=issue.stage,
                     actor_user_id=getattr(actor, "user_id", None),
                     actor_name=(getattr(actor, "display_name", "") or getattr(actor, "username", ""))[:100],
                     org_id=getattr(actor, "org_id", None), note=note, record=record or {}, due_on=due, created_at=now)
    session.add(step)
    session.flush()
    audit.record(session, actor=actor, action=action, subject_type=SUBJECT, subject_id=issue.id, before=before,
                 after=_state(issue), detail={"step": kind, "from": frm, "to": issue.status, "stage": issue.stage,
                                              **detail})
    for hook in ON_OUTCOME:
        hook(session, actor, issue, step)
    return step


def close_as(session: Session, *, actor: Any, issue: DataIssue, outcome: str, note: str, kind: str, action: str,
             record: dict | None = None, fixed_version: int | None = None, **detail: Any) -> IssueStep:
    """Close with one of LZ 31's outcomes (or withdrawn); the reporter is told."""
    issue.outcome, issue.outcome_note = outcome, note
    if fixed_version is not None:
        issue.fixed_version = fixed_version
    return transition(session, actor=actor, issue=issue, kind=kind, action=action, to=outcome, note=note,
                      record=record, **detail)


# Reading ----------------------------------------------------------------------------------------------------

def visible_to(actor: Actor) -> Select:
    """Issues an actor may see: the authority and auditors all; a department those addressed to it or it reported."""
    stmt = select(DataIssue)
    if can(actor, "quality.issue.view_all"):
        return stmt
    require(actor, "quality.issue.view", org_id=actor.org_id)
    return stmt.where(or_(DataIssue.org_id == actor.org_id, DataIssue.reporter_org_id == actor.org_id))


def get_for(session: Session, *, actor: Actor, issue_id: Any) -> DataIssue:
    ok = isinstance(issue_id, int) and 0 < issue_id <= 2**31 - 1
    issue = session.scalar(visible_to(actor).where(DataIssue.id == issue_id)) if ok else None
    if issue is None:
        raise NotFound(f"问题数据 {issue_id} 不存在或无权查看", f"Data issue {issue_id} does not exist or is not yours "
                       "to see", field="issue_id")
    return issue


#: the lists: whose issues, and which of them
VIEWS = {"inbox": ("本部门待处理", "Addressed to us"), "reported": ("我反馈的问题", "Reported by us"),
         "all": ("全部", "All")}
FILTERS = {"open": ("未办结", "Unclosed"), "overdue": ("已超期", "Overdue"), "urgent": ("紧急", "Urgent"),
           "critical": ("严重", "Critical"), "escalated": ("争议处理中", "In dispute"), "closed": ("已办结", "Closed"),
           "any": ("全部", "Any")}


def list_issues(session: Session, *, actor: Actor, view: str = "inbox", filter: str = "open",
                org_id: int | None = None, channel: str = "", on: date | None = None, limit: int = 300) -> list[DataIssue]:
    if view not in VIEWS:
        raise Invalid(f"视图“{view}”无效", f"Unknown view '{view}'", field="view")
    if filter not in FILTERS:
        raise Invalid(f"筛选“{filter}”无效", f"Unknown filter '{filter}'", field="filter")
    if channel and channel not in CHANNELS:
        raise Invalid(f"来源“{channel}”无效", f"Unknown channel '{channel}'", field="channel")
    stmt = visible_to(actor)
    if view == "inbox":
        stmt = stmt.where(DataIssue.org_id == (org_id or actor.org_id))
    elif view == "reported":
        stmt = stmt.where(DataIssue.reporter_org_id == actor.org_id)
    elif org_id:
        stmt = stmt.where(DataIssue.org_id == org_id)
    if channel:
        stmt = stmt.where(DataIssue.channel == channel)
    if filter in ("open", "overdue", "urgent", "critical"):
        stmt = stmt.where(DataIssue.status.in_(UNCLOSED))
    if filter == "overdue":
        stmt = stmt.where(DataIssue.due_on < (on or tasks.today()))
    elif filter == "urgent":
        stmt = stmt.where(DataIssue.urgent.is_(True))
    elif filter == "critical":
        stmt = stmt.where(DataIssue.severity == "critical")
    elif filter == "escalated":
        stmt = stmt.where(DataIssue.status == "escalated")
    elif filter == "closed":
        stmt = stmt.where(DataIssue.status.not_in(UNCLOSED))
    order = (DataIssue.due_on, DataIssue.id) if filter in ("open", "overdue", "urgent", "critical", "escalated") \
        else (DataIssue.id.desc(),)
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def steps_of(session: Session, *, issue_id: int) -> list[IssueStep]:
    return list(session.scalars(select(IssueStep).where(IssueStep.issue_id == issue_id).order_by(IssueStep.id)))


def work_items(session: Session, *, issue_id: int):
    return tasks.for_subject(session, subject_type=SUBJECT, subject_id=issue_id)


def version_numbers(session: Session, *, entry_id: int) -> list[int]:
    """The entry's data version numbers, newest first (what a correction may name)."""
    return sorted((v.number for v in ingest_versions.versions_of(session, entry_id=entry_id)), reverse=True)


def of_origin(session: Session, *, origin_type: str, origin_id: int) -> DataIssue | None:
    return session.scalar(select(DataIssue).where(DataIssue.origin_type == origin_type,
                                                  DataIssue.origin_id == origin_id).order_by(DataIssue.id.desc())
                          .limit(1))


def open_critical(session: Session, *, entry_ids: Iterable[int]) -> dict[int, int]:
    """Open (unclosed) critical issues per entry, for the flags on catalogue, sharing and open data pages."""
    ids, out = list(dict.fromkeys(entry_ids)), {}
    for i in range(0, len(ids), 5000):
        part = ids[i:i + 5000]
        out.update(session.execute(
            select(DataIssue.entry_id, func.count()).where(DataIssue.entry_id.in_(part),
                                                           DataIssue.severity == "critical",
                                                           DataIssue.status.in_(UNCLOSED))
            .group_by(DataIssue.entry_id)).all())
    return out


FLAG = ("存在待整改的严重问题数据", "Has critical data issues being corrected", "red")


def _badges(session: Session, entry_ids: Sequence[int]) -> dict[int, list[tuple[str, str, str]]]:
    return {e: [(f"{FLAG[0]}（{n}）", f"{FLAG[1]} ({n})", FLAG[2])]
            for e, n in open_critical(session, entry_ids=entry_ids).items()}


catalog_entries.BADGE_PROVIDERS.append(_badges)


# Raising ----------------------------------------------------------------------------------------------------

def raise_issue(session: Session, *, actor: Any, entry_id: int, channel: str, title: str, description: str,
                evidence: dict | None = None, severity: str = "major", urgent: bool = False,
                version_id: int | None = None, item: str = "", row_ref: str = "",
                dedupe_key: str | None = None, origin_type: str = "", origin_id: int | None = None,
                reporter_org_id: int | None = None, reporter_user_id: int | None = None,
                start: date | None = None) -> DataIssue:
    """Raise a data issue addressed to the entry's source department, due in working days (:data:`DEADLINES`).

    With ``dedupe_key``, an unclosed issue with the same key is refreshed (evidence, version, occurrences) and
    returned instead: no duplicate, no new inbox item. The consumer channel needs ``quality.issue.report``; the
    machine and public channels are raised by services that checked their caller."""
    if channel not in CHANNELS:
        raise Invalid(f"来源渠道“{channel}”无效（可选：{'、'.join(CHANNELS)}）", f"Unknown channel '{channel}'",
                      field="channel")
    if severity not in SEVERITIES:
        raise Invalid(f"严重程度“{severity}”无效（可选：{'、'.join(SEVERITIES)}）", f"Unknown severity '{severity}'",
                      field="severity")
    if channel == "consumer":
        require(actor, "quality.issue.report")
    if evidence is not None and not isinstance(evidence, dict):
        raise Invalid("证据应为对象（键值对）", "The evidence must be an object (key/value pairs)", field="evidence")
    if channel in MACHINE:  # a check's generated text is cut to size rather than failing the check
        title, description = str(title or "")[:MAX_TITLE], str(description or "")[:MAX_TEXT]
        item, row_ref = str(item or "")[:MAX_ITEM], str(row_ref or "")[:MAX_ROW]
    title = text(title, "title", "问题标题", "The title", limit=MAX_TITLE)
    description = text(description, "description", "问题描述", "The description", required=False)
    item = text(item, "item", "信息项", "The data item", limit=MAX_ITEM, required=False)
    row_ref = text(row_ref, "row_ref", "所在行", "The row", limit=MAX_ROW, required=False)
    key = text(dedupe_key, "dedupe_key", "去重键", "The dedupe key", limit=MAX_KEY, required=False) or None
    try:
        entry = catalog_entries.fetch(session, entry_id=entry_id)
    except NotFound:
        raise NotFound(f"目录 {entry_id} 不存在", f"Catalogue entry {entry_id} does not exist", field="entry_id") from None
    number = _version_number(session, entry.id, version_id)
    if key is not None:
        found = session.scalar(select(DataIssue).where(DataIssue.open_key == key).with_for_update())
        if found is not None:
            return _refresh(session, actor, found, evidence, severity, urgent, version_id, number, description)
    if channel == "consumer":
        reporter_org_id = reporter_org_id or getattr(actor, "org_id", None)
        reporter_user_id = reporter_user_id or getattr(actor, "user_id", None)
    now = utcnow()
    issue = DataIssue(entry_id=entry.id, org_id=entry.org_id, version_id=version_id, version_number=number, item=item,
                      row_ref=row_ref, channel=channel, origin_type=origin_type[:40], origin_id=origin_id,
                      title=title, description=description, evidence=evidence or {}, severity=severity,
                      urgent=bool(urgent), status="open", stage=0, dedupe_key=key, open_key=key, occurrences=1,
                      reporter_org_id=reporter_org_id, reporter_user_id=reporter_user_id, outcome="",
                      outcome_note="", created_at=now, updated_at=now, last_seen_at=now)
    try:
        with session.begin_nested():
            session.add(issue)
            session.flush()
    except IntegrityError:  # another transaction raised the same key first (PostgreSQL): refresh that one
        found = session.scalar(select(DataIssue).where(DataIssue.open_key == key).with_for_update())
        if key is None or found is None:
            raise
        return _refresh(session, actor, found, evidence, severity, urgent, version_id, number, description)
    transition(session, actor=actor, issue=issue, kind="raised", action="quality.issue.raise", note=description,
               record={"channel": channel, "origin": f"{origin_type}:{origin_id}" if origin_type else ""},
               task=("quality.issue.answer", entry.org_id), start=start, channel=channel, entry_id=entry.id,
               severity=severity, urgent=bool(urgent))
    return issue


def _refresh(session: Session, actor: Any, issue: DataIssue, evidence: dict | None, severity: str, urgent: bool,
             version_id: int | None, number: int | None, description: str) -> DataIssue:
    before, before_version = _state(issue), issue.version_id
    if evidence is not None:
        issue.evidence = evidence
    if version_id is not None:
        issue.version_id, issue.version_number = version_id, number
    if description:
        issue.description = description
    issue.severity, issue.urgent = severity, issue.urgent or bool(urgent)
    if version_id is None or version_id != before_version:  # found again in other data, not a re-run on the same
        issue.occurrences += 1
    issue.last_seen_at = issue.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="quality.issue.refresh", subject_type=SUBJECT, subject_id=issue.id,
                 before=before, after=_state(issue), detail={"occurrences": issue.occurrences, "version": number})
    return issue


def resolve_by_recheck(session: Session, *, actor: Any, entry_id: int, version_id: int, passed_keys: set[str],
                       failed_keys: set[str] | None = None) -> int:
    """After a check of ``version_id``: unclosed issues of the entry whose dedupe key passed close as 完成整改 with
    that version — only when it is newer than the version they were raised on. Issues being corrected (fixing)
    whose key failed again stay open with a "recheck_failed" step (once per version). Without ``failed_keys``, a
    fixing issue's key counts as failed when it is not in ``passed_keys`` but shares its prefix (``rule:``…) with
    one that is. Returns the number closed."""
    number = _version_number(session, entry_id, version_id)
    prefixes = {k.split(":", 1)[0] for k in passed_keys}
    rows = session.scalars(select(DataIssue).where(DataIssue.entry_id == entry_id, DataIssue.status.in_(UNCLOSED),
                                                   DataIssue.dedupe_key.is_not(None))
                           .order_by(DataIssue.id).with_for_update()).all()
    closed = 0
    for issue in rows:
        newer = issue.version_number is None or number is None or number > issue.version_number
        key = issue.dedupe_key or ""
        if key in passed_keys and newer:
            close_as(session, actor=actor, issue=issue, outcome="corrected", fixed_version=number,
                     note=f"第 {number} 版数据复核通过，问题已整改。", kind="recheck_passed",
                     action="quality.issue.correct", record={"version": number, "version_id": version_id, "key": key})
            closed += 1
            continue
        failed = key in failed_keys if failed_keys is not None else \
            (key not in passed_keys and key.split(":", 1)[0] in prefixes)
        if failed and newer and issue.status == "fixing" and not any(
                s.kind == "recheck_failed" and s.record.get("version_id") == version_id
                for s in steps_of(session, issue_id=issue.id)):
            transition(session, actor=actor, issue=issue, kind="recheck_failed", action="quality.issue.recheck_failed",
                       note=f"第 {number} 版数据复核仍未通过，问题未关闭。", keep_tasks=True,
                       record={"version": number, "version_id": version_id, "key": key})
    return closed
