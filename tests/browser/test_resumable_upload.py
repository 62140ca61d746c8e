"""Resumable upload from the workbench in headless Chromium (R-AGG-2): a file of a few MB goes up in chunks
through the resumable API; the connection breaks in the middle and the page resumes by itself from the
server's offset; a paused upload survives a page reload; the API's errors are shown on the page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import SCREENS, login, start_demo

pytestmark = pytest.mark.browser
ENTRY = "应急避难场所信息"  # 应急管理局's entry: 场所名称 (key) 场所类型 地址 可容纳人数 经度 纬度 管理人联系电话
SHOT = SCREENS / "15-ingest-resumable-upload.png"  # copied to docs/screenshots by hand after looking at it
CHUNK = 512 * 1024


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, browser_path) -> Iterator[str]:
    data = tmp_path_factory.mktemp("resumable")
    proc, base = start_demo(data, persons=200, entities=50)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def shelters(path: Path, rows: int, tag: str) -> Path:
    """A valid CSV of ``rows`` shelters (about 150 bytes a row), unique names."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("场所名称,场所类型,地址,可容纳人数,经度,纬度,管理人联系电话\r\n")
        for i in range(rows):
            fh.write(f"东湖街道{tag}应急避难场所（第{i:06d}号）,{('公园绿地', '学校操场', '体育场馆')[i % 3]},"
                     f"南湾市东湖街道振兴路{i % 300 + 1}号{i % 30 + 1}栋{i % 3000 + 1}室,{1000 + i % 20000},"
                     f"113.{550100 + i % 9000:06d},23.{76418 + i % 9000:06d},0769{22000000 + i % 9000:08d}\r\n")
    return path



def _entry_page(page, base: str, *, chunk: int = CHUNK, threshold: int = 1024 * 1024) -> None:
    """Open the entry's aggregation page and set the widget's chunk size and threshold (data attributes)."""
    page.goto(base + "/workbench/ingest")
    page.click(f"#ingest-overview a:text('{ENTRY}')")
    page.wait_for_selector("#ingest-upload")
    page.eval_on_selector("#ingest-upload", "(f, a) => { f.dataset.chunkSize = a[0]; f.dataset.resumableThreshold = a[1]; }",
                          [str(chunk), str(threshold)])


def _api(page, base: str, path: str) -> dict:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return httpx.get(base + path, cookies=cookies, timeout=10).json()


def _wait_for(page, condition, what: str, timeout: float = 30) -> None:
    """Let the page run (route handlers included) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def test_upload_resumes_by_itself_after_a_broken_connection_R_AGG_2(page, demo_server, tmp_path):
    base = demo_server
    rows = 30000
    path = shelters(tmp_path / "避难场所-全量.csv", rows, "甲")
    size = path.stat().st_size
    assert size > 4 * CHUNK * 2  # a few MB: many chunks
    login(page, base, "yjj_officer")
    _entry_page(page, base)

    calls: list[tuple[str, str]] = []  # (method, Upload-Offset or path) in order
    held: list = []
    patches = {"n": 0}

    def on_upload(route, request):
        if request.method == "PATCH":
            patches["n"] += 1
            calls.append(("PATCH", request.headers.get("upload-offset", "")))
            if patches["n"] == 3:  # the connection breaks once, mid-way
                route.abort("connectionreset")
                return
            if patches["n"] == 6:  # hold one chunk in flight to photograph the progress UI
                held.append(route)
                return
        else:
            calls.append((request.method, request.url.rsplit("/", 1)[-1]))
        route.continue_()

    page.route(re.compile(r".*/api/v1/ingest/uploads/[0-9a-f]+(/complete)?$"), on_upload)
    page.set_input_files("#ingest-upload input[type=file]", str(path))
    page.click("#ingest-upload button.primary")
    page.wait_for_selector("#ingest-upload-progress:not([hidden])")

    _wait_for(page, lambda: held, "the sixth chunk")
    page.wait_for_selector("#ingest-upload-stats:has-text('断线续传 1 次')")
    stats = page.inner_text("#ingest-upload-stats")
    assert re.search(r"MB / [\d.]+ MB · \d+%", stats) and "/s" in stats, stats
    page.locator("#ingest-upload-progress").scroll_into_view_if_needed()
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT), full_page=False)
    held.pop().continue_()

    page.wait_for_url(re.compile(r".*/workbench/ingest/loads/\d+"), timeout=60000)
    page.wait_for_selector("#load-status:not(:text('排队中')):not(:text('校验中'))", timeout=60000)
    assert page.inner_text("#load-status") == "已入库"
    assert f"{rows:,} 行" in page.inner_text("#load-ok")
    load = _api(page, base, "/api/v1/ingest/loads/" + page.url.rsplit("/", 1)[-1])
    assert load["status"] == "applied" and load["rows_read"] == rows and load["rows_valid"] == rows
    assert load["source_size"] == size and load["channel"] == "upload" and load["mode"] == "full"

    # the broken chunk was sent again from the server's offset, after asking the server (GET) where to go on
    offsets = [int(o) for m, o in calls if m == "PATCH"]
    assert offsets[:4] == [0, CHUNK, 2 * CHUNK, 2 * CHUNK], offsets
    third_broken = [i for i, c in enumerate(calls) if c[0] == "PATCH"][2]
    assert calls[third_broken + 1][0] == "GET", calls
    assert offsets == sorted(offsets) and offsets[-1] == (size - 1) // CHUNK * CHUNK
    assert calls[-1] == ("POST", "complete")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('gongshu.upload:')).length") == 0


def test_paused_upload_is_offered_again_after_a_reload_and_resumes_with_the_forms_options_R_AGG_2(
        page, demo_server, tmp_path):
    base = demo_server
    rows = 12000
    path = shelters(tmp_path / "避难场所-增量.csv", rows, "乙")
    size = path.stat().st_size
    login(page, base, "yjj_officer")
    _entry_page(page, base, chunk=256 * 1024)

    offsets: list[int] = []
    held: list = []

    def on_patch(route, request):
        if request.method == "PATCH":
            offsets.append(int(request.headers["upload-offset"]))
            if len(offsets) == 3:
                held.append(route)
                return
        route.continue_()

    page.route(re.compile(r".*/api/v1/ingest/uploads/[0-9a-f]+$"), on_patch)
    page.set_input_files("#ingest-upload input[type=file]", str(path))
    page.click("#ingest-upload button.primary")
    _wait_for(page, lambda: held, "the third chunk")
    page.click("#ingest-upload-pause")  # the held request is aborted by the page
    page.wait_for_selector("#ingest-upload-state:has-text('已暂停')")
    assert page.inner_text("#ingest-upload-pause") == "继续"
    try:
        held.pop().continue_()
    except Exception:  # noqa: BLE001 - the browser already cancelled it
        pass
    page.unroute(re.compile(r".*/api/v1/ingest/uploads/[0-9a-f]+$"))

    # a reload: the page names the unfinished file; choosing it again offers to resume from the server's offset
    page.reload()
    page.wait_for_selector("#ingest-upload-resume:has-text('避难场所-增量.csv')")
    page.eval_on_selector("#ingest-upload", "f => { f.dataset.chunkSize = '262144'; f.dataset.resumableThreshold = '1'; }")
    page.set_input_files("#ingest-upload input[type=file]", str(path))
    page.wait_for_selector("#ingest-upload-resume:has-text('上次没有传完')")
    offer = page.inner_text("#ingest-upload-resume")
    assert "512.0 KB" in offer, offer  # two chunks of 256 KB arrived before the pause

    resumed: list[int] = []
    page.route(re.compile(r".*/api/v1/ingest/uploads/[0-9a-f]+$"),
               lambda route, request: (resumed.append(int(request.headers["upload-offset"]))
                                       if request.method == "PATCH" else None, route.continue_()))
    page.select_option("#ingest-upload select[name=mode]", "upsert")
    page.select_option("#ingest-upload select[name=encoding]", "utf-8")
    page.click("#ingest-upload button[name=dry_run]")
    page.wait_for_url(re.compile(r".*/workbench/ingest/loads/\d+"), timeout=60000)
    page.wait_for_selector("#load-status:not(:text('排队中')):not(:text('校验中'))", timeout=60000)
    assert resumed and resumed[0] == 2 * 256 * 1024, resumed  # nothing sent twice
    load = _api(page, base, "/api/v1/ingest/loads/" + page.url.rsplit("/", 1)[-1])
    assert load["mode"] == "upsert" and load["dry_run"] is True and load["status"] == "checked", load
    assert load["rows_read"] == rows and load["source_size"] == size


def test_errors_from_the_api_are_shown_on_the_page_R_AGG_2(page, demo_server, tmp_path):
    base = demo_server
    path = shelters(tmp_path / "避难场所.csv", 100, "丙")
    login(page, base, "yjj_officer")
    _entry_page(page, base, threshold=0)
    # a stale or forged CSRF token: the API refuses, and the page says so in Chinese
    page.eval_on_selector("#ingest-upload input[name=csrf_token]", "i => { i.value = 'forged'; }")
    page.set_input_files("#ingest-upload input[type=file]", str(path))
    page.click("#ingest-upload button.primary")
    page.wait_for_selector("#ingest-upload-error:not([hidden])")
    assert "CSRF 校验失败" in page.inner_text("#ingest-upload-error")
    assert page.is_enabled("#ingest-upload button.primary")  # the officer can try again
