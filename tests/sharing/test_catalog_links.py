"""Sharing in the catalogue: the sharing responsibility list names consumers (R-CAT-9) and the project
compliance report has its "shared" column (R-CAT-8)."""

from __future__ import annotations

from gongshu.catalog.service import inventories, projects
from gongshu.sharing.service import grants
from tests.sharing.helpers import active_grant, world


def test_r_cat_9_sharing_list_names_the_consumers_of_live_grants(f, db, tmp_path):
    w = world(f, db, tmp_path)
    inv = inventories.inventory(db, actor=w.c.officer, kind="sharing", org_id=w.c.dept.id)
    [row] = [r for r in inv.rows if r["entry_id"] == w.entry.id]
    assert row["consumers"] == []
    grant = active_grant(db, w)
    inv = inventories.inventory(db, actor=w.c.officer, kind="sharing", org_id=w.c.dept.id)
    assert [r for r in inv.rows if r["entry_id"] == w.entry.id][0]["consumers"] == [w.c.other_dept.name]
    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="停止使用")
    inv = inventories.inventory(db, actor=w.c.officer, kind="sharing", org_id=w.c.dept.id)
    assert [r for r in inv.rows if r["entry_id"] == w.entry.id][0]["consumers"] == []


def test_r_cat_8_project_report_shared_column(f, db, tmp_path):
    w = world(f, db, tmp_path)
    p = projects.register_project(db, actor=w.c.officer, name="智慧户政", approval_no="",
                                  items=[projects.DeclaredItem(entry_code=w.entry.code, item_name="姓名"),
                                         projects.DeclaredItem(entry_code=w.entry.code, item_name="户籍地址")])
    report = projects.check(db, actor=w.c.officer, project_id=p.id)
    assert [r.results["shared"] for r in report.rows] == [False, False]
    active_grant(db, w, items=("公民身份号码", "姓名"))
    report = projects.check(db, actor=w.c.officer, project_id=p.id)
    assert [r.results["shared"] for r in report.rows] == [True, False]  # the address is granted to nobody
