"""Catalogue service: search (being written)."""
