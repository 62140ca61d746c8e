"""The demo city's population, generated in chunks, and the person-keyed department files built from it.

A person is generated once (deterministically from the seed and the chunk number) and appears with the
same citizen ID number and name in every source that holds them. Citizen ID numbers are valid GB 11643
numbers: a real GB/T 2260 division in force in the birth year (the city's own 441900 and its
predecessors 442502 / 442527 for most people, real divisions elsewhere for the rest), the birth date,
a sequence number whose parity is the gender, and the check character. They are unique across the
whole population (a running set of the numbers issued so far).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from gongshu.demo import data_gen as g

#: (lowest age, band width in years, share of the population)
AGE_BANDS = ((0, 15, 15), (15, 10, 11), (25, 10, 18), (35, 10, 17), (45, 10, 16), (55, 10, 12), (65, 20, 10),
             (85, 14, 1))
#: GB/T 3304: 汉族 and the most frequent others (壮 08, 回 03, 满 11, 土家 15, 苗 06, 瑶 13, 畲 22, 蒙古 02)
ETHNICITY = ("01", "08", "03", "11", "15", "06", "13", "22", "02")
ETHNICITY_W = (920, 25, 10, 8, 8, 8, 7, 7, 7)
#: the city's own division by the year it was in force (GB/T 2260 history of 东莞: 县 → 县级市 → 地级市)
HOME_HISTORY = ((1988, "441900"), (1985, "442502"), (0, "442527"))
LOCAL_SHARE = 0.8
SEQ_ROUNDS = 20


@dataclass
class Population:
    """Keeps the citizen ID numbers issued so far (17-digit bodies as int64) so every new one is unique."""

    seed: int
    issued: pl.Series | None = None

    def chunk(self, start: int, n: int, chunk_no: int) -> pl.DataFrame:
        return person_chunk(self, start, n, chunk_no)


def _birth_dates(n: int, keys: tuple) -> pl.Series:
    band = g.choice(tuple(range(len(AGE_BANDS))), n, *keys, "band", weights=[b[2] for b in AGE_BANDS])
    lo = pl.Series([b[0] for b in AGE_BANDS]).gather(band)
    width = pl.Series([b[1] for b in AGE_BANDS]).gather(band)
    days = ((lo + g.uniform(n, *keys, "age") * width) * 365.25).floor().cast(pl.Int64)
    return pl.select(g.days_ago(pl.lit(days)).alias("birth")).to_series()


def _regions(birth: pl.Series, keys: tuple) -> pl.Series:
    """A division code per person that was in force in the birth year."""
    n = len(birth)
    year = birth.dt.year().cast(pl.Int64)
    home = pl.select(pl.when(pl.lit(year) >= HOME_HISTORY[0][0]).then(pl.lit(HOME_HISTORY[0][1]))
                     .when(pl.lit(year) >= HOME_HISTORY[1][0]).then(pl.lit(HOME_HISTORY[1][1]))
                     .otherwise(pl.lit(HOME_HISTORY[2][1])).alias("r")).to_series()
    table = g.divisions().filter(~pl.col("code").str.ends_with("00") & pl.col("single"))
    gd = table.filter(pl.col("code").str.starts_with("44"))
    always = table.filter(pl.col("always"))["code"]
    elsewhere = pl.Series([None] * n, dtype=pl.String)
    for attempt in range(3):
        pool = gd if attempt == 0 else table
        idx = g.randint(n, 0, pool.height, *keys, "region", attempt)
        cand = pool.select(pl.col("code").gather(idx), pl.col("start").gather(idx), pl.col("end").gather(idx))
        ok = (cand["start"] <= year) & (year <= cand["end"])
        elsewhere = pl.select(pl.when(pl.lit(elsewhere).is_null() & pl.lit(ok)).then(pl.lit(cand["code"]))
                              .otherwise(pl.lit(elsewhere)).alias("r")).to_series()
    fallback = always.gather(g.randint(n, 0, len(always), *keys, "region-fallback"))
    elsewhere = elsewhere.fill_null(fallback)
    local = g.uniform(n, *keys, "local") < LOCAL_SHARE
    return pl.select(pl.when(pl.lit(local)).then(pl.lit(home)).otherwise(pl.lit(elsewhere)).alias("r")).to_series()


def person_chunk(pop: Population, start: int, n: int, chunk_no: int) -> pl.DataFrame:
    """``n`` persons numbered from ``start``: index, id, name, gender, birth, ethnicity, address, household …"""
    keys = (pop.seed, "person", chunk_no)
    male = g.uniform(n, *keys, "male") < 0.51
    birth = _birth_dates(n, keys)
    region = _regions(birth, keys)
    df = pl.DataFrame({"idx": pl.int_range(start, start + n, eager=True), "male": male, "birth": birth,
                       "region": region})
    head = pl.concat_str([pl.col("region"), pl.col("birth").dt.strftime("%Y%m%d")])
    seq = pl.Series([None] * n, dtype=pl.Int64)
    bad = pl.Series([True] * n)
    for attempt in range(SEQ_ROUNDS):
        fresh = g.randint(n, 0, 500, *keys, "seq", attempt) * 2 + male.cast(pl.Int64)
        seq = pl.select(pl.when(pl.lit(bad)).then(pl.lit(fresh)).otherwise(pl.lit(seq)).alias("s")).to_series()
        body = df.select(pl.concat_str([head, g.zpad(pl.lit(seq), 3)]).cast(pl.Int64).alias("b"))["b"]
        bad = body.is_duplicated()
        if pop.issued is not None:
            bad = bad | body.is_in(pop.issued.implode())
        if not bad.any():
            break
    else:  # practically unreachable: 20 rounds of 500 free sequence numbers per division and day
        raise RuntimeError("could not issue unique citizen ID numbers")
    pop.issued = body if pop.issued is None else pl.concat([pop.issued, body])
    body17 = pl.concat_str([head, g.zpad(pl.lit(seq), 3)])
    return df.with_columns(
        id=pl.concat_str([body17, g.ric_check(body17)]),
        name=g.name_exprs(n, *keys),
        alt_char=g.choice(tuple(g.GIVEN), n, *keys, "alt"),
        gender=pl.when(pl.col("male")).then(pl.lit("1")).otherwise(pl.lit("2")),
        ethnicity=g.choice(ETHNICITY, n, *keys, "eth", weights=ETHNICITY_W),
        address=g.addresses(n, *keys, "addr"),
        household=g.zpad(g.permute(pl.col("idx") * 10 // 28, 10**9, 387_420_489, 12_345), 9),
        hukou_type=pl.when(g.uniform(n, *keys, "hk") < 0.95).then(pl.lit("1")).otherwise(pl.lit("2")),
        age=((pl.lit(g.AS_OF) - pl.col("birth")).dt.total_days() // 365).cast(pl.Int64),
    )


#: share of rows with a deliberate defect that passes the load and that governance rules find (the loads'
#: own defects are rejected rows, listed in defects.parquet)
QUALITY_DEFECT_RATE = 0.004


@dataclass(frozen=True)
class Ctx:
    """What a builder needs besides the persons: date format, employer names, the chunk's random keys."""

    fmt: str
    employers: pl.Series
    keys: tuple

    def draw(self, df: pl.DataFrame, name: str) -> pl.DataFrame:
        """Add three uniform columns u, u2, u3 of this builder's own random stream."""
        return df.with_columns(u=g.uniform(df.height, *self.keys, name),
                               u2=g.uniform(df.height, *self.keys, name, 2),
                               u3=g.uniform(df.height, *self.keys, name, 3))


def _after(start: pl.Expr, frac: pl.Expr, as_of_days: int = 0) -> pl.Expr:
    """A date between ``start`` and the reference day, ``frac`` of the way."""
    span = (pl.lit(g.AS_OF) - start).dt.total_days() - as_of_days
    return start + pl.duration(days=(span.clip(0) * frac).floor().cast(pl.Int64))


def _d(expr: pl.Expr, fmt: str) -> pl.Expr:
    return expr.dt.strftime(fmt)


# Person-keyed department files: select → build (columns = the entry's item names in catalogue order) ------


def huji(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """户籍人口基本信息 (公安局): everyone."""
    df, fmt = ctx.draw(df, "huji"), ctx.fmt
    reg = pl.when(pl.col("u") < 0.6).then(pl.col("birth") + pl.duration(days=(pl.col("u2") * 60).cast(pl.Int64)))
    reg = reg.otherwise(_after(pl.col("birth"), pl.col("u2")))
    # a few registrations dated before the birth: the load accepts them (each value is a valid date), the
    # governance rule 出生日期 ≤ 登记日期 (时效性, timestamps in order) finds them
    reg = pl.when(pl.col("u3") < QUALITY_DEFECT_RATE).then(pl.col("birth") - pl.duration(days=400)).otherwise(reg)
    return df.select(pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"), pl.col("gender").alias("性别"),
                     _d(pl.col("birth"), fmt).alias("出生日期"), pl.col("ethnicity").alias("民族"),
                     pl.col("address").alias("户籍地址"), pl.col("household").alias("户号"),
                     pl.col("hukou_type").alias("户口类别"), _d(reg, fmt).alias("登记日期"))


def marriage(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """婚姻登记信息 (民政局): about 45 % — adults only."""
    df, fmt = ctx.draw(df, "marriage"), ctx.fmt
    d = df.filter((pl.col("age") >= 22) & (pl.col("u") < 0.58))
    status = pl.when(pl.col("u2") < 0.85).then(pl.lit("20")).when(pl.col("u2") < 0.95).then(pl.lit("40")) \
        .otherwise(pl.lit("22"))
    kind = pl.when(status == "40").then(pl.lit("离婚登记")).otherwise(pl.lit("结婚登记"))
    when = _after(pl.col("birth") + pl.duration(days=22 * 366), pl.col("u3"))
    return d.select(pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"), status.alias("婚姻状况"),
                    _d(when, fmt).alias("婚姻登记日期"), pl.lit("南湾市民政局婚姻登记处").alias("登记机关"),
                    kind.alias("登记类型"),
                    pl.concat_str([pl.when(status == "40").then(pl.lit("L")).otherwise(pl.lit("J")),
                                   pl.lit("441900-"), when.dt.year().cast(pl.String), pl.lit("-"),
                                   g.zpad(pl.col("idx") % 1_000_000, 6)]).alias("证件字号"))


def social_insurance(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """社会保险参保信息 (人社局): about 70 % — people of working age and pensioners."""
    df, fmt = ctx.draw(df, "social"), ctx.fmt
    d = df.filter((pl.col("age") >= 16) & (pl.col("u") < 0.82))
    status = pl.when(pl.col("u2") < 0.9).then(pl.lit("1")).when(pl.col("u2") < 0.97).then(pl.lit("2")) \
        .otherwise(pl.lit("3"))
    kind = pl.when(pl.col("u3") < 0.8).then(pl.lit("110")).when(pl.col("u3") < 0.9).then(pl.lit("170")) \
        .otherwise(pl.lit("120"))
    emp = pl.lit(ctx.employers).gather((pl.col("idx") * 7919) % len(ctx.employers))
    return d.select(pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"), status.alias("社会保险参保状态"),
                    kind.alias("险种"), _d(_after(pl.col("birth") + pl.duration(days=18 * 366), pl.col("u3")), fmt)
                    .alias("参保日期"), emp.alias("参保单位名称"))


def medical_insurance(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """基本医疗保险参保信息 (医疗保障局): about 90 %."""
    df, fmt = ctx.draw(df, "medical"), ctx.fmt
    d = df.filter(pl.col("u") < 0.9)
    kind = pl.when((pl.col("age") >= 18) & (pl.col("age") < 60) & (pl.col("u2") < 0.6)).then(pl.lit("职工医保")) \
        .otherwise(pl.lit("城乡居民医保"))
    return d.select(pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"),
                    pl.when(pl.col("u3") < 0.95).then(pl.lit("1")).otherwise(pl.lit("2")).alias("基本医疗保险参保状态"),
                    kind.alias("参保类型"),
                    _d(_after(pl.max_horizontal(pl.col("birth"), pl.lit(date(1999, 1, 1))), pl.col("u3")), fmt)
                    .alias("参保日期"))


def dibao(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """最低生活保障对象信息 (民政局): about 2 %."""
    df, fmt = ctx.draw(df, "dibao"), ctx.fmt
    d = df.filter(pl.col("u") > 0.98)
    people = (pl.col("u2") * 4).floor().cast(pl.Int64) + 1
    return d.select(pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"), pl.lit("是").alias("最低生活保障对象标识"),
                    people.cast(pl.String).alias("保障人数"), g.money(people * 118_000).alias("月保障金额"),
                    _d(_after(pl.lit(g.AS_OF) - pl.duration(days=3 * 365), pl.col("u3")), fmt).alias("认定日期"))


def elderly_allowance(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """户籍人口高龄津贴发放名单 (民政局): everyone aged 80 and over, the month's allowance by age band — a list
    the city publishes (open data, names and ID numbers masked)."""
    df = ctx.draw(df, "elderly")
    d = df.filter(pl.col("age") >= 80)
    band = pl.when(pl.col("age") >= 100).then(pl.lit("100岁及以上")).when(pl.col("age") >= 90).then(pl.lit("90-99岁")) \
        .otherwise(pl.lit("80-89岁"))
    cents = pl.when(pl.col("age") >= 100).then(pl.lit(100_000)).when(pl.col("age") >= 90).then(pl.lit(30_000)) \
        .otherwise(pl.lit(10_000))
    town = pl.col("address").str.extract(r"市(.+?(?:街道|镇))", 1).fill_null("")
    return d.select(pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"), band.alias("年龄段"),
                    town.alias("所在镇街"), g.money(cents).alias("月津贴金额"),
                    pl.lit(g.AS_OF.strftime("%Y-%m")).alias("发放年月"))


def disability(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """残疾人证信息 (残联): about 3 %; the certificate number is the ID number + category + grade (20 chars)."""
    df, fmt = ctx.draw(df, "disability"), ctx.fmt
    d = df.filter(pl.col("u2") > 0.97)
    cat = ((pl.col("u3") * 7).floor().cast(pl.Int64) + 1).cast(pl.String)
    grade = ((pl.col("u") * 4).floor().cast(pl.Int64) + 1).cast(pl.String)
    return d.select(pl.concat_str([pl.col("id"), cat, grade]).alias("残疾人证号"), pl.col("id").alias("公民身份号码"),
                    pl.col("name").alias("姓名"), cat.alias("残疾类别"), grade.alias("残疾等级"),
                    _d(_after(pl.col("birth"), pl.col("u3")), fmt).alias("发证日期"))


def housing_fund(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """住房公积金缴存信息 (公积金中心): about 30 % — employees."""
    df = ctx.draw(df, "fund")
    d = df.filter((pl.col("age") >= 18) & (pl.col("age") < 65) & (pl.col("u3") < 0.45))
    status = pl.when(pl.col("u2") < 0.85).then(pl.lit("01")).when(pl.col("u2") < 0.97).then(pl.lit("02")) \
        .otherwise(pl.lit("03"))
    emp = pl.lit(ctx.employers).gather((pl.col("idx") * 104_729) % len(ctx.employers))
    account = pl.concat_str([pl.lit("4419"), g.zpad(g.permute(pl.col("idx"), 10**12, 999_999_937, 4_242), 12)])
    # a few monthly contributions keyed in cents as yuan (100× too much): valid amounts for the load, out of the
    # range the governance rule allows (准确性)
    cents = ((pl.col("u") * 400_000).floor() + 20_000).cast(pl.Int64)
    cents = pl.when(pl.col("u2") > 1 - QUALITY_DEFECT_RATE).then(cents * 100).otherwise(cents)
    return d.select(account.alias("住房公积金个人账号"), pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"),
                    status.alias("住房公积金缴存状态"), g.money(cents).alias("月缴存额"), emp.alias("缴存单位"))


OCCUPATIONS = ("电工", "焊工", "育婴员", "保育员", "中式烹调师", "美容师", "汽车维修工", "电子商务师", "健康管理师",
               "人力资源管理师", "企业人力资源管理师", "茶艺师", "钳工", "物流服务师", "保安员")
LEVELS = ("五级/初级工", "四级/中级工", "三级/高级工", "二级/技师", "一级/高级技师")


def qualification(df: pl.DataFrame, ctx: Ctx) -> pl.DataFrame:
    """职业资格证书信息 (人社局): about 5 % of adults hold a certificate."""
    df, fmt = ctx.draw(df, "qualification"), ctx.fmt
    d = df.filter((pl.col("age") >= 18) & (pl.col("u2") < 0.06) & (pl.col("u3") > 0.4))
    occ = g.pick(OCCUPATIONS, pl.col("u2") / 0.06)
    lvl = g.pick(LEVELS, pl.col("u") ** 1.5)
    issued = _after(pl.col("birth") + pl.duration(days=18 * 366), pl.col("u"))
    number = pl.concat_str([issued.dt.year().cast(pl.String), pl.lit("4419"), g.zpad(pl.col("idx"), 10)])
    return d.select(number.alias("职业资格证书编号"), pl.col("id").alias("公民身份号码"), pl.col("name").alias("姓名"),
                    occ.alias("职业名称"), lvl.alias("等级"), _d(issued, fmt).alias("发证日期"))
