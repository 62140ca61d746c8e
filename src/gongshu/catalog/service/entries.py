"""Catalogue entries (数据目录): working copies of entries and their data items, snapshots and diffs.

* The working copy is the ``catalog_entry`` row and its ``catalog_item`` rows; every approval
  (:mod:`gongshu.catalog.service.lifecycle`) freezes an :class:`EntryVersion` (snapshot + SM3
  digest). While an entry is being revised the public keeps seeing the last published version.
* Who: department data officers (``dept_officer``) and staff (``dept_staff``) of the providing
  department create and edit working copies of drafts, returned entries and revisions; the
  authority and auditors see every entry.
* The rules are in :mod:`gongshu.catalog.service.rules`. :func:`create_entries` and
  :func:`update_entries` save many entries at once (one shared rule context, bulk SQL, one audit
  append) and :func:`create_entry` / :func:`update_entry` are the same path for one entry.
* Field names in errors are ``items[i].field`` with ``i`` the 0-based position in ``EntryIn.items``;
  errors of the bulk functions also carry ``"entry"``, the 0-based position in the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Select, bindparam, delete, false, func, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import AUTHORITY_ROLES, GOV_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.models import (
    STATUS_ZH,
    CatalogEntry,
    DataElement,
    DataItem,
    EntryVersion,
    SourceConflict,
)
from gongshu.catalog.schemas import DataItemIn, EntryIn
from gongshu.catalog.service import elements, rules
from gongshu.catalog.service.rules import LABELS, Checked
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, GongshuError, Invalid, NotFound
from gongshu.kit.pagination import Page

DEPT_ROLES = {"dept_officer", "dept_staff"}
declare("catalog.entry.view", "查看本单位目录", "View own organisation's catalogue entries", GOV_ROLES,
        scope="own_org", writes=False)
declare("catalog.entry.view_all", "查看全市目录（含工作稿）", "View every catalogue entry incl. working copies",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("catalog.entry.edit", "编制和修改目录", "Compile and edit catalogue entries", DEPT_ROLES, scope="own_org")

EDITABLE = ("draft", "returned", "revising")
SUBJECT = "catalog_entry"
_CHUNK = 5000  # ids per IN (...) list

ENTRY_FIELDS = ("code", "resource_attr", "class_code", "topic", "name", "summary", "format", "sharing_type",
                "sharing_condition", "sharing_basis", "sharing_mode", "sharing_scope", "open_type",
                "open_condition", "update_cycle", "release_date", "legal_basis", "business", "source_system",
                "sharing_period", "collecting_org_id", "verifying_org_id", "related_codes", "grade",
                "filed_with_authority")
ITEM_FIELDS = ("name", "type", "length", "meaning", "is_identifier", "is_key", "is_personal", "grade",
               "sharing_type", "open_type", "claims_source")
_DIFF_SKIP = {"id", "org_id", "version", "published_at", "items", "collecting_org_id", "verifying_org_id",
              "org_uscc"}


def _chunks(values: Sequence, n: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


# Validation -----------------------------------------------------------------------------

def validate_entry(session: Session, *, actor: Actor, data: EntryIn, entry_id: int | None = None) -> list[dict]:
    """Every rule violation of a would-be entry, without writing anything.

    Each is ``{"field": "items[2].grade", "message": zh, "message_en": en}`` (0-based item index).
    """
    require(actor, "catalog.entry.edit")
    existing = fetch(session, entry_id=entry_id) if entry_id is not None else None
    return rules.check(session, data=data, existing=existing).errors


def validate_entries(session: Session, *, actor: Actor, data: Sequence[EntryIn],
                     entry_ids: Sequence[int | None] | None = None) -> list[list[dict]]:
    """:func:`validate_entry` for many would-be entries against one shared rule context: the i-th
    list holds the violations of ``data[i]`` (``entry_ids[i]``: the entry it would overwrite, or None)."""
    require(actor, "catalog.entry.edit")
    ids = list(entry_ids) if entry_ids is not None else [None] * len(data)
    if len(ids) != len(data):
        raise ValueError("data and entry_ids differ in length")
    found = _load(session, [i for i in ids if i is not None])
    existing = [found[i] if i is not None else None for i in ids]
    return [c.errors for c in rules.check_many(session, data=data, existing=existing)]


# Reading --------------------------------------------------------------------------------

#: facts other domains show next to entries (ingest: attached / fresh / late); each provider gives,
#: per entry id, badges as (zh, en, css class). Registered by those domains, read by catalogue pages.
BadgeProvider = Callable[[Session, Sequence[int]], dict[int, list[tuple[str, str, str]]]]
BADGE_PROVIDERS: list[BadgeProvider] = []


def badges(session: Session, *, entry_ids: Sequence[int]) -> dict[int, list[tuple[str, str, str]]]:
    out: dict[int, list[tuple[str, str, str]]] = {i: [] for i in entry_ids}
    for provider in BADGE_PROVIDERS:
        for entry_id, more in provider(session, list(entry_ids)).items():
            out.setdefault(entry_id, []).extend(more)
    return out


def fetch(session: Session, *, entry_id: int) -> CatalogEntry:
    """The entry, without a permission check (NotFound if there is none)."""
    entry = session.get(CatalogEntry, entry_id)
    if entry is None:
        raise NotFound(f"目录不存在（编号 {entry_id}）", f"Catalogue entry {entry_id} not found")
    return entry


def _load(session: Session, entry_ids: Sequence[int]) -> dict[int, CatalogEntry]:
    """Entries by id, a query per 5,000 (NotFound names the first missing one)."""
    found: dict[int, CatalogEntry] = {}
    wanted = list(dict.fromkeys(entry_ids))
    for part in _chunks(wanted):
        found.update((e.id, e) for e in session.scalars(select(CatalogEntry).where(CatalogEntry.id.in_(part))))
    for i in wanted:
        if i not in found:
            fetch(session, entry_id=i)
    return found


def visible_to(actor: Actor) -> Select:
    """Entries (working copies) an actor may list: their own org's; the authority and auditors all."""
    stmt = select(CatalogEntry)
    if can(actor, "catalog.entry.view_all"):
        return stmt
    if actor.org_id is not None and can(actor, "catalog.entry.view", org_id=actor.org_id):
        return stmt.where(CatalogEntry.org_id == actor.org_id)
    return stmt.where(false())


def get_entry(session: Session, *, actor: Actor, entry_id: int) -> CatalogEntry:
    entry = fetch(session, entry_id=entry_id)
    if not can(actor, "catalog.entry.view_all"):
        require(actor, "catalog.entry.view", org_id=entry.org_id)
    return entry


def list_entries(session: Session, *, actor: Actor, page: Page, status: str | None = None, q: str = "",
                 org_id: int | None = None) -> tuple[list[CatalogEntry], int]:
    stmt = visible_to(actor)
    if status:
        if status not in STATUS_ZH:
            raise Invalid(f"状态“{status}”无效，可选：{'、'.join(STATUS_ZH)}",
                          f"Unknown status '{status}' (one of {', '.join(STATUS_ZH)})", field="status")
        stmt = stmt.where(CatalogEntry.status == status)
    if org_id:
        stmt = stmt.where(CatalogEntry.org_id == org_id)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(CatalogEntry.name.like(like), CatalogEntry.code.like(like)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(CatalogEntry.updated_at.desc(), CatalogEntry.id.desc())
                           .offset(page.offset).limit(page.size)).all()
    return list(rows), total


def status_counts(session: Session, *, actor: Actor, org_id: int | None = None) -> dict[str, int]:
    sub = visible_to(actor)
    if org_id:
        sub = sub.where(CatalogEntry.org_id == org_id)
    sub = sub.subquery()
    return dict(session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())


def items_of(session: Session, *, entry_id: int) -> list[DataItem]:
    return list(session.scalars(select(DataItem).where(DataItem.entry_id == entry_id).order_by(DataItem.seq)))


def element_codes_of(session: Session, *, entry_id: int) -> dict[int, str]:
    """Data item id -> bound data element code."""
    rows = session.execute(select(DataItem.id, DataElement.code).join(DataElement, DataElement.id == DataItem.element_id)
                           .where(DataItem.entry_id == entry_id)).all()
    return dict(rows)


def published(session: Session) -> list[CatalogEntry]:
    """Every entry with a published version in force (published or being revised), by code."""
    return list(session.scalars(select(CatalogEntry).where(CatalogEntry.status.in_(("published", "revising")))
                                .order_by(CatalogEntry.code)))


def ids_where(*, statuses: Sequence[str], open_types: Sequence[str] | None = None,
              org_id: int | None = None) -> Select:
    """SELECT of the ids of entries in ``statuses`` (and, if given, with one of ``open_types``, of department
    ``org_id``): for other domains' queries over entries (the open data portal)."""
    stmt = select(CatalogEntry.id).where(CatalogEntry.status.in_(tuple(statuses)))
    if open_types is not None:
        stmt = stmt.where(CatalogEntry.open_type.in_(tuple(open_types)))
    if org_id is not None:
        stmt = stmt.where(CatalogEntry.org_id == org_id)
    return stmt


def newest(session: Session, *, within: Select, limit: int = 10) -> list[CatalogEntry]:
    """The most recently published of the entries whose ids ``within`` selects."""
    return list(session.scalars(select(CatalogEntry).where(CatalogEntry.id.in_(within))
                                .order_by(CatalogEntry.published_at.desc(), CatalogEntry.id.desc()).limit(limit)))


def load_many(session: Session, *, entry_ids: Sequence[int]) -> dict[int, CatalogEntry]:
    """Entries by id (:class:`NotFound` names the first missing one)."""
    return _load(session, entry_ids)


def find_by_code(session: Session, *, code: str) -> CatalogEntry | None:
    return session.scalar(select(CatalogEntry).where(CatalogEntry.code == code.strip()))



def entry_as_input(session: Session, *, entry: CatalogEntry) -> EntryIn:
    """The working copy in the shape a department submits (for the edit form and re-validation)."""
    codes = element_codes_of(session, entry_id=entry.id)
    orgs = {o.id: o.uscc for o in session.scalars(select(Org).where(
        Org.id.in_([i for i in (entry.collecting_org_id, entry.verifying_org_id) if i])))}
    items = [DataItemIn(name=it.name, type=it.type, length=it.length, meaning=it.meaning,
                        is_identifier=it.is_identifier, is_key=it.is_key, is_personal=it.is_personal, grade=it.grade,
                        sharing_type=it.sharing_type, open_type=it.open_type, element_code=codes.get(it.id),
                        claims_source=it.claims_source) for it in items_of(session, entry_id=entry.id)]
    return EntryIn(code=entry.code, resource_attr=entry.resource_attr, class_code=entry.class_code, topic=entry.topic,
                   name=entry.name, summary=entry.summary, format=entry.format, sharing_type=entry.sharing_type,
                   sharing_condition=entry.sharing_condition, sharing_basis=entry.sharing_basis,
                   sharing_mode=entry.sharing_mode, sharing_scope=entry.sharing_scope, open_type=entry.open_type,
                   open_condition=entry.open_condition, update_cycle=entry.update_cycle,
                   release_date=entry.release_date, legal_basis=entry.legal_basis, business=entry.business,
                   source_system=entry.source_system, sharing_period=entry.sharing_period,
                   collecting_org=orgs.get(entry.collecting_org_id), verifying_org=orgs.get(entry.verifying_org_id),
                   related_codes=list(entry.related_codes or []), grade=entry.grade, items=items)



# Snapshots and diffs ----------------------------------------------------------------------

def snapshots(session: Session, *, entries: Sequence[CatalogEntry]) -> dict[int, dict]:
    """Each entry as it would be published: every field, the items, and the provider's name and USCC
    (JSON-safe), by entry id; two queries per 5,000 entries."""
    if not entries:
        return {}
    org_ids = sorted({i for e in entries for i in (e.org_id, e.collecting_org_id, e.verifying_org_id) if i})
    orgs = {o.id: o for part in _chunks(org_ids) for o in session.scalars(select(Org).where(Org.id.in_(part)))}
    items: dict[int, list] = {e.id: [] for e in entries}
    columns = [DataItem.__table__.c[f] for f in (*ITEM_FIELDS, "id", "entry_id", "seq", "element_id")]
    for part in _chunks(list(items)):
        for it in session.execute(select(*columns, DataElement.code.label("element_code"))
                                  .outerjoin(DataElement, DataElement.id == DataItem.element_id)
                                  .where(DataItem.entry_id.in_(part)).order_by(DataItem.entry_id, DataItem.seq)):
            items[it.entry_id].append(it)
    out = {}
    for entry in entries:
        snap = {f: getattr(entry, f) for f in ENTRY_FIELDS}
        snap["release_date"] = entry.release_date.isoformat() if entry.release_date else None
        snap["related_codes"] = list(entry.related_codes or [])
        snap.update(id=entry.id, org_id=entry.org_id, org_name=orgs[entry.org_id].name,
                    org_uscc=orgs[entry.org_id].uscc,
                    collecting_org_name=orgs[entry.collecting_org_id].name if entry.collecting_org_id else None,
                    verifying_org_name=orgs[entry.verifying_org_id].name if entry.verifying_org_id else None)
        snap["items"] = [{**{f: getattr(it, f) for f in ITEM_FIELDS}, "seq": it.seq, "element_id": it.element_id,
                          "element_code": it.element_code} for it in items[entry.id]]
        out[entry.id] = snap
    return out


def snapshot(session: Session, *, entry: CatalogEntry) -> dict:
    """The entry as published: every field, the items, and the provider's name and USCC (JSON-safe)."""
    return snapshots(session, entries=[entry])[entry.id]


def working_snapshot(session: Session, *, actor: Actor, entry_id: int) -> dict:
    """The current working copy in snapshot shape (e.g. to diff a revision against the published version)."""
    return snapshot(session, entry=get_entry(session, actor=actor, entry_id=entry_id))


def published_snapshot(session: Session, *, entry_id: int, version: int | None = None) -> dict:
    """The snapshot of a published version (the latest when ``version`` is None)."""
    stmt = select(EntryVersion).where(EntryVersion.entry_id == entry_id)
    stmt = stmt.where(EntryVersion.version == version) if version is not None else \
        stmt.order_by(EntryVersion.version.desc()).limit(1)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"目录 {entry_id} 没有{'第 ' + str(version) + ' 版' if version else '已发布的版本'}",
                       f"Entry {entry_id} has no {'version ' + str(version) if version else 'published version'}")
    return row.snapshot


def latest_version(session: Session, *, entry_id: int) -> EntryVersion:
    """The latest published version (its number and snapshot); NotFound when there is none."""
    row = session.scalar(select(EntryVersion).where(EntryVersion.entry_id == entry_id)
                         .order_by(EntryVersion.version.desc()).limit(1))
    if row is None:
        raise NotFound(f"目录 {entry_id} 没有已发布的版本", f"Entry {entry_id} has no published version")
    return row


def history(session: Session, *, actor: Actor, entry_id: int) -> list[EntryVersion]:
    """Published versions, newest first."""
    get_entry(session, actor=actor, entry_id=entry_id)
    return list(session.scalars(select(EntryVersion).where(EntryVersion.entry_id == entry_id)
                                .order_by(EntryVersion.version.desc())))


def _label(f: str) -> tuple[str, str]:
    return LABELS.get(f, (f, f))


def diff_snapshots(old: dict, new: dict) -> dict:
    """Field-level and item-level differences between two snapshots."""
    fields = []
    for f in [k for k in new if k not in _DIFF_SKIP] + [k for k in old if k not in new and k not in _DIFF_SKIP]:
        if old.get(f) != new.get(f):
            zh, en = _label(f)
            fields.append({"field": f, "label": zh, "label_en": en, "before": old.get(f), "after": new.get(f)})
    old_items = {i["name"]: i for i in old.get("items", [])}
    new_items = {i["name"]: i for i in new.get("items", [])}
    changed = []
    for name, it in new_items.items():
        if name not in old_items:
            continue
        was = old_items[name]
        delta = [{"field": f, "label": _label(f)[0], "label_en": _label(f)[1], "before": was.get(f), "after": it.get(f)}
                 for f in (*ITEM_FIELDS, "element_code") if was.get(f) != it.get(f)]
        if delta:
            changed.append({"name": name, "fields": delta})
    return {"fields": fields,
            "items": {"added": [i for n, i in new_items.items() if n not in old_items],
                      "removed": [i for n, i in old_items.items() if n not in new_items],
                      "changed": changed}}


def diff(session: Session, *, actor: Actor, entry_id: int, from_version: int, to_version: int | None = None) -> dict:
    """Differences between two published versions; ``to_version=None`` compares with the working copy."""
    entry = get_entry(session, actor=actor, entry_id=entry_id)
    old = published_snapshot(session, entry_id=entry_id, version=from_version)
    new = published_snapshot(session, entry_id=entry_id, version=to_version) if to_version is not None \
        else snapshot(session, entry=entry)
    return {"entry_id": entry_id, "from_version": from_version, "to_version": to_version, **diff_snapshots(old, new)}



# Writing --------------------------------------------------------------------------------

_TEXT_FIELDS = ("resource_attr", "topic", "summary", "format", "sharing_type", "sharing_condition", "sharing_basis",
                "sharing_mode", "sharing_scope", "open_type", "open_condition", "update_cycle", "legal_basis",
                "business", "source_system", "sharing_period")


def _entry_values(data: EntryIn, checked: Checked) -> dict:
    """The columns an edit sets from the input."""
    values = {f: (v.strip() if isinstance(v := getattr(data, f), str) else v) for f in _TEXT_FIELDS}
    values.update(code=data.code.strip(), name=data.name.strip(), class_code=checked.class_code,
                  collecting_org_id=checked.collecting_org_id, verifying_org_id=checked.verifying_org_id,
                  related_codes=[c.strip() for c in data.related_codes if c.strip()], grade=checked.entry_grade)
    if data.release_date is not None:  # blank keeps the date set at first publication (approve defaults it)
        values["release_date"] = data.release_date
    return values


def _item_values(it: DataItemIn, seq: int, checked: Checked) -> dict:
    return dict(seq=seq, name=it.name.strip(), type=it.type, length=it.length, meaning=it.meaning,
                is_identifier=it.is_identifier, is_key=it.is_key, is_personal=it.is_personal,
                grade=checked.item_grades[seq - 1][0], sharing_type=it.sharing_type, open_type=it.open_type,
                element_id=checked.element_ids[seq - 1], claims_source=it.claims_source)


def _suggested(data: EntryIn, checked: Checked) -> dict:
    return {data.items[i].name.strip(): {"grade": g, "reasons": r}
            for i, (g, r) in enumerate(checked.item_grades) if data.items[i].grade is None}


def _claims_elsewhere(org_id: int, data: EntryIn, checked: Checked) -> bool:
    """Whether an item claims to be the source of an element another department is the source of."""
    return any(it.claims_source and checked.element_ids[i] is not None and checked.element_sources[i] != org_id
               for i, it in enumerate(data.items))


def _bind(session: Session, actor: Actor, entry: CatalogEntry, data: EntryIn) -> None:
    """Single-source claims and conflicts (the items' element ids are already written)."""
    elements.bind_items(session, actor=actor, entry=entry,
                        element_codes={it.name.strip(): (it.element_code or "").strip() or None for it in data.items})


def _raise_many(checked: Sequence[Checked]) -> None:
    details = [{"entry": i, **e} for i, c in enumerate(checked) for e in c.errors]
    if not details:
        return
    first, n = details[0], len({d["entry"] for d in details})
    raise Invalid(f"{n} 条目录共有 {len(details)} 处问题，未保存任何内容；第 {first['entry'] + 1} 条：{first['message']}",
                  f"{n} entries have {len(details)} problem(s); nothing was saved. Entry {first['entry'] + 1}: "
                  f"{first['message_en']}", field=first["field"], details=details)


def _require_department(actor: Actor) -> None:
    if actor.org_id is None:
        raise Forbidden("只有部门人员可以编制目录", "Only department staff compile catalogue entries")
    require(actor, "catalog.entry.edit", org_id=actor.org_id)


def _create(session: Session, actor: Actor, data: Sequence[EntryIn], checked: Sequence[Checked]) -> list[int]:
    """Insert checked entries: one insert for the entries, one for the items, one audit append."""
    now = utcnow()
    rows = [{"org_id": actor.org_id, "status": "draft", "version": 0, "filed_with_authority": False,
             "release_date": None, "created_at": now, "updated_at": now, **_entry_values(d, c)}
            for d, c in zip(data, checked, strict=True)]
    table = CatalogEntry.__table__
    session.flush()
    for part in _chunks(rows):
        # a plain executemany, then the ids by code (unique): with PostgreSQL this is several times
        # faster than multi-row INSERT … RETURNING, whose huge statements the driver re-parses
        session.execute(insert(table), part)
    ids: dict[str, int] = {}
    codes = [r["code"] for r in rows]
    for part in _chunks(codes):
        ids.update(session.execute(select(table.c.code, table.c.id).where(table.c.code.in_(part))).all())
    entry_ids = [ids[code] for code in codes]
    items = [{"entry_id": eid, **_item_values(it, n, c)}
             for eid, d, c in zip(entry_ids, data, checked, strict=True) for n, it in enumerate(d.items, start=1)]
    for part in _chunks(items):
        session.execute(insert(DataItem.__table__), part)
    for eid, d, c in zip(entry_ids, data, checked, strict=True):
        if _claims_elsewhere(actor.org_id, d, c):  # otherwise there is no claim to record
            _bind(session, actor, fetch(session, entry_id=eid), d)
    events = []
    for eid, row, d, c in zip(entry_ids, rows, data, checked, strict=True):
        state = {f: row[f] for f in ENTRY_FIELDS} | {
            "items": [{**_item_values(it, n, c), "element_code": (it.element_code or "").strip() or None}
                      for n, it in enumerate(d.items, start=1)]}
        events.append(audit_service.Event("catalog.entry.create", SUBJECT, eid, after=state,
                                          detail={"code": row["code"], "name": row["name"],
                                                  "suggested_grades": _suggested(d, c)}))
    audit_service.record_many(session, actor=actor, events=events)
    return entry_ids


def create_entry(session: Session, *, actor: Actor, data: EntryIn) -> CatalogEntry:
    """A new draft entry of the actor's department (raises Invalid with every problem in ``details``)."""
    _require_department(actor)
    checked = rules.check(session, data=data, existing=None)
    rules.raise_if(checked)
    (entry_id,) = _create(session, actor, [data], [checked])
    return fetch(session, entry_id=entry_id)


def create_entries(session: Session, *, actor: Actor, data: Sequence[EntryIn]) -> list[int]:
    """Many new draft entries of the actor's department at once, all or nothing; returns their ids in
    the order given.  The same rules as :func:`create_entry`; Invalid's ``details`` name the entry
    (``"entry"``: 0-based position in ``data``) and the field of every problem."""
    _require_department(actor)
    if not data:
        return []
    checked = rules.check_many(session, data=data, existing=[None] * len(data))
    _raise_many(checked)
    return _create(session, actor, data, checked)


def _check_editable(actor: Actor, entry: CatalogEntry, action: str) -> None:
    require(actor, action, org_id=entry.org_id)
    if entry.status not in EDITABLE:
        status = STATUS_ZH.get(entry.status, entry.status)
        raise Conflict(f"目录当前状态为“{status}”，只有草稿、已退回或修订中的目录可以修改或提交"
                       "（已发布的目录请先发起修订）",
                       f"The entry is {entry.status}; only drafts, returned entries and revisions can be edited or "
                       "submitted (start a revision of a published entry first)")


def editable_entry(session: Session, *, actor: Actor, entry_id: int, action: str) -> CatalogEntry:
    """The entry, if ``actor`` may do ``action`` on it and its status lets it be edited (Conflict if not)."""
    entry = fetch(session, entry_id=entry_id)
    _check_editable(actor, entry, action)
    return entry


def _forget_items(session: Session, entry_ids: set[int], deleted: set[int]) -> None:
    """Items changed with bulk SQL: drop or expire their copies in the session so nobody reads stale values."""
    for obj in list(session.identity_map.values()):
        if not isinstance(obj, DataItem):
            continue
        state = inspect(obj)
        if state.identity is not None and state.identity[0] in deleted:
            session.expunge(obj)
        elif state.dict.get("entry_id") in entry_ids:
            session.expire(obj)


def _write_items(session: Session, entries: Sequence[CatalogEntry], data: Sequence[EntryIn],
                 checked: Sequence[Checked]) -> None:
    """Replace the entries' items by name: removed ones deleted, kept ones updated, new ones inserted."""
    table = DataItem.__table__
    ids = [e.id for e in entries]
    current: dict[int, dict[str, int]] = {i: {} for i in ids}
    for part in _chunks(ids):
        for item_id, entry_id, name in session.execute(select(table.c.id, table.c.entry_id, table.c.name)
                                                       .where(table.c.entry_id.in_(part))):
            current[entry_id][name] = item_id
    deleted: list[int] = []
    changed: list[dict] = []
    added: list[dict] = []
    for e, d, c in zip(entries, data, checked, strict=True):
        wanted = {it.name.strip() for it in d.items}
        deleted += [item_id for name, item_id in current[e.id].items() if name not in wanted]
        for n, it in enumerate(d.items, start=1):
            values = _item_values(it, n, c)
            item_id = current[e.id].get(values["name"])
            if item_id is None:
                added.append({"entry_id": e.id, **values})
            else:
                changed.append({"item_id": item_id, **values})
    for part in _chunks(deleted):
        session.execute(delete(table).where(table.c.id.in_(part)))
    for part in _chunks(changed):
        session.execute(update(table).where(table.c.id == bindparam("item_id")), part)
    for part in _chunks(added):
        session.execute(insert(table), part)
    _forget_items(session, set(ids), set(deleted))


def _update(session: Session, actor: Actor, entries: Sequence[CatalogEntry], data: Sequence[EntryIn],
            checked: Sequence[Checked]) -> None:
    before = snapshots(session, entries=entries)
    now = utcnow()
    for entry, d, c in zip(entries, data, checked, strict=True):
        for k, v in _entry_values(d, c).items():
            setattr(entry, k, v)
        if entry.sharing_type != "不予共享":
            entry.filed_with_authority = False
        entry.updated_at = now
    session.flush()
    _write_items(session, entries, data, checked)
    ids = [e.id for e in entries]
    disputed: set[int] = set()
    for part in _chunks(ids):
        disputed.update(session.scalars(select(SourceConflict.claimant_entry_id).where(
            SourceConflict.claimant_entry_id.in_(part), SourceConflict.status == "open")))
    for entry, d, c in zip(entries, data, checked, strict=True):
        if entry.id in disputed or _claims_elsewhere(entry.org_id, d, c):  # otherwise nothing to open or withdraw
            _bind(session, actor, entry, d)
    after = snapshots(session, entries=entries)
    events = []
    for entry, d, c in zip(entries, data, checked, strict=True):
        changes = diff_snapshots(before[entry.id], after[entry.id])
        events.append(audit_service.Event(
            "catalog.entry.update", SUBJECT, entry.id, before=before[entry.id], after=after[entry.id],
            detail={"fields": [x["field"] for x in changes["fields"]],
                    "items_added": [i["name"] for i in changes["items"]["added"]],
                    "items_removed": [i["name"] for i in changes["items"]["removed"]],
                    "items_changed": [i["name"] for i in changes["items"]["changed"]],
                    "suggested_grades": _suggested(d, c)}))
    audit_service.record_many(session, actor=actor, events=events)


def update_entry(session: Session, *, actor: Actor, entry_id: int, data: EntryIn) -> CatalogEntry:
    """Overwrite a draft, returned entry or revision (raises Invalid with every problem in ``details``)."""
    entry = editable_entry(session, actor=actor, entry_id=entry_id, action="catalog.entry.edit")
    checked = rules.check(session, data=data, existing=entry)
    rules.raise_if(checked)
    _update(session, actor, [entry], [data], [checked])
    return entry


def update_entries(session: Session, *, actor: Actor, entry_ids: Sequence[int],
                   data: Sequence[EntryIn]) -> list[int]:
    """Overwrite many working copies at once (``data[i]`` replaces entry ``entry_ids[i]``), all or nothing.

    The same permissions and rules as :func:`update_entry`; every error's ``details`` name the entry
    (``"entry"``: 0-based position in the batch)."""
    if len(entry_ids) != len(data):
        raise ValueError("entry_ids and data differ in length")
    if len(set(entry_ids)) != len(entry_ids):
        raise Invalid("同一目录在一批修改中出现了多次", "An entry appears more than once in the batch",
                      field="entry_ids")
    if not data:
        return []
    found = _load(session, entry_ids)
    entries = [found[i] for i in entry_ids]
    for n, entry in enumerate(entries):
        try:
            _check_editable(actor, entry, "catalog.entry.edit")
        except GongshuError as exc:
            exc.details = [{"entry": n, "field": "code", "message": exc.message, "message_en": exc.message_en}]
            raise
    checked = rules.check_many(session, data=data, existing=entries)
    _raise_many(checked)
    _update(session, actor, entries, data, checked)
    return list(entry_ids)
