"""End to end in headless Chromium (R-CAT-1, R-CAT-10): a department officer creates and submits an
entry, an authority reviewer approves it, and the public finds it by a Chinese word on the public page."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SCREENS, login
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser



def _logout(page) -> None:
    page.click("header form[action='/logout'] button")
    page.wait_for_load_state()


def test_officer_submits_reviewer_approves_public_finds_R_CAT_1_R_CAT_10(page, live_server):
    base = live_server
    login(page, base, "officer", PASSWORD)
    page.screenshot(path=str(SCREENS / "01-officer-workbench.png"), full_page=True)

    page.goto(base + "/workbench/catalog/new")
    page.fill("input[name=code]", "101001/00001")
    page.select_option("select[name=resource_attr]", "基础")
    page.fill("input[name=topic]", "人口")
    page.fill("input[name=name]", "户籍人口统计信息")
    page.fill("textarea[name=summary]", "按镇街统计的户籍人口数，每月更新。")
    page.select_option("select[name=format]", "数据库")
    page.select_option("select[name=update_cycle]", "每月")
    page.select_option("select[name=sharing_type]", "无条件共享")
    page.select_option("select[name=open_type]", "无条件开放")
    page.fill("input[name=items-0-name]", "镇街名称")
    page.select_option("select[name=items-0-type]", "C")
    page.fill("input[name=items-0-length]", "50")
    # a first save with a missing length shows the message next to the field, nothing is saved
    page.fill("input[name=items-0-length]", "")
    page.click("#entry-form button.primary")
    page.wait_for_selector(".field-error")
    assert "长度" in page.inner_text(".field-error")
    page.screenshot(path=str(SCREENS / "02-inline-error.png"), full_page=True)
    page.fill("input[name=items-0-length]", "50")
    page.click("#entry-form button.primary")
    page.wait_for_url(re.compile(r".*/workbench/catalog/\d+(\?.*)?$"))
    assert "草稿" in page.inner_text("main")
    entry_url = page.url.split("?")[0]
    page.click("form[action$='/submit'] button.primary")
    page.wait_for_load_state()
    assert "待审核" in page.inner_text("main")
    page.screenshot(path=str(SCREENS / "03-submitted.png"), full_page=True)
    _logout(page)

    login(page, base, "reviewer", PASSWORD)
    page.goto(base + "/workbench/catalog/review")
    assert "户籍人口统计信息" in page.inner_text("main")
    page.screenshot(path=str(SCREENS / "04-review-queue.png"), full_page=True)
    page.goto(entry_url)
    page.click("form[action$='/approve'] button.primary")
    page.wait_for_load_state()
    assert "已发布" in page.inner_text("main")
    _logout(page)

    page.goto(base + "/catalog?q=人口")
    assert "户籍人口统计信息" in page.inner_text("main")
    page.screenshot(path=str(SCREENS / "05-public-search.png"), full_page=True)
    page.goto(base + "/catalog?q=hj")
    assert "户籍人口统计信息" in page.inner_text("main")
