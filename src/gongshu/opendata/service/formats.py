"""Streamed downloads of open data (R-OPN-2, R-OPN-8): CSV, XLSX, JSON and Parquet written batch by batch.

:func:`stream` runs a download's SELECT (:func:`.rows.download`: DuckDB over the version's Parquet snapshot,
public items by label, masked in SQL) on a DuckDB connection of its own and turns each Arrow record batch of
:data:`BATCH_ROWS` rows into bytes as it comes, so the first bytes leave at once and memory stays the same
whatever the number of rows. Every conversion is vectorised per batch (pyarrow compute, Polars); no Python
runs per cell.

- **CSV**: UTF-8 with a BOM (Excel reads it as UTF-8), the item labels as header, ``pyarrow.csv`` per batch.
  Text cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading ``'`` so no
  spreadsheet runs them as formulas (CSV injection).
- **JSON**: one array of objects; each batch is written by Polars as JSON lines, which are joined by commas.
  Numbers stay numbers (amounts too), dates and times are ISO 8601 text, NaN and infinities are null.
- **Parquet**: ``pyarrow.parquet.ParquetWriter`` (zstd) over :class:`Sink`, a write-only file that hands out
  what was written after each batch (one row group per batch); the attribution is in the file's metadata.
- **XLSX**: the few SpreadsheetML parts a workbook needs, written by us into a ``zipfile`` over :class:`Sink`
  (not seekable, so each member carries a data descriptor): one sheet, labels in the first row, text as
  inline strings (XML-escaped, characters XML cannot hold dropped, at most 32,767 characters), numbers as
  numbers, yes/no as booleans, dates as ISO text. A sheet holds at most :data:`XLSX_MAX_ROWS` data rows (the
  service refuses larger versions before anything is sent).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gongshu.sharing.service import projection
from gongshu.store.service import sql_ident

BATCH_ROWS = 50_000
#: an Excel sheet has 1,048,576 rows; the first holds the labels
XLSX_MAX_ROWS = 1_048_575
XLSX_MAX_TEXT = 32_767
BOM = b"\xef\xbb\xbf"
FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
_FORMULA = r"^([=+\-@\t\r])"
#: characters XML 1.0 cannot hold (control characters but tab, line feed and carriage return)
_NOT_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"


def portable_sql(sql: str, binary_labels: Sequence[str]) -> str:
    """``sql`` with binary columns as base64 text (every format can hold that)."""
    if not binary_labels:
        return sql
    swaps = ", ".join(f"to_base64({sql_ident(label)}) AS {sql_ident(label)}" for label in binary_labels)
    return f"SELECT * REPLACE ({swaps}) FROM ({sql}) AS _open"  # noqa: S608 - quoted identifiers only


def batches(sql: str, *, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The SELECT's rows as Arrow record batches, streamed (DuckDB: bounded memory and threads)."""
    con = projection.connect()
    try:
        reader = con.sql(sql).to_arrow_reader(batch_rows)
        for batch in reader:
            if batch.num_rows:
                yield batch
    finally:
        con.close()


def stream(sql: str, fmt: str, labels: Sequence[str], *, attribution: str = "", sheet: str = "data", rows: int = 0,
           batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """The download's bytes, batch by batch (the first chunk before the query has produced anything, except for
    Parquet, whose schema comes from the query)."""
    if fmt == "csv":
        return csv_stream(batches(sql, batch_rows=batch_rows), labels)
    if fmt == "json":
        return json_stream(batches(sql, batch_rows=batch_rows))
    if fmt == "parquet":
        return parquet_stream(sql, attribution=attribution, batch_rows=batch_rows)
    if fmt == "xlsx":
        return xlsx_stream(batches(sql, batch_rows=batch_rows), labels, sheet=sheet, rows=rows)
    raise ValueError(f"unknown format {fmt!r}")


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


# CSV ---------------------------------------------------------------------------------------------------------

def neutralise(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text cells a spreadsheet would run as a formula, prefixed with ``'``."""
    cols = [pc.replace_substring_regex(col, pattern=_FORMULA, replacement=r"'\1") if _is_text(col.type) else col
            for col in batch.columns]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


def csv_header(labels: Sequence[str]) -> bytes:
    names = ["'" + label if label[:1] in ("=", "+", "-", "@", "\t", "\r") and label else label for label in labels]
    out = io.BytesIO()
    pacsv.write_csv(pa.schema([(n, pa.string()) for n in names]).empty_table(), out)
    return out.getvalue()


def csv_stream(source: Iterator[pa.RecordBatch], labels: Sequence[str]) -> Iterator[bytes]:
    yield BOM + csv_header(labels)
    options = pacsv.WriteOptions(include_header=False, batch_size=8192)
    for batch in source:
        out = io.BytesIO()
        pacsv.write_csv(neutralise(batch), out, options)
        yield out.getvalue()


# JSON --------------------------------------------------------------------------------------------------------

def _json_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Amounts as floats, date-times as ISO text, non-finite floats as null."""
    cols = []
    for col in batch.columns:
        t = col.type
        if pa.types.is_decimal(t):
            col = pc.cast(col, pa.float64())
        elif pa.types.is_timestamp(t):
            col = pc.replace_substring(pc.cast(col, pa.string()), pattern=" ", replacement="T", max_replacements=1)
        if pa.types.is_floating(col.type):
            col = pc.if_else(pc.is_finite(col), col, pa.scalar(None, col.type))
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


def json_stream(source: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    yield b"["
    first = True
    for batch in source:
        lines = pl.from_arrow(_json_ready(batch)).write_ndjson()
        body = lines.rstrip("\n").replace("\n", ",")  # JSON text never holds a raw line feed
        yield (body if first else "," + body).encode()
        first = False
    yield b"]"


# Parquet -----------------------------------------------------------------------------------------------------

class Sink:
    """A write-only, non-seekable file that keeps what was written until :meth:`take` hands it out."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        b = bytes(data)
        self._parts.append(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def parquet_stream(sql: str, *, attribution: str = "", batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    con = projection.connect()
    try:
        reader = con.sql(sql).to_arrow_reader(batch_rows)
        schema = reader.schema
        if attribution:
            schema = schema.with_metadata({**(schema.metadata or {}), b"attribution": attribution.encode()})
        sink = Sink()
        writer = pq.ParquetWriter(sink, schema, compression="zstd")
        try:
            yield sink.take()
            for batch in reader:
                if batch.num_rows:
                    writer.write_batch(batch)
                    yield sink.take()
        finally:
            writer.close()
        yield sink.take()
    finally:
        con.close()


# XLSX --------------------------------------------------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _parts(sheet: str) -> list[tuple[str, str]]:
    return [
        ("[Content_Types].xml", _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
         '<Default Extension="xml" ContentType="application/xml"/>'
         f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
         f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
         f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/></Types>'),
        ("_rels/.rels", _XML + f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
         f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        ("xl/workbook.xml", _XML + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
         f'<sheet name={quoteattr(sheet)} sheetId="1" r:id="rId1"/></sheets></workbook>'),
        ("xl/_rels/workbook.xml.rels", _XML + f'<Relationships xmlns="{_PKG}">'
         f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
         f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'),
        ("xl/styles.xml", _XML + f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/>'
         '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
         '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/>'
         '<top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" '
         'fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
         'borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
         '</cellStyles></styleSheet>'),
    ]


def _xml_text(col: pa.Array) -> pa.Array:
    col = pc.replace_substring_regex(col, pattern=_NOT_XML, replacement="")
    col = pc.utf8_slice_codeunits(col, 0, XLSX_MAX_TEXT)
    for ch, ent in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        col = pc.replace_substring(col, pattern=ch, replacement=ent)
    return col


def _cells(col: pa.Array) -> pa.Array:
    """Each value of ``col`` as one ``<c>`` element (an empty one for null: cells carry no reference, so each
    row must hold every column's)."""
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        if pa.types.is_floating(t):
            col = pc.if_else(pc.is_finite(col), col, pa.scalar(None, t))
        text, before, after = pc.cast(col, pa.string()), "<c><v>", "</v></c>"
    elif pa.types.is_boolean(t):
        text, before, after = pc.if_else(col, "1", "0"), '<c t="b"><v>', "</v></c>"
    else:
        text = _xml_text(col if _is_text(t) else pc.cast(col, pa.string()))
        before, after = '<c t="inlineStr"><is><t xml:space="preserve">', "</t></is></c>"
    return pc.fill_null(pc.binary_join_element_wise(before, text, after, ""), "<c/>")


def _joined(arr: pa.Array) -> bytes:
    """The concatenation of a string array's values, straight from its buffers (no nulls)."""
    if not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    if len(arr) == 0:
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    start, end = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return arr.buffers()[2].slice(start, end - start).to_pybytes()


def sheet_rows(batch: pa.RecordBatch) -> bytes:
    """The ``<row>`` elements of a batch, vectorised column by column."""
    cells = [_cells(col) for col in batch.columns]
    return _joined(pc.binary_join_element_wise("<row>", *cells, "</row>", ""))


def xlsx_stream(source: Iterator[pa.RecordBatch], labels: Sequence[str], *, sheet: str = "data",
                rows: int = 0) -> Iterator[bytes]:
    """The workbook's bytes. The sheet is written as ZIP64 when it may pass 2 GiB uncompressed (judged from the
    first batch's bytes per row and ``rows``, the rows to come), else as a plain member (friendlier to old
    spreadsheet programs)."""
    sink = Sink()
    zf = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    name = "".join(ch for ch in sheet if ch not in "[]:*?/\\")[:31].strip("' ") or "data"
    for part, text in _parts(name):
        zf.writestr(part, text)
    yield sink.take()
    first = next(source, None)
    first_rows = sheet_rows(first) if first is not None else b""
    per_row = len(first_rows) / first.num_rows if first is not None else 0
    zip64 = per_row * max(rows, 1) * 2 > zipfile.ZIP64_LIMIT
    with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as out:
        header = "".join(f'<c t="inlineStr"><is><t xml:space="preserve">{escape(label)}</t></is></c>'
                         for label in labels)
        out.write((_XML + f'<worksheet xmlns="{_MAIN}"><sheetData><row>{header}</row>').encode())
        out.write(first_rows)
        yield sink.take()
        for batch in source:
            out.write(sheet_rows(batch))
            yield sink.take()
        out.write(b"</sheetData></worksheet>")
    zf.close()
    yield sink.take()
