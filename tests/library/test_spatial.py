"""The spatial library (R-AGG-4): entries with 经度/纬度 or a WKT 空间范围, queried by bounding box —
points by coordinates, geometries by their envelope — with validated boxes and logged reads."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import select

from gongshu.app import create_app
from gongshu.audit.models import AuditEvent
from gongshu.errors import Forbidden, Invalid
from gongshu.library import views_more
from gongshu.library.service import spatial
from tests.catalog.helpers import cast, published
from tests.factories import login
from tests.ingest.helpers import load_file, person_rows, write_csv


def _item(name, type_, **kw):
    return {"name": name, "type": type_, "grade": "一般1", **kw}


HYDRANT = [_item("设施编号", "C", length=20, is_key=True), _item("设施名称", "C", length=50),
           _item("经度", "F"), _item("纬度", "F")]
PARCEL = [_item("地块编号", "C", length=20, is_key=True), _item("地块名称", "C", length=50),
          _item("空间范围", "M"), _item("登记日期", "D")]

# a big parcel around the city centre (no vertex near it), a small one in the south, one far away
BIG = "SRID=4490;POLYGON((113.50 22.80, 114.00 22.80, 114.00 23.20, 113.50 23.20, 113.50 22.80))"
SOUTH = "POLYGON ((113.70 22.55, 113.72 22.55, 113.72 22.57, 113.70 22.55))"
FAR = "MULTIPOLYGON (((100 30, 101 30, 101 31, 100 30)))"


def _publish(db, c, name, items):
    return published(db, c, name=name, items=items, resource_attr="基础", topic="自然资源", grade="一般1")


def _csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def city(f, db, tmp_path):
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    hydrants = _publish(db, c, "消防栓位置信息", HYDRANT)
    load_file(db, c.officer, hydrants, _csv(tmp_path / "xfs.csv", ["设施编号", "设施名称", "经度", "纬度"], [
        ["XF001", "南城一号栓", "113.7512", "23.0205"], ["XF002", "东城二号栓", "113.7801", "23.0411"],
        ["XF003", "虎门三号栓", "113.6720", "22.8150"], ["XF004", "广州四号栓", "113.2644", "23.1291"]]))
    parcels = _publish(db, c, "国有建设用地地块信息", PARCEL)
    load_file(db, c.officer, parcels, _csv(tmp_path / "dk.csv", ["地块编号", "地块名称", "空间范围", "登记日期"], [
        ["DK01", "中心片区", BIG, "20240301"], ["DK02", "南部地块", SOUTH, "20240302"], ["DK03", "远方地块", FAR, ""]]))
    huji = published(db, c)  # not spatial: never a layer
    load_file(db, c.officer, huji, write_csv(tmp_path / "huji.csv", person_rows(3)))
    return c, admin, hydrants, parcels, huji


def test_r_agg_4_spatial_layers_are_the_entries_with_coordinates_or_geometry(city, db):
    c, admin, hydrants, parcels, huji = city
    found = {layer["entry_id"]: layer for layer in spatial.layers(db, actor=admin)}
    assert set(found) == {hydrants.id, parcels.id}
    assert found[hydrants.id]["geometry"] == "point" and found[parcels.id]["geometry"] == "wkt"
    assert found[parcels.id]["version"] == 1 and found[parcels.id]["rows"] == 3


def test_r_agg_4_points_in_the_box_and_geometries_whose_envelope_intersects_it(city, db):
    c, admin, hydrants, parcels, _ = city
    box = (113.74, 23.00, 113.79, 23.05)  # 南城/东城: two hydrants; inside the big parcel, no vertex of it
    feats = spatial.features(db, actor=admin, bbox=box)
    points = [f for f in feats if f["geometry"] == "point"]
    assert sorted(f["attributes"]["设施名称"] for f in points) == ["东城二号栓", "南城一号栓"]
    assert all(f["entry_id"] == hydrants.id and f["version"] == 1 for f in points)
    assert points[0]["lon"] == pytest.approx(113.7512) and "经度" not in points[0]["attributes"]
    shapes = [f for f in feats if f["geometry"] == "wkt"]
    assert [f["attributes"]["地块名称"] for f in shapes] == ["中心片区"]
    assert shapes[0]["envelope"] == pytest.approx([113.5, 22.8, 114.0, 23.2])  # the SRID prefix is not a number
    assert shapes[0]["attributes"]["登记日期"] == "2024-03-01" and shapes[0]["wkt"] == BIG
    south = spatial.features(db, actor=admin, bbox=(113.715, 22.50, 113.80, 22.556))
    assert [f["attributes"]["地块名称"] for f in south] == ["南部地块"]  # envelope edge overlaps
    assert spatial.features(db, actor=admin, bbox=(120, 40, 121, 41)) == []
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "library.spatial.read")).all()
    assert len(event) == 3


def test_r_agg_4_entry_filter_and_limit(city, db):
    c, admin, hydrants, parcels, huji = city
    whole = (100, 20, 115, 32)
    only = spatial.features(db, actor=admin, bbox=whole, entry_ids=[parcels.id])
    assert {f["entry_id"] for f in only} == {parcels.id} and len(only) == 3
    assert len(spatial.features(db, actor=admin, bbox=whole, limit=5)) == 5
    assert len(spatial.features(db, actor=admin, bbox=whole)) == 7
    with pytest.raises(Invalid) as e:
        spatial.features(db, actor=admin, bbox=whole, entry_ids=[huji.id])
    assert str(huji.id) in e.value.message and e.value.field == "entry_ids"
    with pytest.raises(Invalid):
        spatial.features(db, actor=admin, bbox=whole, limit=0)


@pytest.mark.parametrize("text, words", [
    ("113.7,23.0,113.8", "4 个数"), ("a,b,c,d", "4 个数"), ("113.7,23.0,113.8,95", "纬度 95"),
    ("190,23,191,24", "经度 190"), ("113.8,23.0,113.7,23.1", "最小值大于最大值"), ("nan,1,2,3", "非数"),
])
def test_r_agg_4_bad_boxes_are_refused_in_both_languages(text, words):
    with pytest.raises(Invalid) as e:
        spatial.parse_bbox(text)
    assert words in e.value.message and e.value.message_en and e.value.field == "bbox"


def test_r_agg_4_box_parsing_accepts_spaces_and_chinese_commas():
    assert spatial.parse_bbox(" 113.7，23.0 113.8,23.1 ") == (113.7, 23.0, 113.8, 23.1)


def test_r_agg_4_spatial_library_is_for_the_authority(city, db):
    c, *_ = city
    with pytest.raises(Forbidden):
        spatial.features(db, actor=c.officer, bbox=(113, 22, 114, 23))


# Pages ------------------------------------------------------------------------------------------------------

@pytest.fixture
def app(session_factory):
    """The app with the library pages router ahead of the person/entity pages (as app.py must include it)."""
    app = create_app(check_db=False, run_jobs=False)
    if not any(getattr(r, "path", "") == "/workbench/library/spatial" for r in app.routes):
        app.router.routes[:0] = views_more.router.routes
    return app


def test_r_agg_4_spatial_page_lists_layers_plots_and_refuses_bad_boxes(city, db, f, client):
    c, admin, hydrants, parcels, _ = city
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    login(client, user)
    page = client.get("/workbench/library/spatial")
    assert page.status_code == 200 and "消防栓位置信息" in page.text and "spatial-features" not in page.text
    r = client.get("/workbench/library/spatial", params={"bbox": "113.74,23.00,113.79,23.05"})
    assert r.status_code == 200 and "南城一号栓" in r.text and "中心片区" in r.text and "广州四号栓" not in r.text
    assert r.text.count("<circle") == 2 and r.text.count("<rect") == 1  # the SVG scatter
    r = client.get("/workbench/library/spatial", params={"bbox": "100,20,115,32", "entry": str(hydrants.id)})
    assert "广州四号栓" in r.text and "中心片区" not in r.text
    bad = client.get("/workbench/library/spatial", params={"bbox": "113.8,23.0,113.7"})
    assert bad.status_code == 422 and "4 个数" in bad.text
    bad = client.get("/workbench/library/spatial", params={"bbox": "100,20,115,32", "entry": "x"})
    assert bad.status_code == 422
