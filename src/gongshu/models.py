"""Import every domain's models so Base.metadata is complete (Alembic, tests)."""

from __future__ import annotations

from gongshu.audit import models as audit_models
from gongshu.auth import models as auth_models
from gongshu.catalog import models as catalog_models
from gongshu.catalog import search_models as catalog_search_models
from gongshu.ingest import models as ingest_models
from gongshu.jobs import models as jobs_models
from gongshu.library import models as library_models
from gongshu.opendata import models as opendata_models
from gongshu.opendata import models_disclosure as opendata_disclosure_models
from gongshu.opendata import models_feedback as opendata_feedback_models
from gongshu.quality import models as quality_models
from gongshu.quality import models_compare as quality_compare_models
from gongshu.quality import models_issues as quality_issues_models
from gongshu.sharing import models as sharing_models
from gongshu.tasks import models as tasks_models

MODULES = [auth_models, audit_models, jobs_models, tasks_models, catalog_models, catalog_search_models,
           ingest_models, library_models, sharing_models, opendata_models,
           opendata_disclosure_models, opendata_feedback_models, quality_models,
           quality_compare_models, quality_issues_models]


def load_all() -> list:
    return MODULES
