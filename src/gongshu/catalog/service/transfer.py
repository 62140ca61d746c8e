"""Catalogue service: transfer (being written)."""
