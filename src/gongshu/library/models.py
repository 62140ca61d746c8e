"""Library builds and the disagreements between sources they find (R-AGG-4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.db import Base, UTCDateTime, utcnow

KINDS = {"person": ("人口库", "Person library"), "entity": ("法人库", "Legal-entity library")}


class LibraryBuild(Base):
    """One materialisation of a library from the serving versions of its sources (lineage)."""

    __tablename__ = "library_build"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(10), default="current", index=True)  # current / old
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    #: [{"entry_id", "entry_name", "org_id", "version_id", "number", "key": "c1", "attributes": {element: column}}]
    sources: Mapped[list] = mapped_column(JSON)
    #: [{"name": element name, "source_org_id": …, "column": "a3"}]
    attributes: Mapped[list] = mapped_column(JSON)
    subjects: Mapped[int] = mapped_column(BigInteger, default=0)
    conflicts: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LibraryConflict(Base):
    """Two sources disagree on one attribute of one subject; the legal source's value was used."""

    __tablename__ = "library_conflict"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("library_build.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(40), index=True)
    attribute: Mapped[str] = mapped_column(String(100))
    chosen_value: Mapped[str] = mapped_column(Text, default="")
    chosen_entry_id: Mapped[int] = mapped_column(Integer)
    other_value: Mapped[str] = mapped_column(Text, default="")
    other_entry_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open / routed / resolved (governance)


class Theme(Base):
    """A thematic library (主题库) the authority defines as a composition of entries and items, e.g.
    社会救助 = 低保 + 残疾人 + 户籍, joined on a subject key."""

    __tablename__ = "library_theme"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    #: {"key": "公民身份号码", "base_entry_id": 12, "parts": [{"entry_id": 12, "items": ["姓名", …]}, …]}
    definition: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThemeBuild(Base):
    """One materialisation of a theme from named source versions (lineage)."""

    __tablename__ = "library_theme_build"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("library_theme.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="current")  # current / old
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    snapshot_path: Mapped[str] = mapped_column(String(500), default="")
    snapshot_sm3: Mapped[str] = mapped_column(String(64), default="")
    #: [{"entry_id", "version_id", "number"}] — the versions used
    sources: Mapped[list] = mapped_column(JSON)
    columns: Mapped[list] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
