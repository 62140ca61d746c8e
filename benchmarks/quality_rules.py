"""Benchmark: 20 quality rules over a 10,000,000-row person snapshot, failing rows materialised (R-GOV-1).

The data: a deterministic synthetic person entry written as a data version's Parquet snapshot (15 typed
columns ``c1`` … ``c15`` with their item names as labels; ``_quality_data.make_person_snapshot``) and a reference
table of 5,000 community codes; 2 % of the rows carry one planted defect each, aimed at one of the twenty rules
(``_quality_data.RULES``), which span the dimensions of GB/T 36344: format, checksum, length, code tables (规范性);
required items and record completeness (完整性); ranges, patterns, reference data, uniqueness (准确性); ID number
vs birth date and vs sex (一致性); time order and not-after-now (时效性). (可访问性 — attached, loadable — is a
property of the version, not of rows: it is not timed here.)

In the same run, each in its own subprocess (so its peak memory is its own), on the same snapshot and rules:

* **ours** — ``gongshu.quality.service.engine.run``: DuckDB over the snapshot; writes each rule's failing rows.
* **pandera** (Polars backend) — ``pl.read_parquet`` then one ``DataFrameSchema.validate(lazy=True)``; built-in
  checks where pandera has them, vectorised custom checks (Polars expressions) where it does not (GB 11643
  checksum, record completeness, the two ID-consistency rules, time order, non-null uniqueness). pandera keeps the
  failure cases (value + row index) in memory but writes nothing, so a fair variant is timed beside it:
  **pandera + write**, which gathers each rule's failing rows and writes them to Parquet as ours does.
* **Great Expectations** (pandas execution engine) — an ephemeral context, one suite of 20 expectations, result
  format ``COMPLETE`` (unexpected index lists); custom map expectations (vectorised pandas) for the checksum,
  completeness and ID-consistency rules; **GE + write** writes each rule's failing rows to Parquet. GE runs on a
  smaller snapshot (``--ge-rows``, default 1M: the first rows of the same generator), and ours and pandera run on
  that size too, so rates are compared at the same size.

Prints one JSON line: rows/s, seconds (read, validate, write) and peak memory per engine and size, failing rows per
rule per engine beside the planted defects, the ratios to the targets (ours ≥ 1× pandera-Polars, ≥ 10× GE) and the
load average before and after:

    python benchmarks/quality_rules.py [--rows 10000000] [--ge-rows 1000000] [--dir /tmp/bench]
        [--engines ours,pandera,ge] [--repeat 1]
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
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from gongshu.ingest.service.codes import CODE_TABLES as GONGSHU_CODE_TABLES
from gongshu.ingest.service.validate import RIC_CHECK, RIC_WEIGHTS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_data import (  # noqa: E402
    AS_OF,
    RIC_FORMAT,
    RULES,
    RssSampler,
    best,
    make_person_snapshot,
    region_periods,
    run_script,
)

RULE_BY_KEY = {r["key"]: r for r in RULES}
CODE_TABLES = {name: sorted(table.codes) for name, table in GONGSHU_CODE_TABLES.items()}


def era_maps() -> list[tuple[dict[str, int], dict[str, int]]]:
    """The years each region code was in use as per-segment maps ``[(first year by code, last year by code), …]``
    (a code used twice with a gap has a second segment), for the peers' GB 11643 region check."""
    periods = region_periods()
    maps: list[tuple[dict[str, int], dict[str, int]]] = []
    for code, spans in periods.items():
        for k, (lo, hi) in enumerate(sorted(spans)):
            while len(maps) <= k:
                maps.append(({}, {}))
            maps[k][0][code], maps[k][1][code] = lo, hi
    return maps


def _reference_codes(reference: Path) -> list[str]:
    return pq.read_table(reference, columns=["code"]).column("code").to_pylist()


# --- ours ---------------------------------------------------------------------------------------------------------

def run_ours(snapshot: Path, reference: Path, out: Path) -> dict:
    try:
        from gongshu.quality.service import engine  # noqa: PLC0415 - optional until the engine lands
    except ImportError as exc:
        raise SystemExit(f"ours: gongshu.quality.service.engine cannot be imported ({exc}); run with "
                         "--engines pandera,ge to measure the peers alone") from exc
    return engine_adapter(engine, snapshot, reference, out)


def engine_rules(engine, reference: Path) -> list:
    """The 20 rules as the engine's RuleSpecs (the reference rule's table resolved to its Parquet file, as the
    rules service resolves a referenced entry to its current snapshot)."""
    specs = []
    for r in RULES:
        params = dict(r["params"])
        if r["kind"] == "reference":
            params["ref_path"] = str(reference)
        specs.append(engine.RuleSpec(key=r["key"], kind=r["kind"], columns=tuple(r["items"]), params=params))
    return specs


def engine_adapter(engine, snapshot: Path, reference: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    outcomes = engine.run(snapshot, engine_rules(engine, reference), out, keys=["c1"], today=AS_OF.date())
    t1 = time.perf_counter()
    not_run = {o.key: o.error_en for o in outcomes if not o.ran}
    if not_run:
        raise SystemExit(f"ours: rules did not run: {not_run}")
    rows = pq.ParquetFile(snapshot).metadata.num_rows
    return {"rows": rows, "read_s": 0.0, "validate_s": round(t1 - t0, 3), "write_s": 0.0,
            "seconds": round(t1 - t0, 3), "failing": {o.key: o.failed for o in outcomes},
            "checked": {o.key: o.checked for o in outcomes},
            "files_written": sum(1 for o in outcomes if o.failing_path)}


# --- pandera (Polars backend) ---------------------------------------------------------------------------------------

def _well_formed(c: pl.Expr) -> pl.Expr:
    return c.str.contains(RIC_FORMAT).fill_null(False)


def _checksum_ok(c: pl.Expr) -> pl.Expr:
    """GB 11643 as the engine checks it: form, check character, a real birth date, a GB/T 2260 region code in use
    at some time from the year of birth on (nulls are R07's)."""
    total = pl.sum_horizontal([c.str.slice(k, 1).cast(pl.Int32, strict=False) * w for k, w in enumerate(RIC_WEIGHTS)])
    region, year = c.str.slice(0, 6), c.str.slice(6, 4).cast(pl.Int64, strict=False)
    in_use = pl.any_horizontal([year <= region.replace_strict(hi, default=None, return_dtype=pl.Int64)
                                for _lo, hi in era_maps()]).fill_null(False)
    return (c.is_null() | (_well_formed(c) & (c.str.slice(17, 1) == pl.lit(RIC_CHECK).str.slice(total % 11, 1))
                           & in_use & c.str.slice(6, 8).str.to_date("%Y%m%d", strict=False).is_not_null())
            ).fill_null(False)


def _birth_ok(ric: pl.Expr, born: pl.Expr) -> pl.Expr:
    from_id = ric.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (~_well_formed(ric) | born.is_null() | (born == from_id)).fill_null(True)


def _sex_ok(ric: pl.Expr, sex: pl.Expr) -> pl.Expr:
    odd = ric.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1
    want = pl.when(odd).then(pl.lit("1")).otherwise(pl.lit("2"))
    return (~_well_formed(ric) | ~sex.is_in(["1", "2"]).fill_null(False) | (sex == want)).fill_null(True)


def _filled(items: list[str]) -> pl.Expr:
    return pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in items])


def _expr_check(key: str, fn) -> pa.Check:
    return pa.Check(lambda d: d.lazyframe.select(fn(pl.col(d.key))), name=key)


def _frame_check(key: str, expr: pl.Expr) -> pa.Check:
    return pa.Check(lambda d: d.lazyframe.select(expr.alias("ok")), name=key)


def pandera_schema(reference: Path) -> tuple[pa.DataFrameSchema, dict]:
    """The 20 rules as one pandera schema, and the map from a failure case (column, check number / check) to the
    rule key. Built-in checks: ``str_matches`` (R01, R13, R14), ``str_length`` (R03), ``isin`` (R04–R06, R15),
    ``nullable=False`` (R07–R09), ``in_range`` (R11, R12), ``le`` (R20). Custom (Polars expressions): R02, R10, R16
    (``unique=True`` would count empty IDs as duplicates of each other), R17, R18, R19."""
    r = RULE_BY_KEY
    col_checks: dict[str, list[tuple[str, pa.Check]]] = {c: [] for c in
                                                          ("c1", "c2", "c3", "c4", "c7", "c9", "c11", "c12", "c13",
                                                           "c14", "c15")}
    col_checks["c1"] += [("R01", pa.Check.str_matches(RIC_FORMAT)), ("R02", _expr_check("R02", _checksum_ok)),
                         ("R16", _expr_check("R16", lambda c: ~c.is_duplicated() | c.is_null()))]
    col_checks["c2"].append(("R03", pa.Check.str_length(r["R03"]["params"]["min_length"],
                                                         r["R03"]["params"]["length"])))
    for key, col in (("R04", "c3"), ("R05", "c4"), ("R06", "c7")):
        col_checks[col].append((key, pa.Check.isin(CODE_TABLES[r[key]["params"]["table"]])))
    col_checks["c11"].append(("R11", pa.Check.in_range(r["R11"]["params"]["min"], r["R11"]["params"]["max"])))
    col_checks["c12"].append(("R12", pa.Check.in_range(r["R12"]["params"]["min"], r["R12"]["params"]["max"])))
    col_checks["c9"].append(("R13", pa.Check.str_matches(r["R13"]["params"]["regex"])))
    col_checks["c14"].append(("R14", pa.Check.str_matches(r["R14"]["params"]["regex"])))
    col_checks["c15"].append(("R15", pa.Check.isin(_reference_codes(reference))))
    col_checks["c13"].append(("R20", pa.Check.le(datetime.fromisoformat(r["R20"]["params"]["max"]))))
    required = {"c1": "R07", "c2": "R08", "c8": "R09"}
    dtypes = {"c5": pl.Date, "c10": pl.Datetime("us"), "c11": pl.Int64, "c12": pl.Decimal(18, 2),
              "c13": pl.Datetime("us")}
    keymap: dict = {}
    columns = {}
    for i in range(1, 16):
        c = f"c{i}"
        checks = col_checks.get(c, [])
        for n, (key, _) in enumerate(checks):
            keymap[(c, n)] = key
        if c in required:
            keymap[(c, "not_nullable")] = required[c]
        columns[c] = pa.Column(dtypes.get(c, pl.String), [chk for _, chk in checks], nullable=c not in required)
    frame = [("R10", _frame_check("R10", _filled(r["R10"]["items"]) >= r["R10"]["params"]["min_filled"])),
             ("R17", _frame_check("R17", _birth_ok(pl.col("c1"), pl.col("c5")))),
             ("R18", _frame_check("R18", _sex_ok(pl.col("c1"), pl.col("c3")))),
             ("R19", _frame_check("R19", (pl.col("c10") <= pl.col("c13")).fill_null(True)))]
    for key, _ in frame:
        keymap[(None, key)] = key
    return pa.DataFrameSchema(columns, checks=[chk for _, chk in frame], strict=True), keymap


def _rule_of_cases(fc: pl.DataFrame, keymap: dict) -> pl.DataFrame:
    """Failure cases → (rule, _row), one row per failing row and rule."""
    m = pl.DataFrame({"column": [k[0] for k in keymap], "tag": [str(k[1]) for k in keymap],
                      "rule": list(keymap.values())}, schema={"column": pl.String, "tag": pl.String,
                                                              "rule": pl.String})
    tag = (pl.when(pl.col("schema_context") == "DataFrameSchema").then(pl.col("check"))
           .when(pl.col("check") == "not_nullable").then(pl.lit("not_nullable"))
           .otherwise(pl.col("check_number").cast(pl.String)))
    cases = fc.select(pl.col("column"), tag.alias("tag"), pl.col("index").cast(pl.Int64).alias("_row"))
    out = cases.join(m, on=["column", "tag"], how="left", nulls_equal=True)
    unknown = out.filter(pl.col("rule").is_null())
    if unknown.height:
        raise SystemExit(f"pandera: failure cases not mapped to a rule: {fc[:5]}")
    return out.select("rule", "_row").unique()


def run_pandera(snapshot: Path, reference: Path, out: Path, write: bool) -> dict:
    t0 = time.perf_counter()
    df = pl.read_parquet(snapshot)
    t1 = time.perf_counter()
    schema, keymap = pandera_schema(reference)
    fc = None
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    t2 = time.perf_counter()
    failing: dict[str, int] = {r["key"]: 0 for r in RULES}
    if fc is not None:
        cases = _rule_of_cases(fc, keymap)
        for key, n in cases.group_by("rule").len().iter_rows():
            failing[key] = n
        if write:
            out.mkdir(parents=True, exist_ok=True)
            rows = df.with_row_index("_row")
            for (key,), part in cases.partition_by("rule", as_dict=True).items():
                cols = list(dict.fromkeys(["_row", "c1", *RULE_BY_KEY[key]["items"]]))
                idx = part["_row"].sort()
                rows[idx].select(cols).write_parquet(out / f"{key}.parquet", compression="zstd")
    t3 = time.perf_counter()
    return {"rows": df.height, "read_s": round(t1 - t0, 3), "validate_s": round(t2 - t1, 3),
            "write_s": round(t3 - t2, 3) if write else 0.0, "seconds": round((t3 if write else t2) - t0, 3),
            "failure_cases": fc.height if fc is not None else 0, "failing": failing}


# --- Great Expectations (pandas) -----------------------------------------------------------------------------------

def _ge_custom_expectations():
    """Custom map expectations (vectorised pandas) for the rules GE has no built-in for. Defined on first use so
    that only the GE subprocess imports great_expectations."""
    import numpy as np  # noqa: PLC0415 - GE subprocess only
    from great_expectations.execution_engine import PandasExecutionEngine  # noqa: PLC0415
    from great_expectations.expectations.expectation import (  # noqa: PLC0415
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.metrics.map_metric_provider import (  # noqa: PLC0415
        ColumnMapMetricProvider,
        ColumnPairMapMetricProvider,
        MulticolumnMapMetricProvider,
        column_condition_partial,
        column_pair_condition_partial,
        multicolumn_condition_partial,
    )

    checks = np.array(list(RIC_CHECK))
    eras = era_maps()

    def well_formed(s):
        return s.str.fullmatch(RIC_FORMAT).fillna(False).astype(bool)

    class ColumnValuesGb11643(ColumnMapMetricProvider):
        condition_metric_name = "column_values.bench_gb11643"

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column, **kwargs):
            import pandas as pd  # noqa: PLC0415

            well = well_formed(column)
            s = column.where(well, "000000000000000000")
            total = sum(s.str.slice(k, k + 1).astype("int64").to_numpy() * w for k, w in enumerate(RIC_WEIGHTS))
            born = pd.to_datetime(s.str.slice(6, 14), format="%Y%m%d", errors="coerce")
            region, year = s.str.slice(0, 6), s.str.slice(6, 10).astype("int64")
            in_use = np.zeros(len(s), dtype=bool)
            for _lo, hi in eras:
                in_use |= (year <= region.map(hi)).fillna(False).to_numpy(dtype=bool)
            return (well & (s.str.slice(17, 18).to_numpy() == checks[total % 11]) & in_use & born.notna())

    class ExpectColumnValuesToHaveGb11643Check(ColumnMapExpectation):
        map_metric = "column_values.bench_gb11643"
        success_keys = ("mostly",)

    class ColumnPairIdBirth(ColumnPairMapMetricProvider):
        condition_metric_name = "column_pair_values.bench_id_birth"
        condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser",
                                 "ignore_row_if")

        @column_pair_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_A, column_B, **kwargs):  # noqa: N803 - GE's names
            import pandas as pd  # noqa: PLC0415

            well = well_formed(column_A)
            born = pd.to_datetime(column_A.str.slice(6, 14), format="%Y%m%d", errors="coerce")
            return ~well | born.isna() | (born == column_B)

    class ExpectColumnPairIdToMatchBirthDate(ColumnPairMapExpectation):
        map_metric = "column_pair_values.bench_id_birth"
        success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
        ignore_row_if: str = "both_values_are_missing"

    class ColumnPairIdSex(ColumnPairMapMetricProvider):
        condition_metric_name = "column_pair_values.bench_id_sex"
        condition_domain_keys = ColumnPairIdBirth.condition_domain_keys

        @column_pair_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_A, column_B, **kwargs):  # noqa: N803 - GE's names
            well = well_formed(column_A)
            digit = column_A.where(well, "000000000000000000").str.slice(16, 17).astype("int64")
            want = np.where(digit.to_numpy() % 2 == 1, "1", "2")
            return ~well | ~column_B.isin(["1", "2"]) | (column_B.to_numpy() == want)

    class ExpectColumnPairIdToMatchSex(ColumnPairMapExpectation):
        map_metric = "column_pair_values.bench_id_sex"
        success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
        ignore_row_if: str = "both_values_are_missing"

    class MulticolumnFilled(MulticolumnMapMetricProvider):
        condition_metric_name = "multicolumn_values.bench_filled"
        condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser",
                                 "ignore_row_if")
        condition_value_keys = ("min_filled",)

        @multicolumn_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_list, **kwargs):
            return column_list.notna().sum(axis=1) >= kwargs.get("min_filled")

    class ExpectMulticolumnValuesToBeFilled(MulticolumnMapExpectation):
        map_metric = "multicolumn_values.bench_filled"
        success_keys = ("mostly", "min_filled")
        min_filled: int = 1

    return {"gb11643": ExpectColumnValuesToHaveGb11643Check, "birth": ExpectColumnPairIdToMatchBirthDate,
            "sex": ExpectColumnPairIdToMatchSex, "filled": ExpectMulticolumnValuesToBeFilled}


def ge_expectations(reference: Path) -> list:
    """The 20 rules as GE expectations, in RULES order. Built-in: R01, R03–R09, R11–R16, R19, R20 (R15 as
    ``in_set`` of the reference table's codes: GE has no cross-table reference check for pandas); custom map
    expectations: R02, R10, R17, R18."""
    import great_expectations.expectations as gxe  # noqa: PLC0415 - GE subprocess only

    custom = _ge_custom_expectations()
    r = RULE_BY_KEY
    p = {k: v["params"] for k, v in r.items()}
    return [
        gxe.ExpectColumnValuesToMatchRegex(column="c1", regex=RIC_FORMAT),
        custom["gb11643"](column="c1"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="c2", min_value=p["R03"]["min_length"],
                                                max_value=p["R03"]["length"]),
        gxe.ExpectColumnValuesToBeInSet(column="c3", value_set=CODE_TABLES["gender"]),
        gxe.ExpectColumnValuesToBeInSet(column="c4", value_set=CODE_TABLES["ethnicity"]),
        gxe.ExpectColumnValuesToBeInSet(column="c7", value_set=CODE_TABLES["division"]),
        gxe.ExpectColumnValuesToNotBeNull(column="c1"),
        gxe.ExpectColumnValuesToNotBeNull(column="c2"),
        gxe.ExpectColumnValuesToNotBeNull(column="c8"),
        custom["filled"](column_list=r["R10"]["items"], min_filled=p["R10"]["min_filled"], ignore_row_if="never"),
        gxe.ExpectColumnValuesToBeBetween(column="c11", min_value=p["R11"]["min"], max_value=p["R11"]["max"]),
        gxe.ExpectColumnValuesToBeBetween(column="c12", min_value=p["R12"]["min"], max_value=p["R12"]["max"]),
        gxe.ExpectColumnValuesToMatchRegex(column="c9", regex=p["R13"]["regex"]),
        gxe.ExpectColumnValuesToMatchRegex(column="c14", regex=p["R14"]["regex"]),
        gxe.ExpectColumnValuesToBeInSet(column="c15", value_set=_reference_codes(reference)),
        gxe.ExpectColumnValuesToBeUnique(column="c1"),
        custom["birth"](column_A="c1", column_B="c5", ignore_row_if="either_value_is_missing"),
        custom["sex"](column_A="c1", column_B="c3", ignore_row_if="either_value_is_missing"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="c13", column_B="c10", or_equal=True,
                                                    ignore_row_if="either_value_is_missing"),
        gxe.ExpectColumnValuesToBeBetween(column="c13", max_value=datetime.fromisoformat(p["R20"]["max"])),
    ]


def run_ge(snapshot: Path, reference: Path, out: Path, write: bool) -> dict:
    import great_expectations as gx  # noqa: PLC0415 - GE subprocess only
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

    t0 = time.perf_counter()
    table = pq.read_table(snapshot)
    # GE's pandas engine: decimals as float64 and dates as datetime64 (Decimal / date objects would be far slower)
    table = table.set_column(table.schema.get_field_index("c12"), "c12", table["c12"].cast(pa_arrow.float64()))
    df = table.to_pandas(date_as_object=False)
    del table
    t1 = time.perf_counter()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = ctx.data_sources.add_pandas("bench").add_dataframe_asset("persons") \
        .add_batch_definition_whole_dataframe("whole")
    suite = ctx.suites.add(gx.ExpectationSuite(name="persons"))
    for rule, e in zip(RULES, ge_expectations(reference), strict=True):
        e.meta = {"rule": rule["key"]}
        suite.add_expectation(e)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
    res = vd.run(batch_parameters={"dataframe": df}, result_format={"result_format": "COMPLETE"})
    t2 = time.perf_counter()
    failing: dict[str, int] = {}
    errors = {}
    indices: dict[str, list] = {}
    for r in res.results:  # (not in suite order)
        key = r.expectation_config.meta["rule"]
        if r.exception_info and r.exception_info.get("raised_exception"):
            errors[key] = str(r.exception_info.get("exception_message"))[:300]
        idx = r.result.get("unexpected_index_list") or []
        indices[key] = idx
        failing[key] = len(idx)
    failing = {rule["key"]: failing.get(rule["key"]) for rule in RULES}
    if write:
        import numpy as np  # noqa: PLC0415

        out.mkdir(parents=True, exist_ok=True)
        for key, idx in indices.items():
            if idx:
                cols = list(dict.fromkeys(["c1", *RULE_BY_KEY[key]["items"]]))
                part = df.iloc[np.sort(np.asarray(idx, dtype=np.int64))][cols]
                part.insert(0, "_row", part.index)
                part.to_parquet(out / f"{key}.parquet", compression="zstd", index=False)
    t3 = time.perf_counter()
    return {"rows": len(df), "read_s": round(t1 - t0, 3), "validate_s": round(t2 - t1, 3),
            "write_s": round(t3 - t2, 3) if write else 0.0, "seconds": round((t3 if write else t2) - t0, 3),
            "failing": failing, **({"errors": errors} if errors else {}), "ge_success": bool(res.success)}


# --- the runs -------------------------------------------------------------------------------------------------------

def child(which: str, snapshot: Path, reference: Path, out: Path) -> dict:
    sampler = RssSampler()
    sampler.start()
    cpu0 = time.process_time()
    shutil.rmtree(out, ignore_errors=True)
    if which == "ours":
        res = run_ours(snapshot, reference, out)
    elif which in ("pandera", "pandera_write"):
        res = run_pandera(snapshot, reference, out, write=which == "pandera_write")
    else:
        res = run_ge(snapshot, reference, out, write=which == "ge_write")
    res["rows_per_s"] = round(res["rows"] / res["seconds"])
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["cpu_s"] = round(time.process_time() - cpu0, 2)  # all threads of this process
    res.update(sampler.result())
    if out.exists():
        res["written_mb"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 2)
    shutil.rmtree(out, ignore_errors=True)
    return res


def run_child(which: str, data: dict, out: Path) -> dict:
    return run_script(__file__, ["--child", which, "--snapshot", str(data["snapshot"]),
                                 "--reference", str(data["reference"]), "--out", str(out)])


def measure(engines: list[str], data: dict, work: Path, repeat: int) -> dict:
    out = {}
    for which in engines:
        out[which] = best([run_child(which, data, work / f"out-{which}") for _ in range(repeat)])
    return out


def agreement(planted: dict, results: dict) -> dict:
    """Failing rows per rule: planted defect rows beside each engine's count. The planted figure is what the
    generator aimed at the rule; a few rows differ from it where two defects meet (a duplicate of a row whose own
    ID was damaged is no duplicate), so the engines are compared with each other (``engines_disagree_on``)."""
    table = {}
    for rule in RULES:
        row = {"planted": sum(planted.get(str(k), 0) for k in rule["planted"])}
        for name, res in results.items():
            if "failing" in res:
                row[name] = res["failing"].get(rule["key"])
        table[rule["key"]] = row
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--ge-rows", type=int, default=1_000_000, help="size GE (and ours, pandera beside it) runs at")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench"))
    ap.add_argument("--engines", default="ours,pandera,ge")
    ap.add_argument("--repeat", type=int, default=1, help="runs per engine and size; the fastest is reported")
    ap.add_argument("--child", choices=("ours", "pandera", "pandera_write", "ge", "ge_write"))
    ap.add_argument("--snapshot", type=Path)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.snapshot, args.reference, args.out), ensure_ascii=False))
        return
    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = os.getloadavg()
    report: dict = {"benchmark": "quality_rules", "started": started, "rules": len(RULES)}
    sizes = sorted({args.rows, args.ge_rows}) if "ge" in wanted else [args.rows]
    for rows in sizes:
        data = make_person_snapshot(args.dir, rows, args.seed)
        engines = []
        if "ours" in wanted:
            engines.append("ours")
        if "pandera" in wanted:
            engines += ["pandera", "pandera_write"]
        if "ge" in wanted and rows == args.ge_rows:
            engines += ["ge", "ge_write"]
        res = measure(engines, data, args.dir / "quality-out", args.repeat)
        block = {"rows": rows, "snapshot_mb": round(data["snapshot"].stat().st_size / 2**20, 1),
                 "generate_s": data["generate_s"], **res, "failing_rows_per_rule": agreement(data["planted"], res)}
        ours = res.get("ours", {}).get("rows_per_s")
        ratios = {}
        for peer, target in (("pandera", 1.0), ("pandera_write", 1.0), ("ge", 10.0), ("ge_write", 10.0)):
            rate = res.get(peer, {}).get("rows_per_s")
            if ours and rate:
                ratios[f"ours_vs_{peer}"] = {"ratio": round(ours / rate, 2), "target": target,
                                             "met": ours / rate >= target}
        block["ratios"] = ratios
        counts = block["failing_rows_per_rule"]
        block["engines_disagree_on"] = [k for k, row in counts.items()
                                        if len({v for e, v in row.items() if e != "planted" and v is not None}) > 1]
        report[f"size_{rows}"] = block
    report.update({"target": "ours >= 1x pandera-polars, >= 10x Great Expectations (rows/s, same rules and data)",
                   "cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
                   "load_avg_after": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                   "polars": pl.__version__, "pandera": _version("pandera"),
                   "great_expectations": _version("great_expectations"), "duckdb": _version("duckdb"),
                   "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {_mem_gb()} GB"})
    print(json.dumps(report, ensure_ascii=False))


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def _mem_gb() -> int:
    return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)


if __name__ == "__main__":
    main()
