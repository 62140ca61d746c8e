"""The demo loads synthetic data behind its catalogue through the real pipeline (R-AGG-1, R-AGG-3, R-AGG-4)."""

from __future__ import annotations

from sqlalchemy import select

from gongshu.demo.opendata import seed_opendata
from gongshu.demo.resources import MESSY_FILE, load_demo_data
from gongshu.demo.seed import seed_demo
from gongshu.demo.sharing import grant_counts, seed_sharing
from gongshu.ingest.models import DataVersion, LateLoad, Load
from gongshu.library.models import LibraryBuild, Theme, ThemeBuild
from gongshu.sharing.models import REQUEST_STATUS, Grant, ShareRequest
from gongshu.tasks.models import Task


def test_demo_data_is_loaded_late_loads_flagged_and_libraries_built(session_factory, tmp_path):
    seed_demo(session_factory)
    data = load_demo_data(session_factory, folder=tmp_path / "files", persons=2000, entities=200)
    with session_factory() as s:
        loads = s.scalars(select(Load)).all()
        assert len(loads) == data.files == 17
        assert all(ld.status == "applied" for ld in loads), [(ld.filename, ld.status, ld.error) for ld in loads if ld.status != "applied"]
        read = sum(ld.rows_read for ld in loads)
        assert 0.003 < data.rejected / read < 0.03  # about 1 % planted defects, recorded as rejects
        assert len(s.scalars(select(DataVersion)).all()) == 17
        assert data.late == 2 and len(s.scalars(select(LateLoad)).all()) == 2
        assert len(s.scalars(select(Task).where(Task.kind == "ingest.late")).all()) == 2
        person = s.scalar(select(LibraryBuild).where(LibraryBuild.kind == "person"))
        assert person.subjects > 1900 and person.conflicts > 0 and len(person.sources) >= 5
        assert s.scalar(select(LibraryBuild).where(LibraryBuild.kind == "entity")).subjects > 150
        theme = s.scalar(select(Theme).where(Theme.code == "shjz"))  # the example theme (R-AGG-5)
        build = s.scalar(select(ThemeBuild).where(ThemeBuild.theme_id == theme.id, ThemeBuild.status == "current"))
        assert data.themes == {"shjz": build.rows} and build.rows > 10 and len(build.sources) == 3
    assert (tmp_path / "files" / MESSY_FILE).exists()

    # issue 9 "Done means": the demo city has share requests in every state
    shares = seed_sharing(session_factory)
    assert set(shares) == set(REQUEST_STATUS) and shares["approved"] >= 5
    assert set(grant_counts(session_factory)) == {"active", "awaiting_delivery", "revoked", "expired"}
    with session_factory() as s:
        modes = {g.mode for g in s.scalars(select(Grant).where(Grant.status == "active"))}
        assert {"api", "exchange", "verify"} <= modes
        assert s.scalar(select(Task).where(Task.kind == "sharing.coordinate", Task.status == "open")) is not None
        assert s.scalar(select(ShareRequest).where(ShareRequest.demand_id.is_not(None))) is not None

    # issue 10: the open datasets with data, the population list a citizen finds by 人口, 双公示 checked
    opened = seed_opendata(session_factory)
    assert opened["approved"] >= 5
    with session_factory() as s:
        from gongshu.catalog.service import search
        from gongshu.kit.pagination import Page
        from gongshu.opendata.models_disclosure import DisclosureCheck
        from gongshu.opendata.service import datasets

        found = search.search(s, actor=None, q="人口", page=Page(1, 20), within=datasets.opened_ids_select())
        names = [h.name for h in found.hits]
        assert "户籍人口高龄津贴发放名单" in names
        elderly = datasets.get(s, ref=found.hits[names.index("户籍人口高龄津贴发放名单")].entry_id)
        assert elderly.version is not None and {i["name"]: i["masked"] for i in elderly.items}["姓名"]
        check = s.scalar(select(DisclosureCheck))
        assert check is not None and check.rows_checked > 0 and check.rows_late > 0  # 2026 decisions, loaded in December
