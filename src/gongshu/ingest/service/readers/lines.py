"""Which line of a text file each record starts on, as a text editor numbers them (R-AGG-3).

pyarrow's threaded CSV reader numbers nothing, skips blank lines and skips the rows handed back as
invalid, so the batches carry ``_row`` = the record's ordinal among the rows pyarrow yielded + 1. When a
load has something to report, :func:`csv_steps` maps those numbers to the physical line the record starts
on (1-based, header = line 1; ``\\n``, ``\\r\\n`` and a lone ``\\r`` end a line) and to its ordinal among
the file's data records (blank lines not counted, ragged rows counted) — the "data row".

* A quick check first (two byte counts over the memory-mapped file): when the file has exactly one line
  per record after the header, nothing moves and no map is built — the usual case.
* Otherwise a vectorised scan of the raw bytes, chunk by chunk: line breaks, quote parity (a break inside
  quotes is part of a value), commas outside quotes per logical row, blank and whitespace-only lines.
  GBK, GB18030 and UTF-8 never use the bytes 0x0A, 0x0D, 0x22 or 0x2C inside a multi-byte character, so
  the raw bytes are scanned whatever the encoding.
* The scan's counts (rows of the header's width, other non-blank rows) must equal what pyarrow reported.
  Quote parity is wrong where a quote stands inside an unquoted field (pyarrow keeps it as text); then the
  csv module reads the file once more, record by record, with the same rules as pyarrow. If that disagrees
  too, :func:`csv_steps` returns ``None`` and the caller keeps the record numbering and says so.

The map is a step function (:class:`Steps`): only the places where the offset between ``_row`` and the
line (or data row) changes are kept, so a regular file with a few blank lines costs a few entries.
"""

from __future__ import annotations

import csv
import mmap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

_CHUNK = 8 << 20
T = TypeVar("T")
_NL, _CR, _QUOTE, _COMMA = 10, 13, 34, 44


@dataclass
class Steps:
    """``line = _row + line_off`` and ``data row = _row - 1 + rec_off``, the offsets taken from the last
    entry of ``at`` (ascending ``_row`` values) at or before ``_row``; 0 before the first."""

    at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_off: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rec_off: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.asarray(rows, np.int64)
        if not len(self.at):
            return rows, rows - 1
        i = np.searchsorted(self.at, rows, side="right") - 1
        known = i >= 0
        i = np.where(known, i, 0)
        line_off = np.where(known, self.line_off[i], 0)
        rec_off = np.where(known, self.rec_off[i], 0)
        return rows + line_off, rows - 1 + rec_off


@dataclass
class Ragged:
    """Rows whose number of fields differs from the header's: at most ``cap`` listed, all counted."""

    lines: list[int] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    count: int = 0


@dataclass
class Layout:
    steps: Steps
    records: int  # rows with the header's number of fields (what pyarrow yields)
    invalid: int  # other non-blank rows (ragged, or only spaces when the header has several columns)
    ragged: Ragged
    unclosed: int | None  # the line an unclosed quote starts on


class _Builder:
    """Turns logical rows (after the header), in file order, into :class:`Steps` and the ragged rows."""

    def __init__(self, width: int, cap: int) -> None:
        self.width, self.cap = width, cap
        self.user = 0  # data records so far (blank lines not counted)
        self.rows = 0  # rows of the header's width so far
        self.invalid = 0
        self.last = (0, 0)
        self.at: list[np.ndarray] = []
        self.line_off: list[np.ndarray] = []
        self.rec_off: list[np.ndarray] = []
        self.ragged = Ragged()

    def add(self, line: np.ndarray, nonempty: np.ndarray, fields: np.ndarray, blank_ws: np.ndarray,
            text: Callable[[int], str]) -> None:
        """One block of logical rows: the line each starts on, whether it holds anything, its number of
        fields, whether it holds only spaces (such lines count as blank when the header has several
        columns), and how to get a row's text (asked for listed ragged rows only)."""
        if not len(line):
            return
        user = nonempty & ~blank_ws
        record = self.user + np.cumsum(user)
        kept = nonempty & (fields == self.width)
        self.invalid += int(np.count_nonzero(nonempty & (fields != self.width)))
        j = self.rows + np.arange(int(np.count_nonzero(kept)), dtype=np.int64)
        line_off = line[kept] - (j + 2)
        rec_off = record[kept] - (j + 1)
        if len(j):
            prev_line = np.concatenate([[self.last[0]], line_off[:-1]])
            prev_rec = np.concatenate([[self.last[1]], rec_off[:-1]])
            change = (line_off != prev_line) | (rec_off != prev_rec)
            self.at.append(j[change] + 2)
            self.line_off.append(line_off[change])
            self.rec_off.append(rec_off[change])
            self.last = (int(line_off[-1]), int(rec_off[-1]))
            self.rows += len(j)
        self.user = int(record[-1])
        ragged = np.flatnonzero(user & (fields != self.width))
        self.ragged.count += len(ragged)
        for i in ragged[:max(0, self.cap - len(self.ragged.lines))]:
            self.ragged.lines.append(int(line[i]))
            self.ragged.records.append(int(record[i]))
            self.ragged.columns.append(int(fields[i]))
            self.ragged.texts.append(text(int(i)))

    def layout(self, unclosed: int | None) -> Layout:
        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return Layout(Steps(cat(self.at), cat(self.line_off), cat(self.rec_off)), self.rows, self.invalid,
                      self.ragged, unclosed)


class _Mapped:
    """A file's bytes, memory-mapped (read from the page cache, no copy). ``done(upto)`` gives the pages
    before ``upto`` back, so a pass over a 1 GB file keeps a chunk or two resident, not the whole file."""

    def __init__(self, mm: mmap.mmap) -> None:
        self._mm = mm
        self.data = np.frombuffer(mm, np.uint8)

    def done(self, upto: int) -> None:
        upto -= upto % mmap.PAGESIZE
        if upto > 0 and hasattr(mmap, "MADV_DONTNEED"):
            self._mm.madvise(mmap.MADV_DONTNEED, 0, upto)


def _mapped(path: Path, work: Callable[[_Mapped], T]) -> T:
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return work(_Mapped(mm))
        finally:
            try:
                mm.close()
            except BufferError:  # an array still points into it (an exception's frames): closed when collected
                pass


def one_line_per_record(path: Path, records: int) -> bool:
    """True when the file has exactly ``records`` + 1 lines, not counting blank lines at its end: then,
    pyarrow having skipped nothing, every line after the header is one record (a blank line or a value
    over several lines would need more lines than that)."""
    if path.stat().st_size == 0:
        return False
    return _mapped(path, lambda mapped: _count_lines(mapped) == records + 1)


def _count_lines(mapped: _Mapped) -> int:
    """Physical lines, not counting blank lines at the end (-1 if there are very many of those)."""
    data = mapped.data
    end = len(data)
    while end and data[end - 1] in (_NL, _CR):
        end -= 1
        if len(data) - end > 4096:
            return -1  # many blank lines at the end: the scan handles them
    if not end:
        return 0
    lines = 1
    for lo in range(0, end, _CHUNK):
        chunk = data[lo:min(lo + _CHUNK, end)]
        lines += int(np.count_nonzero(chunk == _NL))
        crs = int(np.count_nonzero(chunk == _CR))
        if crs:
            ahead = data[lo + 1:min(lo + _CHUNK, end) + 1]  # a \r\n pair never straddles `end`
            lines += crs - int(np.count_nonzero((chunk[:len(ahead)] == _CR) & (ahead == _NL)))
        mapped.done(lo)
    return lines


def scan_bytes(path: Path, width: int, encoding: str, cap: int) -> Layout:
    """Logical rows by quote parity over the raw bytes (see the module docstring)."""
    build = _Builder(width, cap)
    return _mapped(path, lambda mapped: _scan(mapped, build, width, encoding))


def _scan(mapped: _Mapped, build: _Builder, width: int, encoding: str) -> Layout:
    data = mapped.data
    size = len(data)
    quotes = breaks = commas = 0
    start, start_line, header = 0, 1, True
    for lo in range(0, size, _CHUNK):
        mapped.done(lo - 1)  # the byte before the chunk is still looked at
        hi = min(lo + _CHUNK, size)
        b = data[lo:hi]
        br = np.flatnonzero(b == _NL)
        cr = np.flatnonzero(b == _CR)
        if len(cr):
            after = cr + 1 + lo
            nxt = np.zeros(len(cr), np.uint8)
            inside = after < size
            nxt[inside] = data[after[inside]]
            br = np.sort(np.concatenate([br, cr[nxt != _NL]]))
        br = br.astype(np.int64) + lo
        q = np.flatnonzero(b == _QUOTE).astype(np.int64) + lo
        ends = ((np.searchsorted(q, br) + quotes) & 1) == 0
        end = br[ends]
        end_line = breaks + np.flatnonzero(ends)  # 0-based index of each ending break among all breaks
        c = np.flatnonzero(b == _COMMA).astype(np.int64) + lo
        if len(q) or quotes & 1:
            c = c[((np.searchsorted(q, c) + quotes) & 1) == 0]
        per = np.bincount(np.searchsorted(end, c), minlength=len(end) + 1)
        quotes += len(q)
        breaks += len(br)
        if not len(end):
            commas += int(per[0])
            continue
        fields = per[:len(end)].astype(np.int64) + 1
        fields[0] += commas
        commas = int(per[len(end)])
        starts = np.concatenate([[start], end[:-1] + 1])
        lines = np.concatenate([[start_line], end_line[:-1] + 2])
        content_end = end - ((data[end] == _NL) & (end > 0) & (data[np.maximum(end - 1, 0)] == _CR))
        start, start_line = int(end[-1]) + 1, int(end_line[-1]) + 2
        if header:
            header = False
            starts, lines, fields, content_end = starts[1:], lines[1:], fields[1:], content_end[1:]
        _emit(build, data, starts, content_end, lines, fields, width, encoding)
    unclosed = start_line if quotes & 1 else None
    if start < size and not header:  # the last row, without a line break after it
        _emit(build, data, np.array([start]), np.array([size]), np.array([start_line]),
              np.array([commas + 1]), width, encoding)
    return build.layout(unclosed)


def _emit(build: _Builder, data: np.ndarray, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray,
          fields: np.ndarray, width: int, encoding: str) -> None:
    nonempty = ends > starts
    blank_ws = np.zeros(len(starts), bool)
    if width > 1:
        for i in np.flatnonzero(nonempty & (fields == 1)):
            blank_ws[i] = not data[starts[i]:ends[i]].tobytes().strip(b" \t")

    def text(i: int) -> str:
        raw = data[starts[i]:min(ends[i], starts[i] + 800)].tobytes()
        return raw.decode(encoding, errors="replace")[:200]
    build.add(lines, nonempty, fields, blank_ws, text)


def scan_records(path: Path, width: int, encoding: str, cap: int, field_limit: int) -> Layout:
    """Logical rows as the csv module reads them (quotes open a value only at its start, as in pyarrow);
    the raw bytes read as Latin-1, which keeps every structural byte where it is."""
    build = _Builder(width, cap)
    block: list[tuple[int, bool, int, bool, str]] = []
    csv.field_size_limit(max(csv.field_size_limit(), field_limit))

    def flush() -> None:
        if block:
            lines, nonempty, fields, blank_ws, texts = zip(*block, strict=True)
            build.add(np.array(lines), np.array(nonempty), np.array(fields), np.array(blank_ws),
                      lambda i: texts[i].encode("latin-1").decode(encoding, errors="replace")[:200])
            block.clear()
    with open(path, encoding="latin-1", newline="") as text:
        rows = csv.reader(text)
        try:
            if next(rows, None) is None:
                return build.layout(None)
            done = rows.line_num
            for values in rows:
                blank_ws = width > 1 and len(values) == 1 and not values[0].strip(" \t")
                ragged = bool(values) and len(values) != width
                block.append((done + 1, bool(values), len(values) if values else 1, blank_ws,
                              ",".join(values) if ragged else ""))
                done = rows.line_num
                if len(block) >= 100_000:
                    flush()
        except csv.Error as exc:
            raise ValueError(str(exc)) from None
        flush()
    return build.layout(None)  # the csv module does not tell an unclosed quote at the end apart


def csv_steps(path: Path, *, width: int, encoding: str, records: int, invalid: int, cap: int,
              field_limit: int) -> Layout | None:
    """The layout of a CSV file whose read yielded ``records`` rows and reported ``invalid`` others, or
    ``None`` when neither scan agrees with those counts."""
    if not invalid and one_line_per_record(path, records):
        return Layout(Steps(), records, 0, Ragged(), None)
    scans = (lambda: scan_bytes(path, width, encoding, cap),
             lambda: scan_records(path, width, encoding, cap, field_limit))
    for scan in scans:
        try:
            layout = scan()
        except (OSError, ValueError):
            continue
        if (layout.records, layout.invalid) == (records, invalid):
            return layout
    return None
