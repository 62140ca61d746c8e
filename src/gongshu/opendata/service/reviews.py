"""The review before opening (开放前审查, R-OPN-6): the source department records a confidentiality review and
a risk assessment of opening one published entry; the authority approves (the entry becomes open data, see
:mod:`.datasets`) or returns it with reasons, and may later stop the opening (with reasons). Each step is
audited in its transaction; a submission puts an item in the authority's inbox, due in
:data:`DECIDE_WORKDAYS` working days."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, authority_org_id, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.kit import forms
from gongshu.opendata.models import RISK_LEVELS, OpeningReview
from gongshu.opendata.service.datasets import OPEN_TYPES, PUBLISHED, latest_review
from gongshu.tasks import service as tasks

declare("opendata.review.submit", "提交开放前的保密审查和风险评估（数源部门）",
        "Submit the confidentiality review and risk assessment before opening (source department)",
        {"dept_officer"}, scope="own_org")
declare("opendata.review.decide", "审定开放前审查：批准开放、退回或停止开放（数据主管部门）",
        "Decide on opening reviews: approve, return, or stop an opening (authority)", AUTHORITY_ROLES)
declare("opendata.review.view", "查看开放前审查", "See opening reviews", {"dept_officer", "dept_staff", "auditor"}
        | AUTHORITY_ROLES, writes=False)

TASK_KIND = "opendata.review"
DECIDE_WORKDAYS = 5
MAX_TEXT = 4000


def submit(session: Session, *, actor: Actor, entry_id: int, confidentiality: str, risk_assessment: str,
           risk_level: str, measures: str = "") -> OpeningReview:
    """Record the source's review of opening ``entry_id`` (its latest published version) for the authority."""
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require(actor, "opendata.review.submit", org_id=entry.org_id)
    if entry.status not in PUBLISHED:
        raise Conflict("只有已发布的目录才能申请开放", "Only a published entry can be opened", field="entry_id")
    if entry.open_type not in OPEN_TYPES:
        raise Conflict(f"该目录的开放属性为“{entry.open_type}”，不能开放", f"The entry's open attribute is "
                       f"{entry.open_type}: it cannot be opened", field="entry_id")
    last = latest_review(session, entry_id=entry.id)
    if last is not None and last.status in ("submitted", "approved"):
        raise Conflict("该目录已有待审定或已批准的开放审查", "The entry already has a pending or approved opening review",
                       field="entry_id")
    review = OpeningReview(
        entry_id=entry.id, org_id=entry.org_id, catalog_version=entry.version,
        confidentiality=forms.text(confidentiality, "confidentiality", "保密审查结论", "The confidentiality review",
                                   limit=MAX_TEXT),
        risk_assessment=forms.text(risk_assessment, "risk_assessment", "风险评估", "The risk assessment",
                                   limit=MAX_TEXT),
        risk_level=forms.choice(risk_level, "risk_level", "风险等级", "The risk level", RISK_LEVELS),
        measures=forms.text(measures, "measures", "脱敏及安全措施", "The masking and security measures",
                            required=False, limit=MAX_TEXT),
        status="submitted", submitted_by=actor.user_id, submitted_at=utcnow())
    if review.risk_level == "高":
        raise Invalid("风险评估为“高”的数据不能开放：请先采取脱敏等措施降低风险，或调整开放属性",
                      "Data assessed as high risk cannot be opened: reduce the risk first (masking …) or change "
                      "the open attribute", field="risk_level")
    session.add(review)
    session.flush()
    authority = authority_org_id(session)
    if authority is not None:
        tasks.open_task(session, actor=actor, kind=TASK_KIND, title=f"开放前审查：{entry.name}",
                        subject_type="open_review", subject_id=review.id, org_id=authority,
                        workdays=DECIDE_WORKDAYS, basis="开放前保密审查和风险评估（R-OPN-6）")
    audit.record(session, actor=actor, action="opendata.review.submit", subject_type="open_review",
                 subject_id=review.id, after={"entry_id": entry.id, "catalog_version": entry.version,
                                              "risk_level": review.risk_level})
    return review


def _pending(session: Session, review_id: int) -> OpeningReview:
    review = session.get(OpeningReview, review_id)
    if review is None:
        raise NotFound(f"没有编号为 {review_id} 的开放审查", f"No opening review {review_id}", field="review_id")
    return review


def approve(session: Session, *, actor: Actor, review_id: int, note: str = "") -> OpeningReview:
    """Approve: the entry is open data from now on."""
    require(actor, "opendata.review.decide")
    review = _pending(session, review_id)
    if review.status != "submitted":
        raise Conflict("该开放审查不是待审定状态", "The review is not awaiting a decision", field="review_id")
    entry = catalog_entries.fetch(session, entry_id=review.entry_id)
    if entry.status not in PUBLISHED or entry.open_type not in OPEN_TYPES:
        raise Conflict("该目录已不再是可开放的已发布目录", "The entry is no longer a published entry that may be opened",
                       field="review_id")
    return _decide(session, actor, review, "approved", forms.text(note, "note", "审定意见", "The note",
                                                                   required=False, limit=MAX_TEXT))


def return_review(session: Session, *, actor: Actor, review_id: int, note: str) -> OpeningReview:
    """Return to the source with reasons (required); the source may submit a new review."""
    require(actor, "opendata.review.decide")
    review = _pending(session, review_id)
    if review.status != "submitted":
        raise Conflict("该开放审查不是待审定状态", "The review is not awaiting a decision", field="review_id")
    return _decide(session, actor, review, "returned", forms.text(note, "note", "退回理由", "The reason",
                                                                   limit=MAX_TEXT))


def close(session: Session, *, actor: Actor, review_id: int, note: str) -> OpeningReview:
    """Stop an approved opening (reasons required): the entry leaves the portal at once."""
    require(actor, "opendata.review.decide")
    review = _pending(session, review_id)
    if review.status != "approved":
        raise Conflict("只有已批准的开放才能停止", "Only an approved opening can be stopped", field="review_id")
    return _decide(session, actor, review, "closed", forms.text(note, "note", "停止开放的理由", "The reason",
                                                                 limit=MAX_TEXT))


def _decide(session: Session, actor: Actor, review: OpeningReview, status: str, note: str) -> OpeningReview:
    before = review.status
    review.status, review.note, review.decided_by, review.decided_at = status, note, actor.user_id, utcnow()
    session.flush()
    tasks.close_tasks(session, actor=actor, kind=TASK_KIND, subject_type="open_review", subject_id=review.id)
    audit.record(session, actor=actor, action=f"opendata.review.{status}", subject_type="open_review",
                 subject_id=review.id, before={"status": before},
                 after={"status": status, "entry_id": review.entry_id}, detail={"note": note[:200]})
    return review


def list_reviews(session: Session, *, actor: Actor, status: str | None = None, limit: int = 200) -> list[OpeningReview]:
    """Reviews the actor may see: the authority and auditors all, a department its own; newest first."""
    require(actor, "opendata.review.view")
    stmt = select(OpeningReview).order_by(OpeningReview.id.desc()).limit(limit)
    if not (actor.is_authority or "auditor" in actor.roles):
        stmt = stmt.where(OpeningReview.org_id == actor.org_id)
    if status:
        stmt = stmt.where(OpeningReview.status == status)
    return list(session.scalars(stmt))


def candidates(session: Session, *, actor: Actor) -> list:
    """The actor's department's published entries that may be opened and have no pending or approved review
    (what its data officer may submit)."""
    require(actor, "opendata.review.submit", org_id=actor.org_id)
    ids = list(session.scalars(catalog_entries.ids_where(statuses=PUBLISHED, open_types=OPEN_TYPES,
                                                          org_id=actor.org_id)))
    busy = set(session.scalars(select(OpeningReview.entry_id).where(
        OpeningReview.entry_id.in_(ids), OpeningReview.status.in_(("submitted", "approved")),
        OpeningReview.id.in_(select(func.max(OpeningReview.id)).group_by(OpeningReview.entry_id))))) if ids else set()
    free = [i for i in ids if i not in busy]
    entries = catalog_entries.load_many(session, entry_ids=free) if free else {}
    return sorted(entries.values(), key=lambda e: e.code)
