"""The open data issue's "done means" in headless Chromium, on the demo city (R-OPN-1/2/3/7/8): a citizen lands
on the home page, finds 人口 data by Chinese search, previews it masked, downloads it, registers, verifies their
real name, gets an API key and calls it; an enterprise applies for a conditionally open dataset and gets it
after the source department approves; the ckanapi client works against the same server."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import ROOT, SCREENS, login

pytestmark = pytest.mark.browser

#: finds a person (or legal entity) of the demo's source files that its base library knows, with that name
FIND = r'''
import csv, json, sys
from gongshu.db import unit_of_work
from gongshu.library.service import records
from gongshu.opendata.service import accounts
kind, path, enc, idcol, namecol = sys.argv[1:6]
attrs = ("姓名",) if kind == "person" else accounts.LEGAL_NAME_ATTRIBUTES
with open(path, encoding=enc) as f, unit_of_work() as s:
    for row in csv.DictReader(f):
        if records.name_matches(s, kind=kind, subject=row[idcol], name=row[namecol], attributes=attrs):
            print(json.dumps([row[idcol], row[namecol]], ensure_ascii=False))
            break
'''


@pytest.fixture(scope="module")
def demo_server(demo_city) -> tuple[str, Path]:
    base, data = demo_city  # the session's one demo city (conftest)
    return base, data


def _env(data: Path) -> dict:
    return {**os.environ, "GONGSHU_DATA_DIR": str(data), "GONGSHU_DATABASE_URL": "", "PYTHONPATH": str(ROOT)}


def _known(data: Path, kind: str, file: str, enc: str, idcol: str, namecol: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", FIND, kind, str(data / "demo-source-files" / file), enc, idcol,
                          namecol], env=_env(data), capture_output=True, text=True, check=True)
    return tuple(json.loads(out.stdout))


def _register(page, base: str, kind: str, username: str, display: str) -> None:
    page.goto(base + "/open/account/register")
    page.check(f"#register-form input[name=kind][value={kind}]")
    page.fill("#register-form input[name=username]", username)
    page.fill("#register-form input[name=display_name]", display)
    page.fill("#register-form input[name=password]", "open-data-2026")
    page.click("#register-form button.primary")
    page.wait_for_selector("#verify-form")


def _verify(page, identifier: str, name: str) -> None:
    page.fill("#verify-form input[name=identifier]", identifier)
    page.fill("#verify-form input[name=name]", name)
    page.click("#verify-form button.primary")
    page.wait_for_selector("#key-form")


def test_a_citizen_finds_previews_downloads_registers_and_calls_the_api(page, demo_server):
    base, data = demo_server
    page.goto(base + "/")
    assert page.url.endswith("/open")
    page.fill("#open-q", "人口")
    page.click("form.search button.primary")
    page.wait_for_selector("#open-results")
    page.locator("#open-results .result h3 a", has_text="高龄津贴发放名单").first.click()
    page.wait_for_selector("#preview-table")
    slug = page.url.rsplit("/", 1)[1]
    first_id = page.locator("#preview-table tbody tr td").first.inner_text()
    assert re.fullmatch(r"\d{4}\*{10}[\dX]{4}", first_id), first_id  # masked
    assert "CC BY 4.0" in page.inner_text("#licence")
    page.screenshot(path=str(SCREENS / "40-open-dataset.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#downloads a:has-text('CSV')")
    raw = Path(dl.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:2] == ["公民身份号码", "姓名"] and len(rows) > 10 and all("*" in r[0] for r in rows[1:])

    ident, name = _known(data, "person", "gaj_huji.csv", "gbk", "公民身份号码", "姓名")
    _register(page, base, "person", "citizen.zhang", "张先生")
    _verify(page, ident, name)
    assert ident not in page.inner_text("main")  # only masked
    page.fill("#key-form input[name=name]", "我的出行小程序")
    page.click("#key-form button.primary")
    key = page.inner_text("#new-key")
    page.screenshot(path=str(SCREENS / "41-open-account-key.png"), full_page=True)
    r = httpx.get(f"{base}/api/v1/open/datasets/{slug}/rows", params={"limit": 5},
                  headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["rows"]) == 5 and all("*" in row["姓名"] for row in body["rows"]) and body["attribution"]


def test_an_enterprise_applies_for_conditional_data_and_gets_it_after_approval(page, demo_server):
    base, data = demo_server
    uscc, company = _known(data, "entity", "scjgj_qiye.csv", "utf-8", "统一社会信用代码", "企业名称")
    _register(page, base, "legal", "survey.co", company[:20])
    _verify(page, uscc, company)
    page.goto(base + "/open/datasets?q=宗地")
    page.locator("#open-results .result h3 a", has_text="宗地信息").first.click()
    page.wait_for_selector("#apply-form")
    dataset_url = page.url
    assert "测绘地理信息安全保密管理能力" in page.inner_text("#conditions")
    page.fill("#apply-form textarea[name=purpose]", "不动产评估：本公司受托评估项目的宗地面积与用途核对")
    page.fill("#apply-form textarea[name=capability]", "有专职数据安全管理员，评估系统通过等级保护二级测评")
    page.fill("#apply-form textarea[name=measures]", "数据加密存储、仅项目组访问、项目结束后删除")
    page.select_option("#apply-form select[name=delivery]", "both")
    page.click("#apply-form button.primary")
    page.wait_for_selector("#applications")
    assert "待审核" in page.inner_text("#applications")

    login(page, base, "zrzyj_officer")  # the source department decides in its workbench
    page.goto(base + "/workbench/opendata/applications?status=submitted")
    row = page.locator("#application-list tbody tr", has_text="不动产评估")
    assert "剩 10 个工作日" in row.inner_text()
    page.screenshot(path=str(SCREENS / "42-open-application-review.png"), full_page=True)
    row.locator("button.primary").click()
    page.wait_for_load_state()
    page.click("header form[action='/logout'] button")

    page.goto(base + "/open/account")  # the applicant accepts the data use agreement
    page.click("#applications button:has-text('签署协议')")
    page.wait_for_selector("#applications")
    assert "使用中" in page.inner_text("#applications")
    page.goto(dataset_url)
    page.wait_for_selector("#downloads")
    with page.expect_download() as dl:
        page.click("#downloads a:has-text('CSV')")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_bytes().decode("utf-8-sig"))))
    assert rows[0][0] == "宗地代码" and len(rows) > 1
    page.screenshot(path=str(SCREENS / "43-open-conditional-granted.png"), full_page=True)


def test_ckanapi_works_against_the_demo(demo_server):
    base, _data = demo_server
    bin_dir = Path(sys.executable).parent
    cli = str(bin_dir / "ckanapi")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # it runs workers by name
    out = subprocess.run([cli, "dump", "datasets", "--all", "-q", "-r", base], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    names = [json.loads(line)["title"] for line in out.stdout.splitlines() if line.strip()]
    assert "户籍人口高龄津贴发放名单" in names and len(names) >= 20
    found = subprocess.run([cli, "action", "package_search", "q=人口", "-r", base], env=env,
                           capture_output=True, text=True, timeout=120)
    assert found.returncode == 0 and "高龄津贴" in found.stdout, found.stderr[-2000:]
