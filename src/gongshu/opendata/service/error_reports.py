"""Error reports on open data (纠错, R-OPN-5; LZ 26, 31): anyone who finds an error in an open dataset reports it
from the dataset's page — which item, which row, what is wrong, the suggested correction — and the report goes at
once to the source department as a data issue, with a deadline in working days::

    open ──accept (will fix)──▶ accepted ──fix (in version N)──▶ fixed
      │                            └──reject──▶ rejected
      ├──fix (in version N)──▶ fixed
      └──reject (checked: the data is right; reasons)──▶ rejected

LZ 31 names the three ways a data problem ends: 完成整改 (fixed: corrected and aggregated again, so "fixed"
names the data version that carries the correction), 确认无误 (rejected: checked, no error, the reporter is told
why) and 沟通解决 (accepted: not fixed at once; the department keeps an item in its inbox until it is).

The submitter's contact is sealed and shown to staff only; the tracking link shows the status; the dataset's page
lists the reports and the answers publicly. The table is general (entry, data version, item, row, description,
suggestion, channel, status, answer, fixed version) so the governance issue can close the loop (发现、反馈、修正、
共享、开放, LZ 31) with its own channels. Every change is audited in its transaction; services never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor, require
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.opendata.models_feedback import REPORT_STATUS, OpenErrorReport
from gongshu.opendata.service import datasets, feedback
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task

#: LZ 26 and 31 ask the source to check and answer "promptly" (及时) without a period; the platform gives the
#: period a source has to answer a sharing request (东莞市公共数据管理办法第二十二条: 5 working days).
ANSWER_WORKDAYS = 5
ANSWER_BASIS = "泸州办法第二十六、三十一条（纠错及时校核回复）；期限参照东莞办法第二十二条（5个工作日）"
#: An accepted error is corrected and the data aggregated again (LZ 31 完成整改) within the period a department
#: has to bring its catalogue up to date (东莞市公共数据管理办法第十二条: 15 working days).
FIX_WORKDAYS = 15
FIX_BASIS = "泸州办法第三十一条（完成整改后重新归集）；期限参照东莞办法第十二条（15个工作日）"
SUBJECT = "open_error_report"
TASK_ANSWER, TASK_FIX = "opendata.report.answer", "opendata.report.fix"
MAX_TEXT = 2000
MAX_ITEM, MAX_ROW = 100, 200
PUBLIC_LIMIT = 50
#: Hooks called with (session, report, submitter) once a report is stored: when any is registered, the report is
#: handled in that domain's loop (the governance loop of data issues, ``quality.service.feedback``, raises its
#: issue and answers through :func:`settle`) and no answer item of the report's own is opened. opendata imports no
#: governance module.
ON_SUBMIT: list[Callable[[Session, OpenErrorReport, Any], None]] = []
#: Where a report taken over by a hook is handled: each returns (subject type, subject id) or None.
HANDLERS: list[Callable[[Session, int], tuple[str, int] | None]] = []


# Reading --------------------------------------------------------------------------------------------------

def public_for_entry(session: Session, *, entry_id: int, limit: int = PUBLIC_LIMIT) -> tuple[list[OpenErrorReport],
                                                                                              dict[str, int]]:
    """A dataset's public reports (not hidden), newest first, and the counts by status."""
    base = select(OpenErrorReport).where(OpenErrorReport.entry_id == entry_id, OpenErrorReport.hidden.is_(False))
    rows = list(session.scalars(base.order_by(OpenErrorReport.id.desc()).limit(limit)))
    sub = base.subquery()
    counts = dict(session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())
    return rows, counts


def track(session: Session, *, token: str) -> OpenErrorReport:
    return feedback.by_token(session, OpenErrorReport, token)


def visible_to(actor: Actor) -> Select:
    """Reports staff may list: the authority and auditors all, a department those on its own data."""
    return feedback.staff_select(actor, OpenErrorReport, OpenErrorReport.org_id)


VIEWS = {"all": ("全部", "All"), "waiting": ("待办理", "Waiting"), "overdue": ("已超期", "Overdue"),
         "closed": ("已办结", "Closed")}
WAITING = ("open", "accepted")


def staff_list(session: Session, *, actor: Actor, view: str = "waiting", on: date | None = None,
               limit: int = 300) -> list[OpenErrorReport]:
    if view not in VIEWS:
        raise Invalid(f"视图“{view}”无效", f"Unknown view '{view}'", field="view")
    stmt = visible_to(actor)
    if view in ("waiting", "overdue"):
        stmt = stmt.where(OpenErrorReport.status.in_(WAITING))
        if view == "overdue":
            stmt = stmt.where(OpenErrorReport.due_on < (on or tasks.today()))
        stmt = stmt.order_by(OpenErrorReport.due_on, OpenErrorReport.id)
    else:
        if view == "closed":
            stmt = stmt.where(OpenErrorReport.status.in_(("fixed", "rejected")))
        stmt = stmt.order_by(OpenErrorReport.id.desc())
    return list(session.scalars(stmt.limit(limit)))


def get_for(session: Session, *, actor: Actor, report_id: int) -> OpenErrorReport:
    r = session.get(OpenErrorReport, report_id) if feedback.is_id(report_id) else None
    if r is None:
        raise NotFound(f"没有编号为 {report_id} 的纠错", f"No error report {report_id}", field="report_id")
    feedback.require_view(actor, r.org_id)
    return r


def contact_of(session: Session, *, actor: Actor, report: OpenErrorReport) -> feedback.Contact | None:
    feedback.require_view(actor, report.org_id)
    return feedback.unseal(report.contact_sealed)


def handled_by(session: Session, *, report_id: int) -> tuple[str, int] | None:
    """The subject (type, id) that handles the report when another domain's loop took it over."""
    for handler in HANDLERS:
        where = handler(session, report_id)
        if where is not None:
            return where
    return None


def work_items(session: Session, *, report_id: int) -> list[Task]:
    """The report's handling record: its own inbox items, or those of the subject that handles it."""
    where = handled_by(session, report_id=report_id)
    if where is not None:
        return tasks.for_subject(session, subject_type=where[0], subject_id=where[1])
    return tasks.for_subject(session, subject_type=SUBJECT, subject_id=report_id)


def version_numbers(session: Session, *, entry_id: int) -> list[int]:
    """The entry's data version numbers, newest first (what "fixed in version N" may name)."""
    return [v.number for v in ingest_versions.versions_of(session, entry_id=entry_id)]


# Submitting -----------------------------------------------------------------------------------------------

def _int(value: Any, field: str, zh: str, en: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise Invalid(f"{zh}应为整数", f"{en} must be a whole number", field=field) from None


def dataset_of(session: Session, *, ref: Any) -> datasets.Dataset:
    """The open dataset ``ref`` (id, code or slug); NotFound for anything else, including ids beyond the
    database's integers."""
    text = str(ref).strip()
    if text.isdigit() and int(text) > feedback.MAX_ID:
        raise NotFound("没有该开放数据集（可能尚未开放或已停止开放）", "No such open dataset (it may not be open yet, "
                       "or no longer)", field="dataset")
    return datasets.get(session, ref=text)


def submit(session: Session, *, actor: Actor | None, client: str | None, dataset: Any, description: str,
           contact_name: str, contact_email: str = "", contact_mobile: str = "", item: str = "", row_ref: str = "",
           suggestion: str = "", version: Any = None, account: Any | None = None,
           start: date | None = None) -> tuple[OpenErrorReport, str]:
    """Report an error in the open dataset ``dataset`` (id, code or slug); returns the report and the tracking
    token (shown once). The source department's answer item is due in :data:`ANSWER_WORKDAYS` working days."""
    ds = dataset_of(session, ref=dataset)
    names = [i["name"] for i in ds.items]
    item = feedback.text(item, "item", "信息项", "The data item", limit=MAX_ITEM, required=False, multiline=False)
    if item and item not in names:
        raise Invalid(f"“{item}”不是该数据集公开的信息项（可选：{'、'.join(names)}）",
                      f"'{item}' is not a public data item of this dataset (one of: {', '.join(names)})", field="item")
    values = {
        "item": item,
        "row_ref": feedback.text(row_ref, "row_ref", "所在行（主键值、行号或描述）", "The row (key, number or "
                                 "description)", limit=MAX_ROW, required=False, multiline=False),
        "description": feedback.text(description, "description", "错误描述", "The description of the error",
                                     limit=MAX_TEXT),
        "suggestion": feedback.text(suggestion, "suggestion", "建议的更正", "The suggested correction",
                                    limit=MAX_TEXT, required=False),
    }
    number = _int(version, "version", "数据版本", "The data version")
    if number is None:
        number = ds.version.number if ds.version is not None else None
    elif number not in {v.number for v in datasets.versions(session, dataset=ds)}:
        raise Invalid(f"该数据集没有第 {number} 版数据", f"The dataset has no data version {number}", field="version")
    who = feedback.contact(contact_name, contact_email, contact_mobile)
    feedback.throttle(actor, client)
    token, digest = feedback.new_token()
    now = utcnow()
    r = OpenErrorReport(entry_id=ds.entry.id, org_id=ds.entry.org_id, version_number=number, channel="portal",
                        contact_sealed=feedback.seal(who),
                        account_id=account.id if account is not None else None, token_sm3=digest, status="open",
                        hidden=False, answer="", created_at=now, updated_at=now, **values)
    session.add(r)
    session.flush()
    who_acts = feedback.audit_actor(actor, account)
    if ON_SUBMIT:  # handled in another domain's loop (data issues): it answers through settle()
        _record(session, who_acts, "opendata.report.submit", r, None, entry_id=r.entry_id, version=number, item=item)
        for hook in ON_SUBMIT:
            hook(session, r, who_acts)
        return r, token
    task = tasks.open_task(session, actor=who_acts, kind=TASK_ANSWER,
                           title=f"开放数据纠错待答复：{ds.snapshot['name']}" + (f"（{item}）" if item else ""),
                           subject_type=SUBJECT, subject_id=r.id, org_id=ds.entry.org_id, workdays=ANSWER_WORKDAYS,
                           role="dept_officer", basis=ANSWER_BASIS, start=start)
    r.due_on = task.due_date
    session.flush()
    _record(session, who_acts, "opendata.report.submit", r, None, entry_id=r.entry_id, version=number, item=item)
    return r, token


# The source's answer --------------------------------------------------------------------------------------

def _locked(session: Session, report_id: int) -> OpenErrorReport:
    r = session.get(OpenErrorReport, report_id, with_for_update=True, populate_existing=True) \
        if feedback.is_id(report_id) else None
    if r is None:
        raise NotFound(f"没有编号为 {report_id} 的纠错", f"No error report {report_id}", field="report_id")
    return r


def _state(r: OpenErrorReport) -> dict[str, Any]:
    return {"status": r.status, "fixed_version": r.fixed_version, "hidden": r.hidden,
            "due_on": r.due_on.isoformat() if r.due_on else None}


def _record(session: Session, actor: Any, action: str, r: OpenErrorReport, before: dict | None, **detail: Any) -> None:
    audit.record(session, actor=actor, action=action, subject_type=SUBJECT, subject_id=r.id, before=before,
                 after=_state(r), detail={"from": (before or {}).get("status"), "to": r.status, **detail})


def _answerable(session: Session, actor: Actor, report_id: int, allowed: tuple[str, ...], zh: str,
                en: str) -> OpenErrorReport:
    r = _locked(session, report_id)
    require(actor, "opendata.report.answer", org_id=r.org_id)
    if handled_by(session, report_id=r.id) is not None:
        raise Conflict("该纠错已转为问题数据，请在“问题数据”中答复", "The report is handled as a data issue: answer it "
                       "there", field="status")
    if r.status not in allowed:
        now_zh, now_en = REPORT_STATUS[r.status]
        raise Conflict(f"该纠错当前为“{now_zh}”，不能{zh}", f"The report is '{now_en}': it cannot be {en}",
                       field="status")
    return r


def _answered(session: Session, actor: Actor, r: OpenErrorReport, status: str, answer: str, hide: bool) -> None:
    r.status, r.answer, r.hidden = status, answer, r.hidden or bool(hide)
    r.answered_by, r.answered_at = actor.user_id, utcnow()
    r.updated_at = r.answered_at
    tasks.close_tasks(session, actor=actor, kind=TASK_ANSWER, subject_type=SUBJECT, subject_id=r.id)


def accept(session: Session, *, actor: Actor, report_id: int, note: str, hide: bool = False,
           start: date | None = None) -> OpenErrorReport:
    """The error is confirmed and will be corrected: an item stays in the source's inbox, due in
    :data:`FIX_WORKDAYS` working days, until the fixing version is named."""
    r = _answerable(session, actor, report_id, ("open",), "确认", "accepted")
    note = feedback.text(note, "note", "答复（如何修正、何时完成）", "The answer (how and when it is fixed)",
                         limit=MAX_TEXT)
    before = _state(r)
    _answered(session, actor, r, "accepted", note, hide)
    task = tasks.open_task(session, actor=actor, kind=TASK_FIX, title=f"修正开放数据错误（纠错第 {r.id} 号）",
                           subject_type=SUBJECT, subject_id=r.id, org_id=r.org_id, workdays=FIX_WORKDAYS,
                           role="dept_officer", basis=FIX_BASIS, start=start)
    r.due_on = task.due_date
    session.flush()
    _record(session, actor, "opendata.report.accept", r, before)
    return r


def fix(session: Session, *, actor: Actor, report_id: int, version: Any, note: str = "",
        hide: bool = False) -> OpenErrorReport:
    """The error is corrected in data version ``version`` of the entry (newer than the version reported)."""
    r = _answerable(session, actor, report_id, ("open", "accepted"), "答复为已修正", "answered as fixed")
    number = _int(version, "version", "修正后的数据版本", "The data version with the correction")
    if number is None:
        raise Invalid("请填写包含修正的数据版本号", "Give the data version that carries the correction", field="version")
    if number not in version_numbers(session, entry_id=r.entry_id):
        raise Invalid(f"该数据集没有第 {number} 版数据", f"The dataset has no data version {number}", field="version")
    if r.version_number is not None and number <= r.version_number:
        raise Invalid(f"修正版本应晚于报告时的第 {r.version_number} 版", f"The fixing version must be newer than the "
                      f"reported version {r.version_number}", field="version")
    note = feedback.text(note, "note", "答复说明", "The note", limit=MAX_TEXT, required=False)
    before = _state(r)
    _answered(session, actor, r, "fixed", note or f"已在第 {number} 版数据中修正。", hide)
    tasks.close_tasks(session, actor=actor, kind=TASK_FIX, subject_type=SUBJECT, subject_id=r.id)
    r.fixed_version, r.due_on, r.closed_at = number, None, r.answered_at
    session.flush()
    _record(session, actor, "opendata.report.fix", r, before, version=number)
    return r


def reject(session: Session, *, actor: Actor, report_id: int, reason: str, hide: bool = False) -> OpenErrorReport:
    """Checked: the data is right (or the report is not about the data); the reasons are shown publicly."""
    r = _answerable(session, actor, report_id, ("open", "accepted"), "答复为经核实无误", "rejected")
    why = feedback.reason(reason, "reason", "核实情况和理由", "the reasons (what was checked)", limit=MAX_TEXT)
    before = _state(r)
    _answered(session, actor, r, "rejected", why, hide)
    tasks.close_tasks(session, actor=actor, kind=TASK_FIX, subject_type=SUBJECT, subject_id=r.id, status="cancelled")
    r.due_on, r.closed_at = None, r.answered_at
    session.flush()
    _record(session, actor, "opendata.report.reject", r, before)
    return r


def settle(session: Session, *, actor: Any, report_id: int, answer: str = "", status: str | None = None,
           fixed_version: int | None = None, due_on: date | None = None, hide: bool = False) -> OpenErrorReport:
    """What the loop that handles a report (:data:`ON_SUBMIT`) tells its submitter: the status (None: unchanged),
    the public answer ("" keeps the last), the version carrying a fix and the current deadline. Shown on the
    tracking link and the dataset's page; audited."""
    r = _locked(session, report_id)
    if status is not None and status not in REPORT_STATUS:
        raise Invalid(f"纠错状态“{status}”无效", f"Unknown report status '{status}'", field="status")
    before, now = _state(r), utcnow()
    r.status = status or r.status
    if answer:
        r.answer, r.answered_by, r.answered_at = answer, getattr(actor, "user_id", None), now
    if r.status == "fixed" and fixed_version is not None:
        r.fixed_version = fixed_version
    closed = r.status in ("fixed", "rejected")
    r.due_on, r.closed_at = (None, r.closed_at or now) if closed else (due_on, None)
    r.hidden, r.updated_at = r.hidden or bool(hide), now
    session.flush()
    _record(session, actor, "opendata.report.settle", r, before)
    return r


def entries_of(session: Session, *, reports: list[OpenErrorReport]) -> dict[int, dict[str, str]]:
    """The published code and name of the reports' datasets, by entry id."""
    return feedback.entry_labels(session, entry_ids=[r.entry_id for r in reports])
