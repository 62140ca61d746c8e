"""Key lookup latency on a resource data table (R-AGG-6): p50/p99 idle and during a 1M-row load.

Builds a table of N person-like rows (18-character citizen-ID-like key; default 1,000,000; the
issue's figure is at 10,000,000) in a fresh resource store, times 10,000 random key lookups, then
times lookups again while another process (and then a thread of this process, as in the embedded
default's in-process worker) bulk-loads 1,000,000 rows into a different table of the same store.
Prints one JSON line. Targets: p99 <= 5 ms idle, <= 20 ms during the load.

    python benchmarks/store_lookup.py [--rows 1000000] [--load-rows 1000000] [--lookups 10000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_store] [--dir DIR]
        [--loader process|thread|both]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gongshu.store.service import ARROW_TYPES, Column, ResourceStore

COLUMNS = [
    Column("c1", "公民身份号码", "C", 18, key=True), Column("c2", "姓名", "C", 50), Column("c3", "性别", "C", 1),
    Column("c4", "出生日期", "D"), Column("c5", "住址", "M"), Column("c6", "联系电话", "C", 11),
    Column("c7", "月收入", "Y"), Column("c8", "登记时间", "T"), Column("c9", "是否在册", "L"), Column("c10", "户内人数", "I"),
]
BATCH = 100_000


def key_of(i: int) -> str:
    return f"3301{i:014d}"


def batches(start: int, n: int) -> Iterator[pa.RecordBatch]:
    """Person rows start..start+n, generated vectorised (Polars), BATCH rows at a time."""
    schema = pa.schema([(c.name, ARROW_TYPES[c.type]) for c in COLUMNS])
    for lo in range(start, start + n, BATCH):
        hi = min(lo + BATCH, start + n)
        i = pl.int_range(lo, hi, eager=True, dtype=pl.Int64)
        s = i.cast(pl.Utf8)
        df = pl.DataFrame({
            "c1": "3301" + s.str.zfill(14),
            "c2": "姓名" + s,
            "c3": (i % 2 + 1).cast(pl.Utf8),
            "c4": (i % 25000 - 7305).cast(pl.Int32).cast(pl.Date),
            "c5": "浙江省杭州市拱墅区某某街道" + (i % 977).cast(pl.Utf8) + "号",
            "c6": "138" + (i % 100_000_000).cast(pl.Utf8).str.zfill(8),
            "c7": ((i % 2_000_000) / 100).cast(pl.Decimal(18, 2)),
            "c8": ((i % 10**8) * 1_000_000 + 1_700_000_000_000_000).cast(pl.Datetime("us")),
            "c9": i % 7 != 0,
            "c10": i % 6 + 1,
        })
        yield from df.to_arrow().cast(schema).to_batches()


def open_store(url: str, schema: str) -> ResourceStore:
    return ResourceStore(url, schema=schema)


def ensure_pg_database(url: str) -> None:
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def load(store: ResourceStore, table: str, start: int, n: int) -> float:
    t0 = time.perf_counter()
    store.write_batches(table, COLUMNS, batches(start, n), create=True, index=True)  # as a load does
    return time.perf_counter() - t0


def timed_lookups(store: ResourceStore, table: str, rows: int, count: int, rng: random.Random,
                  until: threading.Event | subprocess.Popen | None = None) -> list[float]:
    out = []
    while True:
        k = key_of(rng.randrange(rows))
        t0 = time.perf_counter()
        got = store.lookup(table, COLUMNS, {"c1": k})
        out.append(time.perf_counter() - t0)
        assert got and got[0]["c1"] == k
        if until is None:
            if len(out) >= count:
                return out
        elif (until.is_set() if isinstance(until, threading.Event) else until.poll() is not None):
            return out


def summary(lat: list[float]) -> dict:
    ms = sorted(x * 1000 for x in lat)
    q = statistics.quantiles(ms, n=100) if len(ms) >= 2 else ms * 99
    return {"lookups": len(ms), "p50_ms": round(q[49], 3), "p99_ms": round(q[98], 3), "max_ms": round(ms[-1], 3)}


def during_process(args, url: str, schema: str, rows: int, rng) -> dict:
    cmd = [sys.executable, __file__, "--load-only", "--url", url, "--schema", schema, "--table", "rd_bench_load_p",
           "--load-rows", str(args.load_rows)]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    lat = timed_lookups(open_store(url, schema), "rd_bench_cur", rows, 0, rng, until=child)
    child.wait()
    return {"loader": "process", "load_seconds": round(time.perf_counter() - t0, 2), **summary(lat)}


def during_thread(args, store: ResourceStore, rows: int, rng) -> dict:
    done = threading.Event()
    took: list[float] = []

    def run():
        try:
            took.append(load(store, "rd_bench_load_t", 10**12, args.load_rows))
        finally:
            done.set()

    t = threading.Thread(target=run)
    t.start()
    lat = timed_lookups(store, "rd_bench_cur", rows, 0, rng, until=done)
    t.join()
    return {"loader": "thread", "load_seconds": round(took[0], 2) if took else None, **summary(lat)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--load-rows", type=int, default=1_000_000)
    p.add_argument("--lookups", type=int, default=10_000)
    p.add_argument("--database-url", default="")
    p.add_argument("--dir", default="")
    p.add_argument("--loader", choices=["process", "thread", "both"], default="both")
    p.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--schema", default="resdata", help=argparse.SUPPRESS)
    p.add_argument("--table", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.load_only:
        load(open_store(args.url, args.schema), args.table, 10**13, args.load_rows)
        return
    if args.database_url:
        ensure_pg_database(args.database_url)
        url, schema = args.database_url, f"resdata_bench_{uuid.uuid4().hex[:8]}"
    else:
        folder = Path(args.dir or tempfile.mkdtemp(prefix="gongshu-bench-store-"))
        url, schema = f"sqlite:///{folder / 'resources'}", "resdata"
    store = open_store(url, schema)
    rng = random.Random(42)
    try:
        build = load(store, "rd_bench_cur", 0, args.rows)
        for _ in range(200):  # warm the cache and the statement caches
            store.lookup("rd_bench_cur", COLUMNS, {"c1": key_of(rng.randrange(args.rows))})
        idle = summary(timed_lookups(store, "rd_bench_cur", args.rows, args.lookups, rng))
        during = []
        if args.loader in ("process", "both"):
            during.append(during_process(args, url, schema, args.rows, rng))
        if args.loader in ("thread", "both"):
            during.append(during_thread(args, store, args.rows, rng))
        print(json.dumps({
            "benchmark": "store_lookup", "dialect": store.dialect, "rows": args.rows, "load_rows": args.load_rows,
            "build_seconds": round(build, 2), "build_rows_per_s": round(args.rows / build),
            "idle": idle, "during_load": during,
            "target": {"idle_p99_ms": 5, "during_load_p99_ms": 20},
            "ok": idle["p99_ms"] <= 5 and all(d["p99_ms"] <= 20 for d in during),
            "python": platform.python_version(), "machine": platform.machine(),
        }, ensure_ascii=False))
    finally:
        if store.dialect == "postgresql":
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        store.close()


if __name__ == "__main__":
    main()
