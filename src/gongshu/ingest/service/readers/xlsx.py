"""XLSX: the first sheet with data, streamed with openpyxl after a zip-safety, merged-cell and
formula scan (R-AGG-2). Rows are numbered by sheet row; rows without a value are skipped, and a row with
a value beyond the header is left out and listed in ``Reader.structural`` (R-AGG-3)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pyarrow as pa

from gongshu.ingest.service.readers.common import (
    MAX_DETAILS,
    MAX_STRUCTURAL,
    MAX_UNZIPPED_BYTES,
    MAX_ZIP_RATIO,
    SAMPLE_BYTES,
    Reader,
    _fail,
    check_labels,
)
from gongshu.ingest.service.readers.lines import Steps

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL_REF = re.compile(rb'\sr="([A-Z]+[0-9]+)"')


def _check_zip(zf: zipfile.ZipFile, filename: str) -> None:
    total = 0
    for info in zf.infolist():
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in PurePosixPath(name.replace("\\", "/")).parts or ":" in name:
            raise _fail(f"压缩包内含不安全的路径：{name}", f"the archive holds an unsafe path: {name}", filename,
                        fld=name, problem="zip_path")
        total += info.file_size
        if info.file_size > (1 << 20) and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise _fail(f"压缩包成员 {name} 的压缩比异常（疑似压缩炸弹）",
                        f"archive member {name} has an abnormal compression ratio (a zip bomb?)",
                        filename, fld=name, problem="zip_bomb")
    if total > MAX_UNZIPPED_BYTES:
        raise _fail("压缩包解压后超过 2 GB（疑似压缩炸弹）", "the archive unpacks to more than 2 GB (a zip bomb?)",
                    filename, problem="zip_bomb")


def _sheet_parts(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, zip member) in workbook order."""
    wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = []
    for sheet in wb.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        out.append((sheet.get("name", ""), member))
    return out


def _scan_sheet(zf: zipfile.ZipFile, member: str) -> tuple[list[str], list[str], bool]:
    """Stream the sheet XML once: merged ranges, formula cells, whether it holds any value."""
    merged: list[str] = []
    formulas: list[str] = []
    has_values = False
    tail = b""
    with zf.open(member) as f:
        while chunk := f.read(SAMPLE_BYTES):
            data = tail + chunk
            cut = max(0, data.rfind(b"<", max(0, len(data) - 4096)))
            body, tail = data[:cut], data[cut:]
            has_values = has_values or b"<v>" in body or b"<is>" in body
            merged.extend(m.decode() for m in _MERGE.findall(body))
            for m in _FORMULA.finditer(body):
                start = body.rfind(b"<c ", 0, m.start())
                ref = _CELL_REF.search(body, start, m.start()) if start >= 0 else None
                if ref and len(formulas) < MAX_DETAILS:
                    formulas.append(ref.group(1).decode())
    rest = tail
    merged.extend(m.decode() for m in _MERGE.findall(rest))
    return merged, formulas, has_values or b"<v>" in rest


def _open_xlsx(path: Path, filename: str, encoding: str | None) -> Reader:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise _fail("不是有效的 XLSX 文件", "not a valid XLSX file", filename, problem="format") from None
    with zf:
        _check_zip(zf, filename)
        try:
            sheets = _sheet_parts(zf)
            scans = [_scan_sheet(zf, member) for _, member in sheets]
        except (KeyError, ElementTree.ParseError):
            raise _fail("不是有效的 XLSX 文件", "not a valid XLSX file", filename, problem="format") from None
    if not sheets:
        raise _fail("工作簿中没有工作表", "the workbook has no sheet", filename, problem="empty")
    name = sheets[0][0]
    merged, formulas, has_values = scans[0]
    if merged:
        ranges = "、".join(f"{name}!{r}" for r in merged[:20])
        raise _fail(f"工作表含合并单元格：{ranges}，请取消合并并在每个单元格填值",
                    f"the sheet has merged cells: {ranges}; unmerge them and fill every cell", filename,
                    details=[{"file": filename, "row": int(re.sub(r"[A-Z]+", "", r.split(":")[0])),
                              "field": f"{name}!{r}", "problem": "merged_cells"} for r in merged[:MAX_DETAILS]])
    if formulas:
        cells = "、".join(f"{name}!{c}" for c in formulas[:20])
        raise _fail(f"工作表含公式单元格：{cells}，请将公式转为数值后再上传",
                    f"the sheet has formula cells: {cells}; paste them as values before uploading", filename,
                    details=[{"file": filename, "row": int(re.sub(r"[A-Z]+", "", c)), "field": f"{name}!{c}",
                              "problem": "formula"} for c in formulas])
    if not has_values:
        raise _fail(f"工作表 {name} 为空", f"sheet {name} is empty", filename, row=1, problem="empty")
    reader = Reader(path, filename, "xlsx", None, [], sheet=name)
    others = [s[0] for s, scan in zip(sheets[1:], scans[1:], strict=True) if scan[2]]
    if others:
        reader.notes.append(f"工作簿有多个含数据的工作表，只读取第一个“{name}”，未读取：{'、'.join(others)} / "
                            f"the workbook has several sheets with data; only the first, {name}, was read")
    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        first = next(wb[name].iter_rows(min_row=1, max_row=1, values_only=True), ())
    finally:
        wb.close()
    labels = [_cell_text(v) or "" for v in first]
    while labels and not labels[-1]:
        labels.pop()
    reader.header = check_labels(labels, filename)
    return reader


def _cell_text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    return str(v)


def _xlsx_batches(reader: Reader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    width = len(reader.header)
    wb = openpyxl.load_workbook(reader.path, read_only=True, data_only=False)
    blank = records = 0
    at: list[int] = []  # data row = sheet row - 1 - (rows without a value before it), as steps
    rec_off: list[int] = []
    ragged: list[tuple[int, int, int, str, str]] = []  # (sheet row, data row, columns, cell, value)
    count = 0
    try:
        cols: list[list[str | None]] = [[] for _ in range(width)]
        rows: list[int] = []
        for number, values in enumerate(wb[reader.sheet].iter_rows(min_row=2, values_only=True), start=2):
            cells = [_cell_text(v) for v in values]
            if not any(c is not None for c in cells):
                blank += 1
                continue
            records += 1
            if -blank != (rec_off[-1] if rec_off else 0):
                at.append(number)
                rec_off.append(-blank)
            extra = [i for i, c in enumerate(cells[width:], start=width) if c is not None]
            if extra:
                count += 1
                if len(ragged) < MAX_STRUCTURAL:
                    ref = f"{reader.sheet}!{openpyxl.utils.get_column_letter(extra[0] + 1)}{number}"
                    ragged.append((number, records, extra[-1] + 1, ref, cells[extra[0]] or ""))
                continue
            cells += [None] * (width - len(cells))
            for col, cell in zip(cols, cells, strict=False):
                col.append(cell)
            rows.append(number)
            if len(rows) >= batch_rows:
                yield _string_batch(reader.header, cols, rows)
                cols, rows = [[] for _ in range(width)], []
        if rows:
            yield _string_batch(reader.header, cols, rows)
    finally:
        wb.close()
    reader.steps = Steps(np.array(at, np.int64), np.zeros(len(at), np.int64), np.array(rec_off, np.int64))
    reader.located = True
    reader.records = records - count
    if count:
        zh = [f"单元格 {r[3]} 在表头之外有值：本行有 {r[2]} 列，表头只有 {width} 列" for r in ragged]
        en = [f"cell {r[3]} holds a value outside the header: the row has {r[2]} columns, the header {width}"
              for r in ragged]
        first = ragged[0]
        reader.set_structural(
            [r[0] for r in ragged], [r[1] for r in ragged], [r[3] for r in ragged], [r[4][:200] for r in ragged],
            (zh, en), count,
            (f"有 {count} 行在表头之外的列有值（如第 {first[0]} 行的单元格 {first[3]}），列数与表头不一致，整批拒收，未入库",
             f"{count} rows hold values outside the header (e.g. cell {first[3]} in row {first[0]}); the whole "
             "load was refused and nothing was loaded"))


def _string_batch(header: list[str], cols: list[list[str | None]], rows: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(c, pa.large_string()) for c in cols]
    return pa.RecordBatch.from_arrays([*arrays, pa.array(rows, pa.int64())], names=[*header, "_row"])
