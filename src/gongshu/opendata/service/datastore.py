"""CKAN's ``datastore_search`` over an open dataset's current data version (R-OPN-2/8): the rows the public
receives — public items only, masked by the platform's one masking (:func:`projection.select_sql` over the
version's Parquet snapshot, in DuckDB) — filtered, searched, sorted and paged.

- ``filters``: ``{label: value}`` or ``{label: [values]}`` (equality; values compared in the item's type); a
  filter on a masked item is refused (the masked text is all there is).
- ``q``: words (AND), each found in some text column (contains, case-insensitive), or ``{label: words}``.
- ``fields``: labels to return (default all public items); ``sort``: ``"label asc, label2 desc"``;
  ``limit`` (default 100, at most 32000), ``offset``, ``include_total``, ``distinct``,
  ``records_format`` ``objects`` or ``lists``.

Every label, direction and number is checked before any SQL is built; labels enter SQL only quoted by
:func:`sql_ident` (and only labels of the version's own columns); values only as bound parameters. Only
无条件开放 data is served here (:func:`datasets.require_unconditional`).
"""
# SQL here is built from quoted identifiers of the version's own columns and DuckDB's own type names;
# values are bound parameters:
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from gongshu.errors import Invalid
from gongshu.opendata.service import datasets
from gongshu.opendata.service.ckan import resource_of
from gongshu.sharing.service import projection
from gongshu.store.service import sql_ident

DEFAULT_LIMIT = 100
MAX_LIMIT = 32000
MAX_FILTER_VALUES = 1000
_TYPE_RE = re.compile(r"^[A-Z0-9_(), ]+$")
#: DuckDB type (its first word) -> CKAN datastore type
_CKAN_TYPES = {"VARCHAR": "text", "BIGINT": "int", "INTEGER": "int", "SMALLINT": "int", "TINYINT": "int",
               "HUGEINT": "int", "UBIGINT": "int", "UINTEGER": "int", "DECIMAL": "numeric", "DOUBLE": "float",
               "FLOAT": "float", "REAL": "float", "DATE": "date", "TIMESTAMP": "timestamp",
               "TIMESTAMP WITH TIME ZONE": "timestamp", "TIME": "time", "BOOLEAN": "bool"}


@dataclass(frozen=True)
class Rows:
    """A datastore_search answer and what its access event records."""

    result: dict[str, Any]
    dataset: datasets.Dataset
    items: tuple[str, ...]
    rows: int


def _invalid(field_name: str, zh: str, en: str) -> Invalid:
    return Invalid(zh, en, field=field_name)


def _ckan_type(duck: str) -> str:
    base = duck.split("(")[0].strip()
    return _CKAN_TYPES.get(base, "text")


def _out(label: str, duck: str) -> str:
    """The column as JSON receives it: dates and times as ISO text, decimals as numbers."""
    col = f"_open.{sql_ident(label)}"
    base = duck.split("(")[0].strip()
    if base in ("DATE", "TIME"):
        expr = f"CAST({col} AS VARCHAR)"
    elif base.startswith("TIMESTAMP"):
        expr = f"replace(CAST({col} AS VARCHAR), ' ', 'T')"
    elif base in ("DECIMAL", "HUGEINT", "UBIGINT"):
        expr = f"CAST({col} AS DOUBLE)"
    elif base in _CKAN_TYPES:
        expr = col
    else:
        expr = f"CAST({col} AS VARCHAR)"
    return f"{expr} AS {sql_ident(label)}"


def _labels(value: Any, field_name: str, known: Mapping[str, str]) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for it in items:
        label = str(it).strip()
        if label not in known:
            raise _invalid(field_name, f"没有该字段：{label}（可用：{'、'.join(known)}）",
                           f"Unknown field {label!r} (fields: {', '.join(known)})")
        out.append(label)
    return list(dict.fromkeys(out))


def _sort(value: Any, known: Mapping[str, str]) -> list[tuple[str, bool]]:
    parts = value if isinstance(value, list) else str(value or "").split(",")
    out = []
    for part in parts:
        text = str(part).strip()
        if not text:
            continue
        way = "asc"
        low = text.lower()
        for w in ("asc", "desc"):
            if low.endswith(" " + w):
                text, way = text[: -len(w) - 1].strip(), w
        label = text[1:-1] if len(text) > 1 and text[0] == text[-1] == '"' else text
        if label not in known:
            raise _invalid("sort", f"不能按“{label}”排序：没有该字段（可用：{'、'.join(known)}）",
                           f"Cannot sort by {label!r}: no such field (fields: {', '.join(known)})")
        out.append((label, way == "desc"))
    return out


def _scalar(value: Any, label: str, field_name: str = "filters") -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise _invalid(field_name, f"“{label}”的取值应为文本或数字", f"The value for {label!r} must be text or a number")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _where(cur: Any, filters: Any, q: Any, types: Mapping[str, str], masked: frozenset[str]) -> tuple[str, list]:
    """The WHERE clause and its parameters."""
    conds: list[str] = []
    params: list[Any] = []
    if filters not in (None, "", {}):
        if not isinstance(filters, dict):
            raise _invalid("filters", "filters 应为对象（字段名 → 值）", "filters must be an object (field → value)")
        for label, value in filters.items():
            if label not in types:
                raise _invalid("filters", f"没有该字段：{label}", f"Unknown field {label!r}")
            if label in masked:
                raise _invalid("filters", f"“{label}”已脱敏，不能按其筛选", f"{label!r} is masked: it cannot be filtered on")
            values = [_scalar(v, label) for v in (value if isinstance(value, list) else [value])]
            if not values or len(values) > MAX_FILTER_VALUES:
                raise _invalid("filters", f"筛选“{label}”应有 1 到 {MAX_FILTER_VALUES} 个值",
                               f"The filter on {label!r} takes 1 to {MAX_FILTER_VALUES} values")
            duck = types[label]
            if not _TYPE_RE.match(duck):
                raise _invalid("filters", f"不能按“{label}”筛选", f"{label!r} cannot be filtered on")
            for v in values:
                if cur.execute(f"SELECT TRY_CAST(? AS {duck}) IS NULL", [v]).fetchone()[0]:
                    raise _invalid("filters", f"“{v}”不是字段“{label}”的有效取值",
                                   f"{v!r} is not a valid value of {label!r}")
            marks = ", ".join(f"CAST(? AS {duck})" for _ in values)
            conds.append(f"_open.{sql_ident(label)} IN ({marks})")
            params.extend(values)
    if q not in (None, "", {}):
        text_cols = [label for label, duck in types.items() if duck == "VARCHAR"]
        pairs: list[tuple[list[str], str]]
        if isinstance(q, dict):
            pairs = [(_labels([k], "q", types), _scalar(v, k, "q")) for k, v in q.items()]
        else:
            pairs = [(text_cols, _scalar(q, "q", "q"))]
        for cols, words in pairs:
            for word in words.split():
                if not cols:
                    conds.append("false")
                    continue
                conds.append("(" + " OR ".join(f"contains(lower(CAST(_open.{sql_ident(c)} AS VARCHAR)), lower(?))"
                                               for c in cols) + ")")
                params.extend([word] * len(cols))
    return (" AND ".join(conds) or "true"), params


def _number(value: int, field_name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise _invalid(field_name, f"{field_name} 应在 {low} 到 {high} 之间", f"{field_name} must be between {low} and {high}")
    return value


def search(session: Session, *, resource_id: str, filters: Any = None, q: Any = None, fields: Any = None,
           sort: Any = None, limit: int = DEFAULT_LIMIT, offset: int = 0, include_total: bool = True,
           distinct: bool = False, records_format: str = "objects", links_path: str = "/api/3/action/datastore_search",
           ) -> Rows:
    """The rows of ``resource_id``'s dataset (see the module's docstring). NotFound for a resource that does
    not exist (or a dataset not open), Forbidden for 有条件开放 data, Invalid for bad parameters."""
    ds, _ext = resource_of(session, ref=resource_id)
    datasets.require_unconditional(ds)
    limit = _number(limit, "limit", 0, MAX_LIMIT)
    offset = _number(offset, "offset", 0, 2**62)
    if records_format not in ("objects", "lists"):
        raise _invalid("records_format", "records_format 只支持 objects 或 lists",
                       "records_format must be objects or lists")
    served = datasets.served(session, dataset=ds)
    base = projection.select_sql(served, projection.snapshot_of(served))
    cur = projection.cursor()
    try:
        types = {row[0]: row[1] for row in cur.execute(f"DESCRIBE {base}").fetchall()}
        chosen = _labels(fields, "fields", types) or list(types)
        order = _sort(sort, types)
        where, params = _where(cur, filters, q, types, served.masked)
        select = ", ".join(_out(label, types[label]) for label in chosen)
        if order or distinct:  # ties broken by every returned column: pages of a sorted search never overlap
            order = order + [(label, False) for label in chosen if label not in dict(order)]
        qualify = "" if distinct else "_open."
        order_sql = ", ".join(f"{qualify}{sql_ident(label)} {'DESC' if desc else 'ASC'} NULLS LAST"
                              for label, desc in order if not distinct or label in chosen)
        sql = f"SELECT {'DISTINCT ' if distinct else ''}{select} FROM ({base}) AS _open WHERE {where}"
        paged = sql + (f" ORDER BY {order_sql}" if order_sql else "") + " LIMIT ? OFFSET ?"
        rows = cur.execute(paged, [*params, limit, offset]).fetchall()
        total = cur.execute(f"SELECT count(*) FROM ({sql}) AS _n", params).fetchone()[0] if include_total else None
    finally:
        cur.close()
    records: list[Any] = [list(r) for r in rows] if records_format == "lists" else \
        [dict(zip(chosen, r, strict=True)) for r in rows]
    items = {i["name"]: i for i in ds.items}
    result: dict[str, Any] = {
        "resource_id": resource_id, "include_total": include_total, "records_format": records_format,
        "fields": [{"id": label, "type": _ckan_type(types[label]),
                    "info": {"label": label, "notes": (items.get(label) or {}).get("meaning", ""),
                             "masked": label in served.masked}} for label in chosen],
        "records": records, "limit": limit, "offset": offset,
        "_links": _links(links_path, resource_id, limit, offset, filters, q, fields, sort)}
    if include_total:
        result.update(total=int(total), total_was_estimated=False)
    for key, value in (("filters", filters), ("q", q), ("sort", sort), ("distinct", distinct or None)):
        if value not in (None, "", {}, []):
            result[key] = value
    return Rows(result=result, dataset=ds, items=tuple(chosen), rows=len(records))


def _links(path: str, resource_id: str, limit: int, offset: int, filters: Any, q: Any, fields: Any,
           sort: Any) -> dict[str, str]:
    """CKAN's ``_links``: this search from the start, and the next page."""
    plain: list[tuple[str, str]] = [("resource_id", resource_id)]
    for key, value in (("q", q), ("fields", fields), ("sort", sort)):
        if isinstance(value, str) and value:
            plain.append((key, value))
        elif isinstance(value, list) and value:
            plain.append((key, ",".join(str(v) for v in value)))
    if isinstance(filters, dict) and filters:
        plain.append(("filters", json.dumps(filters, ensure_ascii=False, separators=(",", ":"))))
    if limit != DEFAULT_LIMIT:
        plain.append(("limit", str(limit)))
    return {"start": f"{path}?{urlencode(plain)}",
            "next": f"{path}?{urlencode([*plain, ('offset', str(offset + limit))])}"}
