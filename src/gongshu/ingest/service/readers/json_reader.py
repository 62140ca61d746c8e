"""JSON (an array of objects, bounded at 200 MB) and NDJSON (streamed in blocks) (R-AGG-2)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from gongshu.ingest.service.readers.common import (
    CSV_BLOCK_BYTES,
    MAX_JSON_ARRAY_BYTES,
    Reader,
    _decode_error,
    _DecodeFailure,
    _fail,
    check_labels,
    detect_encoding,
)


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
