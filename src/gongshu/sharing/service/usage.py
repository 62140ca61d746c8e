"""Usage reports (使用情况报告, R-SHR-6, DG 44, LZ 19): a consumer reports periodically how it used each
grant — only for the stated purpose, no onward transfer. Every ``report_every_days`` of an active grant a
report falls due, prefilled with the calls counted from the access events, and the consumer's inbox gets
an item due in 10 working days; the source sees the reports with its usage statistics."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.service import SYSTEM, Actor, can, require
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.jobs.service import periodic
from gongshu.sharing.models import AccessEvent, Grant, UsageReport
from gongshu.tasks import service as tasks

declare("sharing.usage.report", "填报共享数据使用情况（使用部门）", "File usage reports on grants (consumer)",
        {"dept_officer"}, scope="own_org")

REPORT_WORKDAYS = 10
BASIS = "东莞市公共数据管理办法第四十四条、泸州市公共数据管理办法第十九条（定期报告使用情况）"
MAX_TEXT = 4000


def reports_of(session: Session, *, actor: Actor, grant: Grant) -> list[UsageReport]:
    if not can(actor, "sharing.view_all"):
        require(actor, "sharing.grant.view", org_id=actor.org_id)
        if actor.org_id not in (grant.consumer_org_id, grant.source_org_id):
            return []
    return list(session.scalars(select(UsageReport).where(UsageReport.grant_id == grant.id)
                                .order_by(UsageReport.period_start)))


def _calls(session: Session, grant_id: int, start: date, end: date) -> int:
    lo, hi = datetime.combine(start, time.min), datetime.combine(end, time.min)
    return session.scalar(select(func.count()).select_from(AccessEvent).where(
        AccessEvent.grant_id == grant_id, AccessEvent.at >= lo, AccessEvent.at < hi)) or 0


def open_due(session: Session, *, on: date | None = None) -> int:
    """Open the reports that have fallen due on active grants (one per elapsed period)."""
    today = on or tasks.today()
    cal = tasks.calendar(session)
    opened = 0
    for g in session.scalars(select(Grant).where(Grant.status == "active", Grant.starts_on.is_not(None))).all():
        last = session.scalar(select(func.max(UsageReport.period_end)).where(UsageReport.grant_id == g.id))
        start = last or g.starts_on
        while start + timedelta(days=g.report_every_days) <= today:
            end = start + timedelta(days=g.report_every_days)
            report = UsageReport(grant_id=g.id, period_start=start, period_end=end,
                                 due_date=cal.add_workdays(end, REPORT_WORKDAYS), calls=_calls(session, g.id, start, end))
            session.add(report)
            session.flush()
            tasks.open_task(session, actor=SYSTEM, kind="sharing.usage_report",
                            title=f"报告授权 #{g.id} 的数据使用情况（{start.isoformat()} 至 {end.isoformat()}）",
                            subject_type="share_grant", subject_id=g.id, org_id=g.consumer_org_id,
                            workdays=REPORT_WORKDAYS, role="dept_officer", basis=BASIS, start=end)
            audit.record(session, actor=SYSTEM, action="sharing.usage.due", subject_type="share_grant",
                         subject_id=g.id, detail={"report_id": report.id, "period_end": end.isoformat()})
            opened += 1
            start = end
    return opened


@periodic("sharing.usage_reports", every=timedelta(hours=6))
def _open_due(session: Session) -> None:
    open_due(session)


def file_report(session: Session, *, actor: Actor, report_id: int, text: str) -> UsageReport:
    report = session.get(UsageReport, report_id)
    if report is None:
        raise NotFound(f"使用情况报告 {report_id} 不存在", f"Usage report {report_id} does not exist")
    grant = session.get(Grant, report.grant_id)
    require(actor, "sharing.usage.report", org_id=grant.consumer_org_id)
    if report.status == "filed":
        raise Conflict("该期报告已填报", "This report has already been filed")
    text = (text or "").strip()
    if not text:
        raise Invalid("请说明本期数据的使用情况（用途、是否仅用于申请的业务场景、有无向第三方提供）",
                      "Describe how the data was used (purpose, only for the stated scenario, no onward transfer)",
                      field="text")
    if len(text) > MAX_TEXT:
        raise Invalid(f"报告不能超过 {MAX_TEXT} 字", f"At most {MAX_TEXT} characters", field="text")
    report.text, report.status, report.filed_by, report.filed_at = text, "filed", actor.user_id, utcnow()
    if not session.scalars(select(UsageReport.id).where(UsageReport.grant_id == grant.id,
                                                        UsageReport.status == "due")).first():
        tasks.close_tasks(session, actor=actor, kind="sharing.usage_report", subject_type="share_grant",
                          subject_id=grant.id)
    audit.record(session, actor=actor, action="sharing.usage.file", subject_type="share_grant", subject_id=grant.id,
                 detail={"report_id": report.id, "chars": len(text)})
    return report
