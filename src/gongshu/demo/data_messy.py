"""A realistic messy department export: 户籍人口基本信息 as a GBK CSV with deliberate problems.

What a civil servant gets from an old system: GBK with CRLF line ends, dates written three ways
(20230105, 2023-01-05, 2023/01/05 — all acceptable), names with stray spaces around them (trimmed,
acceptable) — and eight real problems of different kinds, each at a known row, so a test can check
the validation report row by row; ``fixed=True`` writes the same rows with the problems corrected.
"""

from __future__ import annotations

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
    ("性别", "code", "gender written 男/女 instead of the GB/T 2261.1 code"),
    ("姓名", "length", "a 60-character name (a note pasted into the name cell)"),
    (ID, "required", "empty required ID number"),
    (ID, "duplicate", "the ID number of an earlier row again"),
    ("登记日期", "date", "the date 2023/13/45"),
)
MIN_ROWS = 3 * len(PROBLEMS) + 2


def _mixed_dates(col: str, u: pl.Expr) -> pl.Expr:
    c = pl.col(col)
    iso = pl.concat_str([c.str.slice(0, 4), pl.lit("-"), c.str.slice(4, 2), pl.lit("-"), c.str.slice(6, 2)])
    slash = pl.concat_str([c.str.slice(0, 4), pl.lit("/"), c.str.slice(4, 2), pl.lit("/"), c.str.slice(6, 2)])
    return pl.when(u < 1 / 3).then(c).when(u < 2 / 3).then(iso).otherwise(slash)


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
    df = df.with_columns(_mixed_dates("出生日期", pl.col("_u")), _mixed_dates("登记日期", 1 - pl.col("_u")),
                         pl.when(pl.col("_v") < 0.1).then(pl.concat_str([pl.lit(" "), pl.col("姓名"), pl.lit("  ")]))
                         .otherwise(pl.col("姓名")).alias("姓名"))
    step = rows // (len(PROBLEMS) + 1)
    at = [step * (k + 1) for k in range(len(PROBLEMS))]
    problems = []
    if not fixed:
        ids = df[ID]
        for (col, rule, _), i in zip(PROBLEMS, at, strict=True):
            value = ids[i]
            if rule == "ric_checksum":
                new = value[:17] + dict(zip("0123456789X", "123456789X0", strict=True))[value[17]]
            elif rule in ("ric_region", "ric_birth"):
                body = ("441999" + value[6:17]) if rule == "ric_region" else (value[:10] + "0230" + value[14:17])
                new = pl.select(pl.concat_str([pl.lit(body), g.ric_check(pl.lit(body))])).item()
            elif rule == "code":
                new = "男" if df["性别"][i] == "1" else "女"
            elif rule == "length":
                new = df["姓名"][i].strip() + "（户主，已于2019年迁出，待核实" + "。" * 60 + "）"
            elif rule == "required":
                new = None
            elif rule == "duplicate":
                new = ids[at[0] - 1]
            else:
                new = "2023/13/45"
            df = df.with_columns(pl.when(pl.col("_i") == i).then(pl.lit(new, dtype=pl.String)).otherwise(pl.col(col))
                                 .alias(col))
            problems.append({"row": i + 2, "field": col, "rule": rule})
    text = df.drop("_i", "_u", "_v").write_csv(line_terminator="\r\n")
    Path(path).write_bytes(text.encode("gbk"))
    return {"problems": problems, "rows": rows, "encoding": "gbk", "fixed_rows": [i + 2 for i in at]}
