"""Vectorised validation of loaded rows against a catalogue entry's data items (R-AGG-3).

One Polars pass per batch: values are normalised where that is lossless (and counted, see
:mod:`gongshu.ingest.service.normalise`), typed, and checked for required, type, length, code tables
(数据字典), dates, citizen ID numbers (GB 11643: format, checksum, region, birth date) and unified social
credit codes (GB 32100: format, checksum); numbers that Excel turned into scientific notation are refused
as lossy; a NUL character (fixed-width padding) is refused where a batch has one; what an identifier already says is checked against the items beside it (the birth date and sex
inside a citizen ID number against 出生日期 / 性别, a USCC's organisation code against 组织机构代码).
No Python runs per row. Duplicate keys are checked across batches by the caller, not here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from gongshu.errors import Invalid
from gongshu.ingest.service.codes import CODE_TABLES, division_codes
from gongshu.ingest.service.normalise import Normalisations, Stage, stages, triggers

RULES: dict[str, tuple[str, str]] = {
    "required": ("必填项为空", "Required value missing"),
    "type": ("类型不符", "Wrong type"),
    "length": ("超过长度", "Too long"),
    "code": ("不在代码表中", "Not in the code table"),
    "date": ("日期或时间无效", "Invalid date or time"),
    "ric_format": ("公民身份号码格式错误", "Citizen ID number: wrong format"),
    "ric_checksum": ("公民身份号码校验码错误", "Citizen ID number: wrong check character"),
    "ric_region": ("公民身份号码地区码无效", "Citizen ID number: unknown region code"),
    "ric_birth": ("公民身份号码出生日期无效", "Citizen ID number: invalid birth date"),
    "uscc_format": ("统一社会信用代码格式错误", "USCC: wrong format"),
    "uscc_checksum": ("统一社会信用代码校验码错误", "USCC: wrong check character"),
    "excel_scientific": ("号码被 Excel 科学计数法损坏", "Number destroyed by Excel's scientific notation"),
    "ric_birth_mismatch": ("出生日期与公民身份号码不一致", "Birth date disagrees with the citizen ID number"),
    "ric_sex_mismatch": ("性别与公民身份号码不一致", "Sex disagrees with the citizen ID number"),
    "uscc_org_mismatch": ("组织机构代码与统一社会信用代码不一致", "Organisation code disagrees with the USCC"),
    "nul_char": ("含有空字符（0x00）", "Contains a NUL character (0x00)"),
}
#: a number written by Excel in scientific notation with 12 or more digits (Excel's default display from
#: 12 digits on; beyond 15 digits the digits themselves are gone)
_SCIENTIFIC = r"^[+-]?\d(?:\.\d+)?[eE]\+?(?:1[1-9]|[2-9]\d)$"

_ARROW = {"C": pa.large_string(), "M": pa.large_string(), "N": pa.float64(), "B": pa.float64(),
          "F": pa.float64(), "Y": pa.decimal128(18, 2), "I": pa.int64(), "D": pa.date32(),
          "T": pa.timestamp("us"), "L": pa.bool_(), "G": pa.binary()}
REJECT_SCHEMA = pa.schema([("_row", pa.int64()), ("field", pa.string()), ("value", pa.string()),
                           ("rule", pa.string()), ("message", pa.string()), ("message_en", pa.string())])
VALUE_CHARS = 200
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RIC_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_CHAR = "[0-9A-HJ-NP-RTUWXY]"
_BOOL = {"是": True, "否": False, "true": True, "false": False, "1": True, "0": False, "y": True, "n": False,
         "yes": True, "no": False, "t": True, "f": False}
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")
_TYPE_ZH = {"N": "数值", "B": "数值", "F": "数值", "I": "整数", "Y": "金额（最多两位小数）", "L": "是/否",
            "G": "Base64 编码的二进制"}
_TYPE_EN = {"N": "a number", "B": "a number", "F": "a number", "I": "an integer",
            "Y": "an amount with at most two decimals", "L": "yes/no (是/否, true/false, 1/0, Y/N)",
            "G": "base64-encoded binary"}


@dataclass(frozen=True)
class ItemRule:
    column: str
    label: str
    type: str
    length: int | None
    required: bool
    key: bool
    check: str | None
    code_table: str | None


@dataclass(frozen=True)
class LoadSpec:
    items: tuple[ItemRule, ...]
    filename: str


def check_header(header: list[str], spec: LoadSpec) -> None:
    """Raise :class:`Invalid` naming every missing, unknown or duplicate column of the file's header."""
    labels = [it.label for it in spec.items]
    seen = Counter(h.strip() for h in header)
    details = [{"file": spec.filename, "row": 1, "field": h, "problem": "duplicate_column"}
               for h, n in seen.items() if n > 1]
    details += [{"file": spec.filename, "row": 1, "field": x, "problem": "missing_column"}
                for x in labels if x not in seen]
    details += [{"file": spec.filename, "row": 1, "field": h, "problem": "unknown_column"}
                for h in seen if h not in labels]
    if not details:
        return
    parts_zh, parts_en = [], []
    for problem, zh, en in (("missing_column", "缺少列", "missing columns"),
                            ("unknown_column", "目录中没有的列", "columns not in the catalogue entry"),
                            ("duplicate_column", "重复的列", "duplicate columns")):
        names = [d["field"] for d in details if d["problem"] == problem]
        if names:
            parts_zh.append(f"{zh}：{'、'.join(names)}")
            parts_en.append(f"{en}: {', '.join(names)}")
    raise Invalid(f"{spec.filename}：表头（第 1 行）与目录的信息项不一致 —— {'；'.join(parts_zh)}",
                  f"{spec.filename}: the header (row 1) does not match the entry's data items — "
                  f"{'; '.join(parts_en)}", field="header", details=details)


def output_schema(spec: LoadSpec) -> pa.Schema:
    """``_row`` then one typed column per data item, named by its SQL column."""
    return pa.schema([pa.field("_row", pa.int64(), nullable=False)]
                     + [pa.field(it.column, _ARROW[it.type]) for it in spec.items])


@dataclass(frozen=True)
class _Check:
    label: str
    rule: str
    mask: str           # name of the boolean column
    source: str         # name of the raw value column
    zh: pl.Expr
    en: pl.Expr


def _parse(item: ItemRule, v: pl.Expr, i: int) -> tuple[list[pl.Expr], pl.Expr, Callable | None, str]:
    """(helper columns to materialise first, typed value, ``failed(typed) -> flag`` or None, rule code
    for a parse failure). The caller materialises the typed value once and builds the flag from it."""
    t = item.type
    if t in ("N", "B", "F"):
        return [], v.cast(pl.Float64, strict=False), lambda x: x.is_null() | ~x.is_finite(), "type"
    if t == "I":
        return [], v.cast(pl.Int64, strict=False), _is_null, "type"
    if t == "Y":
        return ([], v.cast(pl.Decimal(18, 2), strict=False),
                lambda x: x.is_null() | ~v.str.contains(r"^[+-]?\d{1,16}(\.\d{1,2})?$"), "type")
    if t == "D":
        # other separators were normalised to "-" (normalise.py, counted in the report's notes)
        compact = pl.when(v.str.len_bytes() == 8).then(v)  # YYYYMMDD is parsed only where it may apply
        x = pl.coalesce(v.str.to_date("%Y-%m-%d", strict=False, cache=False),
                        compact.str.to_date("%Y%m%d", strict=False, cache=False))
        return [], x, _is_null, "date"
    if t == "T":
        # the common format first (Polars' fast path); each fallback parses only the rows still unparsed
        norm, fast = f"__n{i}", f"__p{i}"
        normed = v.str.replace("T", " ", literal=True)
        pre = [normed.alias(norm),
               normed.str.to_datetime(_TIME_FORMATS[0], strict=False, time_unit="us", cache=False).alias(fast)]
        x, todo = pl.col(fast), pl.col(fast).is_null()
        for fmt in _TIME_FORMATS[1:]:
            y = pl.when(todo).then(pl.col(norm)).str.to_datetime(fmt, strict=False, time_unit="us", cache=False)
            x, todo = pl.coalesce(x, y), todo & y.is_null()
        return pre, x, _is_null, "date"
    if t == "L":
        return [], v.str.to_lowercase().replace_strict(_BOOL, default=None, return_dtype=pl.Boolean), _is_null, "type"
    if t == "G":
        return [], v.str.decode("base64", strict=False), _is_null, "type"
    return [], v, None, "type"


def _is_null(x: pl.Expr) -> pl.Expr:
    return x.is_null()


def _digits_sum(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """GB 11643 weighted sum of 17 digits held as two integers (characters 1-9 and 10-17)."""
    parts = [(a // 10 ** (8 - j)) % 10 * RIC_WEIGHTS[j] for j in range(9)]
    parts += [(b // 10 ** (7 - j)) % 10 * RIC_WEIGHTS[9 + j] for j in range(8)]
    return pl.sum_horizontal(parts)


def _ric(i: int, v: pl.Expr, present: pl.Expr) -> tuple[list[pl.Expr], dict[str, pl.Expr]]:
    """(helper columns to materialise first, masks, and the expected check character to materialise
    as ``__e{i}`` before the masks, which read it)."""
    pre = [v.alias(f"__u{i}"), v.str.slice(0, 9).cast(pl.Int64, strict=False).alias(f"__a{i}"),
           v.str.slice(9, 8).cast(pl.Int64, strict=False).alias(f"__b{i}"),
           v.str.contains(r"^\d{17}[0-9X]$").alias(f"__ok{i}"),
           v.str.slice(6, 8).str.to_date("%Y%m%d", strict=False, cache=False).alias(f"__d{i}")]
    u = pl.col(f"__u{i}")
    ok = pl.col(f"__ok{i}")  # format, and the birth date inside: read by the masks and the cross-checks
    expected = pl.col(f"__e{i}")  # materialised once from "expected" below, before the masks
    birth = pl.col(f"__d{i}")
    return pre, {
        "ric_format": present & ~ok,
        "ric_checksum": present & ok & (u.str.slice(17, 1) != expected),
        "ric_region": present & ok & ~u.str.slice(0, 6).is_in(_divisions().implode()),
        "ric_birth": present & ok & (birth.is_null() | (birth < date(1900, 1, 1)) | (birth > date.today())),
        "expected": pl.lit(RIC_CHECK).str.slice(_digits_sum(pl.col(f"__a{i}"), pl.col(f"__b{i}")) % 11, 1),
    }


def _uscc(i: int, v: pl.Expr, present: pl.Expr) -> tuple[list[pl.Expr], dict[str, pl.Expr]]:
    pre = [v.alias(f"__u{i}"), v.str.contains(rf"^{_USCC_CHAR}{{2}}\d{{6}}{_USCC_CHAR}{{10}}$").alias(f"__ok{i}")]
    u = pl.col(f"__u{i}")
    ok = pl.col(f"__ok{i}")
    values = {c: n for n, c in enumerate(USCC_ALPHABET)}
    total = pl.sum_horizontal([u.str.slice(k, 1).replace_strict(values, default=None, return_dtype=pl.Int32) * w
                               for k, w in enumerate(USCC_WEIGHTS)])
    return pre, {"uscc_format": present & ~ok,
                 "uscc_checksum": present & ok & (u.str.slice(17, 1) != pl.col(f"__e{i}")),
                 "expected": pl.lit(USCC_ALPHABET).str.slice((31 - total % 31) % 31, 1)}


@cache
def _code_list(name: str) -> pl.Series:
    return pl.Series(sorted(CODE_TABLES[name].codes), dtype=pl.String)


@cache
def _divisions() -> pl.Series:
    return pl.Series(sorted(division_codes()), dtype=pl.String)


def _messages(item: ItemRule, rule: str, val: pl.Expr, exp: pl.Expr | None,
              shown: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Messages of ``rule`` for ``item``: ``val`` is the normalised value, ``shown`` the value as written."""
    q = pl.format("“{}”", shown)
    label = item.label
    if rule == "excel_scientific":
        return (pl.format(f"{label}{{}}是 Excel 的科学计数法：Excel 只保留 15 位有效数字，后面的数字已丢失，无法从文件中恢复。"
                          "请从源系统重新导出，在 Excel 或 WPS 中先把该列设为“文本”格式再填入或粘贴（或直接用 CSV 导出、不经 Excel 另存）", q),
                pl.format(f"{label} {{}} is in Excel's scientific notation: Excel keeps only 15 significant digits, "
                          "the rest are lost and cannot be recovered from this file. Export again from the source "
                          "system and format the column as Text in Excel or WPS before pasting (or keep the CSV "
                          "without saving it through Excel)", q))
    if rule == "required":
        return pl.lit(f"{label}为必填项，不能为空"), pl.lit(f"{label} is required and is empty")
    if rule == "nul_char":
        return (pl.lit(f"{label}含有空字符（0x00，常见于定长格式导出的填充），数据库不能保存，请在源系统中去除后重新导出"),
                pl.lit(f"{label} contains a NUL character (0x00, often the padding of a fixed-width export), which "
                       "databases cannot store: remove it in the source system and export again"))
    if rule == "length":
        n = val.str.len_chars()
        return (pl.format(f"{label}长度为 {{}} 个字符，超过规定的 {item.length}", n),
                pl.format(f"{label} has {{}} characters, more than the allowed {item.length}", n))
    if rule == "type":
        return (pl.format(f"{label}应为{_TYPE_ZH.get(item.type, '文本')}，实为{{}}", q),
                pl.format(f"{label} must be {_TYPE_EN.get(item.type, 'text')}, got {{}}", q))
    if rule == "date":
        zh = "日期（YYYY-MM-DD 或 YYYYMMDD）" if item.type == "D" else "日期时间（YYYY-MM-DD HH:MM:SS）"
        en = "a date (YYYY-MM-DD or YYYYMMDD)" if item.type == "D" else "a date-time (YYYY-MM-DD HH:MM:SS)"
        return pl.format(f"{label}应为有效的{zh}，实为{{}}", q), pl.format(f"{label} must be {en}, got {{}}", q)
    if rule == "code":
        table = CODE_TABLES[item.code_table or ""]
        return (pl.format(f"{label}的代码{{}}不在{table.title_zh}（{table.standard}）中", q),
                pl.format(f"{label}: code {{}} is not in the {table.title_en} table ({table.standard})", q))
    if rule in ("ric_checksum", "uscc_checksum"):
        last = val.str.to_uppercase().str.slice(17, 1)
        return (pl.format(f"{label}校验码错误：应为 {{}}，实为 {{}}", exp, last),
                pl.format(f"{label}: wrong check character, expected {{}}, got {{}}", exp, last))
    if rule == "ric_format":
        return (pl.format(f"{label}应为 18 位（前 17 位数字，末位数字或 X），实为{{}}", q),
                pl.format(f"{label} must have 18 characters (17 digits, then a digit or X), got {{}}", q))
    if rule == "ric_region":
        region = val.str.slice(0, 6)
        return (pl.format(f"{label}前 6 位地区码 {{}} 不是有效的行政区划代码（GB/T 2260）", region),
                pl.format(f"{label}: region code {{}} is not an administrative division (GB/T 2260)", region))
    if rule == "ric_birth":
        birth = val.str.slice(6, 8)
        return (pl.format(f"{label}第 7–14 位出生日期 {{}} 无效（须为 1900 年以后、不晚于今天的真实日期）", birth),
                pl.format(f"{label}: birth date {{}} (characters 7-14) is not a real date between 1900 and today",
                          birth))
    return (pl.format(f"{label}应为 18 位，由数字和大写字母组成（不含 I、O、S、V、Z），实为{{}}", q),
            pl.format(f"{label} must have 18 digits or capital letters (no I, O, S, V, Z), got {{}}", q))


def _identifier_like(item: ItemRule) -> bool:
    """Items whose values are long numbers written as text (ID numbers, codes, account numbers): Excel's
    scientific notation destroys them."""
    return item.check is not None or (item.type in ("C", "M") and item.label.endswith(
        ("号码", "编号", "代码", "账号", "卡号", "证号", "户号", "字号")))


def _the(spec: LoadSpec, check: str) -> int | None:
    """Index of the item whose identifier the other items describe: the key item with ``check``, else the
    only item with it."""
    found = [i for i, it in enumerate(spec.items) if it.check == check]
    keyed = [i for i in found if spec.items[i].key]
    return keyed[0] if keyed else (found[0] if len(found) == 1 else None)


def _find(spec: LoadSpec, test: Callable[[ItemRule], bool]) -> int | None:
    return next((i for i, it in enumerate(spec.items) if test(it)), None)


def _cross_checks(spec: LoadSpec) -> list[tuple[int, str, pl.Expr, pl.Expr, pl.Expr]]:
    """What an identifier already says, against the items beside it: ``(item index reported, rule, mask,
    zh, en)``. Only rows whose identifier is itself valid are compared (its own errors are reported)."""
    out = []
    r = _the(spec, "ric")
    if r is not None:
        rid, u = spec.items[r], pl.col(f"__u{r}")
        born = pl.col(f"__d{r}")  # materialised by _ric
        ok = pl.col(f"__ok{r}") & (u.str.slice(17, 1) == pl.col(f"__e{r}")) & born.is_not_null()
        b = _find(spec, lambda it: "出生日期" in it.label and it.type == "D")
        if b is not None:
            label = spec.items[b].label
            mask = ok & pl.col(f"__t{b}").is_not_null() & (pl.col(f"__t{b}") != born)
            shown = pl.col(label).cast(pl.String).str.strip_chars()
            digits = u.str.slice(6, 8)
            out.append((b, "ric_birth_mismatch", mask,
                        pl.format(f"{label}“{{}}”与{rid.label}第 7–14 位的出生日期 {{}} 不一致", shown, digits),
                        pl.format(f"{label} '{{}}' disagrees with the birth date {{}} in characters 7-14 of "
                                  f"{rid.label}", shown, digits)))
        g = _find(spec, lambda it: it.code_table == "gender")
        if g is not None:
            label, v = spec.items[g].label, pl.col(f"__v{g}")
            odd = u.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1
            expected = pl.when(odd).then(pl.lit("1")).otherwise(pl.lit("2"))
            shown = pl.col(label).cast(pl.String).str.strip_chars()
            mask = ok & v.is_in(["1", "2"]) & (v != expected)
            out.append((g, "ric_sex_mismatch", mask,
                        pl.format(f"{label}“{{}}”（代码 {{}}）与{rid.label}第 17 位不一致：该位为{{}}，应为{{}}", shown, v,
                                  pl.when(odd).then(pl.lit("奇数")).otherwise(pl.lit("偶数")),
                                  pl.when(odd).then(pl.lit("男性（1）")).otherwise(pl.lit("女性（2）"))),
                        pl.format(f"{label} '{{}}' (code {{}}) disagrees with character 17 of {rid.label}: it is {{}}, "
                                  "so the sex is {}", shown, v,
                                  pl.when(odd).then(pl.lit("odd")).otherwise(pl.lit("even")),
                                  pl.when(odd).then(pl.lit("male (1)")).otherwise(pl.lit("female (2)")))))
    c = _the(spec, "uscc")
    o = _find(spec, lambda it: "组织机构代码" in it.label and it.check is None)
    if c is not None and o is not None:
        code, u = spec.items[c], pl.col(f"__u{c}")
        ok = pl.col(f"__ok{c}") & (u.str.slice(17, 1) == pl.col(f"__e{c}"))
        label = spec.items[o].label
        org = pl.col(f"__v{o}").str.replace_all("-", "", literal=True).str.to_uppercase()
        shown = pl.col(label).cast(pl.String).str.strip_chars()
        embedded = u.str.slice(8, 9)
        out.append((o, "uscc_org_mismatch", ok & org.is_not_null() & (org != embedded),
                    pl.format(f"{label}“{{}}”与{code.label}第 9–17 位的组织机构代码 {{}} 不一致", shown, embedded),
                    pl.format(f"{label} '{{}}' disagrees with the organisation code {{}} in characters 9-17 of "
                              f"{code.label}", shown, embedded)))
    return out


def _has_nul(arr: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value of a text column holds a NUL byte: one vectorised pass over its bytes (numpy), no Polars
    expression per row — NUL is rare, and checked per row only in a batch that has one."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        if not pa.types.is_large_string(chunk.type) or len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2]
        if data is not None and offsets[-1] > offsets[0] and \
                np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].min() == 0:
            return True
    return False


def _needed(df: pl.DataFrame, spec: LoadSpec, batch: pa.RecordBatch | None = None) -> list[set[str]]:
    """Per item, the normalisation steps this batch can need (one cheap aggregate select over the batch), and
    ``"nul"`` where the batch's raw column holds a NUL byte."""
    out: list[set[str]] = [set() for _ in spec.items]
    if batch is not None:
        for i, it in enumerate(spec.items):
            k = batch.schema.get_field_index(it.label)
            if k >= 0 and _has_nul(batch.column(k)):
                out[i].add("nul")
    tests = triggers([(it.label, it.type, it.check, it.code_table) for it in spec.items])
    if tests:
        hits = df.select([t.alias(f"__n{k}") for k, (_, _, t) in enumerate(tests)]).row(0)
        for (i, kind, _), hit in zip(tests, hits, strict=True):
            if hit:
                out[i].add(kind)
    return out


@dataclass(frozen=True)
class _Plan:
    """The expressions of one batch's validation, built once per (entry, triggered normalisations)."""
    values: list
    pre: list
    parsing: list
    derived: list
    typed: list
    checks: list[_Check]
    flags: list[tuple[str, str, list[Stage]]]


@lru_cache(maxsize=64)
def _compile(spec: LoadSpec, needed: tuple[frozenset[str], ...], counting: bool, today: date) -> _Plan:
    """The validation's expressions for ``spec`` when the normalisations ``needed`` apply (cached: a file's
    batches mostly need the same ones, and building the expressions costs as much as checking a small batch).
    ``today`` is part of the key: birth dates are checked against the day the batch is read."""
    values, pre, parsing, derived, typed, checks = [], [], [], [], [], []
    flags: list[tuple[str, str, list[Stage]]] = []
    for i, item in enumerate(spec.items):
        x, item_stages = stages(item.label, item.type, item.check, item.code_table, set(needed[i]))
        values.append(pl.when(x.str.len_bytes() > 0).then(x).alias(f"__v{i}"))
        v = pl.col(f"__v{i}")
        if counting:  # one flag per item: the value as written differs from the value kept
            raw = pl.col(item.label).cast(pl.String)
            derived.append((raw.is_not_null() & (raw != v.fill_null(""))).fill_null(False).alias(f"__c{i}"))
            flags.append((f"__c{i}", item.label, item_stages))
        shown = pl.col(item.label).cast(pl.String).str.strip_chars()
        present = v.is_not_null()
        parse_pre, parsed, failed, parse_rule = _parse(item, v, i)
        pre.extend(parse_pre)
        masks: dict[str, pl.Expr] = {}
        if "nul" in needed[i]:  # databases cannot store it (PostgreSQL refuses it; SQLite would keep it)
            masks["nul_char"] = present & v.str.contains("\x00", literal=True)
        if item.required:
            masks["required"] = v.is_null()
        if failed is not None:  # parsed once into a column; the flag and the output read it
            parsing.append(parsed.alias(f"__t{i}"))
            parsed = pl.col(f"__t{i}")
            masks[parse_rule] = present & failed(parsed)
        typed.append(parsed.alias(item.column))
        if item.length and item.type in ("C", "M") and item.check is None:
            masks["length"] = present & (v.str.len_chars() > item.length)
        if item.code_table in CODE_TABLES:
            masks["code"] = present & ~v.is_in(_code_list(item.code_table).implode())
        scientific = present & v.str.contains(_SCIENTIFIC) if _identifier_like(item) else None
        if scientific is not None:
            masks["excel_scientific"] = scientific
            for rule in ("code", "length"):
                if rule in masks:
                    masks[rule] = masks[rule] & ~scientific
        expected = None
        if item.check in ("ric", "uscc"):
            helpers, extra = (_ric if item.check == "ric" else _uscc)(i, v, present)
            pre.extend(helpers)
            parsing.append(extra.pop("expected").alias(f"__e{i}"))
            expected = pl.col(f"__e{i}")
            extra[f"{item.check}_format"] = extra[f"{item.check}_format"] & ~scientific
            masks.update(extra)
        for rule, mask in masks.items():
            name = f"__m{i}_{rule}"
            derived.append(mask.fill_null(False).alias(name))
            zh, en = _messages(item, rule, v, expected, shown)
            checks.append(_Check(item.label, rule, name, item.label, zh, en))
    for i, rule, mask, zh, en in _cross_checks(spec):
        name = f"__m{i}_{rule}"
        derived.append(mask.fill_null(False).alias(name))
        checks.append(_Check(spec.items[i].label, rule, name, spec.items[i].label, zh, en))
    return _Plan(values, pre, parsing, derived, typed, checks, flags)


def validate_batch(batch: pa.RecordBatch, spec: LoadSpec,
                   normalised: Normalisations | None = None) -> tuple[pa.Table, pa.Table]:
    """Split a reader batch into (valid rows typed per :func:`output_schema`, rejects per ``REJECT_SCHEMA``);
    what normalisation changed is counted into ``normalised`` when given."""
    df = pl.from_arrow(pa.Table.from_batches([batch]))
    assert isinstance(df, pl.DataFrame)
    plan = _compile(spec, tuple(frozenset(n) for n in _needed(df, spec, batch)), normalised is not None, date.today())
    values, pre, parsing, derived, typed, checks, flags = (plan.values, plan.pre, plan.parsing, plan.derived,
                                                           plan.typed, plan.checks, plan.flags)
    # one lazy plan for the four dependent steps (the optimiser shares work between them); the in-memory
    # engine, not the streaming one
    lf = df.lazy().with_columns(values)
    if pre:
        lf = lf.with_columns(pre)
    if parsing:
        lf = lf.with_columns(parsing)
    bad = pl.any_horizontal([pl.col(c.mask) for c in checks]) if checks else pl.lit(False)
    df = lf.with_columns(derived).with_columns(bad.alias("__bad")).collect(engine="in-memory")
    if normalised is not None:
        normalised.add(df, flags)
    valid = df.filter(~pl.col("__bad")).select([pl.col("_row").cast(pl.Int64), *typed]).to_arrow()
    valid = valid.cast(output_schema(spec))
    failed = df.filter(pl.col("__bad"))  # usually a few rows: the messages are built for them only
    if not failed.height:
        return valid, REJECT_SCHEMA.empty_table()
    # one plan for the checks that failed somewhere in the batch (of dozens, usually a few)
    hit = failed.select([pl.col(c.mask).any() for c in checks]).row(0)
    rejects = [
        failed.lazy().filter(pl.col(c.mask)).select(
            pl.col("_row").cast(pl.Int64), pl.lit(c.label).alias("field"),
            pl.col(c.source).cast(pl.String).str.slice(0, VALUE_CHARS).fill_null("").alias("value"),
            pl.lit(c.rule).alias("rule"), c.zh.alias("message"), c.en.alias("message_en"))
        for c, any_row in zip(checks, hit, strict=True) if any_row]
    out = pl.concat(rejects).sort("_row", maintain_order=True).collect(engine="in-memory").to_arrow()
    return valid, out.cast(REJECT_SCHEMA)
