"""Cross-source comparison (R-GOV-4, DG 49): the same data element held by 户籍 (公安, the legal source), 社保 and
婚姻 is compared on the citizen ID number after each load; real mismatches become one data issue per element at
the legal source with the evidence, formatting-only differences are counted apart, the person library's conflicts
are routed to the same issue."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.catalog.service import elements, entries, lifecycle
from gongshu.errors import Forbidden, NotFound
from gongshu.jobs.models import Job
from gongshu.jobs.service import drain
from gongshu.library.models import LibraryConflict
from gongshu.library.service import build as library_build
from gongshu.quality.models_compare import Comparison
from gongshu.quality.models_issues import UNCLOSED, DataIssue
from gongshu.quality.service import compare, compare_engine
from gongshu.store import registry
from tests.catalog.helpers import cast, entry_in
from tests.factories import login
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv

ID = {"name": "公民身份号码", "type": "C", "length": 18, "is_identifier": True, "is_key": True, "is_personal": True,
      "grade": "一般4", "element_code": "Q0001"}
NAME = {"name": "姓名", "type": "C", "length": 50, "is_personal": True, "grade": "一般3", "element_code": "Q0002"}
ADDR = {"name": "住址", "type": "C", "length": 200, "is_personal": True, "grade": "一般3", "element_code": "Q0004"}
HEAD_NAME = ["公民身份号码", "姓名"]


def _publish(db, c, by, **kw):
    e = entries.create_entry(db, actor=by, data=entry_in(grade="一般4", **kw))
    lifecycle.submit(db, actor=by, entry_id=e.id)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    return e


def _rows(ids, change: dict[int, tuple[str | None, str | None]] | None = None):
    base = {i: r for i, r in zip(range(1, 11), person_rows(10), strict=True)}
    out = []
    for i in ids:
        name, addr = base[i][1], base[i][4]
        if change and i in change:
            name = change[i][0] or name
            addr = change[i][1] or addr
        out.append([base[i][0], name, addr])
    return out


@pytest.fixture
def city(f, db, tmp_path):
    """公安 (c.dept) is the legal source of 姓名 and 住址; 社保 (c.other_dept) holds 姓名, 民政 holds 姓名 and 住址.

    Planted: person 3's name differs at 社保 and 民政 (both say 张四3改), person 9's name differs at 民政, person 7's
    address differs at 民政 — real conflicts; person 4's name at 社保 has a full-width digit and person 6's address
    at 民政 a full-width digit and a space — formatting only."""
    c = cast(f)
    civil_org = f.org()
    civil_officer = f.actor(civil_org, ("dept_officer",))
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    for code, name, src, ident in (("Q0001", "公民身份号码", c.dept, True), ("Q0002", "姓名", c.dept, False),
                                   ("Q0004", "住址", c.dept, False)):
        elements.create_element(db, actor=admin, code=code, name=name, type="C", source_org_id=src.id,
                                source_basis="户口登记条例", is_personal=True, is_identifier=ident)
    police = _publish(db, c, c.officer, name="户籍人口基本信息", items=[ID, NAME, ADDR])
    social = _publish(db, c, c.other_officer, name="社保参保人员信息", items=[ID, NAME])
    civil = _publish(db, c, civil_officer, name="婚姻登记人员信息", items=[ID, NAME, ADDR])
    head = ["公民身份号码", "姓名", "住址"]
    loads = {
        "police": load_file(db, c.officer, police, write_csv(tmp_path / "gaj.csv", _rows(range(1, 11)), header=head)),
        "social": load_file(db, c.other_officer, social, write_csv(
            tmp_path / "sb.csv", [r[:2] for r in _rows(range(1, 9), {3: ("张四3改", None), 4: ("张五４", None)})],
            header=HEAD_NAME)),
        "civil": load_file(db, civil_officer, civil, write_csv(
            tmp_path / "mz.csv", _rows(range(2, 11), {3: ("张四3改", None), 9: ("李十9", None),
                                                      6: (None, "东莞市南城街道 ６号"), 7: (None, "东莞市莞城街道7号")}),
            header=head)),
    }
    assert all(x.status == "applied" for x in loads.values()), [(x.status, x.error) for x in loads.values()]
    return {"c": c, "admin": admin, "police": police, "social": social, "civil": civil, "loads": loads,
            "civil_officer": civil_officer, "tmp": tmp_path}


def _latest(db, code: str) -> Comparison:
    return db.scalar(select(Comparison).where(Comparison.element_code == code, Comparison.latest.is_(True)))


def test_R_GOV_4_mismatches_become_an_issue_at_the_legal_source_with_evidence(city, db):
    """DG 49: the mismatch goes to the source department (数源部门) with counts, sample and the rows themselves;
    formatting-only differences are counted apart."""
    c, police = city["c"], city["police"]
    out = compare.after_load(db, entry_id=city["civil"].id, version_id=city["loads"]["civil"].version_id)
    assert out["compared"] == 2
    name = _latest(db, "Q0002")
    assert (name.status, name.subjects, name.conflicts, name.legal_conflicts, name.formatting) == ("done", 10, 2, 2, 1)
    assert name.legal_entry_id == police.id and name.legal_org_id == c.dept.id
    pairs = {(p["a"], p["b"]): (p["both"], p["conflicts"], p["formatting"]) for p in name.pairs}
    ids = {k: city[k].id for k in ("police", "social", "civil")}
    assert pairs[tuple(sorted((ids["police"], ids["social"])))] == (8, 1, 1)
    assert pairs[tuple(sorted((ids["police"], ids["civil"])))] == (9, 2, 0)
    assert pairs[tuple(sorted((ids["social"], ids["civil"])))] == (7, 0, 1)
    issue = db.get(DataIssue, name.issue_id)
    assert issue.entry_id == police.id and issue.org_id == c.dept.id and issue.channel == "compare"
    assert issue.dedupe_key == f"compare:Q0002:{police.id}" and issue.item == "姓名"
    assert issue.version_id == city["loads"]["police"].version_id
    ev = issue.evidence
    assert (ev["subjects"], ev["legal_conflicts"], ev["formatting"]) == (10, 2, 1)
    assert {s["entry_id"] for s in ev["sources"]} == set(ids.values())
    assert [s["version_id"] for s in ev["sources"] if s["legal"]] == [city["loads"]["police"].version_id]
    sample_keys = [x["k"] for x in ev["sample"]]
    assert sample_keys and all("*" in k for k in sample_keys) and make_id(3) not in str(ev["sample"])
    rows = pl.read_parquet(registry.files_root() / ev["file"])
    assert sorted(rows["k"].to_list()) == [make_id(3), make_id(9)]
    assert set(rows.columns) == {"k"} | {f"e{i}" for i in ids.values()}
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.compare",
                                              AuditEvent.subject_id == str(name.id))) is not None
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.issue.raise",
                                              AuditEvent.subject_id == str(issue.id))) is not None
    # formatting only is not a conflict: person 6's 东莞市南城街道 ６号 vs 东莞市南城街道6号; person 7's other street is
    addr = _latest(db, "Q0004")
    assert (addr.subjects, addr.conflicts, addr.legal_conflicts, addr.formatting) == (9, 1, 1, 1)
    assert pl.read_parquet(registry.files_root() / addr.conflicts_path)["k"].to_list() == [make_id(7)]
    assert addr.issue_id != name.issue_id and db.get(DataIssue, addr.issue_id).dedupe_key == f"compare:Q0004:{police.id}"


def test_R_GOV_4_comparing_again_refreshes_the_issue_and_a_corrected_source_closes_it(city, db, tmp_path):
    c, police = city["c"], city["police"]
    compare.after_load(db, entry_id=city["civil"].id, version_id=city["loads"]["civil"].version_id)
    first = _latest(db, "Q0002")
    compare.after_load(db, entry_id=city["social"].id, version_id=city["loads"]["social"].version_id)
    assert _latest(db, "Q0002").id == first.id  # the same source versions: not compared twice
    compare.compare_element(db, actor=city["admin"], element_id=first.element_id)  # by hand: compared again
    again = _latest(db, "Q0002")
    assert again.id != first.id and again.issue_id == first.issue_id
    assert db.scalar(select(Comparison.latest).where(Comparison.id == first.id)) is False
    assert db.get(DataIssue, first.issue_id).occurrences == 1  # the same versions again: not a new finding
    # 公安 checks and corrects persons 3 and 9 (the others were right) and loads again: the re-check passes
    fixed = load_file(db, c.officer, police, write_csv(
        tmp_path / "gaj2.csv", _rows(range(1, 11), {3: ("张四3改", None), 9: ("李十9", None)}),
        header=["公民身份号码", "姓名", "住址"]))
    compare.after_load(db, entry_id=police.id, version_id=fixed.version_id)
    now = _latest(db, "Q0002")
    assert (now.conflicts, now.legal_conflicts, now.issue_id) == (0, 0, None)
    issue = db.get(DataIssue, first.issue_id)
    assert issue.status not in UNCLOSED and issue.outcome == "corrected"
    assert _latest(db, "Q0004").legal_conflicts == 1  # the address conflict is still there


def test_R_GOV_4_library_conflicts_are_routed_to_the_issue(city, db):
    admin = city["admin"]
    lib = library_build.build(db, actor=admin, kind="person")
    assert lib.conflicts > 0
    compare.after_load(db, entry_id=city["civil"].id, version_id=city["loads"]["civil"].version_id)
    statuses = {(x.attribute, x.status) for x in db.scalars(select(LibraryConflict).where(
        LibraryConflict.build_id == lib.id))}
    assert statuses == {("姓名", "routed"), ("住址", "routed")}
    assert _latest(db, "Q0002").library_routed + _latest(db, "Q0004").library_routed == lib.conflicts
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "library.conflict.route")) is not None
    assert compare.route_library_conflicts(db, actor=admin) == 0  # nothing left open


def test_R_GOV_4_without_a_legal_source_holding_data_nothing_is_raised(city, db, f):
    admin = city["admin"]
    elements.set_source(db, actor=admin, element_id=elements.element_by_code(db, code="Q0004").id,
                        source_org_id=f.org().id, source_basis="另一部门")
    comps = compare.compare_elements(db, actor=admin, element_ids=[elements.element_by_code(db, code="Q0004").id])
    assert [(x.status, x.conflicts, x.issue_id, x.legal_entry_id) for x in comps] == [("no_source", 1, None, None)]


def test_R_GOV_4_each_load_enqueues_the_comparison_job_which_runs_after_commit(city, db):
    versions = {x.version_id for x in city["loads"].values()}
    jobs = db.scalars(select(Job).where(Job.kind == compare.JOB)).all()
    assert {j.payload["version_id"] for j in jobs} == versions
    assert drain() >= 3
    db.expire_all()
    assert _latest(db, "Q0002").issue_id is not None


def test_R_GOV_4_who_sees_and_downloads_comparisons_and_the_pages(city, db, f, client):
    c = city["c"]
    compare.after_load(db, entry_id=city["civil"].id, version_id=city["loads"]["civil"].version_id)
    name = _latest(db, "Q0002")
    assert name in compare.latest(db, actor=c.other_officer)  # 社保 is a source
    outsider = f.actor(f.org(), ("dept_officer",))
    assert compare.latest(db, actor=outsider) == []
    with pytest.raises(NotFound):
        compare.get(db, actor=outsider, comparison_id=name.id)
    with pytest.raises(Forbidden):
        compare.conflicts_csv(db, actor=c.other_officer, comparison_id=name.id)  # not the legal source
    filename, data = compare.conflicts_csv(db, actor=c.officer, comparison_id=name.id)
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("主体标识") and make_id(3) in text and len(text.splitlines()) == 3
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.compare.download")) is not None
    with pytest.raises(Forbidden):
        compare.compare_element(db, actor=c.officer, element_id=name.element_id)
    # the pages, as the authority
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    csrf = login(client, user)
    page = client.get("/workbench/quality/compare")
    assert page.status_code == 200 and "Q0002" in page.text and f"/workbench/quality/issues/{name.issue_id}" in page.text
    detail = client.get(f"/workbench/quality/compare/{name.id}")
    assert detail.status_code == 200 and "compare-pairs" in detail.text and make_id(3) not in detail.text
    r = client.post("/workbench/quality/compare/run", data={"csrf_token": csrf, "element_id": str(name.element_id)},
                    follow_redirects=False)
    assert r.status_code == 303
    bad = client.post("/workbench/quality/compare/run", data={"csrf_token": csrf, "element_id": "x"})
    assert bad.status_code == 422 and "请选择" in bad.text


def test_compare_frames_without_the_database(tmp_path):
    """The engine the benchmark calls: Parquet in, counts out; keys trimmed, formatting apart."""
    pl.DataFrame({"id": ["1", "2", "3"], "n": ["张三", "李四", "王五"]}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"k": [" 1", "2", "3"], "x": ["张 三", "李四", "王六"]}).write_parquet(tmp_path / "b.parquet")
    res = compare_engine.compare_frames([("a", tmp_path / "a.parquet", "id", {"姓名": "n"}),
                                         ("b", tmp_path / "b.parquet", "k", {"姓名": "x"})],
                                        tmp_path / "out", legal={"姓名": "a"})
    r = res.elements["姓名"]
    assert (r.subjects, r.conflicts, r.legal_conflicts, r.formatting) == (3, 1, 1, 1)
    assert r.sample == [{"k": "3", "a": "王五", "b": "王六"}]


def test_R_GOV_4_comparisons_through_the_api(city, db, client):
    """Each element's latest comparison for a source department's tools: counts per pair, the masked sample, the
    issue raised; another organisation's comparison is not found."""
    c = city["c"]
    compare.after_load(db, entry_id=city["civil"].id, version_id=city["loads"]["civil"].version_id)
    name = _latest(db, "Q0002")
    token, _ = auth_service.create_token(db, actor=c.other_officer, name="t", scopes=["quality.*"], days=30)
    db.commit()
    h = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/quality/comparisons", headers=h)
    assert listed.status_code == 200 and name.id in [x["id"] for x in listed.json()]
    one = client.get(f"/api/v1/quality/comparisons/{name.id}", headers=h).json()
    assert (one["element_code"], one["conflicts"], one["issue_id"]) == ("Q0002", name.conflicts, name.issue_id)
    assert one["pairs"] and one["sample"] and make_id(3) not in str(one)
    mine = client.get(f"/api/v1/quality/comparisons?conflicts=true&entry_id={city['social'].id}", headers=h).json()
    assert mine and all(x["conflicts"] > 0 and any(s["entry_id"] == city["social"].id for s in x["sources"])
                        for x in mine)
    assert client.get("/api/v1/quality/comparisons/999999", headers=h).status_code == 404
    assert client.get("/api/v1/quality/comparisons?entry_id=x", headers=h).status_code == 422
