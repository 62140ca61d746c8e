"""Vectorised validation: every rule with its message, cross-checked against python-stdnum (R-AGG-3)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from gongshu.errors import Invalid
from gongshu.ingest.service.codes import CODE_TABLES, code_table_for, division_codes
from gongshu.ingest.service.validate import (
    REJECT_SCHEMA,
    RULES,
    USCC_ALPHABET,
    ItemRule,
    LoadSpec,
    check_header,
    output_schema,
    validate_batch,
)

ID = "11010519491231002X"


def _item(column, label, type="C", length=None, required=False, check=None, code=None) -> ItemRule:
    return ItemRule(column=column, label=label, type=type, length=length, required=required, key=required,
                    check=check, code_table=code)


def _run(items: list[ItemRule], **values: list) -> tuple[list[dict], list[dict]]:
    n = len(next(iter(values.values())))
    cols = {label: pa.array(v, pa.large_string()) for label, v in values.items()}
    cols["_row"] = pa.array(range(2, n + 2), pa.int64())
    spec = LoadSpec(items=tuple(items), filename="p.csv")
    valid, rejects = validate_batch(pa.RecordBatch.from_pydict(cols), spec)
    assert valid.schema == output_schema(spec)
    assert rejects.schema == REJECT_SCHEMA
    return valid.to_pylist(), rejects.to_pylist()


def test_r_agg_3_citizen_id_rules_and_messages():
    items = [_item("c1", "公民身份号码", length=18, required=True, check="ric")]
    ids = [ID, "110105194912310025", "11010519491231002x", "1101051949123100", "999999194912310021",
           "110105189912310023", "110105202013310028", None]
    valid, rej = _run(items, 公民身份号码=ids)
    assert [(v["_row"], v["c1"]) for v in valid] == [(2, ID), (4, ID)]  # lower-case x is normalised
    got = {(r["_row"], r["rule"]) for r in rej}
    assert got == {(3, "ric_checksum"), (5, "ric_format"), (6, "ric_region"), (6, "ric_checksum"),
                   (7, "ric_birth"), (7, "ric_checksum"), (8, "ric_birth"), (8, "ric_checksum"),
                   (9, "required")} - _wrong(ids)
    by = {(r["_row"], r["rule"]): r for r in rej}
    assert by[(3, "ric_checksum")]["message"] == "公民身份号码校验码错误：应为 X，实为 5"
    assert by[(3, "ric_checksum")]["message_en"] == "公民身份号码: wrong check character, expected X, got 5"
    assert "999999" in by[(6, "ric_region")]["message"] and "GB/T 2260" in by[(6, "ric_region")]["message"]
    assert "18991231" in by[(7, "ric_birth")]["message"]
    assert by[(9, "required")]["value"] == "" and by[(3, "ric_checksum")]["value"] == "110105194912310025"


def _wrong(ids: list) -> set:
    """Checksum rows whose check character happens to be right (computed with stdnum, not our code)."""
    out = set()
    for row, v in enumerate(ids, start=2):
        if v and len(v) == 18 and v[:17].isdigit() and ric.calc_check_digit(v) == v[17].upper():
            out.add((row, "ric_checksum"))
    return out


def test_r_agg_3_birth_date_in_the_future_is_rejected():
    tomorrow = (date.today() + timedelta(days=1)).strftime("%Y%m%d")
    base = "110105" + tomorrow + "002"
    valid, rej = _run([_item("c1", "身份证号", check="ric")], 身份证号=[base + ric.calc_check_digit(base + "0")])
    assert not valid and [r["rule"] for r in rej] == ["ric_birth"]


def test_r_agg_3_uscc_rules():
    items = [_item("c1", "统一社会信用代码", check="uscc")]
    valid, rej = _run(items, 统一社会信用代码=["91110000600037341L", "91110000600037341l", "91110000600037341M",
                                                "9111000060003734IL", "123", " 91110000600037341L "])
    assert [v["c1"] for v in valid] == ["91110000600037341L"] * 3
    assert [(r["_row"], r["rule"]) for r in rej] == [(4, "uscc_checksum"), (5, "uscc_format"), (6, "uscc_format")]
    assert rej[0]["message"] == "统一社会信用代码校验码错误：应为 L，实为 M"
    assert "I、O、S、V、Z" in rej[1]["message"]


def test_r_agg_3_types_dates_length_required_and_codes():
    items = [_item("c1", "姓名", length=3, required=True), _item("c2", "性别", code="gender"),
             _item("c3", "出生日期", "D"), _item("c4", "登记时间", "T"), _item("c5", "收入", "Y"),
             _item("c6", "人数", "I"), _item("c7", "比例", "N"), _item("c8", "在世", "L"), _item("c9", "照片", "G")]
    valid, rej = _run(
        items,
        姓名=[" 张三 ", "欧阳娜娜", "  ", "李四"],
        性别=["1", "3", "2", None],
        出生日期=["2020-01-05", "20200230", "2020/1/5", "x"],
        登记时间=["2020-01-05 10:11:12", "2020-01-05T10:11:12.5", "2020-13-01 00:00:00", None],
        收入=["1.5", "1.234", "-0", "1,000"],
        人数=["3", "3.0", " 4 ", "x"],
        比例=["0.5", "abc", "1e3", "inf"],
        在世=["是", "maybe", "FALSE", "N"],
        照片=["aGVsbG8=", "!!", None, None],
    )
    assert valid == [{"_row": 2, "c1": "张三", "c2": "1", "c3": date(2020, 1, 5), "c4": datetime(2020, 1, 5, 10, 11, 12),
                      "c5": Decimal("1.50"), "c6": 3, "c7": 0.5, "c8": True, "c9": b"hello"}]
    got = sorted((r["_row"], r["field"], r["rule"]) for r in rej)
    assert got == sorted([
        (3, "姓名", "length"), (3, "性别", "code"), (3, "出生日期", "date"), (3, "收入", "type"), (3, "人数", "type"),
        (3, "比例", "type"), (3, "在世", "type"), (3, "照片", "type"),
        (4, "姓名", "required"), (4, "登记时间", "date"),
        (5, "出生日期", "date"), (5, "收入", "type"), (5, "人数", "type"), (5, "比例", "type")])
    msg = {(r["_row"], r["rule"], r["field"]): r["message"] for r in rej}
    assert msg[(3, "length", "姓名")] == "姓名长度为 4 个字符，超过规定的 3"
    assert msg[(3, "code", "性别")] == "性别的代码“3”不在人的性别代码（GB/T 2261.1）中"
    assert msg[(4, "required", "姓名")] == "姓名为必填项，不能为空"
    assert "2020-13-01" in msg[(4, "date", "登记时间")]
    assert {r["rule"] for r in rej} <= set(RULES)


def test_r_agg_3_every_date_and_time_format_parses_whatever_its_neighbours():
    """R-AGG-3: the fast common format and each fallback format (parsed only on the rows the fast one
    left) give the same values as before, in any mix within one batch."""
    valid, rej = _run(
        [_item("c1", "登记时间", "T"), _item("c2", "出生日期", "D")],
        登记时间=["2020-01-05 10:11:12", "2020-01-05T10:11:12.25", "2020/1/5 10:11", "2020-01-05 10:11:61",
              "2020-01-05 25:00", "2020-01-05"],
        出生日期=["2020-01-05", "20200105", "2020/1/5", "2020-1-5", "20200230", "2020-02-30"])
    assert [(r["c1"], r["c2"]) for r in valid] == [
        (datetime(2020, 1, 5, 10, 11, 12), date(2020, 1, 5)),
        (datetime(2020, 1, 5, 10, 11, 12, 250000), date(2020, 1, 5)),
        (datetime(2020, 1, 5, 10, 11), date(2020, 1, 5)),
    ]
    got = sorted((r["_row"], r["field"], r["rule"]) for r in rej)
    assert got == [(5, "登记时间", "date"), (6, "出生日期", "date"), (6, "登记时间", "date"), (7, "出生日期", "date"),
                   (7, "登记时间", "date")]


def test_r_agg_3_long_values_are_truncated_in_rejects():
    valid, rej = _run([_item("c1", "备注", length=5)], 备注=["长" * 1000])
    assert not valid and len(rej[0]["value"]) == 200


def test_r_agg_3_check_header_names_missing_unknown_duplicate():
    spec = LoadSpec(items=(_item("c1", "姓名"), _item("c2", "性别")), filename="p.csv")
    check_header(["姓名", "性别"], spec)
    with pytest.raises(Invalid) as exc:
        check_header(["姓名", "姓名", "年龄"], spec)
    details = {(d["field"], d["problem"]) for d in exc.value.details}
    assert details == {("姓名", "duplicate_column"), ("性别", "missing_column"), ("年龄", "unknown_column")}
    assert "缺少列：性别" in exc.value.message and "missing columns: 性别" in exc.value.message_en


def test_output_schema_types():
    spec = LoadSpec(items=tuple(_item(f"c{i}", t, t) for i, t in enumerate("CNYDTLMGBIF")), filename="x")
    assert [str(f.type) for f in output_schema(spec)] == [
        "int64", "large_string", "double", "decimal128(18, 2)", "date32[day]", "timestamp[us]", "bool",
        "large_string", "binary", "double", "int64", "double"]


def test_code_tables():
    assert CODE_TABLES["gender"].label("1") == "男性" and "3" not in CODE_TABLES["gender"]
    assert CODE_TABLES["marital"].label("23") == "复婚" and CODE_TABLES["ethnicity"].label("56") == "基诺族"
    assert len(CODE_TABLES["ethnicity"].codes) == 58
    assert {"110101", "440305", "330105"} <= division_codes() and "999999" not in division_codes()
    assert code_table_for("性别", "") == "gender" and code_table_for("婚姻状况", "") == "marital"
    assert code_table_for("民族", "") == "ethnicity" and code_table_for("xb", "见 GB/T 2261.1") == "gender"
    assert code_table_for("户籍地行政区划代码", "") == "division" and code_table_for("姓名", "") is None


def _always_valid(region: str) -> bool:
    try:
        return all(ric.get_birth_place(f"{region}{y}01010000") for y in (1900, 1960, date.today().year))
    except Exception:
        return False


_REGIONS = [r for r in sorted(division_codes()) if _always_valid(r)]


@st.composite
def _valid_ric(draw) -> str:
    region = draw(st.sampled_from(_REGIONS))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date.today()))
    body = region + born.strftime("%Y%m%d") + f"{draw(st.integers(0, 999)):03d}"
    number = body + ric.calc_check_digit(body + "0")
    assume(ric.is_valid(number))  # stdnum also checks the region existed in the birth year
    return number


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_valid_ric(), min_size=1, max_size=20), st.data())
def test_r_agg_3_ric_agrees_with_stdnum(numbers, data):
    """Valid per stdnum -> accepted; any one-character change -> rejected by us and by stdnum."""
    mutated = []
    for n in numbers:
        pos = data.draw(st.integers(0, 17))
        ch = data.draw(st.sampled_from([c for c in "0123456789X" if c != n[pos] and (pos == 17 or c != "X")]))
        mutated.append(n[:pos] + ch + n[pos + 1:])
    valid, rej = _run([_item("c1", "公民身份号码", check="ric")], 公民身份号码=numbers + mutated)
    assert [v["c1"] for v in valid] == numbers
    assert {r["_row"] for r in rej} == set(range(len(numbers) + 2, 2 * len(numbers) + 2))
    assert not any(ric.is_valid(m) for m in mutated)


@st.composite
def _valid_uscc(draw) -> str:
    alpha = st.sampled_from(USCC_ALPHABET)
    body = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=8, max_size=8)))
    body += "".join(draw(st.lists(alpha, min_size=9, max_size=9)))
    return body + uscc.calc_check_digit(body)


@settings(max_examples=30, deadline=None)
@given(st.lists(_valid_uscc(), min_size=1, max_size=20), st.data())
def test_r_agg_3_uscc_agrees_with_stdnum(codes, data):
    assert all(uscc.is_valid(c) for c in codes)
    mutated = []
    for c in codes:
        pos = data.draw(st.integers(0, 17))
        ch = data.draw(st.sampled_from([x for x in USCC_ALPHABET if x != c[pos]]))
        mutated.append(c[:pos] + ch + c[pos + 1:])
    valid, rej = _run([_item("c1", "统一社会信用代码", check="uscc")], 统一社会信用代码=codes + mutated)
    assert [v["c1"] for v in valid] == codes
    assert {r["_row"] for r in rej} == set(range(len(codes) + 2, 2 * len(codes) + 2))
    assert not any(uscc.is_valid(m) for m in mutated)


def test_r_agg_3_a_nul_character_is_refused_with_its_row_and_field():
    """NUL (0x00, the padding of fixed-width exports) cannot be stored by PostgreSQL and SQLite would keep it
    silently: it is refused by validation on both databases, naming the row and the item; slices of a column and
    columns without it are not affected."""
    items = [_item("c1", "姓名", length=30), _item("c2", "住址", length=100)]
    valid, rej = _run(items, 姓名=["张三", "李\x00四", "王五\x00\x00", None], 住址=["东湖街道1号"] * 4)
    assert [v["c1"] for v in valid] == ["张三", None]
    assert [(r["_row"], r["field"], r["rule"]) for r in rej] == [(3, "姓名", "nul_char"), (4, "姓名", "nul_char")]
    assert "空字符" in rej[0]["message"] and "NUL" in rej[0]["message_en"]
    # a slice whose NUL lies outside it: nothing to refuse
    batch = pa.RecordBatch.from_pydict({"姓名": pa.array(["甲", "乙\x00", "丙"], pa.large_string()),
                                        "住址": pa.array(["a", "b", "c"], pa.large_string()),
                                        "_row": pa.array([2, 3, 4], pa.int64())})
    spec = LoadSpec(items=tuple(items), filename="p.csv")
    good, bad = validate_batch(batch.slice(2, 1), spec)
    assert good.num_rows == 1 and bad.num_rows == 0
    good, bad = validate_batch(batch.slice(0, 2), spec)
    assert good.num_rows == 1 and bad.column("rule").to_pylist() == ["nul_char"]
