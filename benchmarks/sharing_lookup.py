"""API-mode key lookup with every check and the access log (R-SHR-5, R-SHR-3), against Datasette.

Ours: ``GET /api/v1/share/grants/{id}/records?key=…`` on the gongshu app served by uvicorn (one process on
127.0.0.1): application credential, end user and purpose headers, rate limit, the grant check, the serving
version, the store lookup, row scope, masking (two of the five items are granted masked), and the access
event committed by the group-commit writer (each batch sealed by an audit event) before the answer leaves.
The peer, in the same run: Datasette's JSON API fetching the same row by primary key
(``/peer/persons/{key}.json``) from the same data copied into a SQLite file — no authentication, no grant,
no masking, no logging: it does less work. Both servers are started the same way (``uvicorn.run`` in a
subprocess, one process, access log off) and driven by the same client: ``--clients`` threads (default 8)
with keep-alive connections, random keys, for ``--seconds`` each after a warm-up. Then ``--batches``
batch lookups of 1,000 keys (``POST …/batch``) are timed one after another. Finally the access events
are counted and every seal is verified. Prints one JSON line. Targets: requests/s ≥ the peer's,
p99 ≤ 25 ms.

    python benchmarks/sharing_lookup.py [--rows 10000000] [--seconds 20] [--clients 8] [--dir DIR]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_share] [--no-peer]

Metadata and resource data live in a fresh directory (SQLite, the embedded default) unless
``--database-url`` points both at PostgreSQL. The rows are generated vectorised (Polars) and written
with the store's bulk path, then registered as the entry's serving version. Needs the ``bench`` extra
(``pip install -e '.[bench]'``) for Datasette.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pyarrow as pa
from sqlalchemy import func, select
from stdnum.cn import uscc as uscc_mod

BATCH = 200_000
KEY_PREFIX = "441900"


def key_of(i: int) -> str:
    return f"{KEY_PREFIX}{i:012d}"


def make_uscc(n: int) -> str:
    body = f"{n:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    body = "11441900" + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return body + uscc_mod.calc_check_digit(body)


ITEMS = [  # (name, type, length, key)
    ("公民身份号码", "C", 18, True), ("姓名", "C", 50, False), ("性别", "C", 1, False), ("出生日期", "D", None, False),
    ("户籍地址", "C", 200, False),
]
MASKED = {"公民身份号码", "姓名"}


def batches(columns, rows: int) -> Iterator[pa.RecordBatch]:
    """Person rows generated vectorised, BATCH at a time, typed for the store's columns c1…c5."""
    from gongshu.store.service import ARROW_TYPES

    schema = pa.schema([(c.name, ARROW_TYPES[c.type]) for c in columns])
    surnames = pl.Series(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
    for lo in range(0, rows, BATCH):
        hi = min(lo + BATCH, rows)
        i = pl.int_range(lo, hi, eager=True, dtype=pl.Int64)
        s = i.cast(pl.Utf8)
        df = pl.DataFrame({
            "c1": KEY_PREFIX + s.str.zfill(12),
            "c2": surnames.gather(i % len(surnames)) + "某" + (i % 9973).cast(pl.Utf8),
            "c3": (i % 2 + 1).cast(pl.Utf8),
            "c4": (i % 25000 - 7305).cast(pl.Int32).cast(pl.Date),
            "c5": "广东省东莞市南城街道某某路" + (i % 977).cast(pl.Utf8) + "号",
        })
        yield from df.to_arrow().cast(schema).to_batches()


# Setting up ---------------------------------------------------------------------------------------------

def setup(args, work: Path) -> dict:
    """A migrated database, a published entry with ``rows`` rows serving, a grant through the real
    request → approve flow, and an application's credentials."""
    from gongshu import db as gdb
    from gongshu.auth import service as auth_service
    from gongshu.auth.service import SYSTEM
    from gongshu.catalog.schemas import EntryIn
    from gongshu.catalog.service import entries, lifecycle
    from gongshu.ingest.models import DataVersion
    from gongshu.ingest.service import freshness
    from gongshu.ingest.service import spec as ingest_spec
    from gongshu.sharing.service import apps, requests
    from gongshu.store import registry
    from gongshu.tasks import service as tasks_service

    url = os.environ["GONGSHU_DATABASE_URL"]
    if url.startswith("postgresql"):
        gdb.reset_postgres_database(url)
    engine = gdb.make_engine(url)
    gdb.upgrade(engine)
    gdb.set_engine(engine)
    registry.configure(os.environ["GONGSHU_RESOURCE_DATABASE_URL"])
    registry.set_files_root(work / "data" / "ingest")
    t0 = time.perf_counter()
    with gdb.unit_of_work() as s:
        orgs = [auth_service.create_org(s, actor=SYSTEM, name=n, short_name=n[:4], kind=k, uscc=make_uscc(i))
                for i, (n, k) in enumerate((("数据管理局", "authority"), ("公安局", "department"),
                                            ("自然资源局", "department")), start=1)]

        def actor(org, name, role):
            user = auth_service.create_user(s, actor=SYSTEM, username=name, display_name=name, org_id=org.id,
                                            password="correct-horse-9", roles=[role])
            return auth_service.actor_for(s, user)
        admin, reviewer = actor(orgs[0], "admin", "authority_admin"), actor(orgs[0], "reviewer", "authority_reviewer")
        source, consumer = actor(orgs[1], "source", "dept_officer"), actor(orgs[2], "consumer", "dept_officer")
        today = tasks_service.today()
        tasks_service.declare_unknown_years(s, actor=admin, years=(today.year, today.year + 1),
                                            source="基准测试日历（周一至周五）")
        items = [{"name": n, "type": t, "length": ln, "meaning": n, "is_key": k, "is_identifier": k,
                  "is_personal": True, "grade": "一般3"} for n, t, ln, k in ITEMS]
        entry = entries.create_entry(s, actor=source, data=EntryIn(
            code="101001/90002", resource_attr="基础", topic="人口", name="户籍人口基本信息（共享基准测试）",
            summary="共享接口基准测试用的户籍人口基本信息：身份号码、姓名、性别、出生日期、户籍地址。", format="数据库",
            sharing_type="有条件共享", sharing_condition="用于政务服务中的身份核验", sharing_basis="东莞市公共数据管理办法",
            sharing_mode="接口", sharing_scope="市级政务部门", open_type="不予开放", update_cycle="每日",
            legal_basis="《中华人民共和国户口登记条例》", business="户籍管理", source_system="人口信息管理系统",
            sharing_period="长期", grade="一般3", items=items))
        lifecycle.submit(s, actor=source, entry_id=entry.id, start=date(2026, 3, 2))
        lifecycle.approve(s, actor=reviewer, entry_id=entry.id)
        snapshot = entries.published_snapshot(s, entry_id=entry.id)
        entry_id, source_org = entry.id, orgs[1].id
    columns = ingest_spec.columns_of(snapshot)
    table = f"rd_bench_share_{uuid.uuid4().hex[:8]}"
    t1 = time.perf_counter()
    registry.get_store().write_batches(table, columns, batches(columns, args.rows), create=True, index=True)
    load_s = time.perf_counter() - t1
    with gdb.unit_of_work() as s:
        version = DataVersion(entry_id=entry_id, number=1, table_name=table, snapshot_path="", snapshot_sm3="",
                              columns=ingest_spec.columns_json(columns), catalog_version=1, rows=args.rows,
                              added=args.rows, channel="upload")
        s.add(version)
        s.flush()
        freshness.mark_loaded(s, entry_id=entry_id, org_id=source_org, cycle="每日", version_id=version.id)
    with gdb.unit_of_work() as s:
        req = requests.submit(s, actor=consumer, entry_id=entry_id, items=[n for n, *_ in ITEMS], mode="api",
                              matter="不动产登记中核验申请人身份", legal_basis="《不动产登记暂行条例》第十六条",
                              system_name="不动产登记系统")
        grant = requests.approve(s, actor=source, request_id=req.id,
                                 items=[{"name": n, "masked": n in MASKED} for n, *_ in ITEMS])
        assert grant.status == "active", grant.status
        app, secret = apps.register(s, actor=consumer, name="不动产登记系统", rate_per_minute=apps.MAX_RATE)
        grant_id, client_id = grant.id, app.client_id
    peer_file = work / "peer.db"
    t2 = time.perf_counter()
    store = registry.get_store()
    if store.dialect == "sqlite":
        from gongshu.store import sqlite_dir
        src = sqlite_dir.table_file(store.root, table)
        con = sqlite3.connect(peer_file)
        con.execute("ATTACH DATABASE ? AS src", (f"file:{src}?mode=ro",))
        con.execute("CREATE TABLE persons (c1 TEXT PRIMARY KEY, c2 TEXT, c3 TEXT, c4 TEXT, c5 TEXT)")
        con.execute(f"INSERT INTO persons SELECT c1, c2, c3, c4, c5 FROM src.{table} ORDER BY c1")  # noqa: S608
        con.commit()
        con.execute("DETACH DATABASE src")
        con.close()
    else:  # the same rows, from the same generator
        con = sqlite3.connect(peer_file)
        con.execute("CREATE TABLE persons (c1 TEXT PRIMARY KEY, c2 TEXT, c3 TEXT, c4 TEXT, c5 TEXT)")
        for b in batches(columns, args.rows):
            cols = [b.column(i).to_pylist() for i in range(5)]
            cols[3] = [d.isoformat() for d in cols[3]]
            con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?, ?)", zip(*cols, strict=True))
        con.commit()
        con.close()
    peer_s = time.perf_counter() - t2
    engine.dispose()
    registry.configure(None)
    return {"grant_id": grant_id, "client_id": client_id, "secret": secret, "table": table,
            "setup_s": round(time.perf_counter() - t0, 1), "store_write_s": round(load_s, 1),
            "peer_copy_s": round(peer_s, 1), "peer_file": str(peer_file), "dialect": store.dialect}


# Servers ------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, port: int, peer_file: str) -> None:
    """Run in the server subprocess: both sides through the same uvicorn.run settings."""
    import asyncio

    import uvicorn

    if kind == "ours":
        from gongshu.app import create_app
        app = create_app()
    else:
        from datasette.app import Datasette
        ds = Datasette([peer_file], settings={"sql_time_limit_ms": 5000})
        asyncio.run(ds.invoke_startup())
        app = ds.app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, workers=1, lifespan="on")


def start_server(kind: str, peer_file: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port), "--peer-file", peer_file],
                            env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"the {kind} server exited with {proc.returncode}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the {kind} server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


# The client ---------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(port: int, path_of, headers: dict, rows: int, clients: int, seconds: float, warmup: float,
          pid: int | None = None) -> dict:
    """``clients`` threads, one keep-alive connection each, GET path_of(key) with random keys; with ``pid``,
    the server's CPU time per request over the measured window too."""
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    statuses: dict[int, int] = {}
    start = threading.Barrier(clients + 1)
    t_measure = [0.0]
    t_end = [0.0]

    def worker(n: int) -> None:
        rng = random.Random(1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        while True:
            now = time.perf_counter()
            if now >= t_end[0]:
                break
            path = path_of(key_of(rng.randrange(rows)))
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            dt = time.perf_counter() - t0
            if t0 >= t_measure[0]:
                if resp.status != 200 or not body:
                    errors[n] += 1
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                else:
                    lat[n].append(dt)
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    now = time.perf_counter()
    t_measure[0], t_end[0] = now + warmup, now + warmup + seconds
    start.wait()
    cpu = [0.0, 0.0]
    if pid is not None:
        time.sleep(max(0.0, t_measure[0] - time.perf_counter()))
        cpu[0] = cpu_seconds(pid)
        time.sleep(max(0.0, t_end[0] - time.perf_counter()))
        cpu[1] = cpu_seconds(pid)
    for t in threads:
        t.join()
    ms = sorted(x * 1000 for xs in lat for x in xs)
    q = statistics.quantiles(ms, n=100) if len(ms) >= 2 else ms * 99
    return {"requests": len(ms), "requests_per_s": round(len(ms) / seconds, 1), "p50_ms": round(q[49], 2),
            "p99_ms": round(q[98], 2), "max_ms": round(ms[-1], 2) if ms else None, "errors": sum(errors),
            "error_statuses": statuses,
            "server_cpu_ms_per_request": round((cpu[1] - cpu[0]) * 1000 / len(ms), 3) if pid and ms else None}


def batch_lookups(port: int, grant_id: int, headers: dict, rows: int, n: int) -> dict:
    rng = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    secs, found = [], []
    for _ in range(n):
        body = json.dumps({"keys": [key_of(rng.randrange(rows)) for _ in range(1000)]}).encode()
        t0 = time.perf_counter()
        conn.request("POST", f"/api/v1/share/grants/{grant_id}/batch", body=body,
                     headers={**headers, "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        secs.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise SystemExit(f"batch lookup failed: {resp.status} {data[:300]!r}")
        found.append(json.loads(data)["found"])
    conn.close()
    return {"calls": n, "keys_per_call": 1000, "median_s": round(statistics.median(secs), 3),
            "max_s": round(max(secs), 3), "found_per_call": min(found)}


def evidence_summary(url: str) -> dict:
    from gongshu import db as gdb
    from gongshu.audit.models import AuditEvent
    from gongshu.sharing.models import AccessEvent
    from gongshu.sharing.service import evidence

    engine = gdb.make_engine(url)
    gdb.set_engine(engine)
    with gdb.unit_of_work() as s:
        events = s.scalar(select(func.count()).select_from(AccessEvent))
        unsealed = s.scalar(select(func.count()).select_from(AccessEvent).where(AccessEvent.seal_seq.is_(None)))
        seals = list(s.scalars(select(AuditEvent.seq).where(AuditEvent.action == evidence.SEAL_ACTION)))
        bad = [seq for seq in seals if not evidence.verify_seal(s, seq=seq).ok]
        ok = s.scalar(select(func.count()).select_from(AccessEvent).where(AccessEvent.result == "ok"))
    engine.dispose()
    return {"access_events": events, "ok_events": ok, "unsealed": unsealed, "seal_batches": len(seals),
            "mean_events_per_batch": round(events / len(seals), 2) if seals else None, "seals_failing": len(bad)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--batches", type=int, default=10)
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
    work = Path(args.dir or tempfile.mkdtemp(prefix="gongshu-bench-share-"))
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    url = args.database_url or f"sqlite:///{data_dir / 'gongshu.db'}"
    env = {**os.environ, "GONGSHU_DATA_DIR": str(data_dir), "GONGSHU_DATABASE_URL": url,
           "GONGSHU_RESOURCE_DATABASE_URL": url if url.startswith("postgresql") else f"sqlite:///{data_dir / 'resources'}",
           "GONGSHU_INPROCESS_WORKER": "false", "GONGSHU_DATA_KEY": os.urandom(16).hex()}
    os.environ.update(env)
    load_before = [round(x, 2) for x in os.getloadavg()]
    info = setup(args, work)
    headers = {"X-Client-Id": info["client_id"], "X-Client-Secret": info["secret"],
               "X-End-User": quote("李四（不动产登记窗口）"), "X-Purpose": "BDC-2026-000123"}
    proc, port = start_server("ours", info["peer_file"], env)
    try:
        ours = drive(port, lambda k: f"/api/v1/share/grants/{info['grant_id']}/records?key={k}", headers, args.rows,
                     args.clients, args.seconds, args.warmup, proc.pid)
        batch = batch_lookups(port, info["grant_id"], headers, args.rows, args.batches)
    finally:
        stop_server(proc)
    peer = None
    if not args.no_peer:
        proc, port = start_server("peer", info["peer_file"], env)
        try:
            peer = drive(port, lambda k: f"/peer/persons/{k}.json", {}, args.rows, args.clients, args.seconds,
                         args.warmup, proc.pid)
        finally:
            stop_server(proc)
    import datasette  # noqa: I001 - only for its version
    ev = evidence_summary(url)
    ok = ours["p99_ms"] <= 25 and (peer is None or ours["requests_per_s"] >= peer["requests_per_s"])
    print(json.dumps({
        "benchmark": "sharing_lookup", "dialect": info["dialect"], "rows": args.rows, "clients": args.clients,
        "seconds": args.seconds, "setup": {k: info[k] for k in ("setup_s", "store_write_s", "peer_copy_s")},
        "ours": {**ours, "does": "credential (SM3), end user + purpose headers, rate limit, grant check, serving "
                                 "version, store lookup, row scope, masking (2 of 5 items), access event committed "
                                 "by the group-commit writer and sealed (SM3 + audit event) before the answer"},
        "peer": None if peer is None else {**peer, "name": f"datasette {datasette.__version__}",
                                           "does_less": "no authentication, no grant check, no masking, no "
                                                        "access logging: a primary-key read of one SQLite row"},
        "ratio": round(ours["requests_per_s"] / peer["requests_per_s"], 2) if peer else None,
        "batch_1000": batch, "evidence": ev,
        "target": {"requests_per_s": ">= peer", "p99_ms": 25}, "ok": ok,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "load_average": {"before": load_before,
                                                                  "after": [round(x, 2) for x in os.getloadavg()]},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
