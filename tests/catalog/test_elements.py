"""R-CAT-6: the data element registry, single-source claims (一数一源) and their resolution."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.models import CatalogEntry, DataItem, SourceConflict
from gongshu.catalog.service import elements, entries
from gongshu.errors import Conflict, Forbidden, Invalid
from tests.catalog.helpers import cast, entry_in
from tests.factories import login

_n = iter(range(1, 10_000))


@pytest.fixture
def authority(f):
    return f.actor(f.org(kind="authority"), roles=("authority_admin",), kind="authority")


def _audit(db, action, subject_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEvent.subject_id == str(subject_id))
    return db.scalars(stmt).all()


def _entry(db, org_id, items):
    """An entry row with items (name, claims_source); bind_items is what is under test."""
    n = next(_n)
    e = CatalogEntry(org_id=org_id, code=f"E{n:05d}/{n:06d}", resource_attr="基础", class_code="E", name=f"资源{n}",
                     format="数据库", sharing_type="无条件共享", open_type="不予开放", update_cycle="每日")
    db.add(e)
    db.flush()
    for i, (name, claims) in enumerate(items):
        db.add(DataItem(entry_id=e.id, seq=i + 1, name=name, type="C", claims_source=claims))
    db.flush()
    return e


@pytest.fixture
def city(f, db, authority):
    police = f.org("公安局测试")
    civil = f.org("民政局测试")
    el = elements.create_element(db, actor=authority, code="DE0001", name="公民身份号码", type="C", length=18,
                                 source_org_id=police.id, source_basis="《居民身份证法》", is_personal=True,
                                 is_identifier=True)
    return police, civil, el


def test_element_registry_create_update_audited_R_CAT_6(db, authority, city):
    police, _civil, el = city
    assert elements.element_by_code(db, code="DE0001") is el
    assert elements.element_by_code(db, code="NOPE") is None
    assert len(_audit(db, "catalog.element.create", el.id)) == 1
    elements.update_element(db, actor=authority, element_id=el.id, code="DE0001", name="公民身份号码",
                            type="C", length=18, definition="GB 11643 规定的 18 位号码", is_personal=True,
                            is_identifier=True)
    assert el.definition.startswith("GB 11643") and el.source_org_id == police.id
    assert len(_audit(db, "catalog.element.update", el.id)) == 1


def test_element_bad_input_is_4xx_R_CAT_6(db, authority, city):
    with pytest.raises(Conflict) as e:
        elements.create_element(db, actor=authority, code="DE0001", name="别名", type="C")
    assert e.value.field == "code"
    with pytest.raises(Conflict) as e:
        elements.create_element(db, actor=authority, code="DE0002", name="公民身份号码", type="C")
    assert e.value.field == "name"
    with pytest.raises(Invalid) as e:
        elements.create_element(db, actor=authority, code="DE0003", name="x", type="Q")
    assert e.value.field == "type"
    with pytest.raises(Invalid) as e:
        elements.create_element(db, actor=authority, code="DE0004", name="y", type="C", source_org_id=999999)
    assert e.value.field == "source_org_id"


def test_only_authority_manages_elements_R_CAT_6(db, f):
    with pytest.raises(Forbidden):
        elements.create_element(db, actor=f.actor(), code="X1", name="x", type="C")


def test_bind_resolves_codes_and_rejects_unknown_R_CAT_6(db, f, city):
    police, _civil, el = city
    actor = f.actor(police)
    e = _entry(db, police.id, [("身份证号", True), ("姓名", False)])
    assert elements.bind_items(db, actor=actor, entry=e, element_codes={"身份证号": "DE0001", "姓名": None}) == []
    items = {i.name: i for i in db.scalars(select(DataItem).where(DataItem.entry_id == e.id))}
    assert items["身份证号"].element_id == el.id and items["姓名"].element_id is None
    with pytest.raises(Invalid) as exc:
        elements.bind_items(db, actor=actor, entry=e, element_codes={"身份证号": "DE0001", "姓名": "NOPE"})
    assert exc.value.field == "items[1].element_code"
    assert exc.value.details[0]["field"] == "items[1].element_code"


def test_second_source_claim_opens_conflict_on_both_entries_R_CAT_6(db, f, city):
    police, civil, el = city
    pe = _entry(db, police.id, [("身份证号", True)])
    elements.bind_items(db, actor=f.actor(police), entry=pe, element_codes={"身份证号": "DE0001"})
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    codes = {"公民身份号码": "DE0001"}
    opened = elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes=codes)
    assert len(opened) == 1
    c = opened[0]
    assert (c.element_id, c.incumbent_org_id, c.claimant_org_id, c.claimant_entry_id) == (
        el.id, police.id, civil.id, ce.id)
    # binding again does not open a second one
    assert [x.id for x in elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes=codes)] == [c.id]
    assert db.scalars(select(SourceConflict)).all() == [c]
    assert [x.id for x in elements.open_conflicts_for_entry(db, entry_id=ce.id)] == [c.id]
    assert [x.id for x in elements.open_conflicts_for_entry(db, entry_id=pe.id)] == [c.id]
    assert len(_audit(db, "catalog.conflict.open", c.id)) == 1


def test_resolve_keep_removes_claimants_claim_R_CAT_6(db, f, authority, city):
    police, civil, el = city
    pe = _entry(db, police.id, [("身份证号", True)])
    elements.bind_items(db, actor=f.actor(police), entry=pe, element_codes={"身份证号": "DE0001"})
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    [c] = elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes={"公民身份号码": "DE0001"})
    with pytest.raises(Invalid) as e:
        elements.resolve_conflict(db, actor=authority, conflict_id=c.id, decision="keep", note="")
    assert e.value.field == "note"
    with pytest.raises(Forbidden):
        elements.resolve_conflict(db, actor=f.actor(civil), conflict_id=c.id, decision="transfer", note="x")
    elements.resolve_conflict(db, actor=authority, conflict_id=c.id, decision="keep", note="公安机关法定职责")
    assert c.status == "resolved" and c.winner_org_id == police.id
    assert el.source_org_id == police.id
    assert db.scalar(select(DataItem.claims_source).where(DataItem.entry_id == ce.id)) is False
    assert db.scalar(select(DataItem.claims_source).where(DataItem.entry_id == pe.id)) is True
    assert elements.open_conflicts_for_entry(db, entry_id=pe.id) == []
    assert len(_audit(db, "catalog.conflict.resolve", c.id)) == 1
    with pytest.raises(Conflict):
        elements.resolve_conflict(db, actor=authority, conflict_id=c.id, decision="keep", note="again")


def test_resolve_transfer_moves_source_and_old_source_loses_claim_R_CAT_6(db, f, authority, city):
    police, civil, el = city
    pe = _entry(db, police.id, [("身份证号", True)])
    elements.bind_items(db, actor=f.actor(police), entry=pe, element_codes={"身份证号": "DE0001"})
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    [c] = elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes={"公民身份号码": "DE0001"})
    elements.resolve_conflict(db, actor=authority, conflict_id=c.id, decision="transfer", note="职责调整")
    assert el.source_org_id == civil.id and c.status == "resolved" and c.winner_org_id == civil.id
    assert db.scalar(select(DataItem.claims_source).where(DataItem.entry_id == pe.id)) is False
    assert db.scalar(select(DataItem.claims_source).where(DataItem.entry_id == ce.id)) is True
    assert len(_audit(db, "catalog.element.source", el.id)) == 1
    assert len(_audit(db, "catalog.conflict.resolve", c.id)) == 1


def test_claim_on_sourceless_element_waits_for_authority_R_CAT_6(db, f, authority):
    a, b = f.org(), f.org()
    el = elements.create_element(db, actor=authority, code="DE0100", name="不动产单元号", type="C")
    ea = _entry(db, a.id, [("单元号", True)])
    eb = _entry(db, b.id, [("不动产单元号", True)])
    [ca] = elements.bind_items(db, actor=f.actor(a), entry=ea, element_codes={"单元号": "DE0100"})
    [cb] = elements.bind_items(db, actor=f.actor(b), entry=eb, element_codes={"不动产单元号": "DE0100"})
    assert ca.incumbent_org_id is None and el.source_org_id is None  # a pending claim, not yet the source
    elements.resolve_conflict(db, actor=authority, conflict_id=ca.id, decision="transfer", note="确认")
    assert el.source_org_id == a.id and ca.status == "resolved"
    assert cb.status == "open" and cb.incumbent_org_id == a.id  # now an ordinary conflict against a
    assert [x.id for x in elements.open_conflicts_for_entry(db, entry_id=ea.id)] == [cb.id]


def test_withdrawing_the_claim_closes_the_conflict_R_CAT_6(db, f, city):
    _police, civil, _el = city
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    actor = f.actor(civil)
    [c] = elements.bind_items(db, actor=actor, entry=ce, element_codes={"公民身份号码": "DE0001"})
    db.scalar(select(DataItem).where(DataItem.entry_id == ce.id)).claims_source = False
    assert elements.bind_items(db, actor=actor, entry=ce, element_codes={"公民身份号码": "DE0001"}) == []
    assert c.status == "withdrawn" and len(_audit(db, "catalog.conflict.withdraw", c.id)) == 1


def test_set_source_needs_basis_and_reattaches_conflicts_R_CAT_6(db, f, authority, city):
    police, civil, el = city
    other = f.org()
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    [c] = elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes={"公民身份号码": "DE0001"})
    fresh = elements.create_element(db, actor=authority, code="DE0200", name="新数据元", type="C")
    with pytest.raises(Invalid) as e:
        elements.set_source(db, actor=authority, element_id=fresh.id, source_org_id=other.id)
    assert e.value.field == "source_basis"
    elements.set_source(db, actor=authority, element_id=el.id, source_org_id=other.id, note="机构改革")
    assert el.source_org_id == other.id and c.incumbent_org_id == other.id and c.status == "open"
    elements.set_source(db, actor=authority, element_id=el.id, source_org_id=civil.id)
    assert c.status == "resolved" and c.winner_org_id == civil.id
    assert police.id not in (el.source_org_id,)


def test_entry_service_binds_and_conflict_shows_on_both_entries_R_CAT_6(db, f, authority):
    c = cast(f)
    elements.create_element(db, actor=authority, code="DE0001", name="公民身份号码", type="C", length=18,
                            source_org_id=c.dept.id, source_basis="《居民身份证法》")
    items = entry_in().model_dump()["items"]
    items[0].update(element_code="DE0001", claims_source=True)
    mine = entries.create_entry(db, actor=c.officer, data=entry_in(items=items))
    theirs = entries.create_entry(db, actor=c.other_officer, data=entry_in(name="婚姻登记信息", items=items))
    [conflict] = elements.open_conflicts_for_entry(db, entry_id=theirs.id)
    assert conflict.incumbent_org_id == c.dept.id and conflict.claimant_org_id == c.other_dept.id
    assert [x.id for x in elements.open_conflicts_for_entry(db, entry_id=mine.id)] == [conflict.id]
    bad = entry_in(items=[{**items[0], "element_code": "NOPE"}])
    with pytest.raises(Invalid) as e:
        entries.create_entry(db, actor=c.officer, data=bad)
    assert e.value.field == "items[0].element_code"


def test_element_and_conflict_pages_and_api_R_CAT_6(db, f, client, city):
    police, civil, el = city
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    [conflict] = elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes={"公民身份号码": "DE0001"})
    admin = f.user(f.org(kind="authority"), ("authority_admin",))
    db.commit()
    csrf = login(client, admin)
    page = client.get("/workbench/elements")
    assert page.status_code == 200 and "公民身份号码" in page.text
    assert client.get(f"/workbench/elements/{el.id}").status_code == 200
    r = client.post("/workbench/elements", data={"code": "DE0500", "name": "统一社会信用代码", "type": "C",
                                                 "length": "18", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/workbench/elements", data={"code": "DE0501", "name": "坏长度", "type": "C", "length": "abc",
                                                 "csrf_token": csrf})
    assert r.status_code == 422
    r = client.post("/workbench/elements", data={"code": "DE0500", "name": "重复", "type": "C", "csrf_token": csrf})
    assert r.status_code == 409 and "已存在" in r.text
    page = client.get("/workbench/conflicts")
    assert page.status_code == 200 and "维持原数源部门" in page.text
    claimant = db.get(CatalogEntry, conflict.claimant_entry_id)
    assert f"{claimant.name}（{claimant.code}）" in page.text  # the claimant entry is named, not just numbered
    r = client.post(f"/workbench/conflicts/{conflict.id}/resolve", data={"decision": "keep", "note": "",
                                                                         "csrf_token": csrf})
    assert r.status_code == 422
    api = client.get("/api/v1/catalog/conflicts", params={"entry_id": ce.id}).json()
    assert [x["id"] for x in api] == [conflict.id] and api[0]["kind"] == "conflict"
    r = client.post(f"/api/v1/catalog/conflicts/{conflict.id}/resolve", headers={"x-csrf-token": csrf},
                    json={"decision": "transfer", "note": "职责调整"})
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["winner_org_id"] == civil.id
    assert client.get(f"/api/v1/catalog/elements/{el.id}").json()["source_org_id"] == civil.id
    r = client.post("/api/v1/catalog/elements", headers={"x-csrf-token": csrf},
                    json={"code": "DE0600", "name": "x", "type": "Z"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "type"
    r = client.put(f"/api/v1/catalog/elements/{el.id}/source", headers={"x-csrf-token": csrf},
                   json={"source_org_id": police.id, "note": "回归"})
    assert r.status_code == 200 and r.json()["source_org_id"] == police.id
    assert client.get("/api/v1/catalog/elements?q=身份").json()[0]["code"] == "DE0001"
    assert client.get("/api/v1/catalog/conflicts?status=bogus").status_code == 422


def test_department_sees_only_its_conflicts_R_CAT_6(db, f, city):
    police, civil, _el = city
    ce = _entry(db, civil.id, [("公民身份号码", True)])
    [conflict] = elements.bind_items(db, actor=f.actor(civil), entry=ce, element_codes={"公民身份号码": "DE0001"})
    assert [x.id for x in elements.list_conflicts(db, actor=f.actor(police))] == [conflict.id]
    assert elements.list_conflicts(db, actor=f.actor(f.org())) == []
    assert elements.conflicts_for_entry(db, actor=f.actor(f.org()), entry_id=ce.id) == []
