"""The resource data store (资源数据存储, like CKAN's DataStore; R-AGG-6, ARCHITECTURE "Data plane").

Each catalogue entry's aggregated data lives in real typed, indexed SQL tables, one per accepted
version (:class:`gongshu.store.service.ResourceStore`), apart from the metadata database so a bulk
load never blocks the serving path: a SQLite file of its own (WAL) or a PostgreSQL schema
(default ``resdata``) used through its own engine. Every version is also a Parquet snapshot that
DuckDB merges, compares and checks (:mod:`gongshu.store.snapshots`).

This package is a data-plane foundation: it imports only ``gongshu.errors``, ``gongshu.kit``,
``gongshu.db`` and ``gongshu.config`` — never the catalogue, ingest, web or app layers.
"""
