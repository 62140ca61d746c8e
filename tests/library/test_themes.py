"""Thematic libraries (R-AGG-5): 社会救助 = 最低生活保障对象信息 + 残疾人证信息 + 户籍人口基本信息 joined on
公民身份号码; materialised per source version with lineage, masked and logged reads, validated definitions."""

from __future__ import annotations

from datetime import date

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from gongshu.app import create_app
from gongshu.audit.models import AuditEvent
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.ingest.service import versions
from gongshu.library import views_more
from gongshu.library.models import ThemeBuild
from gongshu.library.service import themes
from gongshu.store import registry
from gongshu.store.service import file_sm3
from tests.catalog.helpers import cast, published
from tests.factories import login
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv

ID = {"name": "公民身份号码", "type": "C", "length": 18, "is_identifier": True, "is_key": True, "is_personal": True,
      "grade": "一般3"}
NAME = {"name": "姓名", "type": "C", "length": 50, "is_personal": True, "grade": "一般3"}
AMOUNT = {"name": "保障金额", "type": "N", "length": 10, "grade": "一般2"}
START = {"name": "保障起始日期", "type": "D", "grade": "一般2"}
CERT = {"name": "残疾人证号", "type": "C", "length": 20, "is_key": True, "grade": "一般3"}
LEVEL = {"name": "残疾等级", "type": "C", "length": 2, "grade": "一般4"}


def _publish(db, c, name, items):
    return published(db, c, by=c.other_officer, name=name, items=items, grade="一般4")


def _disability_rows(ids: list[int]) -> list[list[str]]:
    return [[f"DC{make_id(i)}", make_id(i), str(1 + i % 4)] for i in ids]


@pytest.fixture
def city(f, db, tmp_path):
    return theme_city(f, db, tmp_path)


def theme_city(f, db, tmp_path):
    """公安 loads 户籍 for persons 1–10; 民政 loads 低保 for persons 1–6; 残联 certificates for 2 and 4."""
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    huji = published(db, c)
    load_file(db, c.officer, huji, write_csv(tmp_path / "huji.csv", person_rows(10)))
    dibao = _publish(db, c, "最低生活保障对象信息", [ID, NAME, AMOUNT, START])
    load_file(db, c.other_officer, dibao, write_csv(
        tmp_path / "dibao.csv", [[make_id(i), f"低保{i}", f"{800 + i}.5", "20240101"] for i in range(1, 7)],
        header=["公民身份号码", "姓名", "保障金额", "保障起始日期"]))
    cjr = _publish(db, c, "残疾人证信息", [CERT, dict(ID, is_key=False), LEVEL])
    load_file(db, c.other_officer, cjr, write_csv(tmp_path / "cjr.csv", _disability_rows([2, 4]),
                                                  header=["残疾人证号", "公民身份号码", "残疾等级"]))
    return c, admin, dibao, cjr, huji


def _parts(dibao, cjr, huji):
    return [{"entry_id": dibao.id, "items": ["姓名", "保障金额", "保障起始日期"]},
            {"entry_id": cjr.id, "items": ["残疾人证号", "残疾等级"]},
            {"entry_id": huji.id, "items": ["姓名", "户籍地址"]}]


def _define(db, admin, dibao, cjr, huji, code="shjz"):
    return themes.define_theme(db, actor=admin, code=code, name="社会救助", description="低保、残疾人与户籍",
                               key="公民身份号码", parts=_parts(dibao, cjr, huji))


def test_r_agg_5_theme_build_joins_the_parts_on_the_key_with_lineage(city, db):
    c, admin, dibao, cjr, huji = city
    theme = _define(db, admin, dibao, cjr, huji)
    assert theme.definition["base_entry_id"] == dibao.id and theme.definition["key"] == "公民身份号码"
    tb = themes.build_theme(db, actor=admin, theme_id=theme.id)
    assert tb.rows == 6 and tb.status == "current"  # the base (低保) decides the subjects
    labels = [col["label"] for col in tb.columns]
    assert labels == ["公民身份号码", "姓名·最低生活保障对象信息", "保障金额", "保障起始日期", "残疾人证号", "残疾等级",
                      "姓名·户籍人口基本信息", "户籍地址"]
    # lineage: exactly the serving versions used
    assert [(s["entry_id"], s["version_id"]) for s in tb.sources] == [
        (e.id, versions.current_version(db, entry_id=e.id).id) for e in (dibao, cjr, huji)]
    path = themes.build_snapshot_path(tb)
    assert file_sm3(path) == tb.snapshot_sm3
    rows = {r["k"]: r for r in pq.read_table(path).to_pylist()}
    assert sorted(rows) == sorted(make_id(i) for i in range(1, 7))
    assert rows[make_id(2)]["t4"] == f"DC{make_id(2)}" and rows[make_id(3)]["t4"] is None  # LEFT JOIN
    assert rows[make_id(3)]["t1"] == "低保3" and rows[make_id(3)]["t6"] == "张四3"
    assert rows[make_id(1)]["t2"] == pytest.approx(801.5) and rows[make_id(1)]["t3"] == date(2024, 1, 1)
    assert registry.get_store().count(tb.table_name) == 6
    events = {e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.subject_type == "library_theme"))}
    assert {"library.theme.define", "library.theme.build"} <= events


def test_r_agg_5_rebuild_follows_the_new_version_and_marks_the_old_build(city, db, tmp_path):
    c, admin, dibao, cjr, huji = city
    theme = _define(db, admin, dibao, cjr, huji)
    first = themes.build_theme(db, actor=admin, theme_id=theme.id)
    load_file(db, c.other_officer, cjr, write_csv(tmp_path / "cjr2.csv", _disability_rows([2, 4, 5]),
                                                  header=["残疾人证号", "公民身份号码", "残疾等级"]))
    second = themes.build_theme(db, actor=admin, theme_id=theme.id)
    db.refresh(first)
    assert first.status == "old" and second.status == "current" and first.table_name != second.table_name
    assert [s["number"] for s in first.sources] == [1, 1, 1] and [s["number"] for s in second.sources] == [1, 2, 1]
    assert themes.current_build(db, theme_id=theme.id).id == second.id
    rows = {r["k"]: r for r in pq.read_table(themes.build_snapshot_path(second)).to_pylist()}
    assert rows[make_id(5)]["t4"] == f"DC{make_id(5)}"
    assert [b.id for b in themes.builds(db, actor=admin, theme_id=theme.id)] == [second.id, first.id]


def test_r_agg_5_pages_are_masked_keyset_paged_and_logged(city, db):
    c, admin, dibao, cjr, huji = city
    theme = _define(db, admin, dibao, cjr, huji)
    themes.build_theme(db, actor=admin, theme_id=theme.id)
    page1 = themes.theme_rows(db, actor=admin, theme_id=theme.id, limit=4)
    assert len(page1["rows"]) == 4 and page1["next"] is not None
    page2 = themes.theme_rows(db, actor=admin, theme_id=theme.id, after=page1["next"], limit=4)
    assert len(page2["rows"]) == 2 and page2["next"] is None
    keys = [r["values"][0] for r in page1["rows"] + page2["rows"]]
    assert keys == [make_id(i)[:4] + "*" * 10 + make_id(i)[-4:] for i in range(1, 7)]  # masked, in key order
    second = page1["rows"][1]  # person 2: disability certificate number masked, 一般4 grade masked
    assert second["values"][4].startswith("DC44") and "*" in second["values"][4] and second["masked"][4]
    assert second["values"][5] == "＊" and second["masked"][5]
    assert second["values"][1] == "低保2" and not second["masked"][1] and second["values"][2] == 802.5
    reads = db.scalars(select(AuditEvent).where(AuditEvent.action == "library.theme.read")).all()
    assert len(reads) == 2


def test_r_agg_5_definitions_are_validated_in_both_languages(city, db, f, tmp_path):
    c, admin, dibao, cjr, huji = city
    parts = _parts(dibao, cjr, huji)
    with pytest.raises(Invalid) as e:
        themes.define_theme(db, actor=admin, code="x1", name="测试", key="公民身份号码",
                            parts=[parts[0], {"entry_id": cjr.id, "items": ["残疾类别"]}])
    assert "残疾类别" in e.value.message and "残疾类别" in e.value.message_en and e.value.field == "parts[2].items"
    with pytest.raises(Invalid) as e:
        themes.define_theme(db, actor=admin, code="x1", name="测试", key="统一社会信用代码", parts=parts)
    assert e.value.field == "key" and "统一社会信用代码" in e.value.message
    with pytest.raises(Invalid) as e:
        themes.define_theme(db, actor=admin, code="x1", name="测试", key="公民身份号码",
                            parts=[parts[0], {"entry_id": 999999, "items": ["姓名"]}])
    assert e.value.field == "parts[2].entry_id"
    empty = _publish(db, c, "临时救助信息", [ID, NAME])
    with pytest.raises(Invalid) as e:
        themes.define_theme(db, actor=admin, code="x1", name="测试", key="公民身份号码",
                            parts=[parts[0], {"entry_id": empty.id, "items": ["姓名"]}])
    assert "尚未挂接" in e.value.message
    with pytest.raises(Invalid):
        themes.define_theme(db, actor=admin, code="X 1", name="测试", key="公民身份号码", parts=parts)
    with pytest.raises(Invalid):
        themes.define_theme(db, actor=admin, code="x1", name="测试", key="公民身份号码", parts=[])
    _define(db, admin, dibao, cjr, huji)
    with pytest.raises(Conflict):
        _define(db, admin, dibao, cjr, huji)


def test_r_agg_5_a_non_key_join_item_must_be_unique(city, db, tmp_path):
    c, admin, dibao, cjr, huji = city
    rows = _disability_rows([2, 4]) + [["DC-SECOND", make_id(2), "1"]]  # person 2 holds two certificates
    load_file(db, c.other_officer, cjr, write_csv(tmp_path / "cjr3.csv", rows,
                                                  header=["残疾人证号", "公民身份号码", "残疾等级"]))
    with pytest.raises(Invalid) as e:
        _define(db, admin, dibao, cjr, huji)
    assert "重复" in e.value.message and "duplicate" in e.value.message_en and make_id(2) not in e.value.message


def test_r_agg_5_update_revalidates_and_is_audited(city, db):
    c, admin, dibao, cjr, huji = city
    theme = _define(db, admin, dibao, cjr, huji)
    themes.update_theme(db, actor=admin, theme_id=theme.id, name="社会救助（低保）",
                        parts=[{"entry_id": dibao.id, "items": ["姓名"]}, {"entry_id": huji.id, "items": ["性别"]}])
    assert theme.name == "社会救助（低保）" and [p["entry_id"] for p in theme.definition["parts"]] == [dibao.id, huji.id]
    tb = themes.build_theme(db, actor=admin, theme_id=theme.id)
    assert [col["label"] for col in tb.columns] == ["公民身份号码", "姓名", "性别"]
    with pytest.raises(Invalid):
        themes.update_theme(db, actor=admin, theme_id=theme.id, parts=[{"entry_id": dibao.id, "items": ["身高"]}])
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "library.theme.update")) is not None
    assert [t.code for t in themes.list_themes(db, actor=admin)] == ["shjz"]


def test_r_agg_5_only_the_authority_defines_builds_and_reads(city, db):
    c, admin, dibao, cjr, huji = city
    with pytest.raises(Forbidden):
        themes.define_theme(db, actor=c.other_officer, code="x1", name="测试", key="公民身份号码",
                            parts=_parts(dibao, cjr, huji))
    theme = _define(db, admin, dibao, cjr, huji)
    with pytest.raises(NotFound):
        themes.theme_rows(db, actor=admin, theme_id=theme.id)  # not built yet
    with pytest.raises(Forbidden):
        themes.build_theme(db, actor=c.officer, theme_id=theme.id)
    themes.build_theme(db, actor=admin, theme_id=theme.id)
    with pytest.raises(Forbidden):
        themes.theme_rows(db, actor=c.officer, theme_id=theme.id)
    assert db.scalar(select(ThemeBuild).where(ThemeBuild.theme_id == theme.id)) is not None


# Pages ------------------------------------------------------------------------------------------------------

@pytest.fixture
def app(session_factory):
    """The app with the library pages router ahead of the person/entity pages (as app.py must include it)."""
    app = create_app(check_db=False, run_jobs=False)
    if not any(getattr(r, "path", "") == "/workbench/library/themes" for r in app.routes):
        app.router.routes[:0] = views_more.router.routes
    return app


def test_r_agg_5_theme_pages_define_build_and_browse(city, db, f, client):
    c, admin, dibao, cjr, huji = city
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    csrf = login(client, user)
    page = client.get("/workbench/library/themes")
    assert page.status_code == 200 and "最低生活保障对象信息" in page.text and 'id="theme-define"' in page.text
    parts = f"{dibao.id}: 姓名、保障金额\n{cjr.id}: 残疾人证号, 残疾等级\n{huji.id}：户籍地址"
    bad = client.post("/workbench/library/themes", data={"csrf_token": csrf, "code": "shjz", "name": "社会救助",
                                                          "key": "公民身份号码", "parts": parts + "、身高"})
    assert bad.status_code == 422 and "身高" in bad.text and "社会救助" in bad.text  # the form keeps its values
    r = client.post("/workbench/library/themes", data={"csrf_token": csrf, "code": "shjz", "name": "社会救助",
                                                        "key": "公民身份号码", "parts": parts},
                    follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    assert "尚未生成" in client.get(url).text
    assert client.post(url + "/build", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    shown = client.get(url)
    assert shown.status_code == 200 and "id=\"theme-rows\"" in shown.text and "低保2" in shown.text
    assert make_id(2) not in shown.text and make_id(2)[:4] + "*" * 10 + make_id(2)[-4:] in shown.text
    assert "残疾人证信息</a> v1" in shown.text  # lineage
    assert client.get(url + "?after=x").status_code == 422
    listing = client.get("/workbench/library/themes")
    assert "社会救助" in listing.text and "6 行" in listing.text


def test_r_agg_5_theme_pages_refuse_department_staff(city, db, f, client):
    c, *_ = city
    user = f.user(c.dept, ("dept_officer",))
    db.commit()
    login(client, user)
    assert client.get("/workbench/library/themes").status_code == 403
