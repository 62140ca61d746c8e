"""The process's resource store and the directory of aggregation files (uploads, snapshots,
reject reports), from the settings; tests and benchmarks point them elsewhere."""

from __future__ import annotations

from pathlib import Path

from gongshu.config import get_settings
from gongshu.store.service import ResourceStore

_store: ResourceStore | None = None
_root: Path | None = None
_where: tuple[str, str] | None = None  # (url, schema) set by configure()


def get_store() -> ResourceStore:
    """The store, opened on first use (from configure() or the settings)."""
    global _store
    if _store is None:
        url, schema = _where or (get_settings().resolved_resource_url(), "resdata")
        _store = ResourceStore(url, schema=schema)
    return _store


def opened() -> ResourceStore | None:
    return _store


def configure(url: str | None, *, schema: str = "resdata") -> None:
    """Use another store from now on (tests, benchmarks); None goes back to the settings."""
    global _store, _where
    if _store is not None:
        _store.close()
    _store = None
    _where = (url, schema) if url else None


def files_root() -> Path:
    """Where loads keep their source files, reject reports and Parquet snapshots."""
    root = _root or (get_settings().data_dir / "ingest")
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def set_files_root(path: Path | None) -> None:
    global _root
    _root = path
