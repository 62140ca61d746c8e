"""Tests for the ingest domain."""
