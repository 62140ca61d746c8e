"""One build at a time per library and per theme, across threads and processes (R-AGG-4, R-AGG-5).

A build takes an exclusive ``flock`` on ``<files root>/libraries/.locks/<name>.lock`` (``person``,
``entity``, ``theme-<id>``) and keeps it until its session's transaction ends (commit or rollback),
so a second build of the same library, by hand or by the periodic refresh, cannot start until the
first one's rows are committed (two "current" builds cannot happen). The web process and a separate
worker share the files root, so they see each other's locks; the kernel drops the lock of a process
that dies, so a crash never leaves a library locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from gongshu.errors import Conflict
from gongshu.library.models import KINDS, Theme
from gongshu.store import registry

_INFO_KEY = "library_build_locks"


class BuildRunning(Conflict):
    """Another build of the same library or theme is running."""


def _path(name: str) -> Path:
    return registry.files_root() / "libraries" / ".locks" / f"{name}.lock"


def _try_lock(name: str) -> int | None:
    """The file descriptor holding ``name``'s lock, or None when someone else holds it."""
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def hold(session: Session, *, name: str, label_zh: str, label_en: str) -> None:
    """Take the build lock ``name`` until the session's transaction ends; BuildRunning if it is taken.
    The same session may take it again (two builds in one transaction run one after the other)."""
    held: dict[str, int] = session.info.setdefault(_INFO_KEY, {})
    if name in held:
        return
    session.connection()  # begin the transaction whose end gives the lock back, if none has begun
    fd = _try_lock(name)
    if fd is None:
        raise BuildRunning(f"{label_zh}正在生成中，请稍后再试", f"{label_en} is being built; try again later")
    held[name] = fd


def hold_library(session: Session, kind: str) -> None:
    """The build lock of a base library (``person``, ``entity``)."""
    hold(session, name=kind, label_zh=KINDS[kind][0], label_en=f"The {KINDS[kind][1]}")


def hold_theme(session: Session, theme: Theme) -> None:
    """The build lock of a theme (``theme-<id>``)."""
    hold(session, name=f"theme-{theme.id}", label_zh=f"主题库“{theme.name}”", label_en=f"The theme '{theme.name}'")


def release(session: Session) -> None:
    """Give up every build lock the session holds."""
    for fd in session.info.pop(_INFO_KEY, {}).values():
        os.close(fd)


@event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and _INFO_KEY in session.info:
        release(session)


@contextlib.contextmanager
def free(names: list[str]) -> Iterator[set[str]]:
    """Hold the locks of ``names`` that nobody holds for the duration; yields those taken (the others
    are being built now: leave their tables and files alone)."""
    taken: dict[str, int] = {}
    try:
        for name in names:
            fd = _try_lock(name)
            if fd is not None:
                taken[name] = fd
        yield set(taken)
    finally:
        for fd in taken.values():
            os.close(fd)
