"""Chinese text for full-text search: jieba segmentation plus pinyin (full and initials).

Pure functions, no database. The catalogue index stores the space-separated tokens
these functions produce in the database's own full-text index (SQLite FTS5 with the
``unicode61`` tokenizer, PostgreSQL ``tsvector`` with the ``simple`` configuration);
both only split on spaces and punctuation, so Chinese words survive as whole tokens.

Index time, for each word of ``cut_for_search`` (fine and coarse words): the word,
its full pinyin (户籍 → ``huji``) and its initials (``hj``); for a name also the
initials and full pinyin of every suffix starting at a word boundary
(户籍人口基本信息 → ``hjrkjbxx``, ``rkjbxx`` …, ``hujirenkoujibenxinxi`` …).
Query time: the query is cut the same way and each word becomes a prefix term.

Segmentation uses a private jieba ``Tokenizer`` (so words other code adds to jieba's
global dictionary cannot change our index) with HMM new-word discovery switched off:
unknown runs fall apart into single characters the same way in a document and in a
query, which keeps index and query segmentation consistent and deterministic.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jieba
from pypinyin import Style, lazy_pinyin

jieba.setLogLevel(logging.WARNING)

#: words of public data management that jieba's general dictionary splits badly
DOMAIN_WORDS = (
    "户籍", "低保", "低保户", "特困", "公积金", "住房公积金", "社保", "医保", "统一社会信用代码", "公民身份号码",
    "身份证号", "不动产", "营业执照", "电子证照", "市场主体", "残疾人", "残联", "退役军人", "婚姻登记", "出生医学证明",
    "死亡医学证明", "数据元", "信息项", "一数一源", "政务服务", "镇街", "园区", "网格员", "双公示", "失信",
    "法人", "自然人", "信用代码", "行政许可", "行政处罚", "养老保险", "失业保险", "工伤保险", "生育保险",
    # jieba cuts these as 老年人/口 and 残疾人/口, so 人口 would not find them; as words, their search sub-words are
    # 老年 / 残疾, 人口 and still 老年人 / 残疾人 (changing this list needs `gongshu catalog reindex`)
    "老年人口", "残疾人口",
)
#: characters without search value: dropped from queries (and from the index)
STOP_WORDS = frozenset("的 了 和 与 及 或 等 之 其 并 而 也 以及 及其".split())
MAX_TOKEN = 80
MAX_QUERY = 200

_tokenizer: jieba.Tokenizer | None = None
_lock = threading.Lock()


def tokenizer() -> jieba.Tokenizer:
    """The shared tokenizer; its dictionary is loaded once, on first use (about one second)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                tk = jieba.Tokenizer()
                tk.initialize()
                for w in DOMAIN_WORDS:
                    tk.suggest_freq(w, tune=True)  # adds the word, frequent enough to stay whole
                _tokenizer = tk
    return _tokenizer


def warm() -> None:
    """Load the dictionary now (servers call this at start so the first search is not slow)."""
    tokenizer()


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC) and lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def _clean(token: str) -> str:
    """Keep letters and digits only: the databases' tokenizers split on everything else."""
    return "".join(ch for ch in token if ch.isalnum())[:MAX_TOKEN]


def has_han(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def _han_only(text: str) -> str:
    return "".join(ch for ch in text if has_han(ch))


@lru_cache(maxsize=200_000)
def pinyin_full(word: str) -> str:
    """户籍 → ``huji``; letters and digits are kept, other characters dropped."""
    return _clean("".join(lazy_pinyin(word, errors="default")).lower())


@lru_cache(maxsize=200_000)
def pinyin_initials(word: str) -> str:
    """户籍人口 → ``hjrk`` (only the Chinese characters contribute)."""
    han = _han_only(word)
    if not han:
        return ""
    return _clean("".join(lazy_pinyin(han, style=Style.FIRST_LETTER)).lower())


def cut(text: str) -> list[str]:
    """Precise segmentation into clean words (punctuation and blanks dropped)."""
    out = []
    for w in tokenizer().cut(normalize(text), HMM=False):
        c = _clean(w)
        if c:
            out.append(c)
    return out


def cut_for_search(text: str) -> list[str]:
    """Search-engine segmentation: the precise words plus their dictionary sub-words."""
    out = []
    for w in tokenizer().cut_for_search(normalize(text), HMM=False):
        c = _clean(w)
        if c:
            out.append(c)
    return out


def _add(out: dict[str, None], token: str) -> None:
    if token and token not in STOP_WORDS:
        out[token] = None


def word_tokens(text: str) -> list[str]:
    """Index tokens of free text: each search word, its full pinyin and its initials (deduplicated, ordered)."""
    out: dict[str, None] = {}
    for w in cut_for_search(text):
        if w in STOP_WORDS:
            continue
        _add(out, w)
        if has_han(w):
            _add(out, pinyin_full(w))
            if len(w) > 1:
                _add(out, pinyin_initials(w))
    return list(out)


def name_tokens(name: str) -> list[str]:
    """Index tokens of a name: :func:`word_tokens` plus initials and full pinyin of every word-boundary suffix."""
    out: dict[str, None] = dict.fromkeys(word_tokens(name))
    words = cut(name)
    for i in range(len(words)):
        rest = "".join(words[i:])
        if has_han(rest):
            _add(out, pinyin_initials(rest))
            _add(out, pinyin_full(rest))
    return list(out)


def index_text(*texts: str, name: str = "") -> str:
    """Space-separated tokens of ``name`` (if given) and ``texts``, ready for FTS5 or to_tsvector('simple')."""
    out: dict[str, None] = dict.fromkeys(name_tokens(name)) if name else {}
    for t in texts:
        if t:
            out.update(dict.fromkeys(word_tokens(t)))
    return " ".join(out)


@dataclass(frozen=True)
class QueryTerm:
    """One query word: matched as a prefix, or (when jieba knows finer words inside it) by all of those."""

    word: str
    pieces: tuple[str, ...] = ()


def query_terms(q: str) -> list[QueryTerm]:
    """Segment a search query the way documents are segmented; all terms must match (AND)."""
    words = cut(q[:MAX_QUERY])
    kept = [w for w in words if w not in STOP_WORDS] or words
    terms: dict[str, QueryTerm] = {}
    for w in kept:
        if w in terms:
            continue
        pieces = ()
        if has_han(w) and len(w) > 2:
            pieces = tuple(dict.fromkeys(p for p in cut_for_search(w) if p != w))
        terms[w] = QueryTerm(w, pieces)
    return list(terms.values())


def all_words(terms: list[QueryTerm]) -> list[str]:
    """Every word a query term may match (for highlighting)."""
    out: dict[str, None] = {}
    for t in terms:
        out[t.word] = None
        out.update(dict.fromkeys(t.pieces))
    return list(out)


def _prefix_query(terms: list[QueryTerm], prefix: str, and_: str, or_: str) -> str:
    """Every query term as a prefix match; a term that jieba split further may also match all its pieces."""
    parts = []
    for t in terms:
        one = prefix.format(t.word)
        if t.pieces:
            one = "(" + one + or_ + "(" + and_.join(prefix.format(p) for p in t.pieces) + "))"
        parts.append(one)
    return and_.join(parts)


def fts5_query(terms: list[QueryTerm]) -> str:
    """An FTS5 MATCH expression: ``("户籍"* OR ("a"* AND "b"*)) AND "hj"*``. Terms are alphanumeric only."""
    return _prefix_query(terms, '"{}"*', " AND ", " OR ")


def tsquery(terms: list[QueryTerm]) -> str:
    """A PostgreSQL to_tsquery('simple', …) expression: ``('户籍':* | ('a':* & 'b':*)) & 'hj':*``."""
    return _prefix_query(terms, "'{}':*", " & ", " | ")


def _mark_all(mask: list[bool], hay: str, needle: str, *, word_start: bool = False) -> None:
    start = hay.find(needle)
    while start >= 0:
        if not word_start or start == 0 or not hay[start - 1].isalnum():
            mask[start:start + len(needle)] = [True] * len(needle)
        start = hay.find(needle, start + 1)


def highlight(text: str, words: list[str], *, limit: int | None = None, pinyin: bool = True
              ) -> list[tuple[str, bool]]:
    """Split ``text`` into (segment, matched) pairs for display; with ``limit``, a window around the first match.

    Chinese words and letters/digits are marked where they occur; with ``pinyin`` the words whose
    full pinyin or initials start with a query's letters are marked too (this segments the text,
    so callers switch it off for long texts).
    """
    if not text:
        return []
    needles = [n for n in (_clean(normalize(w)) for w in words) if n]
    mask = [False] * len(text)
    hay = normalize(text)
    if len(hay) != len(text):  # NFKC changed the length: fall back to plain lower case
        hay = text.lower()
    latin = [n for n in needles if not has_han(n)]
    for n in needles:
        _mark_all(mask, hay, n, word_start=n in latin)
    if latin and pinyin and has_han(text):
        pos = 0
        for w in tokenizer().cut(text, HMM=False):
            c = _clean(w)
            if has_han(c) and any(pinyin_full(c).startswith(n) or pinyin_initials(c).startswith(n) for n in latin):
                mask[pos:pos + len(w)] = [True] * len(w)
            pos += len(w)
    segs: list[tuple[str, bool]] = []
    for ch, hit in zip(text, mask, strict=True):
        if segs and segs[-1][1] == hit:
            segs[-1] = (segs[-1][0] + ch, hit)
        else:
            segs.append((ch, hit))
    if limit is None or len(text) <= limit:
        return segs
    # keep a window of about ``limit`` characters starting a little before the first match
    start = 0
    pos = 0
    for s, hit in segs:
        if hit:
            start = max(0, pos - limit // 4)
            break
        pos += len(s)
    out: list[tuple[str, bool]] = [("…", False)] if start else []
    pos = 0
    budget = limit
    for s, hit in segs:
        end = pos + len(s)
        if end > start and budget > 0:
            piece = s[max(0, start - pos):][:budget]
            budget -= len(piece)
            out.append((piece, hit))
        pos = end
    if budget <= 0:
        out.append(("…", False))
    return out
