"""R-CAT-11: the fast workbook reader gives the values openpyxl gives, for files written the way Excel
and WPS write them (shared strings, styles, dates) as well as the way openpyxl writes them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import pytest
from openpyxl import load_workbook

from gongshu.catalog.service import transfer, workbook
from gongshu.catalog.service.xlsx import Workbook, XlsxError
from gongshu.errors import Invalid
from tests.catalog.helpers import cast, entry_in
from tests.catalog.test_transfer import book, imported

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"

STRINGS = f"""<sst xmlns="{MAIN}" count="5" uniqueCount="5">
<si><t>甲</t></si>
<si><r><rPr><b/></rPr><t>乙</t></r><r><t xml:space="preserve"> 丙 </t></r></si>
<si><t>户籍</t><rPh sb="0" eb="2"><t>HUJI</t></rPh></si>
<si><t/></si>
<si><t>a &amp; &lt;b&gt;</t></si>
</sst>"""

STYLES = f"""<styleSheet xmlns="{MAIN}">
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/><numFmt numFmtId="165" formatCode="0.00"/></numFmts>
<cellXfs count="6"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/>
<xf numFmtId="22"/><xf numFmtId="31"/></cellXfs>
</styleSheet>"""

SHEET = f"""<worksheet xmlns="{MAIN}" xmlns:r="{REL}"><dimension ref="A1:B2"/><sheetData>
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1"><v>42</v></c>
  <c r="D1"><v>3.5</v></c><c r="E1" t="n"><v>1E3</v></c><c r="F1" s="3"><v>7</v></c></row>
<row r="3"><c t="b"><v>1</v></c><c t="str"><f>A1&amp;"x"</f><v>甲x</v></c><c t="e"><v>#N/A</v></c>
  <c s="1"><v>46027</v></c><c s="2"><v>46027.5</v></c><c s="4"><v>46027.25</v></c></row>
<row r="4"><c r="C4" t="s"><v>2</v></c><c r="E4" t="s"><v>3</v></c><c r="AB4" t="inlineStr"><is><t>内联</t></is></c>
  <c r="AC4" t="inlineStr"><is><r><t>富</t></r><r><t>文本</t></r></is></c><c r="AD4" t="s"><v>4</v></c>
  <c r="AE4"/><c r="AF4" t="b"><v>0</v></c></row>
<row r="5"><c r="A5" s="5"><v>46027</v></c></row>
</sheetData><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells></worksheet>"""


def package(sheet: str = SHEET, *, date1904: bool = False) -> bytes:
    """A workbook laid out as Excel writes it: shared strings, a style sheet, two sheets."""
    parts = {
        "[Content_Types].xml": f"""<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT}.worksheet+xml"/>
<Override PartName="/xl/worksheets/sheet2.xml" ContentType="{CT}.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="{CT}.sharedStrings+xml"/>
<Override PartName="/xl/styles.xml" ContentType="{CT}.styles+xml"/></Types>""",
        "_rels/.rels": f"""<Relationships xmlns="{PKG}"><Relationship Id="rId1"
Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>""",
        "xl/workbook.xml": f"""<workbook xmlns="{MAIN}" xmlns:r="{REL}"><workbookPr{' date1904="1"' if date1904 else ''}/>
<sheets><sheet name="数据" sheetId="1" r:id="rId1"/><sheet name="空表" sheetId="2" r:id="rId2"/></sheets></workbook>""",
        "xl/_rels/workbook.xml.rels": f"""<Relationships xmlns="{PKG}">
<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="{REL}/worksheet" Target="/xl/worksheets/sheet2.xml"/>
<Relationship Id="rId3" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>
<Relationship Id="rId4" Type="{REL}/styles" Target="styles.xml"/></Relationships>""",
        "xl/sharedStrings.xml": STRINGS,
        "xl/styles.xml": STYLES,
        "xl/worksheets/sheet1.xml": sheet,
        "xl/worksheets/sheet2.xml": f'<worksheet xmlns="{MAIN}"><sheetData/></worksheet>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buf.getvalue()


def cells_fast(data: bytes, sheet: str) -> dict[tuple[int, int], object]:
    wb = Workbook(data)
    return {(r, c + 1): v for r, values in wb.rows(sheet) for c, v in enumerate(values) if v is not None}


def cells_openpyxl(data: bytes, sheet: str) -> dict[tuple[int, int], object]:
    ws = load_workbook(io.BytesIO(data), read_only=True, data_only=True)[sheet]
    ws.reset_dimensions()
    return {(r, c + 1): v for r, values in enumerate(ws.iter_rows(values_only=True), start=1)
            for c, v in enumerate(values) if v is not None}


@pytest.mark.parametrize("date1904", [False, True])
def test_reader_gives_openpyxls_values_for_an_excel_style_file_R_CAT_11(date1904):
    data = package(date1904=date1904)
    fast, slow = cells_fast(data, "数据"), cells_openpyxl(data, "数据")
    assert Workbook(data).sheetnames == ["数据", "空表"]
    cjk = fast.pop((5, 1))  # 年月日 built-in format 31: openpyxl leaves the serial number
    assert slow.pop((5, 1)) == 46027 and isinstance(cjk, datetime)
    assert fast == slow
    assert fast[(1, 2)] == "乙 丙 " and fast[(4, 3)] == "户籍" and fast[(4, 5)] == "" and fast[(4, 30)] == "a & <b>"
    assert fast[(3, 1)] is True and fast[(3, 2)] == "甲x" and fast[(3, 3)] == "#N/A" and fast[(4, 32)] is False
    assert (fast[(1, 3)], fast[(1, 5)], fast[(1, 6)]) == (42, 1000.0, 7)
    assert fast[(3, 4)] == datetime(2030 if date1904 else 2026, 1, 6 if date1904 else 5)
    assert fast[(3, 5)].hour == 12 and fast[(4, 28)] == "内联" and fast[(4, 29)] == "富文本"
    assert list(Workbook(data).rows("空表")) == []


def test_reader_gives_openpyxls_values_for_files_openpyxl_writes_R_CAT_11(f, db):
    c = cast(f)
    data = book(c.dept, entry_in(), entry_in(grade=None, sharing_type="无条件共享", sharing_condition=""))
    for sheet in ("信息资源", "信息项", "说明"):
        assert cells_fast(data, sheet) == cells_openpyxl(data, sheet)


@pytest.mark.parametrize("damage", [
    lambda s: s.replace("</sheetData>", ""),  # truncated XML
    lambda s: s.replace('<v>1</v></c><c r="C1">', '<v>99</v></c><c r="C1">'),  # shared string out of range
    lambda s: s.replace("<v>42</v>", "<v>4x2</v>"),  # not a number
])
def test_damaged_sheets_raise_a_reader_error_R_CAT_11(damage):
    with pytest.raises(XlsxError):
        list(Workbook(package(damage(SHEET))).rows("数据"))


def shared_strings(data: bytes) -> bytes:
    """Rewrite a workbook written by openpyxl (inline strings) the way Excel saves it (shared strings)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    table: dict[str, int] = {}

    def share(m: re.Match) -> str:
        idx = table.setdefault(m.group(3), len(table))
        return f'<c {m.group(1)}t="s"{m.group(2)}><v>{idx}</v></c>'

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            text = src.read(info).decode()
            if info.filename.startswith("xl/worksheets/"):
                text = re.sub(r'<c ([^>]*?)t="inlineStr"([^>]*)><is><t(?: [^>]*)?>(.*?)</t></is></c>', share, text)
                text = re.sub(r'<c ([^>]*?) ?t="inlineStr" ?/>', r"<c \1 />", text)  # empty text: an empty cell
            elif info.filename == "[Content_Types].xml":
                text = text.replace("</Types>", f'<Override PartName="/xl/sharedStrings.xml" '
                                                f'ContentType="{CT}.sharedStrings+xml"/></Types>')
            elif info.filename == "xl/_rels/workbook.xml.rels":
                text = text.replace("</Relationships>", f'<Relationship Id="rIdSST" Type="{REL}/sharedStrings" '
                                                        'Target="sharedStrings.xml"/></Relationships>')
            z.writestr(info.filename, text)
        z.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN}">'
                   + "".join(f"<si><t>{t}</t></si>" for t in table) + "</sst>")
    return out.getvalue()


def test_excel_style_workbook_imports_like_an_openpyxl_one_R_CAT_11(f, db):
    c = cast(f)
    a, b = entry_in(), entry_in(name="户籍迁入信息", grade=None)
    data = shared_strings(book(c.dept, a, b))
    assert b"inlineStr" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert cells_fast(data, "信息资源") == cells_openpyxl(data, "信息资源")
    report = transfer.import_workbook(db, actor=c.officer, data=data, filename="目录.xlsx")
    assert report.created == [a.code, b.code] and report.items == 10
    assert imported(db, a.code).sharing_basis == a.sharing_basis and imported(db, b.code).grade == "一般3"


def test_damaged_workbook_is_refused_with_a_message_R_CAT_11(f, db):
    c = cast(f)
    src = zipfile.ZipFile(io.BytesIO(book(c.dept, entry_in())))
    for damage in (lambda x: x[:len(x) // 2], lambda x: x.replace(b"<v>", b"<v>x")):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for info in src.infolist():
                part = src.read(info)
                z.writestr(info.filename, damage(part) if info.filename == "xl/worksheets/sheet2.xml" else part)
        with pytest.raises(Invalid) as exc:
            workbook.parse_workbook(out.getvalue())
        assert "损坏" in exc.value.message and exc.value.field == "file"
    with pytest.raises(Invalid) as exc:
        transfer.import_workbook(db, actor=c.officer, data=package())
    assert "缺少工作表" in exc.value.message and "数据" in exc.value.message
