"""The issue's "done means" in headless Chromium (R-AGG-2, R-AGG-3, R-AGG-4, R-AGG-6): on the demo city,
a department officer uploads a messy GBK CSV, sees exactly what is wrong (row, field, reason), uploads
the fixed file, sees the new version and its diff; the authority sees the person record it feeds."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import SCREENS, login
from tests.browser.test_catalog_flow import _logout

pytestmark = pytest.mark.browser
MESSY = "户籍人口基本信息-部门导出-待修正.csv"
FIXED = "户籍人口基本信息-部门导出-已修正.csv"


@pytest.fixture(scope="module")
def demo_server(demo_city) -> tuple[str, Path]:
    base, data = demo_city  # the session's one demo city (conftest)
    return base, data / "demo-source-files"



def _upload(page, path: Path) -> None:
    page.set_input_files("#ingest-upload input[type=file]", str(path))
    page.select_option("#ingest-upload select[name=mode]", "upsert")  # an update of some people
    page.click("#ingest-upload button.primary")
    page.wait_for_url(re.compile(r".*/workbench/ingest/loads/\d+"))
    page.wait_for_selector("#load-status:not(:text('排队中')):not(:text('校验中'))", timeout=60000)


def test_officer_fixes_a_messy_gbk_csv_and_sees_version_diff_and_library(page, demo_server):
    base, files = demo_server
    login(page, base, "gaj_officer")
    page.goto(base + "/workbench/ingest")
    page.screenshot(path=str(SCREENS / "11-ingest-overview.png"), full_page=True)
    page.click("#ingest-overview a:text('户籍人口基本信息')")
    page.wait_for_selector("#ingest-upload")
    # the demo accepts up to 10 % invalid rows; the officer makes this base source strict first
    page.fill("input[name=max_error_rate]", "0")
    page.click("form[action$='/policy'] button")
    page.wait_for_selector("text=任何一行不合格即整批拒收")
    page.screenshot(path=str(SCREENS / "11b-ingest-entry.png"), full_page=True)

    _upload(page, files / MESSY)
    assert page.inner_text("#load-status") == "已拒收"
    assert "整批拒收" in page.inner_text("#load-error")
    problems = page.inner_text("#load-problems")
    for needle in ("公民身份号码", "性别", "校验码"):
        assert needle in problems, needle
    body = page.inner_text("body")  # issue 12: what was normalised is listed, with an example row
    for needle in ("代码表中的名称转为代码", "日期写法统一为 YYYY-MM-DD", "小写字母转为大写", "全角数字和字母转为半角"):
        assert needle in body, needle
    page.screenshot(path=str(SCREENS / "12-load-rejected.png"), full_page=True)
    rejects = httpx.get(base + page.get_attribute("#rejects-link", "href"),
                        cookies={c["name"]: c["value"] for c in page.context.cookies()})
    rows = list(csv.DictReader(rejects.content.decode("utf-8-sig").splitlines()))
    assert rows and all(r["行号"] and r["信息项"] and r["说明"] for r in rows)

    page.goto(base + "/workbench/ingest")
    page.click("#ingest-overview a:text('户籍人口基本信息')")
    _upload(page, files / FIXED)
    assert page.inner_text("#load-status") == "已入库"
    ok = page.inner_text("#load-ok")
    assert "v2" in ok
    page.screenshot(path=str(SCREENS / "13-load-applied.png"), full_page=True)
    page.click("#load-ok a")
    page.wait_for_selector("#diff-rows")
    changed = page.inner_text("#diff-rows")
    assert "幸福路" in changed  # the people who moved house, old → new address
    page.screenshot(path=str(SCREENS / "14-version-diff.png"), full_page=True)
    with open(files / FIXED, encoding="gbk") as fh:
        subject = next(csv.DictReader(fh))["公民身份号码"]
    _logout(page)

    login(page, base, "admin")
    page.goto(base + "/workbench/library/person")
    page.click("form[action='/workbench/library/person/build'] button")
    page.wait_for_url(re.compile(r".*/workbench/library/person$"))
    page.fill("input[name=subject]", subject)
    page.click("form.search button")
    page.wait_for_selector("#library-record")
    record = page.inner_text("#library-record")
    assert "户籍人口基本信息" in record and "v2" in record and "法定数源" in record
    page.screenshot(path=str(SCREENS / "15-person-library.png"), full_page=True)
