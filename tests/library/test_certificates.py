"""The e-certificate library (R-AGG-4): certificates held by a person (citizen ID) or a legal entity
(USCC), found in every attached entry with a holder and a certificate-number column; reads logged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.app import create_app
from gongshu.audit.models import AuditEvent
from gongshu.errors import Forbidden, Invalid
from gongshu.library import views_more
from gongshu.library.service import certificates
from tests.catalog.helpers import cast, published
from tests.factories import login, make_uscc
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv


def _item(name, type_="C", **kw):
    return {"name": name, "type": type_, "length": kw.pop("length", 50), "grade": "一般2", **kw}


DISABILITY = [_item("残疾人证号", is_key=True), _item("公民身份号码", length=18, is_identifier=True),
              _item("残疾等级", length=2)]
DRIVING = [_item("驾驶证号", is_key=True), _item("居民身份证号码", length=18, is_identifier=True),
           _item("准驾车型", length=10), _item("有效期至", "D")]
FOOD = [_item("许可证编号", is_key=True), _item("统一社会信用代码", length=18, is_identifier=True),
        _item("经营者名称", length=100), _item("经营项目", length=100)]


def _publish(db, c, name, items):
    return published(db, c, by=c.other_officer, name=name, items=items, grade="一般2")


@pytest.fixture
def city(f, db, tmp_path):
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    dis = _publish(db, c, "残疾人证信息", DISABILITY)
    load_file(db, c.other_officer, dis, write_csv(tmp_path / "cjr.csv", [
        ["CJ0001", make_id(1), "2"], ["CJ0002", make_id(2), "3"]], header=["残疾人证号", "公民身份号码", "残疾等级"]))
    drv = _publish(db, c, "机动车驾驶证信息", DRIVING)
    load_file(db, c.other_officer, drv, write_csv(tmp_path / "jsz.csv", [
        ["JZ0001", make_id(1), "C1", "20300101"], ["JZ0003", make_id(3), "B2", "20290101"]],
        header=["驾驶证号", "居民身份证号码", "准驾车型", "有效期至"]))
    food = _publish(db, c, "食品经营许可证信息", FOOD)
    load_file(db, c.other_officer, food, write_csv(tmp_path / "sp.csv", [
        ["JY14419000001", make_uscc(1), "东莞甲食品有限公司", "预包装食品销售"],
        ["JY14419000002", make_uscc(1), "东莞甲食品有限公司", "热食类食品制售"],
        ["JY14419000003", make_uscc(2), "东莞乙餐饮有限公司", "热食类食品制售"]],
        header=["许可证编号", "统一社会信用代码", "经营者名称", "经营项目"]))
    huji = published(db, c)  # holds citizen IDs but no certificate number: not a source
    load_file(db, c.officer, huji, write_csv(tmp_path / "huji.csv", person_rows(3)))
    return c, admin, dis, drv, food, huji


def test_r_agg_4_certificate_sources_need_a_holder_and_a_certificate_number(city, db):
    c, admin, dis, drv, food, huji = city
    found = {s["entry_id"]: s for s in certificates.sources(db, actor=admin)}
    assert set(found) == {dis.id, drv.id, food.id}
    # 居民身份证号码 contains 证号 but is the holder, never the certificate number
    assert (found[drv.id]["holder_item"], found[drv.id]["certificate_item"]) == ("居民身份证号码", "驾驶证号")
    assert found[food.id]["holder_kind"] == "uscc" and found[dis.id]["holder_kind"] == "ric"


def test_r_agg_4_certificates_held_by_a_person_with_entry_and_version(city, db):
    c, admin, dis, drv, *_ = city
    held = certificates.held_by(db, actor=admin, holder=make_id(1))
    assert sorted((h["entry_id"], h["certificate_number"]) for h in held) == sorted(
        [(dis.id, "CJ0001"), (drv.id, "JZ0001")])
    by_entry = {h["entry_id"]: h for h in held}
    assert by_entry[drv.id]["attributes"] == {"准驾车型": "C1", "有效期至": "2030-01-01"}
    assert by_entry[dis.id]["version"] == 1 and by_entry[dis.id]["certificate_item"] == "残疾人证号"
    assert [h["certificate_number"] for h in certificates.held_by(db, actor=admin, holder=make_id(3))] == ["JZ0003"]
    assert certificates.held_by(db, actor=admin, holder=make_id(7)) == []
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "library.certificates.read")
                        .order_by(AuditEvent.id)).all()
    assert len(events) == 3 and events[0].subject_id == make_id(1)[:4] + "*" * 10 + make_id(1)[-4:]


def test_r_agg_4_certificates_held_by_a_legal_entity_follow_the_serving_version(city, db, tmp_path):
    c, admin, dis, drv, food, _ = city
    held = certificates.held_by(db, actor=admin, holder=" " + make_uscc(1).lower() + " ")
    assert sorted(h["certificate_number"] for h in held) == ["JY14419000001", "JY14419000002"]
    assert held[0]["attributes"]["经营者名称"] == "东莞甲食品有限公司" and "统一社会信用代码" not in held[0]["attributes"]
    load_file(db, c.other_officer, food, write_csv(tmp_path / "sp2.csv", [
        ["JY14419000002", make_uscc(1), "东莞甲食品有限公司", "热食类食品制售"]],
        header=["许可证编号", "统一社会信用代码", "经营者名称", "经营项目"]))
    held = certificates.held_by(db, actor=admin, holder=make_uscc(1))
    assert [(h["certificate_number"], h["version"]) for h in held] == [("JY14419000002", 2)]


@pytest.mark.parametrize("holder", ["", "12345", "440106198503120010", "91441900MA4UXXXXXX"])
def test_r_agg_4_holder_must_be_a_valid_id_number_or_uscc(city, db, holder):
    c, admin, *_ = city
    with pytest.raises(Invalid) as e:
        certificates.held_by(db, actor=admin, holder=holder)
    assert "统一社会信用代码" in e.value.message and "credit code" in e.value.message_en and e.value.field == "holder"


def test_r_agg_4_certificate_library_is_for_the_authority(city, db):
    c, *_ = city
    with pytest.raises(Forbidden):
        certificates.held_by(db, actor=c.officer, holder=make_id(1))


# Pages ------------------------------------------------------------------------------------------------------

@pytest.fixture
def app(session_factory):
    """The app with the library pages router ahead of the person/entity pages (as app.py must include it)."""
    app = create_app(check_db=False, run_jobs=False)
    if not any(getattr(r, "path", "") == "/workbench/library/certificates" for r in app.routes):
        app.router.routes[:0] = views_more.router.routes
    return app


def test_r_agg_4_certificate_page_shows_a_holders_certificates(city, db, f, client):
    c, *_ = city
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    login(client, user)
    page = client.get("/workbench/library/certificates")
    assert page.status_code == 200 and "食品经营许可证信息" in page.text and 'id="certificates"' not in page.text
    r = client.get("/workbench/library/certificates", params={"holder": make_uscc(1)})
    assert r.status_code == 200 and "JY14419000001" in r.text and "JY14419000002" in r.text
    assert "JY14419000003" not in r.text and make_uscc(1)[:4] + "*" * 10 + make_uscc(1)[-4:] in r.text
    r = client.get("/workbench/library/certificates", params={"holder": make_id(3)})
    assert "JZ0003" in r.text and "准驾车型：B2" in r.text
    bad = client.get("/workbench/library/certificates", params={"holder": "123"})
    assert bad.status_code == 422 and "统一社会信用代码" in bad.text
