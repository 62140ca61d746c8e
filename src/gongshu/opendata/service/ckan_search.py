"""CKAN's ``package_search`` over the open datasets (R-OPN-8): the catalogue's own search
(:func:`gongshu.catalog.service.search.search`: Chinese words, pinyin, synonyms) within the open entries —
never a second search — with CKAN's parameters and answer (:mod:`.ckan` has the package shape).

- ``fq``: ``field:value`` terms (values may be quoted; ``AND`` and a leading ``+`` allowed), ANDed, on
  ``organization``/``owner_org`` (name, USCC or number), ``tags`` (资源分类), ``res_format`` (CSV, XLSX, JSON,
  Parquet: the datasets with data), ``name``/``id``, ``license_id``, ``open_type``, ``update_cycle``; and
  ``capacity:public``, ``state:active``, ``dataset_type:dataset`` (every package matches). Any other field,
  a negation or a group is refused with a Validation Error naming the supported fields. ``field:value``
  terms of those fields in ``q`` act like ``fq``; ``q=*:*`` is everything.
- ``sort``: ``score``, ``name``, ``title_string``, ``metadata_modified``, ``metadata_created``, ``asc`` or
  ``desc``, comma-separated (default ``score desc, metadata_modified desc``). Relevance pages the search; the
  others (and relevance without words, where every score ties) order every match, read from the search
  500 at a time.
- ``facet.field``: ``organization``, ``tags``, ``res_format``, ``license_id``, ``open_type``, ``update_cycle``
  (others answer empty), counted within every fq as CKAN counts; ``facet.limit`` (default 50, -1 all),
  ``facet.mincount``. Answered as ``facets`` ({field: {value: count}}) and ``search_facets``
  ({field: {title, items: [{name, display_name, count}]}}).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.catalog.service import search
from gongshu.errors import NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.kit.pagination import Page
from gongshu.opendata.models import OpeningReview
from gongshu.opendata.service import ckan, datasets

#: the catalogue search's largest page
SEARCH_PAGE = 500
FACET_LIMIT = 50
#: fq fields and what they filter
FQ_FIELDS = ("organization", "owner_org", "tags", "res_format", "name", "id", "license_id", "open_type",
             "update_cycle", "capacity", "state", "dataset_type", "type")
#: facet.field -> the catalogue search's facet
FACET_OF = {"organization": "dept", "owner_org": "dept", "tags": "topic", "license_id": "open_type",
            "open_type": "open_type", "update_cycle": "update_cycle"}
SORTS = ("score", "name", "title_string", "title", "metadata_modified", "metadata_created")
_FQ_TERM = re.compile(r'^\+?([A-Za-z_]+):(.+)$')


def parse_fq(fq: str) -> list[tuple[str, str]]:
    """``field:value`` terms (values may be quoted; ``AND`` and a leading ``+`` allowed) of the supported
    fields; anything else is refused."""
    try:
        words = shlex.split(fq or "", posix=True)
    except ValueError:
        raise ckan.invalid("fq", "fq 语法有误（引号不成对）", "fq could not be parsed (unbalanced quotes)") from None
    out = []
    for w in words:
        if w.upper() in ("AND", "&&"):
            continue
        m = _FQ_TERM.match(w)
        if m is None or m.group(1) not in FQ_FIELDS or m.group(2).startswith("("):
            raise ckan.invalid("fq", f"不支持的筛选条件：{w}（仅支持 field:value，field 为 {'、'.join(FQ_FIELDS)}）",
                               f"Unsupported filter {w!r}: only field:value terms (AND) on {', '.join(FQ_FIELDS)}")
        out.append((m.group(1), m.group(2)))
    return out


def _split_q(q: str) -> tuple[str, list[tuple[str, str]]]:
    """Words of ``q``, and its ``field:value`` terms on supported fields (which act like fq)."""
    text = (q or "").strip()
    if text in ("*:*", "*"):
        return "", []
    words, terms = [], []
    for w in text.split():
        m = _FQ_TERM.match(w)
        if m and m.group(1) in FQ_FIELDS and not m.group(2).startswith("("):
            terms.append((m.group(1), m.group(2).strip('"')))
        else:
            words.append(w)
    return " ".join(words), terms


@dataclass
class _Scope:
    """What the fq terms select: the search's filters and, when needed, a subset of the open entries."""

    filters: dict[str, list[str]] = field(default_factory=dict)
    ids: set[int] | None = None
    empty: bool = False
    fixed: dict[str, str] = field(default_factory=dict)  # facet -> the one value fq pinned

    def pin(self, facet: str, value: str) -> None:
        if self.fixed.get(facet, value) != value:
            self.empty = True  # a package has one value of each: two different ones match nothing
        self.fixed[facet] = value
        self.filters[facet] = [value]

    def narrow(self, ids: set[int]) -> None:
        self.ids = ids if self.ids is None else self.ids & ids


def _with_data(session: Session) -> set[int]:
    return {v.entry_id for v in ingest_versions.serving_versions(session)}


def _scope(session: Session, terms: list[tuple[str, str]]) -> _Scope:
    scope = _Scope()
    licences = {datasets.OPEN_LICENCE["id"].lower(): "无条件开放", datasets.AGREEMENT_LICENCE["id"].lower(): "有条件开放"}
    fixed_values = {"capacity": "public", "state": "active", "dataset_type": "dataset", "type": "dataset"}
    for key, raw in terms:
        value = raw.strip().strip('"')
        if key in ("organization", "owner_org"):
            try:
                org, _n = ckan.org_of(session, value)
            except NotFound:
                scope.empty = True
                continue
            scope.pin("dept", org.name)
        elif key == "tags":
            scope.pin("topic", value)
        elif key in ("open_type", "update_cycle"):
            scope.pin(key, value)
        elif key == "license_id":
            if value.lower() not in licences:
                scope.empty = True
                continue
            scope.pin("open_type", licences[value.lower()])
        elif key == "res_format":
            if value.lower() not in {f.lower() for _e, f, _m in ckan.FORMATS}:
                scope.empty = True
                continue
            scope.narrow(_with_data(session))
        elif key in ("name", "id"):
            try:
                scope.narrow({datasets.entry_of(session, ref=value).id})
            except NotFound:
                scope.empty = True
        elif value.lower() != fixed_values[key]:
            scope.empty = True
    return scope


def _within(scope: _Scope):
    within = datasets.opened_ids_select()
    if scope.ids is not None:
        within = within.where(OpeningReview.entry_id.in_(sorted(scope.ids)))
    return within


def _run(session: Session, q: str, scope: _Scope, page: Page, within=None) -> search.SearchResult:
    return search.search(session, actor=None, q=q, filters=scope.filters, page=page,
                         within=within if within is not None else _within(scope))


def _slice(session: Session, q: str, scope: _Scope, start: int, rows: int) -> tuple[search.SearchResult, list]:
    """Matches ``start`` .. ``start + rows`` in relevance order, with the first result (total, facets)."""
    if rows == 0:
        return _run(session, q, scope, Page(1, 1)), []
    size = next((s for s in range(rows, SEARCH_PAGE + 1) if start // s == (start + rows - 1) // s), None)
    if size is not None:
        found = _run(session, q, scope, Page(start // size + 1, size))
        skip = start % size
        return found, found.hits[skip:skip + rows]
    first, hits = None, []
    for number in range(start // SEARCH_PAGE + 1, (start + rows - 1) // SEARCH_PAGE + 2):
        found = _run(session, q, scope, Page(number, SEARCH_PAGE))
        first = first or found
        hits.extend(found.hits)
        if len(found.hits) < SEARCH_PAGE:
            break
    skip = start % SEARCH_PAGE
    assert first is not None
    return first, hits[skip:skip + rows]


def _every(session: Session, q: str, scope: _Scope) -> tuple[search.SearchResult, list]:
    """Every match in relevance order (pages of the search), with the first result."""
    first = _run(session, q, scope, Page(1, SEARCH_PAGE))
    hits, number = list(first.hits), 1
    while len(hits) < first.total:
        number += 1
        more = _run(session, q, scope, Page(number, SEARCH_PAGE)).hits
        if not more:
            break
        hits.extend(more)
    return first, hits


def _opened_at(session: Session) -> dict[int, datetime | None]:
    """When each entry's latest opening review was decided (for the open ones: when they were opened)."""
    latest = select(func.max(OpeningReview.id)).group_by(OpeningReview.entry_id)
    return {e: ckan.aware(at) for e, at in session.execute(
        select(OpeningReview.entry_id, OpeningReview.decided_at).where(OpeningReview.id.in_(latest)))}


def _ordered(session: Session, hits: list, order: list[tuple[str, bool]]) -> list:
    """``hits`` (in relevance order) sorted by ``order``."""
    opened = _opened_at(session) if any(k.startswith("metadata") for k, _d in order) else {}
    data_at = {v.entry_id: ckan.aware(v.created_at) for v in ingest_versions.serving_versions(session)} \
        if any(k == "metadata_modified" for k, _d in order) else {}
    rank = {h.entry_id: i for i, h in enumerate(hits)}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    keys: dict[str, Callable[[Any], Any]] = {
        "score": lambda h: -rank[h.entry_id], "name": lambda h: datasets.slug(h.code),
        "title_string": lambda h: h.name, "title": lambda h: h.name,
        "metadata_created": lambda h: opened.get(h.entry_id) or epoch,
        "metadata_modified": lambda h: ckan.latest(opened.get(h.entry_id), h.published_at,
                                                   data_at.get(h.entry_id)) or epoch}
    out = list(hits)
    for key, desc in reversed(order):
        out.sort(key=keys[key], reverse=desc)
    return out


def _facets(session: Session, q: str, scope: _Scope, found: search.SearchResult, fields: Sequence[str],
            limit: int, mincount: int) -> tuple[dict, dict]:
    orgs = {o.name: o for o in auth_service.orgs(session)}
    licence_of = {"无条件开放": datasets.OPEN_LICENCE, "有条件开放": datasets.AGREEMENT_LICENCE}
    facets: dict[str, dict[str, int]] = {}
    shown: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(fields):
        pairs: list[tuple[str, str, int]] = []  # (value, display name, count)
        source = FACET_OF.get(name)
        if source is not None:
            counts = found.facets.get(source, [])
            if source in scope.fixed:  # CKAN's counts are within every fq, the search's ignore a facet's own
                counts = [(scope.fixed[source], found.total)] if found.total else []
            for value, n in counts:
                if name in ("organization", "owner_org"):
                    org = orgs.get(value)
                    pairs.append((ckan.org_name(org) if org else value, value, n))
                elif name == "license_id":
                    lic = licence_of.get(value)
                    pairs.append((lic["id"], lic["title"], n) if lic else (value, value, n))
                else:
                    pairs.append((value, value, n))
        elif name == "res_format" and found.total:
            with_data = scope.ids & _with_data(session) if scope.ids is not None else _with_data(session)
            n = _run(session, q, scope, Page(1, 1), within=_within(_Scope(ids=with_data))).total
            pairs = [(fmt, fmt, n) for _e, fmt, _m in ckan.FORMATS]
        pairs = sorted((p for p in pairs if p[2] >= max(mincount, 1)), key=lambda p: (-p[2], p[0]))
        if limit >= 0:
            pairs = pairs[:limit]
        facets[name] = {v: n for v, _d, n in pairs}
        shown[name] = {"title": name, "items": [{"name": v, "display_name": d, "count": n} for v, d, n in pairs]}
    return facets, shown


def package_search(session: Session, *, q: str = "", fq: str = "", rows: int = 10, start: int = 0,
                   sort: str = "", facet: bool = True, facet_fields: Sequence[str] = (),
                   facet_limit: int = FACET_LIMIT, facet_mincount: int = 1, base_url: str) -> dict[str, Any]:
    """Search the open datasets (see the module's docstring): ``count``, ``results`` (full packages),
    ``sort``, ``facets`` and ``search_facets``."""
    if not 0 <= rows <= ckan.MAX_ROWS:
        raise ckan.invalid("rows", f"rows 应在 0 到 {ckan.MAX_ROWS} 之间",
                           f"rows must be between 0 and {ckan.MAX_ROWS}")
    if start < 0:
        raise ckan.invalid("start", "start 不能为负数", "start must not be negative")
    sort = (sort or "").strip() or "score desc, metadata_modified desc"
    order = ckan.sort_terms(sort, SORTS)
    words, q_terms = _split_q(q)
    scope = _scope(session, parse_fq(fq) + q_terms)
    by_relevance = bool(order) and order[0] == ("score", True)
    if by_relevance and not words and len(order) > 1:
        order = order[1:]  # without words every score ties: the next key orders
        by_relevance = False
    if scope.empty:
        found, page = _run(session, "", _Scope(ids=set()), Page(1, 1)), []
    elif by_relevance or not order:
        found, page = _slice(session, words, scope, start, rows)
    else:
        found, every = _every(session, words, scope)
        page = _ordered(session, every, order)[start:start + rows]
    facets, shown = _facets(session, words, scope, found, facet_fields if facet else (), facet_limit,
                            facet_mincount)
    orgs = {o.id: o for o in auth_service.orgs(session)}
    results = []
    for hit in page:
        ds = datasets.get(session, ref=hit.entry_id)
        results.append(ckan.package_dict(session, ds, base_url=base_url, org=orgs.get(ds.entry.org_id)))
    return {"count": 0 if scope.empty else found.total, "sort": sort, "results": results, "facets": facets,
            "search_facets": shown}
