"""Crash safety of a load (R-AGG-6): ``kill -9`` of the process in the middle of a load leaves the
previous version serving, no partial version visible, and the next start cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from gongshu import db as gdb
from gongshu.ingest.models import DataVersion, Load
from gongshu.ingest.service import loads, versions
from gongshu.store import registry
from tests.catalog.helpers import cast, published
from tests.factories import Factory
from tests.ingest.helpers import make_id, person_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def committed(tmp_path, engine):
    """A real, committed SQLite metadata database and store (not the rolled-back test transaction)."""
    eng = gdb.make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    gdb.upgrade(eng)
    prev_engine, prev_factory = gdb.get_engine(), gdb.session_factory()
    gdb.set_engine(eng)
    registry.configure(f"sqlite:///{tmp_path / 'resources'}")
    registry.set_files_root(tmp_path / "files")
    factory = sessionmaker(bind=eng, expire_on_commit=False)
    try:
        yield tmp_path, factory
    finally:
        gdb.set_engine(prev_engine)
        gdb.set_session_factory(prev_factory)
        eng.dispose()


def _load(factory, actor, entry_id: int, path: Path):
    with factory.begin() as s:
        load_id = loads.receive_file(s, actor=actor, entry_id=entry_id, path=path, filename=path.name, move=False).id
    return loads.process(load_id)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120, why=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the child finished before it could be killed; make the load bigger " + why())
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the child never reached the point to kill it at")


@pytest.mark.parametrize("moment", ["validating", "store-committed"])
def test_kill_9_mid_load_keeps_the_previous_version_and_recovery_cleans_up(committed, moment):
    data, factory = committed
    with factory.begin() as s:
        c = cast(Factory(s))
        entry = published(s, c)
        officer, entry_id = c.officer, entry.id
    assert _load(factory, officer, entry_id, write_csv(data / "v1.csv", person_rows(50))).status == "applied"
    big = write_csv(data / "big.csv", person_rows(150_000, start=1000))
    with factory.begin() as s:
        load_id = loads.receive_file(s, actor=officer, entry_id=entry_id, path=big, filename="big.csv", move=False).id
    args = ["slow-index"] if moment == "store-committed" else []
    proc = subprocess.Popen([sys.executable, "-m", "tests.ingest.crash_child", str(data), str(load_id), *args],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    store = registry.get_store()
    table = f"rd_{entry_id}_l{load_id}"
    snapshot = data / "files" / "snapshots" / str(entry_id) / f"l{load_id}.parquet"
    if moment == "validating":
        def ready():
            with factory() as s:
                return s.get(Load, load_id).status == "validating" and \
                    (data / "files" / "loads" / str(load_id) / "delta.parquet.part").exists()
    else:  # the rows are committed in the store, the metadata transaction has not happened
        def ready():
            return store.has_table(table)
    def why():
        with factory() as s:
            load = s.get(Load, load_id)
            return f"{load.status} {load.error}"
    _kill_when(proc, ready, why=why)

    # the previous version still serves; nothing of the killed load is visible
    with factory() as s:
        assert [v.number for v in s.scalars(select(DataVersion))] == [1]
        assert versions.current_version(s, entry_id=entry_id).number == 1
        assert s.get(Load, load_id).status == "validating"
        assert versions.lookup(s, actor=officer, entry_id=entry_id, key={"公民身份号码": make_id(5)})
        s.rollback()
    # the next start cleans up: the load is failed, orphan tables and files are removed
    found = versions.recover()
    assert found["loads"] == [load_id]
    assert not store.has_table(table) and not snapshot.exists()
    if store.dialect == "sqlite":  # the killed writer's private file went too
        assert not list(store.root.glob("*.part"))
    with factory() as s:
        assert store.tables() == [v.table_name for v in s.scalars(select(DataVersion))]
        assert s.get(Load, load_id).status == "failed"
        assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    # and the platform loads again
    assert _load(factory, officer, entry_id, write_csv(data / "v2.csv", person_rows(60))).status == "applied"
