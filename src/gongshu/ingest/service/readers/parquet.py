"""Parquet: flat columns cast to text, streamed by record batch (R-AGG-2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshu.ingest.service.readers.common import Reader, _fail, _with_rows, check_labels


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
