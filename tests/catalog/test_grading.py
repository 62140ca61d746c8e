"""R-CAT-5: grades (GB/T 43697) and the authority's grading rules; suggestions are explained."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.schemas import DataItemIn
from gongshu.catalog.service import elements, grading
from gongshu.errors import Forbidden, Invalid
from tests.factories import login


@pytest.fixture
def authority(f):
    return f.actor(f.org(kind="authority"), roles=("authority_admin",), kind="authority")


def _audit(db, action, subject_id):
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                               AuditEvent.subject_id == str(subject_id))).all()


def test_grades_seeded_and_ranked_R_CAT_5(db):
    codes = [g.code for g in grading.grades(db)]
    assert codes == ["一般1", "一般2", "一般3", "一般4", "重要", "核心"]
    assert grading.rank(db, code="核心") > grading.rank(db, code="重要") > grading.rank(db, code="一般4")
    with pytest.raises(Invalid) as e:
        grading.rank(db, code="绝密")
    assert e.value.field == "grade" and "一般1" in e.value.message


def test_no_rule_matches_gives_default_with_reason_R_CAT_5(db):
    s = grading.suggest(db, item=DataItemIn(name="天气描述", type="C"))
    assert s == grading.GradeSuggestion("一般1", ["未匹配分级规则，默认一般数据（1级）"])


def test_strictest_matching_rule_wins_and_all_are_explained_R_CAT_5(db, authority):
    el = elements.create_element(db, actor=authority, code="DE0001", name="公民身份号码", type="C", length=18,
                                 is_personal=True, is_identifier=True)
    grading.create_rule(db, actor=authority, name="个人信息", match_personal=True, grade="一般3",
                        reason="含个人信息，受限使用")
    grading.create_rule(db, actor=authority, name="身份号码", element_code="DE0001", grade="一般4",
                        reason="敏感个人信息，泄露可能导致人身财产损害")
    grading.create_rule(db, actor=authority, name="地址关键词", name_keyword="地址", grade="一般2", reason="位置信息")
    item = DataItemIn(name="身份证号", type="C", element_code="DE0001")
    s = grading.suggest(db, item=item, element=el)
    assert s.grade == "一般4"
    assert len(s.reasons) == 2
    assert "身份号码" in s.reasons[0] and "个人信息" in s.reasons[1]  # strictest first
    # the element code on the item is used when no element is given
    assert grading.suggest(db, item=item).grade == "一般4"
    # the element's personal flag counts even when the item does not say so
    other = DataItemIn(name="户籍地址", type="C", is_personal=False)
    s2 = grading.suggest(db, item=other)
    assert s2.grade == "一般2" and len(s2.reasons) == 1
    # rules snapshot for bulk use gives the same answer
    rules = grading.active_rules(db)
    assert grading.suggest(db, item=item, element=el, rules=rules) == s


def test_rule_matches_only_when_every_set_criterion_matches_R_CAT_5(db, authority):
    grading.create_rule(db, actor=authority, name="个人标识", match_personal=True, match_identifier=True,
                        grade="一般4", reason="可识别到个人")
    assert grading.suggest(db, item=DataItemIn(name="姓名", type="C", is_personal=True)).grade == "一般1"
    assert grading.suggest(db, item=DataItemIn(name="证件号", type="C", is_personal=True,
                                               is_identifier=True)).grade == "一般4"


def test_deactivated_rule_no_longer_applies_and_is_audited_R_CAT_5(db, authority):
    rule = grading.create_rule(db, actor=authority, name="核心关键词", name_keyword="核设施", grade="核心",
                               reason="关系国家安全")
    item = DataItemIn(name="核设施坐标", type="C")
    assert grading.suggest(db, item=item).grade == "核心"
    grading.set_rule_active(db, actor=authority, rule_id=rule.id, active=False)
    assert grading.suggest(db, item=item).grade == "一般1"
    assert len(_audit(db, "catalog.grading.rule.create", rule.id)) == 1
    assert len(_audit(db, "catalog.grading.rule.deactivate", rule.id)) == 1
    grading.update_rule(db, actor=authority, rule_id=rule.id, name="核心关键词", name_keyword="核设施",
                        grade="重要", reason="改为重要数据")
    assert rule.grade == "重要" and len(_audit(db, "catalog.grading.rule.update", rule.id)) == 1


def test_rule_input_is_checked_R_CAT_5(db, authority):
    with pytest.raises(Invalid) as e:
        grading.create_rule(db, actor=authority, name="空规则", grade="一般2", reason="无条件")
    assert e.value.field == "name_keyword"
    with pytest.raises(Invalid) as e:
        grading.create_rule(db, actor=authority, name="坏分级", name_keyword="x", grade="机密", reason="r")
    assert e.value.field == "grade"
    with pytest.raises(Invalid) as e:
        grading.create_rule(db, actor=authority, name="坏数据元", element_code="NOPE", grade="一般2", reason="r")
    assert e.value.field == "element_code"
    with pytest.raises(Invalid) as e:
        grading.create_rule(db, actor=authority, name="无理由", name_keyword="x", grade="一般2", reason=" ")
    assert e.value.field == "reason"


def test_only_the_authority_maintains_rules_R_CAT_5(db, f):
    officer = f.actor()
    with pytest.raises(Forbidden):
        grading.create_rule(db, actor=officer, name="x", name_keyword="x", grade="一般2", reason="r")


def test_grading_page_try_it_and_api_R_CAT_5(db, f, client, authority):
    admin = f.user(f.org(kind="authority"), ("authority_admin",))
    db.commit()
    csrf = login(client, admin)
    r = client.post("/workbench/grading", data={"name": "身份标识", "match_personal": "1", "match_identifier": "1",
                                                "grade": "一般4", "reason": "可直接识别个人", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/workbench/grading", data={"name": "无条件", "grade": "一般2", "reason": "x",
                                                "csrf_token": csrf})
    assert r.status_code == 422 and "至少需要一个匹配条件" in r.text
    page = client.get("/workbench/grading", params={"try_name": "身份证号", "try_personal": "1",
                                                    "try_identifier": "1"})
    assert page.status_code == 200 and "一般4" in page.text and "可直接识别个人" in page.text
    rule_id = client.get("/api/v1/catalog/grading/rules").json()[0]["id"]
    r = client.post(f"/workbench/grading/{rule_id}/active", data={"active": "0", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    s = client.post("/api/v1/catalog/grading/suggest", headers={"x-csrf-token": csrf},
                    json={"name": "身份证号", "type": "C", "is_personal": True, "is_identifier": True}).json()
    assert s["grade"] == "一般1"
    assert [g["code"] for g in client.get("/api/v1/catalog/grades").json()][-1] == "核心"
    r = client.post("/api/v1/catalog/grading/rules", headers={"x-csrf-token": csrf},
                    json={"name": "x", "grade": "绝密", "reason": "r", "name_keyword": "x"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "grade"
    assert client.get("/workbench/grading", params={"edit": rule_id}).status_code == 200


def test_department_can_try_but_not_edit_rules_R_CAT_5(db, f, client):
    user = f.user(f.org(), ("dept_officer",))
    db.commit()
    csrf = login(client, user)
    page = client.get("/workbench/grading", params={"try_name": "姓名"})
    assert page.status_code == 200 and "未匹配分级规则" in page.text and "新增规则" not in page.text
    r = client.post("/workbench/grading", data={"name": "x", "name_keyword": "x", "grade": "一般2", "reason": "r",
                                                "csrf_token": csrf})
    assert r.status_code == 403
