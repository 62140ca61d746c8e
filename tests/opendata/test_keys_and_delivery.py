"""The data paths with portal accounts (R-OPN-2, R-OPN-3): API keys on the row API (scoped, rate-limited with 429
and Retry-After, named in the access log), and conditionally open data delivered only to the applicant whose
application is active — by its key for the API, by its signed-in session for downloads and the page's preview."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from gongshu.opendata.models import OpenAccount, OpenApiKey
from gongshu.opendata.service import accounts, applications, datasets
from gongshu.sharing.models import AccessEvent
from tests.opendata.helpers import open_world

CONDITIONAL = {"open_type": "有条件开放", "open_condition": "仅用于科研"}


def _account(db, username: str) -> OpenAccount:
    a = accounts.register(db, kind="person", username=username, display_name="某某", password="s3cret-pass")
    db.execute(update(OpenAccount).where(OpenAccount.id == a.id).values(verified_at=a.created_at, real_name="某某"))
    db.refresh(a)
    return a


def test_r_opn_3_an_api_key_calls_the_row_api_within_its_scope_and_rate(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=5)
    a = _account(db, "dev.one")
    rows_key, _ = accounts.create_key(db, account=a, name="行查询", scopes=["rows"], days=30)
    dl_key, _ = accounts.create_key(db, account=a, name="下载", scopes=["download"], days=30)
    db.commit()
    accounts._buckets.clear()
    url = f"/api/v1/open/datasets/{datasets.slug(w.entry.code)}/rows"
    r = client.get(url, headers={"Authorization": f"Bearer {rows_key}"})
    assert r.status_code == 200 and len(r.json()["rows"]) == 5
    db.expire_all()
    ev = db.scalars(select(AccessEvent).where(AccessEvent.operation == "open_rows").order_by(AccessEvent.id)).all()[-1]
    assert (ev.result, ev.end_user) == ("ok", "open:dev.one")
    assert client.get(url, headers={"X-Api-Key": dl_key}).status_code == 403  # a download-only key
    assert client.get(url, headers={"Authorization": "Bearer gso_nope_nope"}).status_code == 401
    assert client.get(url).status_code == 200  # the public needs no key for open data
    db.execute(update(OpenApiKey).where(OpenApiKey.account_id == a.id).values(rate_per_minute=1))
    db.commit()
    accounts._buckets.clear()
    assert client.get(url, headers={"Authorization": f"Bearer {rows_key}"}).status_code == 200
    r = client.get(url, headers={"Authorization": f"Bearer {rows_key}"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "调用过于频繁" in r.text


def test_r_opn_2_conditional_data_goes_to_the_active_applicant_only(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=5, **CONDITIONAL)
    applicant, stranger = _account(db, "researcher"), _account(db, "stranger")
    app = applications.apply(db, account=applicant, dataset_ref=w.entry.id, purpose="科研", capability="专人",
                             measures="加密", delivery="both")
    key, _ = accounts.create_key(db, account=applicant, name="科研", scopes=["rows", "download"], days=30)
    other_key, _ = accounts.create_key(db, account=stranger, name="其他", scopes=["rows", "download"], days=30)
    db.commit()
    accounts._buckets.clear()
    slug = datasets.slug(w.entry.code)
    rows_url, csv_url = f"/api/v1/open/datasets/{slug}/rows", f"/open/datasets/{slug}/download.csv"
    assert client.get(rows_url, headers={"X-Api-Key": key}).status_code == 403  # not approved yet
    applications.approve(db, actor=w.c.officer, application_id=app.id, term_days=30)
    applications.accept(db, account=applicant, application_id=app.id, agreement_sm3_seen=applications.agreement_sm3())
    db.commit()
    r = client.get(rows_url, headers={"X-Api-Key": key})
    assert r.status_code == 200, r.text
    assert len(r.json()["rows"]) == 5 and "张**" in r.text  # masked all the same
    assert client.get(rows_url, headers={"X-Api-Key": other_key}).status_code == 403
    assert client.get(rows_url).status_code == 403 and client.get(csv_url).status_code == 403

    # in the browser: the applicant signed in sees the preview and downloads; nobody else does
    page = client.get("/open/account/login")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    client.post("/open/account/login", data={"form_token": token, "username": "researcher", "password": "s3cret-pass"})
    page = client.get(f"/open/datasets/{slug}")
    assert 'id="preview-table"' in page.text and 'id="downloads"' in page.text and "使用中" in page.text
    r = client.get(csv_url)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    db.expire_all()
    served = db.scalars(select(AccessEvent).where(AccessEvent.operation == "open_download",
                                                  AccessEvent.result == "ok")).all()
    assert [e.end_user for e in served] == ["open:researcher"]
    applications.revoke(db, actor=w.c.officer, application_id=app.id, note="超范围使用")
    db.commit()
    assert client.get(csv_url).status_code == 403 and client.get(rows_url, headers={"X-Api-Key": key}).status_code == 403
