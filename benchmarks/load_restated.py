"""Benchmark: the aggregation issue's whole load, restated against peers that do the same work (issue 11).

The file: ``ingest_validate.make_person_csv`` — a 1,000,000-row, 12-column person CSV (about 1 % of rows with one
defect), the same file ``benchmarks/ingest_load.py`` uses. The rules: the load's own (GB 11643 form, check
character, region and birth date; the ID number against 出生日期 and 性别; GB/T 2261.1, 2261.2, 3304, 2260 code
tables; lengths; dates, timestamps, integers, money; duplicate keys), written for each peer in its own terms.

Each run in its own subprocess (so its peak memory is its own), all in the same run on the same file:

* **ours** — ``loads.receive_file`` + ``loads.process`` into a fresh, migrated database, exactly as
  ``ingest_load.py`` drives it: receive (copy + SM3), parse, validate, duplicate keys, the rejects report, the
  Parquet snapshot and its SM3, the typed store table (SQLite: ADBC into its own file; PostgreSQL: COPY) with its
  unique key index, the version and its audit event.
* **(a) by hand** — the pipeline a data engineer would write: ``polars.read_csv`` → pandera (Polars backend) with
  the same rules (``ingest_validate.peer_schema``, 姓名 optional as in the benchmark entry, where only the key is
  required) → drop the failing rows and later duplicates of a key → typed
  columns → ADBC ingest into SQLite (a new file, driver defaults) / into PostgreSQL (``adbc_driver_postgresql``,
  which loads with COPY) → ``CREATE UNIQUE INDEX`` on the key → commit. No snapshot, digest, report or audit.
  Target: ours ≥ 1× its end-to-end rate.
* **(a′) by hand, doing the same work** — the pipeline above also doing what it leaves out and our load does: the
  source's SM3 (as receiving a file does), a zstd Parquet snapshot of the stored rows and its SM3, the rejected
  rows written as CSV (the fair peer: the stated one does less work than we do).
* **(b) frictionless** — ``Resource.validate`` of the same file: a Table Schema with the types, ``required``,
  ``maxLength``, ``enum`` (sex, ethnicity, marital status), ``pattern`` and the key as ``primaryKey``; what Table
  Schema cannot say (GB 11643 check character, region and birth date; the region item in GB/T 2260; the ID number
  against birth date and sex) as one custom row check (Python per row, frictionless' own extension point).
  Validation only. Target: ours ≥ 20× its rate — reported for our whole load, and for our read + validate alone,
  which is the work frictionless does.
* **(c) read + validate alone** — ours: ``open_reader`` → ``validate_batch`` over the streamed batches
  (``ingest_validate.run_ours``) vs pandera-Polars validation alone on the file already in memory
  (``ingest_validate.run_peer``'s ``validate_seconds``), both warmed up first on the file's first 5,000 lines (as in
  a long-running worker). Target ≥ 1×. Also against pandera's read
  (``polars.read_csv``) + validation, the same work as ours.

Sides run in turn, ``--repeat`` rounds (drift of a shared machine hits every side alike); the best of each.

Prints one JSON line (seconds, rows/s, peak memory, ratios, load average):

    python benchmarks/load_restated.py [--rows 1000000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_h5]
        [--no-sqlite] [--frictionless-rows N] [--repeat 1] [--dir /tmp/bench]
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
from datetime import datetime
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest_load  # noqa: E402
from _quality_data import RssSampler, best, run_script  # noqa: E402
from ingest_validate import COLUMNS, peer_schema, run_ours, run_peer  # noqa: E402

from gongshu.ingest.service.codes import ETHNICITY, GENDER, MARITAL, division_codes  # noqa: E402
from gongshu.ingest.service.validate import RIC_CHECK, RIC_WEIGHTS  # noqa: E402
from gongshu.store.service import file_sm3  # noqa: E402

KEY = COLUMNS[0]
HAND_TABLE = "persons_by_hand"


# --- (a) the pipeline by hand ---------------------------------------------------------------------------------------

def _typed(df: pl.DataFrame) -> pl.DataFrame:
    """The valid rows as typed columns (the same types our store table has)."""
    s = {c: pl.col(c).str.strip_chars() for c in COLUMNS}
    born = pl.coalesce(s[COLUMNS[4]].str.to_date("%Y-%m-%d", strict=False),
                       s[COLUMNS[4]].str.to_date("%Y%m%d", strict=False))
    return df.select(
        s[KEY].str.to_uppercase().alias(KEY), *[s[c] for c in COLUMNS[1:4]], born.alias(COLUMNS[4]),
        *[s[c] for c in COLUMNS[5:9]],
        s[COLUMNS[9]].str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", strict=False).alias(COLUMNS[9]),
        s[COLUMNS[10]].cast(pl.Int64, strict=False).alias(COLUMNS[10]),
        s[COLUMNS[11]].cast(pl.Decimal(18, 2), strict=False).alias(COLUMNS[11]))


def hand_schema() -> pa.DataFrameSchema:
    """``ingest_validate.peer_schema`` as the load applies it here: the benchmark entry marks only the key as
    required (an item is required when it is a key), so 姓名 may be empty."""
    return peer_schema().update_column(COLUMNS[1], nullable=True)


def run_hand(csv: Path, target: str, full: bool = False) -> dict:
    """``target``: a SQLite file path, or a PostgreSQL URL. ``full``: the same pipeline doing the rest of what our
    load does (the fair peer): the source's SM3, a zstd Parquet snapshot of the stored rows and its SM3, the
    rejected rows written as CSV."""
    t0 = time.perf_counter()
    digests = {"source": file_sm3(csv)} if full else {}
    df = pl.read_csv(csv, infer_schema=False)
    t1 = time.perf_counter()
    bad = pl.Series("index", [], pl.Int64)
    try:
        hand_schema().validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        bad = exc.failure_cases["index"].drop_nulls().cast(pl.Int64).unique()
    t2 = time.perf_counter()
    good = df.with_row_index("_i").filter(~pl.col("_i").is_in(bad.implode())).drop("_i")
    typed = _typed(good)
    typed = typed.filter(typed[KEY].is_first_distinct())  # a key seen before is a duplicate (the load keeps the first)
    t3 = time.perf_counter()
    table = typed.to_arrow()
    if target.startswith("postgresql"):
        import adbc_driver_postgresql.dbapi as adbc_pg  # noqa: PLC0415 - only the PostgreSQL child needs it

        url = make_url(target).set(drivername="postgresql")
        con = adbc_pg.connect(url.render_as_string(hide_password=False))
        cur = con.cursor()
        cur.execute(f'DROP TABLE IF EXISTS "{HAND_TABLE}"')
        con.commit()
    else:
        import adbc_driver_sqlite.dbapi as adbc_sqlite  # noqa: PLC0415

        # the ADBC SQLite driver binds no decimal128; dates and times as ISO text, as our store keeps them
        for name in (COLUMNS[4], COLUMNS[9], COLUMNS[11]):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table[name].cast(pa_arrow.large_string()))
        con = adbc_sqlite.connect(target)
        cur = con.cursor()
    cur.adbc_ingest(HAND_TABLE, table, mode="create")
    t4 = time.perf_counter()
    cur.execute(f'CREATE UNIQUE INDEX "{HAND_TABLE}_key" ON "{HAND_TABLE}" ("{KEY}")')
    con.commit()
    t5 = time.perf_counter()
    if full:
        snap = csv.with_name(f"hand-snapshot-{os.getpid()}.parquet")
        typed.write_parquet(snap, compression="zstd")
        digests["snapshot"] = file_sm3(snap)
        df.with_row_index("_i", offset=2).filter(pl.col("_i").is_in((bad + 2).implode())).write_csv(
            snap.with_suffix(".rejects.csv"))
        snap.unlink()
        snap.with_suffix(".rejects.csv").unlink()
    t6 = time.perf_counter()
    cur.execute(f'SELECT count(*) FROM "{HAND_TABLE}"')  # noqa: S608 - a constant table name
    stored = cur.fetchone()[0]
    cur.close()
    con.close()
    phases = {"read_csv": round(t1 - t0, 3), "validate": round(t2 - t1, 3), "drop_and_type": round(t3 - t2, 3),
              "ingest": round(t4 - t3, 3), "index_commit": round(t5 - t4, 3)}
    if full:
        phases["snapshot_rejects_sm3"] = round(t6 - t5, 3)  # + the source's SM3, inside read_csv's figure
    return {"rows": df.height, "stored": stored, "rejected": df.height - stored, "seconds": round(t6 - t0, 3),
            "phases_s": phases}


# --- (b) frictionless -----------------------------------------------------------------------------------------------

def run_frictionless(csv: Path, limit_rows: int) -> dict:
    import frictionless as fl  # noqa: PLC0415 - only the frictionless child imports it
    from frictionless import Check, errors  # noqa: PLC0415

    divisions = frozenset(division_codes())
    weights = RIC_WEIGHTS

    class PersonIds(Check):
        """GB 11643 check character, region and birth date; 户籍地区划 in GB/T 2260; the ID vs 出生日期 / 性别."""

        type = "gongshu-person-ids"
        Errors = [errors.RowError]

        def validate_row(self, row):
            region = row[COLUMNS[6]]
            if region is not None and region not in divisions:
                yield errors.RowError.from_row(row, note="户籍地区划 not in GB/T 2260")
            v = row[KEY]
            if not v or len(v) != 18 or not v[:17].isdigit():
                return  # form: the pattern constraint's
            if v[17] != RIC_CHECK[sum(int(c) * w for c, w in zip(v[:17], weights, strict=True)) % 11]:
                yield errors.RowError.from_row(row, note="GB 11643 check character")
                return
            if v[:6] not in divisions:
                yield errors.RowError.from_row(row, note="GB 11643 region")
                return
            try:
                born = datetime.strptime(v[6:14], "%Y%m%d").date()
            except ValueError:
                yield errors.RowError.from_row(row, note="GB 11643 birth date")
                return
            if row[COLUMNS[4]] is not None and row[COLUMNS[4]] != born:
                yield errors.RowError.from_row(row, note="出生日期 vs ID")
            sex = row[COLUMNS[2]]
            if sex in ("1", "2") and (sex == "1") != (int(v[16]) % 2 == 1):
                yield errors.RowError.from_row(row, note="性别 vs ID")

    schema = fl.Schema.from_descriptor({"fields": [
        {"name": KEY, "type": "string", "constraints": {"required": True, "pattern": "[0-9]{17}[0-9X]"}},
        {"name": COLUMNS[1], "type": "string", "constraints": {"maxLength": 30}},
        {"name": COLUMNS[2], "type": "string", "constraints": {"enum": sorted(GENDER)}},
        {"name": COLUMNS[3], "type": "string", "constraints": {"enum": sorted(ETHNICITY)}},
        {"name": COLUMNS[4], "type": "date"},
        {"name": COLUMNS[5], "type": "string", "constraints": {"enum": sorted(MARITAL)}},
        {"name": COLUMNS[6], "type": "string", "constraints": {"maxLength": 6}},
        {"name": COLUMNS[7], "type": "string", "constraints": {"maxLength": 100}},
        {"name": COLUMNS[8], "type": "string", "constraints": {"maxLength": 11}},
        {"name": COLUMNS[9], "type": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
        {"name": COLUMNS[10], "type": "integer"},
        {"name": COLUMNS[11], "type": "number"},
    ], "primaryKey": [KEY]})
    t0 = time.perf_counter()
    resource_ = fl.Resource(path=csv.name, basepath=str(csv.parent), schema=schema)
    report = resource_.validate(checklist=fl.Checklist(checks=[PersonIds()]), limit_errors=10**9,
                                limit_rows=limit_rows or None)
    seconds = time.perf_counter() - t0
    task = report.tasks[0]
    rows = task.stats.get("rows") or 0
    kinds: dict[str, int] = {}
    for e in task.errors:
        kinds[e.type] = kinds.get(e.type, 0) + 1
    return {"rows": rows, "seconds": round(seconds, 3), "errors": len(task.errors), "error_types": kinds}


# --- the runs -------------------------------------------------------------------------------------------------------

#: CPU seconds of the database setup inside ours' child (migrations, the benchmark entry), not part of the load
SETUP_CPU = [0.0]


def child(which: str, csv: Path, url: str, limit_rows: int) -> dict:
    sampler = RssSampler()
    sampler.start()
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(dir=csv.parent) as tmp:
        work = Path(tmp)
        if which == "ours":
            setup = ingest_load.setup_database

            def timed_setup(*a, **kw):  # the migrations and the benchmark entry are not the load
                c = time.process_time()
                try:
                    return setup(*a, **kw)
                finally:
                    SETUP_CPU[0] += time.process_time() - c
            ingest_load.setup_database = timed_setup
            res = ingest_load.run_load(url or f"sqlite:///{work / 'gongshu.db'}", csv, work)
        elif which in ("hand", "hand_full"):
            res = run_hand(csv, url or str(work / "hand.db"), full=which == "hand_full")
        elif which == "frictionless":
            res = run_frictionless(csv, limit_rows)
        elif which == "ours_validate":
            run_ours(_head(csv, work))  # warm, as a worker process is (both sides)
            r = run_ours(csv)
            res = {"rows": r["rows"], "seconds": round(r["seconds"], 3), "valid": r["valid"]}
        else:  # pandera_validate
            run_peer(_head(csv, work))
            r = run_peer(csv)
            res = {"rows": r["rows"], "read_csv_s": round(r["seconds"] - r["validate_seconds"], 3),
                   "seconds": round(r["validate_seconds"], 3), "failure_cases": r["failure_cases"]}
    if "rows_per_s" not in res:
        res["rows_per_s"] = round((res.get("rows") or res.get("rows_read")) / res["seconds"])
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["cpu_s"] = round(time.process_time() - cpu0 - SETUP_CPU[0], 2)  # all threads of this process; PG server not counted
    res.update(sampler.result())
    return res


def _head(csv: Path, work: Path, lines: int = 5_000) -> Path:
    """The file's first lines (header included) for a warm-up run: the first call of either side pays for
    imports, compiled patterns and code tables (0.2-0.3 s), which a long-running worker pays once."""
    out = work / "head.csv"
    with open(csv, "rb") as src, open(out, "wb") as dst:
        for _ in range(lines):
            line = src.readline()
            if not line:
                break
            dst.write(line)
    return out


def run_child(which: str, csv: Path, url: str = "", limit_rows: int = 0) -> dict:
    return run_script(__file__, ["--child", which, "--file", str(csv), "--limit-rows", str(limit_rows),
                                 *(["--url", url] if url else [])])


def _ratio(a: dict, b: dict, target: float) -> dict | None:
    if "rows_per_s" not in a or "rows_per_s" not in b:
        return None
    r = a["rows_per_s"] / b["rows_per_s"]
    return {"ratio": round(r, 2), "target": target, "met": r >= target}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench"))
    ap.add_argument("--database-url", default="", help="PostgreSQL URL (a database of its own) for the PG runs")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-frictionless", action="store_true")
    ap.add_argument("--frictionless-rows", type=int, default=0, help="validate only the first N rows (0: all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each timed side; the fastest is reported")
    ap.add_argument("--child", choices=("ours", "hand", "hand_full", "frictionless", "ours_validate",
                                        "pandera_validate"))
    ap.add_argument("--file", type=Path)
    ap.add_argument("--url", default="")
    ap.add_argument("--limit-rows", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.file, args.url, args.limit_rows), ensure_ascii=False))
        return
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    csv, gen = ingest_load.person_csv(args.dir, args.rows, args.seed)
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = os.getloadavg()
    rep = args.repeat
    res: dict = {}
    dbs = ([("sqlite", "")] if not args.no_sqlite else []) + \
        ([("postgresql", args.database_url)] if args.database_url else [])
    def interleaved(sides: dict[str, tuple]) -> None:
        """``rep`` rounds of every side in turn (drift of the machine hits all sides alike); the best of each."""
        runs: dict[str, list[dict]] = {k: [] for k in sides}
        for _ in range(rep):
            for k, a in sides.items():
                runs[k].append(run_child(*a))
        res.update({k: best(v) for k, v in runs.items()})

    for db, url in dbs:
        interleaved({f"ours_{db}": ("ours", csv, url), f"hand_{db}": ("hand", csv, url),
                     f"hand_full_{db}": ("hand_full", csv, url)})
    interleaved({"ours_read_validate": ("ours_validate", csv), "pandera_validate_only": ("pandera_validate", csv)})
    pv = res["pandera_validate_only"]
    res["pandera_read_and_validate"] = {"seconds": round(pv["seconds"] + pv["read_csv_s"], 3),
                                        "rows_per_s": round(pv["rows"] / (pv["seconds"] + pv["read_csv_s"]))}
    if not args.no_frictionless:
        res["frictionless"] = run_child("frictionless", csv, limit_rows=args.frictionless_rows)
    ratios = {}
    for db, _ in dbs:
        ratios[f"a_{db}_ours_vs_hand"] = _ratio(res[f"ours_{db}"], res[f"hand_{db}"], 1.0)
        ratios[f"a_{db}_ours_vs_hand_doing_the_same_work"] = _ratio(res[f"ours_{db}"], res[f"hand_full_{db}"], 1.0)
        if "frictionless" in res:
            ratios[f"b_{db}_ours_whole_load_vs_frictionless"] = _ratio(res[f"ours_{db}"], res["frictionless"], 20.0)
    if "frictionless" in res:  # the same work: read and validate the file
        ratios["b_ours_read_validate_vs_frictionless"] = _ratio(res["ours_read_validate"], res["frictionless"], 20.0)
    ratios["c_read_validate_vs_pandera_validate_only"] = _ratio(res["ours_read_validate"],
                                                                res["pandera_validate_only"], 1.0)
    ratios["c_read_validate_vs_pandera_read_and_validate"] = _ratio(res["ours_read_validate"],
                                                                    res["pandera_read_and_validate"], 1.0)
    print(json.dumps({"benchmark": "load_restated", "started": started, "rows": args.rows,
                      "file_mb": round(csv.stat().st_size / 2**20, 1), "generate_s": round(gen, 2), **res,
                      "ratios": ratios, "cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
                      "load_avg_after": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                      "polars": pl.__version__}, ensure_ascii=False))


if __name__ == "__main__":
    main()
