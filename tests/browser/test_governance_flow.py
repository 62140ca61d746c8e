"""Issue 11's "done means" in headless Chromium (R-GOV-2, R-GOV-3): in the demo city the deliberate defects surface
as rule failures and cross-source conflicts in the right department's inbox with deadlines; one issue is taken through
every escalation step of 东莞办法第四十九条 (协商 → 协调 → 联合会商 → 报请市人民政府决定), the others through the three
outcomes of 泸州办法第三十一条 (确认无误, 沟通解决, 完成整改 by loading a corrected file); the authority's overview counts
them."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

from tests.browser.conftest import SCREENS, login
from tests.browser.test_catalog_flow import _logout

pytestmark = pytest.mark.browser
HUJI, FUND = "户籍人口基本信息", "住房公积金缴存信息"
FUND_FIXED = "住房公积金缴存信息-已修正.csv"
ISSUES = "/workbench/quality/issues"
DAYS_LEFT = re.compile(r"剩余 \d+ 个工作日")


@pytest.fixture(scope="module")
def demo_server(demo_city) -> tuple[str, Path]:
    base, data = demo_city  # the session's one demo city (conftest)
    return base, data / "demo-source-files"


def _open_issue(page, base: str, title: str, view: str = "inbox", filter: str = "any") -> None:
    """From the issue list (``view``), open the issue whose title contains ``title``."""
    page.goto(f"{base}{ISSUES}?view={view}&filter={filter}")
    page.locator("#issue-list tbody tr", has_text=title).first.locator("td:nth-child(3) a").click()
    page.wait_for_selector("#issue-timeline")


def _take(page, step: str, fields: dict[str, str], selects: dict[str, str] | None = None) -> None:
    """Fill the form of ``step`` on the issue page, submit it and expect it done."""
    form = page.locator(f"#{step}-form")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    for name, value in (selects or {}).items():
        form.locator(f"select[name={name}]").select_option(value)
    form.locator("button").click()
    page.wait_for_url(re.compile(rf".*{ISSUES}/\d+\?done={step}$"))
    assert not page.locator("#form-error").count()


def _step(page, kind: str) -> str:
    """The text of the last timeline step of ``kind``."""
    return page.locator(f"#issue-timeline li[data-kind={kind}]").last.inner_text()


def test_R_GOV_2_source_inbox_shows_rule_failure_and_conflict_with_deadlines(page, demo_server):
    base, _files = demo_server
    login(page, base, "gaj_officer")
    for needle in ("问题数据待答复：户籍人口基本信息——《户籍人口基本信息》质量规则“时间先后”（出生日期）未通过",
                   "问题数据待答复：户籍人口基本信息——跨源比对不一致：姓名"):  # the workbench inbox (我的待办)
        todo = page.locator("main tbody tr", has_text=needle).inner_text()
        assert re.search(r"\t\d{4}-\d{2}-\d{2}\t\d+\t泸州办法第三十一条", todo), todo  # due, working days left

    page.click("a:text-is('问题数据（本部门收到）')")
    page.wait_for_selector("#issue-list")
    rule = page.locator("#issue-list tbody tr", has_text="“时间先后”（出生日期）未通过")
    conflict = page.locator("#issue-list tbody tr", has_text="跨源比对不一致：姓名")
    for row, channel in ((rule, "规则检查"), (conflict, "多源比对")):
        text = row.inner_text()
        assert HUJI in text and channel in text and "南湾市公安局" in text and "待处理" in text, text
        assert DAYS_LEFT.search(text) and re.search(r"\d{4}-\d{2}-\d{2}", text), text
    reports = page.inner_text("#issue-list")
    for title in ("参保人姓名与户籍登记不一致", "户籍地址缺少门牌号", "出生日期与医保登记不一致"):
        assert title in reports, title
    assert FUND not in reports  # only the issues addressed to 公安局
    page.screenshot(path=str(SCREENS / "60-governance-inbox.png"), full_page=True)

    rule.locator("td:nth-child(3) a").click()  # the rule issue: its evidence and the way to the failing rows
    page.wait_for_selector("#issue-evidence")
    assert DAYS_LEFT.search(page.inner_text("#issue-due"))
    counts = page.inner_text("#evidence-counts")
    assert re.search(r"检查 [\d,]+ 条，不符合 \d+ 条", counts), counts
    sample = page.inner_text("#evidence-sample")
    assert "出生日期" in sample and "登记日期" in sample and "*" in sample, sample  # masked sample rows
    page.screenshot(path=str(SCREENS / "61-governance-rule-issue.png"), full_page=True)
    with page.expect_download() as dl:  # the failing rows, in clear for the source department
        page.click("#evidence-failing")
    rows = list(csv.DictReader(Path(dl.value.path()).read_bytes().decode("utf-8-sig").splitlines()))
    checked, failed = (int(n.replace(",", "")) for n in re.search(r"检查 ([\d,]+) 条，不符合 (\d+) 条", counts).groups())
    assert len(rows) == failed and all(r["出生日期"] > r["登记日期"] for r in rows), rows[:3]
    page.click("#evidence-check")
    page.wait_for_selector("#quality-results")
    failing = page.locator("#quality-results tbody tr", has_text="time_order:出生日期").first
    assert f"{checked - failed:,} / {checked:,}" in failing.inner_text(), failing.inner_text()
    assert "下载全部不符合的数据行" in failing.inner_text()

    page.goto(base + "/workbench")  # the inbox item leads to the issue
    page.click("main a:has-text('问题数据待答复：户籍人口基本信息——跨源比对不一致：姓名')")
    page.wait_for_selector("#issue-evidence")
    assert "本部门的值与其他来源不一致" in page.inner_text("#evidence-counts")
    assert "法定数源" in page.inner_text("#evidence-sample")
    page.click("#evidence-compare")
    page.wait_for_url(re.compile(r".*/workbench/quality/compare/\d+$"))


def test_R_GOV_3_confirmed_then_disputed_through_every_escalation_stage(page, demo_server):
    base, _files = demo_server
    title = "户籍地址缺少门牌号"
    login(page, base, "gaj_officer")  # 确认无误, with an explanation told to the reporter
    _open_issue(page, base, title)
    _take(page, "confirm", {"explanation": "经核对户籍档案，该户地址登记为集体户口所在街道，按规定不登记门牌号。"})
    assert "确认无误" in page.inner_text("#issue-status")
    issue_url = page.url.split("?")[0]
    _logout(page)

    login(page, base, "mzj_officer")  # the reporter is told the outcome and disputes it: stage 1, negotiation
    assert f"问题数据已答复，请查收（可提出异议）：户籍人口基本信息——{title}" in page.inner_text("main")
    page.click("a:text-is('我反馈的问题')")
    page.wait_for_selector("#issue-list")
    page.click("nav.tabs a:text-is('全部')")  # the list of every issue we reported, closed ones too
    row = page.locator("#issue-list tbody tr", has_text=title)
    assert "确认无误" in row.inner_text()
    row.locator("td:nth-child(3) a").click()
    page.wait_for_selector("#issue-outcome")
    assert "按规定不登记门牌号" in page.inner_text("#issue-outcome")
    assert page.locator("#issue-dispute-until").count() == 1
    _take(page, "dispute", {"reasons": "低保复核须核实实际住址，该户并非集体户口，应补登门牌号。"})
    assert "与数源部门协商" in page.inner_text("#issue-status")
    _logout(page)

    login(page, base, "gaj_officer")  # the source negotiates; it fails
    assert "问题数据争议：与反馈方协商" in page.inner_text("main")
    page.goto(issue_url)
    _take(page, "failed", {"record": "12月5日电话协商：民政局坚持补登门牌号，公安局认为属集体户口，未达成一致。"})
    assert "数据主管部门协调" in page.inner_text("#issue-status")
    _logout(page)

    login(page, base, "reviewer")  # stage 2 → 3 → 4 at the authority
    page.goto(base + ISSUES + "/overview")
    assert "数据主管部门协调 1" in page.inner_text("#issue-totals")
    assert title in page.inner_text("#issue-disputes")
    page.goto(issue_url)
    _take(page, "coordinate", {"record": "数据局组织公安局、民政局协调：双方对户口性质认定不一致，协调未果。"},
          {"result": "failed"})
    assert "联合会商" in page.inner_text("#issue-status")
    _take(page, "consult", {"participants": "市委编办、市公安局、市民政局、市政务服务数据管理局",
                            "minutes": "联合会商纪要：各方对户籍地址登记口径意见分歧，未形成一致意见。"},
          {"result": "failed"})
    assert "报请市人民政府决定" in page.inner_text("#issue-status")
    form = page.locator("#report-form")
    form.locator("input[name=party_org]").nth(0).fill("南湾市公安局")
    form.locator("textarea[name=party_reasons]").nth(0).fill("集体户口按户籍管理规定登记至街道，无需门牌号。")
    form.locator("input[name=party_org]").nth(1).fill("南湾市民政局")
    form.locator("textarea[name=party_reasons]").nth(1).fill("该户实为家庭户，低保核查须具体住址。")
    _take(page, "report", {"opinion": "倾向于由公安局核实户口性质后补登门牌号。", "reference": "南数〔2026〕12号"})
    assert page.locator("#decide-form").count() == 1
    _take(page, "decide", {"decision": "市政府决定：由市公安局核实户口性质，属家庭户的补登门牌号。",
                           "reference": "南府办〔2026〕88号"}, {"result": "fix"})

    status = page.inner_text("#issue-status")  # final state: the source must correct it
    assert "整改中" in status, status
    for kind, needle in (("raised", "无法确认住址"), ("confirmed", "按规定不登记门牌号"),
                         ("disputed", "应补登门牌号"), ("negotiation_failed", "未达成一致"),
                         ("coordinated", "协调未果"), ("consulted", "市委编办"), ("reported", "南数〔2026〕12号"),
                         ("decided", "南府办〔2026〕88号")):
        assert needle in _step(page, kind), kind
    assert "未能解决，进入下一步" in _step(page, "coordinated") and "未能解决，进入下一步" in _step(page, "consulted")
    reported = _step(page, "reported")
    assert "该户实为家庭户" in reported and "集体户口按户籍管理规定" in reported and "倾向于" in reported
    assert "数源部门限期整改" in _step(page, "decided")
    for kind, stage in (("disputed", "与数源部门协商"), ("negotiation_failed", "数据主管部门协调"),
                        ("coordinated", "联合会商"), ("consulted", "报请市人民政府决定")):
        assert f"→ {stage}" in _step(page, kind), kind  # the stage each step moved the issue to
    items = page.inner_text("#work-items")
    assert "问题数据待整改" in items and "办理中" in items
    page.screenshot(path=str(SCREENS / "62-governance-escalation-timeline.png"), full_page=True)


def test_R_GOV_2_settled_by_negotiation(page, demo_server):
    base, _files = demo_server
    login(page, base, "gaj_officer")
    _open_issue(page, base, "出生日期与医保登记不一致")
    _take(page, "negotiate", {"agreed_with": "南湾市医疗保障局 待遇科", "record": "12月5日与医保局电话沟通：以户籍原始档案为准，"
                                                                              "医保局据此更正参保登记。"})
    assert "沟通解决" in page.inner_text("#issue-status")
    assert "以户籍原始档案为准" in page.inner_text("#issue-outcome")
    assert "以户籍原始档案为准" in _step(page, "negotiated")
    assert page.locator("#negotiate-form").count() == 0  # closed: no more answers


def test_R_GOV_2_corrected_by_loading_a_fixed_file(page, demo_server):
    base, files = demo_server
    login(page, base, "gjj_officer")
    _open_issue(page, base, "“取值范围”（月缴存额）", filter="open")
    assert page.locator("#issue dd span.badge.red", has_text=re.compile("^严重$")).count() == 1  # critical
    assert "存在待整改的严重问题数据" in page.inner_text("#issue")  # the entry's flag
    assert "月缴存额" in page.inner_text("#evidence-sample")
    issue_url = page.url.split("?")[0]
    _take(page, "accept", {"plan": "核查缴存单位申报数据，按元更正误以分录入的月缴存额，更正后重新归集。"})
    assert "整改中" in page.inner_text("#issue-status")

    page.goto(base + "/workbench/ingest")  # the corrected export, uploaded as users do
    page.click(f"a:text('{FUND}')")
    page.set_input_files("#ingest-upload input[type=file]", str(files / FUND_FIXED))
    page.select_option("#ingest-upload select[name=mode]", "full")
    page.click("#ingest-upload button.primary")
    page.wait_for_url(re.compile(r".*/workbench/ingest/loads/\d+"))
    page.wait_for_selector("#load-status:not(:text('排队中')):not(:text('校验中'))", timeout=60000)
    assert page.inner_text("#load-status") == "已入库", page.inner_text("main")
    version = re.search(r"v(\d+)", page.inner_text("#load-ok")).group(1)

    deadline = time.monotonic() + 60  # the quality check of the new version runs after the load (a queued job)
    page.goto(issue_url)
    while "完成整改" not in page.inner_text("#issue-status") and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        page.reload()
    assert "完成整改" in page.inner_text("#issue-status"), page.inner_text("#issue-timeline")
    assert f"v{version}" in page.inner_text("#issue-outcome")
    passed = _step(page, "recheck_passed")
    assert f"第 {version} 版数据复核通过" in passed, passed
    page.screenshot(path=str(SCREENS / "63-governance-corrected.png"), full_page=True)


def _listed(page, base: str, org_id: str, filter: str) -> int:
    page.goto(f"{base}{ISSUES}?view=all&org={org_id}&filter={filter}")
    return page.locator("#issue-list tbody tr[id^=issue-]").count()


def test_R_GOV_3_authority_overview_counts_by_department(page, demo_server):
    base, _files = demo_server
    login(page, base, "reviewer")
    page.click("a:text-is('问题数据总览（协调与会商）')")
    page.wait_for_selector("#issue-by-org")
    page.screenshot(path=str(SCREENS / "64-governance-overview.png"), full_page=True)
    header = page.locator("#issue-by-org thead th").all_inner_texts()
    assert header == ["数源部门", "未办结", "已超期", "紧急", "严重", "争议处理中", "已办结", "合计"], header
    rows = {}
    for name in ("南湾市公安局", "南湾市住房公积金管理中心", "南湾市民政局"):  # the three departments' own defects
        row = page.locator("#issue-by-org tbody tr", has_text=name)
        rows[name] = (row.get_attribute("id").removeprefix("org-"),
                      [int(c) for c in row.locator("td").all_inner_texts()[1:]])
    totals = page.locator("#issue-totals dd").all_inner_texts()
    by_org = [[int(c) for c in r.locator("td").all_inner_texts()[1:]]
              for r in page.locator("#issue-by-org tbody tr").all()]
    assert int(totals[0]) == sum(r[0] for r in by_org) and int(totals[5]) == sum(r[5] for r in by_org), totals
    assert int(totals[3]) == sum(r[3] for r in by_org) and int(totals[1]) == sum(r[1] for r in by_org), totals
    for name, (org_id, (unclosed, overdue, _urgent, critical, escalated, closed, total)) in rows.items():
        assert unclosed + closed == total and total > 0, name
        assert _listed(page, base, org_id, "open") == unclosed, name  # the counts are the lists behind them
        assert _listed(page, base, org_id, "closed") == closed, name
        assert _listed(page, base, org_id, "overdue") == overdue, name
        assert _listed(page, base, org_id, "critical") == critical, name
        assert _listed(page, base, org_id, "escalated") == escalated, name
    assert rows["南湾市公安局"][1][0] > 0  # the demo's defects at 公安局 (rule failure, conflict, reports)

    page.goto(base + "/workbench/quality")  # the city's quality landing page
    page.wait_for_load_state()
    assert "全市得分" in page.inner_text("main")
    page.screenshot(path=str(SCREENS / "65-quality-landing.png"), full_page=True)
