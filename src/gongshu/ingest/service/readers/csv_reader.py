"""CSV: pyarrow's streaming parser; other encodings transcoded to UTF-8 on the fly (R-AGG-2)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gongshu.ingest.service.readers.common import (
    CSV_BLOCK_BYTES,
    MAX_DETAILS,
    MAX_FIELD_BYTES,
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
