"""Benchmark: an exchange package of 1,000,000 rows (R-SHR-5) — seconds to build, sign and verify.

A fresh, migrated database (SQLite, or PostgreSQL with ``--database-url``) gets the 12-item person entry of
``benchmarks/ingest_load.py``, loaded through the real pipeline from the same generated CSV (about 1 % of the
rows are rejected by validation), and a consumer department with an exchange grant of 8 of the 12 items, 3 of
them masked (姓名, 住址, 联系电话), no row scope. Then, for CSV (UTF-8 with BOM) and Parquet:

- ``build_s``: ``exchange.build`` end to end as the consumer calls it — grant check, DuckDB over the
  snapshot (projection, masking in SQL) streamed into the file, the file's SM3, the SM2 signature, the
  envelope file, the package row, its audit event and its access event (then committed);
- ``write_s`` / ``sm3_s`` / ``sign_s``: the same three parts timed on their own (the query and file write,
  SM3 of the file, SM2 over the canonical manifest);
- ``verify_s``: ``exchange.verify_files`` as ``gongshu sharing verify-package`` runs it offline (parse the
  envelope, SM3 of the file, SM2 verification).

Prints one JSON line::

    python benchmarks/sharing_exchange.py [--rows 1000000] [--dir /tmp/bench]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_share]

``setup_world`` is importable (``benchmarks/sharing_verify.py`` uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gongshu import db as gdb
from gongshu.auth import service as auth_service
from gongshu.auth.service import SYSTEM
from gongshu.config import get_settings
from gongshu.crypto import sm2
from gongshu.ingest.service import loads, versions
from gongshu.kit.hashing import canonical_json
from gongshu.sharing.models import Grant
from gongshu.sharing.service import exchange, grants, projection, requests
from gongshu.store import registry
from gongshu.store.service import file_sm3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_load import make_uscc, setup_database  # noqa: E402
from ingest_validate import make_person_csv  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_share"
GRANTED = ("公民身份号码", "姓名", "性别", "出生日期", "住址", "联系电话", "登记时间", "月收入")
MASKED = ("姓名", "住址", "联系电话")


def person_csv(folder: Path, rows: int, seed: int = 7) -> Path:
    """The person CSV of ``ingest_load`` (generated once into ``folder``, then reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"persons-{rows}-{seed}.csv"
    if not csv.exists():
        part = csv.with_name(csv.name + ".part")
        make_person_csv(part, rows, seed)
        os.replace(part, csv)
    return csv


def setup_world(url: str, csv: Path, work: Path, *, mode: str, items=GRANTED, masked=MASKED):
    """Database, store and files under ``work``; the entry loaded from ``csv``; a consumer officer holding an
    active grant of ``items`` in ``mode``. Returns (consumer actor, grant id, entry id, load seconds)."""
    os.environ["GONGSHU_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("GONGSHU_DATA_KEY", "5a" * 32)
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    officer, entry_id = setup_database(url)
    pg = url.startswith("postgresql")
    registry.configure(url if pg else f"sqlite:///{work / 'resources'}", schema=f"rd_bench_{uuid.uuid4().hex[:8]}")
    registry.set_files_root(work / "ingest")
    t0 = time.perf_counter()
    with gdb.unit_of_work() as s:
        load_id = loads.receive_file(s, actor=officer, entry_id=entry_id, path=csv, filename=csv.name, move=False).id
    done = loads.process(load_id)
    if done is None or done.status != "applied":
        raise SystemExit(f"load ended {done and done.status}: {done and done.error_en}")
    load_s = time.perf_counter() - t0
    with gdb.unit_of_work() as s:
        consumer_org = auth_service.create_org(s, actor=SYSTEM, name="不动产登记中心", short_name="不动产",
                                               kind="department", uscc=make_uscc(3))
        user = auth_service.create_user(s, actor=SYSTEM, username="consumer", display_name="使用方专员",
                                        org_id=consumer_org.id, password="correct-horse-9", roles=["dept_officer"])
        consumer = auth_service.actor_for(s, user)
        req = requests.submit(s, actor=consumer, entry_id=entry_id, items=list(items), mode=mode,
                              matter="不动产登记（基准测试）", legal_basis="《不动产登记暂行条例》第十六条",
                              system_name="不动产登记系统")
        grant = requests.approve(s, actor=officer, request_id=req.id,
                                 items=[{"name": n, "masked": n in masked} for n in items])
        assert grant.status == "active", grant.status
        grant_id = grant.id
    return consumer, grant_id, entry_id, load_s


def teardown(url: str) -> None:
    store = registry.get_store()
    if url.startswith("postgresql"):
        with store.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE'))
    registry.configure(None)


def _parts(grant_id: int, fmt: str, work: Path) -> dict:
    """The query + file write, the SM3 and the signature, each timed alone (same SQL as a full package)."""
    with gdb.unit_of_work() as s:
        grant = grants.usable(s, grant_id=grant_id, consumer_org_id=s.get(Grant, grant_id).consumer_org_id,
                              mode="exchange")
        served = grants.granted_columns(s, grant)
        sql = exchange._full_sql(grant, served, projection.snapshot_of(served))  # the private steps, timed alone
    out = work / f"parts.{fmt}"
    con = projection.connect(temp_directory=work / ".duckdb_tmp")
    t0 = time.perf_counter()
    rows, _ = exchange._write(con, sql, out, fmt)  # the private steps, timed alone
    write_s = time.perf_counter() - t0
    con.close()
    t1 = time.perf_counter()
    file_sm3(out)
    sm3_s = time.perf_counter() - t1
    manifest = canonical_json({"rows": rows, "file_sm3": "0" * 64, "columns": list(GRANTED)})
    signer = sm2.signature_provider()
    signer.sign(b"warm-up")
    t2 = time.perf_counter()
    signer.sign(manifest)
    sign_s = time.perf_counter() - t2
    out.unlink()
    return {"write_s": round(write_s, 3), "sm3_s": round(sm3_s, 3), "sign_s": round(sign_s, 4)}


def run(url: str, csv: Path, work: Path) -> dict:
    consumer, grant_id, _entry_id, load_s = setup_world(url, csv, work, mode="exchange")
    with gdb.unit_of_work() as s:
        version = versions.current_version(s, entry_id=_entry_id)
        snapshot_rows = version.rows
    out: dict = {"db": registry.get_store().dialect, "snapshot_rows": snapshot_rows, "load_s": round(load_s, 2)}
    key = sm2.signature_provider().public_key_hex()
    for fmt in ("csv", "parquet"):
        t0 = time.perf_counter()
        with gdb.unit_of_work() as s:
            pkg = exchange.build(s, actor=consumer, grant_id=grant_id, fmt=fmt, kind="full", purpose="bench")
            path, rows, digest = exchange.package_path(pkg), pkg.rows, pkg.sm3
        build_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        check, pinned = exchange.verify_files(path.with_name(path.name + exchange.ENVELOPE_SUFFIX), path, key)
        verify_s = time.perf_counter() - t1
        assert check.ok and pinned and check.file_sm3 == digest, check.problems
        res = {"rows": rows, "file_mb": round(path.stat().st_size / 2**20, 1), "build_s": round(build_s, 2),
               "rows_per_s": round(rows / build_s), "verify_s": round(verify_s, 3)}
        res.update(_parts(grant_id, fmt, work))
        out[fmt] = res
    teardown(url)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench"), help="where the CSV is generated and reused")
    ap.add_argument("--database-url", default="", help=f"PostgreSQL instead of SQLite (e.g. {PG_URL})")
    args = ap.parse_args()
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    t0 = time.perf_counter()
    csv = person_csv(args.dir, args.rows)
    gen_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        res = run(args.database_url or f"sqlite:///{work / 'gongshu.db'}", csv, work)
    print(json.dumps({"benchmark": "sharing_exchange", "csv_rows": args.rows, "generate_s": round(gen_s, 2),
                      "granted_items": len(GRANTED), "masked_items": len(MASKED), **res,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "cpus": os.cpu_count(), "load_avg_before": round(load_before, 2),
                      "load_avg_after": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                      "duckdb": duckdb.__version__}, ensure_ascii=False))


if __name__ == "__main__":
    main()
