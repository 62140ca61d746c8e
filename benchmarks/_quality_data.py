"""Shared data and helpers of the governance benchmarks (``quality_rules.py``, ``quality_compare.py``).

* :func:`make_person_snapshot` writes a deterministic synthetic person entry as a Parquet snapshot laid out like a
  data version's (``c1`` … ``c15`` with their item names as field metadata ``label``, typed columns, zstd, 100k-row
  row groups, written with :class:`gongshu.store.snapshots.SnapshotWriter`), plus the reference table of community
  codes the reference rule checks against. Generation is vectorised (Polars, hash-based pseudo-random columns,
  chunk by chunk); 2 % of the rows carry exactly one planted defect, one of twenty kinds, each aimed at one rule.
* :data:`RULES` — the twenty rules in a neutral form (key, dimension, kind, items, params); each engine's script
  translates them to its own terms.
* :func:`make_compare_sources` writes three sources (户籍 / 社保 / 婚姻) × N persons (name, gender, address) with
  planted real mismatches and formatting-only differences (full-width characters, spaces).
* :class:`RssSampler` — peak anonymous / file-backed resident memory of this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, datetime
from functools import cache
from pathlib import Path

import polars as pl
import pyarrow as pa

from gongshu.ingest.service.codes import ETHNICITY, GENDER, MARITAL, division_codes
from gongshu.ingest.service.validate import RIC_CHECK, RIC_WEIGHTS
from gongshu.quality.service.engine_kinds import era_frame
from gongshu.store.snapshots import SnapshotWriter

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力宇浩然子轩欣怡梓涵")
ROADS = ["幸福", "人民", "解放", "建设", "中山", "和平", "新华", "胜利", "光明", "文化", "青年"]

#: (column, item name, Arrow type) of the person snapshot
PERSON_COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("c1", "公民身份号码", pa.large_string()), ("c2", "姓名", pa.large_string()), ("c3", "性别", pa.large_string()),
    ("c4", "民族", pa.large_string()), ("c5", "出生日期", pa.date32()), ("c6", "婚姻状况", pa.large_string()),
    ("c7", "户籍地区划", pa.large_string()), ("c8", "住址", pa.large_string()), ("c9", "联系电话", pa.large_string()),
    ("c10", "登记时间", pa.timestamp("us")), ("c11", "家庭人口数", pa.int64()), ("c12", "月收入", pa.decimal128(18, 2)),
    ("c13", "更新时间", pa.timestamp("us")), ("c14", "电子邮箱", pa.large_string()),
    ("c15", "社区代码", pa.large_string()),
)
PERSON_SCHEMA = pa.schema([(c, t) for c, _, t in PERSON_COLUMNS])
LABELS = {c: label for c, label, _ in PERSON_COLUMNS}
COL = {label: c for c, label, _ in PERSON_COLUMNS}

#: the moment the timeliness rule compares with (fixed, so the planted counts do not drift with the clock)
AS_OF = datetime(2026, 12, 1)
COMMUNITIES = 5_000
DEFECT_PER_MILLE = 20  # 2 % of rows carry one defect; kind = one of 20, about 0.1 % of rows each

MOBILE = r"^1[3-9][0-9]{9}$"
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
RIC_FORMAT = r"^[0-9]{17}[0-9X]$"

#: the twenty rules: (key, dimension, kind, items, params, planted defect kinds, description). ``kind`` and
#: ``params`` are those of the engine (``gongshu.quality.service.engine.RuleSpec``); ``items`` are snapshot columns.
#: As in the engine, a rule on one value checks only filled values (that is what 必填 is for); R02 is the whole
#: GB 11643 test (form, check character, a real birth date, a GB/T 2260 region code in use at some time from the
#: year of birth on), so a malformed ID fails R01 and R02; the two ID-consistency rules look only at
#: IDs of the right form.
RULES: tuple[dict, ...] = tuple(
    {"key": k, "dimension": dim, "kind": kind, "items": items, "params": params, "planted": planted, "zh": zh}
    for k, dim, kind, items, params, planted, zh in (
        ("R01", "normative", "format", ["c1"], {"pattern": RIC_FORMAT}, [0], "公民身份号码为 17 位数字加校验位"),
        ("R02", "normative", "checksum", ["c1"], {"scheme": "gb11643"}, [0, 1],
         "公民身份号码有效（GB 11643：形式、校验位、出生日期、出生以后使用过的行政区划代码）"),
        ("R03", "normative", "format", ["c2"], {"min_length": 2, "length": 30}, [4], "姓名 2–30 个字符"),
        ("R04", "normative", "code_table", ["c3"], {"table": "gender"}, [5], "性别符合 GB/T 2261.1"),
        ("R05", "normative", "code_table", ["c4"], {"table": "ethnicity"}, [6], "民族符合 GB/T 3304"),
        ("R06", "normative", "code_table", ["c7"], {"table": "division"}, [7], "户籍地区划符合 GB/T 2260"),
        ("R07", "complete", "required", ["c1"], {}, [2], "公民身份号码必填"),
        ("R08", "complete", "required", ["c2"], {}, [3], "姓名必填"),
        ("R09", "complete", "required", ["c8"], {}, [9], "住址必填"),
        ("R10", "complete", "record_complete", ["c8", "c9", "c14", "c15"], {"min_filled": 3}, [8],
         "联系信息（住址、电话、邮箱、社区）至少填 3 项"),
        ("R11", "accurate", "range", ["c11"], {"min": 1, "max": 20}, [10], "家庭人口数 1–20"),
        ("R12", "accurate", "range", ["c12"], {"min": 0, "max": 1_000_000}, [11], "月收入 0–1,000,000 元"),
        ("R13", "accurate", "pattern", ["c9"], {"regex": MOBILE}, [12], "联系电话为手机号码"),
        ("R14", "accurate", "pattern", ["c14"], {"regex": EMAIL}, [13], "电子邮箱格式"),
        ("R15", "accurate", "reference", ["c15"], {"ref_column": "code"}, [14], "社区代码在社区参考表中"),
        ("R16", "accurate", "unique", ["c1"], {}, [15, 15], "公民身份号码不重复（重复的每一行都算）"),
        ("R17", "consistent", "row_rule", ["c1", "c5"], {"check": "ric_birth"}, [16],
         "出生日期与公民身份号码第 7–14 位一致"),
        ("R18", "consistent", "row_rule", ["c1", "c3"], {"check": "ric_sex"}, [17], "性别与公民身份号码第 17 位奇偶一致"),
        ("R19", "timely", "time_order", ["c10", "c13"], {}, [18], "登记时间不晚于更新时间"),
        ("R20", "timely", "range", ["c13"], {"max": AS_OF.isoformat()}, [19], "更新时间不晚于检查时刻"),
    ))
assert len(RULES) == 20


def regions() -> list[str]:
    return [r for r in sorted(division_codes()) if not r.endswith("00")]


def _pick(values: list[str], h: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values)).gather((h % len(values)).cast(pl.Int64))


def ric_check_expr(body17: pl.Expr) -> pl.Expr:
    """The GB 11643 check character of a 17-digit body (a string expression)."""
    total = pl.sum_horizontal([body17.str.slice(k, 1).cast(pl.Int32) * w for k, w in enumerate(RIC_WEIGHTS)])
    return pl.lit(RIC_CHECK).str.slice(total % 11, 1)


def community_codes(seed: int) -> list[str]:
    """The reference table: ``COMMUNITIES`` twelve-digit community codes (division + six digits), sorted."""
    regs = regions()
    i = pl.int_range(0, COMMUNITIES, dtype=pl.Int64)
    df = pl.select(pl.concat_str(_pick(regs, i.hash(seed * 7 + 1)),
                                 (i * 37 + 100_001).cast(pl.String).str.zfill(6)).alias("code"))
    return sorted(set(df["code"].to_list()))


@cache
def region_periods() -> dict[str, list[tuple[int, int]]]:
    """Each GB/T 2260 code with the years it was in use (python-stdnum's ``cn/loc`` data, as the engine reads it:
    :func:`gongshu.quality.service.engine_kinds.era_frame`) — the lookup table of GB 11643's region test."""
    frame = era_frame()
    segments = (frame.width - 1) // 2
    return {f"{row[0]:06d}": [(row[1 + 2 * k], row[2 + 2 * k]) for k in range(segments) if row[1 + 2 * k] is not None]
            for row in frame.iter_rows()}


@cache
def _regions_by_year() -> tuple[pl.Series, pl.Series, pl.Series]:
    """(codes, offset per year, count per year) for the birth years 1940–2019: the codes in use in each year,
    concatenated, so a region valid in a person's year of birth is one ``gather``."""
    periods = region_periods()
    codes, offsets, counts = [], [], []
    for year in range(1940, 2020):
        valid = sorted(c for c, spans in periods.items()
                       if not c.endswith("00") and any(lo <= year <= hi for lo, hi in spans))
        offsets.append(len(codes))
        counts.append(len(valid))
        codes.extend(valid)
    return pl.Series(codes), pl.Series(offsets, dtype=pl.Int64), pl.Series(counts, dtype=pl.Int64)


def _person_id(p: pl.Expr, seed: int) -> tuple[pl.Expr, pl.Expr]:
    """The 17-digit ID body and birth date of person ``p`` (< 29M): birth date and sequence number come from a
    bijection of ``p``, so no two persons share an ID; the region is a pseudo-random county code that was in use
    in the year of birth (as a real number's is)."""
    q = (p * 1_000_003 + seed) % 29_000_000
    birth = pl.lit(date(1940, 1, 1)) + pl.duration(days=(q // 1000).cast(pl.Int64))
    codes, offsets, counts = _regions_by_year()
    y = (birth.dt.year() - 1940).cast(pl.Int64)
    pick = pl.lit(offsets).gather(y) + (p.hash(seed * 1000) % pl.lit(counts).gather(y).cast(pl.UInt64)).cast(pl.Int64)
    body = pl.concat_str(pl.lit(codes).gather(pick), birth.dt.strftime("%Y%m%d"),
                         (q % 1000).cast(pl.String).str.zfill(3))
    return body, birth


def _person_chunk(start: int, n: int, seed: int, comms: list[str]) -> pl.DataFrame:
    i = pl.int_range(start, start + n, dtype=pl.Int64)
    hd = i.hash(seed * 1000 + 90)
    defect = (hd % 1000) < DEFECT_PER_MILLE
    kind = pl.when(defect).then((i.hash(seed * 1000 + 91) % 20).cast(pl.Int32)).otherwise(pl.lit(-1, pl.Int32))
    # kind 15 (duplicate ID): the row is the previous row's person (same ID, birth date and sex)
    p = pl.when(kind == 15).then(i - 1).otherwise(i)
    h = [i.hash(seed * 1000 + k) for k in range(3, 16)]
    body, birth = _person_id(p, seed)
    df = pl.select(kind.alias("k"), body.alias("body"), birth.alias("birth"), *[x.alias(f"h{j + 3}")
                                                                               for j, x in enumerate(h)])
    k = pl.col("k")
    good_id = pl.concat_str("body", ric_check_expr(pl.col("body")))
    wrong = pl.lit(RIC_CHECK).str.slice(
        (pl.sum_horizontal([pl.col("body").str.slice(j, 1).cast(pl.Int32) * w for j, w in enumerate(RIC_WEIGHTS)])
         + 1) % 11, 1)
    odd = pl.col("body").str.slice(16, 1).cast(pl.Int32) % 2 == 1
    sex = pl.when(odd).then(pl.lit("1")).otherwise(pl.lit("2"))
    name = pl.concat_str(_pick(SURNAMES, pl.col("h3")), _pick(GIVEN, pl.col("h4")), _pick(GIVEN, pl.col("h5")))
    registered = pl.lit(datetime(2000, 1, 1)) + pl.duration(seconds=(pl.col("h11") % 790_000_000).cast(pl.Int64))
    updated = registered + pl.duration(seconds=(pl.col("h12") % 50_000_000).cast(pl.Int64))
    none = pl.lit(None, pl.String)
    return df.select(
        pl.when(k == 0).then(pl.col("body"))  # 17 characters
        .when(k == 1).then(pl.concat_str("body", wrong))
        .when(k == 2).then(none).otherwise(good_id).alias("c1"),
        pl.when(k == 3).then(none).when(k == 4).then(pl.concat_str(name, pl.lit("之" * 30))).otherwise(name).alias("c2"),
        pl.when(k == 5).then(pl.lit("5")).when(k == 17).then(
            pl.when(odd).then(pl.lit("2")).otherwise(pl.lit("1"))).otherwise(sex).alias("c3"),
        pl.when(k == 6).then(pl.lit("99")).otherwise(_pick(sorted(ETHNICITY), pl.col("h6"))).alias("c4"),
        pl.when(k == 16).then(pl.col("birth") + pl.duration(days=1)).otherwise(pl.col("birth")).alias("c5"),
        _pick(sorted(MARITAL), pl.col("h7")).alias("c6"),
        pl.when(k == 7).then(pl.lit("999999")).otherwise(pl.col("body").str.slice(0, 6)).alias("c7"),
        pl.when(k == 9).then(none).otherwise(pl.format(
            "{}路{}号{}室", _pick(ROADS, pl.col("h8")),
            pl.col("h8") % 999 + 1, pl.col("h9") % 30 + 101)).alias("c8"),
        pl.when(k == 8).then(none).when(k == 12).then(pl.lit("0769-2233")).otherwise(
            pl.concat_str(pl.lit("1"), (pl.col("h10") % 7 + 3).cast(pl.String),
                          (pl.col("h10") % 1_000_000_000).cast(pl.String).str.zfill(9))).alias("c9"),
        registered.alias("c10"),
        pl.when(k == 10).then(pl.lit(25, pl.Int64)).otherwise(pl.col("h13") % 8 + 1).cast(pl.Int64).alias("c11"),
        pl.when(k == 11).then(pl.lit(-100.0)).otherwise(
            (pl.col("h14") % 5_000_000).cast(pl.Float64) / 100).cast(pl.Decimal(18, 2)).alias("c12"),
        pl.when(k == 18).then(registered - pl.duration(days=1)).when(k == 19).then(pl.lit(datetime(2027, 6, 1)))
        .otherwise(updated).alias("c13"),
        pl.when(k == 8).then(none).when(k == 13).then(
            pl.format("u{}example.cn", pl.col("h15") % 100_000_000)).otherwise(
            pl.format("u{}@example.cn", pl.col("h15") % 100_000_000)).alias("c14"),
        pl.when(k == 14).then(pl.concat_str(pl.col("body").str.slice(0, 6), pl.lit("999999")))
        .otherwise(_pick(comms, pl.col("h5") * 31 + pl.col("h7"))).alias("c15"),
        k.alias("_kind"),
    )


def make_person_snapshot(directory: Path, rows: int, seed: int = 11) -> dict:
    """Write ``persons-<rows>-<seed>.parquet`` and ``communities-<seed>.parquet`` into ``directory`` (once; reused
    when present) and return ``{"snapshot", "reference", "planted": {kind: rows}, "generate_s"}``.
    The planted counts are kept in ``persons-<rows>-<seed>.json`` beside the snapshot."""
    import time  # noqa: PLC0415 - benchmark helper, kept local to the one function that times itself

    directory.mkdir(parents=True, exist_ok=True)
    snap = directory / f"persons-{rows}-{seed}.parquet"
    ref = directory / f"communities-{seed}.parquet"
    meta = directory / f"persons-{rows}-{seed}.json"
    if snap.exists() and ref.exists() and meta.exists():
        return {"snapshot": snap, "reference": ref, **json.loads(meta.read_text()), "generate_s": 0.0}
    t0 = time.perf_counter()
    comms = community_codes(seed)
    with SnapshotWriter(ref, pa.schema([("code", pa.large_string())]), {"code": "社区代码"}) as w:
        w.write(pa.table({"code": pa.array(comms, pa.large_string())}))
    planted: dict[str, int] = {}
    with SnapshotWriter(snap, PERSON_SCHEMA, LABELS) as w:
        for start in range(0, rows, 100_000):
            chunk = _person_chunk(start, min(100_000, rows - start), seed, comms)
            for kind, count in chunk.group_by("_kind").len().iter_rows():
                if kind >= 0:
                    planted[str(kind)] = planted.get(str(kind), 0) + count
            w.write(chunk.drop("_kind").to_arrow())
    planted = dict(sorted(planted.items(), key=lambda kv: int(kv[0])))
    meta.write_text(json.dumps({"planted": planted}))
    return {"snapshot": snap, "reference": ref, "planted": planted, "generate_s": round(time.perf_counter() - t0, 2)}


# --- cross-source comparison ------------------------------------------------------------------------------------

#: the three sources; the first is the legal source of all three elements
SOURCES = ("hukou", "shebao", "hunyin")
SOURCE_ZH = {"hukou": "户籍", "shebao": "社保", "hunyin": "婚姻"}
COMPARE_ITEMS = ("姓名", "性别", "住址")


def _source_chunk(source: int, start: int, n: int, seed: int) -> pl.DataFrame:
    i = pl.int_range(start, start + n, dtype=pl.Int64)
    h = [i.hash(seed * 1000 + k) for k in range(8)]
    body, _ = _person_id(i, seed)
    df = pl.select(body.alias("body"), *[x.alias(f"h{k}") for k, x in enumerate(h)],
                   i.hash(seed * 1000 + 50 + source).alias("hs"))
    name = pl.concat_str(_pick(SURNAMES, pl.col("h3")), _pick(GIVEN, pl.col("h4")), _pick(GIVEN, pl.col("h5")))
    odd = pl.col("body").str.slice(16, 1).cast(pl.Int32) % 2 == 1
    sex = pl.when(odd).then(pl.lit("1")).otherwise(pl.lit("2"))
    num = (pl.col("h6") % 999 + 1).cast(pl.String)
    road = _pick(ROADS, pl.col("h6"))
    address = pl.concat_str(road, pl.lit("路"), num, pl.lit("号"))
    if source == 0:  # the legal source: clean
        return df.select(pl.concat_str("body", ric_check_expr(pl.col("body"))).alias("公民身份号码"),
                         name.alias("姓名"), sex.alias("性别"), address.alias("住址"))
    # per source, per mille: 0–9 a real difference (name 0–3, sex 4–5, address 6–9); 10–39 formatting only
    m = pl.col("hs") % 1000
    full_num = num.str.replace_many(list("0123456789"), list("０１２３４５６７８９"))
    other_name = pl.concat_str(_pick(SURNAMES, pl.col("h3") + 1), _pick(GIVEN, pl.col("h4")),
                               _pick(GIVEN, pl.col("h5")))
    other_sex = pl.when(odd).then(pl.lit("2")).otherwise(pl.lit("1"))
    other_address = pl.concat_str(road, pl.lit("路"), (pl.col("h6") % 999 + 2).cast(pl.String), pl.lit("号"))
    return df.select(
        pl.concat_str("body", ric_check_expr(pl.col("body"))).alias("公民身份号码"),
        pl.when(m < 4).then(other_name).when((m >= 10) & (m < 20)).then(pl.concat_str(pl.lit(" "), name, pl.lit(" ")))
        .when((m >= 20) & (m < 25)).then(pl.concat_str(name.str.slice(0, 1), pl.lit("\u3000"), name.str.slice(1)))
        .otherwise(name).alias("姓名"),
        pl.when((m >= 4) & (m < 6)).then(other_sex).otherwise(sex).alias("性别"),
        pl.when((m >= 6) & (m < 10)).then(other_address)
        .when((m >= 25) & (m < 35)).then(pl.concat_str(road, pl.lit("路"), full_num, pl.lit("号")))
        .when((m >= 35) & (m < 40)).then(pl.concat_str(road, pl.lit("路 "), num, pl.lit(" 号")))
        .otherwise(address).alias("住址"),
        m.alias("_m"),
    )


def make_compare_sources(directory: Path, persons: int, seed: int = 13) -> dict:
    """Write ``compare-<persons>-<seed>-<source>.parquet`` for the three sources (once; reused when present).
    Every person is in every source; per non-legal source about 0.4 % of names, 0.2 % of sexes and 0.4 % of
    addresses really differ, and 1.5 % of names and 1.5 % of addresses differ only in formatting (surrounding or
    inner spaces, a full-width space, full-width digits). Returns the paths and the planted counts."""
    import time  # noqa: PLC0415 - benchmark helper

    directory.mkdir(parents=True, exist_ok=True)
    paths = {s: directory / f"compare-{persons}-{seed}-{s}.parquet" for s in SOURCES}
    meta = directory / f"compare-{persons}-{seed}.json"
    if all(p.exists() for p in paths.values()) and meta.exists():
        return {"paths": paths, **json.loads(meta.read_text()), "generate_s": 0.0}
    t0 = time.perf_counter()
    planted: dict[str, dict[str, int]] = {}
    schema = pa.schema([(c, pa.large_string()) for c in ("公民身份号码", *COMPARE_ITEMS)])
    for idx, source in enumerate(SOURCES):
        counts = {"name": 0, "sex": 0, "address": 0, "format_only_name": 0, "format_only_address": 0}
        with SnapshotWriter(paths[source], schema, {}) as w:
            for start in range(0, persons, 100_000):
                chunk = _source_chunk(idx, start, min(100_000, persons - start), seed)
                if "_m" in chunk.columns:
                    m = chunk["_m"]
                    counts["name"] += int((m < 4).sum())
                    counts["sex"] += int(((m >= 4) & (m < 6)).sum())
                    counts["address"] += int(((m >= 6) & (m < 10)).sum())
                    counts["format_only_name"] += int(((m >= 10) & (m < 25)).sum())
                    counts["format_only_address"] += int(((m >= 25) & (m < 40)).sum())
                    chunk = chunk.drop("_m")
                w.write(chunk.to_arrow())
        planted[source] = counts
    meta.write_text(json.dumps({"planted": planted}))
    return {"paths": paths, "planted": planted, "generate_s": round(time.perf_counter() - t0, 2)}


class RssSampler(threading.Thread):
    """Peak anonymous and file-backed resident memory (``/proc/self/status`` every 50 ms): ``ru_maxrss`` also counts
    the page-cache pages a process maps (SQLite's ``mmap_size`` maps the store file)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.05):
            try:
                with open("/proc/self/status") as fh:
                    for line in fh:
                        key, _, value = line.partition(":")
                        if key in self.peak:
                            self.peak[key] = max(self.peak[key], int(value.split()[0]))
            except OSError:
                return

    def result(self) -> dict:
        self.halt.set()
        return {"peak_rss_anon_mb": round(self.peak["RssAnon"] / 1024, 1),
                "peak_rss_file_mb": round(self.peak["RssFile"] / 1024, 1)}


__all__ = ["AS_OF", "COL", "COMPARE_ITEMS", "EMAIL", "GENDER", "LABELS", "MOBILE", "PERSON_COLUMNS", "RIC_FORMAT",
           "RULES", "SOURCES", "SOURCE_ZH", "RssSampler", "community_codes", "make_compare_sources",
           "make_person_snapshot", "region_periods", "ric_check_expr"]


def run_script(script: str, args: list[str]) -> dict:
    """Run ``script --child …`` in its own process (its own peak memory) and read its last JSON line; the load
    average just before is recorded with the result."""
    load = os.getloadavg()[0]
    r = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout)[-3000:], "load_avg_before": round(load, 2)}
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["load_avg_before"] = round(load, 2)
    return res


def best(runs: list[dict]) -> dict:
    """The fastest run that did not fail (with every run's seconds), or the last failure."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    b = min(ok, key=lambda r: r["seconds"])
    return {**b, "seconds_all_runs": [r.get("seconds") for r in runs]} if len(runs) > 1 else b

