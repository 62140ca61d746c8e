"""Catalogue service: projects (being written)."""
