"""Benchmark: import a 10,000-row catalogue spreadsheet end to end (R-CAT-11; target ≤ 10 s).

Builds a workbook in the national template layout (default 2,000 entries × 5 data items =
10,000 item rows; ``--entries 10000 --items 1`` for 10,000 entry rows), then uploads it
through the HTTP API (POST /api/v1/catalog/import, multipart, bearer token) into a fresh,
migrated database and commits. Prints one JSON line per database:

    python benchmarks/catalog_import.py --db sqlite --db postgres

PostgreSQL: ``--pg-url`` (default postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_import);
the database is created if missing and emptied first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from stdnum.cn import uscc as uscc_mod

from gongshu import db as gdb
from gongshu.app import create_app
from gongshu.audit import service as audit_service
from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.auth.service import SYSTEM
from gongshu.catalog.models import CatalogEntry, DataItem
from gongshu.catalog.service import workbook

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_import"
TYPES = ("C", "N", "D", "T", "I")


def uscc(n: int) -> str:
    body = f"{n:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    body = "11441900" + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return body + uscc_mod.calc_check_digit(body)


def rows(n_entries: int, n_items: int, provider: str, provider_code: str) -> list[dict]:
    out = []
    for i in range(n_entries):
        conditional = i % 3 == 0
        items = [dict(seq=k + 1, name=f"信息项{k + 1}", type=TYPES[k % len(TYPES)],
                      length=50 if TYPES[k % len(TYPES)] in ("C", "N") else None, meaning=f"第{k + 1}项的含义",
                      is_identifier=k == 0, is_key=k == 0, is_personal=k % 2 == 0,
                      grade=None if k % 4 == 3 else "一般2", sharing_type=None, open_type=None, element_code=None,
                      claims_source=False) for k in range(n_items)]
        out.append(dict(
            resource_attr="部门", topic="社会保障", class_code="301001", code=f"301001/{i + 1:05d}",
            name=f"基准测试信息资源{i + 1}", summary="用于导入性能基准的信息资源", provider_name=provider,
            provider_code=provider_code, format="数据库", sharing_type="有条件共享" if conditional else "无条件共享",
            sharing_condition="按需申请" if conditional else "", sharing_basis="管理办法" if conditional else "",
            sharing_mode="接口", sharing_scope="", open_type="不予开放", open_condition="", update_cycle="每日",
            release_date=date(2026, 1, 5), related_codes=[f"301001/{i:05d}"] if i else [], legal_basis="",
            business="业务办理", source_system="业务系统", sharing_period="长期", collecting_org=None,
            verifying_org=None, grade="一般2", items=items))
    return out


def fresh_engine(kind: str, pg_url: str, tmp: Path):
    if kind == "sqlite":
        return gdb.make_engine(f"sqlite:///{tmp / 'bench_import.db'}")
    gdb.reset_postgres_database(pg_url)
    return gdb.make_engine(pg_url)


def run(kind: str, n_entries: int, n_items: int, pg_url: str) -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        engine = fresh_engine(kind, pg_url, Path(tmp))
        gdb.upgrade(engine)
        gdb.set_engine(engine)
        with gdb.unit_of_work() as s:
            auth_service.create_org(s, actor=SYSTEM, name="市政务服务数据管理局", short_name="数据局", kind="authority",
                                    uscc=uscc(1))
            dept = auth_service.create_org(s, actor=SYSTEM, name="市人力资源和社会保障局", short_name="人社局",
                                           kind="department", uscc=uscc(2))
            user = auth_service.create_user(s, actor=SYSTEM, username="bench", display_name="基准", org_id=dept.id,
                                            password="bench-password-1", roles=["dept_officer"])
            token, _ = auth_service.create_token(s, actor=auth_service.actor_for(s, user), name="bench",
                                                 scopes=["catalog.*"], days=1)
            provider, provider_code = dept.name, dept.uscc
        t = time.perf_counter()
        data = workbook.write_workbook(rows(n_entries, n_items, provider, provider_code), grades=[
            "一般1", "一般2", "一般3", "一般4", "重要", "核心"])
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        workbook.parse_workbook(data)
        parse_s = time.perf_counter() - t
        app = create_app(check_db=False, run_jobs=False)
        auth = {"Authorization": f"Bearer {token}"}
        upload = {"file": ("bench.xlsx", data, workbook.XLSX_MEDIA_TYPE)}
        with TestClient(app) as client:
            t = time.perf_counter()
            r = client.post("/api/v1/catalog/import", headers=auth, files=upload, data={"dry_run": "true"})
            dry_s = time.perf_counter() - t
            if r.status_code != 200 or not r.json()["ok"]:
                raise SystemExit(f"dry run failed: {r.status_code} {r.text[:2000]}")
            t, cpu = time.perf_counter(), time.process_time()
            r = client.post("/api/v1/catalog/import", headers=auth, files=upload)
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        if r.status_code != 200:
            raise SystemExit(f"import failed: {r.status_code} {r.text[:2000]}")
        with gdb.unit_of_work() as s:
            n_e = s.scalar(select(func.count()).select_from(CatalogEntry))
            n_i = s.scalar(select(func.count()).select_from(DataItem))
            n_a = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("catalog.%")))
            chain_ok = audit_service.verify(s).ok
        engine.dispose()
    return {"benchmark": "catalog_import", "db": kind, "entries": n_entries, "item_rows": n_entries * n_items,
            "file_bytes": len(data), "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "dry_run_seconds": round(dry_s, 3),
            "parse_seconds": round(parse_s, 3),
            "write_xlsx_seconds": round(write_s, 3), "target_seconds": 10, "ok": seconds <= 10,
            "stored_entries": n_e, "stored_items": n_i, "audit_events": n_a, "audit_chain_ok": chain_ok,
            "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "date": date.today().isoformat()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", action="append", choices=("sqlite", "postgres"), help="repeatable; default: sqlite")
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--items", type=int, default=5, help="data items per entry")
    ap.add_argument("--pg-url", default=PG_URL)
    args = ap.parse_args(argv)
    for kind in args.db or ["sqlite"]:
        print(json.dumps(run(kind, args.entries, args.items, args.pg_url), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
