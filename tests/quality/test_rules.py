"""R-GOV-1 quality rules as data: defaults derived from the catalogue's items, versioned edits, retirement, YAML
import (all or nothing, with file/line/rule/field in the message) and export, and who may change them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.service import elements
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.quality.models import QualityRule
from gongshu.quality.service import rule_defaults, rules, rules_yaml
from tests.quality.helpers import add_rule, person_entry, published

DEFAULT_KEYS = {
    "format:公民身份号码", "format:姓名", "format:性别", "format:户籍地址", "required:公民身份号码",
    "checksum:公民身份号码", "code_table:性别", "range:出生日期", "unique:公民身份号码",
    "row_rule:ric_birth:公民身份号码:出生日期", "row_rule:ric_sex:公民身份号码:性别", "record_complete", "freshness",
    "accessible",
}


def _events(db, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _detail(event: AuditEvent) -> dict:
    return json.loads(event.detail)


def test_R_GOV_1_defaults_derived_from_the_items(f, db):
    c, entry = person_entry(f, db)
    added = rule_defaults.ensure_defaults(db, entry_id=entry.id)
    by_key = {r.key: r for r in added}
    assert set(by_key) == DEFAULT_KEYS
    assert by_key["checksum:公民身份号码"].params == {"scheme": "ric"}
    assert (by_key["checksum:公民身份号码"].severity, by_key["checksum:公民身份号码"].dimension) == ("critical", "normative")
    assert by_key["format:姓名"].params == {"type": "C", "length": 50}
    assert by_key["code_table:性别"].params == {"table": "gender"}
    assert by_key["range:出生日期"].params == {"min": "1900-01-01", "max": "today"}
    assert by_key["unique:公民身份号码"].dimension == "accurate"  # 唯一性 under 准确性
    assert by_key["freshness"].dimension == "timely" and by_key["accessible"].dimension == "accessible"
    assert all(r.origin == "default" and r.version == 1 for r in added)
    (event,) = _events(db, "quality.rule.defaults")
    assert set(_detail(event)["added"]) == DEFAULT_KEYS
    # idempotent; a default somebody retired does not come back
    rules.retire_rule(db, actor=c.officer, rule_id=by_key["format:户籍地址"].id)
    assert rule_defaults.ensure_defaults(db, entry_id=entry.id) == []
    assert "format:户籍地址" not in {r.key for r in rules.active_rules(db, entry_id=entry.id)}


def test_R_GOV_1_defaults_from_data_elements_and_identifier_names(f, db):
    """An item bound to a data element gets an element rule; a USCC named by its element gets its checksum."""
    c, _ = person_entry(f, db)
    admin = f.actor(c.authority, ("authority_admin",))
    el = elements.create_element(db, actor=admin, code="DE0001", name="统一社会信用代码", type="C", length=18,
                                 is_identifier=True)
    items = [{"name": "主体标识", "type": "C", "length": 18, "is_key": True, "element_code": el.code},
             {"name": "成立日期", "type": "D"}, {"name": "婚姻状况", "type": "C", "length": 2}]
    entry = published(db, c, name="法人登记", items=items)
    keys = {r.key: r for r in rule_defaults.ensure_defaults(db, entry_id=entry.id)}
    assert keys["element:主体标识"].params == {"element": "DE0001"}
    assert keys["checksum:主体标识"].params == {"scheme": "uscc"}
    assert keys["code_table:婚姻状况"].params == {"table": "marital"}
    assert "row_rule:ric_birth:主体标识:成立日期" not in keys


def test_R_GOV_1_edit_is_a_new_version_and_retire(f, db):
    c, entry = person_entry(f, db)
    rule = add_rule(db, c.officer, entry, "pattern", "姓名", regex=r"\p{Han}{2,4}")
    assert (rule.key, rule.version, rule.dimension, rule.origin) == ("pattern:姓名", 1, "accurate", "workbench")
    with pytest.raises(Conflict):
        add_rule(db, c.officer, entry, "pattern", "姓名", regex=".*")
    v2 = rules.update_rule(db, actor=c.officer, rule_id=rule.id, params={"regex": r"\p{Han}{2,5}"}, severity="minor")
    assert (v2.key, v2.version, v2.status, v2.severity) == ("pattern:姓名", 2, "active", "minor")
    db.refresh(rule)
    assert rule.status == "retired" and rule.retired_at is not None
    assert rules.update_rule(db, actor=c.officer, rule_id=v2.id, severity="minor") is v2  # nothing changed
    with pytest.raises(Conflict):
        rules.update_rule(db, actor=c.officer, rule_id=rule.id, severity="major")  # an old version
    assert [r.version for r in rules.history(db, actor=c.staff, rule_id=v2.id)] == [2, 1]
    (update,) = _events(db, "quality.rule.update")
    assert update.subject_id == str(v2.id) and _detail(update)["replaces"] == rule.id
    rules.retire_rule(db, actor=c.officer, rule_id=v2.id)
    assert _events(db, "quality.rule.retire")[0].subject_id == str(v2.id)
    again = add_rule(db, c.officer, entry, "pattern", "姓名", regex=".+")
    assert again.version == 3  # the key continues its versions


def test_R_GOV_1_rules_are_checked_against_kind_and_items(f, db):
    c, entry = person_entry(f, db)
    bad = [
        (dict(kind="nonsense"), "kind"), (dict(kind="required", item="不存在"), "item"),
        (dict(kind="required"), "item"), (dict(kind="range", item="出生日期", params={"min": "abc"}), "params.min"),
        (dict(kind="range", item="出生日期"), "params.min"),
        (dict(kind="pattern", item="姓名", params={"regex": "(("}), "params.regex"),
        (dict(kind="pattern", item="姓名", params={"regex": ".", "x": 1}), "params.x"),
        (dict(kind="row_rule", item="公民身份号码", params={"check": "ric_birth", "other": "无此项"}), "params.other"),
        (dict(kind="reference", item="姓名", params={"entry": "999/none", "item": "姓名"}), "params.entry"),
        (dict(kind="required", item="姓名", severity="fatal"), "severity"),
        (dict(kind="required", item="姓名", tolerance=2), "tolerance"),
        (dict(kind="freshness", item="姓名"), "item"),
    ]
    for kw, field in bad:
        with pytest.raises(Invalid) as e:
            rules.create_rule(db, actor=c.officer, entry_id=entry.id, **kw)
        assert e.value.field == field, (kw, e.value.field)
        assert e.value.message and e.value.message_en
    assert db.scalar(select(func.count()).select_from(QualityRule)) == 0


def test_R_GOV_1_only_the_source_department_or_the_authority_manages_rules(f, db):
    c, entry = person_entry(f, db)
    with pytest.raises(Forbidden):
        add_rule(db, c.other_officer, entry, "required", "姓名")
    with pytest.raises(Forbidden):
        add_rule(db, c.staff, entry, "required", "姓名")
    with pytest.raises(Forbidden):
        rules.list_rules(db, actor=c.other_officer, entry_id=entry.id)
    admin = f.actor(c.authority, ("authority_admin",))
    rule = add_rule(db, admin, entry, "required", "姓名")
    assert [r.id for r in rules.list_rules(db, actor=c.staff, entry_id=entry.id)] == [rule.id]
    assert [r.id for r in rules.list_rules(db, actor=c.auditor, entry_id=entry.id)] == [rule.id]


GOOD_YAML = """\
entry: {code}
rules:
  - key: 姓名为汉字
    kind: pattern
    item: 姓名
    severity: minor
    params:
      regex: '\\p{{Han}}{{2,4}}'
  - kind: range
    item: 出生日期
    params: {{min: 1920-01-01, max: today}}
  - kind: unique
    params:
      items: [姓名, 出生日期]
    tolerance: 0.01
"""

BAD_YAML = """\
entry: {code}
rules:
  - kind: required
    item: 姓名
  - kind: range
    item: 出生日期
    params:
      min: 去年
  - kind: required
    item: 学历
  - kind: pattern
    item: 姓名
    colour: red
"""


def test_R_GOV_1_yaml_import_is_all_or_nothing_and_names_the_line(f, db):
    c, entry = person_entry(f, db)
    with pytest.raises(Invalid) as e:
        rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text=BAD_YAML.format(code=entry.code),
                          filename="规则.yaml")
    problems = e.value.details
    assert [(p["line"], p["field"]) for p in problems] == [(8, "params.min"), (10, "item"), (13, "colour")]
    assert e.value.message.startswith("规则.yaml 第 8 行（字段 params.min）：") and "均未导入" in e.value.message
    assert "line 8" in e.value.message_en and "nothing was imported" in e.value.message_en
    assert db.scalar(select(func.count()).select_from(QualityRule)) == 0  # not even the first, valid, rule
    with pytest.raises(Invalid) as e:
        rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text="rules: [unclosed", filename="x.yaml")
    assert "YAML" in e.value.message and e.value.details[0]["line"] == 1
    with pytest.raises(Invalid):
        rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text="entry: 000/other\nrules: []\n")

    done = rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text=GOOD_YAML.format(code=entry.code))
    assert sorted(r.key for r in done.created) == ["range:出生日期", "unique:姓名+出生日期", "姓名为汉字"]
    assert all(r.origin == "import" for r in done.created)
    assert _detail(_events(db, "quality.rule.import")[0])["created"] == 3

    exported = rules_yaml.export_yaml(db, actor=c.staff, entry_id=entry.id)
    again = rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text=exported)
    assert (len(again.created), len(again.updated), again.unchanged) == (0, 0, 3)  # the round trip changes nothing
    changed = exported.replace("severity: minor", "severity: critical") + \
        "- key: 姓名为汉字\n  kind: pattern\n  status: retired\n  item: 姓名\n  params: {regex: x}\n"
    with pytest.raises(Invalid) as e:  # the same key twice
        rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text=changed)
    assert e.value.details[0]["field"] == "key"
    edited = rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id,
                               text=exported.replace("severity: minor", "severity: critical"))
    assert [(r.key, r.version, r.severity) for r in edited.updated] == [("姓名为汉字", 2, "critical")]
    retire = f"entry: {entry.code}\nrules:\n- {{key: 姓名为汉字, kind: pattern, item: 姓名, status: retired, " \
             "params: {regex: x}}\n"
    assert [r.key for r in rules_yaml.import_yaml(db, actor=c.officer, entry_id=entry.id, text=retire).retired] == \
        ["姓名为汉字"]
    with pytest.raises(Forbidden):
        rules_yaml.import_yaml(db, actor=c.other_officer, entry_id=entry.id, text=GOOD_YAML.format(code=entry.code))

