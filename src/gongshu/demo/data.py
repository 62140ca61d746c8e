"""Synthetic resource data behind the demo catalogue: the files departments would upload (issue 3).

:func:`generate` writes one file per source entry into a directory — persons (户籍, 婚姻, 社保, 医保,
低保, 残疾人证, 公积金, 职业资格证书), legal entities (企业登记, 社会组织, 纳税信用A级, 欠税公告, 行政处罚, 食品经营许可) and
spatial resources (应急避难场所 with 经度/纬度, 宗地 with a WKT polygon) — in mixed formats and
encodings, with about ``defect_rate`` deliberately defective rows per file (one problem each) and about
1 % deliberate name conflicts between a source and the legal source. Everything is vectorised
(pyarrow random numbers, Polars expressions) and streamed chunk by chunk, so ten million persons fit in
well under 1 GB. Besides the files it writes ``defects.parquet`` (file, entry, row, record, field, rule
of every deliberate defect) and ``manifest.json`` (the returned :class:`DataFile` list).

Rows are numbered as the readers do: header = row 1, first data row = row 2 for CSV, XLSX and Parquet;
the line number for NDJSON. Rule codes are the validator's: ric_checksum, ric_region, ric_birth,
uscc_checksum, uscc_format, required, date, code, type, length.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from gongshu.demo import data_entities as ent
from gongshu.demo import data_gen as g
from gongshu.demo import data_persons as per
from gongshu.demo.catalogue import ENTRIES, parse_items
from gongshu.demo.data_messy import make_messy_gbk_csv

__all__ = ["DataFile", "SOURCES", "entry_columns", "generate", "make_messy_gbk_csv"]

CHUNK = 200_000
XLSX_CAP = 10_000
CONFLICT_RATE = 0.01
EXT = {"csv": "csv", "parquet": "parquet", "xlsx": "xlsx", "ndjson": "ndjson"}
#: what a department writes instead of the code (GB/T 2261.1, GB/T 2261.2, GB/T 3304)
CODE_WORDS = {"性别": ({"1": "男", "2": "女"}, "男"), "婚姻状况": ({"20": "已婚", "40": "离婚", "22": "再婚"}, "已婚"),
              "民族": ({"01": "汉族", "08": "壮族", "03": "回族"}, "汉族")}
BAD_DATES = ("2023/13/45", "20231345", "2023-02-30", "19000231")
_RIC_SHIFT = dict(zip("0123456789X", "123456789X0", strict=True))
_USCC_SHIFT = dict(zip(g.USCC_ALPHABET, g.USCC_ALPHABET[1:] + g.USCC_ALPHABET[0], strict=True))


@dataclass(frozen=True)
class DataFile:
    entry_name: str  # the demo entry it belongs to (unique name in catalogue.py)
    path: Path
    format: str  # "csv" | "parquet" | "xlsx" | "ndjson"
    encoding: str | None  # for csv: "utf-8" | "gbk" | "utf-8-sig"
    rows: int
    defects: int  # rows deliberately defective (one problem each, listed in defects.parquet)
    late: bool = False  # deliberately "late" load (the lead backdates it)
    conflicts: int = 0  # rows whose name deliberately differs from the legal source's


@dataclass(frozen=True)
class Source:
    entry: str
    stem: str
    build: Callable
    format: str
    encoding: str | None
    date_fmt: str
    rules: tuple[tuple[str, str], ...]  # (rule code, column) kinds of deliberate defects
    conflict: str | None = None  # the column whose value deliberately differs in ~1 % of rows
    late: bool = False


ID, USCC = "公民身份号码", "统一社会信用代码"
YMD, ISO = "%Y%m%d", "%Y-%m-%d"
PERSON_SOURCES = (
    Source("户籍人口基本信息", "gaj_huji", per.huji, "csv", "gbk", YMD,
           (("ric_checksum", ID), ("ric_region", ID), ("ric_birth", ID), ("code", "性别"), ("code", "民族"),
            ("date", "登记日期"), ("length", "姓名"), ("required", ID))),
    Source("婚姻登记信息", "mzj_hunyin", per.marriage, "csv", "utf-8", ISO,
           (("ric_checksum", ID), ("ric_region", ID), ("code", "婚姻状况"), ("date", "婚姻登记日期")), "姓名"),
    Source("社会保险参保信息", "rsj_shebao", per.social_insurance, "parquet", None, YMD,
           (("ric_checksum", ID), ("ric_birth", ID), ("date", "参保日期"), ("required", ID)), "姓名"),
    Source("基本医疗保险参保信息", "ybj_yibao", per.medical_insurance, "ndjson", None, ISO,
           (("ric_checksum", ID), ("ric_region", ID), ("date", "参保日期")), "姓名"),
    Source("最低生活保障对象信息", "mzj_dibao", per.dibao, "csv", "utf-8", ISO,
           (("ric_checksum", ID), ("type", "月保障金额"), ("type", "保障人数"), ("date", "认定日期")), "姓名", late=True),
    Source("户籍人口高龄津贴发放名单", "mzj_gaoling", per.elderly_allowance, "csv", "utf-8", ISO,
           (("ric_checksum", ID),), "姓名"),
    Source("残疾人证信息", "cl_canjiren", per.disability, "xlsx", None, ISO,
           (("ric_checksum", ID), ("ric_region", ID), ("date", "发证日期")), "姓名"),
    Source("住房公积金缴存信息", "gjj_gongjijin", per.housing_fund, "csv", "utf-8-sig", YMD,
           (("ric_checksum", ID), ("type", "月缴存额"), ("required", ID)), "姓名", late=True),
    Source("职业资格证书信息", "rsj_zhiye", per.qualification, "ndjson", None, ISO,
           (("ric_checksum", ID), ("date", "发证日期")), "姓名"),
)
ENTITY_SOURCES = (
    Source("企业登记基本信息", "scjgj_qiye", ent.enterprises, "csv", "utf-8", ISO,
           (("uscc_checksum", USCC), ("uscc_format", USCC), ("type", "注册资本"), ("date", "成立日期"),
            ("required", USCC))),
    Source("社会组织登记信息", "mzj_shehuizuzhi", ent.social_orgs, "csv", "utf-8", ISO,
           (("uscc_checksum", USCC), ("date", "登记日期"))),
    Source("纳税信用A级纳税人名单", "swj_nashui", ent.tax_a_list, "ndjson", None, ISO,
           (("uscc_checksum", USCC), ("uscc_format", USCC)), "企业名称"),
    Source("欠税公告信息", "swj_qianshui", ent.tax_arrears, "csv", "utf-8", ISO,
           (("uscc_checksum", USCC),)),
    Source("市场监管行政处罚信息", "scjgj_chufa", ent.market_penalties, "xlsx", None, YMD,
           (("uscc_checksum", USCC), ("date", "处罚日期"))),
    Source("食品经营许可信息", "scjgj_shipin", ent.food_licences, "parquet", None, ISO,
           (("uscc_checksum", USCC), ("date", "有效期至")), "经营者名称"),
)
SPATIAL_SOURCES = (
    Source("应急避难场所信息", "yjj_binan", ent.shelters, "csv", "utf-8", ISO,
           (("type", "经度"), ("type", "纬度"), ("type", "可容纳人数"))),
    Source("宗地信息", "zrzyj_zongdi", ent.parcels, "parquet", None, ISO, (("type", "宗地面积"),)),
)
SOURCES = PERSON_SOURCES + ENTITY_SOURCES + SPATIAL_SOURCES


def entry_columns(entry_name: str) -> list[tuple[str, str, int | None]]:
    """(name, type, length) of an entry's data items in catalogue order, revision additions last."""
    spec = next(e for e in ENTRIES if e.name == entry_name)
    text = spec.items + " " + (spec.revision[1].get("add", "") if spec.revision else "")
    return [(i.name, i.type, i.length) for i in parse_items(text)]


# Deliberate defects and conflicts ------------------------------------------------------------------

def _defect(rule: str, col: str, length: int | None) -> pl.Expr:
    c, u = pl.col(col), pl.col("_ud")
    if rule == "ric_checksum":
        return pl.concat_str([c.str.slice(0, 17), c.str.slice(17, 1).replace_strict(_RIC_SHIFT, return_dtype=pl.String)])
    if rule in ("ric_region", "ric_birth"):
        body = (pl.concat_str([g.pick(g.FAKE_REGIONS, u), c.str.slice(6, 11)]) if rule == "ric_region"
                else pl.concat_str([c.str.slice(0, 10), pl.lit("0230"), c.str.slice(14, 3)]))
        return pl.concat_str([body, g.ric_check(body)])
    if rule == "uscc_checksum":
        return pl.concat_str([c.str.slice(0, 17), c.str.slice(17, 1).replace_strict(_USCC_SHIFT, return_dtype=pl.String)])
    if rule == "uscc_format":
        return pl.concat_str([c.str.slice(0, 8), pl.lit("I"), c.str.slice(9)])
    if rule == "required":
        return pl.lit(None, dtype=pl.String)
    if rule == "date":
        return g.pick(BAD_DATES, u)
    if rule == "code":
        words, default = CODE_WORDS[col]
        return c.replace_strict(words, default=pl.lit(default), return_dtype=pl.String)
    if rule == "type":
        return pl.concat_str([pl.lit("约"), c])
    if rule == "length":
        return pl.concat_str([c, pl.lit("（备注：" + "户籍信息待核实" * ((length or 50) // 7 + 1) + "）")])
    raise ValueError(rule)


def _conflict(col: str) -> pl.Expr:
    c = pl.col(col)
    if col == "姓名":
        return g.variant_name(c, g.pick(g.GIVEN, pl.col("_ud")))
    return pl.when(c.str.contains("有限责任公司")).then(c.str.replace("有限责任公司", "有限公司")) \
        .otherwise(c.str.replace("有限公司", "有限责任公司"))


def inject(df: pl.DataFrame, src: Source, rate: float, keys: tuple,
           lengths: dict[str, int | None]) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Spoil about ``rate`` of the rows (one rule each) and give ~1 % a conflicting name.

    Returns the frame, the defects (index within the frame, field, rule) and the number of conflicts.
    """
    n = df.height
    u = g.uniform(n, *keys, "defect")
    kind = g.randint(n, 0, max(1, len(src.rules)), *keys, "kind")
    cols = list(df.columns)
    conflict = (pl.col("_u") >= rate) & (pl.col("_u") < rate + CONFLICT_RATE) & pl.lit(src.conflict is not None)
    df = df.with_columns(_i=pl.int_range(0, n), _u=u, _k=pl.when(u < rate).then(kind),
                         _ud=g.uniform(n, *keys, "value")).with_columns(_c=conflict)
    exprs: dict[str, pl.Expr] = {}
    for j, (rule, col) in enumerate(src.rules):
        exprs[col] = pl.when(pl.col("_k") == j).then(_defect(rule, col, lengths.get(col))) \
            .otherwise(exprs.get(col, pl.col(col)))
    if src.conflict:
        exprs[src.conflict] = pl.when(pl.col("_c")).then(_conflict(src.conflict)).otherwise(
            exprs.get(src.conflict, pl.col(src.conflict)))
    touched = pl.col("_k").is_not_null() | pl.col("_c")
    # only the few touched rows are rewritten (both branches of a when/then are computed for every row)
    hit = df.filter(touched)
    out = pl.concat([df.filter(~touched), hit.with_columns(**exprs)]).sort("_i").select(cols)
    rules = pl.DataFrame({"_k": list(range(len(src.rules))), "field": [c for _, c in src.rules],
                          "rule": [r for r, _ in src.rules]}, schema_overrides={"_k": pl.Int64})
    defects = hit.filter(pl.col("_k").is_not_null()).with_columns(pl.col("_k").cast(pl.Int64)) \
        .join(rules, on="_k").select(pl.col("_i").cast(pl.Int64).alias("index"), "field", "rule").sort("index")
    conflicts = int(hit["_c"].sum())
    return out, defects, conflicts


# Writers --------------------------------------------------------------------------------------

class Writer:
    """Appends all-text frames to one file, chunk by chunk."""

    def __init__(self, path: Path, fmt: str, encoding: str | None, columns: list[str], cap: int | None = None):
        self.path, self.format, self.encoding, self.columns, self.cap = path, fmt, encoding, columns, cap
        self.rows = 0
        self._pq: pq.ParquetWriter | None = None
        self._wb = None
        path.write_bytes(b"")
        if fmt == "xlsx":
            self._wb = openpyxl.Workbook(write_only=True)
            self._wb.properties.created = self._wb.properties.modified = datetime(2026, 1, 1)
            self._ws = self._wb.create_sheet("Sheet1")
            self._ws.append(columns)

    def room(self) -> int | None:
        return None if self.cap is None else max(0, self.cap - self.rows)

    def write(self, df: pl.DataFrame) -> None:
        df = df.select(self.columns)
        if self.format == "csv":
            text = df.write_csv(include_header=self.rows == 0,
                                line_terminator="\r\n" if self.encoding == "gbk" else "\n")
            with self.path.open("ab") as f:
                if self.rows == 0 and self.encoding == "utf-8-sig":
                    f.write(b"\xef\xbb\xbf")
                f.write(text.encode("gbk" if self.encoding == "gbk" else "utf-8"))
        elif self.format == "ndjson":
            buf = io.BytesIO()
            df.write_ndjson(buf)
            with self.path.open("ab") as f:
                f.write(buf.getvalue())
        elif self.format == "parquet":
            schema = pa.schema([(c, pa.string()) for c in self.columns])
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.path, schema, compression="zstd")
            self._pq.write_table(df.to_arrow().cast(schema))
        else:
            for row in df.iter_rows():  # capped at XLSX_CAP rows
                self._ws.append(list(row))
        self.rows += df.height

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
        elif self.format == "parquet":  # no rows at all: still a valid, empty file
            pq.write_table(pa.table({c: pa.array([], pa.string()) for c in self.columns}), self.path)
        if self._wb is not None:
            self._wb.save(self.path)
            self._wb.close()


@dataclass
class _Out:
    src: Source
    writer: Writer
    lengths: dict[str, int | None]
    defects: list[pl.DataFrame] = field(default_factory=list)
    conflicts: int = 0

    def add(self, df: pl.DataFrame, rate: float, keys: tuple) -> None:
        room = self.writer.room()
        if room is not None:
            df = df.head(room)
        if df.height == 0:
            return
        df, defects, conflicts = inject(df, self.src, rate, keys, self.lengths)
        self.defects.append(defects.with_columns(pl.col("index") + self.writer.rows))
        self.conflicts += conflicts
        self.writer.write(df)

    def finish(self) -> tuple[DataFile, pl.DataFrame]:
        self.writer.close()
        w = self.writer
        base = 1 if w.format == "ndjson" else 2
        d = pl.concat(self.defects) if self.defects else pl.DataFrame(
            schema={"index": pl.Int64, "field": pl.String, "rule": pl.String})
        d = d.select(pl.lit(w.path.name).alias("file"), pl.lit(self.src.entry).alias("entry"),
                     (pl.col("index") + base).alias("row"), (pl.col("index") + 1).alias("record"), "field", "rule")
        return DataFile(self.src.entry, w.path, w.format, w.encoding, w.rows, d.height, self.src.late,
                        self.conflicts), d


def _open(out_dir: Path, src: Source) -> _Out:
    cols = entry_columns(src.entry)
    path = out_dir / f"{src.stem}.{EXT[src.format]}"
    cap = XLSX_CAP if src.format == "xlsx" else None  # keep spreadsheets small
    return _Out(src, Writer(path, src.format, src.encoding, [c for c, _, _ in cols], cap),
                {c: ln for c, _, ln in cols})


def generate(out_dir: Path, *, persons: int = 100_000, entities: int = 20_000, seed: int = 2026,
             defect_rate: float = 0.01) -> list[DataFile]:
    """Write the demo city's department files into ``out_dir``; the same seed gives the same bytes (CSV)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = ent.entity_base(max(entities, 1), seed)
    employers = base.filter(pl.col("social").is_null())["name"].head(5000)
    outs = [_open(out_dir, s) for s in PERSON_SOURCES]
    pop = per.Population(seed)
    reps: list[pl.Series] = []
    rep_share = min(1.0, 3.0 * entities / max(persons, 1))
    for chunk_no, start in enumerate(range(0, persons, CHUNK)):
        chunk = pop.chunk(start, min(CHUNK, persons - start), chunk_no)
        ctx = per.Ctx("", employers, (seed, "files", chunk_no))
        for o in outs:
            ctx_o = per.Ctx(o.src.date_fmt, employers, ctx.keys)
            o.add(o.src.build(chunk, ctx_o), defect_rate, (seed, o.src.stem, chunk_no))
        if sum(len(r) for r in reps) < entities:
            pick = g.uniform(chunk.height, seed, "reps", chunk_no) < rep_share
            reps.append(chunk.filter(pick & (pl.col("age") >= 25))["name"])
    rep_names = pl.concat(reps).head(max(entities, 1)) if reps else pl.Series([], dtype=pl.String)
    if len(rep_names) == 0:
        rep_names = pl.Series(["王伟"])
    for src in ENTITY_SOURCES:
        o = _open(out_dir, src)
        o.add(src.build(base.head(entities), rep_names, src.date_fmt), defect_rate, (seed, src.stem))
        outs.append(o)
    sizes = {"应急避难场所信息": max(20, persons // 1000), "宗地信息": max(50, persons // 50)}
    for src in SPATIAL_SOURCES:
        o = _open(out_dir, src)
        o.add(src.build(sizes[src.entry], seed), defect_rate, (seed, src.stem))
        outs.append(o)
    files, defects = zip(*(o.finish() for o in outs), strict=True)
    pl.concat(defects).write_parquet(out_dir / "defects.parquet")
    (out_dir / "manifest.json").write_text(json.dumps(
        [{**asdict(f), "path": f.path.name} for f in files], ensure_ascii=False, indent=1), encoding="utf-8")
    return list(files)
