"""The search synonym and abbreviation dictionary (同义词/简称词典) of catalogue search (R-CAT-10).

People search with the 简称 they use (社保, 低保, 公积金 …) while entries carry the full terms
(社会保险参保信息, 最低生活保障对象信息). A dictionary row maps a term to one or more full terms;
a bidirectional row is a group of equivalent terms, each of which also searches the others
(户籍 ⇄ 户口). The migration seeds common government abbreviations; the authority maintains the
rest on the workbench (:func:`create`, :func:`update`, :func:`delete`, each audited).

It is applied at query time (:func:`expand`), so an edit takes effect on the next search with
no reindex. Terms and expansions are segmented exactly like a query (``kit.textsearch``): a
term matches a run of the query's words (``婚登`` is two words to jieba, ``社保`` one), and an
expansion becomes the same prefix terms a user typing it would get, so ``社会保险`` finds
``社会保险参保信息`` through the tokens the index already has.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import declare
from gongshu.auth.models import User
from gongshu.auth.service import Actor, require
from gongshu.catalog.search_models import SearchSynonym
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.kit import textsearch

declare("catalog.synonyms.manage", "维护检索同义词/简称词典", "Maintain the search synonym and abbreviation dictionary",
        {"authority_admin", "sysadmin"})

MAX_TERM = 20
MAX_EXPANSION = 40
MAX_EXPANSIONS = 10
#: how the form's one text field separates expansions
SEPARATORS = re.compile(r"[、，,；;|/\s]+")


# Applying the dictionary to a query ----------------------------------------------------------

@dataclass(frozen=True)
class Expansion:
    """A dictionary hit: the term as the dictionary writes it and the full terms it also searches."""

    term: str
    also: tuple[str, ...]
    #: each full term segmented like a query (its words are AND-ed; the alternatives are OR-ed)
    alternatives: tuple[tuple[textsearch.QueryTerm, ...], ...]


@dataclass(frozen=True)
class Group:
    """A run of query words that must match (AND), or else one of the expansion's alternatives."""

    words: tuple[textsearch.QueryTerm, ...]
    expansion: Expansion | None = None


@lru_cache(maxsize=4096)
def _segmented(text: str) -> tuple[textsearch.QueryTerm, ...]:
    return tuple(textsearch.query_terms(text))


def key(text: str) -> tuple[str, ...]:
    """The words a query made of ``text`` is segmented into: what a dictionary term is matched by."""
    return tuple(t.word for t in _segmented(text))


Rows = tuple[tuple[str, tuple[str, ...], bool], ...]


@lru_cache(maxsize=8)
def _lookup(rows: Rows) -> tuple[dict[tuple[str, ...], Expansion], int]:
    """Query words -> expansion, and the longest run of words a term spans (built once per dictionary state)."""
    found: dict[tuple[str, ...], tuple[str, list[str]]] = {}

    def add(term: str, others: tuple[str, ...]) -> None:
        k = key(term)
        if not k:
            return
        _term, also = found.setdefault(k, (term, []))
        also.extend(o for o in others if key(o) and key(o) != k and o not in also)

    for term, expansions, both in rows:
        add(term, expansions)
        if both:
            group = (term, *expansions)
            for e in expansions:
                add(e, tuple(g for g in group if g != e))
    out = {k: Expansion(term, tuple(also), tuple(_segmented(a) for a in also))
           for k, (term, also) in found.items() if also}
    return out, max((len(k) for k in out), default=0)


def _rows(session: Session) -> Rows:
    return tuple((term, tuple(exps or ()), bool(both)) for term, exps, both in session.execute(
        select(SearchSynonym.term, SearchSynonym.expansions, SearchSynonym.bidirectional)
        .order_by(SearchSynonym.id)))


def expand(session: Session, *, terms: list[textsearch.QueryTerm]) -> list[Group]:
    """Group a query's words: a run of words that is a dictionary term also matches its expansions.

    The longest run wins (left to right); words outside any term are a group of one. With no
    dictionary hit the groups are just the words, and the query is what it was without a dictionary.
    """
    if not terms:
        return []
    lookup, longest = _lookup(_rows(session))
    words = [t.word for t in terms]
    out: list[Group] = []
    i = 0
    while i < len(terms):
        for n in range(min(longest, len(terms) - i), 0, -1):
            hit = lookup.get(tuple(words[i:i + n]))
            if hit is not None:
                out.append(Group(tuple(terms[i:i + n]), hit))
                i += n
                break
        else:
            out.append(Group((terms[i],)))
            i += 1
    return out


def plain(terms: list[textsearch.QueryTerm]) -> list[Group]:
    """The query's words without the dictionary (one group each)."""
    return [Group((t,)) for t in terms]


# Maintaining the dictionary -------------------------------------------------------------------

@dataclass(frozen=True)
class SynonymRow:
    id: int
    term: str
    expansions: list[str]
    bidirectional: bool
    updated_at: datetime
    #: who last changed it; empty for the seeded rows nobody has edited
    updated_by: str


def _clean(text: str) -> str:
    """NFKC (full-width to half-width), outer blanks off."""
    return unicodedata.normalize("NFKC", text or "").strip()


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch)[0] == "C" for ch in text)


def split_expansions(text: str) -> list[str]:
    """The form's one text field: expansions separated by 、，,；; / | or blanks."""
    return [p for p in SEPARATORS.split(text or "") if p]


def _checked(session: Session, *, term: str, expansions: list[str] | str, bidirectional: bool,
             synonym_id: int | None = None) -> dict[str, Any]:
    if isinstance(expansions, str):
        expansions = split_expansions(expansions)
    term = _clean(term)
    if not term:
        raise Invalid("请填写词语（简称或同义词，如：社保）", "Enter the term (an abbreviation or variant, e.g. 社保)",
                      field="term")
    if len(term) > MAX_TERM:
        raise Invalid(f"词语“{term[:MAX_TERM]}…”过长（最多 {MAX_TERM} 字）",
                      f"The term is too long (at most {MAX_TERM} characters)", field="term")
    if _has_control(term):
        raise Invalid("词语含有不可见的控制字符", "The term contains control characters", field="term")
    if not key(term):
        raise Invalid(f"词语“{term}”不含汉字、字母或数字，无法检索", f"The term '{term}' has no characters, letters or "
                      "digits to search for", field="term")
    cleaned: list[str] = []
    for raw in expansions:
        e = _clean(raw)
        if not e:
            continue
        if len(e) > MAX_EXPANSION:
            raise Invalid(f"扩展词“{e[:MAX_EXPANSION]}…”过长（每个最多 {MAX_EXPANSION} 字）",
                          f"An expansion is too long (at most {MAX_EXPANSION} characters each)",
                          field="expansions", details=[{"expansion": e[:MAX_EXPANSION]}])
        if _has_control(e):
            raise Invalid("扩展词含有不可见的控制字符", "An expansion contains control characters",
                          field="expansions")
        if not key(e):
            raise Invalid(f"扩展词“{e}”不含汉字、字母或数字，无法检索",
                          f"The expansion '{e}' has no characters, letters or digits to search for",
                          field="expansions", details=[{"expansion": e}])
        if key(e) == key(term):
            raise Invalid(f"扩展词“{e}”与词语“{term}”相同，请填写它的全称或同义词",
                          f"The expansion '{e}' is the term itself; enter its full form or a synonym",
                          field="expansions", details=[{"expansion": e}])
        if e not in cleaned and key(e) not in {key(c) for c in cleaned}:
            cleaned.append(e)
    if not cleaned:
        raise Invalid(f"请为“{term}”填写至少一个全称或同义词（多个用顿号分隔，如：医疗保险、医疗保障）",
                      f"Enter at least one full term or synonym for '{term}' (separate several with 、 or commas)",
                      field="expansions")
    if len(cleaned) > MAX_EXPANSIONS:
        raise Invalid(f"每个词语最多 {MAX_EXPANSIONS} 个扩展词", f"At most {MAX_EXPANSIONS} expansions per term",
                      field="expansions")
    same = [s for s in session.scalars(select(SearchSynonym)) if s.id != synonym_id and key(s.term) == key(term)]
    if same:
        raise Conflict(f"词典中已有“{same[0].term}”，请修改那一条", f"'{same[0].term}' is already in the dictionary; "
                       "edit that entry instead", field="term", details=[{"id": same[0].id, "term": same[0].term}])
    return {"term": term, "expansions": cleaned, "bidirectional": bool(bidirectional)}


def _state(s: SearchSynonym) -> dict[str, Any]:
    return {"term": s.term, "expansions": list(s.expansions), "bidirectional": s.bidirectional}


def _described(session: Session, *where) -> list[SynonymRow]:
    rows = session.execute(select(SearchSynonym, User.display_name).where(*where)
                           .outerjoin(User, User.id == SearchSynonym.updated_by).order_by(SearchSynonym.term))
    return [SynonymRow(s.id, s.term, list(s.expansions or []), s.bidirectional, s.updated_at, name or "")
            for s, name in rows]


def list_synonyms(session: Session, *, actor: Actor) -> list[SynonymRow]:
    """Every dictionary row in term order, with who last changed it."""
    require(actor, "catalog.synonyms.manage")
    return _described(session)


def describe(session: Session, *, actor: Actor, synonym_id: int) -> SynonymRow:
    """One dictionary row with who last changed it."""
    get(session, actor=actor, synonym_id=synonym_id)
    return _described(session, SearchSynonym.id == synonym_id)[0]


def get(session: Session, *, actor: Actor, synonym_id: int) -> SearchSynonym:
    require(actor, "catalog.synonyms.manage")
    found = session.get(SearchSynonym, synonym_id)
    if found is None:
        raise NotFound(f"词典中没有编号为 {synonym_id} 的词语", f"No dictionary entry {synonym_id}", field="id")
    return found


def create(session: Session, *, actor: Actor, term: str, expansions: list[str] | str,
           bidirectional: bool = False) -> SearchSynonym:
    require(actor, "catalog.synonyms.manage")
    values = _checked(session, term=term, expansions=expansions, bidirectional=bidirectional)
    now = utcnow()
    row = SearchSynonym(**values, created_at=now, updated_at=now, updated_by=actor.user_id)
    session.add(row)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.synonyms.create", subject_type="search_synonym",
                         subject_id=row.id, after=_state(row), detail={"after": _state(row)})
    return row


def update(session: Session, *, actor: Actor, synonym_id: int, term: str, expansions: list[str] | str,
           bidirectional: bool = False) -> SearchSynonym:
    row = get(session, actor=actor, synonym_id=synonym_id)
    values = _checked(session, term=term, expansions=expansions, bidirectional=bidirectional, synonym_id=row.id)
    before = _state(row)
    if values == before:
        return row
    for k, v in values.items():
        setattr(row, k, v)
    row.updated_at, row.updated_by = utcnow(), actor.user_id
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.synonyms.update", subject_type="search_synonym",
                         subject_id=row.id, before=before, after=_state(row),
                         detail={"before": before, "after": _state(row)})
    return row


def delete(session: Session, *, actor: Actor, synonym_id: int) -> None:
    row = get(session, actor=actor, synonym_id=synonym_id)
    before = _state(row)
    session.delete(row)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.synonyms.delete", subject_type="search_synonym",
                         subject_id=synonym_id, before=before, detail={"before": before})
