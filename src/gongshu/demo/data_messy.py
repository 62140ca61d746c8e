"""A realistic messy department export: 户籍人口基本信息 as a GBK CSV with deliberate problems.

What a civil servant gets from an old system: GBK with CRLF line ends, dates written five ways
(20230105, 2023-01-05, 2023/01/05, 2023.01.05, 2023年1月5日), names with stray spaces around and inside
them, 性别 written 男/女 instead of the GB/T 2261.1 code in some rows, a lowercase x check character and a
full-width ID number here and there — all acceptable, normalised by the load and listed in its report's
notes — and ten real problems of different kinds, each at a known row, so a test can check the
validation report row by row; ``fixed=True`` writes the same rows with the problems corrected (the
acceptable variants stay: they are what departments' files look like).
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from gongshu.demo import data_gen as g
from gongshu.demo import data_persons as per
from gongshu.errors import Invalid

ENTRY = "户籍人口基本信息"
ID = "公民身份号码"
#: (field, rule code, what is wrong) in the order they are planted; rows are spread over the file
PROBLEMS = (
    (ID, "ric_checksum", "wrong check character"),
    (ID, "ric_region", "region code 441999 is no GB/T 2260 division"),
    (ID, "ric_birth", "impossible birth date (February 30) inside the ID number"),
    ("性别", "ric_sex_mismatch", "the sex contradicts the ID number's 17th digit"),
    ("姓名", "length", "a 60-character name (a note pasted into the name cell)"),
    (ID, "required", "empty required ID number"),
    (ID, "duplicate", "the ID number of an earlier row again"),
    ("登记日期", "date", "the date 2023/13/45"),
    (ID, "excel_scientific", "an ID number saved through Excel: 4.41900E+17, its last digits lost"),
    ("出生日期", "ric_birth_mismatch", "a birth date one day off the one in the ID number"),
)
#: the acceptable variants a load normalises, by item (each appears in both versions of the file)
NORMALISED = {ID: ("uppercase", "fullwidth"), "姓名": ("trim", "inner_space"), "性别": ("code_name",),
              "出生日期": ("date_format",), "登记日期": ("date_format",)}
#: the first planted problem's 0-based row: the demo replaces the first 20 rows with people who moved house
FIRST = 22
MIN_ROWS = FIRST + 2 * len(PROBLEMS)


def _mixed_dates(col: str, u: pl.Expr) -> pl.Expr:
    """YYYYMMDD written five ways: as is, 2023-01-05, 2023/01/05, 2023.01.05 and 2023年1月5日."""
    c = pl.col(col)
    y, m, d = c.str.slice(0, 4), c.str.slice(4, 2), c.str.slice(6, 2)

    def sep(s: str) -> pl.Expr:
        return pl.concat_str([y, pl.lit(s), m, pl.lit(s), d])

    words = pl.concat_str([y, pl.lit("年"), m.cast(pl.Int32).cast(pl.String), pl.lit("月"),
                           d.cast(pl.Int32).cast(pl.String), pl.lit("日")])
    return (pl.when(u < 0.3).then(c).when(u < 0.55).then(sep("-")).when(u < 0.75).then(sep("/"))
            .when(u < 0.9).then(sep(".")).otherwise(words))


def _variants(df: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The acceptable ways departments write values (see ``NORMALISED``), at fixed pseudo-random rows."""
    n = df.height
    w = g.uniform(n, seed, "messy", "variants")
    name = pl.col("姓名")
    spaced = pl.concat_str([name.str.slice(0, 1), pl.lit(" "), name.str.slice(1)])
    wide = pl.col(ID).str.replace_many(list("0123456789"), [chr(0xFF10 + k) for k in range(10)])
    return df.with_columns(
        pl.when(pl.col("_v") < 0.1).then(pl.concat_str([pl.lit(" "), name, pl.lit("  ")]))
        .when(pl.col("_v") > 0.95).then(spaced).otherwise(name).alias("姓名"),
        pl.when(pl.lit(w) < 0.15).then(pl.col("性别").replace_strict({"1": "男", "2": "女"}, default=pl.col("性别")))
        .otherwise(pl.col("性别")).alias("性别"),
        pl.when(pl.col(ID).str.ends_with("X") & (pl.lit(w) > 0.5)).then(pl.col(ID).str.to_lowercase())
        .when(pl.lit(w).is_between(0.2, 0.21)).then(wide).otherwise(pl.col(ID)).alias(ID))


def make_messy_gbk_csv(path: Path, *, rows: int = 200, seed: int = 7, fixed: bool = False) -> dict:
    """Write the messy export (or, with ``fixed``, its corrected version) and say what is wrong where.

    Returns ``{"problems": [{"row", "field", "rule"}], "rows", "encoding", "fixed_rows"}``: rows are
    spreadsheet rows (header = 1). For the duplicate the later row is listed (the first one is fine).
    ``fixed_rows`` lists the rows that differ between the two versions.
    """
    if rows < MIN_ROWS:
        raise Invalid(f"示例文件至少需要 {MIN_ROWS} 行", f"The messy sample needs at least {MIN_ROWS} rows", field="rows")
    people = per.Population(seed).chunk(0, rows, 0)
    ctx = per.Ctx("%Y%m%d", pl.Series(["南湾市示例有限公司"]), (seed, "messy"))
    df = per.huji(people, ctx).with_columns(_i=pl.int_range(0, rows), _u=g.uniform(rows, seed, "messy", "fmt"),
                                            _v=g.uniform(rows, seed, "messy", "pad"))
    df = _variants(df.with_columns(_mixed_dates("出生日期", pl.col("_u")), _mixed_dates("登记日期", 1 - pl.col("_u"))),
                   seed)
    step = (rows - FIRST) // len(PROBLEMS)
    at = [FIRST + step * k for k in range(len(PROBLEMS))]
    problems = []
    if not fixed:
        ids = df[ID]
        for (col, rule, _), i in zip(PROBLEMS, at, strict=True):
            value = _plain(ids[i])
            if rule == "ric_checksum":
                new = value[:17] + dict(zip("0123456789X", "123456789X0", strict=True))[value[17]]
            elif rule in ("ric_region", "ric_birth"):
                body = ("441999" + value[6:17]) if rule == "ric_region" else (value[:10] + "0230" + value[14:17])
                new = pl.select(pl.concat_str([pl.lit(body), g.ric_check(pl.lit(body))])).item()
            elif rule == "ric_sex_mismatch":
                new = "2" if int(value[16]) % 2 else "1"
            elif rule == "excel_scientific":
                new = f"{int(value[:6]) / 1e5:.5f}E+17"
            elif rule == "ric_birth_mismatch":
                born = date(int(value[6:10]), int(value[10:12]), int(value[12:14])) + timedelta(days=1)
                new = born.strftime("%Y-%m-%d")
            elif rule == "length":
                new = df["姓名"][i].strip() + "（户主，已于2019年迁出，待核实" + "。" * 60 + "）"
            elif rule == "required":
                new = None
            elif rule == "duplicate":
                new = ids[at[0] - 1]
            else:
                new = "2023/13/45"
            if rule == "duplicate":  # the same person exported twice: the earlier row again, with another address
                first = df.row(at[0] - 1, named=True)
                df = df.with_columns(pl.when(pl.col("_i") == i).then(pl.lit(first[c], dtype=pl.String))
                                     .otherwise(pl.col(c)).alias(c) for c in ("姓名", "性别", "出生日期", "民族"))
            df = df.with_columns(pl.when(pl.col("_i") == i).then(pl.lit(new, dtype=pl.String)).otherwise(pl.col(col))
                                 .alias(col))
            problems.append({"row": i + 2, "field": col, "rule": rule})
    text = df.drop("_i", "_u", "_v").write_csv(line_terminator="\r\n")
    Path(path).write_bytes(text.encode("gbk"))
    return {"problems": problems, "rows": rows, "encoding": "gbk", "fixed_rows": [i + 2 for i in at]}


def _plain(value: str) -> str:
    """An ID number as the load normalises it (full-width digits, lowercase x)."""
    return unicodedata.normalize("NFKC", value).upper()
