"""The national catalogue template (R-CAT-11): its layout, reading an uploaded workbook, writing one.

The workbook layout (documented in ``docs/catalog-template.md``) has a sheet "信息资源"
(one row per entry), a sheet "信息项" (one row per data item, joined by 信息资源代码) and a
sheet "说明" (columns and allowed values).  Columns are found by their header, never
by position.  :func:`parse_workbook` reads every cell (with :mod:`gongshu.catalog.service.xlsx`,
which is several times faster than openpyxl for large files) and reports every problem with
its sheet, row, column letter and header; :func:`add_located` maps a rule violation of an
entry (``items[2].grade``) to its cell.  Nothing here touches the database.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import ValidationError

from gongshu.catalog.models import (
    FORMATS,
    ITEM_TYPES,
    OPEN_TYPES,
    RESOURCE_ATTRS,
    SHARING_MODES,
    SHARING_TYPES,
    UPDATE_CYCLES,
)
from gongshu.catalog.schemas import EntryIn
from gongshu.catalog.service import xlsx
from gongshu.errors import Invalid

ENTRY_SHEET = "信息资源"
ITEM_SHEET = "信息项"
NOTE_SHEET = "说明"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_BYTES = 30 * 1024 * 1024
MAX_UNZIPPED = 400 * 1024 * 1024  # a workbook is a zip: refuse "zip bombs" before parsing
MAX_ROWS = 200_000
#: working copies of these statuses may be overwritten by an import
YES, NO = "是", "否"
_YES = {"是", "Y", "YES", "TRUE", "1", "√"}
_NO = {"否", "N", "NO", "FALSE", "0", "×"}


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    kind: str = "text"  # text, opt, code, vocab, int, date, bool, codes, type, uscc
    required: bool = False  # header must be present and the cell filled
    choices: tuple[str, ...] = ()
    note: str = ""
    note_en: str = ""
    width: int = 14


_GRADES = "（见“说明”表的分级取值）"
ENTRY_COLUMNS: tuple[Column, ...] = (
    Column("资源属性", "resource_attr", "vocab", True, tuple(RESOURCE_ATTRS.values()), "基础/主题/部门",
           "base / thematic / departmental", 10),
    Column("信息资源分类", "topic", note="资源属性下的类目，如 人口、法人、社会保障", note_en="class under the attribute"),
    Column("分类码", "class_code", "opt", note="类(1位)项(2位)目(3位)细目；空则取信息资源代码斜杠前部分",
           note_en="class digits; blank = the part of the code before '/'", width=12),
    Column("信息资源代码", "code", "code", True,
           note="分类码/顺序码，如 101001/00001，全市唯一；首位须与资源属性一致（1 基础、2 主题、3 部门）",
           note_en="class code/sequence, unique city-wide", width=18),
    Column("信息资源名称", "name", required=True, note="不超过 200 字", note_en="at most 200 characters", width=28),
    Column("摘要", "summary", width=30),
    Column("提供方", "provider_name", note="提供方部门名称（导出时填写，导入时不校验）",
           note_en="provider name (informative)", width=20),
    Column("提供方代码", "provider_code", "uscc", True, note="提供方统一社会信用代码，须为导入人所在部门",
           note_en="provider USCC; must be the importing officer's department", width=20),
    Column("信息资源格式", "format", "vocab", True, FORMATS),
    Column("共享类型", "sharing_type", "vocab", True, SHARING_TYPES),
    Column("共享条件", "sharing_condition", note="有条件共享时必填", note_en="required for conditional sharing",
           width=20),
    Column("共享依据", "sharing_basis", note="有条件共享时必填", note_en="required for conditional sharing",
           width=20),
    Column("共享方式", "sharing_mode", "vocab", False, SHARING_MODES, "空则为“接口”", "blank = 接口 (API)", 10),
    Column("共享范围", "sharing_scope", width=16),
    Column("开放属性", "open_type", "vocab", True, OPEN_TYPES),
    Column("开放条件", "open_condition", width=20),
    Column("更新周期", "update_cycle", "vocab", True, UPDATE_CYCLES, width=10),
    Column("发布日期", "release_date", "date", note="YYYY-MM-DD", width=12),
    Column("关联资源代码", "related_codes", "codes", note="多个用分号分隔", note_en="separate with ';'", width=20),
    Column("法律依据", "legal_basis", note="不予共享时必填", note_en="required when not shared", width=20),
    Column("所属业务", "business", width=16),
    Column("来源信息系统", "source_system", width=16),
    Column("共享期限", "sharing_period", note="如 长期", note_en="e.g. 长期 (indefinite)", width=10),
    Column("采集部门", "collecting_org", "opt", note="部门名称或统一社会信用代码", note_en="org name or USCC",
           width=18),
    Column("核准部门", "verifying_org", "opt", note="部门名称或统一社会信用代码", note_en="org name or USCC",
           width=18),
    Column("分级", "grade", "opt", note="空则按信息项就高确定" + _GRADES,
           note_en="blank = the highest item grade", width=8),
)
ITEM_COLUMNS: tuple[Column, ...] = (
    Column("信息资源代码", "code", "code", True, note="所属信息资源的代码", note_en="the entry's code", width=18),
    Column("序号", "seq", "int", note="信息项在资源内的顺序；空则按行序", note_en="order within the entry", width=6),
    Column("信息项名称", "name", required=True, note="资源内不重复", note_en="unique within the entry", width=20),
    Column("数据类型", "type", "type", True, tuple(ITEM_TYPES), "C字符 N数值 Y货币 D日期 T日期时间 L逻辑 M备注 "
           "G通用 B双精度 I整型 F浮点", "type letter", 8),
    Column("数据长度", "length", "int", width=8),
    Column("含义", "meaning", width=24),
    Column("是否标识项", "is_identifier", "bool", choices=(YES, NO), width=10),
    Column("是否主键", "is_key", "bool", choices=(YES, NO), width=8),
    Column("是否个人信息", "is_personal", "bool", choices=(YES, NO), width=10),
    Column("分级", "grade", "opt", note="空则按分级规则建议" + _GRADES, note_en="blank = suggested by the rules",
           width=8),
    Column("共享类型", "sharing_type", "vocab", False, SHARING_TYPES, "空则同信息资源", "blank = as the entry"),
    Column("开放属性", "open_type", "vocab", False, OPEN_TYPES, "空则同信息资源", "blank = as the entry"),
    Column("数据元代码", "element_code", "opt", note="关联的数据元", note_en="bound data element", width=14),
    Column("是否数源", "claims_source", "bool", choices=(YES, NO), note="本部门是否为该数据元的数源部门",
           note_en="this department is the element's source", width=8),
)
SHEETS = {ENTRY_SHEET: ENTRY_COLUMNS, ITEM_SHEET: ITEM_COLUMNS}
_ENTRY_BY_FIELD = {c.field: c for c in ENTRY_COLUMNS}
_ITEM_BY_FIELD = {c.field: c for c in ITEM_COLUMNS}
#: field names in service errors that are stored under another column
_FIELD_ALIAS = {"collecting_org_id": "collecting_org", "verifying_org_id": "verifying_org", "org_id": "provider_code",
                "items": "code", "element_id": "element_code"}
_SHORT_FORMS = {"无条件": "无条件共享", "有条件": "有条件共享", "不予": "不予共享"}
_SHORT_OPEN = {"无条件": "无条件开放", "有条件": "有条件开放", "不予": "不予开放", "不开放": "不予开放"}
_SPACE = re.compile(r"\s+")
_SPLIT = re.compile(r"[;；,，、\s]+")
_ITEM_PATH = re.compile(r"^items\[(\d+)\](?:\.(\w+))?")
_TYPE_NAMES = {v: k for k, v in ITEM_TYPES.items()}


# Results ------------------------------------------------------------------------------

@dataclass
class ParsedEntry:
    """One entry read from the file, with where each of its values came from."""

    row: int
    code: str
    values: dict[str, Any]
    items: list[tuple[int, int | None, dict[str, Any]]] = field(default_factory=list)  # (row, seq, values)
    data: EntryIn | None = None
    bad: set[tuple[str, int, str]] = field(default_factory=set)  # cells already reported


@dataclass
class ParsedWorkbook:
    entries: list[ParsedEntry]
    item_rows: int
    errors: list[dict[str, Any]]
    columns: dict[str, dict[str, str]]  # sheet -> field -> column letter


def cell_error(sheet: str, row: int | None, column: str | None, header: str | None, fld: str | None, zh: str, en: str,
               code: str | None = None) -> dict[str, Any]:
    return {"sheet": sheet, "row": row, "column": column, "header": header, "field": fld, "code": code,
            "message": zh, "message_en": en}


# Reading cells ---------------------------------------------------------------------------

class _CellError(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(zh)
        self.zh, self.en = zh, en


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, bool):
        return YES if v else NO
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat(sep=" ")
    return str(v).strip()


def _convert(col: Column, v: Any) -> Any:
    """A cell's value as the schema wants it; raises _CellError with a message for the user."""
    kind = col.kind
    if kind == "text":
        return _text(v)
    s = v.strip() if isinstance(v, str) else v
    if s is None or s == "":
        if kind == "bool":
            return False
        if kind == "codes":
            return []
        return None if kind in ("opt", "int", "date", "vocab", "type", "uscc", "code") else ""
    if kind == "opt":
        return _text(s)
    if kind == "code":
        return _SPACE.sub("", _text(s)).replace("／", "/")
    if kind == "uscc":
        return _SPACE.sub("", _text(s)).upper()
    if kind == "vocab":
        t = _SPACE.sub("", _text(s))
        t = (_SHORT_OPEN if col.field == "open_type" else _SHORT_FORMS if col.field == "sharing_type" else {}).get(t, t)
        if t not in col.choices:
            raise _CellError(f"“{t}”不是允许的取值（可选：{'、'.join(col.choices)}）",
                             f"'{t}' is not allowed (one of: {', '.join(col.choices)})")
        return t
    if kind == "type":
        t = _SPACE.sub("", _text(s)).replace("（", "(").replace("）", ")")
        letter = t[:1].upper()
        if letter in ITEM_TYPES and (len(t) == 1 or t[1:].strip("-—:：()") in ("", ITEM_TYPES[letter])):
            return letter
        if t in _TYPE_NAMES:
            return _TYPE_NAMES[t]
        raise _CellError(f"数据类型“{t}”无效（可选：{' '.join(f'{k}{n}' for k, n in ITEM_TYPES.items())}）",
                         f"Unknown data type '{t}' (one of {', '.join(ITEM_TYPES)})")
    if kind == "int":
        if isinstance(s, float) and s.is_integer():
            return int(s)
        if isinstance(s, int) and not isinstance(s, bool):
            return s
        t = _text(s)
        if re.fullmatch(r"[+]?\d+", t):
            return int(t)
        raise _CellError(f"应为整数，实际为“{t}”", f"Expected a whole number, got '{t}'")
    if kind == "date":
        if isinstance(s, datetime):
            return s.date()
        if isinstance(s, date):
            return s
        if isinstance(s, int | float) and 1 <= s < 2958466:
            return from_excel(s).date()
        t = _text(s)
        m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]0{1,2}:00(?::00)?)?", t)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                pass
        raise _CellError(f"日期无效：“{t}”（格式 YYYY-MM-DD）", f"Invalid date '{t}' (format YYYY-MM-DD)")
    if kind == "bool":
        if isinstance(s, bool):
            return s
        t = _SPACE.sub("", _text(s)).upper()
        if t in _YES:
            return True
        if t in _NO:
            return False
        raise _CellError(f"应填“是”或“否”，实际为“{_text(s)}”", f"Expected 是 (yes) or 否 (no), got '{_text(s)}'")
    if kind == "codes":
        out: list[str] = []
        for c in _SPLIT.split(_text(s).replace("／", "/")):
            if c and c not in out:
                out.append(c)
        return out
    raise AssertionError(kind)


def _norm_header(v: Any) -> str:
    return _SPACE.sub("", _text(v)).lstrip("*＊").rstrip("*＊")


# Parsing the workbook --------------------------------------------------------------------

_DAMAGED = ("文件已损坏或不是有效的 xlsx 工作簿，请用 Excel/WPS 打开后重新另存为 .xlsx",
            "The file is damaged or not a valid .xlsx workbook; open it and save it as .xlsx again")


def _open(data: bytes) -> xlsx.Workbook:
    if not data:
        raise Invalid("上传的文件为空", "The uploaded file is empty", field="file")
    if len(data) > MAX_BYTES:
        raise Invalid(f"文件过大（上限 {MAX_BYTES // 1024 // 1024} MB）",
                      f"The file is too large (limit {MAX_BYTES // 1024 // 1024} MB)", field="file")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise Invalid("这是旧版 Excel（.xls）文件，请在 Excel/WPS 中另存为 .xlsx 后上传",
                      "This is an old Excel (.xls) file; save it as .xlsx and upload again", field="file")
    if data[:4] != b"PK\x03\x04":
        raise Invalid("文件不是 xlsx 格式，请使用目录模板（.xlsx）", "The file is not an .xlsx workbook; use the "
                      "catalogue template (.xlsx)", field="file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unzipped = sum(i.file_size for i in z.infolist())
        if unzipped > MAX_UNZIPPED:
            raise Invalid("文件解压后过大，无法导入", "The workbook is too large once unpacked", field="file")
        return xlsx.Workbook(data)
    except Invalid:
        raise
    except (zipfile.BadZipFile, xlsx.XlsxError, KeyError, ValueError, TypeError, OSError, IndexError,
            AttributeError) as exc:
        raise Invalid(*_DAMAGED, field="file") from exc
    except Exception as exc:  # the parser's own errors vary by damage; never a 500 for a bad upload
        raise Invalid("无法读取该 xlsx 文件，请检查文件是否完整",
                      "The .xlsx file cannot be read; check that it is complete", field="file") from exc


def _read_sheet(wb: xlsx.Workbook, name: str,
                errors: list[dict]) -> tuple[dict[int, Column], list[tuple[int, tuple]], bool]:
    """Map the header row (row 1) to columns; return (index -> column, data rows, header ok).

    Every stored row is read, whatever used range the file declares."""
    spec = SHEETS[name]
    by_header = {c.header: c for c in spec}
    header: tuple = ()
    data = []
    for n, values in wb.rows(next(s for s in wb.sheetnames if _norm_header(s) == name)):
        if n == 1:
            header = values
        elif n > 1 and any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
            data.append((n, values))
            if len(data) > MAX_ROWS:
                raise Invalid(f"{name}表行数过多（上限 {MAX_ROWS} 行）", f"Too many rows in {name} (limit {MAX_ROWS})",
                              field="file")
    cols: dict[int, Column] = {}
    seen: dict[str, str] = {}
    ok = True
    for i, raw in enumerate(header):
        h = _norm_header(raw)
        if not h:
            continue
        letter = get_column_letter(i + 1)
        col = by_header.get(h)
        if col is None:
            ok = False
            errors.append(cell_error(name, 1, letter, _text(raw), None, f"未知的表头“{_text(raw)}”（{name}表第 {letter} 列）",
                                     f"Unknown header '{_text(raw)}' (sheet {name}, column {letter})"))
        elif h in seen:
            ok = False
            errors.append(cell_error(name, 1, letter, h, col.field, f"表头“{h}”重复（已在第 {seen[h]} 列）",
                                     f"Header '{h}' repeated (already in column {seen[h]})"))
        else:
            seen[h] = letter
            cols[i] = col
    for c in spec:
        if c.required and c.header not in seen:
            ok = False
            errors.append(cell_error(name, 1, None, c.header, c.field, f"{name}表缺少必需的列“{c.header}”",
                                     f"Sheet {name} lacks the required column '{c.header}'"))
    return cols, data, ok


def _row_values(sheet: str, cols: dict[int, Column], n: int, values: tuple, errors: list[dict],
                bad: set) -> dict[str, Any]:
    out: dict[str, Any] = {}
    width = len(values)
    for i, col in cols.items():
        v = values[i] if i < width else None
        if v.__class__ is str and col.kind == "text":  # most cells: skip the general conversion
            out[col.field] = v.strip()
        else:
            try:
                out[col.field] = _convert(col, v)
            except _CellError as e:
                letter = get_column_letter(i + 1)
                errors.append(cell_error(sheet, n, letter, col.header, col.field, e.zh, e.en))
                bad.add((sheet, n, letter))
                out[col.field] = _text(v) if col.kind in ("vocab", "type") else False if col.kind == "bool" else None
        if col.required and out[col.field] in (None, ""):
            letter = get_column_letter(i + 1)
            if (sheet, n, letter) not in bad:
                errors.append(cell_error(sheet, n, letter, col.header, col.field, f"“{col.header}”不能为空",
                                         f"'{col.header}' must not be blank"))
                bad.add((sheet, n, letter))
    return out


def parse_workbook(data: bytes) -> ParsedWorkbook:
    """Read an uploaded workbook into entries with their items; collect every cell-level error.

    File-level problems (not an xlsx, damaged, a sheet missing) raise Invalid.
    """
    wb = _open(data)
    try:
        names = {_norm_header(s) for s in wb.sheetnames}
        missing = [s for s in SHEETS if s not in names]
        if missing:
            raise Invalid(f"工作簿缺少工作表：{'、'.join(missing)}（现有：{'、'.join(wb.sheetnames) or '无'}）",
                          f"The workbook lacks the sheet(s) {', '.join(missing)} "
                          f"(found: {', '.join(wb.sheetnames) or 'none'})", field="file")
        errors: list[dict] = []
        ecols, erows, eok = _read_sheet(wb, ENTRY_SHEET, errors)
        icols, irows, iok = _read_sheet(wb, ITEM_SHEET, errors)
    except xlsx.XlsxError as exc:
        raise Invalid(*_DAMAGED, field="file") from exc
    finally:
        wb.close()
    columns = {ENTRY_SHEET: {c.field: get_column_letter(i + 1) for i, c in ecols.items()},
               ITEM_SHEET: {c.field: get_column_letter(i + 1) for i, c in icols.items()}}
    if not (eok and iok):
        return ParsedWorkbook([], len(irows), errors, columns)
    if not erows:
        raise Invalid("“信息资源”表中没有数据行", "The sheet 信息资源 has no data rows", field="file")
    by_code: dict[str, ParsedEntry] = {}
    parsed: list[ParsedEntry] = []
    ecode = columns[ENTRY_SHEET]["code"]
    for n, values in erows:
        bad: set = set()
        mark = len(errors)
        vals = _row_values(ENTRY_SHEET, ecols, n, values, errors, bad)
        code = vals.get("code") or ""
        for e in errors[mark:]:
            e["code"] = code or None
        pe = ParsedEntry(n, code, vals, bad=bad)
        parsed.append(pe)
        if not code:
            continue
        first = by_code.get(code)
        if first is not None:
            errors.append(cell_error(ENTRY_SHEET, n, ecode, "信息资源代码", "code",
                                     f"信息资源代码“{code}”重复（与第 {first.row} 行相同）",
                                     f"Duplicate code '{code}' (same as row {first.row})", code))
            pe.bad.add((ENTRY_SHEET, n, ecode))
        else:
            by_code[code] = pe
    icode = columns[ITEM_SHEET]["code"]
    for n, values in irows:
        bad = set()
        mark = len(errors)
        vals = _row_values(ITEM_SHEET, icols, n, values, errors, bad)
        code = vals.pop("code", None) or ""
        for e in errors[mark:]:
            e["code"] = code or None
        owner = by_code.get(code)
        if owner is None:
            if code:
                errors.append(cell_error(ITEM_SHEET, n, icode, "信息资源代码", "code",
                                         f"信息资源代码“{code}”在“信息资源”表中不存在",
                                         f"Code '{code}' is not in the sheet 信息资源", code))
            continue
        owner.bad |= bad
        owner.items.append((n, vals.pop("seq", None), vals))
    iname = columns[ITEM_SHEET]["name"]
    for pe in parsed:
        if not pe.code or by_code.get(pe.code) is not pe:
            continue
        if not pe.items:
            errors.append(cell_error(ENTRY_SHEET, pe.row, ecode, "信息资源代码", "items",
                                     f"信息资源“{pe.code}”在“信息项”表中没有信息项",
                                     f"Entry '{pe.code}' has no rows in the sheet 信息项", pe.code))
            continue
        pe.items.sort(key=lambda t: (t[1] is None, t[1] or 0, t[0]))
        names: dict[str, int] = {}
        for n, _seq, vals in pe.items:
            nm = vals.get("name")
            if nm and nm in names:
                errors.append(cell_error(ITEM_SHEET, n, iname, "信息项名称", "name",
                                         f"信息项名称“{nm}”在该资源内重复（与第 {names[nm]} 行相同）",
                                         f"Item name '{nm}' repeated in this entry (same as row {names[nm]})", pe.code))
                pe.bad.add((ITEM_SHEET, n, iname))
            elif nm:
                names[nm] = n
        _build(pe, columns, errors)
    return ParsedWorkbook(parsed, len(irows), errors, columns)


_PYD_ZH = {"string_too_long": "过长（最多 {max_length} 字）", "string_too_short": "不能为空",
           "greater_than_equal": "应不小于 {ge}", "less_than_equal": "应不大于 {le}", "missing": "不能为空",
           "too_short": "至少需要 {min_length} 项"}


def _build(pe: ParsedEntry, columns: dict, errors: list[dict]) -> None:
    """Make the EntryIn; schema errors (lengths, ranges) are mapped to their cells."""
    values = {k: v for k, v in pe.values.items() if k not in ("provider_name", "provider_code")}
    values = {k: v for k, v in values.items() if v is not None or k in ("class_code", "collecting_org",
                                                                          "verifying_org", "grade", "release_date")}
    values["items"] = [{k: v for k, v in vals.items() if v is not None or k in ("grade", "sharing_type",
                                                                                 "open_type", "element_code")}
                       for _n, _s, vals in pe.items]
    try:
        pe.data = EntryIn.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
            tmpl = _PYD_ZH.get(e["type"], "取值无效")
            zh = tmpl.format(**(e.get("ctx") or {})) if "{" in tmpl else tmpl
            add_located(pe, columns, errors, {"field": path, "message": zh, "message_en": e["msg"]})


def _locate(pe: ParsedEntry, columns: dict, path: str) -> tuple[str, int, str | None, str | None]:
    m = _ITEM_PATH.match(path or "")
    if m and int(m[1]) < len(pe.items):
        sub = _FIELD_ALIAS.get(m[2] or "name", m[2] or "name")
        col = _ITEM_BY_FIELD.get(sub)
        return ITEM_SHEET, pe.items[int(m[1])][0], columns[ITEM_SHEET].get(sub), col.header if col else None
    top = re.split(r"[.\[]", path or "", maxsplit=1)[0]
    top = _FIELD_ALIAS.get(top, top)
    if top == "class_code" and "class_code" not in columns[ENTRY_SHEET]:
        top = "code"
    col = _ENTRY_BY_FIELD.get(top)
    return ENTRY_SHEET, pe.row, columns[ENTRY_SHEET].get(top), col.header if col else None


def add_located(pe: ParsedEntry, columns: dict, errors: list[dict], problem: dict) -> None:
    sheet, row, letter, header = _locate(pe, columns, problem.get("field") or "")
    if letter is not None and (sheet, row, letter) in pe.bad:
        return  # that cell's error is already reported
    if letter is not None:
        pe.bad.add((sheet, row, letter))
    zh = problem.get("message") or ""
    en = problem.get("message_en") or zh
    if header and letter is None:
        zh, en = f"{zh}（文件中无“{header}”列）", f"{en} (the file has no column '{header}')"
    errors.append(cell_error(sheet, row, letter, header, problem.get("field"), zh, en, pe.code))



# Writing ---------------------------------------------------------------------------------

def _cell_value(col: Column, v: Any) -> Any:
    if col.kind == "bool":
        return YES if v else NO
    if col.kind == "codes":
        return ";".join(v or [])
    if isinstance(v, datetime):
        return v.date()
    return None if v == "" else v


def _sheet(wb: Workbook, name: str, spec: tuple[Column, ...], grades: list[str]):
    ws = wb.create_sheet(name)
    for i, col in enumerate(spec, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = col.width
        choices = grades if col.field == "grade" else col.choices
        if choices:
            dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle="取值无效",
                                error=f"请从下拉列表中选择：{'、'.join(choices)}")
        elif col.kind == "int":
            dv = DataValidation(type="whole", operator="between", formula1="1", formula2="100000", allow_blank=True,
                                showErrorMessage=True, errorTitle="取值无效", error="请填写整数")
        elif col.kind == "date":
            dv = DataValidation(type="date", operator="greaterThan", formula1="1", allow_blank=True,
                                showErrorMessage=True, errorTitle="取值无效", error="请填写日期（YYYY-MM-DD）")
        else:
            continue
        dv.add(f"{letter}2:{letter}1048576")
        ws.add_data_validation(dv)
    ws.append([col.header for col in spec])
    for cell in ws[1]:
        cell.font = _BOLD
    ws.freeze_panes = "A2"
    return ws


_BOLD = Font(bold=True)


def write_workbook(rows: list[dict], *, grades: list[str]) -> bytes:
    """Write entry rows (EntryIn fields + provider_name/provider_code + items) in the template layout.

    A regular (not write-only) workbook, so the file declares its used range like one saved
    by Excel or WPS and reads back quickly.
    """
    wb = Workbook()
    wb.remove(wb.active)
    es = _sheet(wb, ENTRY_SHEET, ENTRY_COLUMNS, grades)
    its = _sheet(wb, ITEM_SHEET, ITEM_COLUMNS, grades)
    for row in rows:
        es.append([_cell_value(c, row.get(c.field)) for c in ENTRY_COLUMNS])
        for n, it in enumerate(row.get("items", []), start=1):
            its.append([row.get("code") if c.field == "code" else it.get("seq", n) if c.field == "seq"
                        else _cell_value(c, it.get(c.field)) for c in ITEM_COLUMNS])
    _notes(wb, grades)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _notes(wb: Workbook, grades: list[str]) -> None:
    ws = wb.create_sheet(NOTE_SHEET)
    for i, w in enumerate((12, 16, 8, 48, 60), start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.append(["政务信息资源目录导入模板说明（按表头识别列，列的顺序可以调整）"])
    ws.append(["工作表", "列名", "必填", "说明", "可选值"])
    for cell in (ws["A1"], *ws[2]):
        cell.font = _BOLD
    for sheet, spec in SHEETS.items():
        for c in spec:
            choices = grades if c.field == "grade" else c.choices
            ws.append([sheet, c.header, YES if c.required else "", c.note, "、".join(choices)])
    ws.append([])
    ws.append(["规则", "", "", "有条件共享须填写共享条件和共享依据；不予共享须填写法律依据，且开放属性须为不予开放；"
               "信息项的共享、开放不得比所属资源更宽；资源分级不低于其信息项的最高分级（就高从严）。"])
    ws.append(["导入", "", "", "任何一处错误都会导致整个文件不被导入；错误报告给出工作表、行号、列号和原因。"
               "已存在的同代码资源（本部门的草稿、已退回、修订中）将被更新，未变化的资源跳过。"])
