"""Catalogue pages: the department and authority workbench, and the public catalogue."""

from __future__ import annotations

from fastapi import APIRouter

from gongshu.catalog.views import (
    demands,
    elements,
    entries,
    grading,
    inventories,
    projects,
    search,
    synonyms,
    transfer,
)

router = APIRouter(include_in_schema=False)
for _m in (entries, elements, grading, inventories, demands, projects, search, synonyms, transfer):
    router.include_router(_m.router)
