"""The demo city's legal entities (USCC-keyed files) and its spatial resources.

Every entity has a valid unified social credit code (GB 32100): registration authority and type
(91 enterprise; 51/52/53 social organisations), a real six-digit division (mostly the city's 441900),
a GB 11714 organisation code with its own check character (``MA`` + six characters for newer
registrations, eight digits for older ones), and the USCC check character. Codes are unique by
construction: the organisation-code body is a bijection of the entity's number.
"""

from __future__ import annotations

import polars as pl

from gongshu.demo import data_gen as g
from gongshu.demo.city import ORGS

BRAND = "华信达通宏泰恒盛鑫源丰兴隆富嘉瑞安康德利创新科美佳锦天海骏星辰晟昊宇博诚远鼎盈润腾飞龙凤"
INDUSTRY = ("科技", "贸易", "电子", "五金制品", "塑胶制品", "物流", "餐饮管理", "建材", "服装", "家具", "模具",
            "印刷", "食品", "生物科技", "新能源", "智能装备")
SCOPE = {"科技": "软件开发；信息技术咨询服务", "贸易": "日用百货销售；五金产品批发", "餐饮管理": "餐饮服务；餐饮管理",
         "食品": "食品生产；食品销售", "物流": "普通货物仓储服务；道路货物运输"}
FORMS = ("有限公司", "有限责任公司", "股份有限公司")
SOCIAL = {"1": ("51", ("协会", "商会", "促进会", "研究会")), "2": ("52", ("服务中心", "培训学校", "养老院", "社会工作服务社")),
          "3": ("53", ("基金会", "慈善基金会"))}
STATUS = ("存续", "在业", "吊销", "注销")
FOOD_ITEMS = ("预包装食品销售（含冷藏冷冻食品）", "散装食品销售", "热食类食品制售", "冷食类食品制售", "糕点类食品制售",
              "自制饮品制售")
NAME_SPACE = len(BRAND) ** 2 * len(INDUSTRY) * len(FORMS)


def entity_base(n: int, seed: int) -> pl.DataFrame:
    """All ``n`` entities: idx, social (type 1–3 or null), uscc, name, established, capital, status, address …"""
    keys = (seed, "entity")
    gd = g.divisions().filter(pl.col("code").str.starts_with("44") & ~pl.col("code").str.ends_with("00")
                              & pl.col("single") & (pl.col("end") == 9999))["code"]
    df = pl.DataFrame({"idx": pl.int_range(0, n, eager=True), "u": g.uniform(n, *keys, "kind"),
                       "u2": g.uniform(n, *keys, "u2"), "u3": g.uniform(n, *keys, "u3"),
                       "other_region": gd.gather(g.randint(n, 0, len(gd), *keys, "region")),
                       "address": g.addresses(n, *keys, "addr"),
                       "u4": g.uniform(n, *keys, "u4")})
    social_type = pl.when(pl.col("u") < 0.03).then(pl.lit("1")).when(pl.col("u") < 0.045).then(pl.lit("2")) \
        .when(pl.col("u") < 0.05).then(pl.lit("3"))
    ma = pl.col("idx") % 5 < 2
    ma_no = g.permute((pl.col("idx") // 5) * 2 + pl.col("idx") % 5, 31**6, 7_777_777, 123_457)
    digit_no = g.permute((pl.col("idx") // 5) * 3 + pl.col("idx") % 5 - 2, 10**8, 43_046_721, 10_000_019)
    body8 = pl.when(ma).then(pl.concat_str([pl.lit("MA"), g.base31(ma_no, 6)])).otherwise(g.zpad(digit_no, 8))
    df = df.with_columns(social=social_type, body8=body8,
                         region=pl.when(pl.col("u2") < 0.95).then(pl.lit(g.HOME_REGION)).otherwise(pl.col("other_region")))
    reg_type = pl.col("social").replace_strict({k: v[0] for k, v in SOCIAL.items()}, default=pl.lit("91"),
                                               return_dtype=pl.String)
    head = pl.concat_str([reg_type, pl.col("region"), pl.col("body8"), g.org_code_check(pl.col("body8"))])
    p = g.permute(pl.col("idx"), NAME_SPACE, 100_003, 777)
    b1 = g.pick(tuple(BRAND), (p % len(BRAND)) / len(BRAND))
    b2 = g.pick(tuple(BRAND), ((p // len(BRAND)) % len(BRAND)) / len(BRAND))
    ind_i = (p // len(BRAND) ** 2) % len(INDUSTRY)
    form = g.pick(FORMS, ((p // (len(BRAND) ** 2 * len(INDUSTRY))) % len(FORMS)) / len(FORMS))
    industry = g.pick(INDUSTRY, ind_i / len(INDUSTRY))
    suffix = pl.when(pl.col("idx") >= NAME_SPACE).then(
        pl.concat_str([pl.lit("第"), (pl.col("idx") // NAME_SPACE).cast(pl.String), pl.lit("分公司")])).otherwise(pl.lit(""))
    social_word = pl.when(pl.col("social") == "1").then(g.pick(SOCIAL["1"][1], pl.col("u3"))) \
        .when(pl.col("social") == "2").then(g.pick(SOCIAL["2"][1], pl.col("u3"))).otherwise(g.pick(SOCIAL["3"][1], pl.col("u3")))
    name = pl.when(pl.col("social").is_null()) \
        .then(pl.concat_str([pl.lit("南湾市"), b1, b2, industry, form, suffix])) \
        .otherwise(pl.concat_str([pl.lit("南湾市"), b1, b2, industry, social_word, suffix]))
    established = g.days_ago((pl.col("u3") * 35 * 365).floor().cast(pl.Int64) + 30)
    return df.with_columns(
        uscc=pl.concat_str([head, g.uscc_check(head)]), name=name, industry=industry, form=form,
        established=established, capital_cents=((pl.col("u2") * pl.col("u3") * 5000 + 10) * 100).floor().cast(pl.Int64),
        status=pl.when(pl.col("u4") < 0.88).then(pl.lit(STATUS[0])).when(pl.col("u4") < 0.93).then(pl.lit(STATUS[1]))
        .when(pl.col("u4") < 0.96).then(pl.lit(STATUS[2])).otherwise(pl.lit(STATUS[3])),
    ).drop("body8", "other_region")


def _reps(df: pl.DataFrame, reps: pl.Series) -> pl.Expr:
    return pl.lit(reps).gather((pl.col("idx") * 31) % len(reps))


def enterprises(base: pl.DataFrame, reps: pl.Series, fmt: str) -> pl.DataFrame:
    """企业登记基本信息 (市场监管局, the legal source): every enterprise."""
    d = base.filter(pl.col("social").is_null())
    scope = pl.col("industry").replace_strict(SCOPE, default=pl.concat_str([pl.col("industry"), pl.lit("产品研发、生产、销售")]),
                                              return_dtype=pl.String)
    office = pl.when(pl.col("u3") < 0.7).then(pl.lit("南湾市市场监督管理局")) \
        .otherwise(pl.concat_str([pl.lit("南湾市市场监督管理局"), pl.col("address").str.slice(3, 2), pl.lit("分局")]))
    return d.select(pl.col("uscc").alias("统一社会信用代码"), pl.col("name").alias("企业名称"), _reps(d, reps).alias("法定代表人"),
                    g.money(pl.col("capital_cents")).alias("注册资本"), pl.col("established").dt.strftime(fmt).alias("成立日期"),
                    pl.col("status").alias("登记状态"), pl.col("address").alias("住所"), scope.alias("经营范围"),
                    office.alias("登记机关"))


def social_orgs(base: pl.DataFrame, reps: pl.Series, fmt: str) -> pl.DataFrame:
    """社会组织登记信息 (民政局): social organisations (about 5 % of entities)."""
    d = base.filter(pl.col("social").is_not_null())
    supervisors = tuple(o.name for o in ORGS if o.kind == "department")
    return d.select(pl.col("uscc").alias("统一社会信用代码"), pl.col("name").alias("社会组织名称"),
                    pl.col("social").alias("社会组织类型"), _reps(d, reps).alias("法定代表人"),
                    pl.col("established").dt.strftime(fmt).alias("登记日期"),
                    g.pick(supervisors, pl.col("u2")).alias("业务主管单位"), pl.col("address").alias("住所"))


def tax_a_list(base: pl.DataFrame, reps: pl.Series, fmt: str) -> pl.DataFrame:
    """纳税信用A级纳税人名单 (税务局): about 10 % of enterprises in good standing."""
    d = base.filter(pl.col("social").is_null() & pl.col("status").is_in(["存续", "在业"]) & (pl.col("u3") > 0.88))
    return d.select(pl.col("uscc").alias("统一社会信用代码"), pl.col("name").alias("企业名称"),
                    pl.lit("A").alias("纳税信用等级"), pl.lit("2025").alias("评价年度"))


TAX_KINDS = ("增值税", "企业所得税", "个人所得税（代扣代缴）", "城镇土地使用税", "房产税")


def tax_arrears(base: pl.DataFrame, reps: pl.Series, fmt: str) -> pl.DataFrame:
    """欠税公告信息 (税务局): about 3 % of enterprises; a few of them are also on the A-level list (the
    list is last year's, the arrears this quarter's), which the credit library shows side by side."""
    d = base.filter(pl.col("social").is_null() & ((pl.col("u2") < 0.03) | ((pl.col("u3") > 0.88) & (pl.col("u") < 0.02))))
    amount = ((pl.col("u") * 37 + pl.col("u2") * 11) % 1 * 2_000_000 + 1_000).round(2)
    return d.select(pl.col("uscc").alias("统一社会信用代码"), pl.col("name").alias("企业名称"), _reps(d, reps).alias("法定代表人"),
                    g.pick(TAX_KINDS, pl.col("u")).alias("欠税税种"), amount.cast(pl.String).alias("欠税余额"),
                    g.days_ago((pl.col("u2") * 300).floor().cast(pl.Int64) + 1).dt.strftime(fmt).alias("公告日期"))


PENALTY_KINDS = (("虚假宣传", "责令停止违法行为，罚款人民币"), ("销售不合格产品", "没收违法所得，罚款人民币"),
                 ("未按规定公示年度报告", "警告，罚款人民币"), ("食品安全违法", "没收违法所得，罚款人民币"),
                 ("无照经营", "责令改正，罚款人民币"), ("商标侵权", "没收侵权商品，罚款人民币"))


def market_penalties(base: pl.DataFrame, reps: pl.Series, fmt: str) -> pl.DataFrame:
    """市场监管行政处罚信息 (市场监管局): decisions against about 2 % of enterprises, a third of them with a
    second decision; some are also on the A-level list or the tax-arrears notices (a credit profile then
    shows both sides). Keyed by the decision number, unique by construction (year + entity number + n)."""
    d = base.filter(pl.col("social").is_null() & (pl.col("u4") * 7 % 1 < 0.02))
    d = pl.concat([d.with_columns(n=pl.lit(1)), d.filter(pl.col("u2") * 13 % 1 < 0.33).with_columns(n=pl.lit(2))])
    u = (pl.col("u") * 17 + pl.col("n") * 0.37) % 1
    on = g.days_ago(((pl.col("u4") * 29 + pl.col("n") * 0.41) % 1 * 700).floor().cast(pl.Int64) + 1)
    number = pl.concat_str([pl.lit("南市监罚〔"), on.dt.year().cast(pl.String), pl.lit("〕"),
                            g.zpad(pl.col("idx") * 2 + pl.col("n") - 1, 7), pl.lit("号")])
    kind = g.pick(tuple(k for k, _ in PENALTY_KINDS), u)
    verdict = g.pick(tuple(v for _, v in PENALTY_KINDS), u)
    fine = ((pl.col("u2") * 31 + pl.col("n") * 0.29) % 1 * 200).floor().cast(pl.Int64) * 1000 + 2000
    return d.sort("idx", "n").select(
        number.alias("决定书文号"), pl.col("uscc").alias("统一社会信用代码"), pl.col("name").alias("企业名称"),
        kind.alias("违法行为类型"), pl.concat_str([verdict, fine.cast(pl.String), pl.lit("元")]).alias("处罚内容"),
        on.dt.strftime(fmt).alias("处罚日期"))


def food_licences(base: pl.DataFrame, reps: pl.Series, fmt: str) -> pl.DataFrame:
    """食品经营许可信息 (市场监管局): certificates held by about 15 % of enterprises."""
    d = base.filter(pl.col("social").is_null() & (pl.col("u2") > 0.85))
    number = pl.concat_str([pl.lit("JY"), ((pl.col("idx") % 3) + 1).cast(pl.String), pl.col("region"),
                            g.zpad(pl.col("idx") % 1_000_000, 6), ((pl.col("idx") // 1_000_000) % 10).cast(pl.String)])
    until = g.days_ago(-((pl.col("u") * 5 * 365).floor().cast(pl.Int64) + 1))
    return d.select(number.alias("许可证编号"), pl.col("uscc").alias("统一社会信用代码"), pl.col("name").alias("经营者名称"),
                    g.pick(FOOD_ITEMS, pl.col("u3")).alias("经营项目"), until.dt.strftime(fmt).alias("有效期至"))


# Spatial ---------------------------------------------------------------------------------------

SHELTER_PARKS = ("人民公园", "中心广场", "体育中心", "第一中学", "实验小学", "滨江公园", "文化广场", "植物园", "湿地公园",
                 "会展中心")
SHELTER_TYPES = ("公园绿地", "广场", "学校操场", "体育场馆")
LAND_USE = ("0701", "0901", "1001", "1101", "0801", "1401")


def _lon_lat(n: int, keys: tuple) -> tuple[pl.Series, pl.Series]:
    west, south, east, north = g.BBOX
    margin = 0.01
    lon = g.uniform(n, *keys, "lon") * (east - west - 2 * margin) + west + margin
    lat = g.uniform(n, *keys, "lat") * (north - south - 2 * margin) + south + margin
    return lon, lat


#: mainland mobile prefixes (the managers' numbers in 应急避难场所信息: a planted personal-information finding)
MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "158", "159", "186", "187", "188", "189", "199")


def shelters(n: int, seed: int) -> pl.DataFrame:
    """应急避难场所信息 (应急管理局): shelters with 经度/纬度 inside the city's bounding box, and the managers' mobile
    numbers in an item not marked personal (the recognizers find them)."""
    keys = (seed, "shelter")
    lon, lat = _lon_lat(n, keys)
    df = pl.DataFrame({"i": pl.int_range(0, n, eager=True), "lon": lon, "lat": lat,
                       "district": g.choice(g.DISTRICTS, n, *keys, "d"), "park": g.choice(SHELTER_PARKS, n, *keys, "p"),
                       "kind": g.choice(SHELTER_TYPES, n, *keys, "k"), "address": g.addresses(n, *keys, "a"),
                       "cap": g.randint(n, 500, 20_000, *keys, "c"),
                       "mobile_prefix": g.choice(MOBILE_PREFIXES, n, *keys, "mp"),
                       "mobile_rest": g.randint(n, 0, 99_999_999, *keys, "mr")})
    return df.select(pl.concat_str([pl.col("district"), pl.col("park"), pl.lit("应急避难场所（"),
                                    (pl.col("i") + 1).cast(pl.String), pl.lit("号）")]).alias("场所名称"),
                     pl.col("kind").alias("场所类型"), pl.col("address").alias("地址"),
                     pl.col("cap").cast(pl.String).alias("可容纳人数"), g.decimal(pl.col("lon"), 6).alias("经度"),
                     g.decimal(pl.col("lat"), 6).alias("纬度"),
                     pl.concat_str(pl.col("mobile_prefix"), g.zpad(pl.col("mobile_rest"), 8)).alias("管理人联系电话"))


def parcels(n: int, seed: int) -> pl.DataFrame:
    """宗地信息 (自然资源局): land parcels, each a quadrilateral as WKT (空间范围) and its boundary points."""
    keys = (seed, "parcel")
    cx, cy = _lon_lat(n, keys)
    df = pl.DataFrame({"i": pl.int_range(0, n, eager=True), "cx": cx, "cy": cy,
                       "w": g.uniform(n, *keys, "w") * 0.0025 + 0.0003, "h": g.uniform(n, *keys, "h") * 0.0025 + 0.0003,
                       "skew": (g.uniform(n, *keys, "s") - 0.5) * 0.0004, "state": g.uniform(n, *keys, "st") < 0.8,
                       "use": g.choice(LAND_USE, n, *keys, "use")})
    x1, x2 = pl.col("cx") - pl.col("w"), pl.col("cx") + pl.col("w")
    y1, y2 = pl.col("cy") - pl.col("h"), pl.col("cy") + pl.col("h")
    pts = [(x1, y1), (x2, y1), (x2 + pl.col("skew"), y2), (x1 + pl.col("skew"), y2)]

    def xy(p: tuple[pl.Expr, pl.Expr], sep: str) -> list[pl.Expr]:
        return [g.decimal(p[0], 6), pl.lit(sep), g.decimal(p[1], 6)]

    ring = [e for k, p in enumerate([*pts, pts[0]]) for e in ([pl.lit(", ")] if k else []) + xy(p, " ")]
    wkt = pl.concat_str([pl.lit("POLYGON(("), *ring, pl.lit("))")])
    marks = [e for k, p in enumerate(pts) for e in ([pl.lit(";")] if k else []) + [pl.lit(f"J{k + 1},")] + xy(p, ",")]
    # area of the parallelogram in m²: degrees → metres at the parcel's latitude
    area = (pl.col("w") * 2 * 111_320 * (pl.col("cy") * 3.141592653589793 / 180).cos()) * (pl.col("h") * 2 * 110_574)
    letters = pl.when(pl.col("state")).then(pl.lit("GB")).otherwise(pl.lit("JC"))
    code = pl.concat_str([pl.lit(g.HOME_REGION), g.zpad(pl.col("i") % 7 + 1, 3), g.zpad(pl.col("i") // 100_000 + 1, 3),
                          letters, g.zpad(pl.col("i") % 100_000, 5)])
    right = pl.when(pl.col("state")).then(pl.lit("国有建设用地使用权")).otherwise(pl.lit("集体建设用地使用权"))
    return df.select(code.alias("宗地代码"), pl.col("use").alias("国土空间用途"), g.decimal(area, 2).alias("宗地面积"),
                     pl.concat_str(marks).alias("界址点坐标"), right.alias("土地权利类型"), wkt.alias("空间范围"))
