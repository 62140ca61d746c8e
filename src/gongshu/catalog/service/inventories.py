"""Catalogue service: inventories (being written)."""
