"""Grants (授权): the one place that decides whether a grant may be used, what it shows, and its life —
delivery, security agreement, revocation, expiry (R-SHR-3, R-SHR-6, R-SHR-9).

A grant fixes consumer, scenario, data items (each in clear or masked), row scope, mode and expiry. It is
created by an approval (:mod:`.requests`) as ``awaiting_delivery`` and becomes ``active`` once the entry
has a serving data version (挂接): at once, or by the periodic job below; its term runs from delivery.
Every data path (API, exchange, analysis, verification) calls :func:`usable` and then
:func:`granted_columns` / :func:`in_scope` / :func:`mask_value` — there is no second check.

The API's hot path calls :func:`usable_snapshot` and :func:`served` instead: the same decision
(:func:`_decide`) on a cached, immutable :class:`Snapshot` of the grant row, and its granted columns. Every
change of a grant row through the ORM (insert, update, delete — approval, delivery, revocation, expiry,
narrowing, in any module) drops the grant's cache entries when it is flushed and again when its
transaction commits (a generation number per grant, so an entry read before a change committed is never
stored), so this process refuses a revoked or expired grant at once; another process (a second API
worker, the CLI) acts on the old row for at most :data:`CACHE_SECONDS`. The expiry date is checked on
every call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, event, func, or_, select
from sqlalchemy.orm import Session, object_session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import SYSTEM, Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.jobs.service import periodic
from gongshu.kit.hashing import sm3_hex
from gongshu.kit.identifiers import mask_id_number, mask_mobile, mask_name
from gongshu.sharing.models import GRANT_STATUS, MODES, AccessEvent, Grant
from gongshu.store.service import Column
from gongshu.tasks import service as tasks

if TYPE_CHECKING:
    from gongshu.ingest.models import DataVersion

declare("sharing.view_all", "查看全市的共享申请、授权和访问记录", "See every share request, grant and access record",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("sharing.grant.view", "查看本部门作为使用方或数源方的授权", "See the grants where one's department is consumer or "
        "source", {"dept_officer", "dept_staff"}, scope="own_org", writes=False)
declare("sharing.grant.revoke", "撤销授权（数源部门或主管部门）", "Revoke a grant (source department or authority)",
        {"dept_officer", "authority_admin"})
declare("sharing.grant.agree", "签署共享数据安全协议（使用方）", "Sign the sharing security agreement (consumer)",
        {"dept_officer"}, scope="own_org")

#: grades served masked unless the source grants them in clear; CLEAR_NEVER never in clear
MASKED_GRADES = frozenset({"一般4", "重要", "核心"})
CLEAR_NEVER = frozenset({"核心"})
DELIVERY_WORKDAYS = 5
DELIVERY_BASIS = "东莞市公共数据管理办法第二十三条（答复后 5 个工作日内完成共享）"
#: the security agreement every grant carries (R-SHR-9), accepted by the consumer
AGREEMENT = ("数据使用方承诺：仅在授权的业务场景内使用共享数据，不得用于其他目的，不得向第三方提供或公开，不得跨境传输；"
             "落实数据安全保护责任，发生泄露立即报告数源部门和数据主管部门；授权到期或撤销后按要求删除或封存数据。")


def _forbidden(reason: str, zh: str, en: str) -> Forbidden:
    return Forbidden(zh, en, details=[{"reason": reason}])


def fetch(session: Session, *, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"授权 {grant_id} 不存在", f"Grant {grant_id} does not exist")
    return grant


def visible_to(actor: Actor) -> Select:
    """The grants an actor may see: all for the authority and auditors, else its org's as consumer or source."""
    stmt = select(Grant)
    if can(actor, "sharing.view_all"):
        return stmt
    require(actor, "sharing.grant.view", org_id=actor.org_id)
    return stmt.where(or_(Grant.consumer_org_id == actor.org_id, Grant.source_org_id == actor.org_id))


def get_grant(session: Session, *, actor: Actor, grant_id: int) -> Grant:
    grant = session.scalar(visible_to(actor).where(Grant.id == grant_id))
    if grant is None:
        raise NotFound(f"授权 {grant_id} 不存在或无权查看", f"Grant {grant_id} does not exist or is not yours to see")
    return grant


def list_grants(session: Session, *, actor: Actor, role: str = "all", status: str | None = None,
                limit: int = 200) -> list[Grant]:
    """``role``: consumer (the actor's org uses them), source (its data), all."""
    stmt = visible_to(actor)
    if role == "consumer":
        stmt = stmt.where(Grant.consumer_org_id == actor.org_id)
    elif role == "source":
        stmt = stmt.where(Grant.source_org_id == actor.org_id)
    if status:
        if status not in GRANT_STATUS:
            raise Invalid(f"状态“{status}”无效", f"Unknown status '{status}'", field="status")
        stmt = stmt.where(Grant.status == status)
    return list(session.scalars(stmt.order_by(Grant.id.desc()).limit(limit)))


# The one check ------------------------------------------------------------------------------------

def usable(session: Session, *, grant_id: int, consumer_org_id: int | None, mode: str,
           application_id: int | None = None, on: date | None = None) -> Grant:
    """The grant, if ``consumer_org_id`` (through ``application_id`` when the grant is bound to one) may use it
    in ``mode`` today; else :class:`Forbidden` whose ``details[0]["reason"]`` names why."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise _forbidden("no_grant", f"授权 {grant_id} 不存在", f"There is no grant {grant_id}")
    _decide(grant, consumer_org_id=consumer_org_id, mode=mode, application_id=application_id, on=on)
    return grant


_REFUSED_STATUS = {"awaiting_delivery": ("not_delivered", "数据尚未交付", "The data has not been delivered yet"),
                   "suspended": ("suspended", "授权已暂停", "The grant is suspended"),
                   "revoked": ("revoked", "授权已撤销", "The grant was revoked"),
                   "expired": ("expired", "授权已到期", "The grant has expired")}


def _decide(grant: Grant | Snapshot, *, consumer_org_id: int | None, mode: str, application_id: int | None,
            on: date | None) -> None:
    """The decision of :func:`usable` on a grant row or its snapshot: :class:`Forbidden` with the reason."""
    if consumer_org_id is None or grant.consumer_org_id != consumer_org_id:
        raise _forbidden("other_consumer", "该授权属于其他使用部门", "This grant belongs to another consumer")
    if grant.application_id is not None and application_id is not None and grant.application_id != application_id:
        raise _forbidden("other_application", "该授权限定由另一个应用系统使用", "This grant is bound to another application")
    if grant.mode != mode:
        raise _forbidden("wrong_mode", f"该授权的共享方式为{MODES[grant.mode][0]}，不能用于{MODES.get(mode, (mode,))[0]}",
                         f"This grant is for {MODES[grant.mode][1]}, not {MODES.get(mode, (mode, mode))[1]}")
    if grant.status in _REFUSED_STATUS:
        raise _forbidden(*_REFUSED_STATUS[grant.status])
    today = on or tasks.today()
    if grant.expires_on is not None and today > grant.expires_on:
        raise _forbidden("expired", f"授权已于 {grant.expires_on.isoformat()} 到期",
                         f"The grant expired on {grant.expires_on.isoformat()}")


# The cached check of the API's hot path ------------------------------------------------------------

#: how long another process may act on a grant row it read before the row changed (this process: never)
CACHE_SECONDS = 1.0
#: how long the granted columns (and the serving version) of a grant are reused: a newly attached version (or
#: a rollback to an older one) is served within this time; a change of the grant itself drops them at once
SERVED_SECONDS = 1.0


@dataclass(frozen=True)
class Snapshot:
    """A grant row as the data path reads it: no ORM object, so it can be cached and shared between threads.
    :func:`in_scope`, :func:`project` and :func:`granted_columns` take it in place of a :class:`Grant`."""

    id: int
    consumer_org_id: int
    source_org_id: int
    entry_id: int
    application_id: int | None
    mode: str
    status: str
    expires_on: date | None
    items: tuple[dict, ...]
    row_scope: dict[str, list]
    created_at: datetime | None


def snapshot_of(grant: Grant) -> Snapshot:
    return Snapshot(id=grant.id, consumer_org_id=grant.consumer_org_id, source_org_id=grant.source_org_id,
                    entry_id=grant.entry_id, application_id=grant.application_id, mode=grant.mode,
                    status=grant.status, expires_on=grant.expires_on,
                    items=tuple(dict(i) for i in grant.items or ()),
                    row_scope={k: list(v) for k, v in (grant.row_scope or {}).items()}, created_at=grant.created_at)


_cache_lock = threading.Lock()
_generation: dict[int, int] = {}  # grant id -> bumped by every change of its row
_snapshots: dict[int, tuple[float, Snapshot]] = {}  # grant id -> (read at, snapshot)
_served: dict[int, tuple[float, Snapshot | Grant, Served]] = {}  # grant id -> (read at, from, granted columns)
_CHANGED = "gongshu.sharing.grants_changed"


def forget(grant_id: int) -> None:
    """Drop what this process cached about a grant (called for every flushed and committed change of it)."""
    with _cache_lock:
        _generation[grant_id] = _generation.get(grant_id, 0) + 1
        _snapshots.pop(grant_id, None)
        _served.pop(grant_id, None)


def _after_commit(session: Session) -> None:
    for grant_id in session.info.pop(_CHANGED, ()):
        forget(grant_id)


@event.listens_for(Grant, "after_insert")
@event.listens_for(Grant, "after_update")
@event.listens_for(Grant, "after_delete")
def _grant_flushed(_mapper, _connection, target: Grant) -> None:
    """Any module's change of a grant row: forget it now (this process's later reads see the flushed row in
    its transaction, others' the committed one) and again when the transaction commits."""
    if target.id is None:
        return
    forget(target.id)
    session = object_session(target)
    if session is not None:
        changed = session.info.get(_CHANGED)
        if changed is None:
            changed = session.info[_CHANGED] = set()
            event.listen(session, "after_commit", _after_commit, once=True)
        changed.add(target.id)


def usable_snapshot(session: Session, *, grant_id: int, consumer_org_id: int | None, mode: str,
                    application_id: int | None = None, on: date | None = None) -> Snapshot:
    """:func:`usable`, deciding on a cached :class:`Snapshot` of the grant (read through ``session`` when this
    process has none, or an older one than :data:`CACHE_SECONDS`, or the grant changed since)."""
    hit = _snapshots.get(grant_id)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        snap = hit[1]
    else:
        generation = _generation.get(grant_id, 0)
        read_at = time.monotonic()
        grant = session.get(Grant, grant_id)
        if grant is None:
            raise _forbidden("no_grant", f"授权 {grant_id} 不存在", f"There is no grant {grant_id}")
        snap = snapshot_of(grant)
        with _cache_lock:
            if _generation.get(grant_id, 0) == generation:
                _snapshots[grant_id] = (read_at, snap)
    _decide(snap, consumer_org_id=consumer_org_id, mode=mode, application_id=application_id, on=on)
    return snap


def served(session: Session, grant: Grant | Snapshot, *, fresh: bool = False) -> Served:
    """:func:`granted_columns` of the grant, reused for at most :data:`SERVED_SECONDS`, only with the very
    snapshot it was computed from (so never after the grant changed); ``fresh``: read them again (the cached
    version's table is gone). The version row is detached from ``session`` so that it outlives it."""
    hit = None if fresh else _served.get(grant.id)
    if hit is not None and hit[1] is grant and time.monotonic() - hit[0] < SERVED_SECONDS:
        return hit[2]
    generation = _generation.get(grant.id, 0)
    read_at = time.monotonic()
    out = granted_columns(session, grant)
    session.expunge(out.version)
    with _cache_lock:
        if _generation.get(grant.id, 0) == generation:
            _served[grant.id] = (read_at, grant, out)
    return out


def item_names(grant: Grant | Snapshot) -> list[str]:
    return [i["name"] for i in grant.items]


def masked_names(grant: Grant | Snapshot) -> set[str]:
    return {i["name"] for i in grant.items if i.get("masked")}


@dataclass(frozen=True)
class Served:
    """What a grant serves from the entry's current data: the version, all its store columns (to read), the
    granted columns (to return), which of them are masked, and the key columns."""

    version: DataVersion
    columns: list[Column]
    granted: list[Column]
    masked: frozenset[str]
    keys: list[Column]
    items: dict[str, dict]


def granted_columns(session: Session, grant: Grant | Snapshot) -> Served:
    version = ingest_versions.current_version(session, entry_id=grant.entry_id)
    if version is None:
        raise _forbidden("not_delivered", "该目录尚未挂接数据", "The entry has no data loaded")
    columns = ingest_spec.columns_from_json(version.columns)
    names = set(item_names(grant))
    snapshot = catalog_entries.published_snapshot(session, entry_id=grant.entry_id)
    return Served(version=version, columns=columns, granted=[c for c in columns if c.label in names],
                  masked=frozenset(masked_names(grant)), keys=[c for c in columns if c.key],
                  items={it["name"]: it for it in snapshot["items"]})


def in_scope(grant: Grant | Snapshot, row: dict[str, Any]) -> bool:
    """Whether a row (by item label) lies in the grant's row scope: every scoped item's value is one of its
    allowed values (AND of ORs); no scope = every row."""
    for label, allowed in (grant.row_scope or {}).items():
        value = row.get(label)
        if value is None or str(value) not in {str(a) for a in allowed}:
            return False
    return True


def mask_value(label: str, value: Any, item: dict | None = None) -> Any:
    """A value as a masked grant serves it: ID-like numbers keep region and last 4, names the surname,
    mobiles the first 3 and last 4, anything else its first character."""
    if value is None:
        return None
    text = str(value)
    item = item or {}
    if item.get("is_identifier") or any(w in label for w in ("身份号码", "身份证", "证件号", "证号", "代码")):
        return mask_id_number(text)
    if "姓名" in label or label.endswith("人") or label.endswith("名称") and item.get("is_personal"):
        return mask_name(text)
    if any(w in label for w in ("电话", "手机", "联系方式")):
        return mask_mobile(text)
    if len(text) <= 1:
        return "*"
    return text[0] + "*" * min(len(text) - 1, 8)


def project(grant: Grant | Snapshot, served: Served, row: dict[str, Any]) -> dict[str, Any]:
    """One store row (by column name) as the consumer sees it: granted items only, by label, masked as granted."""
    out = {}
    for c in served.granted:
        value = row.get(c.name)
        out[c.label] = mask_value(c.label, value, served.items.get(c.label)) if c.label in served.masked else value
    return out


def default_items(snapshot: dict, names: list[str]) -> list[dict]:
    """Granted items with their default masking: grade 一般4/重要/核心 or the item not shared → masked."""
    by_name = {it["name"]: it for it in snapshot["items"]}
    return [{"name": n, "masked": _must_mask(by_name[n]) or by_name[n].get("grade") in MASKED_GRADES} for n in names]


def _must_mask(item: dict) -> bool:
    return item.get("sharing_type") == "不予共享" or item.get("grade") in CLEAR_NEVER


def check_clear(snapshot: dict, items: list[dict]) -> None:
    """Refuse to grant in clear an item that may only be shared masked."""
    by_name = {it["name"]: it for it in snapshot["items"]}
    bad = [i["name"] for i in items if not i.get("masked") and _must_mask(by_name[i["name"]])]
    if bad:
        raise Invalid(f"以下信息项只能脱敏共享（核心数据或不予共享的信息项）：{'、'.join(bad)}",
                      f"These items may only be shared masked (core data or items not shared): {', '.join(bad)}",
                      field="masked")


# Life of a grant --------------------------------------------------------------------------------------

def _state(g: Grant) -> dict:
    return {"status": g.status, "items": g.items, "row_scope": g.row_scope, "mode": g.mode,
            "expires_on": g.expires_on.isoformat() if g.expires_on else None}


def deliver(session: Session, *, actor: Actor, grant: Grant, on: date | None = None) -> bool:
    """Activate a grant awaiting delivery if its entry has data (True when it did); the term starts now."""
    if grant.status != "awaiting_delivery":
        return False
    if ingest_versions.current_version(session, entry_id=grant.entry_id) is None:
        return False
    before = _state(grant)
    today = on or tasks.today()
    grant.status, grant.delivered_at = "active", utcnow()
    grant.starts_on, grant.expires_on = today, today + timedelta(days=grant.term_days)
    tasks.close_tasks(session, actor=actor, kind="sharing.deliver", subject_type="share_grant", subject_id=grant.id)
    audit.record(session, actor=actor, action="sharing.grant.deliver", subject_type="share_grant", subject_id=grant.id,
                 before=before, after=_state(grant), detail={"expires_on": grant.expires_on.isoformat()})
    return True


@periodic("sharing.deliver_ready", every=timedelta(minutes=5))
def deliver_ready(session: Session) -> int:
    """Deliver the grants whose entries got their data since approval."""
    waiting = session.scalars(select(Grant).where(Grant.status == "awaiting_delivery")).all()
    return sum(deliver(session, actor=SYSTEM, grant=g) for g in waiting)


def revoke(session: Session, *, actor: Actor, grant_id: int, reason: str) -> Grant:
    grant = fetch(session, grant_id=grant_id)
    if not actor.is_authority:
        require(actor, "sharing.grant.revoke", org_id=grant.source_org_id)
        if actor.org_id != grant.source_org_id:
            raise Forbidden("只有数源部门或数据主管部门可以撤销授权", "Only the source department or the authority may revoke")
    else:
        require(actor, "sharing.grant.revoke")
    return terminate(session, actor=actor, grant=grant, reason=reason)


def terminate(session: Session, *, actor: Actor, grant: Grant, reason: str) -> Grant:
    """Revoke without a permission check, for transitions whose caller checked it (the end of an emergency)."""
    if grant.status in ("revoked", "expired"):
        raise Conflict(f"授权已{GRANT_STATUS[grant.status][0]}", f"The grant is already {grant.status}")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("撤销授权须说明理由", "A revocation needs a reason", field="reason")
    before = _state(grant)
    grant.status, grant.revoked_reason, grant.revoked_at = "revoked", reason[:2000], utcnow()
    tasks.close_tasks(session, actor=actor, kind="sharing.deliver", subject_type="share_grant", subject_id=grant.id,
                      status="cancelled")
    audit.record(session, actor=actor, action="sharing.grant.revoke", subject_type="share_grant", subject_id=grant.id,
                 before=before, after=_state(grant), detail={"reason": reason[:200]})
    return grant


def accept_agreement(session: Session, *, actor: Actor, grant_id: int) -> Grant:
    """The consumer signs the security agreement the grant carries (R-SHR-9)."""
    grant = fetch(session, grant_id=grant_id)
    require(actor, "sharing.grant.agree", org_id=grant.consumer_org_id)
    if grant.agreement_accepted_at is not None:
        raise Conflict("安全协议已签署", "The agreement is already signed")
    grant.agreement_accepted_by, grant.agreement_accepted_at = actor.user_id, utcnow()
    audit.record(session, actor=actor, action="sharing.grant.agree", subject_type="share_grant", subject_id=grant.id,
                 detail={"agreement_sm3": sm3_hex(grant.agreement.encode())})
    return grant


def expire(session: Session, *, on: date | None = None) -> int:
    """Mark active grants past their expiry as expired (each audited)."""
    today = on or tasks.today()
    due = session.scalars(select(Grant).where(Grant.status == "active", Grant.expires_on < today)).all()
    for g in due:
        before = _state(g)
        g.status = "expired"
        audit.record(session, actor=SYSTEM, action="sharing.grant.expire", subject_type="share_grant",
                     subject_id=g.id, before=before, after=_state(g))
    return len(due)


@periodic("sharing.expire", every=timedelta(hours=1))
def _expire(session: Session) -> None:
    expire(session)


def usage(session: Session, *, actor: Actor, source_org_id: int | None = None,
          consumer_org_id: int | None = None) -> list[dict]:
    """How consumers used a source's data (or how one consumer used what it was granted): calls, rows,
    denials, last call, per consumer and entry (R-SHR-6). The actor sees its own org's side, or everything
    with ``sharing.view_all``."""
    stmt = select(AccessEvent.consumer_org_id, AccessEvent.entry_id, func.count(), func.sum(AccessEvent.rows),
                  func.sum(case((AccessEvent.result != "ok", 1), else_=0)), func.max(AccessEvent.at))
    for org_id, column in ((source_org_id, AccessEvent.source_org_id), (consumer_org_id, AccessEvent.consumer_org_id)):
        if org_id is not None:
            if not can(actor, "sharing.view_all"):
                require(actor, "sharing.grant.view", org_id=org_id)
            stmt = stmt.where(column == org_id)
    if source_org_id is None and consumer_org_id is None:
        require(actor, "sharing.view_all")
    rows = session.execute(stmt.group_by(AccessEvent.consumer_org_id, AccessEvent.entry_id)).all()
    return [{"consumer_org_id": c, "entry_id": e, "calls": n, "rows": int(r or 0), "denied": int(d or 0), "last": last}
            for c, e, n, r, d, last in rows]
