"""CSV text that spreadsheets open as data, never as formulas: the one writer
of every CSV the product hands out.

Every text cell is quoted, so a spreadsheet whose list separator is ``;``
(German Excel) does not split a cell at its semicolons, and numbers stay
unquoted so they are read as numbers. A cell is neutralised with a leading
apostrophe where a formula could start: at its beginning, and also after a
``;``, ``,``, tab or line break inside it, for a program that splits the cell
there anyway. Full-width and small forms of the formula characters count as
the characters themselves, since some spreadsheets fold them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime

# A BOM first makes spreadsheets read the file as UTF-8.
BOM = "\ufeff"
BATCH = 1_000  # rows a CSV download reads from the database at a time
# Every character Unicode's compatibility folding (NFKC) turns into = + - @.
_FORMULA = "=\u207c\u208c\ufe66\uff1d+\u207a\u208a\ufb29\ufe62\uff0b-\ufe63\uff0d@\ufe6b\uff20"
# Where a program may cut a cell into cells or lines: ; and , with their
# folded forms, tab and line breaks.
_CUTS = ";\u037e\ufe14\ufe54\uff1b,\ufe10\ufe50\uff0c\t\n\r"
_STARTS_FORMULA = re.compile(f"[\t\r]|[ \t\r\n]*[{re.escape(_FORMULA)}]")
_FORMULA_AFTER_CUT = re.compile(f"(?<=[{re.escape(_CUTS)}])([ \t]*)(?=[{re.escape(_FORMULA)}])")


def neutralize(value: object) -> str:
    """A cell as text that a spreadsheet shows instead of evaluating."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    text = _FORMULA_AFTER_CUT.sub(r"\1'", text)
    return "'" + text if _STARTS_FORMULA.match(text) else text


def _cell(value: object) -> object:
    # Numbers stay numbers (left unquoted by the writer); bool is text here.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return neutralize(value)


class SheetWriter:
    """Rows as CSV text, CRLF line ends, text cells quoted and neutralised."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")

    def rows(self, rows: Iterable[Sequence[object]]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows([_cell(value) for value in row] for row in rows)
        return self._buffer.getvalue()

    def row(self, cells: Sequence[object]) -> str:
        return self.rows([cells])
