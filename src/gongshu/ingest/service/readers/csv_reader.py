"""CSV: pyarrow's streaming parser; other encodings transcoded to UTF-8 on the fly (R-AGG-2).

Rows with another number of fields than the header are skipped by the parser and, once the file is read,
listed with the physical line they start on (:mod:`.lines`), so one upload reports them together with
every other row's value problems (R-AGG-3). The batches' ``_row`` is the record's ordinal + 1;
:meth:`Reader.locate` turns it into the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gongshu.ingest.service.readers.common import (
    CSV_BLOCK_BYTES,
    MAX_FIELD_BYTES,
    MAX_STRUCTURAL,
    SAMPLE_BYTES,
    Reader,
    _decode_error,
    _DecodeFailure,
    _fail,
    _Utf8Stream,
    _with_rows,
    check_labels,
    detect_encoding,
)
from gongshu.ingest.service.readers.lines import Layout, Steps, csv_steps


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
    records = csv.reader(io.StringIO(sample, newline=""))  # lines end in \n, \r\n or a lone \r
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
    invalid = {"rows": 0, "odd_quotes": False}
    lock = threading.Lock()  # the parser's threads call the handler

    def on_invalid(row: pacsv.InvalidRow) -> str:
        odd = row.text.count('"') % 2 == 1
        with lock:
            invalid["rows"] += 1
            invalid["odd_quotes"] = invalid["odd_quotes"] or odd
        return "skip"

    stream = None
    try:
        csv_reader, stream = _open_arrow_csv(reader, on_invalid, threads=True)
        next_row = 2
        for batch in csv_reader:
            _check_field_sizes(reader, batch, next_row)
            yield _with_rows(list(batch.columns), reader.header, next_row)
            next_row += batch.num_rows
        reader.records, reader.invalid = next_row - 2, invalid["rows"]
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
    if invalid["rows"]:
        _structure(reader, invalid["odd_quotes"])


def _layout(reader: Reader) -> Layout | None:
    return csv_steps(reader.path, width=len(reader.header), encoding=reader.encoding or "utf-8",
                     records=reader.records, invalid=reader.invalid, cap=MAX_STRUCTURAL,
                     field_limit=2 * MAX_FIELD_BYTES + 1)


def csv_locator(reader: Reader) -> Steps | None:
    """The line map of a read CSV file (None if it could not be determined)."""
    layout = _layout(reader)
    return layout.steps if layout is not None else None


def _structure(reader: Reader, odd_quotes: bool) -> None:
    """After a read in which the parser handed rows back: an unclosed quote stops the load; ragged rows
    are recorded on the reader with their lines (or, if the lines cannot be determined, with the parser's
    own numbering, as before)."""
    layout = _layout(reader)
    reader.located = True
    width = len(reader.header)
    if layout is None:
        reader.no_lines()
        ragged, total, quote = _numbered_invalid_rows(reader)
        if odd_quotes and quote is not None:
            _raise_unclosed(reader, quote)
        lines, records, columns, texts = [r[0] for r in ragged], [None] * len(ragged), \
            [r[1] for r in ragged], [r[2] for r in ragged]
    else:
        reader.steps = layout.steps
        if odd_quotes and layout.unclosed is not None:
            _raise_unclosed(reader, layout.unclosed)
        r = layout.ragged
        lines, records, columns, texts, total = r.lines, r.records, r.columns, r.texts, r.count
    if not total:
        return
    lines, records, columns, texts = (x[:MAX_STRUCTURAL] for x in (lines, records, columns, texts))
    zh = [f"本行有 {c} 列，表头有 {width} 列（列数与表头不一致）" for c in columns]
    en = [f"this row has {c} columns, the header has {width}" for c in columns]
    first, cols = lines[0], columns[0]
    reader.set_structural(
        lines, records, [None] * len(lines), texts, (zh, en), total,
        (f"有 {total} 行的列数与表头不一致（如第 {first} 行有 {cols} 列，表头有 {width} 列），整批拒收，未入库",
         f"{total} rows have another number of columns than the header (e.g. row {first} has {cols} columns, "
         f"the header has {width}); the whole load was refused and nothing was loaded"))


def _numbered_invalid_rows(reader: Reader) -> tuple[list[tuple[int, int, str]], int, int | None]:
    """The ragged rows the parser hands back when read again on one thread, which numbers them (header = 1,
    blank lines not counted): the first (number, fields, text) listed, how many, and the number of the
    first with an odd number of quotes."""
    rows: list[tuple[int, int, str]] = []
    found = {"total": 0, "quote": None}
    wide = len(reader.header) > 1

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if found["quote"] is None and row.text.count('"') % 2:
            found["quote"] = row.number
        if wide and not row.text.strip(" \t"):
            return "skip"  # only spaces: a blank line to the eye
        found["total"] += 1
        if len(rows) < MAX_STRUCTURAL:
            rows.append((row.number, row.actual_columns, row.text[:200]))
        return "skip"
    csv_reader, stream = _open_arrow_csv(reader, on_invalid, threads=False)
    try:
        for _ in csv_reader:
            pass
    finally:
        if stream is not None:
            stream.close()
    return rows, found["total"], found["quote"]


def _raise_unclosed(reader: Reader, line: int) -> None:
    raise _fail(f"第 {line} 行起有未闭合的引号", f"an unclosed quote starts in row {line}",
                reader.filename, row=line, problem="unclosed_quote")


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


def _check_field_sizes(reader: Reader, batch: pa.RecordBatch, first_row: int) -> None:
    for label, column in zip(reader.header, batch.columns, strict=True):
        too_big = pc.greater(pc.binary_length(column), MAX_FIELD_BYTES)
        if pc.any(too_big).as_py():
            _diagnose_csv(reader)  # names the line; if it does not find the field, the record number
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
    """Find the line behind a pyarrow parse error or an oversized field with the csv module (memory-bounded;
    error path only): the line a record starts on is one after the lines the records before it took."""
    csv.field_size_limit(2 * MAX_FIELD_BYTES + 1)
    with open(reader.path, encoding=reader.encoding, newline="") as text:
        rows = csv.reader(_bounded_lines(text, 2 * MAX_FIELD_BYTES), strict=True)
        line_end = 0
        try:
            for values in rows:
                big = next((i for i, v in enumerate(values) if len(v.encode()) > MAX_FIELD_BYTES), None)
                if big is not None:
                    _raise_field_too_big(reader, line_end + 1,
                                         reader.header[big] if big < len(reader.header) else None)
                line_end = rows.line_num
        except OverflowError as exc:
            fields = next(csv.reader([str(exc.args[0])]), [])
            label = reader.header[len(fields) - 1] if 0 < len(fields) <= len(reader.header) else None
            _raise_field_too_big(reader, line_end + 1, label)
        except csv.Error as exc:
            big = "field larger" in str(exc)
            zh = "（引号内的内容已超过 1 MB）" if big else ""
            en = " (the quoted text runs over 1 MB)" if big else ""
            raise _fail(f"第 {line_end + 1} 行起有未闭合的引号或引号用法错误{zh}", f"an unclosed or misplaced quote "
                        f"starts in row {line_end + 1}{en}", reader.filename, row=line_end + 1,
                        problem="unclosed_quote") from None
