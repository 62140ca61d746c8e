"""Child process for the crash test: process one queued load against a committed database; the
parent kills it with SIGKILL part-way. Usage: python -m tests.ingest.crash_child DATA_DIR LOAD_ID"""

from __future__ import annotations

import sys
from pathlib import Path

from gongshu import db as gdb
from gongshu.ingest.service import loads
from gongshu.store import registry

if __name__ == "__main__":
    data, load_id = Path(sys.argv[1]), int(sys.argv[2])
    gdb.set_engine(gdb.make_engine(f"sqlite:///{data / 'meta.db'}"))
    registry.configure(f"sqlite:///{data / 'resources.db'}")
    registry.set_files_root(data / "files")
    loads.process(load_id)
