"""The demo city: `gongshu demo --no-serve` into a fresh data directory, and the seeding itself.

The CLI run (SQLite in a temp dir) is done once for the module; the determinism test seeds a
second copy into the configured test database (SQLite, or PostgreSQL when
GONGSHU_TEST_DATABASE_URL is set) inside the usual rolled-back transaction and compares.
Two full seedings in all: about 30 s, most of it argon2 hashing the demo users' passwords.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gongshu import db as gdb
from gongshu.app import create_app
from gongshu.audit import service as audit_service
from gongshu.audit.models import AuditEvent
from gongshu.auth.models import Org, User, UserRole
from gongshu.auth.service import actor_for
from gongshu.catalog.models import (
    CatalogEntry,
    DataDemand,
    DataElement,
    DataItem,
    EntryVersion,
    GradingRule,
    InfoSystem,
    Project,
    ProjectItem,
    Review,
    SourceConflict,
)
from gongshu.catalog.service import entries, inventories, projects
from gongshu.cli import main
from gongshu.config import get_settings
from gongshu.demo import cli as demo_cli
from gongshu.demo.city import DEMO_PASSWORD, ELEMENT_BY_NAME, usccs
from gongshu.demo.opendata import seed_opendata
from gongshu.demo.seed import entry_codes, seed_demo
from gongshu.demo.sharing import seed_sharing
from gongshu.kit import workdays
from gongshu.kit.identifiers import is_valid_uscc
from gongshu.tasks import service as tasks_service
from gongshu.tasks.models import CalendarYear, Supervision, Task

_ENV = ("GONGSHU_DATA_DIR", "GONGSHU_DATABASE_URL", "GONGSHU_PORTAL_NAME")


@pytest.fixture(scope="module")
def demo(engine, tmp_path_factory):
    """Run `gongshu demo --no-serve` into a fresh temp data directory; restore the process's engine after."""
    data_dir = tmp_path_factory.mktemp("demo") / "gongshu-data"
    saved_env = {k: os.environ.get(k) for k in _ENV}
    prev_engine, prev_factory = gdb.get_engine(), gdb.session_factory()
    try:
        result = CliRunner().invoke(main, ["demo", "--data-dir", str(data_dir), "--no-serve", "--persons", "0"])
        demo_engine = gdb.get_engine()
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
        gdb.set_engine(prev_engine)
        gdb.set_session_factory(prev_factory)
    assert result.exit_code == 0, result.output + repr(result.exception)
    yield data_dir, result.output, demo_engine, sessionmaker(bind=demo_engine, expire_on_commit=False)
    demo_engine.dispose()


@pytest.fixture
def dsession(demo):
    with demo[3]() as s:
        yield s


def _actor(session: Session, username: str):
    return actor_for(session, session.scalar(select(User).where(User.username == username)))


def _by_name(session: Session, name: str) -> CatalogEntry:
    return session.scalar(select(CatalogEntry).where(CatalogEntry.name == name))


def test_cli_creates_data_dir_and_prints_logins(demo):
    data_dir, output, engine, _ = demo
    assert (data_dir / "gongshu.db").exists()
    assert engine.url.database == str((data_dir / "gongshu.db").resolve())
    assert DEMO_PASSWORD in output
    for username, role in (("admin", "数据主管部门管理员"), ("reviewer", "数据主管部门审核员"), ("auditor", "审计监督员"),
                           ("sysadmin", "系统管理员"), ("gaj_officer", "部门数据专员"), ("gaj_staff", "部门工作人员")):
        line = next(ln for ln in output.splitlines() if ln.startswith(username + " "))
        assert role in line and DEMO_PASSWORD in line
    assert "南湾市公安局" in output


def test_cli_refuses_non_empty_dir_without_force(tmp_path: Path):
    (tmp_path / "gongshu.db").write_text("x")
    with pytest.raises(click.ClickException) as e:
        demo_cli.prepare_data_dir(tmp_path, force=False)
    assert "--force" in e.value.message and (tmp_path / "gongshu.db").exists()
    assert demo_cli.prepare_data_dir(tmp_path, force=True) == tmp_path.resolve()
    assert not any(tmp_path.iterdir())


def test_cli_force_never_deletes_a_foreign_directory(tmp_path: Path):
    (tmp_path / "thesis.docx").write_text("precious")
    with pytest.raises(click.ClickException) as e:
        demo_cli.prepare_data_dir(tmp_path, force=True)
    assert "gongshu.db" in e.value.message
    assert (tmp_path / "thesis.docx").read_text() == "precious"


def test_orgs_have_valid_usccs_and_every_kind(dsession):
    orgs = dsession.scalars(select(Org)).all()
    kinds = Counter(o.kind for o in orgs)
    assert kinds["authority"] == 1 and kinds["department"] >= 20
    assert kinds["town"] == 2 and kinds["park"] == 1 and kinds["operator"] == 1
    assert all(is_valid_uscc(o.uscc) for o in orgs)
    assert all(o.uscc[2:8] == "441900" for o in orgs)
    assert {o.name for o in orgs} >= {"南湾市政务服务数据管理局", "南湾市公安局", "南湾市残疾人联合会", "南湾市住房公积金管理中心"}
    assert usccs(1) != usccs(2) and all(is_valid_uscc(c) for c in usccs(1).values())


def test_users_for_every_role(dsession):
    roles = Counter(dsession.scalars(select(UserRole.role)).all())
    assert set(roles) == {"authority_admin", "authority_reviewer", "dept_officer", "dept_staff", "auditor", "sysadmin"}
    assert roles["dept_officer"] >= 20
    assert dsession.scalar(select(User.username).join(Org, Org.id == User.org_id)
                           .where(Org.name == "南湾市公安局", User.username == "gaj_officer")) == "gaj_officer"


def test_elements_rules_and_sources_R_CAT_6(dsession):
    assert dsession.scalar(select(func.count()).select_from(DataElement)) >= 40
    assert dsession.scalar(select(func.count()).select_from(GradingRule)) >= 10
    src = dict(dsession.execute(select(DataElement.name, Org.short_name)
                                .join(Org, Org.id == DataElement.source_org_id)).all())
    assert src["公民身份号码"] == "公安局" and src["婚姻状况"] == "民政局"
    assert src["统一社会信用代码"] == "市场监管局" and src["残疾人证号"] == "残联" and src["宗地代码"] == "自然资源局"
    # the ID number is graded by the rule the authority maintains
    grades = set(dsession.scalars(select(DataItem.grade).join(DataElement, DataElement.id == DataItem.element_id)
                                  .where(DataElement.name == "公民身份号码")))
    assert grades == {"一般4"}


def test_catalogue_covers_every_lifecycle_state_R_CAT_1(dsession):
    status = Counter(dict(dsession.execute(select(CatalogEntry.status, func.count())
                                           .group_by(CatalogEntry.status)).all()))
    assert sum(status.values()) >= 100
    assert status["published"] >= 70 and status["submitted"] >= 5 and status["draft"] >= 5
    assert status["returned"] >= 5 and status["withdrawn"] == 1
    sharing = Counter(dsession.scalars(select(CatalogEntry.sharing_type)))
    assert sharing["有条件共享"] >= 20 and sharing["不予共享"] >= 2
    assert dsession.scalar(select(func.count()).select_from(CatalogEntry).where(
        CatalogEntry.sharing_type == "不予共享", CatalogEntry.filed_with_authority.is_(False))) == 0
    returned = dsession.scalars(select(Review.reasons).where(Review.decision == "return")).all()
    assert len(returned) == status["returned"] and all(returned)


def test_revised_entries_have_a_second_version_with_a_diff_R_CAT_7(dsession):
    revised = dsession.scalars(select(CatalogEntry).where(CatalogEntry.version == 2)).all()
    assert len(revised) >= 3
    reviewer = _actor(dsession, "reviewer")
    d = entries.diff(dsession, actor=reviewer, entry_id=_by_name(dsession, "户籍迁移登记信息").id,
                     from_version=1, to_version=2)
    assert [i["name"] for i in d["items"]["added"]] == ["迁移证编号"]
    assert any(f["field"] == "update_cycle" for f in d["fields"])


def test_one_overdue_review_under_supervision_R_CAT_4(dsession):
    overdue = dsession.scalars(select(Task).where(Task.overdue.is_(True))).all()
    assert len(overdue) == 1
    task = overdue[0]
    entry = _by_name(dsession, "取水许可信息")
    assert task.kind == "catalog.review" and task.subject_id == str(entry.id) and task.status == "open"
    assert task.due_date < tasks_service.today() and entry.status == "submitted"
    assert dsession.scalar(select(Supervision.task_id)) == task.id
    assert dsession.scalar(select(AuditEvent.id).where(AuditEvent.action == "tasks.overdue",
                                                       AuditEvent.subject_id == str(task.id))) is not None


def test_one_single_source_conflict_R_CAT_6(dsession):
    conflicts = dsession.scalars(select(SourceConflict).where(SourceConflict.status == "open")).all()
    assert len(conflicts) == 1
    c = conflicts[0]
    assert dsession.get(DataElement, c.element_id).code == ELEMENT_BY_NAME["出生日期"].code
    assert dsession.get(Org, c.claimant_org_id).short_name == "卫生健康局"
    assert dsession.get(Org, c.incumbent_org_id).short_name == "公安局"
    assert dsession.get(CatalogEntry, c.claimant_entry_id).name == "出生医学证明信息"


def test_systems_project_and_change_declaration_R_CAT_8_R_CAT_9(dsession):
    per_org = Counter(dsession.scalars(select(InfoSystem.org_id)))
    departments = dsession.scalars(select(Org.id).where(Org.kind == "department")).all()
    assert all(per_org[d] >= 2 for d in departments)
    project = dsession.scalar(select(Project))
    assert dsession.scalar(select(func.count()).select_from(ProjectItem)) == 7
    reviewer = _actor(dsession, "reviewer")
    report = projects.check(dsession, actor=reviewer, project_id=project.id)
    assert 0 < report.summary["published"] < report.summary["declared"]
    assert report.summary["catalogued"] > report.summary["published"]
    updates = dsession.scalars(select(Task).where(Task.kind == "catalog.update", Task.status == "open")).all()
    assert len(updates) == 2 and all(t.workdays == 15 for t in updates)


def test_demands_in_every_state_R_DEM_1(dsession):
    status = Counter(dsession.scalars(select(DataDemand.status)))
    assert {"registered", "routed", "matched", "planned", "unavailable", "fulfilled"} <= set(status)
    fulfilled = dsession.scalar(select(DataDemand).where(DataDemand.status == "fulfilled"))
    entry = dsession.get(CatalogEntry, fulfilled.entry_id)
    assert entry.name == "死亡注销户口信息" and entry.org_id == fulfilled.provider_org_id and fulfilled.project_id
    open_items = Counter(dsession.scalars(select(Task.kind).where(Task.subject_type == "catalog_demand",
                                                                  Task.status == "open")))
    assert open_items == {"catalog.demand.route": 1, "catalog.demand.answer": 2, "catalog.demand.plan": 1,
                          "catalog.demand.confirm": 1}
    rows = inventories.inventory(dsession, actor=_actor(dsession, "auditor"), kind="demand", org_id=None).rows
    assert len(rows) == sum(status.values()) and any(r["provider_name"] == "待转派" for r in rows)


def test_every_role_logs_in_through_the_web(demo):
    prev = gdb.session_factory()
    gdb.set_session_factory(demo[3])
    try:
        app = create_app(check_db=False, run_jobs=False)
        for username in ("admin", "reviewer", "auditor", "sysadmin", "gaj_officer", "gaj_staff"):
            with TestClient(app, base_url="http://testserver") as client:
                client.get("/login")
                r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                                "login_csrf": client.cookies.get("gongshu_login_csrf"),
                                                "next": "/workbench"}, follow_redirects=False)
                assert r.status_code == 303, (username, r.text[:300])
                assert client.get("/workbench").status_code == 200
                if username == "reviewer":
                    page = client.get("/workbench/supervision")
                    assert page.status_code == 200 and "取水许可信息" in page.text
                if username == "auditor":
                    assert client.get("/workbench/audit").status_code == 200
        with TestClient(app, base_url="http://testserver") as client:
            page = client.get("/catalog", params={"q": "企业"})
            code = entry_codes()["企业登记基本信息"]
            assert page.status_code == 200 and code in page.text
    finally:
        gdb.set_session_factory(prev)


def test_audit_chain_verifies_and_covers_the_seeding(dsession):
    result = audit_service.verify(dsession)
    assert result.ok, result.message
    actions = Counter(dsession.scalars(select(AuditEvent.action)))
    assert actions["catalog.entry.create"] == dsession.scalar(select(func.count()).select_from(CatalogEntry))
    assert actions["catalog.entry.approve"] == dsession.scalar(select(func.count()).select_from(EntryVersion))
    assert actions["auth.user.create"] == dsession.scalar(select(func.count()).select_from(User))
    assert actions["catalog.conflict.open"] == 1 and actions["catalog.entry.withdraw"] == 1


def _fingerprint(s: Session) -> dict:
    """Everything the seed decides (not ids, timestamps or deadlines)."""
    org = dict(s.execute(select(Org.id, Org.name)).all())
    code = dict(s.execute(select(CatalogEntry.id, CatalogEntry.code)).all())
    el = dict(s.execute(select(DataElement.id, DataElement.code)).all())
    return {
        "orgs": sorted(s.execute(select(Org.name, Org.kind, Org.uscc)).all()),
        "users": sorted((u.username, u.display_name, org[u.org_id]) for u in s.scalars(select(User))),
        "elements": sorted((e.code, e.name, org[e.source_org_id]) for e in s.scalars(select(DataElement))),
        "entries": sorted((e.code, e.name, org[e.org_id], e.status, e.version, e.grade, e.sharing_type, e.open_type,
                           str(e.release_date) if e.status == "published" else "")
                          for e in s.scalars(select(CatalogEntry))),
        "items": sorted((code[i.entry_id], i.seq, i.name, i.type, i.length, i.grade, el.get(i.element_id),
                         i.claims_source) for i in s.scalars(select(DataItem))),
        "systems": sorted((org[x.org_id], x.name, x.operator, str(x.launched)) for x in s.scalars(select(InfoSystem))),
        "conflicts": sorted((el[c.element_id], org[c.claimant_org_id], c.status)
                            for c in s.scalars(select(SourceConflict))),
        "tasks": sorted((t.kind, t.title, t.status, t.overdue) for t in s.scalars(select(Task))),
        "audit": sorted(Counter(a for a in s.scalars(select(AuditEvent.action)) if not a.startswith("auth.login"))
                        .items()),
    }


def test_same_seed_same_city(demo, session_factory):
    """Seed again into the configured test database (rolled back afterwards) and compare; the command also
    seeds the share requests (after the data, none here with --persons 0)."""
    seed_demo(session_factory)
    seed_sharing(session_factory)
    seed_opendata(session_factory)
    with session_factory() as again, demo[3]() as first:
        a, b = _fingerprint(first), _fingerprint(again)
    for key in a:
        assert a[key] == b[key], key


def test_demo_seeds_in_a_year_the_packaged_calendar_does_not_know(session_factory, monkeypatch):
    """Run in late December (or later), the demo's deadlines reach a year chinese-calendar does not have:
    the demo authority declares that year's statutory holidays, named as such, instead of stopping."""
    monkeypatch.setattr(workdays, "_PACKAGED_YEARS", frozenset(y for y in workdays.packaged_years() if y < 2027))
    seed_demo(session_factory, today=date(2027, 3, 1))
    with session_factory() as s:
        declared = {r.year: r.source for r in s.scalars(select(CalendarYear))}
        assert sorted(declared) == [2027, 2028] and "放假办法" in declared[2027] and "国务院办公厅通知" in declared[2027]
        cal = tasks_service.calendar(s)
        assert not cal.is_workday(date(2027, 2, 5)) and cal.is_workday(date(2027, 2, 9))


def test_r_opn_6_demo_opens_data_after_reviews_in_every_state(demo, dsession):
    from gongshu.opendata.models import OpeningReview
    from gongshu.opendata.service import datasets
    from gongshu.tasks.models import Task

    assert "开放数据 · open data" in demo[1]
    statuses = [r.status for r in dsession.scalars(select(OpeningReview))]
    assert {"approved", "submitted", "returned"} <= set(statuses) and statuses.count("approved") >= 5
    pending = dsession.scalar(select(OpeningReview).where(OpeningReview.status == "submitted"))
    assert dsession.scalar(select(Task).where(Task.kind == "opendata.review", Task.subject_id == str(pending.id),
                                              Task.status == "open")) is not None
    opened = datasets.opened_ids(dsession)
    assert opened and all(dsession.get(CatalogEntry, i).open_type != "不予开放" for i in opened)
    assert {dsession.get(CatalogEntry, i).open_type for i in opened} == {"无条件开放", "有条件开放"}
