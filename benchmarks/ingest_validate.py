"""Benchmark: read + validate a 1,000,000-row, 12-column person CSV (R-AGG-2, R-AGG-3).

(a) ours: ``open_reader`` -> ``check_header`` -> ``validate_batch`` over streamed batches;
(b) the peer: pandera with the Polars backend validating the same rules on the same file
    (``polars.read_csv`` of the whole file, vectorised custom checks, ``lazy=True``).
Each side runs in its own subprocess so peak RSS (ru_maxrss) is its own. Prints one JSON line:

    python benchmarks/ingest_validate.py --rows 1000000 [--encoding gbk]

``make_person_csv(path, rows, seed, defect_rate=0.01, encoding="utf-8")`` is importable; it
generates the data vectorised with Polars (hash-based pseudo-random columns), chunk by chunk.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import pandera.polars as pa
import polars as pl

from gongshu.ingest.service.codes import ETHNICITY, GENDER, MARITAL, division_codes
from gongshu.ingest.service.normalise import Normalisations
from gongshu.ingest.service.readers import open_reader
from gongshu.ingest.service.validate import (
    RIC_CHECK,
    RIC_WEIGHTS,
    ItemRule,
    LoadSpec,
    check_header,
    validate_batch,
)

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力宇浩然子轩欣怡梓涵")
COLUMNS = ("公民身份号码", "姓名", "性别", "民族", "出生日期", "婚姻状况", "户籍地区划", "住址", "联系电话", "登记时间",
           "家庭人口数", "月收入")


def person_spec(filename: str = "persons.csv") -> LoadSpec:
    def item(i, label, type="C", length=None, required=False, check=None, code=None):
        return ItemRule(f"c{i}", label, type, length, required, required, check, code)
    return LoadSpec(items=(
        item(1, "公民身份号码", length=18, required=True, check="ric"), item(2, "姓名", length=30, required=True),
        item(3, "性别", length=1, code="gender"), item(4, "民族", length=2, code="ethnicity"), item(5, "出生日期", "D"),
        item(6, "婚姻状况", length=2, code="marital"), item(7, "户籍地区划", length=6, code="division"),
        item(8, "住址", length=100), item(9, "联系电话", length=11), item(10, "登记时间", "T"),
        item(11, "家庭人口数", "I"), item(12, "月收入", "Y")), filename=filename)


def _pick(values: list[str], h: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values)).gather((h % len(values)).cast(pl.Int64))


def _chunk(start: int, n: int, seed: int, defect_rate: float, regions: list[str]) -> pl.DataFrame:
    i = pl.int_range(start, start + n, dtype=pl.Int64)
    h = [i.hash(seed * 1000 + k) for k in range(12)]
    birth = pl.lit(date(1940, 1, 1)) + pl.duration(days=(h[1] % 29_000).cast(pl.Int64))
    body = pl.concat_str(_pick(regions, h[0]), birth.dt.strftime("%Y%m%d"), (h[2] % 1000).cast(pl.String).str.zfill(3))
    total = pl.sum_horizontal([pl.col("body").str.slice(k, 1).cast(pl.Int32) * w for k, w in enumerate(RIC_WEIGHTS)])
    df = pl.select(body.alias("body"), birth.alias("birth"), *[x.alias(f"h{k}") for k, x in enumerate(h)])
    check = pl.lit(RIC_CHECK).str.slice(total % 11, 1)
    defect = (pl.col("h9") % 100_000) < int(defect_rate * 100_000)
    kind = pl.col("h10") % 5
    wrong = pl.lit(RIC_CHECK).str.slice((total + 1) % 11, 1)
    return df.select(
        pl.concat_str("body", pl.when(defect & (kind == 0)).then(wrong).otherwise(check)).alias(COLUMNS[0]),
        pl.when(defect & (kind == 1)).then(pl.lit(None)).otherwise(
            pl.concat_str(_pick(SURNAMES, pl.col("h3")), _pick(GIVEN, pl.col("h4")), _pick(GIVEN, pl.col("h5")))
        ).alias(COLUMNS[1]),
        # the sex agrees with the ID number's 17th digit (odd = male), as the load now checks
        pl.when(defect & (kind == 2)).then(pl.lit("5")).otherwise(
            pl.when(pl.col("h2") % 2 == 1).then(pl.lit("1")).otherwise(pl.lit("2"))).alias(COLUMNS[2]),
        _pick(sorted(ETHNICITY), pl.col("h7")).alias(COLUMNS[3]),
        pl.when(defect & (kind == 3)).then(pl.lit("2021-02-30")).otherwise(pl.col("birth").dt.strftime("%Y-%m-%d"))
        .alias(COLUMNS[4]),
        _pick(sorted(MARITAL), pl.col("h8")).alias(COLUMNS[5]),
        pl.col("body").str.slice(0, 6).alias(COLUMNS[6]),
        pl.format("幸福路{}号{}室", pl.col("h3") % 999 + 1, pl.col("h4") % 30 + 101).alias(COLUMNS[7]),
        pl.concat_str(pl.lit("13"), (pl.col("h5") % 1_000_000_000).cast(pl.String).str.zfill(9)).alias(COLUMNS[8]),
        (pl.lit(datetime(2000, 1, 1)) + pl.duration(seconds=(pl.col("h11") % 790_000_000).cast(pl.Int64)))
        .dt.strftime("%Y-%m-%d %H:%M:%S").alias(COLUMNS[9]),
        (pl.col("h6") % 8 + 1).cast(pl.String).alias(COLUMNS[10]),
        pl.when(defect & (kind == 4)).then(pl.lit("abc")).otherwise(pl.format(
            "{}.{}", pl.col("h7") % 50_000, (pl.col("h8") % 100).cast(pl.String).str.zfill(2))).alias(COLUMNS[11]),
    )


def make_person_csv(path: Path, rows: int, seed: int, defect_rate: float = 0.01, encoding: str = "utf-8") -> Path:
    """Write a person CSV with ``rows`` data rows; about ``defect_rate`` of them carry one defect
    (wrong ID check character, missing name, gender code 5, 2021-02-30, income "abc")."""
    path = Path(path)
    regions = [r for r in sorted(division_codes()) if not r.endswith("00")]
    with open(path, "wb") as f:
        for start in range(0, rows, 200_000):
            chunk = _chunk(start, min(200_000, rows - start), seed, defect_rate, regions)
            text = chunk.write_csv(include_header=start == 0)
            f.write(text.encode(encoding))
    return path


def run_ours(path: Path, batch_rows: int = 100_000) -> dict:
    t0 = time.perf_counter()
    spec = person_spec(path.name)
    reader = open_reader(path, filename=path.name)
    check_header(reader.header, spec)
    valid = rejects = rows = 0
    normalised = Normalisations()  # as the pipeline does: every lossless change is counted for the report
    for batch in reader.batches(batch_rows):
        good, bad = validate_batch(batch, spec, normalised)
        rows += batch.num_rows
        valid += good.num_rows
        rejects += bad.num_rows
    return {"rows": rows, "valid": valid, "reject_entries": rejects, "normalised": len(normalised.report()),
            "seconds": time.perf_counter() - t0}


def _col_check(fn) -> pa.Check:
    return pa.Check(lambda d: d.lazyframe.select(fn(pl.col(d.key))))


def peer_schema() -> pa.DataFrameSchema:
    divisions = sorted(division_codes())
    w = RIC_WEIGHTS

    def ric_ok(c: pl.Expr) -> pl.Expr:
        u = c.str.strip_chars().str.to_uppercase()
        total = pl.sum_horizontal([u.str.slice(k, 1).cast(pl.Int32, strict=False) * w[k] for k in range(17)])
        birth = u.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
        return (u.str.contains(r"^\d{17}[0-9X]$") & (u.str.slice(17, 1) == pl.lit(RIC_CHECK).str.slice(total % 11, 1))
                & u.str.slice(0, 6).is_in(divisions) & birth.is_not_null()
                & (birth >= date(1900, 1, 1)) & (birth <= date.today())).fill_null(False)

    def text(n: int) -> list[pa.Check]:
        return [_col_check(lambda c: c.str.strip_chars().str.len_chars() <= n)]

    def code(table) -> list[pa.Check]:
        return [_col_check(lambda c: c.str.strip_chars().is_in(sorted(table)))]

    date_ok = _col_check(lambda c: pl.coalesce(c.str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
                                               c.str.strip_chars().str.to_date("%Y%m%d", strict=False)).is_not_null())
    ts_ok = _col_check(lambda c: c.str.strip_chars().str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).is_not_null())
    int_ok = _col_check(lambda c: c.str.strip_chars().cast(pl.Int64, strict=False).is_not_null())
    money_ok = _col_check(lambda c: c.str.strip_chars().str.contains(r"^[+-]?\d{1,16}(\.\d{1,2})?$"))
    cols = {
        COLUMNS[0]: pa.Column(pl.String, [_col_check(ric_ok)], nullable=False),
        COLUMNS[1]: pa.Column(pl.String, text(30), nullable=False),
        COLUMNS[2]: pa.Column(pl.String, code(GENDER), nullable=True),
        COLUMNS[3]: pa.Column(pl.String, code(ETHNICITY), nullable=True),
        COLUMNS[4]: pa.Column(pl.String, [date_ok], nullable=True),
        COLUMNS[5]: pa.Column(pl.String, code(MARITAL), nullable=True),
        COLUMNS[6]: pa.Column(pl.String, code(divisions), nullable=True),
        COLUMNS[7]: pa.Column(pl.String, text(100), nullable=True),
        COLUMNS[8]: pa.Column(pl.String, text(11), nullable=True),
        COLUMNS[9]: pa.Column(pl.String, [ts_ok], nullable=True),
        COLUMNS[10]: pa.Column(pl.String, [int_ok], nullable=True),
        COLUMNS[11]: pa.Column(pl.String, [money_ok], nullable=True),
    }
    def agrees(d) -> pl.LazyFrame:
        """The ID number's birth date and sex against 出生日期 and 性别 (rows with a well-formed ID)."""
        u = pl.col(COLUMNS[0]).str.strip_chars().str.to_uppercase()
        born = pl.col(COLUMNS[4]).str.strip_chars()
        born = pl.coalesce(born.str.to_date("%Y-%m-%d", strict=False), born.str.to_date("%Y%m%d", strict=False))
        sex = pl.col(COLUMNS[2]).str.strip_chars()
        odd = u.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1
        bad_birth = born.is_not_null() & (born != u.str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
        bad_sex = sex.is_in(["1", "2"]) & (sex != pl.when(odd).then(pl.lit("1")).otherwise(pl.lit("2")))
        return d.lazyframe.select(~(u.str.contains(r"^\d{17}[0-9X]$") & (bad_birth | bad_sex)).fill_null(True))

    return pa.DataFrameSchema(cols, strict=True, checks=[pa.Check(agrees)])


def run_peer(path: Path) -> dict:
    t0 = time.perf_counter()
    df = pl.read_csv(path, infer_schema=False)
    t1 = time.perf_counter()
    failures = 0
    try:
        peer_schema().validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases.height
    t2 = time.perf_counter()
    return {"rows": df.height, "failure_cases": failures, "seconds": t2 - t0, "validate_seconds": t2 - t1}


def _child(which: str, path: Path) -> dict:
    out = run_ours(path) if which == "ours" else run_peer(path)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--encoding", default="utf-8")
    ap.add_argument("--child", choices=("ours", "peer"))
    ap.add_argument("--file", type=Path)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.file)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "persons.csv"
        t0 = time.perf_counter()
        make_person_csv(path, args.rows, args.seed, encoding=args.encoding)
        gen = time.perf_counter() - t0
        res = {}
        for which in ("ours", "peer"):
            r = subprocess.run([sys.executable, __file__, "--child", which, "--file", str(path)],
                               capture_output=True, text=True, check=True)
            res[which] = json.loads(r.stdout.strip().splitlines()[-1])
        for r in res.values():
            r["rows_per_s"] = round(r["rows"] / r["seconds"])
        res["peer"]["validate_rows_per_s"] = round(res["peer"]["rows"] / res["peer"]["validate_seconds"])
        print(json.dumps({"benchmark": "ingest_validate", "rows": args.rows, "encoding": args.encoding,
                          "file_mb": round(path.stat().st_size / 2**20, 1), "generate_s": round(gen, 2),
                          "ours": res["ours"], "peer_pandera_polars": res["peer"],
                          "ours_vs_peer_validation_only": round(res["ours"]["rows_per_s"]
                                                                / res["peer"]["validate_rows_per_s"], 2),
                          "python": platform.python_version(), "polars": pl.__version__}, ensure_ascii=False))


if __name__ == "__main__":
    main()
