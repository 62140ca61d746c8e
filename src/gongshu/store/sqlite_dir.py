"""The embedded store on SQLite: a directory with one database file per resource table (R-AGG-6).

Why one file per table:

- **Loads never queue behind each other.** SQLite has one writer per file; with every version in
  its own file, a 10M-row load of one department holds no lock that another department's load or
  any reader needs.
- **A new version is private until it is finished.** :func:`write_new` builds it in a ``.part``
  file that nobody else opens (no journal, no fsync per transaction), builds its unique key index
  and statistics, turns on WAL for the readers, syncs it to disk and only then renames it into
  place (``rename`` is atomic). A crash leaves a ``.part`` file and never a half-written table;
  :func:`orphan_parts` finds the parts whose writer is gone.
- **Dropping a version gives its disk space back** (deleting a file; a table dropped inside one
  big SQLite file only leaves free pages behind).

The rows of a new file are written by the ADBC SQLite driver straight from Arrow buffers (C, no
Python object per value, GIL released), so a load's store write runs beside its validation. That
driver links its own SQLite library; two copies of SQLite must never have the same file open in
one process (POSIX locks are per process), which holds here because only the writer opens a
``.part`` file and it closes it before the rename; afterwards only Python's ``sqlite3`` opens it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import adbc_driver_manager
import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa
from sqlalchemy import Engine

from gongshu.errors import NotFound
from gongshu.store.tables import Column, iter_chunks, q, sqlite_arrow, sqlite_file_engine

SUFFIX = ".sqlite"
PART = ".part"
#: rows per ADBC ingest call (one transaction for the whole file all the same)
INGEST_ROWS = 65_536
#: engines kept open for reading (least recently used ones are disposed beyond this)
MAX_ENGINES = 64

#: ``.part`` files being written by this process (never orphans, whatever their pid says)
_writing: set[Path] = set()
_writing_lock = threading.Lock()


def table_file(root: Path, name: str) -> Path:
    return root / f"{name}{SUFFIX}"


def table_names(root: Path) -> list[str]:
    return sorted(p.name[: -len(SUFFIX)] for p in root.glob(f"*{SUFFIX}"))


def remove_file(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
              path.with_name(path.name + "-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def orphan_parts(root: Path) -> list[Path]:
    """``.part`` files whose writer is gone: written by a process that no longer runs, or by this one
    but not being written any more."""
    found = []
    for part in root.glob(f"*{PART}"):
        with _writing_lock:
            if part in _writing:
                continue
        try:
            pid = int(part.name.split(".")[1])  # <name>.<pid>.<random>.sqlite.part (names have no dots)
        except (ValueError, IndexError):
            found.append(part)
            continue
        if pid == os.getpid() or not _alive(pid):
            found.append(part)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DuplicateKeys(Exception):
    """The unique key index could not be built; ``rows`` are (key values…, count) of up to 10 keys."""

    def __init__(self, rows: list[tuple]) -> None:
        super().__init__("duplicate keys")
        self.rows = rows


def write_new(root: Path, name: str, ddl: str, columns: Sequence[Column], batches: Iterable[pa.RecordBatch], *,
              index_sql: str | None, duplicates_sql: str,
              exclude: Callable[[], Sequence[int]] | None = None, analyze: bool = True) -> int:
    """Write a new table file from ``batches`` and move it into place; returns the rows written.

    ``index_sql``: the unique key index to build before the file is published (None: no index now), with its
    statistics unless ``analyze`` is False.
    ``exclude``: called once the batches are exhausted; the rows at those 1-based positions of the
    stream (their ``_rid``) are removed before the index is built. Raises :class:`DuplicateKeys` when that index finds duplicates, the driver's error for
    values SQLite refuses; either way nothing is left behind.
    """
    final = table_file(root, name)
    part = root / f"{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{SUFFIX}{PART}"
    with _writing_lock:
        _writing.add(part)
    con = None
    try:
        con = adbc_sqlite.connect(str(part), autocommit=True)
        cur = con.cursor()
        # private file: no rollback journal, no sync per statement (it is synced once, below); a failed
        # write is never rolled back but deleted
        cur.execute("PRAGMA journal_mode=OFF")
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute(ddl)
        cur.execute("BEGIN")
        n = 0
        for chunk in iter_chunks(batches, INGEST_ROWS):
            arrays = [sqlite_arrow(chunk, c) for c in columns]
            cur.adbc_ingest(name, pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns]), mode="append")
            n += chunk.num_rows
        gone = list(exclude()) if exclude is not None else []
        if gone:
            cur.execute(f"DELETE FROM {q(name)} WHERE _rid IN (SELECT value FROM json_each(?))",  # noqa: S608
                        (json.dumps([int(r) for r in gone]),))
            n -= len(set(gone))
        if index_sql:
            try:
                cur.execute(index_sql)
            except adbc_driver_manager.IntegrityError:
                cur.execute(duplicates_sql)
                raise DuplicateKeys(list(cur.fetchall())) from None
            if analyze:
                cur.execute(f"ANALYZE {q(name)}")
        cur.execute("COMMIT")
        cur.execute("PRAGMA journal_mode=WAL")  # persistent: readers find the file in WAL mode
        cur.close()
        con.close()
        con = None
        _fsync(part)
        os.replace(part, final)
        _fsync(root)
        return n
    except BaseException:
        if con is not None:
            with contextlib.suppress(Exception):
                con.close()
        remove_file(part)
        raise
    finally:
        with _writing_lock:
            _writing.discard(part)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Engines:
    """One SQLAlchemy engine per table file (WAL, autocommit reads), the most recently used kept open."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> Engine:
        with self._lock:
            engine = self._engines.get(name)
            if engine is not None:
                self._engines.move_to_end(name)
                return engine
            path = table_file(self.root, name)
            if not path.exists():
                raise NotFound(f"资源数据表 {name} 不存在", f"Resource table {name} does not exist", field="name")
            engine = sqlite_file_engine(path)
            self._engines[name] = engine
            while len(self._engines) > MAX_ENGINES:
                _, old = self._engines.popitem(last=False)
                old.dispose()
            return engine

    def forget(self, name: str) -> None:
        with self._lock:
            engine = self._engines.pop(name, None)
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for e in engines:
            e.dispose()
