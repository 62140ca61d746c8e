"""Streaming readers for uploaded files: CSV, XLSX, JSON, NDJSON, Parquet (R-AGG-2).

Every reader yields ``pyarrow.RecordBatch`` es whose columns are ``large_string`` named by the
file's header labels (``None`` for an empty cell) plus a final int64 ``_row``: for XLSX the sheet row
(header = row 1), for CSV the record's ordinal + 1 (what the sheet row would be without blank lines or
values over several lines), for JSON the record number from 1, for NDJSON the line number, for Parquet
the record number from 1. Once the file is read, :meth:`Reader.locate` gives the line a user opens for
any ``_row`` (for CSV the physical line the record starts on) and the data row where it differs (R-AGG-3).
Rows of the wrong shape (a CSV row with another number of fields than the header, an XLSX value beyond
the header) are left out of the batches and listed in ``Reader.structural`` with their lines, so they are
reported together with every other row's problems.
Nothing reads a whole file into memory except a JSON array (bounded at 200 MB).
Problems that stop the read raise :class:`gongshu.errors.Invalid` with bilingual messages and
``details=[{"file", "row", "field", "problem"}]``.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from gongshu.errors import Invalid
from gongshu.ingest.service.readers.common import (
    _LOCATORS,
    _SOURCES,
    CSV_BLOCK_BYTES,
    ENCODINGS,
    FORMATS,
    MAX_DETAILS,
    MAX_FIELD_BYTES,
    MAX_JSON_ARRAY_BYTES,
    MAX_STRUCTURAL,
    MAX_UNZIPPED_BYTES,
    MAX_ZIP_RATIO,
    SAMPLE_BYTES,
    STRUCTURAL_SCHEMA,
    Reader,
    _fail,
    check_labels,
    detect_encoding,
    detect_format,
)
from gongshu.ingest.service.readers.csv_reader import _csv_batches, _open_csv, csv_locator
from gongshu.ingest.service.readers.json_reader import (
    _json_batches,
    _ndjson_batches,
    _open_json,
    _open_ndjson,
)
from gongshu.ingest.service.readers.parquet import _open_parquet, _parquet_batches
from gongshu.ingest.service.readers.xlsx import _open_xlsx, _xlsx_batches

__all__ = [
    "CSV_BLOCK_BYTES",
    "ENCODINGS",
    "FORMATS",
    "MAX_DETAILS",
    "MAX_FIELD_BYTES",
    "MAX_JSON_ARRAY_BYTES",
    "MAX_STRUCTURAL",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIP_RATIO",
    "SAMPLE_BYTES",
    "STRUCTURAL_SCHEMA",
    "Reader",
    "check_labels",
    "detect_encoding",
    "detect_format",
    "open_reader",
]

_OPENERS = {"csv": _open_csv, "xlsx": _open_xlsx, "json": _open_json, "ndjson": _open_ndjson,
            "parquet": _open_parquet}
_SOURCES.update({"csv": _csv_batches, "xlsx": _xlsx_batches, "json": _json_batches,
                 "ndjson": _ndjson_batches, "parquet": _parquet_batches})
_LOCATORS.update({"csv": csv_locator})


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
    return _OPENERS[fmt](path, filename, encoding)
