"""Catalogue service: grading (being written)."""
