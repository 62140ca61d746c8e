"""R-CAT-8: e-government projects declare their data list; the compliance check reports, per
declared item, whether it is catalogued and published."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.service import entries, lifecycle, projects
from gongshu.catalog.service.projects import DeclaredItem as D
from gongshu.errors import Forbidden, Invalid
from tests.catalog.helpers import cast, entry_in, published
from tests.factories import login


@pytest.fixture
def c(f):
    return cast(f)


def _audit(db, action, subject_id):
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                               AuditEvent.subject_id == str(subject_id))).all()


def test_compliance_report_per_declared_item_R_CAT_8(db, c):
    pub = published(db, c, name="户籍人口基本信息")
    draft = entries.create_entry(db, actor=c.officer, data=entry_in(name="流动人口登记信息"))
    p = projects.register_project(db, actor=c.officer, name="智慧户政二期", approval_no="发改〔2026〕12号", items=[
        D(pub.code, "", "公民身份号码"),        # by code, published item
        D("", "户籍人口基本信息", ""),          # by name, whole resource
        D("", "户籍人口基本信息", "血型"),       # item not in the entry
        D(draft.code, "", "姓名"),             # catalogued, not published
        D("999999/99999", "不存在的资源", ""),  # nowhere
    ])
    assert len(_audit(db, "catalog.project.create", p.id)) == 1
    r = projects.check(db, actor=c.officer, project_id=p.id)
    assert [c.key for c in r.checks] == ["catalogued", "published", "attached", "shared"]  # issues 3 and 9
    got = [(row.matched_by, row.results["catalogued"], row.results["published"]) for row in r.rows]
    assert got == [("code", True, True), ("name", True, True), ("name", False, False),
                   ("code", True, False), ("", False, False)]
    assert any("血型" in n for n in r.rows[2].notes)
    assert any("尚未发布" in n for n in r.rows[3].notes)
    assert [row.results["attached"] for row in r.rows] == [False] * 5  # no data loaded yet
    assert r.summary == {"declared": 5, "compliant": 0, "catalogued": 3, "published": 2, "attached": 0, "shared": 0}


def test_published_means_in_the_published_version_R_CAT_8(db, c):
    pub = published(db, c)
    lifecycle.revise(db, actor=c.officer, entry_id=pub.id)
    items = [*entry_in().model_dump()["items"], {"name": "民族", "type": "C", "length": 2, "grade": "一般2"}]
    entries.update_entry(db, actor=c.officer, entry_id=pub.id, data=entry_in(code=pub.code, items=items))
    p = projects.register_project(db, actor=c.officer, name="项目", items=[D(pub.code, "", "民族")])
    [row] = projects.check(db, actor=c.officer, project_id=p.id).rows
    assert row.results == {"catalogued": True, "published": False, "attached": False, "shared": False}


def test_declared_list_input_is_checked_R_CAT_8(db, c):
    with pytest.raises(Invalid) as e:
        projects.register_project(db, actor=c.officer, name="空清单", items=[])
    assert e.value.field == "items"
    with pytest.raises(Invalid) as e:
        projects.register_project(db, actor=c.officer, name="缺名称", items=[D("a/1", "", ""), D("", "", "姓名")])
    assert e.value.field == "items[1].resource_name" and e.value.details[0]["row"] == 2
    with pytest.raises(Invalid) as e:
        projects.register_project(db, actor=c.officer, name=" ", items=[D("a/1")])
    assert e.value.field == "name"
    assert projects.parse_declared("101001/00001,户籍人口基本信息,姓名\n\n，婚姻登记信息，\nX/1") == [
        D("101001/00001", "户籍人口基本信息", "姓名"), D("", "婚姻登记信息", ""), D("X/1", "", "")]
    with pytest.raises(Invalid) as e:
        projects.parse_declared("a,b,c,d")
    assert e.value.details[0]["row"] == 1


def test_projects_are_the_departments_own_R_CAT_8(db, c):
    p = projects.register_project(db, actor=c.officer, name="项目", items=[D("", "某资源", "")])
    with pytest.raises(Forbidden):
        projects.check(db, actor=c.other_officer, project_id=p.id)
    with pytest.raises(Forbidden):
        projects.update_project(db, actor=c.reviewer, project_id=p.id, name="x", items=[D("", "y", "")])
    assert projects.check(db, actor=c.auditor, project_id=p.id).rows[0].results["catalogued"] is False
    assert [x.id for x in projects.list_projects(db, actor=c.reviewer)] == [p.id]
    assert projects.list_projects(db, actor=c.other_officer) == []
    projects.update_project(db, actor=c.staff, project_id=p.id, name="项目（调整）", items=[D("", "另一资源", "")])
    assert [d.resource_name for d in projects.declared(db, p.id)] == ["另一资源"]
    assert len(_audit(db, "catalog.project.update", p.id)) == 1


def test_project_api_and_pages_R_CAT_8(db, f, client, c):
    pub = published(db, c)
    user = f.user(c.dept, ("dept_officer",))
    db.commit()
    csrf = login(client, user)
    h = {"x-csrf-token": csrf}
    r = client.post("/api/v1/catalog/projects", headers=h, json={
        "name": "一网通办", "items": [{"entry_code": pub.code, "item_name": "姓名"}]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    rep = client.get(f"/api/v1/catalog/projects/{pid}/report").json()
    assert rep["rows"][0]["results"] == {"catalogued": True, "published": True, "attached": False, "shared": False}
    assert [c["key"] for c in rep["columns"]] == ["catalogued", "published", "attached", "shared"]
    bad = client.post("/api/v1/catalog/projects", headers=h, json={"name": "x", "items": [{"item_name": "姓名"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "items[0].resource_name"
    assert client.get("/api/v1/catalog/projects/999999/report").status_code == 404
    assert client.get("/workbench/projects").status_code == 200
    page = client.get(f"/workbench/projects/{pid}")
    assert page.status_code == 200 and pub.code in page.text
    r = client.post("/workbench/projects", data={"name": "页面登记", "items": f"{pub.code},,性别", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/workbench/projects", data={"name": "坏清单", "items": "a,b,c,d", "csrf_token": csrf})
    assert r.status_code == 422 and "多于 3 列" in r.text
