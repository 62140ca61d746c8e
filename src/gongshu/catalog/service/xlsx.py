"""Read the cell values of an .xlsx workbook quickly (read-only, values only).

openpyxl builds several Python objects per cell, and parses inline strings (what openpyxl
itself writes) through its descriptor machinery; for imports of tens of thousands of rows
that is most of the time.  This reader walks each sheet's XML with the C parser and keeps
only the values, the same values openpyxl's read-only ``iter_rows(values_only=True)`` gives
with ``data_only=True``: numbers (int or float), text from shared or inline strings (rich text
runs joined, phonetic guides left out), booleans, dates and times by the cell's number format
(1900 or 1904 date system), cached results of formulas, error codes as text (``#N/A``).
One difference: the Chinese built-in date formats (ids 27–36 and 50–58, which Excel and WPS
use for 年月日 dates) are read as dates, where openpyxl leaves the serial number.

Damaged or foreign files raise :class:`XlsxError`; callers turn it into a message for the user.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError, fromstring, iterparse

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel, from_ISO8601

_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_DOC_REL = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships",
            "http://purl.oclc.org/ooxml/officeDocument/relationships")
_MAIN = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main", "http://purl.oclc.org/ooxml/spreadsheetml/main")
_CJK_DATES = frozenset(range(27, 37)) | frozenset(range(50, 59))
_DIGITS = "0123456789"


class XlsxError(Exception):
    """The bytes are not a readable .xlsx workbook."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(el: Element, name: str) -> Iterator[Element]:
    return (c for c in el if _local(c.tag) == name)


def _text_of(el: Element) -> str:
    """The text of a string item (``<si>`` or ``<is>``): plain text and rich text runs, not phonetic guides."""
    out = []
    for child in el:
        name = _local(child.tag)
        if name == "t":
            out.append(child.text or "")
        elif name == "r":
            out.extend(t.text or "" for t in _children(child, "t"))
    return "".join(out)


class Workbook:
    """The sheets of a workbook; :meth:`rows` reads one sheet's rows on demand."""

    def __init__(self, data: bytes) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            self._open()
        except XlsxError:
            raise
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, OSError, ParseError,
                EOFError, NotImplementedError, RuntimeError) as exc:
            raise XlsxError(str(exc)) from exc

    def _xml(self, path: str) -> Element:
        return fromstring(self._zip.read(path))

    def _rels(self, path: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type suffix, part path) for the part at ``path``."""
        folder, name = posixpath.split(path)
        rels_path = posixpath.join(folder, "_rels", name + ".rels")
        if rels_path not in self._zip.NameToInfo:
            return {}
        out = {}
        for rel in self._xml(rels_path).iter(_PKG_REL):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External":
                continue
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id", "")] = (rel.get("Type", "").rpartition("/")[2], part)
        return out

    def _open(self) -> None:
        top = self._rels("")
        book = next((p for t, p in top.values() if t == "officeDocument"), "xl/workbook.xml")
        rels = self._rels(book)
        root = self._xml(book)
        ns = root.tag[1:].partition("}")[0]
        if ns not in _MAIN:
            raise XlsxError(f"not a spreadsheet: {root.tag}")
        pr = next(_children(root, "workbookPr"), None)
        self.epoch = CALENDAR_MAC_1904 if pr is not None and pr.get("date1904") in ("1", "true") \
            else CALENDAR_WINDOWS_1900
        self._sheets: dict[str, str] = {}
        for sheets in _children(root, "sheets"):
            for sheet in _children(sheets, "sheet"):
                rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id") and k[1:].startswith(_DOC_REL)),
                           None)
                if rid in rels and rels[rid][0] == "worksheet":
                    self._sheets[sheet.get("name", "")] = rels[rid][1]
        self.sheetnames = list(self._sheets)
        self._strings: list[str] = []
        self._dates: set[int] = set()
        self._durations: set[int] = set()
        for kind, part in rels.values():
            if kind == "sharedStrings":
                self._strings = self._read_strings(part)
            elif kind == "styles":
                self._read_styles(part)

    def _read_strings(self, part: str) -> list[str]:
        out = []
        with self._zip.open(part) as src:
            for _, el in iterparse(src):
                if _local(el.tag) == "si":
                    out.append(_text_of(el))
                    el.clear()
        return out

    def _read_styles(self, part: str) -> None:
        root = self._xml(part)
        custom = {int(f.get("numFmtId", "-1")): f.get("formatCode", "")
                  for fmts in _children(root, "numFmts") for f in _children(fmts, "numFmt")}
        for xfs in _children(root, "cellXfs"):
            for idx, xf in enumerate(_children(xfs, "xf")):
                fmt_id = int(xf.get("numFmtId", "0"))
                fmt = custom.get(fmt_id, BUILTIN_FORMATS.get(fmt_id))
                if fmt_id not in custom and fmt_id in _CJK_DATES:
                    self._dates.add(idx)
                elif fmt and is_date_format(fmt):
                    self._dates.add(idx)
                    if is_timedelta_format(fmt):
                        self._durations.add(idx)

    def rows(self, sheet: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(row number, values)`` for each row the sheet stores, in order; ``values[i]`` is column i+1
        (None for an empty cell; trailing empty cells are not included)."""
        try:
            yield from self._rows(self._sheets[sheet])
        except (KeyError, ValueError, TypeError, IndexError, OSError, ParseError, EOFError, OverflowError,
                zipfile.BadZipFile) as exc:
            raise XlsxError(str(exc)) from exc

    def _rows(self, part: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
        strings, dates, durations, epoch = self._strings, self._dates, self._durations, self.epoch
        columns: dict[str, int] = {}
        row_tag = cell_tag = v_tag = is_tag = t_tag = ""
        last = 0
        with self._zip.open(part) as src:
            for _, el in iterparse(src):
                tag = el.tag
                if tag != row_tag:
                    if not row_tag and _local(tag) == "row":
                        ns = tag[:-3]
                        row_tag, cell_tag, v_tag, is_tag, t_tag = tag, ns + "c", ns + "v", ns + "is", ns + "t"
                    else:
                        continue
                r = el.get("r")
                last = int(r) if r else last + 1
                values: list[Any] = []
                for c in el:
                    if c.tag != cell_tag:
                        continue
                    ref = c.get("r")
                    if ref:
                        letters = ref.rstrip(_DIGITS)
                        col = columns.get(letters)
                        if col is None:
                            col = columns[letters] = column_index_from_string(letters)
                    else:
                        col = len(values) + 1
                    t = c.get("t")
                    if t == "inlineStr":
                        inline = c.find(is_tag)
                        if inline is None:
                            value = None
                        elif len(inline) == 1 and inline[0].tag == t_tag:  # plain text, no runs
                            value = inline[0].text or ""
                        else:
                            value = _text_of(inline)
                    else:
                        value = c.findtext(v_tag) or None
                        if value is not None:
                            if t is None or t == "n":
                                value = float(value) if "." in value or "E" in value or "e" in value else int(value)
                                style = c.get("s")
                                if style and int(style) in dates:
                                    try:
                                        value = from_excel(value, epoch, timedelta=int(style) in durations)
                                    except (OverflowError, ValueError):
                                        value = "#VALUE!"  # a serial outside the calendar, as openpyxl reads it
                            elif t == "s":
                                value = strings[int(value)]
                            elif t == "b":
                                value = bool(int(value))
                            elif t == "d":
                                value = from_ISO8601(value)
                            # "str" (a formula's text) and "e" (an error code) stay as they are
                    if col > len(values) + 1:
                        values.extend([None] * (col - len(values) - 1))
                    if col == len(values) + 1:
                        values.append(value)
                    else:
                        values[col - 1] = value
                el.clear()
                yield last, tuple(values)

    def close(self) -> None:
        self._zip.close()
