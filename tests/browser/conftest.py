"""A real server on 127.0.0.1 with its own data directory, and headless Debian Chromium.

Outside CI the browser tests skip, saying what is missing; under CI=true a missing
Chromium or Playwright is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, chromium_path

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "screens"

SEED = r'''
from gongshu.auth import service as auth
from gongshu.db import unit_of_work
from tests.factories import PASSWORD, make_uscc
with unit_of_work() as s:
    A = auth.SYSTEM
    bureau = auth.create_org(s, actor=A, name="南湾市政务服务数据管理局", short_name="数据局", kind="authority",
                             uscc=make_uscc(1))
    police = auth.create_org(s, actor=A, name="南湾市公安局", short_name="公安局", kind="department", uscc=make_uscc(2))
    auth.create_user(s, actor=A, username="officer", display_name="李警官", org_id=police.id, password=PASSWORD,
                     roles=["dept_officer"])
    auth.create_user(s, actor=A, username="reviewer", display_name="王审核", org_id=bureau.id, password=PASSWORD,
                     roles=["authority_reviewer"])
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser_path() -> str:
    path = chromium_path()
    if importlib.util.find_spec("playwright") is None:
        if IN_CI:
            pytest.fail("playwright is not installed (pip install -e '.[test]')")
        pytest.skip("browser tests need the playwright package: pip install -e '.[test]'")
    if path is None:
        if IN_CI:
            pytest.fail("Chromium is missing: apt-get install chromium")
        pytest.skip("browser tests need Debian's Chromium: apt-get install chromium chromium-driver")
    return path


GONGSHU = [sys.executable, "-m", "gongshu.cli"]


def serve(env: dict) -> tuple[subprocess.Popen, str]:
    """Start `gongshu serve` on a free port with ``env`` and wait until the login page answers."""
    port = _free_port()
    proc = subprocess.Popen([*GONGSHU, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/login", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("server did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("live")
    env = {**os.environ, "GONGSHU_DATA_DIR": str(data), "GONGSHU_DATABASE_URL": "", "PYTHONPATH": str(ROOT)}
    subprocess.run([*GONGSHU, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", SEED], env=env, check=True, capture_output=True, cwd=ROOT)
    proc, base = serve(env)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page(browser_path: str):
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        pg = context.new_page()
        pg.set_default_timeout(15000)
        yield pg
        context.close()
        browser.close()


#: the password of every demo login (``gongshu demo``)
DEMO_PASSWORD = "gongshu-demo-2026"


def start_demo(data: Path, *, persons: int, entities: int) -> tuple[subprocess.Popen, str]:
    """Seed ``gongshu demo`` (``persons``/``entities`` synthetic records) into ``data`` and serve it."""
    env = {**os.environ, "GONGSHU_DATA_DIR": str(data), "GONGSHU_DATABASE_URL": "", "PYTHONPATH": str(ROOT)}
    seeded = subprocess.run([*GONGSHU, "demo", "--data-dir", str(data), "--force", "--no-serve", "--persons",
                             str(persons), "--entities", str(entities)], env=env, capture_output=True)
    if seeded.returncode:
        pytest.fail("demo did not seed: " + (seeded.stdout + seeded.stderr).decode(errors="replace")[-3000:])
    return serve(env)


def login(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.form button.primary")
    page.wait_for_url(re.compile(r".*/workbench.*"))


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory, browser_path) -> Iterator[tuple[str, Path]]:
    """One demo city (3,000 persons, 300 entities) served for the whole browser session — the ingest, sharing
    and open data flows each use their own parts of it — so CI seeds it once: ``(base URL, data directory)``."""
    data = tmp_path_factory.mktemp("demo")
    proc, base = start_demo(data, persons=3000, entities=300)
    yield base, data
    proc.terminate()
    proc.wait(timeout=10)
