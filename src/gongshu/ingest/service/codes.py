"""Code tables (数据字典) used to validate coded data items.

- gender: GB/T 2261.1-2003 个人基本信息分类与代码 第1部分：人的性别代码
- marital: GB/T 2261.2-2003 第2部分：婚姻状况代码
- ethnicity: GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码
- division: GB/T 2260 中华人民共和国行政区划代码, every 6-digit code python-stdnum knows
  (``stdnum/cn/loc.dat``, current and historic codes, because an ID number keeps the region
  code of the year it was issued).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache

from stdnum import numdb

GENDER = {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}
MARITAL = {"10": "未婚", "20": "已婚", "21": "初婚", "22": "再婚", "23": "复婚", "30": "丧偶", "40": "离婚",
           "90": "未说明的婚姻状况"}
_ETHNIC_NAMES = (
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 景颇 "
    "柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 "
    "塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺"
).split()
ETHNICITY = {f"{i:02d}": f"{name}族" for i, name in enumerate(_ETHNIC_NAMES, start=1)}
ETHNICITY.update({"97": "其他", "98": "外国血统中国籍人士"})

_YEARS = re.compile(r"^\[[0-9]*-[0-9]*\]")


def _walk(prefixes: list, base: str, out: dict[str, str]) -> None:
    for length, low, high, props, children in prefixes:
        for n in range(int(low), int(high) + 1):
            code = base + str(n).zfill(length)
            if children:
                _walk(children, code, out)
            if len(code) == 6:
                names = [_YEARS.sub("", c) for c in props.get("county", "").split(",") if c]
                out[code] = names[-1] if names else ""


@cache
def _divisions() -> dict[str, str]:
    """6-digit division code -> name (the latest name when a code was renamed)."""
    out: dict[str, str] = {}
    _walk(numdb.get("cn/loc").prefixes, "", out)
    return out


def division_codes() -> frozenset[str]:
    """Every 6-digit administrative division code (GB/T 2260), current and historic."""
    return _division_set()


@cache
def _division_set() -> frozenset[str]:
    return frozenset(_divisions())


class CodeTable:
    """A named code table: ``codes`` maps code -> label (loaded on first use)."""

    def __init__(self, name: str, standard: str, title_zh: str, title_en: str,
                 loader: Callable[[], Mapping[str, str]]) -> None:
        self.name = name
        self.standard = standard
        self.title_zh = title_zh
        self.title_en = title_en
        self._loader = loader

    @property
    def codes(self) -> Mapping[str, str]:
        return self._loader()

    def label(self, code: str) -> str | None:
        return self.codes.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __repr__(self) -> str:
        return f"CodeTable({self.name!r}, {self.standard!r})"


CODE_TABLES: dict[str, CodeTable] = {
    "gender": CodeTable("gender", "GB/T 2261.1", "人的性别代码", "sex code", lambda: GENDER),
    "marital": CodeTable("marital", "GB/T 2261.2", "婚姻状况代码", "marital status code", lambda: MARITAL),
    "ethnicity": CodeTable("ethnicity", "GB/T 3304", "民族代码", "ethnic group code", lambda: ETHNICITY),
    "division": CodeTable("division", "GB/T 2260", "行政区划代码", "administrative division code", _divisions),
}

#: (standard number, code table) — checked in a data item's meaning / description first
_BY_STANDARD = (("2261.1", "gender"), ("2261.2", "marital"), ("3304", "ethnicity"), ("2260", "division"))
#: (word in the data item / element name, code table)
_BY_NAME = (("性别", "gender"), ("婚姻", "marital"), ("民族", "ethnicity"), ("行政区划", "division"),
            ("区划代码", "division"))


def code_table_for(element_name: str, meaning: str = "") -> str | None:
    """Which code table a data item uses, from a standard cited in its meaning or from its name.

    ``code_table_for("性别", "")`` -> ``"gender"``; ``code_table_for("xb", "按 GB/T 2261.1")`` -> ``"gender"``.
    A name such as 性别名称 (a label, not a code) still maps to gender only when it does not end in 名称.
    """
    text = re.sub(r"\s+", "", meaning or "")
    for number, table in _BY_STANDARD:
        if number in text:
            return table
    name = (element_name or "").strip()
    if name.endswith(("名称", "说明", "描述")):
        return None
    for word, table in _BY_NAME:
        if word in name:
            return table
    return None
