"""Catalogue API: search."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])
