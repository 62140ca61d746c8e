"""Audit chain verification speed (R-SEC-3): events/s over N events (default 1,000,000).

Builds a real chained log in a fresh database (SQLite file and/or PostgreSQL database
gongshu_bench_audit), then times gongshu.audit.service.verify over all of it.
Prints one JSON line. Target: >= 100,000 events/s.

    python benchmarks/audit_verify.py [--events 1000000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import datetime, timedelta

from sqlalchemy import column, insert, table, text
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.db import make_engine, reset_postgres_database, upgrade

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_audit"
COLS = ("seq", "at", "actor_id", "actor_name", "org_id", "action", "subject_type", "subject_id", "before_digest",
        "after_digest", "detail", "request_id", "prev_hash", "hash")


def chain(n: int):
    """Yield n chained event rows, as the recorder would write them."""
    prev = audit.GENESIS
    t0 = datetime(2026, 1, 5, 9, 0, 0)
    actions = ("catalog.entry.create", "catalog.entry.submit", "catalog.entry.approve", "auth.login")
    for i in range(1, n + 1):
        row = dict(seq=i, at=t0 + timedelta(microseconds=1500 * i), actor_id=i % 97 + 1, actor_name=f"user{i % 97}",
                   org_id=i % 23 + 1, action=actions[i % 4], subject_type="catalog_entry", subject_id=str(i % 5000),
                   before_digest=None, after_digest="a" * 64, detail='{"note":"演示"}', request_id=f"{i:032x}",
                   prev_hash=prev)
        row["hash"] = audit._sm3(audit._material(**row))
        prev = row["hash"]
        yield row


def fill(engine, n: int) -> tuple[float, str, int]:
    start = time.perf_counter()
    last = None
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY audit_event ({', '.join(COLS)}) FROM STDIN") as cp:
                for row in chain(n):
                    cp.write_row([row[c] for c in COLS])
                    last = row
            cur.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (last["seq"], last["hash"]))
            raw.commit()
        finally:
            raw.close()
    else:
        # stored as SQLAlchemy's SQLite DateTime does: 'YYYY-MM-DD HH:MM:SS.ffffff'
        ins = insert(table("audit_event", *(column(c) for c in COLS)))
        batch: list[dict] = []
        with engine.begin() as conn:
            for row in chain(n):
                batch.append({**row, "at": row["at"].strftime("%Y-%m-%d %H:%M:%S.%f")})
                if len(batch) == 20000:
                    conn.execute(ins, batch)
                    batch = []
                last = row
            if batch:
                conn.execute(ins, batch)
            conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
                         {"s": last["seq"], "h": last["hash"]})
    return time.perf_counter() - start, last["hash"], last["seq"]


def fresh_pg(url: str):
    reset_postgres_database(url)
    return make_engine(url)


def run(engine, n: int) -> dict:
    upgrade(engine)
    fill_s, _, _ = fill(engine, n)
    with Session(engine) as s:
        t = time.perf_counter()
        result = audit.verify(s)
        took = time.perf_counter() - t
    assert result.ok and result.checked == n, result
    return {"events": n, "fill_s": round(fill_s, 1), "verify_s": round(took, 2), "events_per_s": int(n / took)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = ap.parse_args()
    out: dict = {"benchmark": "audit_verify", "machine": f"{platform.machine()} {platform.python_version()}",
                 "target_events_per_s": 100_000}
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as d:
            out["sqlite"] = run(make_engine(f"sqlite:///{d}/bench.db"), args.events)
    if args.db in ("postgres", "both"):
        engine = fresh_pg(PG_URL)
        out["postgres"] = run(engine, args.events)
        engine.dispose()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
