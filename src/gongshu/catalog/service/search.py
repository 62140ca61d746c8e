"""Catalogue search (R-CAT-10): Chinese words and pinyin in the database's own full-text index, with facets.

- :func:`index_entry` / :func:`unindex_entry` keep one ``catalog_search_doc`` row per
  published entry, built from its latest published version (``catalog_entry_version``);
  the entries service calls them on approve and withdraw. :func:`reindex_all` rebuilds
  everything (``gongshu catalog reindex``). The index is derived data: the entry's own
  audit event (approve, withdraw) covers its maintenance; a full rebuild is audited.
- :func:`search` segments the query like the documents (``kit.textsearch``), matches
  every word as a prefix in FTS5 (SQLite) or a ``tsvector`` (PostgreSQL), orders by
  relevance then name, and counts every facet in one SQL statement over the matched set.
  Facets are multi-select: values within a facet are OR-ed, facets are AND-ed; the counts
  of a facet apply every *other* facet's filter (so other values of it stay selectable).
- Each query word (or run of words) that is in the synonym and abbreviation dictionary
  (``synonyms``, 同义词/简称词典) also matches its expansions, segmented like a query: 社保 finds
  社会保险参保信息 (AND of ORs for several words). Applied at query time, so an edit needs no reindex;
  entries that match the words as typed rank before those found only through an expansion. The
  result names what was expanded (``expanded``); ``expand=False`` searches only the words as typed.
- Government staff see every published entry; the public (no actor) sees only entries
  whose open attribute is not 不予开放, and in the detail only data items that are open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    table,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import GOV_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.models import CatalogEntry, EntryVersion
from gongshu.catalog.search_models import SearchCount, SearchDoc, SearchText
from gongshu.catalog.service import synonyms
from gongshu.db import utcnow
from gongshu.errors import Invalid, NotFound
from gongshu.kit import textsearch
from gongshu.kit.pagination import Page

declare("catalog.search.all", "检索全部已发布目录（含不予开放）", "Search every published entry (incl. not open)",
        GOV_ROLES, writes=False)
declare("catalog.search.reindex", "重建目录检索索引", "Rebuild the catalogue search index",
        {"sysadmin", "authority_admin"})

NOT_OPEN = "不予开放"
#: facet key (query parameter) -> (index column, Chinese label, English label)
FACETS: dict[str, tuple[str, str, str]] = {
    "dept": ("org_name", "提供部门", "Department"),
    "resource_attr": ("resource_attr", "资源属性", "Resource class"),
    "topic": ("topic", "资源分类", "Classification"),
    "grade": ("grade", "数据分级", "Grade"),
    "sharing_type": ("sharing_type", "共享类型", "Sharing"),
    "open_type": ("open_type", "开放属性", "Open attribute"),
    "format": ("format", "资源格式", "Format"),
    "update_cycle": ("update_cycle", "更新周期", "Update cycle"),
}
MAX_VALUES = 50
NAME_WEIGHT = 10.0  # a word in the name counts ten times a word elsewhere
_DOC = SearchDoc.__table__
_TEXT = SearchText.__table__
_COUNT = SearchCount.__table__
TOTAL = "_total"
_FTS = table("catalog_search_fts", column("rowid"))
_FTS_TABLE = literal_column("catalog_search_fts")
# PostgreSQL only (see the migration): written with the doc row from the text row's tokens
_PG_DOC = table("catalog_search_doc", *(column(c.name, c.type) for c in _DOC.c), column("tsv"), column("name_words"))
_TSV = literal_column("catalog_search_doc.tsv")
_NAME_WORDS = literal_column("catalog_search_doc.name_words")
_SIMPLE = literal_column("'simple'")
_NO_RANK = cast(null(), Float)


@dataclass(frozen=True)
class SearchHit:
    entry_id: int
    code: str
    name: str
    summary: str
    org_name: str
    resource_attr: str
    topic: str
    grade: str
    sharing_type: str
    open_type: str
    format: str
    update_cycle: str
    version: int
    published_at: datetime | None
    #: (text, matched) segments for highlighting
    name_marked: list[tuple[str, bool]] = field(default_factory=list)
    summary_marked: list[tuple[str, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    #: facet key -> [(value, count)], most frequent first; selected values are always listed
    facets: dict[str, list[tuple[str, int]]]
    page: Page
    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    #: the words the query was segmented into
    terms: list[str] = field(default_factory=list)
    public_only: bool = True
    #: dictionary hits: [{"term": "医保", "also": ["医疗保险", "医疗保障"]}] ("也搜索了：…")
    expanded: list[dict[str, Any]] = field(default_factory=list)
    #: False when the dictionary was not applied (searched as typed)
    expand: bool = True

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.page.size - 1) // self.page.size)


# Indexing ------------------------------------------------------------------------------

def _org_name(session: Session, snapshot: dict) -> str:
    name = snapshot.get("org_name")
    if name:
        return str(name)
    org_id = snapshot.get("org_id")
    org = session.get(Org, org_id) if org_id else None
    return org.name if org else ""


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def doc_values(*, entry_id: int, version: int, snapshot: dict, org_name: str,
               published_at: datetime | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The index rows (search doc, search text) of one published snapshot (pure; also used by the benchmark).

    In an entry the public may see, the names of data items that are not open are left out of the
    tokens, so that a public search cannot reveal them.
    """
    name = _s(snapshot.get("name"))
    code = _s(snapshot.get("code"))
    open_type = _s(snapshot.get("open_type"))
    items = [_s(i.get("name")) for i in snapshot.get("items") or [] if isinstance(i, dict)
             and (open_type == NOT_OPEN or (i.get("open_type") or open_type) != NOT_OPEN)]
    summary = _s(snapshot.get("summary"))
    doc = {
        "entry_id": entry_id, "version": version, "code": code, "name": name, "org_id": snapshot.get("org_id"),
        "org_name": org_name, "resource_attr": _s(snapshot.get("resource_attr")), "topic": _s(snapshot.get("topic")),
        "grade": _s(snapshot.get("grade")), "sharing_type": _s(snapshot.get("sharing_type")),
        "open_type": open_type, "format": _s(snapshot.get("format")),
        "update_cycle": _s(snapshot.get("update_cycle")), "is_public": open_type != NOT_OPEN,
        "published_at": published_at, "indexed_at": utcnow(),
    }
    txt = {
        "entry_id": entry_id, "summary": summary, "name_tokens": textsearch.index_text(name=name),
        "body_tokens": textsearch.index_text(summary, _s(snapshot.get("topic")), *items, org_name,
                                             _s(snapshot.get("business")), code),
    }
    return doc, txt


def _latest_version(session: Session, entry_id: int) -> EntryVersion | None:
    return session.scalar(select(EntryVersion).where(EntryVersion.entry_id == entry_id)
                          .order_by(EntryVersion.version.desc()).limit(1))


def index_entry(session: Session, *, entry_id: int) -> None:
    """(Re)index the entry's latest published snapshot; an entry never published or withdrawn is removed."""
    entry = session.get(CatalogEntry, entry_id)
    if entry is None:
        raise NotFound(f"目录不存在：{entry_id}", f"Catalogue entry {entry_id} not found", field="entry_id")
    ver = _latest_version(session, entry_id)
    if ver is None or entry.status == "withdrawn":
        unindex_entry(session, entry_id=entry_id)
        return
    snap = dict(ver.snapshot or {})
    snap.setdefault("org_id", entry.org_id)
    doc_row, text_row = doc_values(entry_id=entry_id, version=ver.version, snapshot=snap,
                                   org_name=_org_name(session, snap), published_at=ver.published_at)
    unindex_entry(session, entry_id=entry_id)
    _write(session, [(doc_row, text_row)])
    _bump(session, [doc_row], +1)


def unindex_entry(session: Session, *, entry_id: int) -> None:
    """Remove the entry from search (withdrawn)."""
    old = session.execute(select(_DOC).where(_DOC.c.entry_id == entry_id)).mappings().first()
    if old is not None:
        _bump(session, [dict(old)], -1)
    session.execute(delete(SearchDoc).where(SearchDoc.entry_id == entry_id))
    session.execute(delete(SearchText).where(SearchText.entry_id == entry_id))


def _bump(session: Session, docs: list[dict[str, Any]], sign: int) -> None:
    """Add (+1) or remove (-1) entries from the facet counts (one upsert per value, in a fixed order)."""
    deltas: dict[tuple[str, str], list[int]] = {}
    for d in docs:
        pub = 1 if d["is_public"] else 0
        for key, value in [(TOTAL, "")] + [(k, _s(d[col])) for k, (col, _zh, _en) in FACETS.items()]:
            n = deltas.setdefault((key, value), [0, 0])
            n[0] += sign
            n[1] += sign * pub
    ins = pg_insert(_COUNT) if _dialect(session) == "postgresql" else sqlite_insert(_COUNT)
    stmt = ins.on_conflict_do_update(index_elements=[_COUNT.c.facet, _COUNT.c.value], set_={
        "n_all": _COUNT.c.n_all + ins.excluded.n_all, "n_public": _COUNT.c.n_public + ins.excluded.n_public})
    session.execute(stmt, [{"facet": f, "value": v, "n_all": a, "n_public": p}
                           for (f, v), (a, p) in sorted(deltas.items())])


def refresh_counts(session: Session) -> None:
    """Recount every facet over the whole index (after bulk loads)."""
    pub = func.sum(case((_DOC.c.is_public == true(), 1), else_=0))
    counts = union_all(
        select(literal(TOTAL), literal(""), func.count(), pub).select_from(_DOC),
        *[select(literal(k), _DOC.c[col], func.count(), pub).group_by(_DOC.c[col])
          for k, (col, _zh, _en) in FACETS.items()])
    session.execute(delete(SearchCount))
    session.execute(insert(SearchCount).from_select(["facet", "value", "n_all", "n_public"], counts))


def _pg_doc_insert():
    """INSERT of a doc row on PostgreSQL: its tsvectors are computed from the bound token texts.

    ``name_words`` (for ranking; inline in the heap, so kept small) holds the name's words with their
    pinyin and initials, space separated, not the whole-name pinyin variants that ``tsv`` has.
    """
    name = func.to_tsvector(_SIMPLE, bindparam("name_tokens"))
    body = func.to_tsvector(_SIMPLE, bindparam("body_tokens"))
    return insert(_PG_DOC).values({
        **{c.name: bindparam(c.name) for c in _DOC.c},
        "tsv": func.setweight(name, literal_column("'A'")).op("||")(func.setweight(body, literal_column("'B'"))),
        "name_words": bindparam("name_words")})


def bulk_load(session: Session, rows: list[tuple[dict[str, Any], dict[str, Any]]], *, batch: int = 1000) -> None:
    """Insert many (doc, text) index rows, then recount the facets (reindex, benchmark)."""
    _write(session, rows, batch=batch)
    refresh_counts(session)


def _write(session: Session, rows: list[tuple[dict[str, Any], dict[str, Any]]], *, batch: int = 1000) -> None:
    """Insert (doc, text) index rows with executemany; the full-text index follows (FTS5 triggers, tsvectors)."""
    pg = _dialect(session) == "postgresql"
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        if pg:
            session.execute(_pg_doc_insert(), [
                {**d, "name_tokens": t["name_tokens"], "body_tokens": t["body_tokens"],
                 "name_words": " " + " ".join(textsearch.word_tokens(d["name"])) + " "} for d, t in chunk])
        else:
            session.execute(insert(SearchDoc), [d for d, _t in chunk])
        session.execute(insert(SearchText), [t for _d, t in chunk])


def reindex_all(session: Session, *, actor: Actor) -> int:
    """Rebuild the whole index from the latest published version of every entry that is not withdrawn."""
    require(actor, "catalog.search.reindex")
    latest = (select(EntryVersion.entry_id, func.max(EntryVersion.version).label("v"))
              .group_by(EntryVersion.entry_id).subquery())
    found = session.execute(
        select(EntryVersion, CatalogEntry.org_id)
        .join(latest, (latest.c.entry_id == EntryVersion.entry_id) & (latest.c.v == EntryVersion.version))
        .join(CatalogEntry, CatalogEntry.id == EntryVersion.entry_id)
        .where(CatalogEntry.status != "withdrawn").order_by(EntryVersion.entry_id)
    ).all()
    orgs = dict(session.execute(select(Org.id, Org.name)).all())
    rows = []
    for ver, org_id in found:
        snap = dict(ver.snapshot or {})
        snap.setdefault("org_id", org_id)
        rows.append(doc_values(entry_id=ver.entry_id, version=ver.version, snapshot=snap,
                               org_name=_s(snap.get("org_name")) or orgs.get(snap.get("org_id"), ""),
                               published_at=ver.published_at))
    session.execute(delete(SearchDoc))
    session.execute(delete(SearchText))
    bulk_load(session, rows)
    audit_service.record(session, actor=actor, action="catalog.search.reindex", subject_type="catalog_search",
                         subject_id="all", detail={"indexed": len(rows)})
    return len(rows)


# Searching -----------------------------------------------------------------------------

def public_only(actor: Actor | None) -> bool:
    """The public (no actor) and actors without a staff role see only entries that are not 不予开放."""
    return actor is None or not can(actor, "catalog.search.all")


def check_filters(filters: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Known facet keys only; blank values dropped; duplicates removed."""
    out: dict[str, list[str]] = {}
    for key, values in (filters or {}).items():
        if key not in FACETS:
            raise Invalid(f"未知的筛选条件：{key}（可选：{'、'.join(FACETS)}）",
                          f"Unknown filter {key} (one of {', '.join(FACETS)})", field=key)
        if isinstance(values, str):
            values = [values]
        kept = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
        if len(kept) > MAX_VALUES:
            raise Invalid(f"筛选条件“{FACETS[key][1]}”最多选择 {MAX_VALUES} 项",
                          f"Choose at most {MAX_VALUES} values for {FACETS[key][2]}", field=key)
        if any(len(v) > 200 for v in kept):
            raise Invalid("筛选值过长", "Filter value too long", field=key)
        if kept:
            out[key] = kept
    return out


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _expression(groups: list[synonyms.Group], render, and_: str, or_: str) -> str:
    """The match expression: every group (AND); a group matches its words, or one of its expansions (OR).

    Without expansions this is exactly ``render(terms)`` (the words as typed).
    """
    parts = []
    for g in groups:
        direct = render(list(g.words))
        if g.expansion is None:
            parts.append(direct)
        else:
            alts = [direct, *(render(list(a)) for a in g.expansion.alternatives if a)]
            parts.append("(" + or_.join("(" + a + ")" for a in alts) + ")")
    return and_.join(parts)


def fts5_match(groups: list[synonyms.Group]) -> str:
    """The SQLite FTS5 MATCH expression of a (possibly expanded) query (also used by the benchmark)."""
    return _expression(groups, textsearch.fts5_query, " AND ", " OR ")


def _tsquery_text(groups: list[synonyms.Group]) -> str:
    return _expression(groups, textsearch.tsquery, " & ", " | ")


def _expanded(groups: list[synonyms.Group]) -> bool:
    return any(g.expansion is not None for g in groups)


def _direct(groups: list[synonyms.Group]) -> list[textsearch.QueryTerm]:
    return [t for g in groups for t in g.words]


def _matched(dialect: str, groups: list[synonyms.Group], public: bool, cols: list, within: Select | None = None) -> Select:
    """SELECT ``cols`` (of the narrow doc table) FROM the entries the query matches and the actor may see (and,
    with ``within``, whose ids that SELECT returns)."""
    stmt = select(*cols)
    if groups and dialect == "sqlite":
        stmt = stmt.select_from(_FTS.join(_DOC, _DOC.c.entry_id == _FTS.c.rowid)).where(
            _FTS_TABLE.op("MATCH")(literal(fts5_match(groups))))
    elif groups:
        stmt = stmt.select_from(_DOC).where(_TSV.op("@@")(func.to_tsquery(_SIMPLE, literal(_tsquery_text(groups)))))
    else:
        stmt = stmt.select_from(_DOC)
    if public:
        stmt = stmt.where(_DOC.c.is_public == true())
    if within is not None:
        stmt = stmt.where(_DOC.c.entry_id.in_(within))
    return stmt


def _filter_conds(cols, filters: dict[str, list[str]], *, skip: str | None = None) -> list[ColumnElement]:
    return [cols[FACETS[k][0]].in_(v) for k, v in filters.items() if k != skip]


#: added to the rank of an entry found only through an expansion: the words as typed rank first
EXPANDED_ONLY = 1_000_000.0


def _rank(dialect: str, groups: list[synonyms.Group]) -> ColumnElement:
    """Relevance, lower first: bm25 with name tokens weighing NAME_WEIGHT (SQLite); name matches every
    word first (PostgreSQL, prefix LIKEs on the small inline name_words); nothing without words.

    When the dictionary expanded a word, an entry that matches the words as typed ranks before every
    entry found only through an expansion (one more match of the unexpanded query, as a set: the
    database runs it once).
    """
    if not groups:
        return literal_column("0")
    direct_ids = None
    if _expanded(groups):
        direct = _direct(groups)
        if dialect == "sqlite":
            direct_ids = select(_FTS.c.rowid).where(
                _FTS_TABLE.op("MATCH")(literal(textsearch.fts5_query(direct)))).correlate(None)
        else:
            direct_ids = select(_DOC.c.entry_id).where(
                _TSV.op("@@")(func.to_tsquery(_SIMPLE, literal(textsearch.tsquery(direct))))).correlate(None)
    if dialect == "sqlite":
        rank = func.bm25(_FTS_TABLE, literal_column(str(NAME_WEIGHT)), literal_column("1.0"))
        if direct_ids is not None:
            rank = rank + case((_DOC.c.entry_id.in_(direct_ids), 0.0), else_=EXPANDED_ONLY)
        return rank

    def starts(word: str) -> ColumnElement:  # terms are letters and digits only: no LIKE wildcards
        return _NAME_WORDS.like(literal(f"% {word}%"))

    def in_name(terms) -> ColumnElement:
        return and_(*[or_(starts(t.word), and_(*[starts(p) for p in t.pieces])) if t.pieces else starts(t.word)
                      for t in terms])

    names = and_(*[or_(in_name(g.words), *(in_name(a) for a in g.expansion.alternatives if a))
                   if g.expansion is not None else in_name(g.words) for g in groups])
    rank = case((names, 0), else_=1)
    if direct_ids is not None:
        rank = rank + case((_DOC.c.entry_id.in_(direct_ids), 0), else_=2)
    return rank


def _stored(key: str, public: bool):
    n_col = _COUNT.c.n_public if public else _COUNT.c.n_all
    return select(literal(key), _COUNT.c.value, n_col, _NO_RANK).where(_COUNT.c.facet == key, n_col > 0)


def _search_statement(dialect: str, groups: list[synonyms.Group], public: bool, filters: dict[str, list[str]],
                      page: Page, within: Select | None = None):
    """One statement for the total, every facet's counts and the page's entry ids (in order).

    Rows ``(facet, value, n, rank)``: ``("_total", "", total, NULL)``, ``(facet, value, count, NULL)`` and
    ``("_hit", name, entry_id, rank)`` for the page's entries (to be ordered by rank, name, id). The index is matched once, into a materialised CTE holding
    the rows that some count needs (those failing at most one filter); each facet's counts apply every
    other facet's filter; the hits apply them all. Without words, a facet whose counts need no filter
    is read from ``catalog_search_count`` instead of counting the whole index; on the landing page (no
    words, no filters) that is every count, and the page is read in name order. With ``within`` (a subset of
    the entries, e.g. the open data portal's) every count is computed.
    """
    if not groups and not filters and within is None:
        first = (select(_DOC.c.entry_id, _DOC.c.name).where(*([_DOC.c.is_public == true()] if public else []))
                 .order_by(_DOC.c.name, _DOC.c.entry_id).limit(page.size).offset(page.offset).subquery())
        return union_all(_stored(TOTAL, public), *[_stored(k, public) for k in FACETS],
                         select(literal(HIT), first.c.name, first.c.entry_id, cast(literal(0), Float)))
    facet_cols = sorted({c for c, _zh, _en in FACETS.values()})
    conds = dict(zip(filters, _filter_conds(_DOC.c, filters), strict=True))
    # the facet that a row fails, if any (on PostgreSQL, for counting every facet in one grouping-sets pass)
    miss = [case(*[(not_(c), literal(k)) for k, c in conds.items()], else_=null()).label("miss")] \
        if conds and dialect == "postgresql" else []
    inner = _matched(dialect, groups, public, [_DOC.c.entry_id, _DOC.c.name, _rank(dialect, groups).label("rank"),
                                              *[_DOC.c[c] for c in facet_cols], *miss], within)
    if len(conds) == 1 and not groups and within is None:  # that facet's own counts come from the stored counts
        inner = inner.where(*conds.values())
    elif len(conds) > 1:
        inner = inner.where(or_(*[and_(*(c for j, c in conds.items() if j != k)) for k in conds]))
    m = inner.cte("m").prefix_with("MATERIALIZED")
    computed = [k for k in FACETS if groups or within is not None or _filter_conds(m.c, filters, skip=k)]
    branches = [_stored(k, public) for k in FACETS if k not in computed]
    if dialect == "postgresql":
        branches.append(_grouping_sets(m, computed, list(conds)))
    else:
        branches.append(select(literal(TOTAL).label("facet"), literal("").label("value"), func.count().label("n"),
                               _NO_RANK.label("rank")).select_from(m).where(*_filter_conds(m.c, filters)))
        for key in computed:
            col = m.c[FACETS[key][0]]
            branches.append(select(literal(key), col, func.count(), _NO_RANK).select_from(m)
                            .where(*_filter_conds(m.c, filters, skip=key)).group_by(col))
    page_rows = (select(m.c.entry_id, m.c.name, m.c.rank).where(*_filter_conds(m.c, filters))
                 .order_by(m.c.rank, m.c.name, m.c.entry_id).limit(page.size).offset(page.offset).subquery())
    branches.append(select(literal(HIT), page_rows.c.name, page_rows.c.entry_id, cast(page_rows.c.rank, Float)))
    return union_all(*branches)


def _grouping_sets(m, keys: list[str], filtered: list[str]):
    """PostgreSQL: the total and the counts of ``keys`` in one pass (GROUPING SETS, hashed).

    A row of ``m`` fails at most one filter (``miss``): it counts for every facet when it fails none,
    and only for the facet it fails otherwise (each facet's counts ignore that facet's own filter).
    """
    cols = [m.c[FACETS[k][0]] for k in keys]
    passed = func.count().filter(m.c.miss.is_(None)) if filtered else func.count()
    failed = {k: func.count().filter(m.c.miss == k) for k in filtered}
    g = (select(*cols, *[func.grouping(c).label(f"g_{k}") for k, c in zip(keys, cols, strict=True)],
                passed.label("passed"), *[n.label(f"miss_{k}") for k, n in failed.items()])
         .group_by(func.grouping_sets(*[tuple_(c) for c in cols], tuple_())).subquery("g"))
    facet = case(*[(g.c[f"g_{k}"] == 0, literal(k)) for k in keys], else_=literal(TOTAL))
    value = func.coalesce(*[g.c[FACETS[k][0]] for k in keys], literal(""))
    n = g.c.passed + case(*[(g.c[f"g_{k}"] == 0, g.c[f"miss_{k}"]) for k in keys if k in failed], else_=0) \
        if any(k in failed for k in keys) else g.c.passed
    return select(facet, value, n, _NO_RANK)


HIT = "_hit"
HIT_COLUMNS = ("entry_id", "code", "name", "org_name", "resource_attr", "topic", "grade", "sharing_type",
               "open_type", "format", "update_cycle", "version", "published_at")


def search(session: Session, *, actor: Actor | None, q: str = "", filters: dict[str, list[str]] | None = None,
           page: Page, expand: bool = True, within: Select | None = None) -> SearchResult:
    """Search published entries. ``actor=None`` is the public; ``expand=False`` leaves the dictionary out;
    ``within``: a SELECT of entry ids to search among (the open data portal passes its open entries).

    Two statements: the total, the facet counts and the page's ids in one; the page's display columns
    (and, with words, one small read of the synonym dictionary).
    """
    q = (q or "").strip()
    if len(q) > textsearch.MAX_QUERY:
        raise Invalid(f"检索词过长（最多 {textsearch.MAX_QUERY} 字）",
                      f"The query is too long (at most {textsearch.MAX_QUERY} characters)", field="q")
    filters = check_filters(filters)
    terms = textsearch.query_terms(q) if q else []
    groups = synonyms.expand(session, terms=terms) if expand else synonyms.plain(terms)
    public = public_only(actor)
    dialect = _dialect(session)
    counts: dict[str, list[tuple[str, int]]] = {k: [] for k in FACETS}
    total = 0
    ids: list[tuple[float, str, int]] = []
    for facet, value, n, rank in session.execute(_search_statement(dialect, groups, public, filters, page, within)):
        if facet == TOTAL:
            total = int(n)
        elif facet == HIT:
            ids.append((float(rank or 0), value, int(n)))
        elif value not in (None, "") and n:
            counts[facet].append((str(value), int(n)))
    for key, pairs in counts.items():
        pairs.sort(key=lambda p: (-p[1], p[0]))
        have = {v for v, _n in pairs}
        pairs.extend((v, 0) for v in filters.get(key, []) if v not in have)
    expansions = [g.expansion for g in groups if g.expansion is not None]
    words = list(dict.fromkeys(textsearch.all_words(terms) + [
        w for e in expansions for a in e.alternatives for w in textsearch.all_words(list(a))]))
    hits = []
    if ids:
        rows = {r["entry_id"]: r for r in session.execute(
            select(*[_DOC.c[c] for c in HIT_COLUMNS], _TEXT.c.summary)
            .select_from(_DOC.outerjoin(_TEXT, _TEXT.c.entry_id == _DOC.c.entry_id))
            .where(_DOC.c.entry_id.in_([i for _r, _n, i in ids]))).mappings()}
        for _r, _n, entry_id in sorted(ids):
            r = rows.get(entry_id)
            if r is None:  # removed between the two statements
                continue
            row = {**r, "summary": r["summary"] or ""}
            hits.append(SearchHit(
                **row, name_marked=textsearch.highlight(row["name"], words),
                summary_marked=textsearch.highlight(row["summary"], words, limit=120, pinyin=False)))
    return SearchResult(total=total, hits=hits, facets=counts, page=page, q=q, filters=filters,
                        terms=[t.word for t in terms], public_only=public, expand=expand,
                        expanded=[{"term": e.term, "also": list(e.also)} for e in expansions])


# The published entry, as the public (or staff) may see it ----------------------------------

@dataclass(frozen=True)
class PublishedEntry:
    entry_id: int
    version: int
    published_at: datetime | None
    #: the snapshot's entry fields (without items)
    fields: dict[str, Any]
    #: the data items the viewer may see
    items: list[dict[str, Any]]
    #: items left out because they are not open (public view only)
    hidden_items: int
    public_only: bool


#: entry fields the public detail leaves out; and the data item fields it shows
STAFF_ONLY_FIELDS = frozenset({"sharing_basis", "legal_basis", "filed_with_authority", "grade", "status",
                               "collecting_org_id", "verifying_org_id"})
PUBLIC_ITEM_FIELDS = frozenset({"seq", "name", "type", "length", "meaning", "open_type", "is_identifier"})


def published_entry(session: Session, *, actor: Actor | None, ref: str) -> PublishedEntry:
    """The latest published version of an entry by id or code; the public sees only what is open."""
    ref = (ref or "").strip()
    if ref.isascii() and ref.isdigit():
        doc = session.get(SearchDoc, int(ref)) if len(ref) <= 9 else None
    else:
        doc = session.scalar(select(SearchDoc).where(SearchDoc.code == ref))
    public = public_only(actor)
    if doc is None or (public and not doc.is_public):
        raise NotFound(f"未找到已发布的目录：{ref}", f"No published catalogue entry {ref}", field="ref")
    ver = session.scalar(select(EntryVersion).where(EntryVersion.entry_id == doc.entry_id,
                                                    EntryVersion.version == doc.version))
    if ver is None:
        raise NotFound(f"未找到已发布的目录：{ref}", f"No published catalogue entry {ref}", field="ref")
    snap = dict(ver.snapshot or {})
    items = [i for i in snap.pop("items", None) or [] if isinstance(i, dict)]
    snap.setdefault("org_name", doc.org_name)
    entry_open = _s(snap.get("open_type"))
    visible = [i for i in items if not public or (i.get("open_type") or entry_open) != NOT_OPEN]
    if public:
        snap = {k: v for k, v in snap.items() if k not in STAFF_ONLY_FIELDS}
        visible = [{k: v for k, v in i.items() if k in PUBLIC_ITEM_FIELDS} for i in visible]
    return PublishedEntry(entry_id=doc.entry_id, version=ver.version, published_at=ver.published_at,
                          fields=snap, items=visible, hidden_items=len(items) - len(visible), public_only=public)
