"""Shared pieces of the readers: limits, errors, encoding detection, the UTF-8 transcoding stream,
the :class:`Reader` record and the batch helpers every format uses."""

from __future__ import annotations

import codecs
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import polars as pl
import pyarrow as pa

from gongshu.errors import Invalid
from gongshu.ingest.service.readers.lines import Steps

FORMATS = ("csv", "xlsx", "json", "ndjson", "parquet")
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")
MAX_FIELD_BYTES = 1 << 20
MAX_JSON_ARRAY_BYTES = 200 << 20
MAX_UNZIPPED_BYTES = 2 << 30
MAX_ZIP_RATIO = 200
MAX_DETAILS = 100
SAMPLE_BYTES = 1 << 20
CSV_BLOCK_BYTES = 4 << 20
#: at most this many rows refused for their shape are listed (all are counted)
MAX_STRUCTURAL = 100_000
STRUCTURAL_SCHEMA = pa.schema([("_row", pa.int64()), ("field", pa.large_string()), ("value", pa.large_string()),
                               ("rule", pa.large_string()), ("message", pa.large_string()),
                               ("message_en", pa.large_string()), ("record", pa.int64())])
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
    #: after reading: rows refused for their shape (CSV: another number of fields than the header; XLSX: a
    #: value beyond the header), not in the batches; ``_row`` is the line, ``record`` the data row where it
    #: differs (see :meth:`locate`); at most :data:`MAX_STRUCTURAL` listed, ``structural_rows`` counts all
    structural: pa.Table | None = None
    structural_rows: int = 0
    #: (zh, en) headline naming the first of them
    structural_message: tuple[str, str] | None = None
    #: rows the batches carried, and (CSV) rows the parser handed back as invalid
    records: int = 0
    invalid: int = 0
    steps: Steps | None = None
    located: bool = False

    def batches(self, batch_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows (see the module docstring)."""
        source = _SOURCES[self.format](self, batch_rows)
        total = 0
        for batch in prefetched(_rebatch(source, batch_rows)):
            total += batch.num_rows
            yield batch
        if total == 0 and not self.structural_rows:
            raise _fail("只有表头，没有数据行", "the file has a header but no data rows", self.filename,
                        row=2, problem="no_data")

    def locate(self, rows: pa.Array | np.ndarray) -> tuple[pa.Array, pa.Array]:
        """For ``_row`` values the batches carried (call after reading): the line a user opens — CSV: the
        physical line the record starts on, header = line 1; XLSX: the sheet row; JSON, Parquet: the record
        number; NDJSON: the line — and the data row (the record's ordinal among the file's data records:
        blank lines not counted) where that is not simply the line − 1, else null."""
        rows = np.asarray(rows, np.int64)
        if not self.located:
            self.located = True
            if self.steps is None and self.format in _LOCATORS:
                self.steps = _LOCATORS[self.format](self)
                if self.steps is None:
                    self.no_lines()
        if self.steps is None:
            return pa.array(rows, pa.int64()), pa.nulls(len(rows), pa.int64())
        lines, records = self.steps.locate(rows)
        return pa.array(lines, pa.int64()), pa.array(records, pa.int64(), mask=lines == records + 1)

    def no_lines(self) -> None:
        """Say in the report that row numbers are the parser's, not lines (the line map did not agree)."""
        self.notes.append("未能确定各行在文件中的行号：问题清单中的行号按数据行计（表头为第 1 行，不计空行）/ "
                          "the file's line numbers could not be determined: row numbers in the report count data "
                          "rows (header = row 1, blank lines not counted)")

    def set_structural(self, lines: list[int], records: list[int | None], fields: list[str | None],
                       values: list[str], messages: tuple[list[str], list[str]], total: int,
                       headline: tuple[str, str]) -> None:
        """Record the rows refused for their shape (see ``structural``); ``records`` is None where unknown."""
        n = len(lines)
        shown = [r if r is not None and r != line - 1 else None for line, r in zip(lines, records, strict=True)]
        self.structural = pa.table([pa.array(lines, pa.int64()), pa.array(fields, pa.large_string()),
                                    pa.array(values, pa.large_string()), pa.array(["ragged_row"] * n, pa.large_string()),
                                    pa.array(messages[0], pa.large_string()), pa.array(messages[1], pa.large_string()),
                                    pa.array(shown, pa.int64())], schema=STRUCTURAL_SCHEMA)
        self.structural_rows = total
        self.structural_message = headline
        if total > n:
            self.notes.append(f"列数与表头不一致的行共 {total:,} 行，清单只列出前 {n:,} 行 / {total:,} rows have another "
                              f"number of columns than the header; the first {n:,} are listed")


# Each format's batch source, by format name; filled in by the package ``__init__`` (the format
# modules import :class:`Reader` from here, so this module cannot import them).
_SOURCES: dict[str, Callable[[Reader, int], Iterator[pa.RecordBatch]]] = {}
# Formats whose ``_row`` is not yet the line a user sees: a function giving the map once the file is read
# (``None``: it could not be determined).
_LOCATORS: dict[str, Callable[[Reader], Steps | None]] = {}


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


_DONE = object()


def prefetched(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """``batches`` produced on a thread of their own, at most ``depth`` ahead of the consumer: the next
    batch is parsed (pyarrow releases the GIL) while the caller validates the current one. The producer's
    error is raised here, in order; a consumer that stops early stops the producer."""
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)
        finally:
            closer = getattr(batches, "close", None)
            if closer is not None:
                closer()

    worker = threading.Thread(target=produce, name="reader-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


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
