"""Benchmark: the 双公示 lag computation (R-OPN-9) over a million rows.

Writes two zstd Parquet snapshots like ingest's (a string key ``c1``, a company name ``c2``, the decision date
``c3`` as date32, a text ``c4``): a base of ``rows - new`` rows and a version of ``rows`` rows holding the base's
rows plus ``new`` new ones; decision dates spread over 2025-01-01 … 2026-10-13, the version published on
2026-10-13 (the packaged calendar knows both years: 2025 and 2026 holidays, adjusted working days).

- ``all_new_s``: :func:`gongshu.opendata.service.disclosure.compute_lags` of the version without a base (every
  row is new: a dataset's first version) — DuckDB reads keys and dates, numpy counts through the working-day
  index with one ``searchsorted``;
- ``vs_base_s``: the same with the base (an anti-join on the key finds the ``new`` rows first);
- ``index_ms``: building the working-day index alone over the dates' range;
- ``loop_rows_per_s``: for contrast, the calendar's own ``workdays_between`` called per row on 2,000 rows.

Prints one JSON line::

    python benchmarks/opendata_disclosure.py [--rows 1000000] [--new 100000] [--repeat 3] [--dir /tmp/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gongshu.kit.workdays import WorkCalendar
from gongshu.opendata.service import disclosure
from gongshu.sharing.service import projection

FIRST = date(2025, 1, 1)
PUBLISHED = date(2026, 10, 13)


def snapshot(path: Path, start: int, n: int, seed: int) -> None:
    """Rows ``start`` … ``start + n - 1``, keys in order (as ingest writes them), in batches of 200,000."""
    rng = np.random.default_rng(seed)
    span = (PUBLISHED - FIRST).days
    schema = pa.schema([("c1", pa.large_string()), ("c2", pa.large_string()), ("c3", pa.date32()),
                        ("c4", pa.large_string())])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for lo in range(start, start + n, 200_000):
            hi = min(lo + 200_000, start + n)
            ids = np.arange(lo, hi)
            keys = pa.array([f"东市监罚〔2026〕{i:08d}号" for i in ids], pa.large_string())
            days = disclosure.day_number(FIRST) + rng.integers(0, span + 1, hi - lo)
            dates = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())
            names = pa.array([f"东莞某某贸易有限公司{i % 5000}" for i in ids], pa.large_string())
            text = pa.array(["警告，罚款人民币五千元"] * (hi - lo), pa.large_string())
            writer.write_table(pa.Table.from_arrays([keys, names, dates, text], schema=schema))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="gongshu-disclosure-"))
    work.mkdir(parents=True, exist_ok=True)
    base, version = work / "base.parquet", work / "version.parquet"
    t = time.perf_counter()
    snapshot(base, 0, args.rows - args.new, seed=1)
    snapshot(version, 0, args.rows, seed=1)  # the same seed: the base's rows again, then the new ones
    write_s = time.perf_counter() - t
    calendar = WorkCalendar()
    common = {"keys": [("c1", "c1")], "date_column": "c3", "label": {"c1": "行政处罚决定书文号", "c3": "处罚决定日期"},
              "published_on": PUBLISHED, "calendar": calendar}

    def run(with_base: bool):
        con = projection.connect()
        try:
            return disclosure.compute_lags(con, new=version, base=base if with_base else None, **common)
        finally:
            con.close()

    all_new_s, all_new = timed(lambda: run(False), args.repeat)
    vs_base_s, vs_base = timed(lambda: run(True), args.repeat)
    index_s, _ = timed(lambda: disclosure.WorkdayIndex(calendar, FIRST, PUBLISHED), args.repeat)
    sample = pq.read_table(version, columns=["c3"]).column("c3").slice(0, 2000).to_pylist()
    t = time.perf_counter()
    loop = [calendar.workdays_between(d, PUBLISHED) for d in sample]
    loop_s = time.perf_counter() - t
    print(json.dumps({
        "benchmark": "opendata_disclosure", "rows": args.rows, "new_rows": args.new,
        "all_new_s": round(all_new_s, 3), "all_new_late": all_new.rows_late, "all_new_checked": all_new.rows_checked,
        "vs_base_s": round(vs_base_s, 3), "vs_base_new": vs_base.rows_new, "vs_base_late": vs_base.rows_late,
        "worst_lag": all_new.worst_lag, "index_ms": round(index_s * 1000, 2),
        "loop_rows_per_s": round(len(loop) / loop_s), "vectorised_rows_per_s": round(args.rows / all_new_s),
        "write_s": round(write_s, 2), "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
