"""Where a load's files and the versions' Parquet snapshots live (under the files root)."""

from __future__ import annotations

from pathlib import Path

from gongshu.ingest.models import DataVersion
from gongshu.store import registry


def load_dir(load_id: int) -> Path:
    """The source file, validated rows, rejects and the rejects report of one load."""
    path = registry.files_root() / "loads" / str(load_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def snapshots_dir(entry_id: int) -> Path:
    path = registry.files_root() / "snapshots" / str(entry_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def snapshot_path(version: DataVersion) -> Path:
    return registry.files_root() / version.snapshot_path
