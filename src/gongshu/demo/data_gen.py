"""Vectorised building blocks for the demo city's synthetic resource data.

Randomness comes from ``pyarrow.compute.random`` with an initializer derived from named keys
(seed, chunk, stream), so every column is reproducible on its own and nothing loops per row.
Identifiers follow the standards: GB 11643 citizen ID numbers over real GB/T 2260 divisions (the
python-stdnum table ``stdnum/cn/loc.dat``, including the years each code was in force), GB 11714
organisation codes and GB 32100 unified social credit codes.
"""

from __future__ import annotations

import hashlib
from datetime import date
from functools import cache
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import stdnum

#: the demo's reference day: no generated birth or registration date is later than this
AS_OF = date(2026, 6, 30)
#: the demo city's home division (GB/T 2260: 441900, in force since 1988)
HOME_REGION = "441900"
HOME_SINCE = 1988
#: the demo city's area: (west, south, east, north) in degrees
BBOX = (113.2, 22.9, 113.6, 23.3)

RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RIC_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
#: six-digit codes that are no GB/T 2260 division (used for deliberate defects)
FAKE_REGIONS = ("441999", "449901", "990101", "123456")

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程魏苏吕丁"
            "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
            "戴莫孔向汤")
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红梅鑫波斌宇浩凯健俊帆帅旭宁龙林欣佳"
         "颖雪琳晨婷倩瑶怡嘉子轩涵梓睿博文志国建新春海峰云飞亮东辉斌成荣晓慧琴兰凤洁振宏鹏彬雨思语"
         "然若诗雅琪一诺可馨晗昊天泽宸铭瑞豪晴悦")
DISTRICTS = ("莞城街道", "东湖街道", "南城街道", "白沙镇", "西岭镇", "北港镇", "新桥镇", "石湖镇", "湾区街道")
ROADS = ("人民路", "建设路", "解放路", "中山路", "新华路", "工业大道", "滨海大道", "学府路", "花园街", "榕树街",
         "东湖路", "鸿福路", "环城路", "运河路", "振兴路")


def _init(*keys: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(keys).encode(), digest_size=8).digest(), "little") >> 1


def uniform(n: int, *keys: object) -> pl.Series:
    """``n`` floats in [0, 1), the same for the same keys."""
    return pl.Series(pc.random(n, initializer=_init(*keys)))


def randint(n: int, lo: int, hi: int, *keys: object) -> pl.Series:
    """``n`` integers in [lo, hi)."""
    return ((uniform(n, *keys) * (hi - lo)).floor().cast(pl.Int64) + lo).clip(lo, hi - 1)


def choice(pool: tuple | list, n: int, *keys: object, weights: tuple | list | None = None) -> pl.Series:
    """``n`` picks from ``pool`` (optionally weighted)."""
    w = weights or [1] * len(pool)
    total = float(sum(w))
    acc, cum = 0.0, []
    for x in w:
        acc += x
        cum.append(acc / total)
    cum[-1] = 1.0
    idx = pl.Series(cum).search_sorted(uniform(n, *keys), side="right").clip(0, len(pool) - 1)
    return pl.Series(list(pool)).gather(idx)


def pick(pool: tuple | list, u: pl.Expr) -> pl.Expr:
    """An expression picking from ``pool`` by a uniform [0, 1) expression."""
    return pl.lit(pl.Series(list(pool))).gather((u * len(pool)).floor().cast(pl.Int64).clip(0, len(pool) - 1))


def zpad(expr: pl.Expr, width: int) -> pl.Expr:
    return expr.cast(pl.String).str.pad_start(width, "0")


def days_ago(days: pl.Expr, as_of: date = AS_OF) -> pl.Expr:
    return pl.lit(as_of) - pl.duration(days=days)


def money(cents: pl.Expr) -> pl.Expr:
    """Integer cents → ``"1234.50"`` (type Y, 2 decimals)."""
    return pl.concat_str([(cents // 100).cast(pl.String), pl.lit("."), zpad(cents % 100, 2)])


def decimal(value: pl.Expr, places: int) -> pl.Expr:
    """A float with a fixed number of decimals as text, e.g. ``113.254100``."""
    scaled = (value * 10**places).round(0).cast(pl.Int64)
    return pl.concat_str([(scaled // 10**places).cast(pl.String), pl.lit("."),
                          zpad(scaled % 10**places, places)])


# Identifiers ----------------------------------------------------------------------------------

def ric_check(body17: pl.Expr) -> pl.Expr:
    """The GB 11643 check character of 17-digit bodies."""
    total = pl.sum_horizontal([body17.str.slice(i, 1).cast(pl.Int64) * w for i, w in enumerate(RIC_WEIGHTS)])
    return (total % 11).replace_strict(dict(enumerate(RIC_CHECK)), return_dtype=pl.String)


def org_code_check(body8: pl.Expr) -> pl.Expr:
    """The GB 11714 check character of 8-character organisation-code bodies (digits, A–Z)."""
    values = {c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    total = pl.sum_horizontal([body8.str.slice(i, 1).replace_strict(values, return_dtype=pl.Int64) * w
                               for i, w in enumerate(ORG_WEIGHTS)])
    check = 11 - total % 11
    return check.replace_strict({10: "X", 11: "0"}, default=check.cast(pl.String), return_dtype=pl.String)


def uscc_check(body17: pl.Expr) -> pl.Expr:
    """The GB 32100 check character of 17-character bodies."""
    values = {c: i for i, c in enumerate(USCC_ALPHABET)}
    total = pl.sum_horizontal([body17.str.slice(i, 1).replace_strict(values, return_dtype=pl.Int64) * w
                               for i, w in enumerate(USCC_WEIGHTS)])
    return ((31 - total % 31) % 31).replace_strict(dict(enumerate(USCC_ALPHABET)), return_dtype=pl.String)


def base31(number: pl.Expr, width: int) -> pl.Expr:
    """Encode non-negative integers in the USCC alphabet, fixed width."""
    digits = dict(enumerate(USCC_ALPHABET))
    parts = [((number // 31**p) % 31).replace_strict(digits, return_dtype=pl.String) for p in range(width - 1, -1, -1)]
    return pl.concat_str(parts)


def permute(index: pl.Expr, modulus: int, mult: int, add: int) -> pl.Expr:
    """A bijection of [0, modulus): ``(index * mult + add) % modulus`` (mult coprime to modulus)."""
    return (index * mult + add) % modulus


# GB/T 2260 divisions with the years each code was in force -----------------------------------

@cache
def divisions() -> pl.DataFrame:
    """Every six-digit code in python-stdnum's GB/T 2260 table with the first and last year it was valid.

    Columns: ``code``, ``start`` (0 when always), ``end`` (9999 when still in force), ``always``, ``single``
    (one name only: a code whose names have gaps between their years is not ``single``).
    """
    path = Path(stdnum.__file__).parent / "cn" / "loc.dat"
    codes, starts, ends, always, single = [], [], [], [], []
    province = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        part, _, props = line.strip().partition(" ")
        names = props.split("=", 1)[1].strip('"').split(",")
        lo, hi, free = 9999, 0, False
        for name in names:
            if not name.startswith("["):
                free = True
                continue
            s, e = name[1:].split("]")[0].split("-")
            lo, hi = min(lo, int(s) if s else 0), max(hi, int(e) if e else 9999)
        codes.append(province + part)
        starts.append(0 if free else lo)
        ends.append(9999 if free else hi)
        always.append(free)
        single.append(len(names) == 1)
    return pl.DataFrame({"code": codes, "start": starts, "end": ends, "always": always, "single": single})


@cache
def region_pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(county-level codes of Guangdong always in force, county-level codes elsewhere always in force)."""
    d = divisions().filter(pl.col("always") & ~pl.col("code").str.ends_with("00"))
    gd = tuple(d.filter(pl.col("code").str.starts_with("44"))["code"].to_list())
    other = tuple(d.filter(~pl.col("code").str.starts_with("44"))["code"].to_list())
    return gd, other


def name_exprs(n: int, *keys: object) -> pl.Series:
    """Chinese personal names: a weighted surname and one or two given-name characters."""
    weights = [max(1, 30 - i // 4) for i in range(len(SURNAMES))]
    surname = choice(tuple(SURNAMES) + COMPOUND_SURNAMES, n, *keys, "surname",
                     weights=weights + [1] * len(COMPOUND_SURNAMES))
    g1 = choice(tuple(GIVEN), n, *keys, "g1")
    g2 = choice(tuple(GIVEN), n, *keys, "g2")
    two = uniform(n, *keys, "len") < 0.7
    return pl.select(pl.concat_str([pl.lit(surname), pl.lit(g1), pl.when(pl.lit(two)).then(pl.lit(g2)).otherwise(
        pl.lit(""))]).alias("name")).to_series()


def variant_name(name: pl.Expr, other_char: pl.Expr) -> pl.Expr:
    """The same person's name as a second source misspells it: the last character replaced."""
    stem = name.str.slice(0, name.str.len_chars() - 1)
    last = name.str.slice(-1, 1)
    alt = pl.when(other_char == last).then(pl.lit("之")).otherwise(other_char)
    return pl.concat_str([stem, alt])


def addresses(n: int, *keys: object, city: str = "南湾市") -> pl.Series:
    """Street addresses inside the demo city."""
    district = choice(DISTRICTS, n, *keys, "district")
    road = choice(ROADS, n, *keys, "road")
    number = randint(n, 1, 400, *keys, "no")
    building = randint(n, 1, 30, *keys, "bldg")
    room = randint(n, 101, 2999, *keys, "room")
    return pl.select(pl.concat_str([pl.lit(city), pl.lit(district), pl.lit(road), pl.lit(number).cast(pl.String),
                                    pl.lit("号"), pl.lit(building).cast(pl.String), pl.lit("栋"),
                                    pl.lit(room).cast(pl.String), pl.lit("室")]).alias("a")).to_series()
