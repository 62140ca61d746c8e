"""Benchmark: end-to-end load of a 1,000,000-row, 12-column person CSV (R-AGG-2, R-AGG-3, R-AGG-6).

Ours: ``loads.receive_file`` + ``loads.process`` into a fresh, migrated database — parse, full
validation (ID checksums, region, birth date, code tables, types, duplicate keys), the Parquet
snapshot, the new resource table (executemany on SQLite, COPY on PostgreSQL), the version and
its audit event. The peer in the same run: pandera with the Polars backend validating the same
rules on the same file (validation only; ``benchmarks/ingest_validate.py``). Each side runs in
its own subprocess so its peak RSS (ru_maxrss) is its own. Target: ours ≥ 0.5× the peer's
validation-only rate, peak memory ≤ 1.5 GB at 10M rows. Prints one JSON line:

    python benchmarks/ingest_load.py --rows 1000000 [--database-url postgresql+psycopg://…/gongshu_bench_perf]
        [--no-sqlite] [--no-peer] [--dir /tmp/bench]

The CSV is generated once into ``--dir`` (``persons-<rows>-<seed>.csv``) and reused. Seconds per
phase come from timing wrappers around the functions the pipeline calls (measurement only);
``*_concurrent`` phases ran on another thread, overlapping the others (the store write of a full
load runs while the file is read and validated), and are not part of ``other``.
"""

from __future__ import annotations

import argparse
import functools
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

import polars as pl
from sqlalchemy.engine import make_url
from stdnum.cn import uscc as uscc_mod

from gongshu import db as gdb
from gongshu.auth import service as auth_service
from gongshu.auth.service import SYSTEM
from gongshu.catalog.schemas import EntryIn
from gongshu.catalog.service import entries, lifecycle
from gongshu.ingest.service import loads, pipeline, versions
from gongshu.store import registry
from gongshu.tasks import service as tasks_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_data import RssSampler  # noqa: E402
from ingest_validate import COLUMNS, make_person_csv, run_peer  # noqa: E402

ITEMS = [  # (name, type, length, meaning, key) matching make_person_csv's columns and person_spec's rules
    ("公民身份号码", "C", 18, "GB 11643 公民身份号码", True), ("姓名", "C", 30, "姓名", False),
    ("性别", "C", 1, "GB/T 2261.1 性别代码", False), ("民族", "C", 2, "GB/T 3304 民族代码", False),
    ("出生日期", "D", None, "公历出生日期", False), ("婚姻状况", "C", 2, "GB/T 2261.2 婚姻状况代码", False),
    ("户籍地区划", "C", 6, "GB/T 2260 行政区划代码", False), ("住址", "C", 100, "现住址", False),
    ("联系电话", "C", 11, "手机号码", False), ("登记时间", "T", None, "登记时间", False),
    ("家庭人口数", "I", None, "家庭人口数", False), ("月收入", "Y", None, "月收入（元）", False),
]
assert tuple(i[0] for i in ITEMS) == COLUMNS


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_perf"


def make_uscc(n: int) -> str:
    """A valid USCC (GB 32100) for a benchmark org."""
    body = f"{n:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    body = "11441900" + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return body + uscc_mod.calc_check_digit(body)


def entry_in() -> EntryIn:
    items = [{"name": n, "type": t, "length": ln, "meaning": m, "is_key": k, "is_identifier": k,
              "is_personal": True, "grade": "一般3"} for n, t, ln, m, k in ITEMS]
    return EntryIn(code="101001/90001", resource_attr="基础", topic="人口", name="人口基本信息（基准测试）",
                   summary="基准测试用的人口基本信息：身份号码、姓名、性别、民族、出生日期等 12 项。", format="数据库",
                   sharing_type="有条件共享", sharing_condition="用于政务服务中的身份核验，按需申请",
                   sharing_basis="东莞市公共数据管理办法", sharing_mode="接口", sharing_scope="市级政务部门",
                   open_type="不予开放", update_cycle="每日", legal_basis="《中华人民共和国户口登记条例》",
                   business="户籍管理", source_system="人口信息管理系统", sharing_period="长期", grade="一般3",
                   items=items)


def setup_database(url: str) -> tuple[object, int]:
    """A fresh migrated database with a department, its officer, an authority reviewer and a published
    12-item person entry accepting up to 5 % rejects; returns (officer actor, entry id)."""
    if url.startswith("postgresql"):
        gdb.reset_postgres_database(url)
    eng = gdb.make_engine(url)
    gdb.upgrade(eng)
    gdb.set_engine(eng)
    with gdb.unit_of_work() as s:
        authority = auth_service.create_org(s, actor=SYSTEM, name="数据管理局", short_name="数据局", kind="authority",
                                            uscc=make_uscc(1))
        dept = auth_service.create_org(s, actor=SYSTEM, name="公安局", short_name="公安局", kind="department",
                                       uscc=make_uscc(2))

        def actor(org, name, role):
            user = auth_service.create_user(s, actor=SYSTEM, username=name, display_name=name, org_id=org.id,
                                            password="correct-horse-9", roles=[role])
            return auth_service.actor_for(s, user)
        officer, reviewer = actor(dept, "officer", "dept_officer"), actor(authority, "reviewer", "authority_reviewer")
        admin = actor(authority, "admin", "authority_admin")
        today = tasks_service.today()
        tasks_service.declare_unknown_years(s, actor=admin, years=(today.year, today.year + 1),
                                            source="基准测试日历（周一至周五）")
        entry = entries.create_entry(s, actor=officer, data=entry_in())
        lifecycle.submit(s, actor=officer, entry_id=entry.id, start=date(2026, 3, 2))
        lifecycle.approve(s, actor=reviewer, entry_id=entry.id)
        versions.set_policy(s, actor=officer, entry_id=entry.id, max_error_rate=0.05, keep_versions=5)
        return officer, entry.id


class Phases:
    """Wall seconds per phase, from wrappers around the functions ``loads`` calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, dt: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + dt

    def wrap(self, owner: object, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:  # a call on another thread overlaps the pipeline: counted apart
                main = threading.current_thread() is threading.main_thread()
                self.add(name if main else f"{name}_concurrent", time.perf_counter() - t0)
        setattr(owner, attr, timed)


def instrument() -> Phases:
    ph = Phases()
    for attr, name in (("validate_batch", "validate"), ("duplicates", "duplicates"), ("add", "duplicates"),
                       ("_add_duplicate_rejects", "duplicates"), ("_reject_counts", "report"), ("_sample", "report"),
                       ("_write_rejects_csv", "rejects_csv"), ("diff_snapshots", "diff"),
                       ("merge_snapshot", "merge"), ("file_sm3", "sm3"), ("copy_sm3", "sm3"), ("_apply", "version_commit")):
        for owner in (pipeline, loads, pipeline._Keys):  # _Keys: the in-memory duplicate-key check
            if hasattr(owner, attr):
                ph.wrap(owner, attr, name)
    opener = pipeline.open_reader

    def open_reader(*a, **kw):
        reader = opener(*a, **kw)
        batches = reader.batches

        def timed(*ba, **bkw):
            it = iter(batches(*ba, **bkw))
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    ph.add("read", time.perf_counter() - t0)
                    return
                ph.add("read", time.perf_counter() - t0)
                yield item
        reader.batches = timed
        return reader
    pipeline.open_reader = open_reader
    store = registry.get_store()
    ph.wrap(store, "write_batches", "store_write")
    ph.wrap(store, "finish_table", "store_index")
    return ph


def run_load(url: str, csv: Path, work: Path) -> dict:
    t0 = time.perf_counter()
    officer, entry_id = setup_database(url)
    if url.startswith("postgresql"):
        registry.configure(url, schema=f"rd_bench_{uuid.uuid4().hex[:8]}")
    else:
        registry.configure(f"sqlite:///{work / 'resources'}")
    registry.set_files_root(work / "ingest")
    setup_s = time.perf_counter() - t0
    ph = instrument()
    t1 = time.perf_counter()
    with gdb.unit_of_work() as s:
        load = loads.receive_file(s, actor=officer, entry_id=entry_id, path=csv, filename=csv.name, move=False)
        load_id = load.id
    t2 = time.perf_counter()
    receive_sm3 = ph.seconds.pop("sm3", 0.0)
    done = loads.process(load_id)
    t3 = time.perf_counter()
    assert done is not None
    if done.status != "applied":
        raise SystemExit(f"load {load_id} ended {done.status}: {done.error_en}")
    with gdb.unit_of_work() as s:
        version = versions.current_version(s, entry_id=entry_id)
        rows = version.rows if version else 0
    total = t3 - t1
    known = sum(v for k, v in ph.seconds.items() if not k.endswith("_concurrent"))
    phases = {"receive_copy_sm3": round(t2 - t1, 2), "receive_sm3": round(receive_sm3, 2)}
    phases.update({k: round(v, 2) for k, v in sorted(ph.seconds.items())})
    phases["other"] = round(total - (t2 - t1) - known, 2)
    store = registry.get_store()
    dialect = store.dialect
    registry.configure(None)
    return {"db": dialect, "rows_read": done.rows_read, "rows_valid": done.rows_valid,
            "rows_rejected": done.rows_rejected, "version_rows": rows, "setup_s": round(setup_s, 2),
            "seconds": round(total, 2), "rows_per_s": round(done.rows_read / total), "phases_s": phases}


def person_csv(folder: Path, rows: int, seed: int) -> tuple[Path, float]:
    """The benchmark's person CSV in ``folder``, generated once (``make_person_csv``); (its path, seconds spent
    generating it now: 0.0 when it was there)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"persons-{rows}-{seed}.csv"
    if csv.exists():
        return csv, 0.0
    t0 = time.perf_counter()
    part = csv.with_name(csv.name + ".part")
    make_person_csv(part, rows, seed)
    os.replace(part, csv)
    return csv, time.perf_counter() - t0


def child(which: str, csv: Path, url: str) -> dict:
    sampler = RssSampler()
    sampler.start()
    if which == "peer":
        out = run_peer(csv)
        out["rows_per_s"] = round(out["rows"] / out["seconds"])
        out["validate_rows_per_s"] = round(out["rows"] / out["validate_seconds"])
    else:
        with tempfile.TemporaryDirectory(dir=csv.parent) as tmp:
            work = Path(tmp)
            out = run_load(url or f"sqlite:///{work / 'gongshu.db'}", csv, work)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out.update(sampler.result())
    return out


def run_child(which: str, csv: Path, url: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--file", str(csv)] + (["--url", url] if url else [])
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{which} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench"))
    ap.add_argument("--database-url", default="", help=f"PostgreSQL URL for the PG run (e.g. {PG_URL})")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--child", choices=("load", "peer"))
    ap.add_argument("--file", type=Path)
    ap.add_argument("--url", default="")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.file, args.url), ensure_ascii=False))
        return
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    csv, gen = person_csv(args.dir, args.rows, args.seed)
    load_before = os.getloadavg()[0]
    res: dict = {}
    if not args.no_peer:
        res["peer_pandera_polars"] = run_child("peer", csv)
    if not args.no_sqlite:
        res["sqlite"] = run_child("load", csv)
    if args.database_url:
        res["postgresql"] = run_child("load", csv, args.database_url)
    peer = res.get("peer_pandera_polars")
    for k in ("sqlite", "postgresql"):
        if k in res and peer:
            res[f"{k}_vs_peer_validation_only"] = round(res[k]["rows_per_s"] / peer["validate_rows_per_s"], 2)
    print(json.dumps({"benchmark": "ingest_load", "rows": args.rows, "file_mb": round(csv.stat().st_size / 2**20, 1),
                      "generate_s": round(gen, 2), **res, "target": ">= 0.5x peer; peak <= 1.5 GB at 10M rows",
                      "cpus": os.cpu_count(), "load_avg_before": round(load_before, 2),
                      "load_avg_after": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                      "polars": pl.__version__}, ensure_ascii=False))


if __name__ == "__main__":
    main()
