"""Benchmark: batch verification of 10,000 keys (R-SHR-4, R-SHR-10) — target ≤ 1 s.

The world of ``benchmarks/sharing_exchange.py`` (the 12-item person entry loaded through the real pipeline
from the generated CSV, default 1,000,000 rows; ``--rows 10000000`` for the issue's scale) with a consumer
holding a grant in mode ``verify`` of 性别, 出生日期, 婚姻状况 and 月收入. A batch is 10,000 checks on random
keys — 90 % present, 10 % absent — mixing equality on 性别 and 婚姻状况, a date equality and an amount range.

- ``batch_s``: ``verify.check`` + ``access.finish`` as the API runs them — a staff call, grant check,
  parsing, validation of the values (one DuckDB query over the checks), the batch's rows read from the
  store in one indexed statement, one DuckDB query comparing them with the checks, 10,000 HMAC-SM3 key
  digests, and the access event with its 10,000 subject rows written and sealed (synchronously here; the
  API process's group-commit writer batches it); repeated ``--repeat`` times (fresh keys each time; the
  per-consumer rate limit is reset between runs);
- ``data_s``: ``verify.answer`` alone (validation, store read, comparison) for the same batches, and
  ``scan_s``: the alternative measured against it — DuckDB over the Parquet snapshot joined with the checks;
- ``single_ms``: one check end to end, p50 and p99 over ``--singles`` calls.

Prints one JSON line::

    python benchmarks/sharing_verify.py [--rows 1000000] [--dir /tmp/bench] [--repeat 5] [--singles 50]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_share]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from sqlalchemy.engine import make_url

from gongshu import db as gdb
from gongshu.ingest.service import versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.sharing.models import Grant
from gongshu.sharing.service import access, grants, projection, verify
from gongshu.sharing.service.projection import Staff
from gongshu.store.service import sql_ident, sql_literal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sharing_exchange import PG_URL, person_csv, setup_world, teardown  # noqa: E402

ITEMS = ("性别", "出生日期", "婚姻状况", "月收入")
BATCH = 10_000


def sample(snapshot: Path, n: int, seed: int, labels: dict[str, str]) -> list[dict]:
    """``n`` random rows of the snapshot (by item label: ``labels`` maps column names to labels)."""
    con = duckdb.connect()
    try:
        sql = f"SELECT * FROM read_parquet(?) USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})"  # noqa: S608
        cur = con.execute(sql, [str(snapshot)])
        names = [d[0] for d in cur.description]
        return [{labels.get(c, c): v for c, v in zip(names, r, strict=True)} for r in cur.fetchall()]
    finally:
        con.close()


def batch(rows: list[dict], rnd: random.Random) -> list[dict]:
    checks = []
    for i in range(BATCH):
        r = rows[i % len(rows)]
        key = r["公民身份号码"] if rnd.random() < 0.9 else f"9{rnd.randrange(10**16):016d}X"
        kind = i % 4
        if kind == 0:
            checks.append({"key": key, "item": "性别", "value": r["性别"] if rnd.random() < 0.7 else "9"})
        elif kind == 1:
            checks.append({"key": key, "item": "婚姻状况", "value": r["婚姻状况"] or "10"})
        elif kind == 2:
            born = r["出生日期"]
            checks.append({"key": key, "item": "出生日期", "value": born.isoformat() if born else "2000-01-01"})
        else:
            checks.append({"key": key, "item": "月收入", "min": "1000", "max": "5000"})
    return checks


def _scan(grant, served, parsed: list[dict], labels: dict, snap: Path) -> float:
    """The alternative: the checks joined with the Parquet snapshot itself in DuckDB (seconds)."""
    sql = verify._query(grant, served, labels).replace(
        "FROM found", f"FROM read_parquet({sql_literal(str(snap))}) WHERE {sql_ident(served.keys[0].name)} = ANY(?)")
    con = projection.connect()
    try:
        con.register("checks", verify._table(parsed, served.keys, served))
        t0 = time.perf_counter()
        con.execute(sql, [sorted({c["key"][0].upper() for c in parsed})]).fetchall()
        return time.perf_counter() - t0
    finally:
        con.close()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run(url: str, csv: Path, work: Path, repeat: int, singles: int) -> dict:
    consumer, grant_id, entry_id, load_s = setup_world(url, csv, work, mode="verify", items=ITEMS, masked=())
    with gdb.unit_of_work() as s:
        version = versions.current_version(s, entry_id=entry_id)
        snap, rows_total = snapshot_path(version), version.rows
        labels = {c["name"]: c["label"] for c in version.columns}
    rnd = random.Random(2026)
    rows = sample(snap, BATCH, 2026, labels)
    who = Staff(consumer, purpose="bench")
    batch_s, data_s, scan_s, counts = [], [], [], {}
    for _ in range(repeat):
        checks = batch(rows, rnd)
        verify.limits.reset()
        t0 = time.perf_counter()
        session = gdb.session_factory()()
        try:
            outcome = verify.check(session, who=who, grant_id=grant_id, body={"checks": checks})
        finally:
            session.rollback()
            session.close()
        body = access.finish(outcome)
        batch_s.append(time.perf_counter() - t0)
        counts = body["counts"]
        with gdb.unit_of_work() as s:  # the data step alone, and the snapshot scan it replaced
            grant = s.get(Grant, grant_id)
            served = grants.granted_columns(s, grant)
            parsed = verify._parse({"checks": checks})  # the private steps, timed alone
            labels = {c.label: c for c in served.columns if c.label in ITEMS}
            t1 = time.perf_counter()
            verify.answer(grant, served, parsed, labels)
            data_s.append(time.perf_counter() - t1)
            scan_s.append(_scan(grant, served, parsed, labels, snap))
    single = []
    for i in range(singles):
        r = rows[rnd.randrange(len(rows))]
        verify.limits.reset()
        t0 = time.perf_counter()
        session = gdb.session_factory()()
        try:
            outcome = verify.check(session, who=who, grant_id=grant_id,
                                   body={"key": r["公民身份号码"], "item": "性别", "value": r["性别"]})
        finally:
            session.rollback()
            session.close()
        assert access.finish(outcome)["results"] == ["match"], i
        single.append((time.perf_counter() - t0) * 1000)
    teardown(url)
    return {"db": url.split(":", 1)[0].split("+")[0], "snapshot_rows": rows_total, "load_s": round(load_s, 2),
            "batch_size": BATCH, "counts_last": counts,
            "batch_s": {"min": round(min(batch_s), 3), "median": round(statistics.median(batch_s), 3),
                        "max": round(max(batch_s), 3)},
            "data_s": {"min": round(min(data_s), 3), "median": round(statistics.median(data_s), 3)},
            "scan_s": {"min": round(min(scan_s), 3), "median": round(statistics.median(scan_s), 3)},
            "checks_per_s": round(BATCH / statistics.median(batch_s)),
            "single_ms": {"p50": round(pct(single, 0.5), 1), "p99": round(pct(single, 0.99), 1)} if single else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench"), help="where the CSV is generated and reused")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--singles", type=int, default=50)
    ap.add_argument("--database-url", default="", help=f"PostgreSQL instead of SQLite (e.g. {PG_URL})")
    args = ap.parse_args()
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    csv = person_csv(args.dir, args.rows)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        res = run(args.database_url or f"sqlite:///{work / 'gongshu.db'}", csv, work, args.repeat, args.singles)
    print(json.dumps({"benchmark": "sharing_verify", "csv_rows": args.rows, **res, "target": "batch of 10,000 <= 1 s",
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "cpus": os.cpu_count(), "load_avg_before": round(load_before, 2),
                      "load_avg_after": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                      "duckdb": duckdb.__version__}, ensure_ascii=False))


if __name__ == "__main__":
    main()
