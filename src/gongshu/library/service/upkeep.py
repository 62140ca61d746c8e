"""Keeping the libraries current and their builds few (R-AGG-4, R-AGG-5).

* **Staleness**: a build is stale when a source it drew from serves another version now, or a new
  source appeared (libraries) — :func:`stale_libraries` / :func:`stale_themes` say which source moved
  from which version to which.
* **Refresh**: a periodic job rebuilds what is stale, one library or theme at a time, as the platform
  acting on the authority's standing instruction (actor ``REFRESHER``, audited like a manual rebuild);
  a failing build is logged and recorded in the audit log and does not stop the others.
* **Retention**: only the newest ``KEEP_BUILDS`` builds of each library and theme keep their store
  table and Parquet file; older builds are marked ``expired`` and keep their row (lineage history).
  The build being served is never dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor
from gongshu.errors import GongshuError
from gongshu.jobs.service import periodic
from gongshu.library.models import KINDS, LibraryBuild, Theme, ThemeBuild
from gongshu.library.service import build as library_build
from gongshu.library.service import themes
from gongshu.store import registry

log = logging.getLogger(__name__)

#: builds of each library / theme that keep their data (older ones expire)
KEEP_BUILDS = 3
#: how often stale libraries and themes are rebuilt
REFRESH_EVERY = timedelta(minutes=10)
#: the platform rebuilding on the authority's standing instruction (the only role that may build)
REFRESHER = Actor(None, "system", "系统（自动更新）", None, "platform", "系统", frozenset({"authority_admin"}))


def _moves(used: dict[int, tuple[int, int, str]], now: dict[int, tuple[int, int, str]]) -> list[dict]:
    """Sources whose serving version differs from the one a build used: {entry_id: (version_id, number, name)}."""
    out = []
    for entry_id, (vid, number, name) in now.items():
        before = used.get(entry_id)
        if before is None or before[0] != vid:
            out.append({"entry_id": entry_id, "entry_name": name, "from": before[1] if before else None, "to": number})
    for entry_id, (_vid, number, name) in used.items():
        if entry_id not in now:
            out.append({"entry_id": entry_id, "entry_name": name, "from": number, "to": None})
    return out


def stale_libraries(session: Session, kinds: tuple[str, ...] = tuple(KINDS)) -> dict[str, list[dict]]:
    """Per library kind with a current build: the sources that moved since (empty list: up to date)."""
    out = {}
    for kind in kinds:
        current = session.scalar(select(LibraryBuild).where(LibraryBuild.kind == kind,
                                                            LibraryBuild.status == "current"))
        if current is None:
            continue
        used = {s["entry_id"]: (s["version_id"], s["number"], s["entry_name"]) for s in current.sources}
        sources, _ = library_build._sources(session, kind)
        now = {s["entry_id"]: (s["version_id"], s["number"], s["entry_name"]) for s in sources}
        out[kind] = _moves(used, now)
    return out


def stale_themes(session: Session, theme_ids: list[int] | None = None) -> dict[int, list[dict]]:
    """Per theme with a current build: the parts whose serving version moved since."""
    out = {}
    stmt = select(Theme) if theme_ids is None else select(Theme).where(Theme.id.in_(theme_ids))
    for theme in session.scalars(stmt):
        current = themes.current_build(session, theme_id=theme.id)
        if current is None:
            continue
        used = {s["entry_id"]: (s["version_id"], s["number"], s.get("entry_name", "")) for s in current.sources}
        try:
            resolved = themes._resolve(session, key=theme.definition["key"], parts=theme.definition["parts"])
        except GongshuError as exc:  # a part lost its data: the theme cannot be rebuilt until it is back
            out[theme.id] = [{"entry_id": None, "entry_name": "", "from": None, "to": None, "error": exc.message}]
            continue
        now = {r["entry"].id: (r["version"].id, r["version"].number, r["entry"].name) for r in resolved}
        out[theme.id] = _moves(used, now)
    return out


def expire_old_builds(session: Session, *, keep: int = KEEP_BUILDS) -> list[str]:
    """Drop the store tables and files of all but the newest ``keep`` builds of each library and theme;
    the current build is always kept. Returns the tables dropped."""
    store = registry.get_store()
    dropped: list[str] = []
    groups: list[list] = []
    for kind in KINDS:
        groups.append(list(session.scalars(select(LibraryBuild).where(LibraryBuild.kind == kind)
                                           .order_by(LibraryBuild.id.desc()))))
    for theme_id in session.scalars(select(Theme.id)):
        groups.append(list(session.scalars(select(ThemeBuild).where(ThemeBuild.theme_id == theme_id)
                                           .order_by(ThemeBuild.id.desc()))))
    for builds in groups:
        for b in builds[keep:]:
            if b.status in ("current", "expired"):
                continue
            store.drop_table(b.table_name)
            for path in _files_of(b):
                path.unlink(missing_ok=True)
            b.status = "expired"
            dropped.append(b.table_name)
            audit.record(session, actor=REFRESHER, action="library.build.expire", subject_type=_subject(b),
                         subject_id=b.id, after={"table": b.table_name})
    return dropped


def _subject(b: LibraryBuild | ThemeBuild) -> str:
    return "library_build" if isinstance(b, LibraryBuild) else "library_theme_build"


def _files_of(b: LibraryBuild | ThemeBuild) -> list[Path]:
    if isinstance(b, ThemeBuild):
        return [themes.build_snapshot_path(b)] if b.snapshot_path else []
    # lib_<kind>_<stamp> was built from libraries/<kind>-<stamp>.parquet
    stamp = b.table_name.rsplit("_", 1)[-1]
    return [registry.files_root() / "libraries" / f"{b.kind}-{stamp}.parquet"]


def refresh(session_factory) -> dict:
    """Rebuild every stale library and theme, each in its own transaction; then expire old builds.
    Returns what was rebuilt and what failed."""
    done: dict = {"libraries": [], "themes": [], "failed": []}
    with session_factory() as s:
        libs = [k for k, moves in stale_libraries(s).items() if moves]
        ths = [t for t, moves in stale_themes(s).items() if moves and not any("error" in m for m in moves)]
    for kind in libs:
        _one(session_factory, done, ("library", kind),
             lambda s, k=kind: library_build.build(s, actor=REFRESHER, kind=k))
        done["libraries"].append(kind)
    for theme_id in ths:
        _one(session_factory, done, ("theme", theme_id),
             lambda s, t=theme_id: themes.build_theme(s, actor=REFRESHER, theme_id=t))
        done["themes"].append(theme_id)
    with session_factory() as s, s.begin():
        done["expired"] = expire_old_builds(s)
    done["libraries"] = [k for k in done["libraries"] if ("library", k) not in done["failed"]]
    done["themes"] = [t for t in done["themes"] if ("theme", t) not in done["failed"]]
    return done


def _one(session_factory, done: dict, what: tuple, work) -> None:
    try:
        with session_factory() as s, s.begin():
            work(s)
    except Exception as exc:  # noqa: BLE001 - one failing build must not stop the others; it is recorded
        log.exception("automatic rebuild of %s failed", what)
        done["failed"].append(what)
        with session_factory() as s, s.begin():
            audit.record(s, actor=REFRESHER, action="library.refresh.fail", subject_type=what[0],
                         subject_id=str(what[1]), detail={"error": str(getattr(exc, "message", exc))[:500]})


@periodic("library.refresh", every=REFRESH_EVERY)
def _refresh(session: Session) -> None:
    from gongshu.db import session_factory

    refresh(session_factory())
