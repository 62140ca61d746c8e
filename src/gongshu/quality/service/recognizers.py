"""The sensitive-data recognizers themselves, without the database: Polars expressions over text columns, the
masks for their evidence, and :func:`scan_frame` (every recognizer on every column in one pass). What each one
matches and how precise it is: :mod:`gongshu.quality.service.recognize`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from gongshu.kit.identifiers import mask_id_number, mask_mobile, mask_name
from gongshu.store.service import sql_literal

log = logging.getLogger(__name__)

SAMPLE_ROWS = 10_000
SAMPLE_VALUES = 5


# Masks ------------------------------------------------------------------------------------------

def mask_email(value: str) -> str:
    v = (value or "").strip()
    at = v.find("@")
    return (v[:1] + "***" + v[at:]) if at > 0 else "*" * len(v)


def mask_text(value: str) -> str:
    """Keep the first and last character of longer texts (e.g. 东莞市南城街道1号 → 东*******号)."""
    v = (value or "").strip()
    if len(v) <= 1:
        return "*" * len(v)
    if len(v) == 2:
        return v[0] + "*"
    return v[0] + "*" * (len(v) - 2) + v[-1]


def mask_address(value: str) -> str:
    v = (value or "").strip()
    return v[:6] + "*" * min(max(len(v) - 6, 0), 8)


# Recognizers ------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛"
    "邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路"
    "游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟"
    "应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳"
    "谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普"
    "阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀"
    "衣信展阴昝智幸奉植衡富尧闭由钭过晏蔚钮龛"
)
COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐", "端木",
    "轩辕", "独孤", "南宫", "西门", "百里", "呼延", "万俟", "澹台", "公冶", "太史", "申屠", "钟离", "闻人", "赫连", "拓跋",
    "左丘", "东郭", "濮阳", "淳于", "单于", "司空", "宗政", "仲孙", "羊舌", "微生",
)
#: characters of places, organisations and things that a personal name of 2–4 characters practically never holds
NOT_IN_NAMES = "省市区县镇乡村路街道号局委厅处院所室公司集团中心站队科部会校园场店厂馆行社协办组团"

_RIC_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _digits(s: pl.Expr) -> pl.Expr:
    return s.str.replace_all(r"[\s\-]", "")


def is_ric(s: pl.Expr) -> pl.Expr:
    """A valid citizen ID number (GB 11643): format, birth date, check character."""
    u = s.str.to_uppercase()
    total = pl.sum_horizontal([u.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(_RIC_W)])
    expected = (total % 11).replace_strict(list(range(11)), list("10X98765432"), default=None,
                                           return_dtype=pl.Utf8)
    born = u.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (u.str.contains(r"^\d{17}[\dX]$") & (u.str.slice(17, 1) == expected) & born.is_not_null()
            & (born >= pl.date(1900, 1, 1))).fill_null(False)


def is_uscc(s: pl.Expr) -> pl.Expr:
    """A valid unified social credit code (GB 32100): alphabet and check character."""
    u = s.str.to_uppercase()
    values = [u.str.slice(i, 1).replace_strict(list(_USCC_ALPHA), list(range(31)), default=None,
                                               return_dtype=pl.Int32) * w for i, w in enumerate(_USCC_W)]
    check = (31 - pl.sum_horizontal(values) % 31) % 31
    expected = check.replace_strict(list(range(31)), list(_USCC_ALPHA), default=None, return_dtype=pl.Utf8)
    return (u.str.contains(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
            & (u.str.slice(17, 1) == expected)).fill_null(False)


def is_mobile(s: pl.Expr) -> pl.Expr:
    return _digits(s).str.replace(r"^\+?86", "").str.contains(r"^1[3-9]\d{9}$").fill_null(False)


def luhn_ok(d: pl.Expr) -> pl.Expr:
    """Luhn over a digit string of up to 19 digits (left-padded with zeros, which add nothing)."""
    z = d.str.zfill(19)
    terms = []
    for i in range(19):
        x = z.str.slice(i, 1).cast(pl.Int32, strict=False)
        if (18 - i) % 2 == 1:
            x = x * 2
            x = pl.when(x > 9).then(x - 9).otherwise(x)
        terms.append(x)
    return pl.sum_horizontal(terms) % 10 == 0


def is_bank_card(s: pl.Expr) -> pl.Expr:
    d = _digits(s)
    return (d.str.contains(r"^\d{16,19}$") & luhn_ok(d) & ~is_ric(s) & ~is_uscc(s)).fill_null(False)


def is_email(s: pl.Expr) -> pl.Expr:
    return s.str.contains(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$").fill_null(False)


_NAME = (r"^(?:(?:" + "|".join(COMPOUND_SURNAMES) + r")\p{Han}{1,2}|[" + SURNAMES + r"]\p{Han}{1,2}"
         r"|\p{Han}{1,6}·\p{Han}{1,8})$")


def is_name(s: pl.Expr) -> pl.Expr:
    return (s.str.contains(_NAME) & ~s.str.contains("[" + NOT_IN_NAMES + "]")).fill_null(False)


def is_address(s: pl.Expr) -> pl.Expr:
    return (s.str.contains(r"(省|自治区|市|区|县|旗|镇|乡|街道).*(路|大道|巷|弄|胡同|号|栋|幢|座|室|单元|村|组|社区|小区)")
            & (s.str.len_chars() >= 6)).fill_null(False)


@dataclass(frozen=True)
class Recognizer:
    code: str
    zh: str
    en: str
    test: Callable[[pl.Expr], pl.Expr]  # a trimmed, non-empty string column → matches
    mask: Callable[[str], str]
    personal: bool  # holding it makes the item personal information
    grade: str  # the grade it calls for at least
    reason: str
    reason_en: str
    #: suggest the personal flag only when the version also holds person data (ID numbers, or names without USCCs)
    needs_person: bool = False
    #: a cheap pattern every match has: the full test runs only on columns where some value has it
    prefilter: str = ""


RECOGNIZERS: dict[str, Recognizer] = {r.code: r for r in (
    Recognizer("ric", "公民身份号码", "Citizen ID numbers", is_ric, mask_id_number, True, "一般4",
               "公民身份号码可唯一识别自然人，属于敏感个人信息", "Citizen ID numbers identify a person: sensitive personal information",
               prefilter=r"^\d{17}[\dXx]$"),
    Recognizer("bank_card", "银行卡号", "Bank card numbers", is_bank_card, mask_id_number, True, "一般4",
               "银行卡号属于金融账户信息（敏感个人信息）", "Bank card numbers are financial account data (sensitive)",
               prefilter=r"^[\d\s\-]{16,23}$"),
    Recognizer("mobile", "手机号码", "Mobile numbers", is_mobile, mask_mobile, True, "一般3",
               "手机号码可识别自然人，属于个人信息", "Mobile numbers identify a person: personal information"),
    Recognizer("email", "电子邮箱", "E-mail addresses", is_email, mask_email, True, "一般3",
               "电子邮箱可识别自然人，属于个人信息", "E-mail addresses identify a person: personal information"),
    Recognizer("name", "姓名", "Chinese names", is_name, mask_name, True, "一般3",
               "姓名属于个人信息", "Names are personal information"),
    Recognizer("address", "地址", "Addresses", is_address, mask_address, True, "一般3",
               "与身份信息同处一表的住址属于个人信息", "Addresses held with identities are personal information",
               needs_person=True),
    Recognizer("uscc", "统一社会信用代码", "Unified social credit codes", is_uscc, mask_id_number, False, "一般1",
               "统一社会信用代码依法公示", "USCCs are public by law", prefilter=r"^[0-9A-Za-z]{18}$"),
)}


# Scanning (no database) -------------------------------------------------------------------------

@dataclass
class ColumnFinding:
    column: str
    recognizer: str
    matched: int
    values: int
    share: float
    sample: list[str]


def scan_frame(df: pl.DataFrame, *, recognizers: dict[str, Recognizer] | None = None,
               sample_values: int = SAMPLE_VALUES) -> tuple[list[ColumnFinding], dict[str, dict]]:
    """Every recognizer on every column of ``df`` (values cast to text and trimmed; empty = missing).

    Returns the findings with at least one match (masked sample values) and, per recognizer,
    ``{"ran": bool, "error": zh, "error_en": en}``. One Polars pass; a recognizer that raises is retried alone and,
    if it still fails, reported as not run."""
    recognizers = RECOGNIZERS if recognizers is None else recognizers
    cols = [c for c, t in df.schema.items() if t != pl.Binary]
    text = df.select([pl.col(c).cast(pl.Utf8).str.strip_chars().replace("", None).alias(c) for c in cols])
    status = {code: {"ran": True, "error": "", "error_en": ""} for code in recognizers}
    counts: dict[tuple[str, str], int] = {}
    # the expensive checksum tests only where a cheap pattern occurs at all
    pre = [pl.col(c).str.contains(r.prefilter).any().alias(f"{code}\x1f{c}")
           for code, r in recognizers.items() if r.prefilter for c in cols]
    skip = {tuple(k.split("\x1f", 1)) for k, v in text.select(pre).row(0, named=True).items() if not v} \
        if pre and text.height else set()

    def exprs(code: str, r: Recognizer) -> list[pl.Expr]:
        return [r.test(pl.col(c)).sum().alias(f"{code}\x1f{c}") for c in cols if (code, c) not in skip]

    try:
        row = text.select([e for code, r in recognizers.items() for e in exprs(code, r)]).row(0, named=True)
        counts = {tuple(k.split("\x1f", 1)): v for k, v in row.items()}
    except Exception:  # isolate the failing recognizer(s)
        for code, r in recognizers.items():
            try:
                row = text.select(exprs(code, r)).row(0, named=True)
                counts.update({tuple(k.split("\x1f", 1)): v for k, v in row.items()})
            except Exception as exc:  # recorded, the others still run
                log.warning("recognizer %s failed: %s", code, exc)
                status[code] = {"ran": False, "error": f"识别器运行出错：{type(exc).__name__}: {exc}"[:500],
                                "error_en": f"The recognizer failed: {type(exc).__name__}: {exc}"[:500]}
    present = text.select([pl.col(c).is_not_null().sum().alias(c) for c in cols]).row(0, named=True) if cols else {}
    findings = []
    for (code, col), matched in counts.items():
        if not matched:
            continue
        r = recognizers[code]
        hits = text.filter(r.test(pl.col(col))).get_column(col).unique(maintain_order=True).head(sample_values)
        values = present[col]
        findings.append(ColumnFinding(col, code, int(matched), int(values), round(matched / values, 4) if values else 0.0,
                                      [r.mask(v) for v in hits.to_list()]))
    findings.sort(key=lambda f: (cols.index(f.column), -f.share, f.recognizer))
    return findings, status


def read_sample(path: str, *, rows: int = SAMPLE_ROWS) -> pl.DataFrame:
    """A repeatable reservoir sample of at most ``rows`` rows of a Parquet file (all of it when smaller)."""
    con = duckdb.connect()
    try:
        src = f"read_parquet({sql_literal(path)})"
        total = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0]  # noqa: S608 - escaped path literal
        sql = f"SELECT * FROM {src}" if total <= rows else \
            f"SELECT * FROM {src} USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE (11)"  # noqa: S608
        return con.sql(sql).pl()
    finally:
        con.close()
