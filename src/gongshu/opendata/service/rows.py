"""What the public receives of an open dataset's rows (R-OPN-2, R-OPN-7, R-OPN-8): the preview, the row query
API and the downloads — of 无条件开放 data only (:func:`.datasets.require_unconditional`: 有条件开放 data goes to
approved applicants, never anonymously).

- :func:`preview` — the first rows of the current version, in key order (the store's keyset query).
- :func:`page` — equality filters on public, unmasked items, keyset pages of at most :data:`PAGE_MAX` rows with
  an opaque cursor (``next``: the position sealed with SM4-GCM, bound to the dataset and the data version). A
  filter on a masked item is refused: answering "which rows have this hidden value" would reveal it.
- :func:`download` — what a streamed download of a version needs (:mod:`.formats` writes it): the DuckDB
  SELECT over the version's Parquet snapshot (:func:`gongshu.sharing.service.projection.select_sql`: the public
  items by label, masked ones masked in SQL — the same masking as the preview and the API), the file name and
  the attribution.

All of them serve :attr:`.datasets.Dataset.items` only, masked by the one masking of the platform.

**The access log** (R-OPN-7): every call, served or refused, is an access event of the sharing evidence
(:mod:`gongshu.sharing.service.evidence`: sealed batches, verifiable) with operation ``open_preview`` /
``open_rows`` / ``open_download``, no consumer department, the dataset's department as source, the entry,
the caller (:class:`Caller`: 公众 for the anonymous public), purpose ``open``, the items and the rows served;
``reason`` says the version, format or filters (a refusal: why). The ``serve_*`` functions return an
:class:`Outcome` — the answer or the error, and its events; the edge records the events once its database
transaction has ended, then answers (as :func:`gongshu.sharing.service.access.finish` does). No key digests
are recorded: the data is public and masked, and a download is the whole version.

**Accounts** for the public API (keys, rate limits) are not built yet: :class:`Caller` is the seam — the edge
will give the account it authenticated, and its name becomes the event's end user.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from gongshu.crypto import sm4
from gongshu.errors import Conflict, Forbidden, GongshuError, Invalid, NotFound, Unauthenticated
from gongshu.kit.identifiers import mask_id_number, mask_mobile, mask_name
from gongshu.opendata.service import accounts, applications, datasets, formats
from gongshu.sharing.service import evidence, grants, projection
from gongshu.store import registry
from gongshu.store import service as store_service

PREVIEW_ROWS = 20
PREVIEW_MAX = 100
PAGE_ROWS = 100
PAGE_MAX = 500
#: query parameters of the row API that are not filters (``lang`` is the interface language)
RESERVED = ("after", "limit", "lang")
CURSOR_PURPOSE = "opendata.rows-cursor"
PUBLIC = "公众"
PURPOSE = "open"
MAX_FILTER_TEXT = 200
MAX_CURSOR = 2000

_TYPE_WORDS = {"N": ("数值", "a number"), "B": ("数值", "a number"), "F": ("数值", "a number"),
               "I": ("整数", "a whole number"), "Y": ("金额（至多两位小数）", "an amount (at most 2 decimals)"),
               "D": ("日期（YYYY-MM-DD）", "a date (YYYY-MM-DD)"),
               "T": ("日期时间（YYYY-MM-DD HH:MM:SS）", "a date and time (YYYY-MM-DD HH:MM:SS)"),
               "L": ("是/否（1/0、true/false）", "yes/no (1/0, true/false)")}


@dataclass(frozen=True)
class Caller:
    """Who reads: the anonymous public (:data:`PUBLIC`), or a portal account — by its API key (``key``, scoped and
    rate-limited) or its signed-in session (``session_token``: the portal's pages and downloads). :func:`_serve`
    resolves them (:func:`identify`) in the call's own unit of work; the access log names the account."""

    account: Any = None
    end_user: str = PUBLIC
    key: str = ""
    session_token: str = ""
    started: float = field(default_factory=time.perf_counter)


#: the API key scope each operation needs
SCOPES = {"open_preview": "rows", "open_rows": "rows", "open_download": "download"}
#: the delivery an application must allow for each operation on conditionally open data (None: any)
DELIVERIES = {"open_preview": None, "open_rows": "api", "open_download": "download"}


def identify(session: Session, caller: Caller, operation: str) -> Caller:
    """The caller with its account resolved: by API key (the key's scope and rate limit checked; a bad key is
    refused, never served as the anonymous public) or by the portal session (an expired session is the public)."""
    if caller.key:
        account = accounts.key_account(session, key=caller.key, scope=SCOPES[operation], touch=False)
        return replace(caller, account=account, end_user=f"open:{account.username}")
    if caller.session_token:
        found = accounts.session_account(session, token=caller.session_token)
        if found is not None:
            return replace(caller, account=found[0], end_user=f"open:{found[0].username}")
    return caller


def may_read(session: Session, dataset: datasets.Dataset, caller: Caller | None, operation: str) -> None:
    """无条件开放 data: anyone. 有条件开放 data: only an account with an active application that allows this
    delivery (:func:`.applications.active_for`); everyone else is refused as :func:`.datasets.require_unconditional`
    says."""
    if not dataset.conditional:
        return
    account_id = getattr(caller.account, "id", None) if caller is not None else None
    if applications.active_for(session, account_id=account_id, entry_id=dataset.entry.id,
                               delivery=DELIVERIES[operation]) is None:
        datasets.require_unconditional(dataset)


@dataclass
class Outcome:
    """What a call produced: the answer (``body``) or the ``error``, and the access events to record first."""

    events: list[evidence.Access]
    body: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Download:
    """A download ready to stream: the SELECT (masked, public items by label), its format and what the response
    says about it (file names, attribution, licence)."""

    sql: str
    fmt: str
    labels: tuple[str, ...]
    rows: int
    version: int
    filename: str  # e.g. 户籍人口基本信息-v2.csv (UTF-8, for filename*)
    ascii_filename: str  # e.g. 101001-00001-v2.csv
    attribution: str
    licence_url: str
    sheet: str  # the XLSX sheet's name


# What a dataset serves now, cached -----------------------------------------------------------------------

#: how long this process reuses what it resolved of a dataset for the public paths (open? its published items,
#: its serving version): a change of those rows flushed in this process drops everything at once (and again at
#: its commit); another process's change is served within this time
CACHE_SECONDS = 1.0
#: the tables whose rows decide what a dataset serves (catalogue entry and its published versions, data
#: versions and the serving pointer, opening reviews)
WATCHED_TABLES = frozenset({"catalog_entry", "catalog_entry_version", "ingest_version", "ingest_entry_data",
                            "open_review"})
_lock = threading.Lock()
_generation = 0
_resolved: dict[str, tuple[float, datasets.Dataset, grants.Served | None]] = {}
_CHANGED = "gongshu.opendata.rows_changed"


def forget() -> None:
    """Drop everything cached (called for every flushed and committed change of a watched table)."""
    global _generation
    with _lock:
        _generation += 1
        _resolved.clear()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if getattr(type(obj), "__tablename__", None) in WATCHED_TABLES:
            forget()
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget()


def resolve(session: Session, *, ref: Any) -> tuple[datasets.Dataset, grants.Served | None]:
    """:func:`.datasets.get` of ``ref`` and what its current version serves (None before the first load, or
    when the dataset is 有条件开放), reused for :data:`CACHE_SECONDS`. The rows read are detached from
    ``session`` so that they outlive it: give a session of the call's own."""
    key = str(ref).strip()
    hit = _resolved.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1], hit[2]
    generation = _generation
    dataset = datasets.get(session, ref=ref)
    served = None
    if not dataset.conditional and dataset.version is not None:
        served = datasets.served(session, dataset=dataset)
    for obj in {id(o): o for o in (dataset.entry, dataset.review, dataset.version,
                                   served.version if served else None) if o is not None}.values():
        if obj in session:
            session.expunge(obj)
    with _lock:
        if generation == _generation:
            _resolved[key] = (now, dataset, served)
    return dataset, served


# Reading ----------------------------------------------------------------------------------------------------

def _head(dataset: datasets.Dataset, served: grants.Served) -> dict[str, Any]:
    labels = [c.label for c in served.granted]
    return {"dataset": datasets.slug(dataset.entry.code), "name": dataset.snapshot["name"],
            "version": served.version.number, "items": labels,
            "masked": [label for label in labels if label in served.masked],
            "attribution": datasets.attribution(dataset)}


def plain(value: Any) -> Any:
    """A store value as JSON gives it: numbers as numbers (amounts too), dates and times as ISO text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _read(served: grants.Served, filters: Mapping[str, Any], after: list | None, limit: int) -> tuple[list, list | None]:
    """One keyset page of the store, as the public receives it: public items by label, masked, JSON values."""
    wanted = [c for c in served.columns if c.key or c in served.granted]
    found, nxt = registry.get_store().query(served.version.table_name, wanted, filters=filters or None, after=after,
                                            limit=limit)
    columns = []
    for c in served.granted:
        values = [r[c.name] for r in found]
        if c.label in served.masked:
            item = served.items.get(c.label) or {}
            mask = _masker(c.label, bool(item.get("is_identifier")), bool(item.get("is_personal")))
            values = [None if v is None else mask(v) for v in values]
        elif c.type not in ("C", "M"):
            values = [plain(v) for v in values]
        columns.append(values)
    labels = [c.label for c in served.granted]
    return [dict(zip(labels, values, strict=True)) for values in zip(*columns, strict=True)], nxt


_PROBE = "ABCDEFGHIJK"  # 11 characters: the kit's masks give four different results


@functools.lru_cache(maxsize=1024)
def _masker(label: str, is_identifier: bool, is_personal: bool) -> Callable[[Any], Any]:
    """``grants.mask_value`` for one item (what it depends on: the label and these two flags), as the kit's mask
    it picks — told apart by its output on a probe — so each value skips the choosing."""
    item = {"is_identifier": is_identifier, "is_personal": is_personal}
    out = grants.mask_value(label, _PROBE, item)
    for fn in (mask_id_number, mask_name, mask_mobile):
        if fn(_PROBE) == out:
            return lambda v, fn=fn: fn(str(v))
    return lambda v: grants.mask_value(label, v, item)


def _limit(value: Any, *, default: int, most: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if not 1 <= n <= most:
        raise Invalid(f"行数（limit）应为 1 到 {most} 之间的整数（收到“{str(value)[:20]}”）",
                      f"limit must be a whole number from 1 to {most} (got '{str(value)[:20]}')", field="limit",
                      details=[{"reason": "bad_limit"}])
    return n


def preview(session: Session, *, dataset: datasets.Dataset, limit: Any = PREVIEW_ROWS,
            served: grants.Served | None = None, caller: Caller | None = None) -> dict[str, Any]:
    """The first ``limit`` rows (at most :data:`PREVIEW_MAX`) of the current version, in key order (``served``:
    what that version serves, when known already)."""
    may_read(session, dataset, caller, "open_preview")
    n = _limit(limit, default=PREVIEW_ROWS, most=PREVIEW_MAX)
    served = served or datasets.served(session, dataset=dataset)
    rows, _ = _read(served, {}, None, n)
    return {**_head(dataset, served), "rows": rows}


def _filters(served: grants.Served, filters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Equality filters by item label → (by store column name, by label as given). Only public, unmasked
    items; each once; values of the item's type."""
    public = {c.label: c for c in served.granted}
    by_column: dict[str, Any] = {}
    shown: dict[str, str] = {}
    for raw_label, raw in filters.items():
        label = str(raw_label).strip()
        if label in served.masked:
            raise Invalid(f"不能按脱敏信息项“{label}”筛选：按被隐藏的原值筛选会泄露它",
                          f"Cannot filter on the masked item '{label}': filtering on hidden values would reveal them",
                          field=label, details=[{"reason": "masked_item", "item": label}])
        column = public.get(label)
        if column is None:
            allowed = [c.label for c in served.granted if c.label not in served.masked]
            raise Invalid(f"没有名为“{label}”的公开信息项，不能按它筛选（可筛选：{'、'.join(allowed) or '无'}）",
                          f"No public data item named '{label}' to filter on (filterable: "
                          f"{', '.join(allowed) or 'none'})", field=label,
                          details=[{"reason": "unknown_item", "item": label}])
        values = raw if isinstance(raw, list | tuple) else [raw]
        if len(values) != 1:
            raise Invalid(f"信息项“{label}”只能给出一个筛选值（只支持等值筛选）",
                          f"Give one value for '{label}' (equality filters only)", field=label,
                          details=[{"reason": "repeated_filter", "item": label}])
        value = values[0]
        text = "" if value is None else str(value)
        if len(text) > MAX_FILTER_TEXT or any(ord(ch) < 32 for ch in text):
            raise Invalid(f"“{label}”的筛选值过长（至多 {MAX_FILTER_TEXT} 个字符）或含控制字符",
                          f"The value for '{label}' is too long (at most {MAX_FILTER_TEXT} characters) or has control "
                          "characters", field=label, details=[{"reason": "bad_value", "item": label}])
        try:
            by_column[column.name] = store_service.to_db(registry.get_store().dialect, column, text)
        except Invalid:
            zh, en = _TYPE_WORDS.get(column.type, ("有效值", "a valid value"))
            raise Invalid(f"“{label}”的筛选值“{text}”不是{zh}", f"The value '{text}' for '{label}' is not {en}",
                          field=label, details=[{"reason": "bad_value", "item": label}]) from None
        shown[label] = text
    return by_column, shown


def _seal_cursor(dataset: datasets.Dataset, served: grants.Served, after: list) -> str:
    plain_text = json.dumps({"e": dataset.entry.id, "v": served.version.id, "a": [plain(a) for a in after]},
                            ensure_ascii=False, separators=(",", ":"))
    blob = sm4.encrypt(plain_text.encode(), purpose=CURSOR_PURPOSE)
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def _open_cursor(dataset: datasets.Dataset, served: grants.Served, cursor: Any) -> list | None:
    if cursor is None or cursor == "":
        return None
    bad = Invalid("翻页位置（after）无效：请原样使用上一页返回的 next", "Invalid 'after': pass the 'next' of the "
                  "previous page unchanged", field="after", details=[{"reason": "bad_cursor"}])
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise bad
    try:
        data = json.loads(sm4.decrypt(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)),
                                      purpose=CURSOR_PURPOSE))
    except (ValueError, GongshuError):
        raise bad from None
    if not isinstance(data, dict) or data.get("e") != dataset.entry.id or not isinstance(data.get("a"), list):
        raise bad
    if data.get("v") != served.version.id:
        raise Invalid("数据已更新为新版本，请从第一页重新查询", "The data was updated to a new version: start again from "
                      "the first page", field="after", details=[{"reason": "stale_cursor"}])
    return data["a"]


def page(session: Session, *, dataset: datasets.Dataset, filters: Mapping[str, Any], after: Any = None,
         limit: Any = PAGE_ROWS, served: grants.Served | None = None, caller: Caller | None = None) -> dict[str, Any]:
    """Rows whose public items equal ``filters`` ({item label: value}), in key order, ``limit`` (at most
    :data:`PAGE_MAX`) at a time; pass the answer's ``next`` as ``after`` for the next page (None: last page)."""
    may_read(session, dataset, caller, "open_rows")
    n = _limit(limit, default=PAGE_ROWS, most=PAGE_MAX)
    served = served or datasets.served(session, dataset=dataset)
    by_column, shown = _filters(served, filters)
    position = _open_cursor(dataset, served, after)
    rows, nxt = _read(served, by_column, position, n)
    return {**_head(dataset, served), "filters": shown, "rows": rows,
            "next": _seal_cursor(dataset, served, nxt) if nxt is not None else None}


def _version_number(value: Any) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 2**31:
        raise Invalid(f"版本号（version）应为正整数（收到“{text[:20]}”）",
                      f"version must be a positive whole number (got '{text[:20]}')", field="version",
                      details=[{"reason": "bad_version"}])
    return int(text)


_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def download(session: Session, *, dataset: datasets.Dataset, fmt: str, number: Any = None,
             served: grants.Served | None = None, caller: Caller | None = None) -> Download:
    """A download of the current version, or of the listed version ``number``, in ``fmt`` (csv, xlsx, json,
    parquet). XLSX holds at most :data:`.formats.XLSX_MAX_ROWS` rows: a larger version is refused before anything
    is sent. ``served``: what the current version serves, when known already."""
    may_read(session, dataset, caller, "open_download")
    if fmt not in formats.FORMATS:
        raise NotFound(f"不支持的下载格式“{fmt[:20]}”：可选 {', '.join(formats.FORMATS)}",
                       f"Unknown download format '{fmt[:20]}': one of {', '.join(formats.FORMATS)}", field="format",
                       details=[{"reason": "bad_format"}])
    wanted = _version_number(number)
    if served is None or (wanted is not None and wanted != served.version.number):
        served = datasets.served(session, dataset=dataset, number=wanted)
    v = served.version
    if fmt == "xlsx" and v.rows > formats.XLSX_MAX_ROWS:
        raise Invalid(f"第 {v.number} 版有 {v.rows:,} 行，超过 Excel 工作表的上限（{formats.XLSX_MAX_ROWS:,} 行数据），"
                      "请下载 CSV 或 Parquet 格式",
                      f"Version {v.number} has {v.rows:,} rows, more than an Excel sheet holds "
                      f"({formats.XLSX_MAX_ROWS:,} data rows): download CSV or Parquet instead", field="format",
                      details=[{"reason": "too_many_rows_for_xlsx"}])
    sql = formats.portable_sql(projection.select_sql(served, projection.snapshot_of(served)),
                               [c.label for c in served.granted if c.type == "G"])
    name = _UNSAFE_NAME.sub("_", dataset.snapshot["name"]).strip(" .") or "data"
    slug = datasets.slug(dataset.entry.code)
    return Download(sql=sql, fmt=fmt, labels=tuple(c.label for c in served.granted), rows=v.rows, version=v.number,
                    filename=f"{name}-v{v.number}.{fmt}", ascii_filename=f"{slug}-v{v.number}.{fmt}",
                    attribution=datasets.attribution(dataset), licence_url=datasets.licence(dataset)["url"],
                    sheet=name)


# Serving, with the access log ----------------------------------------------------------------------------

def _result(exc: GongshuError) -> str:
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, Forbidden | Invalid | Unauthenticated):
        return "denied"
    return "error"


def _reason(exc: GongshuError) -> str:
    for d in exc.details:
        if isinstance(d, dict) and d.get("reason"):
            return str(d["reason"])
    return exc.code


def _event(operation: str, result: str, dataset: datasets.Dataset | None, caller: Caller, *, rows: int = 0,
           reason: str = "") -> evidence.Access:
    return evidence.Access(
        operation=operation, result=result, reason=reason[:200], consumer_org_id=None,
        source_org_id=dataset.entry.org_id if dataset else None, entry_id=dataset.entry.id if dataset else None,
        end_user=caller.end_user[:100], purpose=PURPOSE, items=tuple(i["name"] for i in dataset.items) if dataset else (),
        rows=rows, latency_ms=(time.perf_counter() - caller.started) * 1000.0)


def _serve(session: Session, operation: str, ref: Any, caller: Caller,
           work: Callable[[datasets.Dataset, grants.Served | None, Caller], tuple[Any, int, str]]) -> Outcome:
    """Resolve the dataset (:func:`resolve`), run ``work`` (→ body, rows served, note) and turn every way it ends
    into an outcome with its access event."""
    dataset = None
    try:
        caller = identify(session, caller, operation)
        dataset, served = resolve(session, ref=ref)
        try:
            body, rows, note = work(dataset, served, caller)
        except NotFound as exc:
            if exc.field != "name" or served is None:
                raise
            forget()  # the cached version's store table is gone (a newer version replaced it): read afresh
            dataset, served = resolve(session, ref=ref)
            try:
                body, rows, note = work(dataset, served, caller)
            except NotFound as again:
                if again.field != "name":
                    raise
                raise Conflict("该数据集的数据暂时无法提供，请稍后再试", "The dataset's data cannot be served right now; "
                               "try again later", details=[{"reason": "data_missing"}]) from None
        return Outcome(events=[_event(operation, "ok", dataset, caller, rows=rows, reason=note)], body=body)
    except GongshuError as exc:
        return Outcome(events=[_event(operation, _result(exc), dataset, caller, reason=_reason(exc))], error=exc)
    except Exception as exc:  # noqa: BLE001 - logged as an error event; the edge re-raises it (a 500)
        return Outcome(events=[_event(operation, "error", dataset, caller, reason=f"internal: {type(exc).__name__}")],
                       error=exc)


def serve_preview(session: Session, *, ref: Any, caller: Caller, limit: Any = None) -> Outcome:
    def work(ds: datasets.Dataset, served: grants.Served | None, caller: Caller) -> tuple[Any, int, str]:
        body = preview(session, dataset=ds, limit=limit, served=served, caller=caller)
        return body, len(body["rows"]), f"v{body['version']}"

    return _serve(session, "open_preview", ref, caller, work)


def serve_page(session: Session, *, ref: Any, caller: Caller, filters: Mapping[str, Any], after: Any = None,
               limit: Any = None) -> Outcome:
    def work(ds: datasets.Dataset, served: grants.Served | None, caller: Caller) -> tuple[Any, int, str]:
        body = page(session, dataset=ds, filters=filters, after=after, limit=limit, served=served, caller=caller)
        shown = " ".join(f"{k}={v}" for k, v in body["filters"].items())
        return body, len(body["rows"]), f"v{body['version']}" + (f" {shown}" if shown else "") + (
            " (next page)" if after else "")

    return _serve(session, "open_rows", ref, caller, work)


def serve_download(session: Session, *, ref: Any, caller: Caller, fmt: str, number: Any = None) -> Outcome:
    def work(ds: datasets.Dataset, served: grants.Served | None, caller: Caller) -> tuple[Any, int, str]:
        d = download(session, dataset=ds, fmt=fmt, number=number, served=served, caller=caller)
        return d, d.rows, f"v{d.version} {d.fmt}"

    return _serve(session, "open_download", ref, caller, work)
