"""R-CAT-10: Chinese search with segmentation and pinyin in the database's own full-text index, with facets.

Entries are published through the real services (create → submit → approve), which index them.
"""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select, text

from gongshu.audit.models import AuditEvent
from gongshu.catalog.search_models import SearchCount, SearchDoc
from gongshu.catalog.service import entries, lifecycle, search
from gongshu.cli import main
from gongshu.errors import Forbidden, Invalid, NotFound
from gongshu.kit.pagination import Page
from tests.catalog.helpers import Cast, entry_in, published
from tests.conftest import is_postgres

OPEN = "无条件开放"
ITEM = {"name": "统计年度", "type": "N", "length": 4, "meaning": "统计所属年度", "grade": "一般1"}


@pytest.fixture
def c(f) -> Cast:
    authority = f.org("东莞市政务服务数据管理局", kind="authority")
    police = f.org("东莞市公安局")
    civil = f.org("东莞市民政局")
    return Cast(authority=authority, dept=police, other_dept=civil,
                officer=f.actor(police, ("dept_officer",)), staff=f.actor(police, ("dept_staff",)),
                other_officer=f.actor(civil, ("dept_officer",)),
                reviewer=f.actor(authority, ("authority_reviewer",)),
                auditor=f.actor(authority, ("auditor",)))


def publish_civil(db, c: Cast, **overrides):
    """An entry of 民政局 (the cast's other department)."""
    other = Cast(c.authority, c.other_dept, c.dept, c.other_officer, c.other_officer, c.officer, c.reviewer,
                 c.auditor)
    return published(db, other, **overrides)


def open_entry(**overrides):
    data = dict(open_type=OPEN, sharing_type="无条件共享", sharing_condition="", grade="一般1",
                items=[dict(ITEM)], legal_basis="", business="")
    data.update(overrides)
    return data


@pytest.fixture
def city(db, c):
    """户籍人口基本信息 (公安, 不予开放), 最低生活保障对象名单 and 婚姻登记统计 (民政, open)."""
    huji = published(db, c)
    dibao = publish_civil(db, c, **open_entry(
        name="最低生活保障对象名单", topic="社会保障", summary="享受城乡最低生活保障（低保）的家庭名单", format="电子表格",
        update_cycle="每月", resource_attr="主题", code="201001/00901"))
    marriage = publish_civil(db, c, **open_entry(
        name="婚姻登记统计", topic="人口", summary="按年度统计的结婚、离婚登记数量，GB2260 区划代码", format="数据库",
        update_cycle="每年", resource_attr="部门", code="301001/00902"))
    return {"huji": huji, "dibao": dibao, "marriage": marriage}


def stored_counts(db) -> set:
    return {tuple(r) for r in db.execute(select(SearchCount.facet, SearchCount.value, SearchCount.n_all,
                                                SearchCount.n_public).where(SearchCount.n_all != 0))}


def recounted(db) -> set:
    search.refresh_counts(db)
    return stored_counts(db)


def names(result) -> list[str]:
    return [h.name for h in result.hits]


def find(db, actor, q="", **filters):
    return search.search(db, actor=actor, q=q, filters=filters or None, page=Page())


def test_chinese_word_inside_a_longer_name_R_CAT_10(db, c, city):
    r = find(db, c.officer, "人口")
    assert "户籍人口基本信息" in names(r)
    assert "最低生活保障对象名单" not in names(r)
    assert names(find(db, c.officer, "户籍人口")) == ["户籍人口基本信息"]
    assert names(find(db, c.officer, "户籍 人口 基本信息")) == ["户籍人口基本信息"]
    assert names(find(db, c.officer, "低保")) == ["最低生活保障对象名单"]
    assert find(db, c.officer, "公积金").total == 0


def test_pinyin_full_and_initials_R_CAT_10(db, c, city):
    assert names(find(db, c.officer, "huji"))[0] == "户籍人口基本信息"
    assert names(find(db, c.officer, "hj"))[0] == "户籍人口基本信息"
    assert names(find(db, c.officer, "hjrk")) == ["户籍人口基本信息"]  # initials of the name from its start
    assert names(find(db, c.officer, "HunYin")) == ["婚姻登记统计"]  # case does not matter
    assert names(find(db, c.officer, "zdsh")) == ["最低生活保障对象名单"]
    assert find(db, c.officer, "qxz").total == 0


def test_department_name_code_and_latin_words_R_CAT_10(db, c, city):
    civil = find(db, c.officer, "民政局")
    assert sorted(names(civil)) == ["婚姻登记统计", "最低生活保障对象名单"]
    assert sorted(names(find(db, c.officer, "东莞市公安局"))) == ["户籍人口基本信息"]
    assert names(find(db, c.officer, "201001/00901")) == ["最低生活保障对象名单"]
    assert names(find(db, c.officer, "00902")) == ["婚姻登记统计"]
    assert names(find(db, c.officer, "gb2260")) == ["婚姻登记统计"]
    # data item names are searchable too
    assert names(find(db, c.officer, "公民身份号码")) == ["户籍人口基本信息"]


def test_relevance_then_name_and_highlight_R_CAT_10(db, c, city):
    r = find(db, c.officer, "人口")
    # 婚姻登记统计 only has 人口 as its topic; the name match ranks first
    assert names(r) == ["户籍人口基本信息", "婚姻登记统计"]
    assert ("人口", True) in r.hits[0].name_marked
    assert "".join(s for s, _ in r.hits[0].name_marked) == "户籍人口基本信息"
    hj = find(db, c.officer, "hj").hits[0]
    assert ("户籍", True) in hj.name_marked
    browse = find(db, c.officer)
    assert names(browse) == sorted(names(browse))


def test_public_sees_only_entries_that_are_not_closed_R_CAT_10(db, c, city):
    assert find(db, None, "人口").total == 1
    assert names(find(db, None, "人口")) == ["婚姻登记统计"]
    assert find(db, None, "huji").total == 0
    public = find(db, None)
    assert public.public_only and public.total == 2
    assert dict(public.facets["open_type"]) == {OPEN: 2}
    staff = find(db, c.staff)
    assert not staff.public_only and staff.total == 3
    assert dict(staff.facets["open_type"]) == {OPEN: 2, "不予开放": 1}
    # an auditor of the authority is government staff too
    assert find(db, c.auditor, "huji").total == 1


def test_facet_counts_in_one_query_with_filters_R_CAT_10(db, c, city, engine):
    r = find(db, c.officer)
    assert r.total == 3
    assert dict(r.facets["dept"]) == {"东莞市民政局": 2, "东莞市公安局": 1}
    assert r.facets["dept"][0] == ("东莞市民政局", 2)  # most frequent first
    assert dict(r.facets["resource_attr"]) == {"基础": 1, "主题": 1, "部门": 1}
    assert dict(r.facets["format"]) == {"数据库": 2, "电子表格": 1}
    assert dict(r.facets["update_cycle"]) == {"每日": 1, "每月": 1, "每年": 1}
    assert dict(r.facets["topic"]) == {"人口": 2, "社会保障": 1}
    assert dict(r.facets["sharing_type"]) == {"有条件共享": 1, "无条件共享": 2}
    assert dict(r.facets["grade"]) == {"一般3": 1, "一般1": 2}

    # AND across facets; a facet's own counts ignore its own selection (multi-select)
    f1 = find(db, c.officer, dept=["东莞市民政局"], format=["数据库"])
    assert names(f1) == ["婚姻登记统计"] and f1.total == 1
    assert dict(f1.facets["dept"]) == {"东莞市民政局": 1, "东莞市公安局": 1}  # with format=数据库 only
    assert dict(f1.facets["format"]) == {"数据库": 1, "电子表格": 1}  # with dept=民政局 only
    assert dict(f1.facets["update_cycle"]) == {"每年": 1}  # both filters
    # OR within a facet
    f2 = find(db, c.officer, update_cycle=["每日", "每年"])
    assert sorted(names(f2)) == ["婚姻登记统计", "户籍人口基本信息"]
    assert dict(f2.facets["update_cycle"]) == {"每日": 1, "每月": 1, "每年": 1}  # its own facet: unfiltered
    assert dict(f2.facets["dept"]) == {"东莞市公安局": 1, "东莞市民政局": 1}
    # with words: counts cover the matched set only
    f3 = find(db, c.officer, "人口", dept=["东莞市公安局"])
    assert f3.total == 1 and dict(f3.facets["dept"]) == {"东莞市公安局": 1, "东莞市民政局": 1}
    # a selected value without matches is still listed, with 0
    f4 = find(db, c.officer, "低保", dept=["东莞市公安局"])
    assert f4.total == 0 and ("东莞市公安局", 0) in f4.facets["dept"]

    # the facets and the total are one statement
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        find(db, c.officer, "人口", format=["数据库"])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    facet_sql = [s for s in statements if "UNION ALL" in s]
    assert len(facet_sql) == 1
    if is_postgres(engine):  # one hashed pass for every facet
        assert facet_sql[0].count("GROUPING SETS") == 1
    else:
        assert facet_sql[0].count("GROUP BY") == len(search.FACETS)
    # the synonym dictionary (one small read), facets+total, then the page of hits
    assert len(statements) == 3 and "catalog_search_synonym" in statements[0]
    # the landing page (no words, no filters) reads the stored counts, still in one statement
    statements.clear()
    event.listen(engine, "before_cursor_execute", count)
    try:
        landing = find(db, None)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2 and "catalog_search_count" in statements[0]
    assert landing.total == 2 and dict(landing.facets["open_type"]) == {OPEN: 2}


def test_paging_R_CAT_10(db, c, city):
    first = search.search(db, actor=c.officer, q="", page=Page(1, 2))
    second = search.search(db, actor=c.officer, q="", page=Page(2, 2))
    assert first.total == second.total == 3 and first.pages == 2
    assert len(first.hits) == 2 and len(second.hits) == 1
    assert not set(names(first)) & set(names(second))


def test_bad_input_is_a_clear_error_R_CAT_10(db, c):
    with pytest.raises(Invalid) as e:
        search.search(db, actor=None, q="", filters={"colour": ["红"]}, page=Page())
    assert e.value.field == "colour" and "未知的筛选条件" in e.value.message
    with pytest.raises(Invalid) as e:
        search.search(db, actor=None, q="人" * 201, page=Page())
    assert e.value.field == "q"
    # punctuation only, or FTS syntax, is not an error
    assert find(db, None, '"*) OR NOT (').total >= 0
    assert find(db, None, "'):* | !").total >= 0


def test_withdraw_and_revise_keep_index_in_step_R_CAT_10(db, c, city):
    dibao = city["dibao"]
    # a revision in progress: the public keeps finding the published version
    lifecycle.revise(db, actor=c.other_officer, entry_id=dibao.id)
    data = entries.entry_as_input(db, entry=entries.get_entry(db, actor=c.other_officer, entry_id=dibao.id))
    entries.update_entry(db, actor=c.other_officer, entry_id=dibao.id,
                         data=data.model_copy(update={"name": "特困人员救助供养名单"}))
    assert names(find(db, None, "低保")) == ["最低生活保障对象名单"]
    assert find(db, None, "特困").total == 0
    lifecycle.submit(db, actor=c.other_officer, entry_id=dibao.id, start=date(2026, 3, 2))
    lifecycle.approve(db, actor=c.reviewer, entry_id=dibao.id)
    assert names(find(db, None, "特困")) == ["特困人员救助供养名单"]
    assert find(db, None, "对象").total == 0  # only the old name had it
    doc = db.get(SearchDoc, dibao.id)
    assert doc.version == 2
    # withdrawn: gone for everyone
    lifecycle.withdraw(db, actor=c.reviewer, entry_id=dibao.id, reason="职能调整")
    assert find(db, c.officer, "特困").total == 0
    assert db.get(SearchDoc, dibao.id) is None
    # the landing page's stored counts followed every step
    browse = find(db, c.officer)
    assert browse.total == 2 and dict(browse.facets["dept"]) == {"东莞市公安局": 1, "东莞市民政局": 1}
    assert dict(find(db, None).facets["format"]) == {"数据库": 1}
    assert stored_counts(db) == recounted(db)


def test_reindex_all_rebuilds_and_is_audited_R_CAT_10(db, c, city, f):
    db.execute(text("DELETE FROM catalog_search_doc"))
    assert find(db, c.officer, "人口").total == 0
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    with pytest.raises(Forbidden):
        search.reindex_all(db, actor=c.officer)
    assert search.reindex_all(db, actor=admin) == 3
    assert names(find(db, c.officer, "人口")) == ["户籍人口基本信息", "婚姻登记统计"]
    ev = db.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.search.reindex")).all()
    assert len(ev) == 1 and ev[0].actor_name == admin.username and '"indexed":3' in ev[0].detail


def test_reindex_command_R_CAT_10(db, c, city):
    db.execute(text("DELETE FROM catalog_search_doc"))
    db.commit()
    out = CliRunner().invoke(main, ["catalog", "reindex"])
    assert out.exit_code == 0, out.output
    assert "3" in out.output
    assert db.scalar(select(func.count()).select_from(SearchDoc)) == 3


def test_published_detail_hides_closed_items_from_the_public_R_CAT_10(db, c, city):
    e = publish_civil(db, c, **open_entry(
        name="养老服务机构信息", open_type="有条件开放", open_condition="签订数据利用协议", code="101002/00903",
        items=[dict(ITEM), {"name": "负责人联系电话", "type": "C", "length": 20, "grade": "一般1",
                            "open_type": "不予开放"}]))
    p = search.published_entry(db, actor=None, ref="101002/00903")
    assert [i["name"] for i in p.items] == ["统计年度"] and p.hidden_items == 1
    assert p.fields["open_condition"] == "签订数据利用协议"
    # a closed item's name does not find the open entry
    assert find(db, None, "负责人联系电话").total == 0 and find(db, None, "统计年度").total >= 1
    staff = search.published_entry(db, actor=c.officer, ref=str(e.id))
    assert [i["name"] for i in staff.items] == ["统计年度", "负责人联系电话"] and staff.hidden_items == 0
    with pytest.raises(NotFound):
        search.published_entry(db, actor=None, ref=str(city["huji"].id))  # 不予开放
    assert search.published_entry(db, actor=c.auditor, ref=str(city["huji"].id)).fields["name"] == "户籍人口基本信息"
    with pytest.raises(NotFound):
        search.published_entry(db, actor=None, ref="999999/99999")


def test_index_entry_of_unpublished_entry_removes_it(db, c):
    e = entries.create_entry(db, actor=c.officer, data=entry_in())
    search.index_entry(db, entry_id=e.id)
    assert db.get(SearchDoc, e.id) is None
    with pytest.raises(NotFound):
        search.index_entry(db, entry_id=10**9)
