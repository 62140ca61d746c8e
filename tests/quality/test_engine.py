"""R-GOV-1 the rule engine over a Parquet snapshot, without the database: each kind catches its planted defect and
passes clean data, identifier checksums agree with python-stdnum, failing rows land in a Parquet file, and a rule
that cannot run says why while the others run."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import polars as pl
import pytest
from stdnum.cn import ric, uscc

from gongshu.quality.service import engine_kinds
from gongshu.quality.service.engine import RuleSpec, file_name, run
from gongshu.store.snapshots import file_sm3
from tests.factories import make_uscc
from tests.quality.helpers import make_id, snapshot

N = 12  # rows; row r (1-based) is the row a defect is planted in
LABELS = {"c1": "公民身份号码", "c2": "姓名", "c3": "性别", "c4": "出生日期", "c5": "家庭人口数", "c6": "统一社会信用代码",
          "c7": "电子邮箱", "c8": "登记时间", "c9": "更新时间", "c10": "社区代码"}


def clean_columns() -> dict[str, tuple[str, list]]:
    ids = [make_id(i) for i in range(1, N + 1)]
    return {
        "c1": ("C", ids),
        "c2": ("C", [f"张{'一二三四五六七八九十'[i % 10]}{i}" for i in range(1, N + 1)]),
        "c3": ("C", ["1" if i % 2 else "2" for i in range(1, N + 1)]),  # odd sequence digit = male
        "c4": ("D", [date(1985, 3, 12)] * N),
        "c5": ("I", [1 + i % 5 for i in range(N)]),
        "c6": ("C", [make_uscc(i) for i in range(1, N + 1)]),
        "c7": ("C", [f"u{i}@example.com" for i in range(N)]),
        "c8": ("T", [datetime(2024, 1, 1, 9)] * N),
        "c9": ("T", [datetime(2024, 6, 1, 9)] * N),
        "c10": ("C", [f"44190000{i % 3}" for i in range(N)]),
    }


def ref_table(tmp_path):
    """Another entry's snapshot: community codes (``r1``) and persons' names by ID number (``r2``, ``r3``)."""
    ids = [make_id(i) for i in range(1, N + 1)]
    names = clean_columns()["c2"][1]
    return snapshot(tmp_path / "ref.parquet", {"r1": ("C", [f"44190000{i}" for i in range(3)] + [None] * (N - 3)),
                                              "r2": ("C", ids), "r3": ("C", names)})


def rules_with(ref) -> list[tuple[RuleSpec, set[int]]]:
    """Every kind, with the rows its planted defect is in (see :func:`planted`)."""
    return [
        (RuleSpec("format", "format", ("c2",), {"type": "C", "length": 5}), {2}),
        (RuleSpec("code", "code_table", ("c3",), {"table": "gender"}), {3}),
        (RuleSpec("codes", "code_table", ("c10",), {"values": ["441900000", "441900001", "441900002"]}), {10}),
        (RuleSpec("ric", "checksum", ("c1",), {"scheme": "ric"}), {1}),
        (RuleSpec("uscc", "checksum", ("c6",), {"scheme": "uscc"}), {6}),
        (RuleSpec("element", "element", ("c3",), {"type": "C", "length": 1, "table": "gender"}), {3}),
        (RuleSpec("required", "required", ("c2",)), {4}),
        (RuleSpec("complete", "record_complete", ("c2", "c7", "c10"), {"min_filled": 2}), {5}),
        (RuleSpec("range", "range", ("c5",), {"min": 1, "max": 5}), {7}),
        (RuleSpec("born", "range", ("c4",), {"min": "1900-01-01", "max": "today"}), {8}),
        (RuleSpec("pattern", "pattern", ("c7",), {"regex": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"}), {9}),
        (RuleSpec("reference", "reference", ("c10",), {"ref_path": str(ref), "ref_column": "r1"}), {10}),
        (RuleSpec("unique", "unique", ("c1",)), {11, 12}),
        (RuleSpec("unique2", "unique", ("c2", "c4")), {11, 12}),
        (RuleSpec("birth", "row_rule", ("c1", "c4"), {"check": "ric_birth"}), {8, 11, 12}),
        (RuleSpec("sex", "row_rule", ("c1", "c3"), {"check": "ric_sex"}), {12}),
        (RuleSpec("compare", "row_rule", ("c8", "c9"), {"check": "compare", "op": "<"}), {6}),
        (RuleSpec("cross", "cross_table", ("c2", "c1"), {"ref_path": str(ref), "ref_column": "r3",
                                                         "ref_keys": ["r2"], "mode": "equals"}), {1, 2, 11, 12}),
        (RuleSpec("exists", "cross_table", ("c2", "c1"), {"ref_path": str(ref), "ref_column": "r3",
                                                          "ref_keys": ["r2"], "mode": "exists"}), {1, 11, 12}),
        (RuleSpec("order", "time_order", ("c8", "c9")), {6}),
    ]


def planted() -> dict[str, tuple[str, list]]:
    """The clean table with one defect per row 1–12 (row 11 and 12: a duplicated person)."""
    cols = {k: (t, list(v)) for k, (t, v) in clean_columns().items()}
    ids = cols["c1"][1]
    ids[0] = ids[0][:-1] + ("0" if ids[0][-1] != "0" else "1")  # 1: wrong check digit
    cols["c2"][1][1] = "欧阳娜娜娜娜"  # 2: six characters, longer than 5 (and another name than the source's)
    cols["c3"][1][2] = "5"  # 3: not a GB/T 2261.1 sex code
    cols["c2"][1][3] = "  "  # 4: blank name
    cols["c7"][1][4], cols["c10"][1][4] = None, None  # 5: one of three items filled
    cols["c6"][1][5] = cols["c6"][1][5][:-1] + ("0" if cols["c6"][1][5][-1] != "0" else "1")  # 6: USCC check
    cols["c8"][1][5] = datetime(2025, 1, 1)  # 6: registered after the last update
    cols["c5"][1][6] = 9  # 7: out of range
    cols["c4"][1][7] = date(2099, 1, 1)  # 8: born in the future (and not as the ID says)
    cols["c7"][1][8] = "not-an-email"  # 9
    cols["c10"][1][9] = "441900009"  # 10: not in the reference table, not an allowed value
    ids[11] = ids[10] = make_id(99)  # 11, 12: one person twice (99 is odd: male; row 12 says female)
    cols["c2"][1][11] = cols["c2"][1][10]
    cols["c3"][1][10], cols["c3"][1][11] = "1", "2"
    cols["c4"][1][10] = cols["c4"][1][11] = date(1985, 3, 12)
    cols["c4"][1][10] = date(1985, 3, 13)  # 11: birth date differs from the ID's digits 7–14 …
    cols["c4"][1][11] = cols["c4"][1][10]  # … and 12 the same, so (姓名, 出生日期) repeats too
    return cols


def test_R_GOV_1_each_kind_catches_its_defect_and_passes_clean_data(tmp_path):
    ref = ref_table(tmp_path)
    cases = rules_with(ref)
    specs = [s for s, _ in cases]
    clean = run(snapshot(tmp_path / "clean.parquet", clean_columns()), specs, tmp_path / "out-clean",
                keys=["c1"], labels=LABELS, today=date(2026, 12, 1))
    for (spec, _rows), o in zip(cases, clean, strict=True):
        assert o.ran, (spec.key, o.error)
        assert o.checked > 0 and o.failed == 0 and o.failing_path is None, (spec.key, o.sample)
    bad = run(snapshot(tmp_path / "bad.parquet", planted()), specs, tmp_path / "out", keys=["c1"], labels=LABELS,
              today=date(2026, 12, 1))
    for (spec, rows), o in zip(cases, bad, strict=True):
        assert o.ran, (spec.key, o.error)
        found = set(pl.read_parquet(o.failing_path)["_row"].to_list()) if o.failing_path else set()
        assert found == rows, (spec.key, found, rows)
        assert o.checked - o.passed == len(rows) and o.sample and o.sample[0]["_row"] == min(rows)
    by_key = {s.key: o for s, o in zip(specs, bad, strict=True)}
    assert (by_key["required"].checked, by_key["format"].checked) == (N, N - 1)  # B: all rows / filled values
    assert by_key["ric"].sample[0]["应为校验位"] == make_id(1)[-1]
    assert by_key["unique"].sample[0]["重复次数"] == 2


@pytest.mark.parametrize("in_memory", [True, False], ids=["reference-as-set", "reference-in-duckdb"])
def test_R_GOV_1_reference_data_small_as_a_set_large_in_duckdb_same_answer(tmp_path, monkeypatch, in_memory):
    """A small reference table is checked inside the streaming pass (is_in), a large one by DuckDB's anti-join:
    the same failing rows either way."""
    monkeypatch.setattr(engine_kinds, "REFERENCE_IN_MEMORY", 1_000_000 if in_memory else 0)
    spec = RuleSpec("reference", "reference", ("c10",), {"ref_path": str(ref_table(tmp_path)), "ref_column": "r1"})
    (o,) = run(snapshot(tmp_path / "bad.parquet", planted()), [spec], tmp_path / "out", keys=["c1"], labels=LABELS,
               today=date(2026, 12, 1))
    assert o.ran and o.checked - o.passed == 1, (o.error, o.checked, o.passed)
    assert pl.read_parquet(o.failing_path)["_row"].to_list() == [10]


def _valid_ric(v: str) -> bool:
    """python-stdnum's GB 11643, with the region code in use at some time from the year of birth on (stdnum wants
    it in use in that very year: numbers issued in 1984-1999 to people born earlier carry the codes of then)."""
    def as_stored(x: str) -> bool:  # a value is valid as stored: stdnum strips spaces and upper-cases first
        return ric.is_valid(x) and ric.compact(x) in (x, x.upper())
    if as_stored(v):
        return True
    if len(v) != 18 or not v[:17].isdigit() or v[17] != ric.calc_check_digit(v[:17] + "0"):
        return False
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False

    def in_year(y: int) -> bool:
        body = f"{v[:6]}{y}0101{v[14:17]}"
        return ric.is_valid(body + ric.calc_check_digit(body + "0"))
    return any(in_year(y) for y in range(born.year, 2027))


def test_R_GOV_1_checksums_agree_with_python_stdnum(tmp_path):
    """GB 11643 and GB 32100, computed vectorised (Polars), decide as python-stdnum does on a mixed sample —
    except that a citizen ID's region code may date from after the birth (see ``_valid_ric``)."""
    # 110105 (朝阳区) exists in every year; 440106 (天河区) only since 1985: stdnum refuses IDs born in 1950 there,
    # the rule accepts them (issued later, with the code of then)
    ids = [make_id(i * 37, region="110105" if i % 3 else "440106") for i in range(1, 80)]
    wrong = [x[:-1] + "0123456789X"[(("0123456789X".index(x[-1])) + k) % 11] for k, x in enumerate(ids, 1)]
    odd = ["44010619850312001", "4401061985031200123", "440106198502300017", "000000198503120017",
           "11010519491231002x", "11010519491231002X", "abcdefghijklmnopqr", "", " 440106198503120015"]
    digits = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(60)]
    noise = ["440106" + str(int(h, 16))[:11] + "0123456789X"[i % 11] for i, h in enumerate(digits)]
    sample = ids + wrong + odd + noise + [make_id(5, region="110201", birth="19900101")]
    codes = [make_uscc(i) for i in range(1, 60)]
    codes += [c[:-1] + ("Y" if c[-1] != "Y" else "0") for c in codes[:30]] + ["91110000600037341L", "A1110000600037341L",
                                                                                 "9111000060003734IL", "12345"]
    path = snapshot(tmp_path / "ids.parquet", {"c1": ("C", sample + [None] * (len(codes) - len(sample))
                                                      if len(codes) > len(sample) else sample),
                                               "c2": ("C", codes + [None] * (max(len(sample), len(codes)) - len(codes)))})
    a, b = run(path, [RuleSpec("ric", "checksum", ("c1",), {"scheme": "ric"}),
                      RuleSpec("uscc", "checksum", ("c2",), {"scheme": "gb32100"})], tmp_path / "out")
    failing_ids = set(pl.read_parquet(a.failing_path)["c1"].to_list())
    assert failing_ids == {v for v in sample if v.strip() and not _valid_ric(v)}
    assert (a.checked, a.passed) == (len(sample) - 1, sum(_valid_ric(v) for v in sample))  # the blank one is not checked
    assert a.passed > 40
    # born in 1950 with 440106 (a code since 1985): stdnum refuses it, the rule accepts it
    born_before = [v for v in ids if v.startswith("440106") and not ric.is_valid(v)]
    assert born_before and not failing_ids & set(born_before)
    # born in 1990 with 110201 (abolished in 1982): refused by both
    assert make_id(5, region="110201", birth="19900101") in failing_ids
    failing_codes = set(pl.read_parquet(b.failing_path)["c2"].to_list())
    assert failing_codes == {c for c in codes if not uscc.is_valid(c)} and len(failing_codes) == 33


def test_R_GOV_1_failing_rows_file_holds_row_key_and_values(tmp_path):
    path = snapshot(tmp_path / "s.parquet", planted())
    (o,) = run(path, [RuleSpec("range:家庭人口数", "range", ("c5",), {"min": 1, "max": 5})], tmp_path / "q",
               keys=["c1"], labels=LABELS)
    assert o.failing_path == tmp_path / "q" / file_name("range:家庭人口数")
    rows = pl.read_parquet(o.failing_path).to_dicts()
    assert rows == [{"_row": 7, "公民身份号码": make_id(7), "家庭人口数": 9}]
    assert (o.checked, o.passed, o.ratio) == (N, N - 1, (N - 1) / N)


def test_R_GOV_1_a_rule_that_cannot_run_says_why_and_the_others_run(tmp_path):
    path = snapshot(tmp_path / "s.parquet", planted())
    out = run(path, [
        RuleSpec("missing", "required", ("c99",)),
        RuleSpec("regex", "pattern", ("c2",), {"regex": "([a-z"}),
        RuleSpec("types", "row_rule", ("c4", "c5"), {"check": "compare", "op": "<"}),
        RuleSpec("ref", "reference", ("c10",), {"ref_path": str(tmp_path / "gone.parquet"), "ref_column": "x"}),
        RuleSpec("kind", "no_such_kind", ("c1",)),
        RuleSpec("range", "range", ("c4",), {"min": "yesterday"}),
        RuleSpec("ok", "required", ("c2",)),
    ], tmp_path / "q")
    *broken, ok = out
    for o in broken:
        assert not o.ran and o.error and o.error_en and o.checked == 0, o
    assert "c99" in broken[0].error and "unclosed" in broken[1].error_en
    assert "类型不同" in broken[2].error and "no data version" in broken[3].error_en
    assert ok.ran and (ok.checked, ok.failed) == (N, 1)


def test_R_GOV_1_accessible_and_fresh(tmp_path):
    path = snapshot(tmp_path / "s.parquet", clean_columns())
    sm3 = file_sm3(path)
    ok, bad_sm3, bad_rows, fresh, late = run(path, [
        RuleSpec("a", "accessible", (), {"sm3": sm3, "rows": N}),
        RuleSpec("b", "accessible", (), {"sm3": "0" * 64}),
        RuleSpec("c", "accessible", (), {"sm3": sm3, "rows": N + 1}),
        RuleSpec("f", "freshness", (), {"next_due": "2026-12-01"}),
        RuleSpec("g", "freshness", (), {"next_due": "2026-11-20", "grace_days": 3}),
    ], tmp_path / "q", today=date(2026, 12, 1))
    assert (ok.checked, ok.passed, bad_sm3.passed, bad_rows.passed) == (1, 1, 0, 0)
    assert "SM3" in bad_sm3.sample[0]["问题"]
    assert (fresh.checked, fresh.passed, late.passed) == (1, 1, 0) and late.sample[0]["逾期天数"] == 11
    (missing,) = run(tmp_path / "nowhere.parquet", [RuleSpec("a", "accessible", (), {"sm3": sm3})], tmp_path / "q")
    assert (missing.checked, missing.passed) == (1, 0)


@pytest.mark.parametrize("batch_rows", [5, 1000])
def test_R_GOV_1_batches_do_not_change_the_answer(tmp_path, batch_rows):
    """The streaming pass in small slices finds the same rows as in one (whole-data rules joined per slice)."""
    ref = ref_table(tmp_path)
    cases = rules_with(ref)
    out = run(snapshot(tmp_path / "bad.parquet", planted()), [s for s, _ in cases], tmp_path / "out",
              keys=["c1"], labels=LABELS, today=date(2026, 12, 1), batch_rows=batch_rows)
    assert [set(pl.read_parquet(o.failing_path)["_row"]) if o.failing_path else set() for o in out] == \
        [rows for _, rows in cases]
