"""R-CAT-9: information-system list, data list, sharing responsibility list (per department and
city-wide, from published versions), exports; R-CAT-6: the collection list (采集清单)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.service import elements, entries, inventories, lifecycle
from gongshu.errors import Conflict, Forbidden, Invalid
from tests.catalog.helpers import cast, entry_in, published
from tests.factories import login


def _audit(db, action, subject_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEvent.subject_id == str(subject_id))
    return db.scalars(stmt).all()


@pytest.fixture
def c(f):
    return cast(f)


def test_department_maintains_its_system_list_audited_R_CAT_9(db, c):
    s = inventories.create_system(db, actor=c.officer, name="人口信息管理系统", description="户籍业务",
                                  operator="市信息中心", launched=date(2019, 5, 1))
    assert s.org_id == c.dept.id and len(_audit(db, "catalog.system.create", s.id)) == 1
    inventories.update_system(db, actor=c.staff, system_id=s.id, name="人口信息管理系统", operator="某公司")
    assert s.operator == "某公司" and len(_audit(db, "catalog.system.update", s.id)) == 1
    with pytest.raises(Forbidden):
        inventories.update_system(db, actor=c.other_officer, system_id=s.id, name="改名")
    with pytest.raises(Conflict) as e:
        inventories.create_system(db, actor=c.officer, name="人口信息管理系统")
    assert e.value.field == "name"
    with pytest.raises(Invalid) as e:
        inventories.create_system(db, actor=c.officer, name=" ")
    assert e.value.field == "name"
    with pytest.raises(Invalid) as e:
        inventories.create_system(db, actor=c.officer, name="未来系统", launched=date.today() + timedelta(days=3))
    assert e.value.field == "launched"
    with pytest.raises(Forbidden):
        inventories.create_system(db, actor=c.reviewer, name="主管部门不能替部门登记")
    inventories.delete_system(db, actor=c.officer, system_id=s.id)
    assert inventories.list_systems(db, actor=c.officer, org_id=c.dept.id) == []
    assert len(_audit(db, "catalog.system.delete", s.id)) == 1


def test_data_list_uses_published_version_only_R_CAT_9(db, c):
    e = published(db, c, name="户籍人口基本信息")
    entries.create_entry(db, actor=c.officer, data=entry_in(name="未发布的草稿"))
    lifecycle.revise(db, actor=c.officer, entry_id=e.id)
    entries.update_entry(db, actor=c.officer, entry_id=e.id, data=entry_in(code=e.code, name="修订中的新名称"))
    inv = inventories.inventory(db, actor=c.officer, kind="data", org_id=c.dept.id)
    assert [r["name"] for r in inv.rows] == ["户籍人口基本信息"]
    row = inv.rows[0]
    assert row["code"] == e.code and row["items"] == 5 and row["version"] == 1 and row["grade"] == "一般3"
    assert row["org_name"] == c.dept.name
    lifecycle.withdraw(db, actor=c.reviewer, entry_id=e.id, reason="职责划转")
    assert inventories.inventory(db, actor=c.officer, kind="data", org_id=c.dept.id).rows == []


def test_sharing_responsibility_list_per_entry_R_CAT_9(db, c):
    e = published(db, c)
    [row] = inventories.inventory(db, actor=c.officer, kind="sharing", org_id=c.dept.id).rows
    assert row["code"] == e.code and row["org_uscc"] == c.dept.uscc
    assert (row["sharing_type"], row["sharing_mode"]) == ("有条件共享", "接口")
    assert row["sharing_condition"].startswith("用于政务服务") and row["consumers"] == []


def test_city_wide_lists_need_the_authority_R_CAT_9(db, c):
    published(db, c)
    published(db, c, name="另一个资源")
    with pytest.raises(Forbidden):
        inventories.inventory(db, actor=c.officer, kind="data", org_id=None)
    with pytest.raises(Forbidden):
        inventories.inventory(db, actor=c.officer, kind="data", org_id=c.other_dept.id)
    city = inventories.inventory(db, actor=c.auditor, kind="data", org_id=None)
    assert city.org_name == "全市" and len(city.rows) >= 2
    assert len(inventories.inventory(db, actor=c.reviewer, kind="data", org_id=c.dept.id).rows) == 2
    assert inventories.inventory(db, actor=c.reviewer, kind="data", org_id=c.other_dept.id).rows == []


def test_exports_csv_xlsx_json_round_trip_and_audit_R_CAT_9(db, c):
    e = published(db, c)
    name, media, content = inventories.export(db, actor=c.officer, kind="data", org_id=c.dept.id, fmt="csv")
    assert name.endswith(".csv") and "数据清单" in name and media.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["提供部门", "信息资源代码", "信息资源名称"] and rows[1][1] == e.code
    _n, media, content = inventories.export(db, actor=c.officer, kind="sharing", org_id=c.dept.id, fmt="xlsx")
    ws = load_workbook(io.BytesIO(content)).active
    assert ws.title == "共享责任清单" and ws.cell(row=2, column=3).value == e.code
    _n, media, content = inventories.export(db, actor=c.officer, kind="data", org_id=c.dept.id, fmt="json")
    doc = json.loads(content)
    assert doc["inventory"] == "data" and doc["rows"][0]["code"] == e.code and media == "application/json"
    assert len(_audit(db, "catalog.inventory.export", f"data:{c.dept.id}")) == 2
    with pytest.raises(Invalid) as err:
        inventories.export(db, actor=c.officer, kind="data", org_id=c.dept.id, fmt="pdf")
    assert err.value.field == "format"
    with pytest.raises(Invalid) as err:
        inventories.inventory(db, actor=c.officer, kind="wishlist", org_id=c.dept.id)
    assert err.value.field == "kind"


def test_collection_list_from_source_elements_R_CAT_6(db, f, c):
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    elements.create_element(db, actor=admin, code="DE0001", name="公民身份号码", type="C", length=18,
                            source_org_id=c.dept.id, source_basis="《居民身份证法》")
    elements.create_element(db, actor=admin, code="DE0099", name="婚姻状况", type="C")
    items = [dict(i) for i in entry_in().model_dump()["items"]]
    items[0]["element_code"], items[0]["claims_source"] = "DE0001", True
    e = entries.create_entry(db, actor=c.officer, data=entry_in(items=items))
    other_items = [{"name": "婚姻状况", "type": "C", "length": 2, "element_code": "DE0099", "claims_source": True,
                    "grade": "一般2"}]
    entries.create_entry(db, actor=c.other_officer, data=entry_in(name="婚姻登记信息", items=other_items))
    rows = inventories.inventory(db, actor=c.officer, kind="collection", org_id=c.dept.id).rows
    assert [(r["element_code"], r["entry_code"], r["item_name"], r["standing"]) for r in rows] == [
        ("DE0001", e.code, "公民身份号码", "数源部门")]
    other = inventories.inventory(db, actor=c.other_officer, kind="collection", org_id=c.other_dept.id).rows
    assert [(r["element_code"], r["standing"]) for r in other] == [("DE0099", "认领待确认")]


def test_inventory_api_and_pages_R_CAT_9(db, f, client, c):
    published(db, c)
    user = f.user(c.dept, ("dept_officer",))
    db.commit()
    csrf = login(client, user)
    r = client.get("/api/v1/catalog/inventories/data")
    assert r.status_code == 200 and r.json()["org_id"] == c.dept.id and len(r.json()["rows"]) == 1
    assert client.get("/api/v1/catalog/inventories/nope").status_code == 422
    assert client.get("/api/v1/catalog/inventories/data?city=1").status_code == 403
    r = client.get("/api/v1/catalog/inventories/sharing/export?format=xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    r = client.post("/api/v1/catalog/systems", json={"name": "政务服务系统"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 201 and r.json()["org_id"] == c.dept.id
    assert client.post("/api/v1/catalog/systems", json={"name": ""}, headers={"x-csrf-token": csrf}).status_code == 422
    for kind in ("systems", "data", "sharing", "collection", "demand"):
        page = client.get(f"/workbench/inventories?kind={kind}")
        assert page.status_code == 200, kind
    page = client.get("/workbench/systems")
    assert page.status_code == 200 and "政务服务系统" in page.text
    r = client.post("/workbench/systems", data={"name": "第二个系统", "launched": "2020-01-01", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/workbench/systems", data={"name": "坏日期", "launched": "2020-13-01", "csrf_token": csrf})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    r = client.get("/workbench/inventories/export?kind=data&format=csv")
    assert r.status_code == 200 and "信息资源代码" in r.content.decode("utf-8-sig")
    assert "/workbench/inventories" in client.get("/workbench").text
