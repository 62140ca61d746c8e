"""An open dataset as a Frictionless Data Package (R-OPN-8): the descriptor of its CSV download, checked by
``frictionless validate`` against the downloaded data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gongshu.opendata.service import datasets
from tests.catalog.helpers import published
from tests.ingest.helpers import load_file, write_csv
from tests.opendata.helpers import open_entry, open_world

BASE = "http://testserver"
FRICTIONLESS = Path(sys.executable).parent / "frictionless"

#: a dataset with nothing personal, one item of each kind the CSV carries typed
TYPED_ITEMS = [
    {"name": "登记编号", "type": "C", "length": 20, "meaning": "登记机关编号", "is_key": True, "grade": "一般1"},
    {"name": "企业名称", "type": "C", "length": 100, "meaning": "登记名称", "grade": "一般1"},
    {"name": "注册资本", "type": "Y", "meaning": "万元", "grade": "一般1"},
    {"name": "从业人数", "type": "I", "grade": "一般1"},
    {"name": "资产负债率", "type": "N", "length": 8, "grade": "一般1"},
    {"name": "成立日期", "type": "D", "grade": "一般1"},
    {"name": "核准时间", "type": "T", "grade": "一般1"},
    {"name": "是否存续", "type": "L", "grade": "一般1"},
    {"name": "法定代表人", "type": "C", "length": 50, "is_personal": True, "grade": "一般2"},  # masked
]
TYPED_ROWS = [[f"GS{i:06d}", f"东莞市测试{i}有限公司", f"{i * 10}.50", str(i * 3), f"0.{i}5", f"2020-0{i}-1{i}",
               f"2024-0{i}-0{i} 1{i}:30:00", "是" if i % 2 else "否", f"李{i}明"] for i in range(1, 6)]


def _download_csv(client, ref: str) -> bytes:
    r = client.get(f"/open/datasets/{ref}/download.csv")
    assert r.status_code == 200, r.text
    return r.content


def _validate(tmp: Path, package: dict, csv: bytes) -> subprocess.CompletedProcess:
    """Write the package with its resource pointing at the local copy of the CSV, and validate it."""
    tmp.mkdir(exist_ok=True)
    (tmp / "data.csv").write_bytes(csv)
    local = json.loads(json.dumps(package))
    local["resources"][0]["path"] = "data.csv"
    (tmp / "datapackage.json").write_text(json.dumps(local, ensure_ascii=False), encoding="utf-8")
    return subprocess.run([str(FRICTIONLESS), "validate", "datapackage.json", "--json"], cwd=tmp,
                          capture_output=True, text=True, timeout=300)


def _report(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout)


def test_r_opn_8_masked_dataset_package_validates_against_its_csv(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=6)
    db.commit()
    slug = datasets.slug(w.entry.code)
    r = client.get(f"/open/datasets/{slug}/datapackage.json", headers={"accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    package = r.json()
    assert package["name"] == slug and package["title"] == "户籍人口基本信息"
    assert package["licenses"] == [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/",
                                    "title": "知识共享署名 4.0 国际许可协议（CC BY 4.0）"}]
    assert f"数据来源：{w.c.dept.name}" in package["description"]
    assert package["sources"][0]["path"] == f"{BASE}/open/datasets/{slug}"
    assert package["contributors"] == [{"title": w.c.dept.name, "role": "publisher",
                                        "path": f"{BASE}/open/orgs/{w.c.dept.id}"}]
    (resource,) = package["resources"]
    assert resource["path"] == f"{BASE}/open/datasets/{slug}/download.csv"
    assert resource["format"] == "csv" and resource["encoding"] == "utf-8" and resource["name"] == slug
    fields = {fl["name"]: fl for fl in resource["schema"]["fields"]}
    assert list(fields) == ["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"]
    assert fields["出生日期"]["type"] == "string"  # a date, but masked: its values are text
    assert all(fl["type"] == "string" and "已脱敏" in fl["description"] for fl in fields.values())
    assert fields["姓名"]["description"].startswith("户籍登记姓名")
    assert "primaryKey" not in resource["schema"]  # the key is masked: no longer unique
    assert client.get(f"/open/datasets/{w.entry.id}/datapackage.json").json() == package  # by id

    csv = _download_csv(client, slug)
    assert csv.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: declared utf-8, frictionless drops the mark
    done = _validate(tmp_path / "pkg", package, csv)
    assert done.returncode == 0, done.stdout + done.stderr
    report = _report(done)
    assert report["valid"] and report["tasks"][0]["stats"]["rows"] == 6


def test_r_opn_8_typed_dataset_package_has_types_and_key_and_catches_bad_data(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, load=False, name="企业登记信息", topic="法人", items=TYPED_ITEMS,
                   summary="本市企业的登记编号、名称、注册资本、从业人数、成立日期和存续状态。")
    header = [i["name"] for i in TYPED_ITEMS]
    done = load_file(db, w.c.officer, w.entry, write_csv(tmp_path / "企业.csv", TYPED_ROWS, header=header))
    assert done.status == "applied", done.error
    db.commit()
    package = client.get(f"/open/datasets/{w.entry.id}/datapackage.json").json()
    schema = package["resources"][0]["schema"]
    types = {fl["name"]: fl["type"] for fl in schema["fields"]}
    assert types == {"登记编号": "string", "企业名称": "string", "注册资本": "number", "从业人数": "integer",
                     "资产负债率": "number", "成立日期": "date", "核准时间": "datetime", "是否存续": "boolean",
                     "法定代表人": "string"}
    assert schema["primaryKey"] == ["登记编号"]  # public and not masked
    assert package["keywords"] == ["法人", "户籍管理"]

    csv = _download_csv(client, str(w.entry.id))
    done = _validate(tmp_path / "ok", package, csv)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _report(done)["tasks"][0]["stats"]["rows"] == 5

    # the check is real: a text in the integer column, and a repeated key, are reported
    text = csv.decode("utf-8-sig").splitlines()
    cells = text[1].split(",")
    cells[header.index("从业人数")] = "很多"
    bad = "\r\n".join([text[0], ",".join(cells), *text[2:], text[2]]) + "\r\n"
    done = _validate(tmp_path / "bad", package, b"\xef\xbb\xbf" + bad.encode("utf-8"))
    assert done.returncode != 0
    errors = {e["type"] for e in _report(done)["tasks"][0]["errors"]}
    assert {"type-error", "primary-key"} <= errors, errors


def test_r_opn_8_package_only_for_unconditional_open_datasets_with_data(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=2, open_type="有条件开放", open_condition="仅用于科研")
    empty = published(db, w.c, open_type="无条件开放", name="尚未挂接数据的数据集")
    open_entry(db, w.c, empty)
    hidden = published(db, w.c, open_type="无条件开放", name="未经审查的数据")
    db.commit()
    r = client.get(f"/open/datasets/{w.entry.id}/datapackage.json", headers={"accept": "text/html"})
    assert r.status_code == 403 and r.json()["error"]["details"] == [{"reason": "conditional"}]
    r = client.get(f"/open/datasets/{datasets.slug(empty.code)}/datapackage.json")
    assert r.status_code == 404 and r.json()["error"]["field"] == "version"
    for ref in (hidden.id, datasets.slug(hidden.code), "101001-99999"):
        r = client.get(f"/open/datasets/{ref}/datapackage.json", headers={"accept": "text/html"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
