"""Synthetic resource data for the demo city (issue 3: R-AGG-1, R-AGG-3, R-AGG-4).

Identifiers are cross-checked against python-stdnum (an independent implementation), every deliberate
defect is checked to really break the rule it is listed under, and the sources are checked against the
legal source (same ID → same name except the deliberate conflicts).
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from datetime import date

import openpyxl
import polars as pl
import pytest
from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric, uscc

from gongshu.demo import data as demo_data
from gongshu.demo import data_gen
from gongshu.demo.catalogue import ENTRIES, parse_items
from gongshu.demo.data import SOURCES, DataFile, entry_columns, generate, make_messy_gbk_csv

ID, USCC = "公民身份号码", "统一社会信用代码"
PERSONS, ENTITIES = 10_000, 2_000
DATE_RE = re.compile(r"^(\d{4})(?:[-/.年]?)(\d{1,2})(?:[-/.月]?)(\d{1,2})日?$")


def read(f: DataFile) -> pl.DataFrame:
    """The file's rows as text, the way a reader sees them (empty cell → null)."""
    if f.format == "csv":
        text = f.path.read_bytes().decode(f.encoding or "utf-8")
        return pl.read_csv(io.StringIO(text), infer_schema=False)
    if f.format == "ndjson":
        return pl.read_ndjson(f.path, infer_schema_length=None)
    if f.format == "parquet":
        return pl.read_parquet(f.path)
    wb = openpyxl.load_workbook(f.path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    return pl.DataFrame([list(r) for r in rows[1:]], schema=list(rows[0]), orient="row")


def parse_date(value: str | None) -> date | None:
    m = DATE_RE.match(value or "")
    try:
        return date(*map(int, m.groups())) if m else None
    except ValueError:
        return None


def _plain(value: str | None) -> str:
    """An ID number as a load normalises it (full-width digits, lowercase x), by the standard library."""
    return unicodedata.normalize("NFKC", value or "").upper()


def ric_ok(value: str | None) -> bool:
    try:
        return ric.is_valid(value or "")
    except KeyError:  # stdnum 2.2 raises KeyError for an unknown county inside a known province
        return False


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("demodata")
    files = generate(out, persons=PERSONS, entities=ENTITIES, seed=2026)
    defects = pl.read_parquet(out / "defects.parquet")
    return out, {f.entry_name: f for f in files}, defects


def valid_rows(f: DataFile, defects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows without a deliberate defect, defect rows joined with their listed field and rule)."""
    df = read(f).with_row_index("record", offset=1).with_columns(pl.col("record").cast(pl.Int64))
    mine = defects.filter(pl.col("file") == f.path.name).select("record", "field", "rule", "row")
    return df.join(mine, on="record", how="anti"), df.join(mine, on="record")


def test_files_have_the_entries_items_as_header_and_the_promised_formats(city):
    """R-AGG-2: one file per source entry, header = the entry's data items in catalogue order."""
    out, files, _ = city
    assert set(files) == {s.entry for s in SOURCES}
    for name, f in files.items():
        assert list(read(f).columns) == [c for c, _, _ in entry_columns(name)], name
        assert f.rows == read(f).height > 0, name
    assert (files["户籍人口基本信息"].format, files["户籍人口基本信息"].encoding) == ("csv", "gbk")
    assert (files["婚姻登记信息"].format, files["婚姻登记信息"].encoding) == ("csv", "utf-8")
    assert files["社会保险参保信息"].format == "parquet" and files["残疾人证信息"].format == "xlsx"
    assert files["住房公积金缴存信息"].path.read_bytes()[:3] == b"\xef\xbb\xbf"
    with pytest.raises(UnicodeDecodeError):
        files["户籍人口基本信息"].path.read_bytes().decode("utf-8")
    assert files["户籍人口基本信息"].rows == PERSONS
    assert {f.entry_name for f in files.values() if f.late} == {"最低生活保障对象信息", "住房公积金缴存信息"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {m["entry_name"]: m["rows"] for m in manifest} == {n: f.rows for n, f in files.items()}


def test_shares_of_the_population_per_source(city):
    """R-AGG-4: each source holds roughly its share of the population."""
    _, files, _ = city
    share = {n: files[n].rows / PERSONS for n in files}
    assert 0.40 < share["婚姻登记信息"] < 0.50
    assert 0.65 < share["社会保险参保信息"] < 0.75
    assert 0.87 < share["基本医疗保险参保信息"] < 0.93
    assert 0.01 < share["最低生活保障对象信息"] < 0.03
    assert 0.02 < share["残疾人证信息"] < 0.04
    assert 0.26 < share["住房公积金缴存信息"] < 0.34
    assert 0.03 < files["社会组织登记信息"].rows / ENTITIES < 0.07


def test_r_agg_3_every_non_defect_id_number_passes_stdnum_and_is_consistent(city):
    """R-AGG-3: valid GB 11643 numbers; birth date, gender parity, region in the person's file agree."""
    _, files, defects = city
    for s in SOURCES:
        f = files[s.entry]
        if ID not in read(f).columns:
            continue
        ok, _ = valid_rows(f, defects)
        bad = [v for v in ok[ID].to_list() if not ric_ok(v)]
        assert bad == [], (s.entry, bad[:5])
    ok, _ = valid_rows(files["户籍人口基本信息"], defects)
    assert ok[ID].is_duplicated().sum() == 0
    assert (ok[ID].str.slice(6, 8) == ok["出生日期"]).all()
    parity = ok[ID].str.slice(16, 1).cast(pl.Int64) % 2
    assert ((parity == 1) == (ok["性别"] == "1")).all()
    home = ok[ID].str.slice(0, 6).is_in(["441900", "442502", "442527"]).mean()
    assert 0.7 < home < 0.9  # most people from the city, the rest from real divisions elsewhere
    assert set(ok["民族"].unique()) <= {f"{i:02d}" for i in range(1, 57)} and (ok["民族"] == "01").mean() > 0.85


def test_r_agg_3_every_non_defect_uscc_passes_stdnum_and_is_unique(city):
    """R-AGG-3: valid GB 32100 codes with a GB 11714 organisation code and a real division."""
    _, files, defects = city
    divisions = set(data_gen.divisions()["code"].to_list())
    for name in ("企业登记基本信息", "社会组织登记信息", "纳税信用A级纳税人名单", "食品经营许可信息"):
        ok, _ = valid_rows(files[name], defects)
        codes = ok[USCC].to_list()
        assert all(uscc.is_valid(c) for c in codes), name
        assert all(c[2:8] in divisions for c in codes), name
        assert ok[USCC].is_duplicated().sum() == 0 or name == "食品经营许可信息"
    orgs = read(files["社会组织登记信息"])
    agree = orgs.select((pl.col(USCC).str.slice(0, 2) == pl.concat_str(pl.lit("5"), pl.col("社会组织类型"))).mean())
    assert agree.item() > 0.95


def _breaks(rule: str, value, length: int | None) -> bool:
    """Independent check that a value really breaks the rule it is listed under."""
    if rule == "required":
        return value is None or value == ""
    if rule == "ric_checksum":
        try:
            ric.validate(value)
        except stdnum_exc.InvalidChecksum:
            return True
        return False
    if rule == "ric_region":
        return value[:6] not in set(data_gen.divisions()["code"].to_list()) and value[17] == ric.calc_check_digit(value)
    if rule == "ric_birth":
        return parse_date(value[6:14]) is None and value[17] == ric.calc_check_digit(value)
    if rule == "uscc_checksum":
        return not uscc.is_valid(value) and all(c in data_gen.USCC_ALPHABET for c in value)
    if rule == "uscc_format":
        return any(c not in data_gen.USCC_ALPHABET for c in value)
    if rule == "date":
        return parse_date(value) is None
    if rule == "code":
        return value in ("男", "女", "已婚", "离婚", "再婚", "汉族", "壮族", "回族")
    if rule == "excel_scientific":
        return re.fullmatch(r"\d\.\d+E\+17", value) is not None
    if rule == "type":
        try:
            float(value)
        except ValueError:
            return True
        return False
    if rule == "length":
        return len(value) > length
    raise AssertionError(rule)


def test_r_agg_3_each_listed_defect_really_breaks_its_rule_and_rates_are_about_one_percent(city):
    """R-AGG-3: defects.parquet names file, row, field and rule; each is real; about defect_rate per file."""
    _, files, defects = city
    assert set(defects["rule"].unique()) >= {"ric_checksum", "ric_region", "ric_birth", "uscc_checksum", "required",
                                             "date", "code", "type", "length"}
    for s in SOURCES:
        f = files[s.entry]
        lengths = {c: ln for c, _, ln in entry_columns(s.entry)}
        _, bad = valid_rows(f, defects)
        assert bad.height == f.defects
        for row in bad.iter_rows(named=True):
            assert _breaks(row["rule"], row[row["field"]], lengths[row["field"]]), (s.entry, row["row"], row["rule"])
        expected_row = bad["record"] + (1 if f.format == "ndjson" else 2) - 1
        assert (bad["row"] == expected_row).all()
    big = [f for f in files.values() if f.rows >= 5_000]
    for f in big:
        assert 0.006 < f.defects / f.rows < 0.014, (f.entry_name, f.defects, f.rows)
    total = sum(f.defects for f in files.values()) / sum(f.rows for f in files.values())
    assert 0.008 < total < 0.012


def test_r_agg_4_same_person_same_id_and_name_across_sources_except_deliberate_conflicts(city):
    """R-AGG-4: sources agree with the legal source (户籍) except ~1 % deliberate name conflicts."""
    _, files, defects = city
    gaj, _ = valid_rows(files["户籍人口基本信息"], defects)
    gaj = gaj.select(ID, pl.col("姓名").alias("legal_name"))
    for s in SOURCES:
        if s.entry == "户籍人口基本信息" or ID not in read(files[s.entry]).columns:
            continue
        ok, _ = valid_rows(files[s.entry], defects)
        joined = ok.join(gaj, on=ID, how="left")
        assert joined["legal_name"].null_count() <= files["户籍人口基本信息"].defects, s.entry  # unknown only if 户籍 row spoilt
        joined = joined.drop_nulls("legal_name")
        differ = int((joined["姓名"] != joined["legal_name"]).sum())
        assert 0 < differ <= files[s.entry].conflicts, s.entry
        if files[s.entry].rows > 5_000:
            assert 0.005 < differ / joined.height < 0.015, s.entry


def test_r_agg_4_entities_reps_from_population_and_name_conflicts(city):
    """R-AGG-4: legal representatives are people of the city; the tax list disagrees on ~1 % of names."""
    _, files, defects = city
    names = set(read(files["户籍人口基本信息"])["姓名"].to_list())
    reps = read(files["企业登记基本信息"])["法定代表人"]
    assert reps.is_in(list(names)).all()
    legal = read(files["企业登记基本信息"]).select(USCC, pl.col("企业名称").alias("legal"))
    ok, _ = valid_rows(files["纳税信用A级纳税人名单"], defects)
    j = ok.join(legal, on=USCC)
    differ = int((j["企业名称"] != j["legal"]).sum())
    assert differ == files["纳税信用A级纳税人名单"].conflicts > 0
    lic = read(files["食品经营许可信息"])
    assert lic["许可证编号"].is_duplicated().sum() == 0 and lic["许可证编号"].str.starts_with("JY").all()


def test_certificates_held_by_persons(city):
    """R-AGG-4 (e-certificates): 残疾人证号 = holder's ID + category + grade; certificate numbers unique."""
    _, files, defects = city
    ok, _ = valid_rows(files["残疾人证信息"], defects)
    assert (ok["残疾人证号"] == ok[ID] + ok["残疾类别"] + ok["残疾等级"]).all()
    assert read(files["职业资格证书信息"])["职业资格证书编号"].is_duplicated().sum() == 0


def test_spatial_points_and_polygons_inside_the_city(city):
    """R-AGG-4 (spatial library): 经度/纬度 and WKT polygons lie inside the city's bounding box."""
    _, files, defects = city
    west, south, east, north = data_gen.BBOX
    ok, _ = valid_rows(files["应急避难场所信息"], defects)
    lon, lat = ok["经度"].cast(pl.Float64), ok["纬度"].cast(pl.Float64)
    assert lon.is_between(west, east).all() and lat.is_between(south, north).all()
    assert ok["场所名称"].is_duplicated().sum() == 0
    parcels = read(files["宗地信息"])
    assert parcels["宗地代码"].is_duplicated().sum() == 0 and (parcels["宗地代码"].str.len_chars() == 19).all()
    for wkt in parcels["空间范围"].head(200).to_list():
        m = re.fullmatch(r"POLYGON\(\((.*)\)\)", wkt)
        pts = [tuple(map(float, p.split())) for p in m.group(1).split(", ")]
        assert len(pts) == 5 and pts[0] == pts[-1]
        assert all(west <= x <= east and south <= y <= north for x, y in pts)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    """Determinism: the same seed writes byte-identical CSV and NDJSON; another seed does not."""
    a = generate(tmp_path / "a", persons=3_000, entities=500, seed=11)
    b = generate(tmp_path / "b", persons=3_000, entities=500, seed=11)
    c = generate(tmp_path / "c", persons=3_000, entities=500, seed=12)
    for fa, fb, fc in zip(a, b, c, strict=True):
        if fa.format in ("csv", "ndjson"):
            assert fa.path.read_bytes() == fb.path.read_bytes(), fa.entry_name
            assert fa.path.read_bytes() != fc.path.read_bytes(), fa.entry_name
        assert read(fa).equals(read(fb)), fa.entry_name


def test_chunked_generation_keeps_ids_unique_and_counts_right(tmp_path, monkeypatch):
    """Big sizes run in chunks: IDs stay unique across chunks, xlsx is capped, defect_rate=0 means clean."""
    monkeypatch.setattr(demo_data, "CHUNK", 2_500)
    monkeypatch.setattr(demo_data, "XLSX_CAP", 100)
    files = {f.entry_name: f for f in generate(tmp_path, persons=9_000, entities=300, defect_rate=0.0)}
    gaj = read(files["户籍人口基本信息"])
    assert gaj.height == 9_000 and gaj[ID].is_duplicated().sum() == 0
    assert all(ric_ok(v) for v in gaj[ID].to_list())
    assert all(f.defects == 0 for f in files.values())
    assert files["残疾人证信息"].rows == read(files["残疾人证信息"]).height == 100  # ~270 holders, capped


def test_parse_items_accepts_flags_on_elements_and_keeps_old_behaviour():
    """The ``@element:flags`` syntax: 宗地代码 becomes a key; identifiers stay keys; plain items unchanged."""
    zd = {i.name: i for i in parse_items(next(e.items for e in ENTRIES if e.name == "宗地信息"))}
    assert zd["宗地代码"].key and zd["宗地代码"].element == "宗地代码" and not zd["国土空间用途"].key
    assert zd["空间范围"].type == "M"
    items = parse_items("@公民身份号码 @姓名 登记日期:D:8 号牌号码:C:15:k 所有人名称:C:100:p")
    assert [(i.name, i.key, i.personal, i.length) for i in items] == [
        ("公民身份号码", True, True, 18), ("姓名", False, True, 50), ("登记日期", False, False, 8),
        ("号牌号码", True, False, 15), ("所有人名称", False, True, 100)]


def test_messy_gbk_csv_lists_each_problem_and_the_fixed_version_is_clean(tmp_path):
    """Issue 3 "Done means": a messy GBK export with known problems, and its corrected twin."""
    messy, fixed = tmp_path / "messy.csv", tmp_path / "fixed.csv"
    report = make_messy_gbk_csv(messy, rows=200, seed=7)
    again = make_messy_gbk_csv(fixed, rows=200, seed=7, fixed=True)
    assert {p["rule"] for p in report["problems"]} == {"ric_checksum", "ric_region", "ric_birth", "ric_sex_mismatch",
                                                       "length", "required", "duplicate", "date", "excel_scientific",
                                                       "ric_birth_mismatch"}
    assert again["problems"] == []
    raw = messy.read_bytes()
    assert b"\r\n" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    m = pl.read_csv(io.StringIO(raw.decode("gbk")), infer_schema=False)
    f = pl.read_csv(io.StringIO(fixed.read_bytes().decode("gbk")), infer_schema=False)
    assert list(m.columns) == [c for c, _, _ in entry_columns("户籍人口基本信息")] and m.height == 200
    lengths = {c: ln for c, _, ln in entry_columns("户籍人口基本信息")}
    for p in report["problems"]:
        value = m[p["field"]][p["row"] - 2]
        if p["rule"] == "duplicate":
            assert _plain(value) in [_plain(v) for v in m[ID].head(p["row"] - 2).to_list()]
        elif p["rule"] == "ric_sex_mismatch":  # the 17th digit is odd for men (code 1), even for women (2)
            assert {"1": "男", "2": "女"}.get(value, value) != ("男" if int(_plain(m[ID][p["row"] - 2])[16]) % 2 else "女")
        elif p["rule"] == "ric_birth_mismatch":
            assert parse_date(value) != parse_date(_plain(m[ID][p["row"] - 2])[6:14])
        else:
            assert _breaks(p["rule"], value, lengths[p["field"]]), p
    # every other row is acceptable, and the fixed file is clean everywhere
    spoilt = {p["row"] - 2 for p in report["problems"]}
    assert all(ric_ok(_plain(v)) for i, v in enumerate(m[ID].to_list()) if i not in spoilt and v is not None)
    assert all(ric_ok(_plain(v)) for v in f[ID].to_list()) and f[ID].map_elements(_plain).is_duplicated().sum() == 0
    assert set(f["性别"].unique()) == {"1", "2", "男", "女"} and (f["姓名"].str.strip_chars().str.len_chars() <= 50).all()
    # the acceptable variants a load normalises are in both files: lowercase x, full-width digits, names with spaces
    for frame in (m, f):
        ids = frame[ID].drop_nulls().to_list()
        assert any(v.endswith("x") for v in ids) and any("０" <= v[0] <= "９" for v in ids)
        assert any(" " in v.strip() for v in frame["姓名"].to_list())
        assert any("年" in v for v in frame["出生日期"].to_list()) and any("." in v for v in frame["登记日期"].to_list())
    assert all(parse_date(v) for v in f["登记日期"].to_list() + f["出生日期"].to_list())
    assert {"-", "/"} <= set("".join(f["出生日期"].to_list()))  # dates written several acceptable ways
    differ = [i + 2 for i, (a, b) in enumerate(zip(m.iter_rows(), f.iter_rows(), strict=True)) if a != b]
    assert differ == sorted(report["fixed_rows"])
