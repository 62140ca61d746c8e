"""Benchmark: person library assembly from the demo city's person sources at 1,000,000 persons (R-AGG-4).

Seeds the demo city (``seed_demo``) into a fresh, migrated database, loads the synthetic department
files through the real pipeline (``load_demo_data(..., persons=N)``: receive, parse, validate, store,
snapshot, version; it also builds both libraries once), then times ``build.build(kind="person")``
again on its own, so the figure is the assembly alone (DuckDB over the serving versions' Parquet
snapshots, the library table written to the store, the conflicts recorded). Each database runs in
its own subprocess so its peak RSS (ru_maxrss) is its own. Prints one JSON line:

    python benchmarks/library_build.py [--persons 1000000] [--database-url postgresql+psycopg://…/gongshu_bench_lib]
        [--no-sqlite] [--dir /tmp/bench-lib]

The store goes to a temporary directory (SQLite) or a fresh schema (PostgreSQL, dropped afterwards);
``--dir`` keeps the work directory (database, source files, snapshots) for profiling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from gongshu import db as gdb
from gongshu.auth import service as auth_service
from gongshu.auth.models import User
from gongshu.demo.resources import load_demo_data
from gongshu.demo.seed import seed_demo
from gongshu.ingest.models import Load
from gongshu.library.service import build as library_build
from gongshu.store import registry

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_lib"


class RssSampler(threading.Thread):
    """Peak VmRSS (``/proc/self/status`` every 50 ms) per named phase; ru_maxrss gives the process peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.phase = "setup"
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            try:
                with open("/proc/self/status") as fh:
                    kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), kb)

    def result(self) -> dict:
        self.stop.set()
        return {k: round(v / 1024, 1) for k, v in self.peaks.items()}


class Clock:
    """Timestamps of load_demo_data's progress messages (generation and the in-demo library builds)."""

    def __init__(self, sampler: RssSampler) -> None:
        self.marks: list[tuple[float, str]] = []
        self.sampler = sampler

    def __call__(self, message: str) -> None:
        self.marks.append((time.perf_counter(), message))
        if "generating" in message:
            self.sampler.phase = "generate"
        elif "loading" in message:
            self.sampler.phase = "load"
        elif "library" in message:
            self.sampler.phase = "demo_libraries"

    def between(self, start: str, end: str | None, until: float) -> float:
        t0 = next(t for t, m in self.marks if start in m)
        t1 = next((t for t, m in self.marks if end and end in m and t > t0), until)
        return round(t1 - t0, 2)


def run(url: str, work: Path, persons: int, entities: int, seed: int) -> dict:
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    pg = url.startswith("postgresql")
    if pg:
        gdb.reset_postgres_database(url)
    engine = gdb.make_engine(url)
    gdb.upgrade(engine)
    gdb.set_engine(engine)
    schema = f"rd_bench_{uuid.uuid4().hex[:8]}"
    registry.configure(url if pg else f"sqlite:///{work / 'resources'}", schema=schema)
    registry.set_files_root(work / "ingest")
    factory = gdb.session_factory()
    seed_demo(factory, seed=seed)
    seed_s = time.perf_counter() - t0
    clock = Clock(sampler)
    t1 = time.perf_counter()
    data = load_demo_data(factory, folder=work / "demo-source-files", persons=persons, entities=entities, seed=seed,
                          progress=clock)
    demo_s = time.perf_counter() - t1
    with factory() as s:
        done = s.scalars(select(Load).where(Load.started_at.is_not(None)).order_by(Load.id)).all()
        loads = []
        for ld in done:
            secs = (ld.finished_at - ld.started_at).total_seconds() if ld.finished_at else None
            fmt = ld.format or (ld.report or {}).get("format")
            loads.append({"file": ld.filename, "format": fmt, "status": ld.status, "rows": ld.rows_read,
                          "rejected": ld.rows_rejected, "seconds": round(secs, 2) if secs is not None else None,
                          "rows_per_s": round(ld.rows_read / secs) if secs else None})
    load_rows = sum(x["rows"] for x in loads)
    load_secs = sum(x["seconds"] or 0 for x in loads)
    sampler.phase = "build"
    with factory.begin() as s:
        admin = auth_service.actor_for(s, s.scalar(select(User).where(User.username == "admin")))
        t2, cpu = time.perf_counter(), time.process_time()
        lib = library_build.build(s, actor=admin, kind="person")
        build_s, build_cpu = time.perf_counter() - t2, time.process_time() - cpu
        t3 = time.perf_counter()
        result = {"subjects": lib.subjects, "conflicts": lib.conflicts, "sources": len(lib.sources),
                  "source_entries": sorted(src["entry_name"] for src in lib.sources),
                  "attributes": len(lib.attributes), "seconds": round(build_s, 2), "cpu_seconds": round(build_cpu, 2),
                  "seconds_recorded": lib.seconds}
    result["commit_seconds"] = round(time.perf_counter() - t3, 2)
    store = registry.get_store()
    dialect = store.dialect
    if pg:
        with store.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    registry.configure(None)
    engine.dispose()
    peaks = sampler.result()
    return {"db": dialect, "persons": persons, "entities": entities, "seed_city_s": round(seed_s, 2),
            "generate_s": clock.between("generating", "loading", t1 + demo_s),
            "demo_total_s": round(demo_s, 2),
            "demo_libraries_s": clock.between("person library", None, t1 + demo_s),
            "loads": {"files": len(loads), "rows": load_rows, "seconds": round(load_secs, 2),
                      "rows_per_s": round(load_rows / load_secs) if load_secs else None,
                      "rows_valid": data.rows, "rejected": data.rejected, "per_file": loads},
            "demo_libraries": {k: {"subjects": n, "conflicts": c} for k, (n, c) in data.libraries.items()},
            "person_library_build": result,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_mb_by_phase": peaks}


def child(url: str, persons: int, entities: int, seed: int, keep: Path | None) -> dict:
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        return run(url or f"sqlite:///{keep / 'gongshu.db'}", keep, persons, entities, seed)
    with tempfile.TemporaryDirectory(prefix="bench-lib-") as tmp:
        work = Path(tmp)
        return run(url or f"sqlite:///{work / 'gongshu.db'}", work, persons, entities, seed)


def run_child(args: argparse.Namespace, url: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", "--persons", str(args.persons), "--entities", str(args.entities),
           "--seed", str(args.seed)] + (["--url", url] if url else [])
    if args.dir:
        cmd += ["--dir", str(args.dir / ("postgresql" if url else "sqlite"))]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{'postgresql' if url else 'sqlite'} run failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--entities", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--database-url", default="", help=f"PostgreSQL URL for a PG run too (e.g. {PG_URL})")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--dir", type=Path, default=None, help="keep the work directories here (else temporary)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.url, args.persons, args.entities, args.seed, args.dir), ensure_ascii=False))
        return
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    load_before = os.getloadavg()
    res: dict = {"benchmark": "library_build", "persons": args.persons}
    if not args.no_sqlite:
        res["sqlite"] = run_child(args)
    if args.database_url:
        res["postgresql"] = run_child(args, args.database_url)
    res.update({"load_avg_before": [round(x, 2) for x in load_before],
                "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                "date": date.today().isoformat()})
    print(json.dumps(res, ensure_ascii=False))


if __name__ == "__main__":
    main()
