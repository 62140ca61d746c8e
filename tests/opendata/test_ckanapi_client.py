"""The real CKAN client — ``ckanapi`` from PyPI, its command line and its Python API — reads the portal as it
reads CKAN (R-OPN-8): a real server on 127.0.0.1 over a database and data directory of its own, seeded by
the real flow (publish, load, review, open). On PostgreSQL the server gets a database of its own next to the
test database (``<name>_ckanapi``), dropped afterwards; on SQLite, its data directory.

Outside CI the tests skip when ckanapi is missing (``pip install -e '.[test]'``); under CI=true that fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gongshu import db as gdb
from tests.conftest import IN_CI

try:
    import ckanapi
except ImportError:  # told by the fixture below
    ckanapi = None

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GONGSHU = [sys.executable, "-m", "gongshu.cli"]

SEED = r'''
import dataclasses, json, sys
from pathlib import Path
from gongshu.db import session_factory
from gongshu.ingest.service import loads
from gongshu.opendata.service import datasets
from tests.catalog.helpers import DEFAULT_ITEMS, cast, published
from tests.factories import Factory
from tests.ingest.helpers import person_rows, write_csv
from tests.opendata.helpers import PLAIN_ITEMS, open_entry

MIXED = [dict(i, is_personal=False, grade="一般1") if i["name"] in ("性别", "出生日期") else dict(i) for i in DEFAULT_ITEMS]
work = Path(sys.argv[1])
s = session_factory()()
f = Factory(s)
c = cast(f)


def loaded(entry, rows, name):
    s.commit()  # the load runs in units of work of its own
    load = loads.receive_file(s, actor=c.officer, entry_id=entry.id, path=write_csv(work / name, person_rows(rows)),
                              filename=name, move=False)
    s.commit()
    assert loads.process(load.id).status == "applied"


people = published(s, c, open_type="无条件开放", items=MIXED, name="户籍人口基本信息")
loaded(people, 8, "people.csv")
open_entry(s, c, people)
cond = published(s, c, open_type="有条件开放", open_condition="仅用于科研", name="流动人口登记信息", items=MIXED)
loaded(cond, 3, "cond.csv")
open_entry(s, c, cond)
closed = published(s, c, open_type="无条件开放", name="出租屋人口信息", items=MIXED)
firms = published(s, c, by=c.other_officer, open_type="无条件开放", name="企业登记信息", topic="法人", items=PLAIN_ITEMS,
                  summary="本市企业的登记信息。",
                  grade="一般1")
open_entry(s, dataclasses.replace(c, officer=c.other_officer), firms)
s.commit()
print(json.dumps({"people": datasets.slug(people.code), "cond": datasets.slug(cond.code),
                  "closed": datasets.slug(closed.code), "firms": datasets.slug(firms.code),
                  "police": c.dept.uscc.lower(), "other": c.other_dept.uscc.lower()}))
'''


@dataclass(frozen=True)
class Site:
    base: str
    names: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_database() -> str:
    """'' (SQLite in the data directory), or a PostgreSQL database of its own beside the test database."""
    url = os.environ.get("GONGSHU_TEST_DATABASE_URL", "")
    if not url:
        return ""
    own = make_url(url).set(database=f"{make_url(url).database}_ckanapi").render_as_string(hide_password=False)
    gdb.reset_postgres_database(own)
    return own


def _drop(own: str) -> None:
    url = make_url(own)
    eng = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if ckanapi is None:
        if IN_CI:
            pytest.fail("ckanapi is not installed (pip install -e '.[test]')")
        pytest.skip("the ckanapi client tests need ckanapi: pip install -e '.[test]'")
    data = tmp_path_factory.mktemp("ckanapi")
    own = _own_database()
    env = {**os.environ, "GONGSHU_DATA_DIR": str(data), "GONGSHU_DATABASE_URL": own, "PYTHONPATH": str(ROOT),
           "GONGSHU_RESOURCE_DATABASE_URL": "", "GONGSHU_INPROCESS_WORKER": "false",
           "GONGSHU_PORTAL_NAME": "南湾市公共数据开放平台"}
    proc = None
    try:
        subprocess.run([*GONGSHU, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=300)
        seeded = subprocess.run([sys.executable, "-c", SEED, str(data)], env=env, capture_output=True, cwd=ROOT,
                                timeout=300, text=True)
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        names = json.loads(seeded.stdout.strip().splitlines()[-1])
        port = _free_port()
        proc = subprocess.Popen([*GONGSHU, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/3/action/status_show", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("server did not start: " + proc.stdout.read().decode(errors="replace")[-3000:])
            time.sleep(0.3)
        yield Site(base, names)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if own:
            _drop(own)


def ckanapi_cli(site: Site, *args: str) -> list[dict]:
    """Run the ckanapi command line (its dump workers are ``ckanapi`` processes found on PATH) and parse the
    JSON lines it prints."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(BIN / "ckanapi"), *args, "-r", site.base], env=env, capture_output=True, timeout=180)
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")[-3000:]
    return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def test_r_opn_8_ckanapi_dump_datasets_all(site):
    n = site.names
    dumped = {d["name"]: d for d in ckanapi_cli(site, "dump", "datasets", "--all", "-q")}
    assert set(dumped) == {n["people"], n["cond"], n["firms"]}  # 出租屋 is not open: not there
    people = dumped[n["people"]]
    assert people["title"] == "户籍人口基本信息" and people["organization"]["name"] == n["police"]
    assert people["license_id"] == "CC-BY-4.0" and people["num_resources"] == 4
    assert people["resources"][0]["url"] == f"{site.base}/open/datasets/{n['people']}/download.csv"
    assert all(httpx.get(r["url"], timeout=30).status_code == 200 for r in people["resources"])
    assert "南湾市公共数据开放平台" in {e["key"]: e["value"] for e in people["extras"]}["attribution"]
    assert dumped[n["firms"]]["resources"] == []
    # the same with GET requests (-g), by name
    got = ckanapi_cli(site, "dump", "datasets", n["cond"], "-g", "-q")
    assert [d["name"] for d in got] == [n["cond"]] and got[0]["isopen"] is False


def test_r_opn_8_ckanapi_search_datasets(site):
    n = site.names
    found = ckanapi_cli(site, "search", "datasets", "q=人口")  # pages package_search (rows=1000) to the end
    assert sorted(d["name"] for d in found) == sorted([n["people"], n["cond"]])
    assert [d["name"] for d in ckanapi_cli(site, "search", "datasets", 'q:"企业"')] == [n["firms"]]
    tagged = ckanapi_cli(site, "search", "datasets", "fq=tags:法人 res_format:CSV")
    assert tagged == []
    paged = ckanapi_cli(site, "search", "datasets", "sort=name asc", "rows:1", "start:1")
    assert [d["name"] for d in paged] == [sorted([n["people"], n["cond"], n["firms"]])[1]]


def test_r_opn_8_ckanapi_dump_organizations(site):
    n = site.names
    orgs = {o["name"]: o for o in ckanapi_cli(site, "dump", "organizations", "--all", "-q")}
    assert set(orgs) == {n["police"], n["other"]}
    assert (orgs[n["police"]]["package_count"], orgs[n["other"]]["package_count"]) == (2, 1)
    assert orgs[n["police"]]["is_organization"] is True and "packages" not in orgs[n["police"]]


def test_r_opn_8_ckanapi_action_and_python_api(site):
    n = site.names
    rows = ckanapi_cli(site, "action", "datastore_search", f"resource_id={n['people']}.csv", "limit:3",
                       'filters:{"性别": "1"}', "-j")
    assert len(rows) == 1 and rows[0]["total"] == 4 and len(rows[0]["records"]) == 3
    assert all("*" in r["公民身份号码"] for r in rows[0]["records"])
    for get_only in (False, True):
        with ckanapi.RemoteCKAN(site.base, get_only=get_only) as ckan:
            assert ckan.action.status_show()["ckan_version"].startswith("2.10")
            assert ckan.action.package_show(id=n["people"])["name"] == n["people"]
            assert ckan.action.package_search(q="人口", rows=1)["count"] == 2
            assert ckan.action.organization_show(id=n["other"], include_datasets=True)["packages"][0]["name"] == \
                n["firms"]
            with pytest.raises(ckanapi.NotFound):
                ckan.action.package_show(id=n["closed"])
            with pytest.raises(ckanapi.NotAuthorized):
                ckan.action.datastore_search(resource_id=f"{n['cond']}.csv")
            with pytest.raises(ckanapi.ValidationError) as exc:
                ckan.action.package_search(fq="groups:x")
            assert "fq" in exc.value.error_dict
