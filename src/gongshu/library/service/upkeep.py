"""Keeping the libraries current (R-AGG-4, R-AGG-5).

* **Staleness**: a build is stale when a source it drew from serves another version now, a new
  source appeared (libraries) or a part was added to or removed from the theme —
  :func:`stale_libraries` / :func:`stale_themes` say which source moved from which version to which
  (``{"entry_id", "entry_name", "from", "to"}``; an ``error`` entry when the library or theme cannot be
  rebuilt now, e.g. a part lost its data).
* **Refresh**: a periodic job (``library.refresh``, every ``REFRESH_EVERY``) rebuilds what is stale,
  one library or theme at a time, each in its own transaction, as the platform acting on the
  authority's standing instruction (actor ``REFRESHER``, audited like a manual rebuild). A library
  whose build is running (its build lock is held, see ``locks``) is skipped until the next run; a
  failing build is logged and recorded in the audit log (``library.refresh.fail``) and does not
  stop the others. Then old builds expire (``retention``).

The job polls: loading a new version (ingest) knows nothing of libraries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gongshu import db as gdb
from gongshu.audit import service as audit
from gongshu.auth.service import Actor
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.jobs.service import periodic
from gongshu.library.models import KINDS, LibraryBuild, Theme
from gongshu.library.service import build as library_build
from gongshu.library.service import locks, retention, themes

log = logging.getLogger(__name__)

#: how often stale libraries and themes are rebuilt: a new data version shows in the libraries within
#: this time; each run costs one staleness check per library and theme (metadata reads) when nothing moved
REFRESH_EVERY = timedelta(minutes=10)
#: the platform rebuilding on the authority's standing instruction (the only role that may build)
REFRESHER = Actor(None, "system", "系统（自动更新）", None, "platform", "系统", frozenset({"authority_admin"}))

Versions = dict[int, tuple[int, int, str]]  # entry_id -> (version_id, number, entry name)


def _moves(used: Versions, now: Versions) -> list[dict]:
    """Sources whose serving version differs from the one a build used."""
    out = []
    for entry_id, (vid, number, name) in now.items():
        before = used.get(entry_id)
        if before is None or before[0] != vid:
            out.append({"entry_id": entry_id, "entry_name": name, "from": before[1] if before else None, "to": number})
    for entry_id, (_vid, number, name) in used.items():
        if entry_id not in now:
            out.append({"entry_id": entry_id, "entry_name": name, "from": number, "to": None})
    return out


def _error(exc: GongshuError) -> list[dict]:
    return [{"entry_id": None, "entry_name": "", "from": None, "to": None, "error": exc.message,
             "error_en": exc.message_en}]


def rebuildable(moves: list[dict] | None) -> bool:
    """Stale and buildable now."""
    return bool(moves) and not any("error" in m for m in moves)


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
        if not sources:
            out[kind] = _error(GongshuError(f"已没有可用于{KINDS[kind][0]}的已归集数据",
                                            f"No aggregated data feeds the {KINDS[kind][1]} any more"))
            continue
        now = {s["entry_id"]: (s["version_id"], s["number"], s["entry_name"]) for s in sources}
        out[kind] = _moves(used, now)
    return out


def stale_themes(session: Session, theme_ids: list[int] | None = None, *, check: bool = True) -> dict[int, list[dict]]:
    """Per theme with a current build: the parts whose serving version moved since.

    ``check`` also validates the definition against the serving versions as a build would (items
    still there, join key unique): an ``error`` entry says why the theme cannot be rebuilt. Without it
    (lists of many themes) only the serving versions are compared."""
    out = {}
    stmt = select(Theme).order_by(Theme.id)
    if theme_ids is not None:
        stmt = stmt.where(Theme.id.in_(theme_ids))
    for theme in session.scalars(stmt):
        current = themes.current_build(session, theme_id=theme.id)
        if current is None:
            continue
        used = {s["entry_id"]: (s["version_id"], s["number"], s.get("entry_name", "")) for s in current.sources}
        try:
            if check:
                resolved = themes._resolve(session, key=theme.definition["key"], parts=theme.definition["parts"])
                now = {r["entry"].id: (r["version"].id, r["version"].number, r["entry"].name) for r in resolved}
            else:
                now = _serving(session, [int(p["entry_id"]) for p in theme.definition["parts"]], used)
        except GongshuError as exc:  # a part lost its data: the theme cannot be rebuilt until it is back
            out[theme.id] = _error(exc)
            continue
        out[theme.id] = _moves(used, now)
    return out


def _serving(session: Session, entry_ids: list[int], used: Versions) -> Versions:
    now = {}
    for entry_id in entry_ids:
        v = ingest_versions.current_version(session, entry_id=entry_id)
        name = used[entry_id][2] if entry_id in used else catalog_entries.fetch(session, entry_id=entry_id).name
        if v is None:
            raise NotFound(f"目录“{name}”已没有可用的数据", f"Entry '{name}' has no data any more")
        now[entry_id] = (v.id, v.number, name)
    return now


# The periodic refresh ---------------------------------------------------------------------------------------

def _rebuild_library(session: Session, kind: str) -> bool:
    """Rebuild if still stale once the lock is ours (a manual build may just have finished)."""
    locks.hold_library(session, kind)
    if not rebuildable(stale_libraries(session, (kind,)).get(kind)):
        return False
    library_build.build(session, actor=REFRESHER, kind=kind)
    return True


def _rebuild_theme(session: Session, theme_id: int) -> bool:
    theme = session.get(Theme, theme_id)
    if theme is None:
        return False
    locks.hold_theme(session, theme)
    if not rebuildable(stale_themes(session, [theme_id]).get(theme_id)):
        return False
    themes.build_theme(session, actor=REFRESHER, theme_id=theme_id)
    return True


def refresh(factory: sessionmaker[Session]) -> dict:
    """Rebuild every stale library and theme, one at a time, each in its own transaction; then expire
    old builds. Returns what was rebuilt, skipped (being built) and failed, and the tables dropped."""
    done: dict = {"libraries": [], "themes": [], "skipped": [], "failed": [], "expired": []}
    with factory() as s:
        libs = [k for k, moves in stale_libraries(s).items() if rebuildable(moves)]
        ths = [t for t, moves in stale_themes(s).items() if rebuildable(moves)]
    for kind in libs:
        if _one(factory, done, ("library", kind), lambda s, k=kind: _rebuild_library(s, k)):
            done["libraries"].append(kind)
    for theme_id in ths:
        if _one(factory, done, ("theme", theme_id), lambda s, t=theme_id: _rebuild_theme(s, t)):
            done["themes"].append(theme_id)
    with factory() as s, s.begin():
        done["expired"] = retention.expire_all(s, actor=REFRESHER)
    return done


def _one(factory: sessionmaker[Session], done: dict, what: tuple[str, int | str],
         work: Callable[[Session], bool]) -> bool:
    try:
        with factory() as s, s.begin():
            return work(s)
    except locks.BuildRunning:
        log.info("automatic rebuild of %s skipped: a build is running", what)
        done["skipped"].append(what)
    except Exception as exc:  # noqa: BLE001 - one failing build must not stop the others; it is recorded
        log.exception("automatic rebuild of %s failed", what)
        done["failed"].append(what)
        with factory() as s, s.begin():
            audit.record(s, actor=REFRESHER, action="library.refresh.fail",
                         subject_type="library_theme" if what[0] == "theme" else f"library_{what[1]}",
                         subject_id=str(what[1]), detail={"error": str(getattr(exc, "message", exc))[:500]})
    return False


@periodic("library.refresh", every=REFRESH_EVERY)
def _refresh(session: Session) -> None:
    refresh(gdb.session_factory())
