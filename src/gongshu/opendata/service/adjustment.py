"""The open catalogue's yearly adjustment, with priority to livelihood data (R-OPN-1).

DG 32: the authority compiles the open catalogue "并实行年度动态调整"; LZ 24: "与民生紧密相关、社会迫切需要…的公共数据，
应当优先纳入开放目录". So, once a year:

1. the authority opens a **round** (:func:`open_round`: the year, a closing date); every department with
   published entries gets an inbox item due by the closing date;
2. until the closing date each department **proposes** (:func:`propose`) for its own published entries: to
   **add** one to the open catalogue (under which open attribute, with the conditions when 有条件开放), to
   **remove** an open one (reasons required), or to mark one as **priority livelihood data** (民生领域: the
   domain); an addition may carry the domain too. It says when it is done (:func:`finish`);
3. the authority **decides** each proposal (:func:`approve` / :func:`refuse`, with reasons for a refusal),
   livelihood proposals listed first. An approved addition is **not** opened here: the entry still needs the
   review before opening (R-OPN-6, :mod:`.reviews`) — the department gets an inbox item to revise the entry's
   open attribute if needed and submit that review, closed by :func:`follow_up` once it has; an approved removal
   stops the opening at once (:func:`.reviews.close`); an approved priority (or an addition's domain) marks the
   entry (:func:`priority_entries`, shown on the portal);
4. the authority **closes** the round (:func:`close_round`) once every proposal is decided.

Every change is audited in its transaction; services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.jobs.service import periodic
from gongshu.kit import forms
from gongshu.opendata.models_disclosure import (
    LIVELIHOOD_DOMAINS,
    PROPOSAL_KINDS,
    AdjustmentProposal,
    AdjustmentRound,
    LivelihoodPriority,
)
from gongshu.opendata.service import datasets, reviews
from gongshu.tasks import service as tasks

declare("opendata.adjustment.manage", "开启和结束开放目录年度调整", "Open and close the open catalogue's yearly "
        "adjustment", AUTHORITY_ROLES)
declare("opendata.adjustment.propose", "提出本部门开放目录的增补、删减和民生优先标注", "Propose additions, removals "
        "and livelihood priorities of one's department's open data", {"dept_officer"}, scope="own_org")
declare("opendata.adjustment.decide", "审定开放目录调整的申请", "Decide on open catalogue adjustment proposals",
        AUTHORITY_ROLES)
declare("opendata.adjustment.view", "查看开放目录年度调整", "See the open catalogue's yearly adjustment",
        {"dept_officer", "dept_staff", "auditor"} | AUTHORITY_ROLES, writes=False)

ROUND_TASK = "opendata.adjustment.propose"
REVIEW_TASK = "opendata.adjustment.review"
ROUND_SUBJECT = "open_adjustment_round"
PROPOSAL_SUBJECT = "open_adjustment_proposal"
#: the department's time to submit the review before opening after an approved addition (the platform's choice)
REVIEW_WORKDAYS = 10
ROUND_BASIS = "开放目录年度动态调整（DG 32，LZ 24，R-OPN-1）"
REVIEW_BASIS = "年度调整同意增补开放：开放前须经保密审查和风险评估（LZ 23/37，R-OPN-6）"
MAX_TEXT = 2000
_INT_MAX = 2**31 - 1
#: the longest a round may stay open
MAX_ROUND_DAYS = 366


def _bounded(value: int, field: str, zh: str, en: str) -> int:
    if not isinstance(value, int) or not 0 < value <= _INT_MAX:
        raise NotFound(f"没有编号为 {value} 的{zh}", f"No {en} {value}", field=field)
    return value


# Rounds -------------------------------------------------------------------------------------------------

def get_round(session: Session, *, round_id: int) -> AdjustmentRound:
    row = session.get(AdjustmentRound, _bounded(round_id, "round_id", "年度调整", "adjustment round"))
    if row is None:
        raise NotFound(f"没有编号为 {round_id} 的年度调整", f"No adjustment round {round_id}", field="round_id")
    return row


def _departments(session: Session) -> list[int]:
    """The orgs with published entries: those a round concerns."""
    return sorted({e.org_id for e in catalog_entries.published(session)})


def open_round(session: Session, *, actor: Actor, year: int, closes_on: date, note: str = "",
               today: date | None = None) -> AdjustmentRound:
    """Open the adjustment of ``year``, taking proposals until ``closes_on`` (inclusive)."""
    require(actor, "opendata.adjustment.manage")
    today = today or tasks.today()
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise Invalid("年度应在 2000–2100 之间", "The year must be between 2000 and 2100", field="year")
    if not today < closes_on <= today + timedelta(days=MAX_ROUND_DAYS):
        raise Invalid(f"截止日期应在今天之后、一年之内（{today + timedelta(days=1)} 至 "
                      f"{today + timedelta(days=MAX_ROUND_DAYS)}）",
                      f"The closing date must be after today and within a year ({today + timedelta(days=1)} to "
                      f"{today + timedelta(days=MAX_ROUND_DAYS)})", field="closes_on")
    if session.scalar(select(AdjustmentRound.id).where(AdjustmentRound.year == year)) is not None:
        raise Conflict(f"{year} 年度的开放目录调整已开启过", f"The {year} adjustment was already opened", field="year")
    if session.scalar(select(AdjustmentRound.id).where(AdjustmentRound.status == "open")) is not None:
        raise Conflict("另一个年度调整尚未结束，请先结束它", "Another adjustment round is still open: close it first",
                       field="year")
    row = AdjustmentRound(year=year, closes_on=closes_on, status="open", opened_by=actor.user_id, opened_at=utcnow(),
                          note=forms.text(note, "note", "说明", "The note", required=False, limit=MAX_TEXT))
    session.add(row)
    session.flush()
    workdays = max(1, tasks.calendar(session).workdays_between(today, closes_on))
    for org_id in _departments(session):
        tasks.open_task(session, actor=actor, kind=ROUND_TASK, subject_type=ROUND_SUBJECT, subject_id=row.id,
                        title=f"{year} 年度开放目录调整：提出增补、删减和民生优先数据", org_id=org_id, workdays=workdays,
                        basis=ROUND_BASIS, start=today)
    audit.record(session, actor=actor, action="opendata.adjustment.open", subject_type=ROUND_SUBJECT, subject_id=row.id,
                 after={"year": year, "closes_on": closes_on.isoformat()})
    return row


def close_round(session: Session, *, actor: Actor, round_id: int) -> AdjustmentRound:
    """End the round once every proposal is decided; the departments' open items about it are closed."""
    require(actor, "opendata.adjustment.manage")
    row = get_round(session, round_id=round_id)
    if row.status != "open":
        raise Conflict("该年度调整已结束", "The round is already closed", field="round_id")
    pending = session.scalar(select(func.count()).select_from(AdjustmentProposal).where(
        AdjustmentProposal.round_id == row.id, AdjustmentProposal.status == "pending"))
    if pending:
        raise Conflict(f"还有 {pending} 项申请未审定", f"{pending} proposals are still awaiting a decision",
                       field="round_id")
    row.status, row.closed_by, row.closed_at = "closed", actor.user_id, utcnow()
    session.flush()
    tasks.close_tasks(session, actor=actor, kind=ROUND_TASK, subject_type=ROUND_SUBJECT, subject_id=row.id)
    audit.record(session, actor=actor, action="opendata.adjustment.close", subject_type=ROUND_SUBJECT,
                 subject_id=row.id, before={"status": "open"}, after={"status": "closed"})
    return row


def rounds(session: Session, *, actor: Actor) -> list[AdjustmentRound]:
    require(actor, "opendata.adjustment.view")
    return list(session.scalars(select(AdjustmentRound).order_by(AdjustmentRound.year.desc())))


# Proposals ----------------------------------------------------------------------------------------------

def _accepting(row: AdjustmentRound, today: date) -> None:
    if row.status != "open":
        raise Conflict("该年度调整已结束", "The round is closed", field="round_id")
    if today > row.closes_on:
        raise Conflict(f"该年度调整已于 {row.closes_on} 截止征集", f"The round stopped taking proposals on "
                       f"{row.closes_on}", field="round_id")


def _domain(value: str, *, required: bool) -> str:
    v = (value or "").strip()
    if not v and not required:
        return ""
    return forms.choice(v, "livelihood", "民生领域", "The livelihood domain", LIVELIHOOD_DOMAINS)


def propose(session: Session, *, actor: Actor, round_id: int, entry_id: int, kind: str, open_type: str = "",
            open_condition: str = "", livelihood: str = "", reason: str = "",
            today: date | None = None) -> AdjustmentProposal:
    """A department's proposal about one of its published entries (see the module's docstring)."""
    row = get_round(session, round_id=round_id)
    entry = catalog_entries.fetch(session, entry_id=_bounded(entry_id, "entry_id", "目录", "entry"))
    require(actor, "opendata.adjustment.propose", org_id=entry.org_id)
    _accepting(row, today or tasks.today())
    kind = forms.choice(kind, "kind", "调整类型", "The kind of proposal", PROPOSAL_KINDS)
    if entry.status not in datasets.PUBLISHED:
        raise Conflict("只能对已发布的目录提出调整", "Only a published entry can be proposed", field="entry_id")
    is_open = datasets.is_open(session, entry_id=entry.id)
    p = AdjustmentProposal(round_id=row.id, entry_id=entry.id, org_id=entry.org_id, kind=kind, status="pending",
                           proposed_by=actor.user_id, proposed_at=utcnow())
    if kind == "add":
        if is_open:
            raise Conflict("该目录已经开放", "The entry is already open", field="entry_id")
        p.open_type = forms.choice(open_type, "open_type", "开放属性", "The open attribute", datasets.OPEN_TYPES)
        p.open_condition = forms.text(open_condition, "open_condition", "开放条件", "The open conditions",
                                      required=p.open_type == "有条件开放", limit=MAX_TEXT)
        p.livelihood = _domain(livelihood, required=False)
        p.reason = forms.text(reason, "reason", "理由", "The reason", required=False, limit=MAX_TEXT)
    elif kind == "remove":
        if not is_open:
            raise Conflict("该目录未开放，无需删减", "The entry is not open: nothing to remove", field="entry_id")
        p.reason = forms.text(reason, "reason", "删减理由", "The reason for removal", limit=MAX_TEXT)
    else:
        p.livelihood = _domain(livelihood, required=True)
        p.reason = forms.text(reason, "reason", "理由", "The reason", required=False, limit=MAX_TEXT)
        if not is_open:
            raise Conflict("只能把已开放的目录标为民生优先；未开放的目录请提出增补并注明民生领域",
                           "Only an open entry can be marked as livelihood priority; propose an addition with the "
                           "domain for one not open yet", field="entry_id")
    clash = session.scalar(select(AdjustmentProposal.id).where(
        AdjustmentProposal.round_id == row.id, AdjustmentProposal.entry_id == entry.id,
        AdjustmentProposal.kind == kind, AdjustmentProposal.status.in_(("pending", "approved"))))
    if clash is not None:
        raise Conflict("本年度已有该目录的同类申请", "This round already has such a proposal for the entry",
                       field="entry_id")
    session.add(p)
    session.flush()
    audit.record(session, actor=actor, action="opendata.adjustment.propose", subject_type=PROPOSAL_SUBJECT,
                 subject_id=p.id, after={"round": row.year, "entry_id": entry.id, "kind": kind,
                                         "open_type": p.open_type, "livelihood": p.livelihood})
    return p


def finish(session: Session, *, actor: Actor, round_id: int) -> int:
    """The department says it has no more proposals: its inbox item about the round is done."""
    row = get_round(session, round_id=round_id)
    require(actor, "opendata.adjustment.propose", org_id=actor.org_id)
    if row.status != "open":
        raise Conflict("该年度调整已结束", "The round is closed", field="round_id")
    open_items = [t for t in tasks.for_subject(session, subject_type=ROUND_SUBJECT, subject_id=row.id)
                  if t.status == "open" and t.assignee_org_id == actor.org_id and t.kind == ROUND_TASK]
    if not open_items:
        raise Conflict("本部门在该年度调整中没有待办事项", "Your department has no open item in this round",
                       field="round_id")
    for t in open_items:
        t.status, t.closed_at = "done", utcnow()
        audit.record(session, actor=actor, action="tasks.close", subject_type="task", subject_id=t.id,
                     detail={"status": "done"})
    audit.record(session, actor=actor, action="opendata.adjustment.finish", subject_type=ROUND_SUBJECT,
                 subject_id=row.id, detail={"org_id": actor.org_id})
    return len(open_items)


def get_proposal(session: Session, *, proposal_id: int) -> AdjustmentProposal:
    p = session.get(AdjustmentProposal, _bounded(proposal_id, "proposal_id", "调整申请", "proposal"))
    if p is None:
        raise NotFound(f"没有编号为 {proposal_id} 的调整申请", f"No proposal {proposal_id}", field="proposal_id")
    return p


def _pending(session: Session, actor: Actor, proposal_id: int) -> tuple[AdjustmentProposal, AdjustmentRound]:
    require(actor, "opendata.adjustment.decide")
    p = get_proposal(session, proposal_id=proposal_id)
    row = get_round(session, round_id=p.round_id)
    if row.status != "open":
        raise Conflict("该年度调整已结束", "The round is closed", field="proposal_id")
    if p.status != "pending":
        raise Conflict("该申请不是待审定状态", "The proposal is not awaiting a decision", field="proposal_id")
    return p, row


def _set_priority(session: Session, actor: Actor, p: AdjustmentProposal) -> None:
    row = session.get(LivelihoodPriority, p.entry_id)
    before = None if row is None else {"domain": row.domain}
    if row is None:
        row = LivelihoodPriority(entry_id=p.entry_id)
        session.add(row)
    row.domain, row.round_id, row.set_by, row.set_at = p.livelihood, p.round_id, actor.user_id, utcnow()
    session.flush()
    audit.record(session, actor=actor, action="opendata.priority.set", subject_type="catalog_entry",
                 subject_id=p.entry_id, before=before, after={"domain": p.livelihood, "proposal_id": p.id})


def approve(session: Session, *, actor: Actor, proposal_id: int, note: str = "") -> AdjustmentProposal:
    p, row = _pending(session, actor, proposal_id)
    note = forms.text(note, "note", "审定意见", "The note", required=False, limit=MAX_TEXT)
    entry = catalog_entries.fetch(session, entry_id=p.entry_id)
    is_open = datasets.is_open(session, entry_id=p.entry_id)
    if p.kind == "add":
        if is_open:
            raise Conflict("该目录已经开放", "The entry is already open", field="proposal_id")
        if entry.status not in datasets.PUBLISHED:
            raise Conflict("该目录已不再是已发布的目录", "The entry is no longer published", field="proposal_id")
    elif not is_open:
        raise Conflict("该目录已不再开放", "The entry is no longer open", field="proposal_id")
    _decide(session, actor, p, "approved", note)
    if p.kind == "add":
        change = "" if entry.open_type == p.open_type else f"先修订目录，将开放属性由“{entry.open_type}”改为“{p.open_type}”，再"
        tasks.open_task(session, actor=actor, kind=REVIEW_TASK, subject_type=PROPOSAL_SUBJECT, subject_id=p.id,
                        title=f"开放目录增补（{row.year} 年度）：{change}提交《{entry.name}》的开放前审查",
                        org_id=p.org_id, workdays=REVIEW_WORKDAYS, basis=REVIEW_BASIS)
        if p.livelihood:
            _set_priority(session, actor, p)
    elif p.kind == "remove":
        review = datasets.latest_review(session, entry_id=p.entry_id)
        reviews.close(session, actor=actor, review_id=review.id, note=f"{row.year} 年度开放目录调整：{p.reason}")
        if session.get(LivelihoodPriority, p.entry_id) is not None:
            session.execute(delete(LivelihoodPriority).where(LivelihoodPriority.entry_id == p.entry_id))
            audit.record(session, actor=actor, action="opendata.priority.clear", subject_type="catalog_entry",
                         subject_id=p.entry_id, detail={"proposal_id": p.id})
    else:
        _set_priority(session, actor, p)
    return p


def refuse(session: Session, *, actor: Actor, proposal_id: int, note: str) -> AdjustmentProposal:
    p, _row = _pending(session, actor, proposal_id)
    return _decide(session, actor, p, "refused", forms.text(note, "note", "不予同意的理由", "The reason",
                                                             limit=MAX_TEXT))


def _decide(session: Session, actor: Actor, p: AdjustmentProposal, status: str, note: str) -> AdjustmentProposal:
    p.status, p.decision_note, p.decided_by, p.decided_at = status, note, actor.user_id, utcnow()
    session.flush()
    audit.record(session, actor=actor, action=f"opendata.adjustment.{'approve' if status == 'approved' else 'refuse'}",
                 subject_type=PROPOSAL_SUBJECT, subject_id=p.id, before={"status": "pending"},
                 after={"status": status, "kind": p.kind, "entry_id": p.entry_id}, detail={"note": note[:200]})
    return p


def follow_up(session: Session, *, actor: Actor = SYSTEM) -> int:
    """Close the review items of approved additions whose entry has had a review submitted since the
    approval; returns how many."""
    waiting = session.scalars(select(AdjustmentProposal).where(AdjustmentProposal.kind == "add",
                                                               AdjustmentProposal.status == "approved")).all()
    done = 0
    for p in waiting:
        review = datasets.latest_review(session, entry_id=p.entry_id)
        if review is not None and p.decided_at is not None and review.submitted_at >= p.decided_at:
            done += tasks.close_tasks(session, actor=actor, kind=REVIEW_TASK, subject_type=PROPOSAL_SUBJECT,
                                      subject_id=p.id)
    return done


@periodic("opendata.adjustment.follow_up", every=timedelta(minutes=15))
def _follow_up(session: Session) -> None:
    follow_up(session)


# Reading ------------------------------------------------------------------------------------------------

def priority_entries(session: Session) -> dict[int, str]:
    """Entry id → 民生领域 of the entries marked as priority livelihood data (for the portal)."""
    return dict(session.execute(select(LivelihoodPriority.entry_id, LivelihoodPriority.domain)).all())


@dataclass
class RoundView:
    round: AdjustmentRound
    proposals: list[AdjustmentProposal]  # livelihood first, then pending first, then oldest first
    entries: dict[int, Any]
    #: approved additions: proposal id → "awaiting_review" | "review_submitted" | "open"
    progress: dict[int, str]
    accepting: bool


def round_view(session: Session, *, actor: Actor, round_id: int, today: date | None = None) -> RoundView:
    """A round as the actor may see it: the authority and auditors every proposal, a department its own."""
    require(actor, "opendata.adjustment.view")
    row = get_round(session, round_id=round_id)
    stmt = select(AdjustmentProposal).where(AdjustmentProposal.round_id == row.id)
    if not (actor.is_authority or "auditor" in actor.roles):
        stmt = stmt.where(AdjustmentProposal.org_id == actor.org_id)
    found = list(session.scalars(stmt))
    found.sort(key=lambda p: (not p.livelihood, p.status != "pending", p.id))
    entries = catalog_entries.load_many(session, entry_ids=sorted({p.entry_id for p in found})) if found else {}
    progress = {}
    for p in found:
        if p.kind == "add" and p.status == "approved":
            review = datasets.latest_review(session, entry_id=p.entry_id)
            if datasets.is_open(session, entry_id=p.entry_id):
                progress[p.id] = "open"
            elif review is not None and p.decided_at is not None and review.submitted_at >= p.decided_at:
                progress[p.id] = "review_submitted"
            else:
                progress[p.id] = "awaiting_review"
    accepting = row.status == "open" and (today or tasks.today()) <= row.closes_on
    return RoundView(row, found, entries, progress, accepting)


def proposable(session: Session, *, actor: Actor) -> list[tuple[Any, bool]]:
    """The actor's department's published entries, each with whether it is open (the proposal form)."""
    if actor.org_id is None:
        raise Forbidden("只有部门可以提出调整", "Only a department can make proposals")
    require(actor, "opendata.adjustment.propose", org_id=actor.org_id)
    ids = list(session.scalars(catalog_entries.ids_where(statuses=datasets.PUBLISHED, org_id=actor.org_id)))
    if not ids:
        return []
    opened = datasets.opened_ids(session)
    entries = catalog_entries.load_many(session, entry_ids=ids)
    return [(e, e.id in opened) for e in sorted(entries.values(), key=lambda e: e.code)]
