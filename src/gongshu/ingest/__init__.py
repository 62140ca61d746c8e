"""Ingest (归集): files, API pushes and scheduled pulls into versioned resource data."""
