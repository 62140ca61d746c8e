"""The portal's pages (R-OPN-1/2/6/7/8) and the workbench's review before opening (R-OPN-6)."""

from __future__ import annotations

import re

from sqlalchemy import select

from gongshu.auth.models import User
from gongshu.opendata.models import OpeningReview
from gongshu.opendata.service import datasets, reviews
from gongshu.sharing.models import AccessEvent
from tests.catalog.helpers import cast, published
from tests.factories import login
from tests.opendata.helpers import open_world


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def test_r_opn_1_home_search_and_department_pages_show_only_open_datasets(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=3, name="户籍人口基本信息")
    hidden = published(db, w.c, open_type="无条件开放", name="流动人口居住登记信息")  # not reviewed: not open
    db.commit()
    home = client.get("/open")
    assert home.status_code == 200 and "户籍人口基本信息" in home.text and hidden.name not in home.text
    assert 'id="by-topic"' in home.text and "人口" in home.text
    r = client.get("/open/datasets", params={"q": "人口"})
    assert r.status_code == 200 and re.search(r'id="open-total">1<', r.text) and hidden.name not in r.text
    r = client.get("/open/datasets", params={"q": "huji"})  # pinyin, from the catalogue's one search
    assert re.search(r'id="open-total">1<', r.text) and "人口基本信息" in r.text
    assert client.get("/open/datasets", params={"q": "人" * 300}).status_code == 422
    org = client.get(f"/open/orgs/{w.c.dept.id}")
    assert org.status_code == 200 and "户籍人口基本信息" in org.text and hidden.name not in org.text
    assert client.get(f"/open/orgs/{w.c.other_dept.id}").status_code == 404
    assert client.get("/", follow_redirects=False).headers["location"] == "/open"


def test_r_opn_8_dataset_page_metadata_licence_attribution_items_and_a_logged_view(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=3)
    db.commit()
    slug = datasets.slug(w.entry.code)
    page = client.get(f"/open/datasets/{slug}")
    assert page.status_code == 200, page.text
    assert 'id="licence"' in page.text and "CC BY 4.0" in page.text
    assert f"数据来源：{w.c.dept.name}，《户籍人口基本信息》" in page.text
    assert f"/open/datasets/{slug}/download.csv" in page.text and 'id="dataset-items"' in page.text
    assert "3 行，第 1 版" in page.text and "脱敏" in page.text
    assert client.get(f"/open/datasets/{w.entry.id}").status_code == 200  # by id too
    db.expire_all()
    views = db.scalars(select(AccessEvent).where(AccessEvent.operation == "open_view")).all()
    assert len(views) == 2 and {v.entry_id for v in views} == {w.entry.id} and views[0].end_user == "公众"
    assert views[0].source_org_id == w.c.dept.id and views[0].seal_seq is not None
    assert client.get("/open/datasets/101001-99999").status_code == 404


def test_r_opn_2_a_conditional_dataset_page_publishes_its_conditions_without_data_links(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=3, open_type="有条件开放", open_condition="具备数据安全管理能力；仅用于科研")
    db.commit()
    page = client.get(f"/open/datasets/{datasets.slug(w.entry.code)}")
    assert page.status_code == 200 and 'id="conditions"' in page.text and "仅用于科研" in page.text
    assert "download.csv" not in page.text and 'id="preview"' not in page.text
    assert "数据使用协议" in page.text


def test_r_opn_6_officer_submits_a_review_and_the_authority_approves_in_the_workbench(f, db, client, tmp_path):
    c = cast(f)
    e = published(db, c, open_type="无条件开放")
    db.commit()
    csrf = login(client, _user(db, c.officer))
    page = client.get("/workbench/opendata/reviews")
    assert page.status_code == 200 and 'id="review-form"' in page.text and e.code in page.text
    r = client.post("/workbench/opendata/reviews", data={"csrf_token": csrf, "entry_id": e.id, "confidentiality": " ",
                                                         "risk_assessment": "低", "risk_level": "低"})
    assert r.status_code == 422 and "保密审查结论" in r.text
    r = client.post("/workbench/opendata/reviews", data={"csrf_token": csrf, "entry_id": e.id,
                                                         "confidentiality": "不涉密", "risk_assessment": "已脱敏，风险低",
                                                         "risk_level": "低", "measures": "姓名、身份号码脱敏"},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    review = db.scalar(select(OpeningReview).where(OpeningReview.entry_id == e.id))
    assert review.status == "submitted" and review.measures == "姓名、身份号码脱敏"
    assert client.post(f"/workbench/opendata/reviews/{review.id}/approve", data={"csrf_token": csrf}).status_code == 403

    csrf = login(client, _user(db, c.reviewer))
    page = client.get("/workbench/opendata/reviews?status=submitted")
    assert f'id="review-{review.id}"' in page.text and "批准开放" in page.text
    r = client.post(f"/workbench/opendata/reviews/{review.id}/return", data={"csrf_token": csrf, "note": ""})
    assert r.status_code == 422 and "退回理由" in r.text
    r = client.post(f"/workbench/opendata/reviews/{review.id}/approve", data={"csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert datasets.is_open(db, entry_id=e.id)
    assert client.post(f"/workbench/opendata/reviews/{review.id}/nonsense", data={"csrf_token": csrf}).status_code == 422
    r = client.post(f"/workbench/opendata/reviews/{review.id}/close", data={"csrf_token": csrf, "note": "发现问题"},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert not datasets.is_open(db, entry_id=e.id) and reviews.list_reviews(db, actor=c.reviewer)[0].status == "closed"
