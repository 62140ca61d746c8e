"""R-CAT-10: segmentation and pinyin tokens for the catalogue's full-text index (pure functions)."""

from __future__ import annotations

import jieba

from gongshu.kit import textsearch as ts


def tokens(**kw) -> list[str]:
    return ts.index_text(*kw.pop("texts", ()), **kw).split(" ")


def test_words_pinyin_and_initials_R_CAT_10():
    t = tokens(name="户籍人口基本信息")
    for word in ("户籍", "人口", "基本", "信息"):
        assert word in t
    assert "huji" in t and "hj" in t and "renkou" in t and "rk" in t
    # the whole name's initials and full pinyin, and those of every word-boundary suffix
    assert "hjrkjbxx" in t and "rkjbxx" in t and "jbxx" in t
    assert "hujirenkoujibenxinxi" in t and "renkoujibenxinxi" in t
    assert len(t) == len(set(t))  # deduplicated


def test_search_words_include_sub_words_R_CAT_10():
    t = tokens(texts=["住房公积金缴存信息"])
    assert {"住房公积金", "公积金", "公积", "gongjijin", "gjj"} <= set(t)
    # domain words stay whole, their parts are kept too
    t = tokens(texts=["统一社会信用代码"])
    assert {"统一社会信用代码", "统一", "社会", "信用", "代码", "tyshxydm"} <= set(t)
    assert "低保" in ts.cut("最低生活保障对象（低保户）名单") or "低保户" in ts.cut("低保户名单")
    # 人口 finds the 老年人口 and 残疾人口 names (jieba alone cuts 老年人/口), and 老年人 / 残疾人 still find them
    for name, person in (("户籍老年人口名单", "老年人"), ("残疾人口统计信息", "残疾人")):
        t = set(tokens(texts=[name]))
        assert {"人口", person, "renkou"} <= t, (name, t)


def test_latin_digits_and_punctuation_R_CAT_10():
    assert ts.cut("1010100/000001") == ["1010100", "000001"]
    assert ts.cut("ＧＢ／Ｔ 2260－2007") == ["gb", "t", "2260", "2007"]  # full width folded, lower case
    t = tokens(texts=["依据 GB11643，含 API 接口"])
    assert "gb11643" in t and "api" in t and "，" not in t and "" not in t
    assert all(tok.isalnum() for tok in t)


def test_stop_words_are_not_indexed_or_required_R_CAT_10():
    assert "的" not in tokens(texts=["全市的户籍人口"])
    assert [q.word for q in ts.query_terms("户籍和人口的信息")] == ["户籍", "人口", "信息"]
    assert [q.word for q in ts.query_terms("的")] == ["的"]  # nothing else: keep it rather than match all


def test_query_terms_and_expressions_R_CAT_10():
    terms = ts.query_terms("住房公积金 hj")
    assert terms[0].word == "住房公积金" and "公积金" in terms[0].pieces
    assert terms[1] == ts.QueryTerm("hj")
    fts = ts.fts5_query(terms)
    assert fts.startswith('("住房公积金"* OR ("住房"* AND') and fts.endswith(' AND "hj"*')
    tsq = ts.tsquery(terms)
    assert tsq.startswith("('住房公积金':* | ('住房':* &") and tsq.endswith(" & 'hj':*")
    # query syntax of either engine cannot get through: terms are letters and digits only
    for hostile in ('") OR NOT ("', "'x':* | !y", "a* NEAR(b)", "户籍\"*"):
        for t in ts.query_terms(hostile):
            assert t.word.isalnum() and all(p.isalnum() for p in t.pieces)
    assert ts.query_terms("  ，。 ") == []


def test_segmentation_is_private_and_deterministic_R_CAT_10():
    before = ts.index_text("市场监管局企业登记信息", name="不动产登记簿")
    jieba.add_word("局企业登")  # someone else changing jieba's global dictionary
    try:
        assert ts.index_text("市场监管局企业登记信息", name="不动产登记簿") == before
    finally:
        jieba.del_word("局企业登")
    assert ts.cut("户籍人口") == ts.cut("户籍人口") == ["户籍", "人口"]


def test_highlight_R_CAT_10():
    assert ts.highlight("户籍人口基本信息", ["人口"]) == [("户籍", False), ("人口", True), ("基本信息", False)]
    assert ts.highlight("户籍人口基本信息", ["hj"]) == [("户籍", True), ("人口基本信息", False)]
    assert ts.highlight("婚姻登记统计", ["婚姻"]) == [("婚姻", True), ("登记统计", False)]
    assert ts.highlight("数据", []) == [("数据", False)]
    long = "甲" * 100 + "户籍人口" + "乙" * 100
    window = ts.highlight(long, ["户籍"], limit=40)
    text = "".join(s for s, _ in window)
    assert text.startswith("…") and text.endswith("…") and ("户籍", True) in window and len(text) <= 44
