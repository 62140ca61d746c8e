"""Catalogue service: entries (being written)."""
