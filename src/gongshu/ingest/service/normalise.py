"""Lossless normalisation of loaded values, and the notes that say what was changed (R-AGG-3).

Department exports write the same value many ways. What can be changed without losing anything is
changed before validation, and every kind of change is counted per data item with its first example
(row, value before, value after), so the load report lists what was normalised — nothing is changed
silently:

- surrounding white space (also full-width U+3000 and no-break spaces), and in names (姓名, …名称)
  white space between Chinese characters and runs of white space;
- full-width digits and letters (NFKC) in identifiers, codes, numbers, dates and yes/no items —
  never in free text, where NFKC would also rewrite Chinese punctuation;
- a lowercase ``x`` check character of a citizen ID number, lowercase letters in a USCC;
- dates written ``YYYY/MM/DD``, ``YYYY.MM.DD`` or ``YYYY年M月D日`` (also at the start of a date-time);
- a code table's names instead of its codes (性别 男/女/男性/女性 → 1/2, 汉族/汉 → 01 …) and codes whose
  leading zero a spreadsheet dropped (民族 1 → 01).

What is lossy is never repaired: a number in Excel's scientific notation (``4.41900E+17``) has lost its
last digits, and :mod:`gongshu.ingest.service.validate` refuses it with a message that says so.
Everything here is a Polars expression evaluated per batch; nothing runs per row in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import polars as pl

from gongshu.ingest.service.codes import CODE_TABLES

#: kind -> (Chinese, English) description of the change, in the order the stages run
KINDS: dict[str, tuple[str, str]] = {
    "trim": ("去除首尾空白", "surrounding white space removed"),
    "inner_space": ("去除姓名/名称中的多余空格", "stray spaces inside a name removed"),
    "fullwidth": ("全角数字和字母转为半角", "full-width digits and letters made half-width"),
    "uppercase": ("小写字母转为大写（如末位 x → X）", "lowercase letters made uppercase (e.g. check character x → X)"),
    "date_format": ("日期写法统一为 YYYY-MM-DD", "dates rewritten as YYYY-MM-DD"),
    "code_name": ("代码表中的名称转为代码", "code-table names replaced by their codes"),
    "zero_pad": ("补齐被表格软件去掉的前导零", "leading zeros a spreadsheet dropped put back"),
}
_HAN_GAP = r"(\p{Han})\s+(\p{Han})"
#: white space a name may carry inside (the trigger of ``inner_space``; the step itself uses ``\s``)
_SPACES = (" ", "\t", "\u3000", "\u00a0", "\n", "\r")
_DATE = r"^(\d{4})(?:/|\.|年)(\d{1,2})(?:/|\.|月)(\d{1,2})日?"
#: types whose values are machine values: full-width forms are converted there
_STRICT_TYPES = frozenset("NBFIYDTL")
#: extra names people write for a code, by code table (the table's own names are always accepted)
_VARIANTS: dict[str, dict[str, str]] = {
    "gender": {"男": "1", "女": "2", "未知": "0", "未说明": "9"},
    "marital": {"未说明": "90", "丧偶": "30"},
    "ethnicity": {"外国血统": "98"},
}


def is_name(label: str) -> bool:
    """A data item that holds a person's or an organisation's name (姓名, 单位名称 …)."""
    return "姓名" in label or label.endswith("名称")


@cache
def code_aliases(table: str) -> dict[str, str]:
    """Name -> code for a code table: its own labels, the labels without 族 (民族) and common variants.
    Tables whose names are not unique (行政区划) have none."""
    if table == "division":
        return {}
    out: dict[str, str] = {}
    for code, label in CODE_TABLES[table].codes.items():
        out[label] = code
        if table == "ethnicity" and label.endswith("族"):
            out[label[:-1]] = code
    out.update(_VARIANTS.get(table, {}))
    return out


@cache
def _code_width(table: str) -> int | None:
    """The width of a table's codes when they are all digits of one width (民族 01…98), else None."""
    codes = CODE_TABLES[table].codes
    widths = {len(c) for c in codes}
    return widths.pop() if len(widths) == 1 and all(c.isdigit() for c in codes) else None


@dataclass(frozen=True)
class Stage:
    """One normalisation of one item: ``after`` is computed from ``before``; rows where they differ count."""

    kind: str
    before: pl.Expr
    after: pl.Expr


def _plan(label: str, type_: str, check: str | None, code_table: str | None) -> list[str]:
    """The kinds of normalisation that apply to an item, in the order they run."""
    kinds = ["trim"]
    if type_ in ("C", "M") and check is None and code_table is None and is_name(label):
        kinds.append("inner_space")
    if type_ in _STRICT_TYPES or check is not None or code_table is not None:
        kinds.append("fullwidth")
    if check in ("ric", "uscc"):
        kinds.append("uppercase")
    if type_ in ("D", "T"):
        kinds.append("date_format")
    if code_table in CODE_TABLES:
        if code_aliases(code_table):
            kinds.append("code_name")
        if _code_width(code_table) is not None:
            kinds.append("zero_pad")
    return kinds


def _codes(table: str) -> pl.Expr:
    return _code_series(table).implode()


@cache
def _code_series(table: str) -> pl.Series:
    return pl.Series(sorted(CODE_TABLES[table].codes), dtype=pl.String)


def _trigger(kind: str, raw: pl.Expr, code_table: str | None) -> pl.Expr | None:
    """A cheap test over a whole batch column: could ``kind`` change any value of it? (None: always run.)
    Most files need none of the costlier steps, and a step that cannot change anything is left out."""
    if kind in ("trim", "uppercase"):
        return None
    if kind == "fullwidth":
        return (raw.str.len_bytes() != raw.str.len_chars()).any()
    if kind == "inner_space":
        return raw.str.contains_any(list(_SPACES)).any()
    if kind == "date_format":
        return raw.str.contains_any(["/", ".", "年"]).any()
    assert code_table is not None
    if kind == "code_name":
        return (raw.is_not_null() & ~raw.is_in(_codes(code_table))).any()
    width = _code_width(code_table) or 0
    return (raw.str.len_chars() < width).any()


def triggers(items: list[tuple[str, str, str | None, str | None]]) -> list[tuple[int, str, pl.Expr]]:
    """``(item index, kind, one-value boolean expression)`` for every step that runs only when needed;
    evaluate them together in one ``select`` and pass what is true to :func:`stages` as ``needed``."""
    out = []
    for i, (label, type_, check, code_table) in enumerate(items):
        raw = pl.col(label).cast(pl.String)
        for kind in _plan(label, type_, check, code_table):
            test = _trigger(kind, raw, code_table)
            if test is not None:
                out.append((i, kind, test))
    return out


def stages(label: str, type_: str, check: str | None, code_table: str | None,
           needed: set[str] | None = None) -> tuple[pl.Expr, list[Stage]]:
    """(the normalised value, the stages that produced it) for the raw column ``label``. ``needed``
    names the triggered steps (see :func:`triggers`); steps without a trigger always run; None runs all."""
    raw = pl.col(label).cast(pl.String)
    out: list[Stage] = []
    x = raw
    for kind in _plan(label, type_, check, code_table):
        # full-width forms may hide what the later steps look for (／, ８): then every step runs
        if needed is not None and "fullwidth" not in needed and kind not in needed \
                and _trigger(kind, raw, code_table) is not None:
            continue
        after = _step(kind, x, code_table)
        out.append(Stage(kind, x, after))
        x = after
    return x, out


def _step(kind: str, x: pl.Expr, code_table: str | None) -> pl.Expr:
    if kind == "trim":
        return x.str.strip_chars()
    if kind == "inner_space":
        joined = x.str.replace_all(_HAN_GAP, "${1}${2}").str.replace_all(_HAN_GAP, "${1}${2}")
        return joined.str.replace_all(r"\s{2,}", " ")
    if kind == "fullwidth":
        return pl.when(x.str.len_bytes() != x.str.len_chars()).then(x.str.normalize("NFKC")).otherwise(x)
    if kind == "uppercase":
        return x.str.to_uppercase()
    if kind == "date_format":  # 1999年9月2日 -> 1999-09-02: pad with a 0, then drop the 0 before two digits
        return x.str.replace(_DATE, "${1}-0${2}-0${3}").str.replace_all(r"-0(\d{2})", "-${1}")
    assert code_table is not None
    if kind == "code_name":
        return x.replace(code_aliases(code_table))
    width = _code_width(code_table) or 0
    padded = x.str.zfill(width)
    short = x.str.contains(r"^\d+$") & (x.str.len_bytes() < width)
    return pl.when(short & padded.is_in(_codes(code_table))).then(padded).otherwise(x)


def changed(stage: Stage) -> pl.Expr:
    return (stage.before.is_not_null() & (stage.after != stage.before)).fill_null(False)


@dataclass
class Change:
    field: str
    kind: str
    count: int
    row: int
    before: str
    after: str


@dataclass
class Normalisations:
    """What the batches of one load changed: per (item, kind) the number of rows and the first example."""

    changes: dict[tuple[str, str], Change] = field(default_factory=dict)

    def add(self, df: pl.DataFrame, items: list[tuple[str, str, list[Stage]]]) -> None:
        """Count what changed in a validated batch ``df``: ``items`` are ``(flag column, item label, stages)``,
        the flag marking the rows whose value the stages changed. Only the changed rows are examined stage by
        stage (for most files: none)."""
        if not items:
            return
        totals = df.select([pl.col(col).sum().alias(col) for col, *_ in items]).row(0)
        for (col, label, item_stages), n in zip(items, totals, strict=True):
            if not n:
                continue
            changed_rows = df.filter(pl.col(col))
            per_stage = changed_rows.select([changed(st).alias(f"s{k}") for k, st in enumerate(item_stages)])
            counts = per_stage.sum().row(0)
            for k, (stage, count) in enumerate(zip(item_stages, counts, strict=True)):
                if not count:
                    continue
                known = self.changes.get((label, stage.kind))
                if known is not None:
                    known.count += count
                    continue
                first = changed_rows.filter(per_stage[f"s{k}"]).head(1).select(
                    pl.col("_row"), stage.before.alias("b"), stage.after.alias("a")).row(0)
                self.changes[(label, stage.kind)] = Change(label, stage.kind, int(count), int(first[0]),
                                                           str(first[1]), str(first[2]))

    def report(self) -> list[dict]:
        """One entry per (item, kind), in the order first seen (items in catalogue order, then stage order)."""
        rows = list(self.changes.values())
        return [{"field": c.field, "kind": c.kind, "zh": KINDS[c.kind][0], "en": KINDS[c.kind][1],
                 "count": c.count, "row": c.row, "before": c.before, "after": c.after} for c in rows]

    def notes(self) -> list[str]:
        """One bilingual sentence per change, for the report's notes."""
        return [f"已规范 {c['count']} 行“{c['field']}”：{c['zh']}，例如第 {c['row']} 行“{c['before']}”→“{c['after']}” / "
                f"{c['field']}: {c['en']} in {c['count']} row{'s' if c['count'] != 1 else ''}, e.g. row {c['row']} "
                f"'{c['before']}' → '{c['after']}'"
                for c in self.report()]
