"""Catalogue service: elements (being written)."""
