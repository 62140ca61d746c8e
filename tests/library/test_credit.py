"""The credit library (R-AGG-4): credit sources with an explained polarity, a subject's profile across
sources through the real pipeline, masking, logged look-ups, permissions and bad input."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.demo import data_entities as ent
from gongshu.demo.data import entry_columns
from gongshu.errors import Forbidden, Invalid
from gongshu.library.service import credit
from tests.catalog.helpers import cast, published
from tests.factories import login, make_uscc
from tests.ingest.helpers import load_file, make_id, write_csv

USCC = {"name": "统一社会信用代码", "type": "C", "length": 18, "is_identifier": True, "grade": "一般1"}
NAME = {"name": "企业名称", "type": "C", "length": 200, "grade": "一般1"}
REP_ID = {"name": "法定代表人身份号码", "type": "C", "length": 18, "is_personal": True, "grade": "一般3"}
LEVEL = {"name": "纳税信用等级", "type": "C", "length": 2, "grade": "一般1"}
TAX = {"name": "欠税税种", "type": "C", "length": 50, "grade": "一般1"}
AMOUNT = {"name": "欠税余额", "type": "N", "length": 16, "grade": "一般1"}
PHONE = {"name": "联系电话", "type": "C", "length": 20, "grade": "一般4"}
NOTICE = {"name": "公告日期", "type": "D", "length": 8, "grade": "一般1"}


def _publish(db, c, name, items, topic="社会信用", grade="一般3"):
    return published(db, c, by=c.other_officer, name=name, topic=topic, items=items, grade=grade,
                     open_type="无条件开放" if grade == "一般3" else "不予开放")


@pytest.fixture
def city(f, db, tmp_path):
    """税务 publishes an A-level list (entities 1–4) and tax arrears (entity 2 twice, entity 5 once)."""
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    a_list = _publish(db, c, "纳税信用A级纳税人名单", [USCC, NAME, LEVEL])
    load_file(db, c.other_officer, a_list, write_csv(tmp_path / "a.csv", [[make_uscc(i), f"企业{i}", "A"] for i in range(1, 5)],
                                                     header=["统一社会信用代码", "企业名称", "纳税信用等级"]))
    arrears = _publish(db, c, "欠税公告信息", [USCC, NAME, REP_ID, TAX, AMOUNT, PHONE, NOTICE],
                       grade="一般4")
    load_file(db, c.other_officer, arrears, write_csv(tmp_path / "q.csv", [
        [make_uscc(2), "企业2", make_id(7), "增值税", "1200.5", "13800138000", "2026-03-31"],
        [make_uscc(2), "企业2", make_id(7), "房产税", "30", "13800138000", "2026-06-30"],
        [make_uscc(5), "企业5", make_id(8), "增值税", "99", "", "2026-06-30"]],
        header=["统一社会信用代码", "企业名称", "法定代表人身份号码", "欠税税种", "欠税余额", "联系电话", "公告日期"]))
    return c, admin, a_list, arrears


def test_polarity_is_read_from_the_name_and_explained_R_AGG_4():
    assert credit.polarity("欠税公告信息") == {"code": "negative", "zh": "失信", "en": "adverse", "word": "欠税"}
    assert credit.polarity("纳税信用A级纳税人名单")["code"] == "positive"
    assert credit.polarity("信用承诺信息") == {"code": "neutral", "zh": "一般", "en": "general", "word": ""}


def test_profile_shows_both_sides_with_sources_versions_and_masking_R_AGG_4(city, db):
    c, admin, a_list, arrears = city
    p = credit.profile(db, actor=admin, subject=make_uscc(2).lower())
    assert p["counts"] == {"positive": 1, "negative": 2, "neutral": 0} and p["sources"] == 2
    assert [s["entry_name"] for s in p["sections"]] == ["欠税公告信息", "纳税信用A级纳税人名单"]  # adverse first
    adverse = p["sections"][0]
    assert adverse["polarity"]["word"] == "欠税" and adverse["version"] == 1 and adverse["entry_id"] == arrears.id
    assert {r["欠税税种"] for r in adverse["records"]} == {"增值税", "房产税"}
    assert all(r["法定代表人身份号码"] != make_id(7) and "*" in r["法定代表人身份号码"] for r in adverse["records"])
    assert "统一社会信用代码" not in adverse["records"][0]
    assert all(r["联系电话"] and "13800138000" not in r["联系电话"] for r in adverse["records"])  # 一般4: masked by grade
    assert {r["企业名称"] for r in adverse["records"]} == {"企业2"}  # 一般1: shown
    assert adverse["org_name"] == c.other_dept.name  # the providing department
    assert adverse["date_item"] == "公告日期" and adverse["latest"] == "2026-06-30"
    assert p["latest"] == {"negative": "2026-06-30", "positive": None, "neutral": None}  # the A list has no date item
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "library.credit.read")).one()
    assert make_uscc(2) not in (event.subject_id or "") and "*" in event.subject_id
    clean = credit.profile(db, actor=admin, subject=make_uscc(9))
    assert clean["counts"] == {"positive": 0, "negative": 0, "neutral": 0} and clean["sections"] == []


def test_overview_lists_sources_and_most_adverse_subjects_R_AGG_4(city, db):
    c, admin, *_ = city
    o = credit.overview(db, actor=admin)
    by = {s["entry_name"]: s for s in o["sources"]}
    assert by["欠税公告信息"]["polarity"]["code"] == "negative" and by["欠税公告信息"]["subjects"] == 2
    assert by["纳税信用A级纳税人名单"]["rows"] == 4 and by["纳税信用A级纳税人名单"]["holder_item"] == "统一社会信用代码"
    assert [t["records"] for t in o["top_adverse"]] == [2, 1] and o["adverse_subjects"] == 2
    assert all("*" in t["subject"] for t in o["top_adverse"])


def test_bad_subject_and_permission_are_refused_R_AGG_4(city, db):
    c, admin, *_ = city
    with pytest.raises(Invalid) as e:
        credit.profile(db, actor=admin, subject="91441900MA0000000X")
    assert "统一社会信用代码" in e.value.message and e.value.message_en
    with pytest.raises(Forbidden):
        credit.profile(db, actor=c.officer, subject=make_uscc(2))


def test_credit_page_R_AGG_4(city, db, f, client):
    c, *_ = city
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    login(client, user)
    page = client.get("/workbench/library/credit")
    assert page.status_code == 200 and 'id="credit-sources"' in page.text and "名称含“欠税”" in page.text
    found = client.get("/workbench/library/credit", params={"subject": make_uscc(2)})
    assert found.status_code == 200 and 'id="credit-profile"' in found.text and "房产税" in found.text and c.other_dept.name in found.text
    assert "最近公告日期 2026-06-30" in found.text
    bad = client.get("/workbench/library/credit", params={"subject": "123"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text


def test_demo_credit_data_has_both_sides_R_AGG_4():
    """The demo's 市场监管行政处罚信息 and 欠税公告信息 (adverse) overlap the A-level list (good standing):
    deterministic, decision numbers unique, every column of the catalogue entry filled."""
    base, reps = ent.entity_base(5000, 2026), pl.Series(["王伟"])
    penalties = ent.market_penalties(base, reps, "%Y%m%d")
    assert penalties.columns == [c for c, _t, _n in entry_columns("市场监管行政处罚信息")]
    assert penalties.equals(ent.market_penalties(base, reps, "%Y%m%d"))
    assert penalties["决定书文号"].is_unique().all() and penalties["处罚日期"].str.len_chars().eq(8).all()
    assert penalties.height > penalties["统一社会信用代码"].n_unique() > 50  # some entities have two decisions
    a_list = set(ent.tax_a_list(base, reps, "%Y-%m-%d")["统一社会信用代码"])
    arrears = set(ent.tax_arrears(base, reps, "%Y-%m-%d")["统一社会信用代码"])
    assert a_list & set(penalties["统一社会信用代码"]) and a_list & arrears
    assert credit.polarity("市场监管行政处罚信息")["word"] == "处罚"


def test_most_adverse_subjects_open_by_rank_without_showing_their_identifier_R_AGG_4(city, db, f, client):
    c, admin, _a_list, _arrears = city
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    login(client, user)
    page = client.get("/workbench/library/credit").text
    assert 'href="?rank=1"' in page and make_uscc(2) not in page  # 企业2 has two arrears notices: first
    assert credit.ranked_subject(db, actor=admin, rank=1) == make_uscc(2)
    opened = client.get("/workbench/library/credit", params={"rank": "1"})
    assert opened.status_code == 200 and "房产税" in opened.text and make_uscc(2) not in opened.text
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "library.credit.read")).all()
    for bad in ("99", "x"):
        refused = client.get("/workbench/library/credit", params={"rank": bad})
        assert refused.status_code == 422 and 'role="alert"' in refused.text
