"""Streaming readers for uploaded files: CSV, XLSX, JSON, NDJSON, Parquet (R-AGG-2).

Every reader yields ``pyarrow.RecordBatch`` es whose columns are ``large_string`` named by the
file's header labels (``None`` for an empty cell) plus a final int64 ``_row``: the row number a
user sees in a spreadsheet (header = row 1, first data row = row 2); for JSON the record number
from 1, for NDJSON the line number, for Parquet the record number from 1.
Nothing reads a whole file into memory except a JSON array (bounded at 200 MB).
Structural problems raise :class:`gongshu.errors.Invalid` with bilingual messages and
``details=[{"file", "row", "field", "problem"}]``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gongshu.errors import Invalid

FORMATS = ("csv", "xlsx", "json", "ndjson", "parquet")
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")
MAX_FIELD_BYTES = 1 << 20
MAX_JSON_ARRAY_BYTES = 200 << 20
MAX_UNZIPPED_BYTES = 2 << 30
MAX_ZIP_RATIO = 200
MAX_DETAILS = 100
SAMPLE_BYTES = 1 << 20
CSV_BLOCK_BYTES = 4 << 20
_EXT = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "json", ".ndjson": "ndjson",
        ".jsonl": "ndjson", ".parquet": "parquet"}
_ENC_ZH = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8（带 BOM）", "gbk": "GBK", "gb18030": "GB18030"}


def _fail(zh: str, en: str, filename: str, row: int | None = None, fld: str | None = None,
          problem: str | None = None, details: list[dict] | None = None) -> Invalid:
    if details is None:
        details = [{"file": filename, "row": row, "field": fld, "problem": problem or en}]
    return Invalid(f"{filename}：{zh}", f"{filename}: {en}", field=fld, details=details)


def detect_format(filename: str, head: bytes) -> str:
    """Format from the file name's extension, else from the first bytes."""
    ext = PurePosixPath(filename.lower()).suffix
    if ext in _EXT:
        return _EXT[ext]
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if start.startswith(b"["):
        return "json"
    if start.startswith(b"{"):
        return "ndjson"
    if ext in ("", ".tsv", ".dat"):
        return "csv"
    raise Invalid(f"不支持的文件类型：{filename}（支持 CSV、XLSX、JSON、NDJSON、Parquet）",
                  f"Unsupported file type: {filename} (CSV, XLSX, JSON, NDJSON, Parquet are supported)",
                  field="file", details=[{"file": filename, "row": None, "field": None, "problem": "format"}])


def _first_bad_utf8(sample: bytes) -> int | None:
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, False)
        return None
    except UnicodeDecodeError as exc:
        return exc.start


def detect_encoding(path: Path) -> str:
    """Sample-based: a UTF-8 BOM -> utf-8-sig; valid UTF-8 -> utf-8; else gbk, else gb18030."""
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _fail("文件为 UTF-16 编码，请另存为 UTF-8 或 GBK", "The file is UTF-16; save it as UTF-8 or GBK",
                    path.name, row=1, problem="encoding")
    bad = _first_bad_utf8(sample)
    if bad is None:
        return "utf-8"
    for enc in ("gbk", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)("strict").decode(sample, False)
            return enc
        except UnicodeDecodeError:
            continue
    line = sample[:bad].count(b"\n") + 1
    raise _fail(f"第 {line} 行（字节偏移 {bad}）无法按 UTF-8、GBK 或 GB18030 解码，请确认文件编码",
                f"row {line} (byte offset {bad}) cannot be decoded as UTF-8, GBK or GB18030; check the encoding",
                path.name, row=line, problem="encoding")


class _DecodeFailure(Exception):
    def __init__(self, offset: int, line: int, raw: bytes) -> None:
        super().__init__(f"undecodable bytes at offset {offset} (line {line})")
        self.offset, self.line, self.raw = offset, line, raw


class _Utf8Stream(io.RawIOBase):
    """Reads a file in any supported encoding and hands out UTF-8, chunk by chunk.

    A byte sequence that does not decode raises :class:`_DecodeFailure` with the byte offset
    and the line number (remembered in ``failure`` too, since pyarrow may wrap the error).
    """

    def __init__(self, path: Path, encoding: str, chunk: int = SAMPLE_BYTES) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._dec = codecs.getincrementaldecoder(encoding)("strict")
        self._chunk, self._pos, self._lines = chunk, 0, 0
        self._buf, self._off, self._eof = b"", 0, False
        self.failure: _DecodeFailure | None = None

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        raw = self._f.read(self._chunk)
        pending = self._dec.getstate()[0]
        try:
            text = self._dec.decode(raw, not raw)
        except UnicodeDecodeError as exc:
            data = pending + raw
            offset = self._pos - len(pending) + exc.start
            self.failure = _DecodeFailure(offset, self._lines + data[:exc.start].count(b"\n") + 1,
                                          data[exc.start:exc.start + 8])
            raise self.failure from None
        self._pos += len(raw)
        self._lines += raw.count(b"\n")
        self._eof = not raw
        self._buf, self._off = text.encode("utf-8"), 0

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        while self._off >= len(self._buf) and not self._eof:
            self._fill()
        n = min(len(b), len(self._buf) - self._off)
        b[:n] = self._buf[self._off:self._off + n]
        self._off += n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _decode_error(reader: Reader, failure: _DecodeFailure) -> Invalid:
    others = "、".join(_ENC_ZH[e] for e in ENCODINGS if e != reader.encoding and e != "utf-8-sig")
    others_en = ", ".join(e.upper() for e in ENCODINGS if e != reader.encoding and e != "utf-8-sig")
    enc = _ENC_ZH.get(reader.encoding or "", reader.encoding)
    return _fail(f"第 {failure.line} 行（字节偏移 {failure.offset}，字节 {failure.raw.hex(' ')}）无法按 {enc} 解码；"
                 f"文件可能混用了编码，请统一另存为一种编码，或改选编码（{others}）",
                 f"row {failure.line} (byte offset {failure.offset}, bytes {failure.raw.hex(' ')}) cannot be decoded "
                 f"as {reader.encoding}; the file may mix encodings: save it in one encoding or choose another "
                 f"({others_en})", reader.filename, row=failure.line, problem="encoding")


@dataclass
class Reader:
    path: Path
    filename: str
    format: str
    encoding: str | None
    header: list[str]
    notes: list[str] = field(default_factory=list)
    sheet: str | None = None

    def batches(self, batch_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows (see the module docstring)."""
        source = {"csv": _csv_batches, "xlsx": _xlsx_batches, "json": _json_batches,
                  "ndjson": _ndjson_batches, "parquet": _parquet_batches}[self.format](self, batch_rows)
        total = 0
        for batch in _rebatch(source, batch_rows):
            total += batch.num_rows
            yield batch
        if total == 0:
            raise _fail("只有表头，没有数据行", "the file has a header but no data rows", self.filename,
                        row=2, problem="no_data")


def _rebatch(source: Iterator[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in source:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= batch_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, batch_rows).combine_chunks().to_batches()[0]
            rest = table.slice(batch_rows)  # zero-copy: the rest is copied once, into the batch it ends up in
            pending, count = [b for b in rest.to_batches() if b.num_rows], rest.num_rows
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _with_rows(columns: list[pa.Array], header: list[str], first_row: int) -> pa.RecordBatch:
    n = len(columns[0]) if columns else 0
    rows = pl.int_range(first_row, first_row + n, dtype=pl.Int64, eager=True).to_arrow()
    return pa.RecordBatch.from_arrays([*columns, rows], names=[*header, "_row"])


def check_labels(labels: list[str], filename: str) -> list[str]:
    """Header labels trimmed; empty or duplicate labels raise :class:`Invalid` naming the column."""
    out = [(x or "").strip() for x in labels]
    problems = []
    for i, label in enumerate(out, start=1):
        if not label:
            problems.append({"file": filename, "row": 1, "field": f"第{i}列", "problem": "empty_header"})
        elif label in out[:i - 1]:
            problems.append({"file": filename, "row": 1, "field": label, "problem": "duplicate_header"})
    if not out:
        raise _fail("文件为空", "the file is empty", filename, row=1, problem="empty")
    if problems:
        names = "、".join(p["field"] for p in problems)
        raise _fail(f"表头（第 1 行）有空列名或重复列名：{names}", f"the header (row 1) has empty or duplicate "
                    f"column names: {names}", filename, details=problems)
    return out


def open_reader(path: Path, *, filename: str, format: str | None = None, encoding: str | None = None) -> Reader:
    """Open ``path`` (uploaded as ``filename``) and read its header; the format and the encoding
    are detected unless given."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
    fmt = format or detect_format(filename, head)
    if fmt not in FORMATS:
        raise Invalid(f"不支持的格式：{fmt}", f"Unsupported format: {fmt}", field="format")
    if encoding is not None and codecs.lookup(encoding).name not in {codecs.lookup(e).name for e in ENCODINGS}:
        raise Invalid(f"不支持的编码：{encoding}（可选 {', '.join(ENCODINGS)}）",
                      f"Unsupported encoding: {encoding} (choose {', '.join(ENCODINGS)})", field="encoding")
    if path.stat().st_size == 0:
        raise _fail("文件为空", "the file is empty", filename, row=1, problem="empty")
    opener = {"csv": _open_csv, "xlsx": _open_xlsx, "json": _open_json, "ndjson": _open_ndjson,
              "parquet": _open_parquet}[fmt]
    return opener(path, filename, encoding)


# ---- CSV ---------------------------------------------------------------------------------------

def _open_csv(path: Path, filename: str, encoding: str | None) -> Reader:
    enc = encoding or detect_encoding(path)
    reader = Reader(path, filename, "csv", enc, [])
    stream = _Utf8Stream(path, enc)
    try:
        sample = codecs.getincrementaldecoder("utf-8")().decode(stream.read(SAMPLE_BYTES), False)  # may end mid-character
        at_end = not stream.read(1)
    except _DecodeFailure as exc:
        raise _decode_error(reader, exc) from None
    finally:
        stream.close()
    if not sample.strip():
        raise _fail("文件为空", "the file is empty", filename, row=1, problem="empty")
    records = csv.reader(io.StringIO(sample))
    reader.header = check_labels(next(records), filename)
    if at_end and not any(any(c.strip() for c in rec) for rec in records):
        raise _fail("只有表头，没有数据行", "the file has a header but no data rows", filename, row=2,
                    problem="no_data")
    return reader


def _open_arrow_csv(reader: Reader, on_invalid, threads: bool) -> tuple[pacsv.CSVStreamingReader, _Utf8Stream | None]:
    names = [f"f{i}" for i in range(len(reader.header))]
    # UTF-8 goes to pyarrow untouched (it validates); other encodings are transcoded chunk by chunk
    stream = None if reader.encoding in ("utf-8", None) else _Utf8Stream(reader.path, reader.encoding)
    csv_reader = pacsv.open_csv(
        stream or str(reader.path),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=CSV_BLOCK_BYTES,
                                       use_threads=threads),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.large_string()),
                                             strings_can_be_null=True, quoted_strings_can_be_null=True))
    return csv_reader, stream


def _csv_batches(reader: Reader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    ragged: list[dict] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        ragged.append({"row": row.number, "columns": row.actual_columns, "quote": row.text.count('"') % 2 == 1})
        return "skip"

    stream = None
    try:
        csv_reader, stream = _open_arrow_csv(reader, on_invalid, threads=True)
        next_row = 2
        for batch in csv_reader:
            if ragged:
                break
            _check_field_sizes(reader, batch, next_row)
            yield _with_rows(list(batch.columns), reader.header, next_row)
            next_row += batch.num_rows
        if ragged:  # the threaded parser does not number rows: parse again on one thread to name them
            ragged.clear()
            csv_reader, stream2 = _open_arrow_csv(reader, on_invalid, threads=False)
            for _ in csv_reader:
                pass
            if stream2 is not None:
                stream2.close()
    except _DecodeFailure as exc:
        raise _decode_error(reader, exc) from None
    except pa.ArrowInvalid as exc:
        failure = stream.failure if stream is not None else _find_decode_failure(reader)
        if failure is not None:
            raise _decode_error(reader, failure) from None
        _diagnose_csv(reader)
        raise _fail(f"无法解析 CSV：{exc}", f"cannot parse the CSV: {exc}", reader.filename, problem="parse") from None
    finally:
        if stream is not None:
            stream.close()
    if ragged:
        _raise_ragged(reader, ragged, len(reader.header))


def _find_decode_failure(reader: Reader) -> _DecodeFailure | None:
    """Scan the file with the declared encoding for the first undecodable bytes (error path only)."""
    stream = _Utf8Stream(reader.path, reader.encoding or "utf-8")
    try:
        while stream.read(SAMPLE_BYTES):
            pass
    except _DecodeFailure as exc:
        return exc
    finally:
        stream.close()
    return None


def _raise_ragged(reader: Reader, ragged: list[dict], width: int) -> None:
    quote = next((r for r in ragged if r["quote"]), None)
    if quote is not None:
        raise _fail(f"第 {quote['row']} 行起有未闭合的引号", f"an unclosed quote starts in row {quote['row']}",
                    reader.filename, row=quote["row"], problem="unclosed_quote")
    details = [{"file": reader.filename, "row": r["row"], "field": None,
                "problem": f"row {r['row']} has {r['columns']} columns, the header has {width}"}
               for r in ragged[:MAX_DETAILS]]
    first = ragged[0]
    raise _fail(f"有 {len(ragged)} 行的列数与表头不一致，如第 {first['row']} 行有 {first['columns']} 列，表头有 {width} 列",
                f"{len(ragged)} rows have a different number of columns than the header, e.g. row "
                f"{first['row']} has {first['columns']} columns, the header has {width}",
                reader.filename, details=details)


def _check_field_sizes(reader: Reader, batch: pa.RecordBatch, first_row: int) -> None:
    for label, column in zip(reader.header, batch.columns, strict=True):
        too_big = pc.greater(pc.binary_length(column), MAX_FIELD_BYTES)
        if pc.any(too_big).as_py():
            i = pc.index(too_big, True).as_py()
            _raise_field_too_big(reader, first_row + i, label)


def _raise_field_too_big(reader: Reader, row: int, label: str | None) -> None:
    where = f"“{label}”列" if label else ""
    raise _fail(f"第 {row} 行{where}的内容超过 1 MB", f"row {row}{' column ' + label if label else ''} "
                f"holds a field larger than 1 MB", reader.filename, row=row, fld=label, problem="field_too_large")


def _bounded_lines(text: io.TextIOBase, limit: int) -> Iterator[str]:
    while piece := text.readline(limit):
        yield piece
        if len(piece) >= limit and not piece.endswith("\n"):
            raise OverflowError(piece)


def _diagnose_csv(reader: Reader) -> None:
    """Find the row behind a pyarrow parse error with the csv module (memory-bounded; error path only)."""
    csv.field_size_limit(2 * MAX_FIELD_BYTES + 1)
    with open(reader.path, encoding=reader.encoding, newline="") as text:
        rows = csv.reader(_bounded_lines(text, 2 * MAX_FIELD_BYTES), strict=True)
        record, line_end = 1, 0
        try:
            for values in rows:
                big = next((i for i, v in enumerate(values) if len(v.encode()) > MAX_FIELD_BYTES), None)
                if big is not None:
                    _raise_field_too_big(reader, record, reader.header[big] if big < len(reader.header) else None)
                record, line_end = record + 1, rows.line_num
        except OverflowError as exc:
            fields = next(csv.reader([str(exc.args[0])]), [])
            label = reader.header[len(fields) - 1] if 0 < len(fields) <= len(reader.header) else None
            _raise_field_too_big(reader, record, label)
        except csv.Error as exc:
            big = "field larger" in str(exc)
            zh = "（引号内的内容已超过 1 MB）" if big else ""
            en = " (the quoted text runs over 1 MB)" if big else ""
            raise _fail(f"第 {line_end + 1} 行起有未闭合的引号或引号用法错误{zh}", f"an unclosed or misplaced quote "
                        f"starts in row {line_end + 1}{en}", reader.filename, row=line_end + 1,
                        problem="unclosed_quote") from None


# ---- XLSX --------------------------------------------------------------------------------------

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
    try:
        cols: list[list[str | None]] = [[] for _ in range(width)]
        rows: list[int] = []
        for number, values in enumerate(wb[reader.sheet].iter_rows(min_row=2, values_only=True), start=2):
            cells = [_cell_text(v) for v in values]
            if not any(c is not None for c in cells):
                continue
            extra = [i for i, c in enumerate(cells[width:], start=width) if c is not None]
            if extra:
                ref = f"{reader.sheet}!{openpyxl.utils.get_column_letter(extra[0] + 1)}{number}"
                raise _fail(f"单元格 {ref} 在表头之外有值（第 {number} 行比表头多列）",
                            f"cell {ref} holds a value outside the header (row {number} has more columns)",
                            reader.filename, row=number, fld=ref, problem="ragged")
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


def _string_batch(header: list[str], cols: list[list[str | None]], rows: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(c, pa.large_string()) for c in cols]
    return pa.RecordBatch.from_arrays([*arrays, pa.array(rows, pa.int64())], names=[*header, "_row"])


# ---- JSON / NDJSON -----------------------------------------------------------------------------

def _json_text(reader: Reader, data: bytes) -> str:
    try:
        return data.decode(reader.encoding or "utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _decode_error(reader, _DecodeFailure(exc.start, line, data[exc.start:exc.start + 8])) from None


def _open_json(path: Path, filename: str, encoding: str | None) -> Reader:
    if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
        raise _fail("JSON 数组文件超过 200 MB，请改用 NDJSON（每行一个对象）或 CSV、Parquet",
                    "a JSON array file over 200 MB; use NDJSON (one object per line), CSV or Parquet",
                    filename, problem="too_large")
    reader = Reader(path, filename, "json", encoding or detect_encoding(path), [])
    text = _json_text(reader, path.read_bytes()).lstrip()
    if not text.startswith("["):
        raise _fail("JSON 文件应为对象数组（[{…}, {…}]）", "a JSON file must be an array of objects ([{…}, {…}])",
                    filename, row=1, problem="format")
    try:
        first, _ = json.JSONDecoder().raw_decode(text, 1 + len(text[1:]) - len(text[1:].lstrip()))
    except json.JSONDecodeError:
        if text[1:].strip().startswith("]"):
            raise _fail("只有空数组，没有数据", "the array has no records", filename, row=1, problem="no_data") from None
        raise _fail("JSON 格式错误（第 1 条记录）", "malformed JSON (record 1)", filename, row=1,
                    problem="parse") from None
    if not isinstance(first, dict) or not first:
        raise _fail("第 1 条记录不是 JSON 对象", "record 1 is not a JSON object", filename, row=1, problem="format")
    reader.header = check_labels(list(first), filename)
    return reader


def _decode_records(reader: Reader, lines: pl.Series, numbers: pl.Series, what: tuple[str, str]) -> pl.DataFrame:
    """JSON object texts -> all-string columns named by the header; extra/nested keys raise."""
    try:
        inferred = lines.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        inferred = None
    if inferred is None or not isinstance(inferred.dtype, pl.Struct):
        for text, n in zip(lines.to_list(), numbers.to_list(), strict=True):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                raise _fail(f"第 {n} {what[0]}不是合法的 JSON 对象", f"{what[1]} {n} is not a valid JSON object",
                            reader.filename, row=n, problem="parse")
            for key, value in obj.items():
                if key not in reader.header or isinstance(value, dict | list):
                    _raise_key(reader, n, key, key in reader.header, what)
        raise _fail("JSON 格式错误", "malformed JSON", reader.filename, problem="parse")
    fields = inferred.struct.unnest()
    for key in fields.columns:
        nested = key in reader.header and fields[key].dtype.is_nested()
        if key not in reader.header or nested:
            _raise_key(reader, numbers.filter(fields[key].is_not_null()).first(), key, nested, what)
    typed = lines.str.json_decode(pl.Struct({k: pl.String for k in reader.header})).struct.unnest()
    return typed.with_columns(pl.Series("_row", numbers, pl.Int64))


def _raise_key(reader: Reader, n: object, key: str, nested: bool, what: tuple[str, str]) -> None:
    zh = f"键“{key}”的值是嵌套的对象或数组" if nested else f"有表头之外的键“{key}”（表头取自第一条记录）"
    en = f"key {key} holds a nested object or array" if nested else f"has key {key}, which the first record lacks"
    raise _fail(f"第 {n} {what[0]}{zh}", f"{what[1]} {n} {en}", reader.filename, row=n, fld=key,
                problem="nested" if nested else "unknown_key")


def _json_batches(reader: Reader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    text = _json_text(reader, reader.path.read_bytes())
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）", f"malformed JSON (line {exc.lineno}, "
                    f"column {exc.colno})", reader.filename, row=exc.lineno, problem="parse") from None
    del text
    for start in range(0, len(records), batch_rows):
        part = records[start:start + batch_rows]
        bad = next((i for i, r in enumerate(part) if not isinstance(r, dict)), None)
        if bad is not None:
            raise _fail(f"第 {start + bad + 1} 条记录不是 JSON 对象", f"record {start + bad + 1} is not a JSON object",
                        reader.filename, row=start + bad + 1, problem="format")
        lines = pl.Series([json.dumps(r, ensure_ascii=False) for r in part], dtype=pl.String)
        numbers = pl.int_range(start + 1, start + 1 + len(part), eager=True)
        yield from _frame_batches(_decode_records(reader, lines, numbers, ("条记录", "record")), reader.header)


def _frame_batches(frame: pl.DataFrame, header: list[str]) -> Iterator[pa.RecordBatch]:
    table = frame.select([pl.col(h).cast(pl.String) for h in header] + [pl.col("_row")]).to_arrow()
    table = table.cast(pa.schema([*(pa.field(h, pa.large_string()) for h in header), pa.field("_row", pa.int64())]))
    yield from table.to_batches()


def _open_ndjson(path: Path, filename: str, encoding: str | None) -> Reader:
    reader = Reader(path, filename, "ndjson", encoding or detect_encoding(path), [])
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                try:
                    first = json.loads(_json_text(reader, raw))
                except json.JSONDecodeError:
                    first = None
                if not isinstance(first, dict) or not first:
                    raise _fail(f"第 {number} 行不是 JSON 对象", f"line {number} is not a JSON object", filename,
                                row=number, problem="parse")
                reader.header = check_labels(list(first), filename)
                return reader
    raise _fail("文件为空", "the file is empty", filename, row=1, problem="empty")


def _utf8_lines(reader: Reader, raw: list[bytes], line0: int) -> pa.Array:
    """Lines of one block as UTF-8 strings; an undecodable line raises naming its line number."""
    enc = reader.encoding or "utf-8"
    try:
        if enc in ("utf-8", "utf-8-sig"):
            return pa.array(raw, pa.large_binary()).cast(pa.large_string())
        return pa.array([b.decode(enc) for b in raw], pa.large_string())
    except (pa.ArrowInvalid, UnicodeDecodeError):
        for i, b in enumerate(raw):
            try:
                b.decode(enc)
            except UnicodeDecodeError as exc:
                raise _decode_error(reader, _DecodeFailure(exc.start, line0 + i, b[exc.start:exc.start + 8])) from None
        raise


def _ndjson_batches(reader: Reader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    line0, tail = 1, b""
    with open(reader.path, "rb") as f:
        while True:
            chunk = f.read(CSV_BLOCK_BYTES)
            data = tail + chunk
            cut = len(data) if not chunk else data.rfind(b"\n") + 1
            block, tail = data[:cut], data[cut:]
            if block:
                if line0 == 1 and block.startswith(codecs.BOM_UTF8):
                    block = block[3:]
                raw = block.split(b"\n")
                if raw and raw[-1] == b"":
                    raw.pop()
                texts = pl.Series("t", _utf8_lines(reader, raw, line0))
                numbers = pl.int_range(line0, line0 + len(raw), eager=True)
                keep = texts.str.strip_chars().str.len_bytes() > 0
                if keep.any():
                    frame = _decode_records(reader, texts.filter(keep), numbers.filter(keep), ("行", "line"))
                    yield from _frame_batches(frame, reader.header)
                line0 += len(raw)
            if not chunk:
                break


# ---- Parquet -----------------------------------------------------------------------------------

def _open_parquet(path: Path, filename: str, encoding: str | None) -> Reader:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _fail(f"不是有效的 Parquet 文件：{exc}", f"not a valid Parquet file: {exc}", filename,
                    problem="format") from None
    reader = Reader(path, filename, "parquet", None, check_labels(pf.schema_arrow.names, filename))
    for f in pf.schema_arrow:
        if pa.types.is_nested(f.type):
            raise _fail(f"列“{f.name}”是嵌套类型（{f.type}），请展开为普通列", f"column {f.name} has a nested type "
                        f"({f.type}); flatten it", filename, row=1, fld=f.name, problem="nested")
    return reader


def _parquet_batches(reader: Reader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    pf = pq.ParquetFile(reader.path)
    first = 1
    for batch in pf.iter_batches(batch_size=batch_rows):
        columns = []
        for name, column in zip(reader.header, batch.columns, strict=True):
            try:
                columns.append(pc.cast(column, pa.large_string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise _fail(f"列“{name}”（{column.type}）无法转为文本", f"column {name} ({column.type}) cannot be "
                            "read as text", reader.filename, fld=name, problem="type") from None
        yield _with_rows(columns, reader.header, first)
        first += batch.num_rows
