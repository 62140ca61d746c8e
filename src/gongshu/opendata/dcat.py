"""Placeholder: filled in by the open data work (issue 10)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
