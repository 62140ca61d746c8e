"""Builders shared by the quality tests: a published person entry with data loaded through ingest, small Parquet
snapshots for the engine, and rules written through the rules service."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from gongshu.ingest.models import DataVersion
from gongshu.jobs.models import Job
from gongshu.quality.service import rules
from tests.catalog.helpers import cast, published
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv

__all__ = ["add_rule", "cast", "checks_queued", "load_persons", "make_id", "person_entry", "person_rows", "published",
           "snapshot", "version_of", "write_csv"]

#: Arrow types by item type letter, as the store writes snapshots
ARROW = {"C": pa.large_string(), "D": pa.date32(), "T": pa.timestamp("us"), "I": pa.int64(), "N": pa.float64()}


def person_entry(f, db, **overrides: Any):
    """公安局 (``c.dept``) with its officer, and a published 户籍人口基本信息 entry (keyed by 公民身份号码)."""
    c = cast(f)
    return c, published(db, c, **overrides)


def load_persons(db, c, entry, tmp_path: Path, rows: list[list[str]] | None = None, *, name: str = "persons.csv",
                 n: int = 20) -> DataVersion:
    """Load person rows through ingest (as the worker would) and return the new version."""
    load = load_file(db, c.officer, entry, write_csv(tmp_path / name, rows if rows is not None else person_rows(n)))
    assert load.status == "applied", (load.status, load.error, load.report.get("problems"))
    return db.get(DataVersion, load.version_id)


def version_of(db, entry_id: int, number: int) -> DataVersion:
    return db.scalar(select(DataVersion).where(DataVersion.entry_id == entry_id, DataVersion.number == number))


def checks_queued(db, entry_id: int) -> list[Job]:
    """The ``quality.check`` jobs queued for an entry."""
    return [j for j in db.scalars(select(Job).where(Job.kind == "quality.check").order_by(Job.id))
            if j.payload.get("entry_id") == entry_id]


def snapshot(path: Path, columns: dict[str, tuple[str, list]]) -> Path:
    """A Parquet file like a version's snapshot: ``{"c1": ("C", [...]), "c2": ("D", [...])}``."""
    arrays = {}
    for name, (kind, values) in columns.items():
        if kind == "D":
            values = [date.fromisoformat(v) if isinstance(v, str) else v for v in values]
        arrays[name] = pa.array(values, ARROW[kind])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path)
    return path


def add_rule(db, actor, target, kind: str, item: str = "", /, **params: Any):
    """A workbench rule of entry ``target`` through the service (``severity`` and ``tolerance`` among ``params``)."""
    severity = params.pop("severity", "major")
    tolerance = params.pop("tolerance", 0.0)
    return rules.create_rule(db, actor=actor, entry_id=target.id, kind=kind, item=item, params=params,
                             severity=severity, tolerance=tolerance)
