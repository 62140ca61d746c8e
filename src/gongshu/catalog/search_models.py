"""The catalogue search index: one row per published entry, derived from its latest published version.

Two tables, so that what every search reads stays narrow:

- ``catalog_search_doc``: the facet columns (denormalised), name and code — what the facet
  counts and the ordering read for every matched entry;
- ``catalog_search_text``: the summary and the tokens (``kit.textsearch``) that feed the
  database's own full-text index, which the migration adds: on SQLite an external-content
  FTS5 table ``catalog_search_fts`` over this table, kept in step by triggers; on PostgreSQL
  ``tsv`` (``to_tsvector('simple', …)``, name tokens weighted A) with a GIN index and
  ``name_words`` on ``catalog_search_doc``, computed from these tokens when the search service
  writes the doc row. Those columns are not mapped here: SQLite has none.

The index is derived data: ``gongshu catalog reindex`` rebuilds it from the versions.

``catalog_search_synonym`` is not: it is the synonym and abbreviation dictionary (同义词/简称词典)
that the authority maintains and that search applies at query time (no reindex needed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow


class SearchDoc(Base):
    __tablename__ = "catalog_search_doc"
    __table_args__ = (Index("ix_catalog_search_doc_name_entry_id", "name", "entry_id"),)
    #: the entry's id; no foreign key, so the index can be rebuilt (or benchmarked) on its own
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(60), index=True)
    name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # facets
    org_name: Mapped[str] = mapped_column(String(200), default="")
    resource_attr: Mapped[str] = mapped_column(String(4), default="")
    topic: Mapped[str] = mapped_column(String(40), default="")
    grade: Mapped[str] = mapped_column(String(10), default="")
    sharing_type: Mapped[str] = mapped_column(String(10), default="")
    open_type: Mapped[str] = mapped_column(String(10), default="")
    format: Mapped[str] = mapped_column(String(20), default="")
    update_cycle: Mapped[str] = mapped_column(String(10), default="")
    #: open_type is not 不予开放: the public may see it
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SearchText(Base):
    __tablename__ = "catalog_search_text"
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    # full-text tokens (space separated): the name's, and those of everything else searchable
    name_tokens: Mapped[str] = mapped_column(Text, default="")
    body_tokens: Mapped[str] = mapped_column(Text, default="")


class SearchCount(Base):
    """Facet counts over every indexed entry (``_total`` under value ""), kept in step by the search service.

    They answer the catalogue's landing page (no words, no filters) without scanning the index.
    """

    __tablename__ = "catalog_search_count"
    facet: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    n_all: Mapped[int] = mapped_column(Integer, default=0)
    n_public: Mapped[int] = mapped_column(Integer, default=0)


class SearchSynonym(Base):
    """One dictionary row: a term people type (简称 or variant, e.g. 社保) and the full terms it also searches.

    With ``bidirectional`` the row is a group of equivalent terms: each of them also searches the others
    (户籍 ⇄ 户口). Seeded by the migration with common government abbreviations; ``updated_by`` is empty
    for those until someone edits them.
    """

    __tablename__ = "catalog_search_synonym"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term: Mapped[str] = mapped_column(String(20), unique=True)
    #: the full terms, in the order they are shown ("也搜索了：…")
    expansions: Mapped[list[str]] = mapped_column(JSON, default=list)
    bidirectional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True)
