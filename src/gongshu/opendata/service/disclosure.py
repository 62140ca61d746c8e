"""双公示 (R-OPN-9): administrative licensing and penalty decisions are published within 7 working days.

GD 四(一): "应将行政许可、行政处罚等信息自作出行政决定之日起7个工作日内上网公开". The authority flags an open
entry as a 双公示 dataset (:func:`flag`): its kind (行政许可 / 行政处罚) and the D-type data item holding each
row's decision date (决定日期).

**What is checked, per data version.** Every version loaded into a flagged entry is checked once, by the
periodic :func:`sweep` (ingest has no hook after a load; the sweep runs every few minutes and checks the
versions it has not seen) or again on demand (:func:`check_now`):

- the rows **first published in the version** are those whose key (the entry's key items; every item when it
  has none) is not in the version it was built on (``based_on``: the version serving when the load began; for
  the first version, every row). A load that re-sends old decisions does not re-date them; a corrected row
  (same key) is not a new publication. If the base version's data has expired, the version cannot be checked
  (``unverifiable``, with the reason) rather than guessed;
- the **lag** of a row is the number of working days after its decision day up to and including the day the
  version was loaded (its ``created_at`` in Beijing time: when it was published on the platform), counted on
  the platform's calendar (:func:`gongshu.tasks.service.calendar`: PRC holidays and adjusted working days,
  plus the authority's overrides). A decision of Wednesday 30 September 2026 published on Monday 12 October
  has a lag of 4 (National Day and the weekend do not count; Saturday 10 October, a working day, does);
- a row is **late** when its lag exceeds :data:`LIMIT_WORKDAYS`. Only working days count, so a publication on
  a day off right after the seventh working day is still in time;
- rows without a decision date, or with one after the publication, are counted apart (``rows_invalid``): a data
  error for the source to fix, neither late nor on time. A decision before the earliest year the calendar
  knows gets the working days from that year's first day (a lower bound: such rows are late anyway).

**For a million rows** (:func:`compute_lags`): DuckDB reads the new rows' keys and decision dates from the
Parquet snapshots (an anti-join with the base), Arrow gives numpy the dates as day numbers, and the working-day
index (:class:`WorkdayIndex`: the cumulative count of working days, built once per check for the days between
the earliest decision and the publication) turns each date into a count with one :func:`numpy.searchsorted`.
No Python loop per row; ``benchmarks/opendata_disclosure.py`` times it.

A late version opens an item in the source department's inbox (:data:`EXPLAIN_WORKDAYS`) to explain
(:func:`explain`); the authority's page shows it. The sample of late rows keeps their keys as the portal shows
them (:func:`masked_sample`: personal items masked). Every change is audited in its transaction.
"""
# SQL here is built only from validated column identifiers; paths are parameters:
# ruff: noqa: S608

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import SYSTEM, Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import CalendarUnknown, Conflict, Forbidden, Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.jobs.service import periodic
from gongshu.kit import forms
from gongshu.kit.workdays import WorkCalendar
from gongshu.opendata.models_disclosure import DISCLOSURE_KINDS, DisclosureCheck, DisclosureDataset
from gongshu.opendata.service import datasets
from gongshu.sharing.service import grants, projection
from gongshu.store.service import sql_ident
from gongshu.tasks import service as tasks

log = logging.getLogger(__name__)

declare("opendata.disclosure.flag", "标记或取消双公示数据集（行政许可、行政处罚）", "Flag or unflag 双公示 datasets "
        "(administrative licensing and penalty decisions)", AUTHORITY_ROLES)
declare("opendata.disclosure.check", "立即核验双公示数据集的公示时限", "Check the publication deadline of a 双公示 "
        "dataset now", AUTHORITY_ROLES)
declare("opendata.disclosure.explain", "说明本部门双公示数据逾期公示的原因", "Explain one's department's late 双公示 "
        "publications", {"dept_officer"}, scope="own_org")
declare("opendata.disclosure.view", "查看双公示公示时限核验结果", "See the 双公示 publication checks",
        {"dept_officer", "dept_staff", "auditor"} | AUTHORITY_ROLES, writes=False)

#: GD 四(一): decisions published online within 7 working days of the decision
LIMIT_WORKDAYS = 7
#: late rows kept per check (worst first)
SAMPLE_ROWS = 20
#: the source's time to explain a late publication (the platform's choice, like the other explanations it asks)
EXPLAIN_WORKDAYS = 5
TASK_KIND = "opendata.disclosure.explain"
SUBJECT = "open_disclosure_check"
BASIS = "双公示：行政许可、行政处罚信息自作出决定之日起 7 个工作日内公开（GD 四(一)，R-OPN-9）"
MAX_TEXT = 2000
_EPOCH = date(1970, 1, 1)
_INT_MAX = 2**31 - 1


def day_number(day: date) -> int:
    """Days since 1970-01-01: Arrow's date32."""
    return (day - _EPOCH).days


class WorkdayIndex:
    """The working days of a calendar over ``first``..``last``, as a cumulative count: :meth:`upto` gives, for
    day numbers, the working days from ``first`` up to and including each day (0 before ``first``), so the
    working days in (a, b] are ``upto(b) - upto(a)``. Built with one calendar call per day of the range."""

    def __init__(self, calendar: WorkCalendar, first: date, last: date) -> None:
        n = (last - first).days + 1
        flags = np.fromiter((calendar.is_workday(first + timedelta(days=i)) for i in range(n)), dtype=np.bool_,
                            count=n)
        self.first, self.last = first, last
        self.days = np.arange(day_number(first), day_number(first) + n, dtype=np.int64)
        self.cum = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(flags, dtype=np.int64)))

    def upto(self, day_numbers: np.ndarray) -> np.ndarray:
        return self.cum[np.searchsorted(self.days, day_numbers, side="right")]


def first_known_day(calendar: WorkCalendar, last: date) -> date:
    """The first day of the earliest year from which the calendar knows every year up to ``last``'s;
    :class:`CalendarUnknown` when it does not know ``last``'s year."""
    calendar.is_workday(last)  # raises for an unknown year, with the authority's instructions
    year = last.year
    while calendar.knows_year(year - 1):
        year -= 1
    return date(year, 1, 1)


@dataclass(frozen=True)
class Lags:
    rows_new: int
    rows_checked: int
    rows_invalid: int
    rows_late: int
    worst_lag: int | None
    #: [{"key": {label: value}, "decision_date": "YYYY-MM-DD", "lag": n}], worst first
    sample: list[dict]


def _json(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def compute_lags(con: duckdb.DuckDBPyConnection, *, new: Path, base: Path | None, keys: list[tuple[str, str]],
                 date_column: str, label: dict[str, str], published_on: date, calendar: WorkCalendar,
                 null_safe: bool = False) -> Lags:
    """Lags of the rows of snapshot ``new`` whose key is not in snapshot ``base`` (every row without a base).

    ``keys`` pairs each key column of ``new`` with its column in ``base``; ``null_safe`` compares them with
    ``IS NOT DISTINCT FROM`` (for entries without key items, where every item is compared); ``label`` names the
    columns for the sample."""
    own = [k for k, _ in keys]
    cols = list(dict.fromkeys([*own, date_column]))
    select_list = ", ".join(f"n.{sql_ident(c)} AS {sql_ident(c)}" for c in cols)
    if base is None:
        rel = con.sql(f"SELECT {select_list} FROM read_parquet(?) AS n", params=[str(new)])
    else:
        op = "IS NOT DISTINCT FROM" if null_safe else "="
        on = " AND ".join(f"n.{sql_ident(a)} {op} b.{sql_ident(b)}" for a, b in keys)
        rel = con.sql(f"SELECT {select_list} FROM read_parquet(?) AS n ANTI JOIN read_parquet(?) AS b ON {on}",
                      params=[str(new), str(base)])
    table = rel.to_arrow_table()
    rows_new = table.num_rows
    if rows_new == 0:
        return Lags(0, 0, 0, 0, None, [])
    dates = table.column(date_column)
    numbers = pc.fill_null(dates.cast(pa.int32()), 0).to_numpy().astype(np.int64)
    pub = day_number(published_on)
    usable = pc.is_valid(dates).to_numpy(zero_copy_only=False) & (numbers <= pub)
    checked = int(usable.sum())
    if checked == 0:
        return Lags(rows_new, 0, rows_new, 0, None, [])
    first = max(_EPOCH + timedelta(days=int(numbers[usable].min())), first_known_day(calendar, published_on))
    index = WorkdayIndex(calendar, first, published_on)
    lag = index.upto(np.array([pub]))[0] - index.upto(numbers)
    lag[~usable] = -1
    late = lag > LIMIT_WORKDAYS
    rows_late = int(late.sum())
    picked = np.flatnonzero(late)
    if picked.size > SAMPLE_ROWS:
        picked = picked[np.argpartition(-lag[picked], SAMPLE_ROWS - 1)[:SAMPLE_ROWS]]
    picked = picked[np.argsort(-lag[picked], kind="stable")]
    sample = []
    if picked.size:
        taken = table.take(pa.array(picked)).to_pylist()
        for row, i in zip(taken, picked, strict=True):
            sample.append({"key": {label.get(k, k): _json(row[k]) for k in own},
                           "decision_date": row[date_column].isoformat(), "lag": int(lag[i])})
    return Lags(rows_new, checked, rows_new - checked, rows_late, int(lag[usable].max()), sample)


# Flagging ------------------------------------------------------------------------------------------------

def _bounded(value: int, field: str, zh: str, en: str) -> int:
    if not isinstance(value, int) or not 0 < value <= _INT_MAX:
        raise NotFound(f"没有编号为 {value} 的{zh}", f"No {en} {value}", field=field)
    return value


def date_items(snapshot: dict) -> list[str]:
    """The D-type data items of a published snapshot, in order (the candidates for the decision date)."""
    return [it["name"] for it in sorted(snapshot["items"], key=lambda i: i["seq"]) if it["type"] == "D"]


def flag(session: Session, *, actor: Actor, entry_id: int, kind: str, date_item: str) -> DisclosureDataset:
    """Flag the open entry ``entry_id`` as a 双公示 dataset of ``kind`` whose decision date is ``date_item``
    (again, to change them, or after an unflagging)."""
    require(actor, "opendata.disclosure.flag")
    entry = catalog_entries.fetch(session, entry_id=_bounded(entry_id, "entry_id", "目录", "entry"))
    if not datasets.is_open(session, entry_id=entry.id):
        raise Conflict("只有已开放的目录才能标记为双公示数据集", "Only an open entry can be flagged as a 双公示 dataset",
                       field="entry_id")
    kind = forms.choice(kind, "kind", "公示类别", "The kind", DISCLOSURE_KINDS)
    candidates = date_items(catalog_entries.published_snapshot(session, entry_id=entry.id))
    if not candidates:
        raise Invalid("该目录没有日期型（D）信息项，无法核验公示时限",
                      "The entry has no date (D) item: the publication deadline cannot be checked", field="date_item")
    date_item = forms.choice(date_item, "date_item", "决定日期信息项", "The decision date item", candidates)
    row = session.scalar(select(DisclosureDataset).where(DisclosureDataset.entry_id == entry.id))
    before = None
    if row is None:
        row = DisclosureDataset(entry_id=entry.id, org_id=entry.org_id)
        session.add(row)
    else:
        if row.active and row.kind == kind and row.date_item == date_item:
            raise Conflict("该目录已按此标记为双公示数据集", "The entry is already flagged so", field="entry_id")
        before = {"kind": row.kind, "date_item": row.date_item, "active": row.active}
    row.kind, row.date_item, row.active, row.note = kind, date_item, True, ""
    row.org_id, row.flagged_by, row.flagged_at = entry.org_id, actor.user_id, utcnow()
    session.flush()
    audit.record(session, actor=actor, action="opendata.disclosure.flag", subject_type="open_disclosure",
                 subject_id=row.id, before=before,
                 after={"entry_id": entry.id, "kind": kind, "date_item": date_item, "active": True})
    return row


def get_dataset(session: Session, *, dataset_id: int) -> DisclosureDataset:
    row = session.get(DisclosureDataset, _bounded(dataset_id, "dataset_id", "双公示数据集", "双公示 dataset"))
    if row is None:
        raise NotFound(f"没有编号为 {dataset_id} 的双公示数据集", f"No 双公示 dataset {dataset_id}", field="dataset_id")
    return row


def unflag(session: Session, *, actor: Actor, dataset_id: int, reason: str) -> DisclosureDataset:
    """Stop tracking (reasons required); the checks made stay on record."""
    require(actor, "opendata.disclosure.flag")
    row = get_dataset(session, dataset_id=dataset_id)
    if not row.active:
        raise Conflict("该数据集已取消双公示标记", "The dataset is no longer flagged", field="dataset_id")
    row.active, row.note = False, forms.text(reason, "reason", "取消理由", "The reason", limit=MAX_TEXT)
    session.flush()
    audit.record(session, actor=actor, action="opendata.disclosure.unflag", subject_type="open_disclosure",
                 subject_id=row.id, before={"active": True}, after={"active": False}, detail={"reason": row.note[:200]})
    return row


# Checking ------------------------------------------------------------------------------------------------

def published_on(version: Any) -> date:
    """The day a version was published on the platform (loaded), in Beijing time."""
    return version.created_at.astimezone(tasks.CHINA).date()


class _Unverifiable(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def _inputs(dataset: DisclosureDataset, version: Any, by_id: dict[int, Any]) -> dict:
    """What :func:`compute_lags` needs for ``version``, or :class:`_Unverifiable` saying what is missing."""
    if version.status == "expired" or not snapshot_path(version).exists():
        raise _Unverifiable(f"第 {version.number} 版已超过保留期，数据已清除",
                            f"Version {version.number} is past retention: its data was removed")
    cols = {c["label"]: c for c in version.columns}
    dcol = cols.get(dataset.date_item)
    if dcol is None or dcol["type"] != "D":
        raise _Unverifiable(f"第 {version.number} 版没有日期型信息项“{dataset.date_item}”",
                            f"Version {version.number} has no date item '{dataset.date_item}'")
    keyed = [c for c in version.columns if c.get("key")]
    own = keyed or list(version.columns)
    base_path, pairs = None, [(c["name"], c["name"]) for c in own]
    if version.based_on_id is not None:
        base = by_id.get(version.based_on_id)
        if base is None or base.status == "expired" or not snapshot_path(base).exists():
            number = base.number if base is not None else "?"
            raise _Unverifiable(f"本版所依据的第 {number} 版数据已清除，无法判断哪些行是本版新公布的",
                                f"The data of version {number}, which this one was built on, was removed: the rows "
                                "first published in this version cannot be told")
        base_cols = {c["label"]: c for c in base.columns}
        match = [base_cols.get(c["label"]) for c in own]
        if any(m is None or m["type"] != c["type"] for m, c in zip(match, own, strict=True)):
            raise _Unverifiable("本版与所依据版本的信息项不同（目录已修订），无法逐行比较",
                                "This version and the one it was built on have different items (the entry was "
                                "revised): no row comparison")
        base_path, pairs = snapshot_path(base), [(c["name"], m["name"]) for c, m in zip(own, match, strict=True)]
    return {"new": snapshot_path(version), "base": base_path, "keys": pairs, "date_column": dcol["name"],
            "label": {c["name"]: c["label"] for c in version.columns}, "null_safe": not keyed}


def _measure(dataset: DisclosureDataset, version: Any, by_id: dict[int, Any], calendar: WorkCalendar) -> dict:
    try:
        inputs = _inputs(dataset, version, by_id)
        con = projection.connect()
        try:
            lags = compute_lags(con, published_on=published_on(version), calendar=calendar, **inputs)
        finally:
            con.close()
    except _Unverifiable as exc:
        return {"status": "unverifiable", "reason": exc.zh, "reason_en": exc.en}
    except CalendarUnknown as exc:
        return {"status": "unverifiable", "reason": exc.message, "reason_en": exc.message_en}
    return {"status": "late" if lags.rows_late else "ok", "rows_new": lags.rows_new, "rows_checked": lags.rows_checked,
            "rows_invalid": lags.rows_invalid, "rows_late": lags.rows_late, "worst_lag": lags.worst_lag,
            "sample": lags.sample, "reason": "", "reason_en": ""}


def masked_sample(sample: list[dict], snapshot: dict) -> list[dict]:
    """The sample's keys as the portal shows them: personal or graded items masked, items not opened masked too
    (a late row is named, never disclosed beyond the open data)."""
    public = {it["name"]: it for it in datasets.public_items(snapshot)}
    items = {it["name"]: it for it in snapshot["items"]}

    def shown(label: str, value: Any) -> Any:
        if label in public and not public[label]["masked"]:
            return value
        return grants.mask_value(label, value, items.get(label))

    return [{**s, "key": {k: shown(k, v) for k, v in s["key"].items()}} for s in sample]


_RESULT = ("status", "rows_new", "rows_checked", "rows_invalid", "rows_late", "worst_lag", "sample", "reason",
           "reason_en")


def check_version(session: Session, *, actor: Actor, dataset: DisclosureDataset, version: Any,
                  by_id: dict[int, Any], calendar: WorkCalendar) -> DisclosureCheck:
    """Check (or check again) one version; a late result opens the source's inbox item to explain, once.
    For callers that checked the permission (:func:`sweep`, :func:`check_now`)."""
    result = {"rows_new": 0, "rows_checked": 0, "rows_invalid": 0, "rows_late": 0, "worst_lag": None, "sample": [],
              **_measure(dataset, version, by_id, calendar)}
    if result["sample"]:
        result["sample"] = masked_sample(result["sample"],
                                         catalog_entries.published_snapshot(session, entry_id=dataset.entry_id))
    check = session.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == version.id))
    before = None
    if check is None:
        check = DisclosureCheck(dataset_id=dataset.id, entry_id=dataset.entry_id, org_id=dataset.org_id,
                                version_id=version.id, version_number=version.number)
        session.add(check)
    else:
        before = {"status": check.status, "rows_late": check.rows_late, "worst_lag": check.worst_lag}
    for k in _RESULT:
        setattr(check, k, result[k])
    check.published_on, check.checked_at = published_on(version), utcnow()
    session.flush()
    entry = catalog_entries.fetch(session, entry_id=dataset.entry_id)
    if check.status == "late":
        if not tasks.for_subject(session, subject_type=SUBJECT, subject_id=check.id):
            tasks.open_task(session, actor=actor, kind=TASK_KIND, subject_type=SUBJECT, subject_id=check.id,
                            title=f"双公示逾期说明：{entry.name} 第 {version.number} 版（{check.rows_late} 条逾期）",
                            org_id=check.org_id, workdays=EXPLAIN_WORKDAYS, basis=BASIS)
    else:
        tasks.close_tasks(session, actor=actor, kind=TASK_KIND, subject_type=SUBJECT, subject_id=check.id,
                          status="cancelled")
    audit.record(session, actor=actor, action="opendata.disclosure.check", subject_type=SUBJECT, subject_id=check.id,
                 before=before, after={k: result[k] for k in ("status", "rows_new", "rows_late", "worst_lag")},
                 detail={"entry_id": dataset.entry_id, "version": version.number, "reason": check.reason[:200]})
    return check


def _checked_ids(session: Session, dataset_id: int) -> set[int]:
    return set(session.scalars(select(DisclosureCheck.version_id).where(DisclosureCheck.dataset_id == dataset_id)))


def sweep(session: Session, *, actor: Actor = SYSTEM) -> int:
    """Check the versions of the flagged datasets not checked yet, oldest first; returns how many."""
    done = 0
    calendar = None
    for dataset in session.scalars(select(DisclosureDataset).where(DisclosureDataset.active.is_(True))
                                   .order_by(DisclosureDataset.id)):
        versions = ingest_versions.versions_of(session, entry_id=dataset.entry_id)
        seen = _checked_ids(session, dataset.id)
        todo = [v for v in reversed(versions) if v.id not in seen]
        if todo:
            calendar = calendar or tasks.calendar(session)
            by_id = {v.id: v for v in versions}
            for v in todo:
                check_version(session, actor=actor, dataset=dataset, version=v, by_id=by_id, calendar=calendar)
                done += 1
    return done


@periodic("opendata.disclosure.sweep", every=timedelta(minutes=5))
def _sweep(session: Session) -> None:
    sweep(session)


def check_now(session: Session, *, actor: Actor, dataset_id: int) -> list[DisclosureCheck]:
    """The authority checks every version of a flagged dataset now (again: e.g. after entering a year's
    calendar); versions whose data has expired keep their earlier result."""
    require(actor, "opendata.disclosure.check")
    dataset = get_dataset(session, dataset_id=dataset_id)
    if not dataset.active:
        raise Conflict("该数据集已取消双公示标记", "The dataset is no longer flagged", field="dataset_id")
    versions = ingest_versions.versions_of(session, entry_id=dataset.entry_id)
    if not versions:
        raise Conflict("该数据集尚未挂接数据", "The dataset has no data yet", field="dataset_id")
    seen = _checked_ids(session, dataset.id)
    by_id, calendar = {v.id: v for v in versions}, tasks.calendar(session)
    return [check_version(session, actor=actor, dataset=dataset, version=v, by_id=by_id, calendar=calendar)
            for v in reversed(versions) if not (v.id in seen and v.status == "expired")]


def explain(session: Session, *, actor: Actor, check_id: int, explanation: str) -> DisclosureCheck:
    """The source department explains a late publication; its inbox item is done."""
    check = session.get(DisclosureCheck, _bounded(check_id, "check_id", "核验记录", "check"))
    if check is None:
        raise NotFound(f"没有编号为 {check_id} 的核验记录", f"No check {check_id}", field="check_id")
    require(actor, "opendata.disclosure.explain", org_id=check.org_id)
    if check.status != "late":
        raise Conflict("只有逾期公示的版本需要说明", "Only a late publication needs an explanation", field="check_id")
    before = {"explanation": check.explanation}
    check.explanation = forms.text(explanation, "explanation", "逾期原因说明", "The explanation", limit=MAX_TEXT)
    check.explained_by, check.explained_at = actor.user_id, utcnow()
    session.flush()
    tasks.close_tasks(session, actor=actor, kind=TASK_KIND, subject_type=SUBJECT, subject_id=check.id)
    audit.record(session, actor=actor, action="opendata.disclosure.explain", subject_type=SUBJECT,
                 subject_id=check.id, before=before, after={"explanation": check.explanation})
    return check


# Reading -------------------------------------------------------------------------------------------------

def _sees_all(actor: Actor) -> bool:
    return actor.is_authority or "auditor" in actor.roles


def get_check(session: Session, *, actor: Actor, check_id: int) -> DisclosureCheck:
    require(actor, "opendata.disclosure.view")
    check = session.get(DisclosureCheck, _bounded(check_id, "check_id", "核验记录", "check"))
    if check is None:
        raise NotFound(f"没有编号为 {check_id} 的核验记录", f"No check {check_id}", field="check_id")
    if not _sees_all(actor) and check.org_id != actor.org_id:
        raise Forbidden("只能查看本部门的双公示核验结果", "Only your own department's checks can be seen")
    return check


@dataclass
class Overview:
    datasets: list[DisclosureDataset]
    checks: dict[int, list[DisclosureCheck]]  # dataset id → its checks, newest version first
    entries: dict[int, Any]
    #: org id → {"datasets", "versions", "late_versions", "late_rows", "worst_lag", "unexplained"}
    by_org: dict[int, dict]


def overview(session: Session, *, actor: Actor) -> Overview:
    """The flagged datasets the actor may see (the authority and auditors all, a department its own), each
    version's result, and the late publications per department."""
    require(actor, "opendata.disclosure.view")
    stmt = select(DisclosureDataset).order_by(DisclosureDataset.active.desc(), DisclosureDataset.id)
    checks_stmt = select(DisclosureCheck).order_by(DisclosureCheck.version_number.desc())
    if not _sees_all(actor):
        stmt = stmt.where(DisclosureDataset.org_id == actor.org_id)
        checks_stmt = checks_stmt.where(DisclosureCheck.org_id == actor.org_id)
    rows = list(session.scalars(stmt))
    checks: dict[int, list[DisclosureCheck]] = {r.id: [] for r in rows}
    for c in session.scalars(checks_stmt.where(DisclosureCheck.dataset_id.in_(list(checks)))) if rows else ():
        checks[c.dataset_id].append(c)
    by_org: dict[int, dict] = {}
    for r in rows:
        s = by_org.setdefault(r.org_id, {"datasets": 0, "versions": 0, "late_versions": 0, "late_rows": 0,
                                         "worst_lag": None, "unexplained": 0})
        s["datasets"] += 1
        for c in checks[r.id]:
            s["versions"] += 1
            if c.status == "late":
                s["late_versions"] += 1
                s["late_rows"] += c.rows_late
                s["unexplained"] += 0 if c.explanation else 1
                s["worst_lag"] = max(s["worst_lag"] or 0, c.worst_lag or 0)
    entries = catalog_entries.load_many(session, entry_ids=[r.entry_id for r in rows]) if rows else {}
    return Overview(rows, checks, entries, by_org)


def flaggable(session: Session, *, actor: Actor) -> list[tuple[Any, list[str]]]:
    """The open entries with date items not flagged yet, with those items (the authority's form)."""
    require(actor, "opendata.disclosure.flag")
    flagged = set(session.scalars(select(DisclosureDataset.entry_id).where(DisclosureDataset.active.is_(True))))
    ids = sorted(datasets.opened_ids(session) - flagged)
    if not ids:
        return []
    entries = catalog_entries.load_many(session, entry_ids=ids)
    out = []
    for e in sorted(entries.values(), key=lambda e: e.code):
        items = date_items(catalog_entries.published_snapshot(session, entry_id=e.id))
        if items:
            out.append((e, items))
    return out
