"""The spatial / natural-resources library (自然资源与空间地理库, R-AGG-4): every attached entry whose
serving version has 经度/纬度 columns (type F/N/B) or a WKT geometry column (label containing
空间范围/几何/WKT/坐标范围), queryable by bounding box.

Points match when their longitude/latitude fall in the box; WKT geometries when their envelope
intersects it. Envelopes are computed vectorised in DuckDB from the numbers of the WKT text (the
spatial extension is not available offline): strip an ``SRID=…;`` prefix, extract every number with
a regular expression, take x/y by position (stride 3 or 4 for Z/M/ZM coordinates). Every query is
logged.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal

import duckdb
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Invalid
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.kit.identifiers import mask_id_number
from gongshu.library.service import records  # noqa: F401 - declares library.view
from gongshu.store.service import sql_ident, sql_literal

COORD_TYPES = ("F", "N", "B")
WKT_WORDS = ("空间范围", "几何", "WKT", "坐标范围")
MAX_LIMIT = 5000
#: WKT text returned per feature (the envelope is always exact)
WKT_CHARS = 4000
NUMBER_RE = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
SRID_RE = r"(?i)^\s*SRID=\d+\s*;\s*"
DIM_Z_RE = r"^\s*[A-Z]+\s+ZM?\s*[(E]"
DIM_M_RE = r"^\s*[A-Z]+\s+Z?M\s*[(E]"


def _layer(session: Session, version) -> dict | None:
    cols = ingest_spec.columns_from_json(version.columns)
    lon = next((c for c in cols if "经度" in c.label and c.type in COORD_TYPES), None)
    lat = next((c for c in cols if "纬度" in c.label and c.type in COORD_TYPES), None)
    wkt = next((c for c in cols if c.type in ("C", "M") and any(w in c.label.upper() for w in WKT_WORDS)), None)
    if wkt is None and (lon is None or lat is None):
        return None
    entry = catalog_entries.fetch(session, entry_id=version.entry_id)
    return {"entry_id": entry.id, "entry_name": entry.name, "version_id": version.id, "version": version.number,
            "rows": version.rows, "geometry": "wkt" if wkt is not None else "point",
            "lon": lon.name if lon else None, "lat": lat.name if lat else None, "wkt": wkt.name if wkt else None,
            "columns": cols, "path": str(snapshot_path(version))}


def _layers(session: Session) -> list[dict]:
    return [layer for v in ingest_versions.serving_versions(session) if (layer := _layer(session, v)) is not None]


def layers(session: Session, *, actor: Actor) -> list[dict]:
    """The entries that make up the spatial library now (entry, serving version, kind of geometry)."""
    require(actor, "library.view")
    return [{k: v for k, v in layer.items() if k not in ("columns", "path")} for layer in _layers(session)]


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"minx,miny,maxx,maxy"`` (commas or spaces) as four numbers; Invalid otherwise."""
    parts = [p for p in re.split(r"[\s,，]+", (text or "").strip()) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise Invalid(f"范围应为 4 个数：最小经度,最小纬度,最大经度,最大纬度（收到“{(text or '')[:60]}”）",
                      f"The box needs 4 numbers: min lon, min lat, max lon, max lat (got '{(text or '')[:60]}')",
                      field="bbox")
    return check_bbox(values)


def check_bbox(bbox) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise Invalid("范围应为 4 个数：最小经度,最小纬度,最大经度,最大纬度",
                      "The box needs 4 numbers: min lon, min lat, max lon, max lat", field="bbox") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise Invalid("范围中的数不能是无穷大或非数", "The box's numbers must be finite", field="bbox")
    for v in (minx, maxx):
        if not -180 <= v <= 180:
            raise Invalid(f"经度 {v} 超出 −180 到 180 的范围", f"Longitude {v} is outside −180…180", field="bbox")
    for v in (miny, maxy):
        if not -90 <= v <= 90:
            raise Invalid(f"纬度 {v} 超出 −90 到 90 的范围", f"Latitude {v} is outside −90…90", field="bbox")
    if minx > maxx or miny > maxy:
        raise Invalid("范围的最小值大于最大值（顺序应为：最小经度,最小纬度,最大经度,最大纬度）",
                      "The box's minimum exceeds its maximum (order: min lon, min lat, max lon, max lat)",
                      field="bbox")
    return minx, miny, maxx, maxy


def _json(value: object) -> object:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _attributes(layer: dict, row: dict) -> dict:
    skip = {layer["lon"], layer["lat"], layer["wkt"]}
    out = {}
    for c in layer["columns"]:
        if c.name in skip:
            continue
        v = row.get(c.name)
        if v is not None and (ingest_spec.check_for(c.label) or "号码" in c.label):
            v = mask_id_number(str(v))
        out[c.label] = _json(v)
    return out


def _envelope_sql(col: str) -> str:
    w = sql_ident(col)
    nums = f"list_transform(regexp_extract_all(_w, {sql_literal(NUMBER_RE)}), lambda x: CAST(x AS DOUBLE))"
    stride = (f"(2 + CASE WHEN regexp_matches(_w, {sql_literal(DIM_Z_RE)}) THEN 1 ELSE 0 END "
              f"+ CASE WHEN regexp_matches(_w, {sql_literal(DIM_M_RE)}) THEN 1 ELSE 0 END)")
    return ("SELECT * EXCLUDE (_w), list_filter(_n, lambda v, i: (i - 1) % _s = 0) AS _x, "  # noqa: S608 - escaped
            "list_filter(_n, lambda v, i: (i - 1) % _s = 1) AS _y "
            f"FROM (SELECT *, {nums} AS _n, {stride} AS _s FROM "
            f"(SELECT *, upper(regexp_replace(CAST({w} AS VARCHAR), {sql_literal(SRID_RE)}, '')) AS _w FROM src "
            f"WHERE {w} IS NOT NULL))")


def _query(con: duckdb.DuckDBPyConnection, layer: dict, path: str, bbox: tuple, limit: int) -> list[dict]:
    minx, miny, maxx, maxy = bbox
    names = ", ".join(sql_ident(c.name) for c in layer["columns"])
    con.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT {names} FROM read_parquet({sql_literal(path)})")  # noqa: S608 - escaped
    if layer["geometry"] == "point":
        x, y = sql_ident(layer["lon"]), sql_ident(layer["lat"])
        sql = (f"SELECT * FROM src WHERE {x} BETWEEN ? AND ? AND {y} BETWEEN ? AND ? LIMIT ?")  # noqa: S608 - escaped
        params = [minx, maxx, miny, maxy, limit]
    else:
        sql = (f"SELECT * EXCLUDE (_n, _s, _x, _y, _minx, _miny, _maxx, _maxy), _minx, _miny, _maxx, _maxy FROM ("  # noqa: S608
               f"SELECT *, list_min(_x) AS _minx, list_min(_y) AS _miny, list_max(_x) AS _maxx, list_max(_y) AS _maxy "
               f"FROM ({_envelope_sql(layer['wkt'])})) WHERE _minx <= ? AND _maxx >= ? AND _miny <= ? AND _maxy >= ? "
               "LIMIT ?")
        params = [maxx, minx, maxy, miny, limit]
    return con.sql(sql, params=params).to_arrow_table().to_pylist()


def features(session: Session, *, actor: Actor, bbox, entry_ids: list[int] | None = None,
             limit: int = 500) -> list[dict]:
    """Features in the box, at most ``limit`` across entries (in entry order): each with its entry, serving
    version, geometry (a point, or the WKT with its envelope) and the other columns as attributes."""
    require(actor, "library.view")
    box = check_bbox(bbox)
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise Invalid(f"返回条数应在 1 到 {MAX_LIMIT} 之间", f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    found = _layers(session)
    if entry_ids:
        wanted = {int(e) for e in entry_ids}
        unknown = wanted - {layer["entry_id"] for layer in found}
        if unknown:
            ids = "、".join(str(e) for e in sorted(unknown))
            raise Invalid(f"目录 {ids} 不在空间库中（未挂接数据，或没有经纬度/空间范围信息项）",
                          f"Entries {', '.join(map(str, sorted(unknown)))} are not in the spatial library (no data, "
                          "or no longitude/latitude or geometry items)", field="entry_ids")
        found = [layer for layer in found if layer["entry_id"] in wanted]
    out: list[dict] = []
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        for layer in found:
            if len(out) >= limit:
                break
            for row in _query(con, layer, layer["path"], box, int(limit) - len(out)):
                feat = {"entry_id": layer["entry_id"], "entry_name": layer["entry_name"],
                        "version_id": layer["version_id"], "version": layer["version"],
                        "geometry": layer["geometry"], "attributes": _attributes(layer, row)}
                if layer["geometry"] == "point":
                    feat["lon"], feat["lat"] = row[layer["lon"]], row[layer["lat"]]
                else:
                    feat["envelope"] = [row["_minx"], row["_miny"], row["_maxx"], row["_maxy"]]
                    feat["wkt"] = str(row[layer["wkt"]])[:WKT_CHARS]
                    if layer["lon"] and layer["lat"]:
                        feat["lon"], feat["lat"] = row[layer["lon"]], row[layer["lat"]]
                out.append(feat)
    finally:
        con.close()
    audit.record(session, actor=actor, action="library.spatial.read", subject_type="library_spatial",
                 subject_id="bbox", detail={"bbox": list(box), "entries": [layer["entry_id"] for layer in found],
                                            "features": len(out)})
    return out
