"""Catalogue JSON API under /api/v1/catalog, one router per area."""

from __future__ import annotations

from fastapi import APIRouter

from gongshu.catalog.api import demands, elements, entries, grading, inventories, projects, search, transfer

router = APIRouter()
for _m in (entries, elements, grading, inventories, demands, projects, search, transfer):
    router.include_router(_m.router)
