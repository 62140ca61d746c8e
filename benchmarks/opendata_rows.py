"""The open data row query API (R-OPN-2, R-OPN-7) against Datasette's JSON API, on the same 1M-row table.

Ours: ``GET /api/v1/open/datasets/{slug}/rows?性别=1&limit=100`` on the gongshu app served by uvicorn (one
process on 127.0.0.1): the dataset resolved (open? 无条件开放?), the public items of the serving version, the
filter checked (a public, unmasked item; a value of its type), one keyset page of the store, two of the four
items masked, a sealed cursor for the next page, and the access event committed by the group-commit writer
(each batch sealed by an audit event) before the answer leaves. The filter (性别, 1 or 2 at random) matches half
the rows: each request is the first page of 100 of 500,000 matches.

The peer, in the same run: Datasette serving the same rows copied into a SQLite file, its table JSON API
``/peer/persons.json?性别=1&_size=100`` — first as asked, in its default shape (it also counts the matching rows
and looks for facet suggestions, within its SQL time limit), then with ``_shape=array&_nosuggest=1`` (the page
of rows only: its least work). It masks nothing and logs nothing. Both servers are started the same way
(``uvicorn.run`` in a subprocess, one process, access log off) and driven by the same client
(``benchmarks/sharing_lookup.drive``: ``--clients`` threads with keep-alive connections, ``--seconds`` each
after a warm-up). Then the access events are counted and every seal verified. Prints one JSON line.
Target: requests/s ≥ the peer's.

    python benchmarks/opendata_rows.py [--rows 1000000] [--seconds 15] [--clients 8] [--dir DIR]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_open]

Metadata and resource data live in a fresh directory (SQLite, the embedded default) unless ``--database-url``
points both at PostgreSQL. The rows are generated vectorised (Polars, as in ``sharing_lookup``), written with
the store's bulk path and as the version's Parquet snapshot (what downloads read), registered as the entry's
serving version, and the entry is opened through the real review (submit, approve). ``setup`` and ``serve``
are importable (``benchmarks/opendata_download.py`` uses them). Needs the ``bench`` extra for Datasette.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sharing_lookup import batches, drive, evidence_summary, make_uscc, stop_server  # noqa: E402

ITEMS = [  # (name, type, length, key, personal): the ID number and the name are masked, the rest public in clear
    ("公民身份号码", "C", 18, True, True), ("姓名", "C", 50, False, True), ("性别", "C", 1, False, False),
    ("出生日期", "D", None, False, False), ("户籍地址", "C", 200, False, False),
]
CODE = "101001/90003"
SLUG = "101001-90003"


def setup(rows: int, work: Path) -> dict:
    """A migrated database; a published 无条件开放 entry with ``rows`` rows serving (store table and Parquet
    snapshot), opened through the real review; the peer's SQLite copy."""
    from gongshu import db as gdb
    from gongshu.auth import service as auth_service
    from gongshu.auth.service import SYSTEM
    from gongshu.catalog.schemas import EntryIn
    from gongshu.catalog.service import entries, lifecycle
    from gongshu.ingest.models import DataVersion
    from gongshu.ingest.service import freshness
    from gongshu.ingest.service import spec as ingest_spec
    from gongshu.opendata.service import reviews
    from gongshu.store import registry
    from gongshu.store.service import SnapshotWriter, file_sm3
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
                for i, (n, k) in enumerate((("数据管理局", "authority"), ("公安局", "department")), start=1)]

        def actor(org, name, role):
            user = auth_service.create_user(s, actor=SYSTEM, username=name, display_name=name, org_id=org.id,
                                            password="correct-horse-9", roles=[role])
            return auth_service.actor_for(s, user)
        admin, reviewer = actor(orgs[0], "admin", "authority_admin"), actor(orgs[0], "reviewer", "authority_reviewer")
        source = actor(orgs[1], "source", "dept_officer")
        today = tasks_service.today()
        tasks_service.declare_unknown_years(s, actor=admin, years=(today.year, today.year + 1),
                                            source="基准测试日历（周一至周五）")
        items = [{"name": n, "type": t, "length": ln, "meaning": n, "is_key": k, "is_identifier": k,
                  "is_personal": p, "grade": "一般3" if p else "一般1"} for n, t, ln, k, p in ITEMS]
        entry = entries.create_entry(s, actor=source, data=EntryIn(
            code=CODE, resource_attr="基础", topic="人口", name="户籍人口基本信息（开放基准测试）",
            summary="开放数据基准测试用的户籍人口基本信息：身份号码与姓名脱敏，性别、出生日期、户籍地址公开。", format="数据库",
            sharing_type="无条件共享", sharing_mode="接口", sharing_scope="市级政务部门", open_type="无条件开放",
            update_cycle="每日", legal_basis="《中华人民共和国户口登记条例》", business="户籍管理",
            source_system="人口信息管理系统", sharing_period="长期", grade="一般3", items=items))
        lifecycle.submit(s, actor=source, entry_id=entry.id, start=date(2026, 3, 2))
        lifecycle.approve(s, actor=reviewer, entry_id=entry.id)
        snapshot = entries.published_snapshot(s, entry_id=entry.id)
        entry_id, source_org = entry.id, orgs[1].id
    columns = ingest_spec.columns_of(snapshot)
    table = f"rd_bench_open_{uuid.uuid4().hex[:8]}"
    t1 = time.perf_counter()
    registry.get_store().write_batches(table, columns, batches(columns, rows), create=True, index=True)
    store_s = time.perf_counter() - t1
    relative = Path("snapshots") / f"{table}.parquet"
    t2 = time.perf_counter()
    with SnapshotWriter(registry.files_root() / relative, next(batches(columns, 1)).schema,
                        {c.name: c.label for c in columns}) as w:
        for b in batches(columns, rows):
            w.write(b)
    snapshot_s = time.perf_counter() - t2
    with gdb.unit_of_work() as s:
        version = DataVersion(entry_id=entry_id, number=1, table_name=table, snapshot_path=str(relative),
                              snapshot_sm3=file_sm3(registry.files_root() / relative),
                              columns=ingest_spec.columns_json(columns), catalog_version=1, rows=rows, added=rows,
                              channel="upload")
        s.add(version)
        s.flush()
        freshness.mark_loaded(s, entry_id=entry_id, org_id=source_org, cycle="每日", version_id=version.id)
    with gdb.unit_of_work() as s:
        review = reviews.submit(s, actor=source, entry_id=entry_id, confidentiality="不涉及国家秘密、工作秘密",
                                risk_assessment="身份号码、姓名脱敏后重新识别风险低", risk_level="低",
                                measures="身份号码、姓名脱敏")
        reviews.approve(s, actor=reviewer, review_id=review.id)
    peer_file = work / "peer.db"
    t3 = time.perf_counter()
    copy_peer(columns, rows, table, peer_file)
    peer_s = time.perf_counter() - t3
    engine.dispose()
    dialect = registry.get_store().dialect
    registry.configure(None)
    return {"entry_id": entry_id, "table": table, "peer_file": str(peer_file), "dialect": dialect,
            "setup_s": round(time.perf_counter() - t0, 1), "store_write_s": round(store_s, 1),
            "snapshot_write_s": round(snapshot_s, 1), "peer_copy_s": round(peer_s, 1),
            "snapshot_mb": round((registry.files_root() / relative).stat().st_size / 1e6, 1)}


def copy_peer(columns, rows: int, table: str, peer_file: Path) -> None:
    """The same rows into a SQLite file for Datasette: table ``persons``, columns named by item label, the key
    as primary key."""
    from gongshu.store import registry

    names = [c.label for c in columns]
    create = (f'CREATE TABLE persons ("{names[0]}" TEXT PRIMARY KEY, '
              + ", ".join(f'"{n}" TEXT' for n in names[1:]) + ")")
    con = sqlite3.connect(peer_file)
    con.execute(create)
    store = registry.get_store()
    if store.dialect == "sqlite":
        from gongshu.store import sqlite_dir
        src = sqlite_dir.table_file(store.root, table)
        con.execute("ATTACH DATABASE ? AS src", (f"file:{src}?mode=ro",))
        con.execute(f"INSERT INTO persons SELECT {', '.join(c.name for c in columns)} "  # noqa: S608 - our names
                    f"FROM src.{table} ORDER BY {columns[0].name}")
        con.commit()
        con.execute("DETACH DATABASE src")
    else:  # the same rows, from the same generator
        for b in batches(columns, rows):
            cols = [b.column(i).to_pylist() for i in range(len(columns))]
            cols[3] = [d.isoformat() for d in cols[3]]
            con.executemany(f"INSERT INTO persons VALUES ({', '.join('?' for _ in names)})",  # noqa: S608
                            zip(*cols, strict=True))
        con.commit()
    con.close()


# Servers ------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, port: int, peer_file: str) -> None:
    """Run in the server subprocess: both sides through the same uvicorn.run settings. Datasette's CSV export is
    allowed to stream without its default 100 MB cap (the whole table is the point)."""
    import asyncio

    import uvicorn

    if kind == "ours":
        from gongshu.app import create_app
        app = create_app()
    else:
        from datasette.app import Datasette
        ds = Datasette([peer_file], settings={"sql_time_limit_ms": 5000, "max_csv_mb": 0, "allow_csv_stream": True})
        asyncio.run(ds.invoke_startup())
        app = ds.app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, workers=1, lifespan="on")


def start_server(script: str, kind: str, peer_file: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, script, "--serve", kind, "--port", str(port), "--peer-file", peer_file],
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


def environment(args, prefix: str) -> tuple[Path, str, dict]:
    work = Path(args.dir or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    url = args.database_url or f"sqlite:///{data_dir / 'gongshu.db'}"
    env = {**os.environ, "GONGSHU_DATA_DIR": str(data_dir), "GONGSHU_DATABASE_URL": url,
           "GONGSHU_RESOURCE_DATABASE_URL": url if url.startswith("postgresql") else f"sqlite:///{data_dir / 'resources'}",
           "GONGSHU_INPROCESS_WORKER": "false", "GONGSHU_DATA_KEY": os.urandom(16).hex()}
    os.environ.update(env)
    return work, url, env


def sex(key: str) -> str:
    return "1" if int(key[-1]) % 2 else "2"


def check_answer(port: int) -> dict:
    """One answer of each side, to show what is served (and that ours masks)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/api/v1/open/datasets/{SLUG}/rows?{quote_param('性别')}=2&limit=2")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return {"first_row": body["rows"][0], "next": bool(body["next"]), "masked": body["masked"]}


def quote_param(s: str) -> str:
    from urllib.parse import quote
    return quote(s)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--clients", type=int, default=8)
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
    work, url, env = environment(args, "gongshu-bench-open-")
    load_before = [round(x, 2) for x in os.getloadavg()]
    info = setup(args.rows, work)
    field = quote_param("性别")
    proc, port = start_server(__file__, "ours", info["peer_file"], env)
    try:
        sample = check_answer(port)
        ours = drive(port, lambda k: f"/api/v1/open/datasets/{SLUG}/rows?{field}={sex(k)}&limit=100", {}, args.rows,
                     args.clients, args.seconds, args.warmup, proc.pid)
    finally:
        stop_server(proc)
    peer = peer_light = None
    if not args.no_peer:
        proc, port = start_server(__file__, "peer", info["peer_file"], env)
        try:
            peer = drive(port, lambda k: f"/peer/persons.json?{field}={sex(k)}&_size=100", {}, args.rows,
                         args.clients, args.seconds, args.warmup, proc.pid)
            peer_light = drive(port, lambda k: f"/peer/persons.json?{field}={sex(k)}&_size=100&_shape=array"
                                               "&_nosuggest=1", {}, args.rows, args.clients, args.seconds,
                               args.warmup, proc.pid)
        finally:
            stop_server(proc)
    import datasette  # noqa: I001 - only for its version
    ev = evidence_summary(url)
    print(json.dumps({
        "benchmark": "opendata_rows", "dialect": info["dialect"], "rows": args.rows, "clients": args.clients,
        "seconds": args.seconds,
        "setup": {k: info[k] for k in ("setup_s", "store_write_s", "snapshot_write_s", "peer_copy_s")},
        "ours": {**ours, "does": "dataset resolved and checked (open, 无条件开放), filter checked (public, unmasked, "
                                 "typed), keyset page of 100 of 500,000 matches from the store, 2 of 4 items masked, "
                                 "SM4-sealed cursor, access event committed by the group-commit writer and sealed "
                                 "(SM3 + audit event) before the answer", "sample": sample},
        "peer": None if peer is None else {
            **peer, "name": f"datasette {datasette.__version__}", "url": "/peer/persons.json?性别=1&_size=100",
            "does": "page of 100 + count of the matching rows + facet suggestions (its default JSON); no masking, no "
                    "access log"},
        "peer_rows_only": None if peer_light is None else {
            **peer_light, "url": "/peer/persons.json?性别=1&_size=100&_shape=array&_nosuggest=1",
            "does": "the page of 100 only (no count, no facets); no masking, no access log"},
        "ratio": round(ours["requests_per_s"] / peer["requests_per_s"], 2) if peer else None,
        "ratio_rows_only": round(ours["requests_per_s"] / peer_light["requests_per_s"], 2) if peer_light else None,
        "evidence": ev, "target": {"requests_per_s": ">= peer"},
        "ok": peer is None or ours["requests_per_s"] >= peer["requests_per_s"],
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "load_average": {"before": load_before,
                                                                  "after": [round(x, 2) for x in os.getloadavg()]},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
