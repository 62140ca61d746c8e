"""Emergency sharing (应急状态下的数据共享, R-SHR-8, LZ 20, DG 38).

The authority declares an emergency (scope, entries, consumers, start, end): every covered consumer gets a
grant on every covered entry at once (all items, masked per grade), recorded as requests with the
emergency's purpose. When it ends (by hand or by the periodic sweep at its end time) the grants are
revoked, every exchange package delivered under it must be confirmed sealed or destroyed by its consumer
(an inbox item each), and the authority files a review once every package is confirmed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.models import Org
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.jobs.service import periodic
from gongshu.sharing.models import Emergency, ExchangePackage, Grant, ShareRequest
from gongshu.sharing.service import grants, requests
from gongshu.tasks import service as tasks

declare("sharing.emergency.manage", "宣布、结束和复盘应急数据共享", "Declare, end and review emergency sharing",
        {"authority_admin"})
declare("sharing.emergency.confirm", "确认应急期间交付的数据已封存或销毁", "Confirm emergency deliveries sealed or destroyed",
        {"dept_officer"}, scope="own_org")

DESTROY_WORKDAYS = 5
MAX_DAYS = 180


def get(session: Session, *, emergency_id: int) -> Emergency:
    e = session.get(Emergency, emergency_id)
    if e is None:
        raise NotFound(f"应急事项 {emergency_id} 不存在", f"Emergency {emergency_id} does not exist")
    return e


def list_emergencies(session: Session, *, actor: Actor) -> list[Emergency]:
    require(actor, "sharing.view_all")
    return list(session.scalars(select(Emergency).order_by(Emergency.id.desc())))


def grants_of(session: Session, *, emergency_id: int) -> list[Grant]:
    return list(session.scalars(select(Grant).where(Grant.emergency_id == emergency_id).order_by(Grant.id)))


def packages_of(session: Session, *, emergency_id: int) -> list[ExchangePackage]:
    return list(session.scalars(select(ExchangePackage).join(Grant, Grant.id == ExchangePackage.grant_id)
                                .where(Grant.emergency_id == emergency_id).order_by(ExchangePackage.id)))


def packages_of_grant(session: Session, *, grant_id: int) -> list[ExchangePackage]:
    return list(session.scalars(select(ExchangePackage).where(ExchangePackage.grant_id == grant_id)
                                .order_by(ExchangePackage.id)))


def declare_emergency(session: Session, *, actor: Actor, title: str, scope: str, entry_ids: list[int],
                      consumer_org_ids: list[int], ends_at: datetime, starts_at: datetime | None = None) -> Emergency:
    require(actor, "sharing.emergency.manage")
    title, scope = (title or "").strip(), (scope or "").strip()
    if not title or not scope:
        raise Invalid("请填写应急事项名称和共享范围", "Title and scope are required", field="title" if not title else "scope")
    start = starts_at or utcnow()
    if not start < ends_at <= start + timedelta(days=MAX_DAYS):
        raise Invalid(f"结束时间应晚于开始时间，且不超过 {MAX_DAYS} 天", f"The end must be after the start and within "
                      f"{MAX_DAYS} days", field="ends_at")
    entry_ids, consumer_org_ids = sorted(set(entry_ids)), sorted(set(consumer_org_ids))
    if not entry_ids or not consumer_org_ids:
        raise Invalid("请至少选择一个目录和一个使用部门", "Choose at least one entry and one consumer",
                      field="entry_ids" if not entry_ids else "consumer_org_ids")
    for oid in consumer_org_ids:
        if session.get(Org, oid) is None:
            raise Invalid(f"机构 {oid} 不存在", f"Organisation {oid} does not exist", field="consumer_org_ids")
    e = Emergency(title=title[:200], scope=scope, entry_ids=entry_ids, consumer_org_ids=consumer_org_ids,
                  starts_at=start, ends_at=ends_at, declared_by=actor.user_id)
    session.add(e)
    session.flush()
    audit.record(session, actor=actor, action="sharing.emergency.declare", subject_type="share_emergency",
                 subject_id=e.id, after={"title": e.title, "entries": entry_ids, "consumers": consumer_org_ids,
                                         "ends_at": ends_at.isoformat()})
    days = max(1, (ends_at - start).days + 1)
    for entry_id in entry_ids:
        entry = catalog_entries.fetch(session, entry_id=entry_id)
        snapshot = catalog_entries.latest_version(session, entry_id=entry_id).snapshot
        names = [it["name"] for it in snapshot["items"]]
        for oid in consumer_org_ids:
            if oid == entry.org_id:
                continue
            requests.emergency_grant(session, actor=actor, emergency=e, consumer_org_id=oid, entry_id=entry_id,
                                     items=names, term_days=days)
    return e


def end(session: Session, *, actor: Actor, emergency_id: int, now: datetime | None = None) -> Emergency:
    """End the emergency: revoke its grants and ask each consumer to seal or destroy what it received."""
    if actor is not SYSTEM:
        require(actor, "sharing.emergency.manage")
    e = get(session, emergency_id=emergency_id)
    if e.status != "active":
        raise Conflict("应急事项已结束", "The emergency has already ended")
    e.status, e.ended_at = "ended", now or utcnow()
    for g in grants_of(session, emergency_id=e.id):
        if g.status in ("active", "awaiting_delivery", "suspended"):
            grants.terminate(session, actor=actor, grant=g, reason=f"应急状态结束：{e.title}")
    for p in packages_of(session, emergency_id=e.id):
        if p.destroyed_at is None:
            g = session.get(Grant, p.grant_id)
            tasks.open_task(session, actor=actor, kind="sharing.emergency_destroy",
                            title=f"确认应急期间交付的数据包 {p.id} 已封存或销毁（{e.title}）",
                            subject_type="share_package", subject_id=p.id, org_id=g.consumer_org_id,
                            workdays=DESTROY_WORKDAYS, role="dept_officer", basis="泸州市公共数据管理办法第二十条")
    audit.record(session, actor=actor, action="sharing.emergency.end", subject_type="share_emergency",
                 subject_id=e.id, detail={"grants": len(grants_of(session, emergency_id=e.id))})
    return e


def confirm_destroyed(session: Session, *, actor: Actor, package_id: int, note: str) -> ExchangePackage:
    p = session.get(ExchangePackage, package_id)
    if p is None:
        raise NotFound(f"数据包 {package_id} 不存在", f"Package {package_id} does not exist")
    g = session.get(Grant, p.grant_id)
    require(actor, "sharing.emergency.confirm", org_id=g.consumer_org_id)
    if p.destroyed_at is not None:
        raise Conflict("该数据包已确认封存或销毁", "This package is already confirmed sealed or destroyed")
    note = (note or "").strip()
    if not note:
        raise Invalid("请说明封存或销毁的方式和时间", "Say how and when the data was sealed or destroyed", field="note")
    p.status, p.destroyed_at, p.destroyed_note = "destroyed", utcnow(), note[:2000]
    tasks.close_tasks(session, actor=actor, kind="sharing.emergency_destroy", subject_type="share_package",
                      subject_id=p.id)
    audit.record(session, actor=actor, action="sharing.package.destroyed", subject_type="share_package",
                 subject_id=p.id, detail={"note": note[:200]})
    return p


def review(session: Session, *, actor: Actor, emergency_id: int, text: str) -> Emergency:
    """The authority's review after the emergency, once every delivered package is sealed or destroyed."""
    require(actor, "sharing.emergency.manage")
    e = get(session, emergency_id=emergency_id)
    if e.status != "ended":
        raise Conflict("应急事项结束后才能复盘", "An emergency is reviewed after it ends")
    open_packages = [p.id for p in packages_of(session, emergency_id=e.id) if p.destroyed_at is None]
    if open_packages:
        raise Conflict(f"仍有数据包未确认封存或销毁：{'、'.join(map(str, open_packages))}",
                       f"Packages not yet confirmed sealed or destroyed: {', '.join(map(str, open_packages))}")
    text = (text or "").strip()
    if not text:
        raise Invalid("请填写复盘意见", "The review text is required", field="text")
    e.status, e.review = "reviewed", text
    audit.record(session, actor=actor, action="sharing.emergency.review", subject_type="share_emergency",
                 subject_id=e.id, detail={"review_chars": len(text)})
    return e


def end_due(session: Session, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    due = session.scalars(select(Emergency).where(Emergency.status == "active", Emergency.ends_at <= now)).all()
    for e in due:
        end(session, actor=SYSTEM, emergency_id=e.id, now=now)
    return len(due)


@periodic("sharing.emergency_end", every=timedelta(minutes=10))
def _end_due(session: Session) -> None:
    end_due(session)


def requests_of(session: Session, *, emergency_id: int) -> list[ShareRequest]:
    return list(session.scalars(select(ShareRequest).where(ShareRequest.emergency_id == emergency_id)))
