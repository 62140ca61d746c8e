"""Benchmark: cross-source comparison of 3 sources × 1,000,000 persons (R-GOV-4, DG 49).

The data (``_quality_data.make_compare_sources``): 户籍 (the legal source of every element), 社保 and 婚姻, one
Parquet file each with 公民身份号码, 姓名, 性别 and 住址 for the same persons; in each of the two other sources about
0.4 % of names, 0.2 % of sexes and 0.4 % of addresses really differ from 户籍, and 1.5 % of names and 1.5 % of
addresses differ only in formatting (spaces around or inside, a full-width space, full-width digits).

In the same run, each in its own subprocess (peak memory its own), on the same files:

* **ours** — ``gongshu.quality.service.compare_engine.compare_frames``: one DuckDB pass joining the three sources
  on the key, values normalised (full-width → half-width, white space removed, upper case), per element and pair
  the subjects both hold, the conflicts and the formatting-only differences, the conflicts involving the legal
  source, and each element's conflicting subjects written to Parquet (key + the three raw values).
* **peer: Polars by hand** — what a data engineer would write for the same job: ``scan_parquet`` × 3, full joins
  on the normalised key, the same normalisation as Polars string expressions, the same counts, the same Parquet
  files of conflicting subjects.

Prints one JSON line with seconds, peak memory and the counts of both beside the planted differences:

    python benchmarks/quality_compare.py [--persons 1000000] [--dir /tmp/bench] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from datetime import datetime
from itertools import combinations
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_data import COMPARE_ITEMS, SOURCES, RssSampler, best, make_compare_sources, run_script  # noqa: E402

KEY = "公民身份号码"
LEGAL = SOURCES[0]
FULL = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
HALF = [chr(c) for c in range(0x21, 0x7F)] + [" "]


def run_ours(paths: dict[str, Path], out: Path) -> dict:
    try:
        from gongshu.quality.service import compare_engine  # noqa: PLC0415 - optional until it lands
    except ImportError as exc:
        raise SystemExit(f"ours: gongshu.quality.service.compare_engine cannot be imported ({exc}); run with "
                         "--only peer to measure the peer alone") from exc
    t0 = time.perf_counter()
    sources = [compare_engine.Source(s, paths[s], KEY, {e: e for e in COMPARE_ITEMS}) for s in SOURCES]
    res = compare_engine.compare_frames(sources, out, legal={e: LEGAL for e in COMPARE_ITEMS},
                                        types={e: "C" for e in COMPARE_ITEMS})
    seconds = time.perf_counter() - t0
    elements = {}
    for e, r in res.elements.items():
        elements[e] = {"subjects": r.subjects, "conflicts": r.conflicts, "legal_conflicts": r.legal_conflicts,
                       "formatting_only": r.formatting,
                       "pairs": {f"{p.a}-{p.b}": {"both": p.both, "conflicts": p.conflicts,
                                                  "formatting": p.formatting} for p in r.pairs},
                       "file_rows": _rows(r.path)}
    return {"seconds": round(seconds, 3), "elements": elements}


def _rows(path: Path | None) -> int:
    return pl.scan_parquet(path).select(pl.len()).collect().item() if path else 0


def _norm(e: pl.Expr) -> pl.Expr:
    """The same normalisation as ours: full-width → half-width, no white space, upper case; empty → null."""
    n = e.str.replace_many(FULL, HALF).str.replace_all(r"\s+", "").str.to_uppercase()
    return pl.when(n == "").then(None).otherwise(n)


def run_peer(paths: dict[str, Path], out: Path) -> dict:
    """Polars by hand: the same joins, normalisation, counts and files as ours."""
    t0 = time.perf_counter()
    n_src = len(SOURCES)
    col = {e: f"e{n}" for n, e in enumerate(COMPARE_ITEMS)}
    frames = []
    for i, s in enumerate(SOURCES):
        frames.append(pl.scan_parquet(paths[s]).select(
            pl.col(KEY).cast(pl.String).str.strip_chars().str.to_uppercase().alias("k"),
            *[pl.col(e).cast(pl.String).alias(f"r{i}_{col[e]}") for e in COMPARE_ITEMS]))
    joined = frames[0]
    for f in frames[1:]:
        joined = joined.join(f, on="k", how="full", coalesce=True)
    wide = joined.with_columns([_norm(pl.col(f"r{i}_{col[e]}")).alias(f"n{i}_{col[e]}")
                                for e in COMPARE_ITEMS for i in range(n_src)]).collect()
    aggs, flags, names = [], {}, []
    for e in COMPARE_ITEMS:
        c = col[e]
        confs, fmts, legal = [], [], []
        for a, b in combinations(range(n_src), 2):
            na, nb, ra, rb = (pl.col(f"n{a}_{c}"), pl.col(f"n{b}_{c}"), pl.col(f"r{a}_{c}"), pl.col(f"r{b}_{c}"))
            both = na.is_not_null() & nb.is_not_null()
            conf = both & (na != nb)
            fmt = both & (na == nb) & (ra != rb)
            aggs += [both.sum().alias(f"{e}|{a}-{b}|both"), conf.sum().alias(f"{e}|{a}-{b}|conflicts"),
                     fmt.sum().alias(f"{e}|{a}-{b}|formatting")]
            confs.append(conf)
            fmts.append(fmt)
            if SOURCES[a] == LEGAL or SOURCES[b] == LEGAL:
                legal.append(conf)
        any_conf = pl.any_horizontal(confs)
        held = pl.sum_horizontal([pl.col(f"n{i}_{c}").is_not_null().cast(pl.Int32) for i in range(n_src)])
        flags[e] = any_conf
        aggs += [(held >= 2).sum().alias(f"{e}|subjects"), any_conf.sum().alias(f"{e}|conflicts"),
                 pl.any_horizontal(legal).sum().alias(f"{e}|legal_conflicts"),
                 (~any_conf & pl.any_horizontal(fmts)).sum().alias(f"{e}|formatting_only")]
        names.append(e)
    row = wide.select(aggs).row(0, named=True)
    out.mkdir(parents=True, exist_ok=True)
    elements: dict[str, dict] = {}
    for n, e in enumerate(COMPARE_ITEMS):
        c = col[e]
        r = {k.split("|", 1)[1]: v for k, v in row.items() if k.startswith(f"{e}|") and k.count("|") == 1}
        pairs = {}
        for a, b in combinations(range(n_src), 2):
            pairs[f"{SOURCES[a]}-{SOURCES[b]}"] = {m: row[f"{e}|{a}-{b}|{m}"]
                                                   for m in ("both", "conflicts", "formatting")}
        r["pairs"] = pairs
        r["file_rows"] = 0
        if r["conflicts"]:
            part = wide.filter(flags[e]).select(
                "k", *[pl.col(f"r{i}_{c}").alias(SOURCES[i]) for i in range(n_src)])
            part.write_parquet(out / f"{n}.parquet", compression="zstd")
            r["file_rows"] = part.height
        elements[e] = r
    return {"seconds": round(time.perf_counter() - t0, 3), "elements": elements}


def child(which: str, paths: dict[str, Path], out: Path) -> dict:
    sampler = RssSampler()
    sampler.start()
    cpu0 = time.process_time()
    shutil.rmtree(out, ignore_errors=True)
    res = run_ours(paths, out) if which == "ours" else run_peer(paths, out)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["cpu_s"] = round(time.process_time() - cpu0, 2)  # all threads of this process
    res.update(sampler.result())
    shutil.rmtree(out, ignore_errors=True)
    return res


def run_child(which: str, paths: dict[str, Path], out: Path) -> dict:
    return run_script(__file__, ["--child", which, "--out", str(out),
                                 "--paths", json.dumps({k: str(v) for k, v in paths.items()})])


def _summary(res: dict) -> dict:
    return {e: {k: v for k, v in r.items() if k != "pairs"} for e, r in res.get("elements", {}).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench"))
    ap.add_argument("--only", choices=("ours", "peer"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per side; the fastest is reported")
    ap.add_argument("--child", choices=("ours", "peer"))
    ap.add_argument("--paths")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.child:
        paths = {k: Path(v) for k, v in json.loads(args.paths).items()}
        print(json.dumps(child(args.child, paths, args.out), ensure_ascii=False))
        return
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = os.getloadavg()
    data = make_compare_sources(args.dir, args.persons, args.seed)
    res = {}
    for which in ("ours", "peer"):
        if args.only and which != args.only:
            continue
        res[which] = best([run_child(which, data["paths"], args.dir / f"compare-out-{which}")
                           for _ in range(args.repeat)])
    report = {"benchmark": "quality_compare", "started": started, "persons": args.persons,
              "sources": list(SOURCES), "legal_source": LEGAL, "elements": list(COMPARE_ITEMS),
              "generate_s": data["generate_s"], "planted": data["planted"], **res}
    if "ours" in res and "peer" in res and "seconds" in res["ours"] and "seconds" in res["peer"]:
        report["same_counts"] = _summary(res["ours"]) == _summary(res["peer"])
        report["ours_vs_peer_speed"] = round(res["peer"]["seconds"] / res["ours"]["seconds"], 2)
    report.update({"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
                   "load_avg_after": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                   "polars": pl.__version__})
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
