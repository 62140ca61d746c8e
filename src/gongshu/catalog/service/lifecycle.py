"""The review lifecycle of catalogue entries (R-CAT-1, R-CAT-4, R-CAT-7)::

    draft ──submit──▶ submitted ──approve──▶ published ──revise──▶ revising ──submit──▶ submitted …
      ▲                   │                      │
      └──(edit)── returned ◀──return_entry───────┘ (withdraw, by the authority) ──▶ withdrawn ──revise──▶ …

* Every approval freezes an :class:`EntryVersion` (snapshot + SM3 digest) and indexes it for
  search; while an entry is being revised the public keeps seeing the last published version.
* Who: department data officers (``dept_officer``) of the providing department submit and revise;
  department staff may edit working copies (:mod:`gongshu.catalog.service.entries`) but not submit
  them or start a revision. Authority reviewers (``authority_reviewer``) approve, return (reasons
  required) and withdraw (撤销); a department officer may *request* withdrawal, which puts an item
  in the reviewers' inbox.
* 不予共享 is filed with the authority (备案) when the entry is submitted: the entry is flagged
  ``filed_with_authority`` and the authority's reviewers get an inbox item, closed by the review.
* A department declares a change of legal basis or duties; each affected published entry gets an
  update item in its inbox (R-CAT-4).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, authority_org_id, can, require
from gongshu.catalog.models import STATUS_ZH, CatalogEntry, ChangeDeclaration, EntryVersion, Review
from gongshu.catalog.service import entries, rules, search
from gongshu.catalog.service.entries import SUBJECT
from gongshu.config import get_settings
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.kit.hashing import digest
from gongshu.tasks import service as tasks_service
from gongshu.tasks.models import Task

declare("catalog.entry.submit", "提交目录审核", "Submit catalogue entries for review", {"dept_officer"},
        scope="own_org")
declare("catalog.entry.revise", "发起目录修订", "Start a revision of a published entry", {"dept_officer"},
        scope="own_org")
declare("catalog.entry.request_withdraw", "申请撤销目录", "Request withdrawal of a published entry",
        {"dept_officer"}, scope="own_org")
declare("catalog.entry.declare_change", "申报法定依据或职责变更", "Declare a change of legal basis or duties",
        {"dept_officer"}, scope="own_org")
declare("catalog.entry.review", "审定目录（通过或退回）", "Review catalogue entries (approve or return)",
        {"authority_reviewer"})
declare("catalog.entry.withdraw", "撤销已发布目录", "Withdraw a published entry", {"authority_reviewer"})

REVIEW_BASIS = "东莞市公共数据管理办法第十二条"
FILING_BASIS = "不予共享须有法律、行政法规或国家政策依据并报数据主管部门备案"
CHANGE_KINDS = {"legal_basis": ("法定依据", "legal basis"), "duties": ("职责", "duties")}
#: task kinds this module opens (subject_type "catalog_entry", subject_id = entry id)
TASK_REVIEW, TASK_FILING, TASK_UPDATE, TASK_WITHDRAW = (
    "catalog.review", "catalog.filing", "catalog.update", "catalog.withdraw_request")


# Reviews --------------------------------------------------------------------------------

def reviews_of(session: Session, *, entry_id: int) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.entry_id == entry_id).order_by(Review.id.desc())))


def open_review(session: Session, *, entry_id: int) -> Review | None:
    return session.scalar(select(Review).where(Review.entry_id == entry_id, Review.decision.is_(None))
                          .order_by(Review.id.desc()).limit(1))


def review_queue(session: Session, *, actor: Actor) -> list[tuple[CatalogEntry, Review]]:
    """Submitted entries awaiting the authority's decision, earliest due first."""
    require(actor, "catalog.entry.view_all")
    rows = session.execute(select(CatalogEntry, Review).join(Review, Review.entry_id == CatalogEntry.id)
                           .where(CatalogEntry.status == "submitted", Review.decision.is_(None))
                           .order_by(Review.due_date, Review.id)).all()
    return list(rows)



# Transitions ----------------------------------------------------------------------------

def _status_zh(status: str) -> str:
    return STATUS_ZH.get(status, status)


def _authority_org_id(session: Session) -> int:
    org_id = authority_org_id(session)
    if org_id is None:
        raise Conflict("尚未设置数据主管部门，无法提交审核", "No data authority is configured to review entries")
    return org_id


def _short(name: str) -> str:
    return name if len(name) <= 120 else name[:119] + "…"


def _refresh_declarations(session: Session, org_id: int) -> None:
    """Mark change declarations fulfilled once none of their entries has an open update item."""
    for decl in session.scalars(select(ChangeDeclaration).where(ChangeDeclaration.org_id == org_id,
                                                                ChangeDeclaration.fulfilled_at.is_(None))):
        still = session.scalar(select(func.count()).select_from(Task).where(
            Task.kind == TASK_UPDATE, Task.subject_type == SUBJECT, Task.status == "open",
            Task.subject_id.in_([str(i) for i in decl.entry_ids])))
        if not still:
            decl.fulfilled_at = utcnow()


def submit(session: Session, *, actor: Actor, entry_id: int, note: str = "", start: date | None = None) -> Review:
    """Send a draft, returned entry or revision to the authority; review due in N working days (R-CAT-4)."""
    entry = entries.editable_entry(session, actor=actor, entry_id=entry_id, action="catalog.entry.submit")
    rules.raise_if(rules.check(session, data=entries.entry_as_input(session, entry=entry), existing=entry))
    authority_id = _authority_org_id(session)
    days = get_settings().catalog_review_days
    start = start or tasks_service.today()
    due = tasks_service.calendar(session).add_workdays(start, days)  # fails early on an unknown calendar year
    before = entry.status
    review = Review(entry_id=entry.id, submitted_by=actor.user_id, change_note=note.strip(), due_date=due)
    session.add(review)
    entry.status = "submitted"
    session.flush()
    tasks_service.open_task(session, actor=actor, kind=TASK_REVIEW, title=f"目录审核：{_short(entry.name)}（{entry.code}）",
                            subject_type=SUBJECT, subject_id=entry.id, org_id=authority_id, workdays=days,
                            role="authority_reviewer", basis=REVIEW_BASIS, start=start)
    if entry.sharing_type == "不予共享" and not entry.filed_with_authority:  # 备案 (R-CAT-3)
        entry.filed_with_authority = True
        tasks_service.open_task(session, actor=actor, kind=TASK_FILING,
                                title=f"不予共享备案：{_short(entry.name)}（{entry.code}）", subject_type=SUBJECT,
                                subject_id=entry.id, org_id=authority_id, workdays=days, role="authority_reviewer",
                                basis=FILING_BASIS, start=start)
        audit_service.record(session, actor=actor, action="catalog.entry.file", subject_type=SUBJECT,
                             subject_id=entry.id, detail={"sharing_basis": entry.sharing_basis,
                                                          "legal_basis": entry.legal_basis})
    if tasks_service.close_tasks(session, actor=actor, kind=TASK_UPDATE, subject_type=SUBJECT, subject_id=entry.id):
        _refresh_declarations(session, entry.org_id)
    audit_service.record(session, actor=actor, action="catalog.entry.submit", subject_type=SUBJECT, subject_id=entry.id,
                         before={"status": before}, after={"status": "submitted", "review_id": review.id},
                         detail={"due": due.isoformat(), "note": review.change_note, "version": entry.version})
    return review


def _pending(session: Session, actor: Actor, entry_id: int) -> tuple[CatalogEntry, Review]:
    entry = entries.fetch(session, entry_id=entry_id)
    require(actor, "catalog.entry.review", org_id=entry.org_id)
    review = open_review(session, entry_id=entry.id)
    if entry.status != "submitted" or review is None:
        raise Conflict(f"目录当前状态为“{_status_zh(entry.status)}”，没有待审核的提交",
                       f"The entry is {entry.status}; there is no submission to review")
    return entry, review


def approve(session: Session, *, actor: Actor, entry_id: int, note: str = "") -> EntryVersion:
    """Publish: freeze a new version (snapshot + SM3 digest) and index it for search."""
    entry, review = _pending(session, actor, entry_id)
    now = utcnow()
    entry.version += 1
    entry.status = "published"
    entry.published_at = now
    if entry.release_date is None:
        entry.release_date = tasks_service.today()
    session.flush()
    snap = entries.snapshot(session, entry=entry)
    snap.update(version=entry.version, published_at=now.isoformat())
    version = EntryVersion(entry_id=entry.id, version=entry.version, snapshot=snap, digest=digest(snap),
                           published_at=now, approved_by=actor.user_id, change_note=review.change_note)
    session.add(version)
    review.decision, review.reasons, review.decided_by, review.decided_at = "approve", note.strip(), actor.user_id, now
    session.flush()
    for kind in (TASK_REVIEW, TASK_FILING):
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=entry.id)
    search.index_entry(session, entry_id=entry.id)
    audit_service.record(session, actor=actor, action="catalog.entry.approve", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": "submitted", "version": entry.version - 1},
                         after={"status": "published", "version": entry.version, "digest": version.digest},
                         detail={"review_id": review.id, "note": review.reasons})
    return version


def return_entry(session: Session, *, actor: Actor, entry_id: int, reasons: str) -> Review:
    """Send a submission back to the department with the reasons (required)."""
    if not (reasons or "").strip():
        raise Invalid("退回时必须说明理由", "Give the reasons for returning the entry", field="reasons")
    entry, review = _pending(session, actor, entry_id)
    review.decision, review.reasons = "return", reasons.strip()
    review.decided_by, review.decided_at = actor.user_id, utcnow()
    entry.status = "returned"
    session.flush()
    for kind in (TASK_REVIEW, TASK_FILING):
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=entry.id)
    audit_service.record(session, actor=actor, action="catalog.entry.return", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": "submitted"}, after={"status": "returned"},
                         detail={"review_id": review.id, "reasons": review.reasons})
    return review


def revise(session: Session, *, actor: Actor, entry_id: int, note: str = "") -> CatalogEntry:
    """Open a published (or withdrawn) entry for revision; the public keeps the last published version."""
    entry = entries.fetch(session, entry_id=entry_id)
    require(actor, "catalog.entry.revise", org_id=entry.org_id)
    if entry.status not in ("published", "withdrawn"):
        raise Conflict(f"目录当前状态为“{_status_zh(entry.status)}”，只有已发布或已撤销的目录可以发起修订",
                       f"The entry is {entry.status}; only published or withdrawn entries can be revised")
    before = entry.status
    entry.status = "revising"
    entry.updated_at = utcnow()
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.entry.revise", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": before}, after={"status": "revising"},
                         detail={"note": note.strip(), "version": entry.version})
    return entry


def _withdrawable(entry: CatalogEntry) -> None:
    if entry.version == 0 or entry.status == "withdrawn":
        raise Conflict("只有已发布过且未撤销的目录可以撤销", "Only published entries that are not withdrawn can be withdrawn")


def request_withdrawal(session: Session, *, actor: Actor, entry_id: int, reason: str) -> Task:
    """A department officer asks the authority to withdraw a published entry (an inbox item for reviewers)."""
    entry = entries.fetch(session, entry_id=entry_id)
    require(actor, "catalog.entry.request_withdraw", org_id=entry.org_id)
    if not (reason or "").strip():
        raise Invalid("申请撤销时必须说明理由", "Give the reason for the withdrawal request", field="reason")
    _withdrawable(entry)
    if session.scalar(select(Task.id).where(Task.kind == TASK_WITHDRAW, Task.subject_type == SUBJECT,
                                            Task.subject_id == str(entry.id), Task.status == "open")):
        raise Conflict("该目录已有待处理的撤销申请", "A withdrawal request for this entry is already pending")
    task = tasks_service.open_task(session, actor=actor, kind=TASK_WITHDRAW,
                                   title=f"撤销申请：{_short(entry.name)}（{entry.code}）：{reason.strip()[:80]}",
                                   subject_type=SUBJECT, subject_id=entry.id, org_id=_authority_org_id(session),
                                   workdays=get_settings().catalog_review_days, role="authority_reviewer",
                                   basis=REVIEW_BASIS)
    audit_service.record(session, actor=actor, action="catalog.entry.request_withdraw", subject_type=SUBJECT,
                         subject_id=entry.id, detail={"reason": reason.strip(), "task_id": task.id})
    return task


def withdraw(session: Session, *, actor: Actor, entry_id: int, reason: str) -> CatalogEntry:
    """The authority withdraws (撤销) a published entry: it leaves search and the public catalogue."""
    if not (reason or "").strip():
        raise Invalid("撤销时必须说明理由", "Give the reason for the withdrawal", field="reason")
    entry = entries.fetch(session, entry_id=entry_id)
    require(actor, "catalog.entry.withdraw", org_id=entry.org_id)
    _withdrawable(entry)
    before = entry.status
    pending = open_review(session, entry_id=entry.id)
    if pending is not None:
        pending.decision, pending.reasons = "withdraw", reason.strip()
        pending.decided_by, pending.decided_at = actor.user_id, utcnow()
    entry.status = "withdrawn"
    entry.updated_at = utcnow()
    session.flush()
    for kind in (TASK_REVIEW, TASK_FILING, TASK_UPDATE):
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=entry.id,
                                  status="cancelled")
    tasks_service.close_tasks(session, actor=actor, kind=TASK_WITHDRAW, subject_type=SUBJECT, subject_id=entry.id)
    _refresh_declarations(session, entry.org_id)
    search.unindex_entry(session, entry_id=entry.id)
    audit_service.record(session, actor=actor, action="catalog.entry.withdraw", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": before}, after={"status": "withdrawn"},
                         detail={"reason": reason.strip(), "version": entry.version})
    return entry


def declare_change(session: Session, *, actor: Actor, kind: str, description: str,
                   entry_ids: list[int] | None = None, start: date | None = None) -> ChangeDeclaration:
    """A department declares a change of legal basis or duties: each affected published entry gets an
    update item in the department's inbox, due in N working days (R-CAT-4, DG 12)."""
    if actor.org_id is None:
        raise Forbidden("只有部门可以申报变更", "Only departments declare changes")
    require(actor, "catalog.entry.declare_change", org_id=actor.org_id)
    if kind not in CHANGE_KINDS:
        raise Invalid(f"变更类型无效：{kind}（可选：法定依据 legal_basis、职责 duties）",
                      f"Unknown change kind {kind} (legal_basis or duties)", field="kind")
    if not (description or "").strip():
        raise Invalid("请说明变更内容（如新法规名称和条款）", "Describe the change (e.g. the new regulation)",
                      field="description")
    published = {e.id: e for e in session.scalars(
        select(CatalogEntry).where(CatalogEntry.org_id == actor.org_id, CatalogEntry.version > 0,
                                   CatalogEntry.status != "withdrawn").order_by(CatalogEntry.id))}
    if entry_ids:
        wrong = [i for i in entry_ids if i not in published]
        if wrong:
            raise Invalid(f"所选目录 {', '.join(map(str, wrong))} 不是本单位已发布的目录",
                          f"Entries {', '.join(map(str, wrong))} are not published entries of your organisation",
                          field="entry_ids")
        chosen = [published[i] for i in dict.fromkeys(entry_ids)]
    else:
        chosen = list(published.values())
    if not chosen:
        raise Invalid("本单位没有已发布的目录需要更新", "Your organisation has no published entries to update",
                      field="entry_ids")
    days = get_settings().catalog_update_days
    start = start or tasks_service.today()
    due = tasks_service.calendar(session).add_workdays(start, days)
    decl = ChangeDeclaration(org_id=actor.org_id, kind=kind, description=description.strip(),
                             declared_by=actor.user_id, due_date=due, entry_ids=[e.id for e in chosen])
    session.add(decl)
    session.flush()
    what = CHANGE_KINDS[kind][0]
    for e in chosen:
        tasks_service.open_task(session, actor=actor, kind=TASK_UPDATE, title=f"目录更新（{what}变更）：{_short(e.name)}（{e.code}）",
                                subject_type=SUBJECT, subject_id=e.id, org_id=actor.org_id, workdays=days,
                                role="dept_officer", basis=REVIEW_BASIS, start=start)
    audit_service.record(session, actor=actor, action="catalog.entry.declare_change", subject_type="change_declaration",
                         subject_id=decl.id, after={"kind": kind, "entry_ids": decl.entry_ids},
                         detail={"description": decl.description, "due": due.isoformat()})
    return decl


def declarations(session: Session, *, actor: Actor) -> list[ChangeDeclaration]:
    """Change declarations the actor may see: their org's; the authority and auditors all."""
    stmt = select(ChangeDeclaration).order_by(ChangeDeclaration.id.desc())
    if not can(actor, "catalog.entry.view_all"):
        require(actor, "catalog.entry.view", org_id=actor.org_id)
        stmt = stmt.where(ChangeDeclaration.org_id == actor.org_id)
    return list(session.scalars(stmt.limit(200)))
