"""Crash safety (R-AGG-6): ``kill -9`` of a process in the middle of a load leaves the serving table
intact, no partial rows visible, and ``cleanup`` removes what the load left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gongshu.store.service import ResourceStore
from tests.store.support import PERSON, no_metadata_database, persons, store_fixture  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]


def _kill_mid_load(store: ResourceStore, mode: str) -> None:
    child = subprocess.Popen([sys.executable, "-m", "tests.store.support", "crash", store.url, store.schema, mode],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = child.stdout.readline()  # printed once 30,000 rows are in the load's transaction
        assert line.strip() == "writing", child.stderr.read()
        time.sleep(0.3)
        assert child.poll() is None, "the load ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("mode", ["create", "separate"])
def test_r_agg_6_kill_9_mid_load_leaves_no_partial_version(store, mode):
    store.create_table("rd_1_1", PERSON)
    store.write_batches("rd_1_1", PERSON, [persons(0, 1000)])
    store.finish_table("rd_1_1", PERSON)

    _kill_mid_load(store, mode)

    again = ResourceStore(store.url, schema=store.schema)  # "the next start"
    try:
        assert again.count("rd_1_1") == 1000
        key = persons(500, 1).column("c1")[0].as_py()
        assert again.lookup("rd_1_1", PERSON, {"c1": key})[0]["c1"] == key
        if mode == "create":  # table created inside the load's transaction: nothing at all is left
            assert again.tables() == ["rd_1_1"]
        else:  # table created before the load: it is there, and empty
            assert again.tables() == ["rd_1_1", "rd_crash"]
            assert again.count("rd_crash") == 0
        assert again.cleanup(keep={"rd_1_1"}) == ([] if mode == "create" else ["rd_crash"])
        assert again.tables() == ["rd_1_1"]
        if again.dialect == "sqlite":
            with again.engine_for("rd_1_1").connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert not list(again.root.glob("*.part"))  # the crashed writer's private file is gone
        # the store takes the next load normally
        assert again.write_batches("rd_1_2", PERSON, [persons(0, 10)], create=True) == 10
    finally:
        again.close()
