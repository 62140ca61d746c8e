"""Applications for conditionally open data (有条件开放, R-OPN-2).

A verified portal account applies for an open dataset whose open attribute is 有条件开放, stating its purpose,
technical capability and security measures and how it wants the data (download, API or both); the source
department gets an inbox item due in :data:`REPLY_WORKDAYS` working days and approves (with a term of at most
:data:`MAX_TERM_DAYS` days) or refuses with reasons. An approval takes effect when the applicant accepts the data
use agreement (:data:`AGREEMENT`, versioned; its version and SM3 are recorded with the time). While active, the
data goes to that applicant only (:func:`active_for`: downloads and the row API with its key); the source may
revoke with reasons, and a periodic sweep ends applications at their expiry. A sandbox delivery (data that never
leaves the platform) is reserved for the authorized-operation issue. Every step is audited in its transaction.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.jobs.service import periodic
from gongshu.kit import forms
from gongshu.kit.hashing import sm3_hex
from gongshu.opendata.models import OpenAccount, OpenApplication
from gongshu.opendata.service import accounts, datasets
from gongshu.tasks import service as tasks

declare("opendata.application.decide", "审核有条件开放数据的使用申请、撤销已同意的申请（数源部门）",
        "Decide on and revoke applications for conditionally open data (source department)", {"dept_officer"},
        scope="own_org")
declare("opendata.application.view", "查看本部门收到的有条件开放数据申请", "See the applications for one's department's "
        "conditionally open data", {"dept_officer", "dept_staff", "auditor"}, scope="own_org", writes=False)

TASK_KIND = "opendata.application"
#: working days the source has to decide (the city's practice; overdue items go to supervision)
REPLY_WORKDAYS = 10
MAX_TERM_DAYS = 366
DELIVERY = {"download": ("下载", "Download"), "api": ("接口", "API"), "both": ("下载和接口", "Download and API")}
AGREEMENT_VERSION = "2026.1"
AGREEMENT = ("数据使用协议（{version}）\n"
             "一、使用方仅为申请中载明的用途使用数据，不得超出范围使用，不得用于违法活动。\n"
             "二、使用方不得向第三方提供、出售或公开原始数据，不得跨境传输；公开发布的成果不得含有可识别个人的信息。\n"
             "三、使用方不得尝试重新识别脱敏数据中的个人，不得与其他数据关联以识别个人。\n"
             "四、使用方落实申请中承诺的技术能力和安全措施；发生泄露、篡改或丢失，立即报告数源部门和数据主管部门。\n"
             "五、使用数据须注明来源；数据有误时通过平台纠错。\n"
             "六、授权到期或被撤销后，使用方停止使用并删除已获取的数据。\n"
             "七、违反本协议的，数源部门可撤销授权，并依法追究责任。")
MAX_TEXT = 4000


def agreement_text() -> str:
    return AGREEMENT.format(version=AGREEMENT_VERSION)


def agreement_sm3() -> str:
    return sm3_hex(agreement_text().encode())


def apply(session: Session, *, account: OpenAccount, dataset_ref: str | int, purpose: str, capability: str,
          measures: str, delivery: str = "download") -> OpenApplication:
    if account.verified_at is None:
        raise Forbidden("请先完成实名认证再申请有条件开放的数据", "Verify your real name before applying for "
                        "conditionally open data", field="dataset")
    ds = datasets.get(session, ref=dataset_ref)
    if not ds.conditional:
        raise Conflict("该数据集无条件开放，无需申请，可直接下载或调用", "This dataset is open to all: no application "
                       "needed", field="dataset")
    pending = session.scalar(select(OpenApplication.id).where(
        OpenApplication.account_id == account.id, OpenApplication.entry_id == ds.entry.id,
        OpenApplication.status.in_(("submitted", "approved", "active"))))
    if pending is not None:
        raise Conflict("您对该数据集已有待审核或有效的申请", "You already have a pending or active application for "
                       "this dataset", field="dataset")
    app = OpenApplication(
        account_id=account.id, entry_id=ds.entry.id, org_id=ds.entry.org_id,
        purpose=forms.text(purpose, "purpose", "用途", "The purpose", limit=MAX_TEXT),
        capability=forms.text(capability, "capability", "技术能力", "The technical capability", limit=MAX_TEXT),
        measures=forms.text(measures, "measures", "安全措施", "The security measures", limit=MAX_TEXT),
        delivery=forms.choice(delivery, "delivery", "获取方式", "The delivery", DELIVERY), status="submitted")
    session.add(app)
    session.flush()
    task = tasks.open_task(session, actor=accounts.who(account), kind=TASK_KIND,
                           title=f"有条件开放数据申请：{ds.snapshot['name']}（{account.real_name or account.display_name}）",
                           subject_type="open_application", subject_id=app.id, org_id=ds.entry.org_id,
                           workdays=REPLY_WORKDAYS, basis="有条件开放数据的使用申请（R-OPN-2）")
    app.reply_due = task.due_date
    audit.record(session, actor=accounts.who(account), action="opendata.application.submit",
                 subject_type="open_application", subject_id=app.id,
                 after={"entry_id": ds.entry.id, "delivery": app.delivery})
    return app


def _get(session: Session, application_id: int) -> OpenApplication:
    app = session.get(OpenApplication, application_id)
    if app is None:
        raise NotFound(f"没有编号为 {application_id} 的申请", f"No application {application_id}", field="application_id")
    return app


def approve(session: Session, *, actor: Actor, application_id: int, term_days: int = 365,
            note: str = "") -> OpenApplication:
    app = _get(session, application_id)
    require(actor, "opendata.application.decide", org_id=app.org_id)
    if app.status != "submitted":
        raise Conflict("该申请不是待审核状态", "The application is not awaiting review", field="application_id")
    if not 1 <= int(term_days) <= MAX_TERM_DAYS:
        raise Invalid(f"使用期限应在 1 到 {MAX_TERM_DAYS} 天之间", f"The term is 1 to {MAX_TERM_DAYS} days",
                      field="term_days")
    app.expires_on = tasks.today() + timedelta(days=int(term_days))
    return _decide(session, actor, app, "approved", forms.text(note, "note", "审核意见", "The note", required=False,
                                                              limit=MAX_TEXT))


def refuse(session: Session, *, actor: Actor, application_id: int, note: str) -> OpenApplication:
    app = _get(session, application_id)
    require(actor, "opendata.application.decide", org_id=app.org_id)
    if app.status != "submitted":
        raise Conflict("该申请不是待审核状态", "The application is not awaiting review", field="application_id")
    return _decide(session, actor, app, "refused", forms.text(note, "note", "不予同意的理由", "The reason",
                                                             limit=MAX_TEXT))


def revoke(session: Session, *, actor: Actor, application_id: int, note: str) -> OpenApplication:
    app = _get(session, application_id)
    require(actor, "opendata.application.decide", org_id=app.org_id)
    if app.status not in ("approved", "active"):
        raise Conflict("只有已同意的申请才能撤销", "Only an approved application can be revoked", field="application_id")
    return _decide(session, actor, app, "revoked", forms.text(note, "note", "撤销理由", "The reason", limit=MAX_TEXT))


def _decide(session: Session, actor: Actor, app: OpenApplication, status: str, note: str) -> OpenApplication:
    before = app.status
    app.status, app.note, app.decided_by, app.decided_at = status, note, actor.user_id, utcnow()
    session.flush()
    tasks.close_tasks(session, actor=actor, kind=TASK_KIND, subject_type="open_application", subject_id=app.id)
    audit.record(session, actor=actor, action=f"opendata.application.{status}", subject_type="open_application",
                 subject_id=app.id, before={"status": before},
                 after={"status": status, "expires_on": app.expires_on.isoformat() if app.expires_on else None},
                 detail={"note": note[:200]})
    return app


def accept(session: Session, *, account: OpenAccount, application_id: int, agreement_sm3_seen: str) -> OpenApplication:
    """The applicant accepts the agreement it was shown (its SM3 must be the current text's): the data flows."""
    app = _get(session, application_id)
    if app.account_id != account.id:
        raise NotFound(f"没有编号为 {application_id} 的申请", f"No application {application_id}", field="application_id")
    if app.status != "approved":
        raise Conflict("该申请不是待签署协议状态", "The application is not awaiting the agreement", field="application_id")
    if agreement_sm3_seen != agreement_sm3():
        raise Conflict("数据使用协议已更新，请阅读新版本后再签署", "The data use agreement changed: read the new "
                       "version, then accept", field="agreement")
    app.status, app.accepted_at = "active", utcnow()
    app.agreement_version, app.agreement_sm3 = AGREEMENT_VERSION, agreement_sm3()
    audit.record(session, actor=accounts.who(account), action="opendata.application.accept",
                 subject_type="open_application", subject_id=app.id,
                 after={"agreement_version": AGREEMENT_VERSION, "agreement_sm3": app.agreement_sm3})
    return app


def withdraw(session: Session, *, account: OpenAccount, application_id: int) -> OpenApplication:
    app = _get(session, application_id)
    if app.account_id != account.id:
        raise NotFound(f"没有编号为 {application_id} 的申请", f"No application {application_id}", field="application_id")
    if app.status not in ("submitted", "approved"):
        raise Conflict("该申请已不能撤回", "The application can no longer be withdrawn", field="application_id")
    app.status = "withdrawn"
    tasks.close_tasks(session, actor=accounts.who(account), kind=TASK_KIND, subject_type="open_application",
                      subject_id=app.id, status="cancelled")
    audit.record(session, actor=accounts.who(account), action="opendata.application.withdraw",
                 subject_type="open_application", subject_id=app.id)
    return app


def active_for(session: Session, *, account_id: int | None, entry_id: int, delivery: str | None,
               on: date | None = None) -> OpenApplication | None:
    """The account's active application for the entry that allows ``delivery`` ("download" or "api"; None: any
    — e.g. the dataset page's preview), if any."""
    if account_id is None:
        return None
    today = on or tasks.today()
    for app in session.scalars(select(OpenApplication).where(
            OpenApplication.account_id == account_id, OpenApplication.entry_id == entry_id,
            OpenApplication.status == "active")):
        if (app.expires_on is None or app.expires_on >= today) and (delivery is None or app.delivery in (delivery, "both")):
            return app
    return None


def of_account(session: Session, *, account: OpenAccount) -> list[OpenApplication]:
    return list(session.scalars(select(OpenApplication).where(OpenApplication.account_id == account.id)
                                .order_by(OpenApplication.id.desc())))


def of_department(session: Session, *, actor: Actor, status: str | None = None) -> list[OpenApplication]:
    require(actor, "opendata.application.view", org_id=actor.org_id)
    stmt = select(OpenApplication).where(OpenApplication.org_id == actor.org_id).order_by(OpenApplication.id.desc())
    if status:
        stmt = stmt.where(OpenApplication.status == status)
    return list(session.scalars(stmt.limit(500)))


def expire(session: Session, *, on: date | None = None) -> int:
    today = on or tasks.today()
    due = session.scalars(select(OpenApplication).where(OpenApplication.status.in_(("approved", "active")),
                                                        OpenApplication.expires_on < today)).all()
    for app in due:
        app.status = "expired"
        audit.record(session, actor=SYSTEM, action="opendata.application.expired", subject_type="open_application",
                     subject_id=app.id)
    return len(due)


@periodic("opendata.applications.expire", every=timedelta(hours=1))
def _expire(session: Session) -> None:
    expire(session)


def applicants(session: Session, *, account_ids: list[int]) -> dict[int, OpenAccount]:
    """The applicants by account id (for the source's list: verified name and masked identifier only)."""
    if not account_ids:
        return {}
    return {a.id: a for a in session.scalars(select(OpenAccount).where(OpenAccount.id.in_(set(account_ids))))}
