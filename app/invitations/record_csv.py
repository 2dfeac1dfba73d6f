"""Reading an uploaded CSV file of records, in two streamed passes.

``check`` reads the whole file once and refuses it as a whole (``CsvRefused``)
when it cannot be read as records at all: not UTF-8, no usable header, no
``email`` column, too many rows. ``rows`` then reads it again and yields one
``CsvRow`` per record with the physical line it starts on, so the caller can
accept or refuse each row and say where it is. Neither pass holds the file:
lines are read one at a time, and one row holds at most ``MAX_ROW_BYTES``.
No database access here; accepting a record is the caller's business.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from app.platform import i18n, sheet_csv

BOM = b"\xef\xbb\xbf"
DELIMITERS = (";", ",")
# What other programs separate columns with; a header split by one of these
# is a file saved with the wrong separator, not a one-column file.
FOREIGN_DELIMITERS = ("\t", "|")
# No real record comes near this; it bounds what one row holds in memory,
# however the file is broken (an unclosed quote, a file without newlines).
MAX_ROW_BYTES = 64 * 1024
KNOWN_COLUMNS = ("email", "name", "language", "event", "event_at", "external_id")
CODES = (
    "bad_encoding",
    "no_header",
    "missing_email_column",
    "bad_delimiter",
    "too_many_rows",
    "duplicate_column",
    "empty",
)
# What can be wrong with one row's structure (``CsvRow.problem``):
TOO_MANY_CELLS = "too_many_cells"  # a value in a column the header does not name
MALFORMED = "malformed"  # quotes that do not pair up
TOO_LONG = "too_long"  # longer than MAX_ROW_BYTES
PROBLEMS = (TOO_MANY_CELLS, MALFORMED, TOO_LONG)

_LONE_CR = re.compile(r"(?<=\r)(?!\n)")
_LINE_BREAKS = re.compile(rb"\r\n|\r|\n")


class CsvRefused(ValueError):
    """The file cannot be read as records. ``code`` is one of ``CODES``,
    ``line`` the physical line (header = 1) where that showed, if one did.
    ``key`` and ``params`` give the message in any language (``csv.<code>``
    in app.platform.i18n); ``str()`` is the English one."""

    def __init__(self, code: str, line: int | None = None, **params: Any) -> None:
        self.code = code
        self.line = line
        self.params: dict[str, Any] = dict(params)
        if line is not None:
            self.params["line"] = line
        super().__init__(i18n.translate("en", self.key, **self.params))

    @property
    def key(self) -> str:
        return f"csv.{self.code}"


@dataclass(frozen=True)
class CsvLayout:
    """What ``check`` found. ``columns`` are the header's names, stripped and
    lower-cased, in order; ``""`` marks a column the header leaves unnamed
    (unnamed columns at the end are dropped). ``rows`` counts the records
    ``rows`` will yield, blank lines not included."""

    delimiter: str
    columns: tuple[str, ...]
    rows: int
    bom: bool


@dataclass(frozen=True)
class CsvRow:
    """One record of the file. ``line`` is the physical line it starts on
    (header = 1; a quoted cell with newlines makes a row span several lines).
    ``values`` has every named column, stripped, ``""`` where empty.

    ``problem`` is None for a well-formed row, else one of ``PROBLEMS``: the
    caller refuses the row with that reason and its line. A ``malformed`` or
    ``too_long`` row has no values; reading goes on at the next line.
    """

    line: int
    values: dict[str, str]
    problem: str | None = None

    def record(self) -> dict[str, object]:
        """The row as the API's JSON record: known columns at the top, the
        others under ``properties``, empty cells left out."""
        record: dict[str, object] = {}
        properties: dict[str, str] = {}
        for column, value in self.values.items():
            if not value:
                continue
            if column in KNOWN_COLUMNS:
                record[column] = value
            else:
                properties[column] = value
        if properties:
            record["properties"] = properties
        return record


class _RowTooLong(Exception):
    """Raised through the csv reader to end a row past MAX_ROW_BYTES."""


class _Lines:
    """The file's physical lines as text, for the csv reader, counted as an
    editor counts them (``\\r\\n``, ``\\n`` and a lone ``\\r`` each end one).

    Each line is decoded on its own: a line ends at a byte that is never part
    of a multi-byte UTF-8 character, so strict decoding per line finds the
    first line that is not UTF-8."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.number = 0  # lines handed out so far
        self.bom = False
        self._pieces: deque[str] = deque()
        self._row_bytes = 0

    def __iter__(self) -> _Lines:
        return self

    def begin_row(self) -> None:
        self._row_bytes = 0

    def __next__(self) -> str:
        while not self._pieces:  # a file of just a BOM reads as no piece
            self._read()
        self.number += 1
        return self._pieces.popleft()

    def _read(self) -> None:
        room = MAX_ROW_BYTES - self._row_bytes
        raw = self.file.readline(room + 1)
        if not raw:
            raise StopIteration
        if self.number == 0 and raw.startswith(BOM):
            self.bom = True
            raw = raw[len(BOM) :]
        if len(raw) > room:
            self._skip_rest(raw)
            self.number += 1
            raise _RowTooLong
        self._row_bytes += len(raw)
        # UTF-16 looks like valid UTF-8 with a zero byte beside every letter.
        nul = raw.find(b"\0")
        try:
            if nul >= 0:
                raise UnicodeDecodeError("utf-8", raw, nul, nul + 1, "zero byte")
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            breaks = len(_LINE_BREAKS.findall(raw, 0, error.start))
            raise CsvRefused("bad_encoding", self.number + 1 + breaks) from None
        self._pieces.extend(piece for piece in _LONE_CR.split(text) if piece)

    def _skip_rest(self, raw: bytes) -> None:
        while raw and not raw.endswith(b"\n"):
            raw = self.file.readline(MAX_ROW_BYTES)


def _blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _reader(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    # strict: a stray quote is a malformed row, not a silently merged cell.
    return csv.reader(lines, delimiter=delimiter, strict=True, skipinitialspace=True)


# What spreadsheets in the wild call the address column.
EMAIL_ALIASES = frozenset({"e-mail", "e_mail", "mail", "email address", "e-mail address"})


def _column(cell: str) -> str:
    name = cell.strip().lower()
    return "email" if name in EMAIL_ALIASES else name


def _split(text: str, delimiter: str) -> list[str] | None:
    try:
        return [_column(cell) for cell in next(_reader([text], delimiter))]
    except csv.Error:
        return None


def _header(lines: _Lines) -> tuple[str, tuple[str, ...]]:
    """The delimiter and column names from the first line that is not
    blank; refuses the file when that line is no header of records."""
    text = ""
    while not text.strip(' \t\r\n;,"'):
        try:
            text = next(lines)
        except StopIteration:
            raise CsvRefused("empty") from None
        except _RowTooLong:
            raise CsvRefused("no_header", lines.number) from None
    line = lines.number
    candidates = [d for d in DELIMITERS if d in text] or [","]
    parsed = {d: names for d in candidates if (names := _split(text, d)) is not None}
    if not parsed:
        raise CsvRefused("no_header", line)
    # Both may occur (a comma inside a name): the one that finds email wins.
    delimiter = max(parsed, key=lambda d: ("email" in parsed[d], len(parsed[d])))
    names = parsed[delimiter]
    while names and not names[-1]:
        names.pop()
    if "email" not in names:
        if not any(d in text for d in DELIMITERS) and any(
            len([n for n in text.split(d) if n.strip()]) > 1 for d in FOREIGN_DELIMITERS
        ):
            raise CsvRefused("bad_delimiter", line)
        if any("@" in name for name in names):
            raise CsvRefused("no_header", line)  # a first record, no header above it
        raise CsvRefused("missing_email_column", line)
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise CsvRefused("duplicate_column", line, column=name)
        seen.add(name)
    return delimiter, tuple(names)


def _records(lines: _Lines, delimiter: str) -> Iterator[tuple[int, str | None, list[str]]]:
    """(first line, problem, cells) per record that is not blank; a row that
    could not be read has its problem and no cells."""
    reader = _reader(lines, delimiter)
    while True:
        start = lines.number + 1
        lines.begin_row()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (_RowTooLong, csv.Error) as error:
            # The reader is done with the broken line; a fresh one starts after it.
            reader = _reader(lines, delimiter)
            yield start, TOO_LONG if isinstance(error, _RowTooLong) else MALFORMED, []
            continue
        if not _blank(cells):
            yield start, None, cells


def check(file: BinaryIO, *, max_rows: int = 10_000) -> CsvLayout:
    """Read the whole file once and describe it, or refuse it with
    ``CsvRefused``; stops at the first row past ``max_rows``. Reads from the
    start and leaves the file rewound."""
    file.seek(0)
    try:
        lines = _Lines(file)
        delimiter, columns = _header(lines)
        count = 0
        for start, _problem, _cells in _records(lines, delimiter):
            count += 1
            if count > max_rows:
                raise CsvRefused("too_many_rows", start, max=max_rows)
        if not count:
            raise CsvRefused("empty")
        return CsvLayout(delimiter, columns, count, lines.bom)
    finally:
        file.seek(0)


def rows(file: BinaryIO, layout: CsvLayout) -> Iterator[CsvRow]:
    """The file's records, one at a time, from the start (``check`` first:
    this pass trusts its layout and raises CsvRefused only for a file that
    changed since)."""
    file.seek(0)
    lines = _Lines(file)
    _header(lines)
    named = [(i, column) for i, column in enumerate(layout.columns) if column]
    width = len(layout.columns)
    for start, problem, cells in _records(lines, layout.delimiter):
        if problem is not None:
            yield CsvRow(start, {}, problem)
            continue
        values = {column: cells[i].strip() if i < len(cells) else "" for i, column in named}
        unnamed = [cell for i, cell in enumerate(cells) if i >= width or not layout.columns[i]]
        yield CsvRow(start, values, TOO_MANY_CELLS if not _blank(unnamed) else None)


def refused_rows_csv(rows: Iterable[tuple[int, str, str]]) -> Iterator[str]:
    """``(line, email, reason)`` as a CSV download, one chunk per line,
    written by ``sheet_csv`` (a BOM first, text quoted, formulas neutralised)."""
    writer = sheet_csv.SheetWriter()
    yield sheet_csv.BOM + writer.row(("line", "email", "reason"))
    for number, email, reason in rows:
        yield writer.row((number, email, reason))
