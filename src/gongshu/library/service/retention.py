"""Builds don't pile up (R-AGG-4, R-AGG-5): only the newest ``KEEP_BUILDS`` builds of each library
and theme keep their store table and Parquet file; older builds are marked ``expired`` and keep their
row, so the lineage history (which source versions each build used) stays. The build being served
is never dropped. Run after each successful build and by the periodic refresh.

Library tables are named ``lib_<kind>_<stamp>`` and ``lib_theme_<theme id>_<stamp>``, their files
``libraries/<kind>-<stamp>.parquet`` and ``libraries/theme-<id>-<stamp>.parquet`` under the files
root. The ingest start-up clean-up (``cleanup(prefix="rd_")``) does not see them, so :func:`recover`
(a ``jobs.on_start`` hook) removes the tables and files no kept build uses: those of builds that
crashed or were rolled back after their table was written. Tables of a build running at that moment
(its build lock is held) are left alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor
from gongshu.db import unit_of_work
from gongshu.jobs.service import on_start
from gongshu.library.models import KINDS, LibraryBuild, Theme, ThemeBuild
from gongshu.library.service import locks
from gongshu.store import registry

log = logging.getLogger(__name__)

#: builds of each library / theme that keep their data (older ones expire; their rows stay)
KEEP_BUILDS = 3
PREFIX = "lib_"


def lock_name(table: str) -> str:
    """The build lock that guards a library table: ``lib_person_…`` → person, ``lib_theme_7_…`` → theme-7."""
    parts = table.split("_")
    return f"theme-{parts[2]}" if parts[1] == "theme" else parts[1]


def _file_owner(name: str) -> str:
    """Same for a file: ``person-<stamp>[-conflicts].parquet`` → person, ``theme-7-<stamp>.parquet`` → theme-7."""
    parts = name.split("-")
    return f"theme-{parts[1]}" if parts[0] == "theme" else parts[0]


def theme_file(build: ThemeBuild) -> Path:
    p = Path(build.snapshot_path)
    return p if p.is_absolute() else registry.files_root() / p


def files_of(build: LibraryBuild | ThemeBuild) -> list[Path]:
    if isinstance(build, ThemeBuild):
        return [theme_file(build)] if build.snapshot_path else []
    stamp = build.table_name.rsplit("_", 1)[-1]  # lib_<kind>_<stamp> was built from libraries/<kind>-<stamp>.parquet
    return [registry.files_root() / "libraries" / f"{build.kind}-{stamp}.parquet"]


def _expire(session: Session, *, actor: Actor, builds: list, keep: int) -> list[str]:
    """``builds`` newest first, of one library or theme."""
    store = registry.get_store()
    dropped = []
    for b in builds[keep:]:
        if b.status in ("current", "expired"):
            continue
        store.drop_table(b.table_name)
        for path in files_of(b):
            path.unlink(missing_ok=True)
        b.status = "expired"
        dropped.append(b.table_name)
        audit.record(session, actor=actor, action="library.build.expire",
                     subject_type="library_build" if isinstance(b, LibraryBuild) else "library_theme_build",
                     subject_id=b.id, after={"table": b.table_name})
    return dropped


def expire_library(session: Session, *, actor: Actor, kind: str, keep: int = KEEP_BUILDS) -> list[str]:
    """Drop the data of all but the newest ``keep`` builds of one library; returns the tables dropped."""
    return _expire(session, actor=actor, keep=keep, builds=list(session.scalars(
        select(LibraryBuild).where(LibraryBuild.kind == kind).order_by(LibraryBuild.id.desc()))))


def expire_theme(session: Session, *, actor: Actor, theme_id: int, keep: int = KEEP_BUILDS) -> list[str]:
    """Drop the data of all but the newest ``keep`` builds of one theme; returns the tables dropped."""
    return _expire(session, actor=actor, keep=keep, builds=list(session.scalars(
        select(ThemeBuild).where(ThemeBuild.theme_id == theme_id).order_by(ThemeBuild.id.desc()))))


def expire_all(session: Session, *, actor: Actor, keep: int = KEEP_BUILDS) -> list[str]:
    dropped = []
    for kind in KINDS:
        dropped += expire_library(session, actor=actor, kind=kind, keep=keep)
    for theme_id in session.scalars(select(Theme.id).order_by(Theme.id)):
        dropped += expire_theme(session, actor=actor, theme_id=theme_id, keep=keep)
    return dropped


@on_start
def recover() -> dict:
    """At start: drop library tables and files that no kept build uses (crashed or rolled-back builds),
    except those of builds running now. Returns what was removed."""
    with unit_of_work() as session:
        keep = set(session.scalars(select(LibraryBuild.table_name).where(LibraryBuild.status != "expired")))
        themes = list(session.scalars(select(ThemeBuild).where(ThemeBuild.status != "expired")))
        keep |= {b.table_name for b in themes}
        kept_files = {theme_file(b) for b in themes if b.snapshot_path}
        kept_files |= {p for b in session.scalars(select(LibraryBuild).where(LibraryBuild.status != "expired"))
                       for p in files_of(b)}
    store = registry.get_store()
    tables = store.tables(PREFIX)
    folder = registry.files_root() / "libraries"
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    owners = sorted({lock_name(t) for t in tables} | {_file_owner(p.name) for p in files})
    dropped, removed = [], []
    with locks.free(owners) as idle:
        for table in tables:
            if table not in keep and lock_name(table) in idle:
                store.drop_table(table)
                dropped.append(table)
        for path in files:
            if path not in kept_files and _file_owner(path.name) in idle:
                path.unlink(missing_ok=True)
                removed.append(str(path))
    if dropped or removed:
        log.warning("library recovery: %d orphan tables, %d orphan files removed", len(dropped), len(removed))
    return {"tables": dropped, "files": removed}
