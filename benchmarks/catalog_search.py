"""Catalogue search latency with facets (R-CAT-10) at 10k and 100k entries, SQLite and PostgreSQL.

Generates realistic published entries (departments, towns, subjects, data items) straight
into the search index tables of a freshly migrated database (``search.bulk_load``; tokens from
``kit.textsearch`` as ``index_entry`` builds them), then times ``catalog.service.search.search``
— one statement for the total, every facet's counts and the page's ids, one for the page's
columns, plus highlighting — for ~200 mixed queries: Chinese words, full pinyin, initials,
department names and codes, and the abbreviations people type (社保, 低保, 医保 …: expanded
through the synonym dictionary the migration seeds), with and without facet filters, as the public
and as staff. Each query runs ``--repeat`` times; the first run and the best run are both reported.
``--no-synonyms`` times the same queries without the dictionary (``expand=False``).

Peer, same run: a plain SQLite FTS5 ``unicode61`` index over the raw (unsegmented) text,
queried with the same words as prefixes, with a facet statement and a page statement of the
same shape (no filters). Recall on the Chinese-word queries is measured against a substring
scan of the raw text, over names and over all searchable text. Recall (and precision) of the
abbreviation queries is measured against a substring scan for the abbreviation or any of its full
forms (this script's own list, ``ABBREVIATIONS``), with the dictionary and without it.

    python benchmarks/catalog_search.py [--sizes 10000,100000] [--queries 200] [--repeat 3]
                                        [--db sqlite|postgres|both] [--no-synonyms]

Prints one JSON line. Target: p95 <= 50 ms at 100k.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import text
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import search as service
from gongshu.catalog.service import synonyms
from gongshu.db import make_engine, reset_postgres_database, upgrade
from gongshu.kit import textsearch
from gongshu.kit.pagination import Page

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_bench_search"
SEED = 20261122
STAFF = Actor(1, "bench", "基准测试", 1, "department", "东莞市公安局", frozenset({"dept_staff"}))

# A city's departments, each with subjects it catalogues: (subject, topic, resource attr, items)
CATALOGUE: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {
    "公安局": [("户籍人口", "人口", "基础", ("公民身份号码", "姓名", "性别", "出生日期", "户籍地址", "民族")),
              ("流动人口居住登记", "人口", "基础", ("公民身份号码", "姓名", "居住地址", "登记日期", "居住证号")),
              ("机动车驾驶证", "公共服务", "主题", ("驾驶证号", "姓名", "准驾车型", "有效期至", "状态")),
              ("出入境证件办理", "公共服务", "部门", ("证件号码", "姓名", "证件类型", "签发日期"))],
    "民政局": [("最低生活保障对象", "社会保障", "主题", ("公民身份号码", "姓名", "保障人数", "保障金额", "所属镇街")),
              ("特困人员救助供养", "社会保障", "主题", ("公民身份号码", "姓名", "供养方式", "供养金额")),
              ("婚姻登记", "人口", "基础", ("男方身份号码", "女方身份号码", "登记日期", "登记类型", "登记机关")),
              ("养老服务机构", "公共服务", "主题", ("机构名称", "统一社会信用代码", "床位数", "地址", "负责人")),
              ("社会组织登记", "法人", "基础", ("社会组织名称", "统一社会信用代码", "法定代表人", "业务范围"))],
    "卫生健康委员会": [("出生医学证明", "人口", "基础", ("新生儿姓名", "出生日期", "出生地点", "母亲身份号码", "证明编号")),
                ("医疗机构执业许可", "健康保障", "主题", ("机构名称", "统一社会信用代码", "诊疗科目", "有效期至")),
                ("预防接种记录", "健康保障", "主题", ("受种者身份号码", "疫苗名称", "接种日期", "接种单位"))],
    "人力资源和社会保障局": [("社会保险参保", "社会保障", "主题", ("公民身份号码", "姓名", "险种", "参保状态", "缴费基数")),
                    ("就业失业登记", "社会保障", "主题", ("公民身份号码", "姓名", "就业状态", "登记日期")),
                    ("职业技能等级证书", "公共服务", "部门", ("证书编号", "姓名", "职业名称", "等级", "发证日期"))],
    "税务局": [("纳税人登记", "法人", "基础", ("纳税人识别号", "纳税人名称", "登记类型", "主管税务机关")),
              ("纳税信用等级评价", "信用体系", "主题", ("纳税人识别号", "纳税人名称", "信用等级", "评价年度"))],
    "市场监督管理局": [("市场主体登记", "法人", "基础", ("统一社会信用代码", "企业名称", "法定代表人", "注册资本", "成立日期")),
                ("食品经营许可", "食品药品安全", "主题", ("许可证编号", "经营者名称", "经营项目", "有效期至")),
                ("行政处罚决定", "信用体系", "主题", ("决定书文号", "当事人名称", "违法行为", "处罚内容", "处罚日期")),
                ("企业年度报告", "法人", "基础", ("统一社会信用代码", "企业名称", "报告年度", "从业人数"))],
    "教育局": [("中小学校基本情况", "公共服务", "主题", ("学校名称", "办学类型", "在校生数", "教职工数", "地址")),
              ("学生学籍", "公共服务", "部门", ("学籍号", "姓名", "就读学校", "年级", "入学日期"))],
    "自然资源局": [("不动产登记", "自然资源和空间地理", "基础", ("不动产单元号", "权利人", "坐落", "面积", "登记日期")),
                ("建设用地规划许可", "城乡建设", "主题", ("许可证号", "用地单位", "用地面积", "用地性质"))],
    "住房和城乡建设局": [("商品房预售许可", "城乡建设", "主题", ("许可证号", "项目名称", "开发企业", "预售面积")),
                  ("建筑施工企业资质", "法人", "部门", ("统一社会信用代码", "企业名称", "资质类别", "资质等级"))],
    "交通运输局": [("道路运输经营许可", "公共服务", "主题", ("许可证号", "经营者名称", "经营范围", "有效期至")),
                ("公交线路站点", "公共服务", "部门", ("线路名称", "站点名称", "经度", "纬度"))],
    "残疾人联合会": [("残疾人证", "社会保障", "主题", ("残疾人证号", "姓名", "残疾类别", "残疾等级"))],
    "住房公积金管理中心": [("住房公积金缴存", "社会保障", "主题", ("公民身份号码", "姓名", "缴存基数", "缴存比例", "单位名称")),
                   ("住房公积金贷款", "社会保障", "主题", ("公民身份号码", "贷款金额", "贷款期限", "放款日期"))],
    "生态环境局": [("空气质量监测", "生态环保", "主题", ("监测站点", "监测时间", "二氧化硫", "细颗粒物", "空气质量指数")),
                ("排污许可", "生态环保", "主题", ("许可证编号", "单位名称", "排放口", "污染物种类"))],
    "水务局": [("供水水质监测", "生态环保", "主题", ("监测点", "采样时间", "浑浊度", "余氯")),
              ("河道水位监测", "应急维稳", "部门", ("站点名称", "观测时间", "水位", "警戒水位"))],
    "气象局": [("气象观测", "公共服务", "部门", ("站点编号", "观测时间", "气温", "降水量", "风速"))],
    "应急管理局": [("危险化学品经营许可", "安全生产", "主题", ("许可证编号", "企业名称", "经营品种", "有效期至")),
                ("应急避难场所", "应急维稳", "主题", ("场所名称", "地址", "容纳人数", "经度", "纬度"))],
    "司法局": [("律师执业", "公共服务", "部门", ("执业证号", "姓名", "执业机构", "执业状态")),
              ("人民调解组织", "社区治理", "主题", ("组织名称", "所属镇街", "调解员人数"))],
    "发展和改革局": [("政府投资项目", "城乡建设", "部门", ("项目代码", "项目名称", "建设单位", "总投资")),
                 ("价格监测", "价格监管", "主题", ("商品名称", "规格", "价格", "监测日期"))],
    "医疗保障局": [("基本医疗保险参保", "健康保障", "主题", ("公民身份号码", "姓名", "参保类型", "参保状态")),
                ("定点医药机构", "健康保障", "主题", ("机构名称", "机构编码", "机构类型", "地址"))],
    "退役军人事务局": [("退役军人信息采集", "社会保障", "主题", ("公民身份号码", "姓名", "入伍时间", "退役时间"))],
    "农业农村局": [("农药经营许可", "食品药品安全", "主题", ("许可证号", "经营者名称", "经营范围")),
                ("农村土地承包经营权", "自然资源和空间地理", "基础", ("承包方代表", "地块编码", "承包面积"))],
    "文化广电旅游体育局": [("旅游景区", "公共服务", "部门", ("景区名称", "等级", "地址", "开放时间")),
                    ("公共体育场馆", "公共服务", "部门", ("场馆名称", "地址", "面积", "开放时间"))],
    "统计局": [("国民经济主要指标", "公共服务", "部门", ("指标名称", "统计期", "数值", "计量单位"))],
    "城市管理和综合执法局": [("户外广告设置许可", "城乡建设", "主题", ("许可证号", "设置单位", "设置地点", "有效期至"))],
}
DEPARTMENTS = list(CATALOGUE)
TOWNS = ("莞城街道", "南城街道", "东城街道", "万江街道", "石碣镇", "石龙镇", "茶山镇", "石排镇", "企石镇", "横沥镇",
         "桥头镇", "谢岗镇", "东坑镇", "常平镇", "寮步镇", "樟木头镇", "大朗镇", "黄江镇", "清溪镇", "塘厦镇",
         "凤岗镇", "大岭山镇", "长安镇", "虎门镇", "厚街镇", "沙田镇", "道滘镇", "洪梅镇", "麻涌镇", "松山湖园区")
SUFFIXES = ("基本信息", "信息", "名单", "统计信息", "台账", "明细", "登记信息", "变更记录", "年度统计", "月度报表",
            "汇总表", "档案")
FORMATS = ("数据库", "电子表格", "服务接口", "电子文件")
CYCLES = ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "其他")
GRADES = ("一般1", "一般2", "一般3", "一般4", "重要")
SHARING = ("无条件共享", "有条件共享", "不予共享")
OPENS = ("无条件开放", "有条件开放", "不予开放")
COMMON_ITEMS = ("更新时间", "数据来源", "备注", "所属区域", "联系电话")


@cache
def name_tokens(name: str) -> str:
    return textsearch.index_text(name=name)


@cache
def body_tokens(summary: str, topic: str, items: tuple[str, ...], org: str, business: str) -> str:
    return textsearch.index_text(summary, topic, *items, org, business)


def generate(n: int) -> tuple[list[tuple[dict, dict]], list[dict]]:
    """n index rows (doc, text: as index_entry writes them) and the raw texts (for the peer and the recall truth)."""
    rnd = random.Random(SEED)
    rows, raw = [], []
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        dept = rnd.choice(DEPARTMENTS)
        org = "东莞市" + dept
        subject, topic, attr, items = rnd.choice(CATALOGUE[dept])
        suffix = rnd.choice(SUFFIXES)
        town = rnd.choice(TOWNS) if rnd.random() < 0.35 else ""
        name = f"{town}{subject}{suffix}"
        variant = rnd.randrange(2)
        its = items + (COMMON_ITEMS[: 2 + variant * 3])
        summary = (f"{org}在依法履职过程中产生的{subject}{suffix}，包括{'、'.join(its[:4])}等信息项，"
                   f"{'供各部门按需共享使用' if variant else '用于政务服务和社会治理'}。")
        business = f"{subject}管理"
        code = f"{'123'[('基础', '主题', '部门').index(attr)]}{rnd.randrange(1, 20):02d}{rnd.randrange(1, 30):03d}/{i:06d}"
        sharing = rnd.choices(SHARING, weights=(5, 4, 1))[0]
        open_type = "不予开放" if sharing == "不予共享" else rnd.choices(OPENS, weights=(4, 3, 3))[0]
        body = body_tokens(summary, topic, its, org, business) + " " + " ".join(textsearch.cut(code))
        rows.append(({
            "entry_id": i, "version": 1, "code": code, "name": name, "org_id": None,
            "org_name": org, "resource_attr": attr, "topic": topic, "grade": rnd.choice(GRADES),
            "sharing_type": sharing, "open_type": open_type, "format": rnd.choice(FORMATS),
            "update_cycle": rnd.choice(CYCLES), "is_public": open_type != "不予开放",
            "published_at": t0 + timedelta(minutes=i), "indexed_at": t0,
        }, {"entry_id": i, "summary": summary, "name_tokens": name_tokens(name), "body_tokens": body}))
        raw.append({"entry_id": i, "name": name, "body": " ".join((summary, topic, *its, org, business, code)),
                    "is_public": open_type != "不予开放"})
    return rows, raw


CHINESE = ("人口", "户籍", "户籍人口", "低保", "公积金", "住房公积金", "不动产", "许可", "登记", "婚姻", "出生",
           "养老", "医疗", "学校", "企业", "纳税", "信用", "处罚", "空气质量", "水质", "残疾人", "驾驶证",
           "参保", "社会保险", "食品", "监测", "统一社会信用代码", "公民身份号码", "石龙镇", "松山湖",
           "最低生活保障", "预售", "旅游", "律师", "价格", "名单", "台账", "年度统计", "法定代表人", "学籍")
PINYIN = ("huji", "renkou", "dibao", "gongjijin", "budongchan", "xuke", "hunyin", "yanglao", "yiliao", "qiye",
          "nashui", "xinyong", "chufa", "kongqi", "shuizhi", "canji", "jiashizheng", "canbao", "shipin", "jiance",
          "shilong", "songshanhu", "lvshi", "jiage")
INITIALS = ("hj", "rk", "hjrk", "db", "gjj", "zfgjj", "bdc", "xk", "hydj", "ylfw", "qydj", "nsxy", "xzcf", "kqzl",
            "szjc", "cjrz", "jszcb", "sbcb", "spjy", "jc", "slz", "ssh", "tyshxydm", "gmsfhm")
OTHER = ("公安局", "民政局", "市场监督管理局", "东莞市卫生健康委员会", "人口 石龙镇", "企业 许可", "101", "低保 名单")
#: 简称 people type -> what they mean: an entry whose text has the abbreviation or any of these is relevant
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "社保": ("社会保险",), "低保": ("最低生活保障",), "医保": ("医疗保险", "医疗保障"),
    "公积金": ("住房公积金",), "不动产": ("不动产登记",), "营业执照": ("市场主体登记", "企业登记"),
    "驾照": ("驾驶证",), "残疾证": ("残疾人证",), "婚登": ("婚姻登记",), "出生证": ("出生医学证明",),
    "危化品": ("危险化学品",), "排污证": ("排污许可",), "食安": ("食品安全", "食品药品安全"),
    "PM2.5": ("细颗粒物",),
}
ABBREV = (*ABBREVIATIONS, "社保 石龙镇", "低保 名单", "医保 定点")


def queries(n: int) -> list[tuple[str, str, dict[str, list[str]], bool]]:
    """(kind, q, filters, public) — a deterministic mix."""
    rnd = random.Random(SEED + 1)
    pools = [("chinese", CHINESE), ("pinyin", PINYIN), ("initials", INITIALS), ("other", OTHER), ("abbrev", ABBREV)]
    out = []
    for i in range(n):
        kind, pool = pools[i % len(pools)]
        q = pool[(i // len(pools)) % len(pool)]
        filters: dict[str, list[str]] = {}
        r = rnd.random()
        if r < 0.2:
            filters["dept"] = ["东莞市" + rnd.choice(DEPARTMENTS)]
        elif r < 0.35:
            filters["update_cycle"] = rnd.sample(CYCLES, 2)
        elif r < 0.45:
            filters["format"] = [rnd.choice(FORMATS)]
            filters["open_type"] = ["无条件开放"]
        if i % 25 == 0:
            q = ""  # browsing with facets only
        out.append((kind, q, filters, rnd.random() < 0.5))
    return out


def load(engine, rows: list[tuple[dict, dict]]) -> float:
    start = time.perf_counter()
    with Session(engine) as s:
        service.bulk_load(s, rows, batch=5000)
        s.commit()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("INSERT INTO catalog_search_fts(catalog_search_fts) VALUES ('optimize')"))
            conn.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE catalog_search_doc"))
            conn.execute(text("VACUUM ANALYZE catalog_search_text"))
    return time.perf_counter() - start


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary_ms(values: list[float]) -> dict:
    return {"p50_ms": round(pct(values, 50) * 1000, 1), "p95_ms": round(pct(values, 95) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1), "mean_ms": round(statistics.fmean(values) * 1000, 1)}


def time_ours(engine, qs, repeat: int, expand: bool = True) -> dict:
    """Each query ``repeat`` times: the first run's latencies, and each query's best (less noise from other
    processes on a shared machine)."""
    first, best = [], []
    by_kind: dict[str, list[float]] = {}
    with Session(engine) as s:
        for _kind, q, filters, public in qs[:10]:  # warm caches
            service.search(s, actor=None if public else STAFF, q=q, filters=filters, page=Page(1, 20), expand=expand)
        for kind, q, filters, public in qs:
            runs = []
            for _ in range(repeat):
                t = time.perf_counter()
                service.search(s, actor=None if public else STAFF, q=q, filters=filters, page=Page(1, 20),
                               expand=expand)
                runs.append(time.perf_counter() - t)
            first.append(runs[0])
            best.append(min(runs))
            by_kind.setdefault(kind + ("+filter" if filters else ""), []).append(min(runs))
    return {**summary_ms(first), "best_of": repeat, **{f"best_{k}": v for k, v in summary_ms(best).items()},
            "by_kind_best_p95_ms": {k: round(pct(v, 95) * 1000, 1) for k, v in sorted(by_kind.items())}}


# The peer: plain FTS5 unicode61 over the raw text, same facet/page statements -------------------

PEER_DDL = ("CREATE VIRTUAL TABLE peer_fts USING fts5(name, body, tokenize='unicode61 remove_diacritics 0', "
            "prefix='1 2 3')")
PEER_FACETS = """
WITH m AS MATERIALIZED (
  SELECT d.org_name, d.resource_attr, d.topic, d.grade, d.sharing_type, d.open_type, d.format, d.update_cycle
  FROM peer_fts JOIN catalog_search_doc d ON d.entry_id = peer_fts.rowid
  WHERE peer_fts MATCH :q AND (d.is_public = 1 OR :staff = 1))
SELECT '_total', '', count(*) FROM m
UNION ALL SELECT 'dept', org_name, count(*) FROM m GROUP BY org_name
UNION ALL SELECT 'resource_attr', resource_attr, count(*) FROM m GROUP BY resource_attr
UNION ALL SELECT 'topic', topic, count(*) FROM m GROUP BY topic
UNION ALL SELECT 'grade', grade, count(*) FROM m GROUP BY grade
UNION ALL SELECT 'sharing_type', sharing_type, count(*) FROM m GROUP BY sharing_type
UNION ALL SELECT 'open_type', open_type, count(*) FROM m GROUP BY open_type
UNION ALL SELECT 'format', format, count(*) FROM m GROUP BY format
UNION ALL SELECT 'update_cycle', update_cycle, count(*) FROM m GROUP BY update_cycle
"""
PEER_HITS = """
SELECT d.entry_id, d.code, d.name, d.org_name FROM peer_fts
JOIN catalog_search_doc d ON d.entry_id = peer_fts.rowid
WHERE peer_fts MATCH :q AND (d.is_public = 1 OR :staff = 1)
ORDER BY bm25(peer_fts, 10.0, 1.0), d.name LIMIT 20
"""


def peer_query(q: str) -> str:
    """What a plain FTS5 search does with the user's words: each one as a prefix term."""
    words = [w for w in textsearch.normalize(q).split() if w]
    return " AND ".join('"' + w.replace('"', '""') + '"*' for w in words)


def build_peer(engine, raw: list[dict]) -> float:
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(PEER_DDL))
        for i in range(0, len(raw), 5000):
            conn.execute(text("INSERT INTO peer_fts(rowid, name, body) VALUES (:entry_id, :name, :body)"),
                         raw[i:i + 5000])
        conn.execute(text("INSERT INTO peer_fts(peer_fts) VALUES ('optimize')"))
    return time.perf_counter() - start


def time_peer(engine, qs) -> dict:
    times = []
    with engine.connect() as conn:
        for _kind, q, _filters, public in qs:
            if not q:
                continue
            params = {"q": peer_query(q), "staff": 0 if public else 1}
            t = time.perf_counter()
            conn.execute(text(PEER_FACETS), params).all()
            conn.execute(text(PEER_HITS), params).all()
            times.append(time.perf_counter() - t)
    return summary_ms(times)


MATCH_OURS = "SELECT rowid FROM catalog_search_fts WHERE catalog_search_fts MATCH :q"
MATCH_PEER = "SELECT rowid FROM peer_fts WHERE peer_fts MATCH :q"


def _relevant(text_: str, q: str) -> bool:
    """Every word of ``q`` (or one of its full forms, for an abbreviation) occurs in ``text_``."""
    return all(any(m in text_ for m in (w, *ABBREVIATIONS.get(w, ()))) for w in q.split())


def recall(engine, raw: list[dict]) -> dict:
    """Recall of ours and the peer on the Chinese-word queries, against a substring scan of the raw text:
    in the name only (the peer's blind spot: 人口 inside 户籍人口基本信息) and in all searchable text.

    The abbreviation queries: recall and precision of ours with the synonym dictionary and without it
    (and of the peer), against a substring scan for the abbreviation or any of its full forms."""
    out: dict = {}
    with engine.connect() as conn, Session(bind=conn) as s:
        def match(table: str, expr: str) -> set[int]:
            sql = MATCH_OURS if table == "catalog_search_fts" else MATCH_PEER
            return set(conn.execute(text(sql), {"q": expr}).scalars())

        for scope in ("name", "all"):
            ours_r, peer_r, details = [], [], {}
            for q in CHINESE:
                words = q.split()
                truth = {r["entry_id"] for r in raw
                         if all(w in (r["name"] if scope == "name" else r["name"] + " " + r["body"]) for w in words)}
                if not truth:
                    continue
                ours_q = textsearch.fts5_query(textsearch.query_terms(q))
                peer_q = peer_query(q)
                if scope == "name":
                    ours_q, peer_q = f"{{name_tokens}} : ({ours_q})", f"{{name}} : ({peer_q})"
                ours = match("catalog_search_fts", ours_q)
                peer = match("peer_fts", peer_q)
                ours_r.append(len(ours & truth) / len(truth))
                peer_r.append(len(peer & truth) / len(truth))
                details[q] = {"truth": len(truth), "ours": round(ours_r[-1], 3), "peer": round(peer_r[-1], 3)}
            out[scope] = {"queries": len(details), "ours_recall": round(statistics.fmean(ours_r), 3),
                          "peer_recall": round(statistics.fmean(peer_r), 3),
                          "peer_zero_recall": sorted(q for q, d in details.items() if d["peer"] == 0),
                          "examples": {q: details[q] for q in ("人口", "低保", "公积金", "许可") if q in details}}
        for scope in ("name", "all"):
            got: dict[str, list[float]] = {"with": [], "without": [], "peer": [], "with_precision": [],
                                           "without_precision": []}
            details = {}
            for q in ABBREV:
                truth = {r["entry_id"] for r in raw if _relevant(r["name"] if scope == "name" else
                                                                 r["name"] + " " + r["body"], q)}
                if not truth:
                    continue
                terms = textsearch.query_terms(q)
                exprs = {"with": service.fts5_match(synonyms.expand(s, terms=terms)),
                         "without": textsearch.fts5_query(terms), "peer": peer_query(q)}
                if scope == "name":
                    exprs = {k: f"{{{'name' if k == 'peer' else 'name_tokens'}}} : ({v})" for k, v in exprs.items()}
                found = {k: match("peer_fts" if k == "peer" else "catalog_search_fts", v) for k, v in exprs.items()}
                for k, ids in found.items():
                    got[k].append(len(ids & truth) / len(truth))
                for k in ("with", "without"):  # of the queries that find something
                    if found[k]:
                        got[f"{k}_precision"].append(len(found[k] & truth) / len(found[k]))
                details[q] = {"truth": len(truth), **{k: round(len(found[k] & truth) / len(truth), 3) for k in found},
                              "with_found": len(found["with"]), "without_found": len(found["without"]),
                              "with_precision": round(len(found["with"] & truth) / len(found["with"]), 3)
                              if found["with"] else None}
            out[f"abbreviations_{scope}"] = {
                "queries": len(details), "ours_recall_with_synonyms": round(statistics.fmean(got["with"]), 3),
                "ours_precision_with_synonyms": round(statistics.fmean(got["with_precision"] or [0]), 3),
                "ours_recall_without_synonyms": round(statistics.fmean(got["without"]), 3),
                "ours_precision_without_synonyms": round(statistics.fmean(got["without_precision"] or [0]), 3),
                "queries_finding_something": {k: len(got[f"{k}_precision"]) for k in ("with", "without")},
                "peer_recall": round(statistics.fmean(got["peer"]), 3), "by_query": details}
    return out


def fresh_pg(url: str):
    reset_postgres_database(url)
    return make_engine(url)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--repeat", type=int, default=3, help="runs per query (first and best are reported)")
    ap.add_argument("--no-synonyms", action="store_true", help="search without the synonym dictionary")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    qs = queries(args.queries)
    textsearch.warm()
    t = time.perf_counter()
    all_rows, all_raw = generate(max(sizes))
    out: dict = {"benchmark": "catalog_search", "machine": f"{platform.machine()} {os.cpu_count()} cpu "
                 f"python {platform.python_version()}", "load_average_start": os.getloadavg()[0],
                 "queries": len(qs), "synonyms": not args.no_synonyms, "target_p95_ms": 50,
                 "generate_s": round(time.perf_counter() - t, 1), "runs": []}
    for n in sizes:
        rows, raw = all_rows[:n], all_raw[:n]
        if args.db in ("sqlite", "both"):
            with tempfile.TemporaryDirectory() as d:
                engine = make_engine(f"sqlite:///{d}/bench.db")
                upgrade(engine)
                load_s = load(engine, rows)
                ours = time_ours(engine, qs, args.repeat, expand=not args.no_synonyms)
                peer_load_s = build_peer(engine, raw)
                out["runs"].append({"db": "sqlite", "entries": n, "load_s": round(load_s, 1), **ours,
                                    "peer_unicode61": {"load_s": round(peer_load_s, 1), **time_peer(engine, qs),
                                                       "recall_chinese": recall(engine, raw)}})
                engine.dispose()
        if args.db in ("postgres", "both"):
            engine = fresh_pg(args.pg_url)
            upgrade(engine)
            load_s = load(engine, rows)
            out["runs"].append({"db": "postgresql", "entries": n, "load_s": round(load_s, 1),
                                **time_ours(engine, qs, args.repeat, expand=not args.no_synonyms)})
            engine.dispose()
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
