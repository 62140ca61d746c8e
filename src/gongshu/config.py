"""One Settings object for the whole platform (env prefix GONGSHU_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGSHU_", extra="ignore")

    #: where the embedded default keeps its files (SQLite database, uploads, snapshots)
    data_dir: Path = Path("gongshu-data")
    #: the open data portal's name, cited in the attribution users of open data give (R-OPN-8)
    portal_name: str = "公共数据开放平台"
    #: SQLAlchemy URL; empty means SQLite in data_dir
    database_url: str = ""
    #: secret for signing cookies; generated into data_dir when empty
    secret_key: str = ""
    #: run queued jobs inside the web process (embedded default)
    inprocess_worker: bool = True
    #: working-day deadlines (defaults are the seeds' values, DG 12)
    catalog_review_days: int = 5
    catalog_update_days: int = 15
    session_hours: int = 12
    #: cookies marked Secure (set true behind HTTPS)
    secure_cookies: bool = False
    #: where aggregated resource data lives (typed tables per version); empty means a separate
    #: SQLite directory data_dir/resources (one file per table) for the embedded default, or the main PostgreSQL database
    #: (schema ``resdata``) when database_url is PostgreSQL
    resource_database_url: str = ""
    #: platform data key (hex, ≥ 32 characters) from which SM4 keys are derived per purpose (e.g. the
    #: stored credentials of pull sources); empty: generated once into data_dir/data.key (mode 0600).
    #: Back it up with the database: without it the stored credentials cannot be read.
    data_key: str = ""
    #: who makes SM2 signatures: "software" (gmssl-pyx, key pair in data_dir/sm2-signing.key under the
    #: data key) or the name of a registered hardware-module provider (crypto/sm2.py)
    signature_provider: str = "software"
    #: largest file a department may upload for aggregation, in MB
    ingest_max_upload_mb: int = 20480
    #: rows per batch on the ingest path (read, validate, write)
    ingest_batch_rows: int = 100_000

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gongshu.db').resolve()}"

    def resolved_resource_url(self) -> str:
        if self.resource_database_url:
            return self.resource_database_url
        main = self.resolved_database_url()
        if main.startswith("postgresql"):
            return main
        return f"sqlite:///{(self.data_dir / 'resources').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
