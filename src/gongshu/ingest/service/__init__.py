"""Ingest services: streaming readers, vectorised validation, code tables."""
