"""A full download of an open dataset (R-OPN-2) against Datasette's streamed CSV export, on the same 1M rows.

Ours: ``GET /open/datasets/{slug}/download.csv`` on the gongshu app served by uvicorn (one process on
127.0.0.1): the dataset resolved and checked, the access event committed and sealed before the first byte,
then DuckDB over the version's Parquet snapshot (public items by label, the ID number and the name masked in
SQL) streamed as Arrow batches of 50,000 rows, each neutralised against formulas (pyarrow compute) and
written by ``pyarrow.csv``; UTF-8 with BOM. The other formats (JSON, Parquet, XLSX) are timed too, for the
record (Datasette has no streamed export of them).

The peer, in the same run: Datasette serving the same rows copied into a SQLite file, its streamed CSV export
``/peer/persons.csv?_stream=on&_size=max`` (its ``max_csv_mb`` cap lifted so it sends all of it): it pages
through the table by primary key and writes each row with Python's ``csv`` module; no masking, no formula
neutralisation, no access log. Both servers are started the same way (``uvicorn.run`` in a subprocess,
access log off); one client reads the body in 1 MiB chunks over loopback and counts the lines, while a thread
samples the server's resident memory (``/proc/<pid>/status`` VmRSS) every 20 ms. Each download runs
``--repeat`` times; the best is reported with all of them. Prints one JSON line. Targets: MB/s ≥ the peer's,
and a peak memory that does not grow with the rows.

    python benchmarks/opendata_download.py [--rows 1000000] [--repeat 3] [--dir DIR] [--formats csv,json,parquet,xlsx]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from opendata_rows import SLUG, environment, serve, setup, start_server  # noqa: E402
from sharing_lookup import stop_server  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fetch(port: int, path: str, pid: int) -> dict:
    """One download: seconds to the first body byte and to the end, bytes, lines, and the server's resident
    memory before and at its peak during the download."""
    before = rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], rss_mb(pid))
            except OSError:
                return
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    first = None
    size = lines = 0
    head = b""
    while True:
        chunk = resp.read1(1 << 20)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - t0
            head = chunk[:400]
        size += len(chunk)
        lines += chunk.count(b"\n")
    total = time.perf_counter() - t0
    done.set()
    sampler.join()
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{path}: {resp.status} {head[:300]!r}")
    return {"seconds": round(total, 2), "first_byte_ms": round((first or total) * 1000, 1),
            "mb": round(size / 1e6, 1), "mb_per_s": round(size / 1e6 / total, 1), "lines": lines,
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak[0], 1),
            "rss_growth_mb": round(peak[0] - before, 1), "head": head.decode("utf-8", "replace")[:160]}


def best_of(runs: list[dict]) -> dict:
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "all_seconds": [r["seconds"] for r in runs],
            "max_rss_growth_mb": max(r["rss_growth_mb"] for r in runs)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--formats", default="csv,json,parquet,xlsx")
    p.add_argument("--dir", default="")
    p.add_argument("--database-url", default="")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--serve", choices=["ours", "peer"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--peer-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.peer_file)
        return
    work, _url, env = environment(args, "gongshu-bench-open-dl-")
    load_before = [round(x, 2) for x in os.getloadavg()]
    info = setup(args.rows, work)
    ours: dict[str, dict] = {}
    proc, port = start_server(__file__, "ours", info["peer_file"], env)
    try:
        for fmt in args.formats.split(","):
            runs = [fetch(port, f"/open/datasets/{SLUG}/download.{fmt}", proc.pid) for _ in range(args.repeat)]
            ours[fmt] = best_of(runs)
            if fmt != "csv":
                ours[fmt].pop("head", None)
                ours[fmt].pop("lines", None)
    finally:
        stop_server(proc)
    peer = None
    if not args.no_peer:
        proc, port = start_server(__file__, "peer", info["peer_file"], env)
        try:
            peer = best_of([fetch(port, "/peer/persons.csv?_stream=on&_size=max", proc.pid)
                            for _ in range(args.repeat)])
        finally:
            stop_server(proc)
    import datasette  # noqa: I001 - only for its version
    csv_ours = ours.get("csv")
    ratio = round(csv_ours["mb_per_s"] / peer["mb_per_s"], 2) if peer and csv_ours else None
    rows_ratio = round((args.rows / csv_ours["seconds"]) / (args.rows / peer["seconds"]), 2) \
        if peer and csv_ours else None
    print(json.dumps({
        "benchmark": "opendata_download", "dialect": info["dialect"], "rows": args.rows, "repeat": args.repeat,
        "setup": {k: info[k] for k in ("setup_s", "store_write_s", "snapshot_write_s", "peer_copy_s", "snapshot_mb")},
        "ours": {fmt: {**r, "rows_per_s": round(args.rows / r["seconds"])} for fmt, r in ours.items()},
        "ours_does": "dataset resolved and checked, access event sealed before the first byte; DuckDB over the "
                     "Parquet snapshot, 2 of 5 items masked in SQL, Arrow batches of 50,000 rows, formula "
                     "neutralisation (pyarrow compute), pyarrow.csv; UTF-8 with BOM",
        "peer": None if peer is None else {
            **peer, "rows_per_s": round(args.rows / peer["seconds"]), "name": f"datasette {datasette.__version__}",
            "url": "/peer/persons.csv?_stream=on&_size=max",
            "does": "pages through the table by primary key, Python csv per row; no masking, no neutralisation, "
                    "no access log"},
        "ratio_mb_per_s": ratio, "ratio_rows_per_s": rows_ratio,
        "target": {"mb_per_s": ">= peer", "memory": "constant"},
        "ok": peer is None or (ratio is not None and ratio >= 1),
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "load_average": {"before": load_before,
                                                                  "after": [round(x, 2) for x in os.getloadavg()]},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
