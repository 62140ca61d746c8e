"""Child process for the crash test: process one queued load against a committed database; the
parent kills it with SIGKILL part-way. Usage: python -m tests.ingest.crash_child DATA_DIR LOAD_ID [slow-index]

With ``slow-index`` the store's write returns a minute late (after the new table is committed in the
store with its index, before the metadata transaction), so the parent can kill the child at exactly
that point."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gongshu import db as gdb
from gongshu.ingest.service import loads
from gongshu.store import registry
from gongshu.store.service import ResourceStore

if __name__ == "__main__":
    data, load_id = Path(sys.argv[1]), int(sys.argv[2])
    if sys.argv[3:] == ["slow-index"]:
        real = ResourceStore.write_batches

        def slow(self, *args, **kwargs):
            n = real(self, *args, **kwargs)
            time.sleep(60)
            return n
        ResourceStore.write_batches = slow
    gdb.set_engine(gdb.make_engine(f"sqlite:///{data / 'meta.db'}"))
    registry.configure(f"sqlite:///{data / 'resources'}")
    registry.set_files_root(data / "files")
    loads.process(load_id)
