"""Reading uploaded CSV files of records: what is refused as a whole, what
each row holds and on which line it starts, and that the file is streamed."""

from __future__ import annotations

import csv
import io
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import pytest

from app.invitations import record_csv
from app.invitations.record_csv import CsvLayout, CsvRefused, CsvRow
from app.platform import i18n


def _file(content: str | bytes, *, bom: bool = False) -> io.BytesIO:
    data = content.encode() if isinstance(content, str) else content
    return io.BytesIO((record_csv.BOM if bom else b"") + data)


def _read(file: BinaryIO, **options: int) -> tuple[CsvLayout, list[CsvRow]]:
    layout = record_csv.check(file, **options)
    assert file.tell() == 0
    return layout, list(record_csv.rows(file, layout))


def _refused(content: str | bytes, **options: int) -> CsvRefused:
    file = _file(content)
    with pytest.raises(CsvRefused) as caught:
        record_csv.check(file, **options)
    assert file.tell() == 0, "a refused file is rewound too"
    return caught.value


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("delimiter", [";", ","])
def test_utf8_with_or_without_bom_and_either_delimiter(bom: bool, delimiter: str) -> None:
    text = "email{d}name{d}language\nanna@example.com{d}Anna Groß{d}de\nbo@example.org{d}Bo{d}\n"
    layout, rows = _read(_file(text.format(d=delimiter), bom=bom))
    assert layout == CsvLayout(delimiter, ("email", "name", "language"), 2, bom)
    assert [row.line for row in rows] == [2, 3]
    assert rows[0].values == {"email": "anna@example.com", "name": "Anna Groß", "language": "de"}
    assert rows[1].record() == {"email": "bo@example.org", "name": "Bo"}
    assert all(row.problem is None for row in rows)


def test_header_names_are_case_insensitive_trimmed_and_may_be_quoted() -> None:
    layout, rows = _read(_file('" Email ";Name\n"EMAIL";x\n'))
    assert layout.columns == ("email", "name")
    assert rows[0].values == {"email": "EMAIL", "name": "x"}


def test_quoted_cells_with_newlines_and_delimiters_keep_line_numbers() -> None:
    text = (
        "email,name,note\n"
        'a@example.com,"Lee, Jr.","two\nlines"\n'
        'b@example.com,B,"three\n\nlines, with commas"\n'
        "c@example.com,C,\n"
    )
    layout, rows = _read(_file(text))
    assert layout.rows == 3
    assert [row.line for row in rows] == [2, 4, 7]
    assert rows[0].values == {"email": "a@example.com", "name": "Lee, Jr.", "note": "two\nlines"}
    assert rows[1].values["note"] == "three\n\nlines, with commas"


def test_windows_and_old_mac_line_endings() -> None:
    windows = 'email;name\r\na@example.com;A\r\nb@example.com;"B\r\nB"\r\nc@example.com;C\r\n'
    layout, rows = _read(_file(windows, bom=True))
    assert layout.rows == 3
    assert [(row.line, row.values["name"]) for row in rows] == [(2, "A"), (3, "B\r\nB"), (5, "C")]
    # Excel for Mac's "CSV (Macintosh)" ends lines with a lone CR.
    layout, rows = _read(_file("email;name\ra@example.com;A\r\rb@example.com;B\r"))
    assert [(row.line, row.values["email"]) for row in rows] == [
        (2, "a@example.com"),
        (4, "b@example.com"),
    ]


def test_blank_lines_are_skipped_and_not_counted() -> None:
    text = "\n\nemail;name\n\n;;\na@example.com;A\n   \n\nb@example.com;B\n\n"
    layout, rows = _read(_file(text))
    assert layout.rows == 2
    assert [row.line for row in rows] == [6, 9]


def test_property_columns_and_the_record() -> None:
    text = (
        "Email;Name;Language;Event;Event_At;External_ID;Plan;Shop Region\n"
        "a@example.com;Ann;en;order;2026-05-01T10:00:00Z;o-1;pro;north\n"
        " b@example.com ;;;;;;basic;\n"
    )
    _layout, rows = _read(_file(text))
    assert rows[0].record() == {
        "email": "a@example.com",
        "name": "Ann",
        "language": "en",
        "event": "order",
        "event_at": "2026-05-01T10:00:00Z",
        "external_id": "o-1",
        "properties": {"plan": "pro", "shop region": "north"},
    }
    assert rows[1].record() == {"email": "b@example.com", "properties": {"plan": "basic"}}


def test_missing_email_column() -> None:
    refused = _refused("address;name\na@example.com;A\n")
    assert (refused.code, refused.line) == ("missing_email_column", 1)
    assert "email" in str(refused)


def test_tab_separated_header_is_a_wrong_delimiter() -> None:
    refused = _refused("email\tname\na@example.com\tA\n")
    assert (refused.code, refused.line) == ("bad_delimiter", 1)
    assert "semicolons or commas" in str(refused)


def test_a_first_line_of_data_is_no_header() -> None:
    refused = _refused("a@example.com;Ann\nb@example.com;Bo\n")
    assert (refused.code, refused.line) == ("no_header", 1)


def test_a_column_named_twice_is_refused() -> None:
    refused = _refused("\nemail,Name,name\na@example.com,A,B\n")
    assert (refused.code, refused.line) == ("duplicate_column", 2)
    assert refused.params["column"] == "name"
    assert "name twice" in str(refused)


def test_latin1_bytes_are_refused_with_their_line() -> None:
    latin1 = "email;name\na@example.com;Ann\nb@example.com;Müller\n".encode("latin-1")
    refused = _refused(latin1)
    assert (refused.code, refused.line) == ("bad_encoding", 3)
    assert str(refused).startswith("Line 3 is not UTF-8")
    # Inside a quoted cell that spans lines, the line itself is named.
    refused = _refused(b'email;note\na@example.com;"one\ntwo \xe9"\n')
    assert (refused.code, refused.line) == ("bad_encoding", 3)


def test_utf16_is_refused() -> None:
    for encoding in ("utf-16", "utf-16-le"):
        refused = _refused("email;name\na@example.com;A\n".encode(encoding))
        assert (refused.code, refused.line) == ("bad_encoding", 1)


@pytest.mark.parametrize("content", [b"", record_csv.BOM, b"\r\n\n  \n", b";;\n"])
def test_empty_files(content: bytes) -> None:
    refused = _refused(content)
    assert (refused.code, refused.line) == ("empty", None)


def test_a_header_alone_holds_no_records() -> None:
    assert _refused("email;name\r\n\r\n").code == "empty"


def _numbered(count: int, tail: bytes = b"") -> bytes:
    lines = (f"n{i}@example.com;Person {i}\n".encode() for i in range(count))
    return b"email;name\n" + b"".join(lines) + tail


def test_exactly_the_most_rows_are_taken_and_one_more_is_refused() -> None:
    layout, rows = _read(_file(_numbered(10_000)))
    assert layout.rows == len(rows) == 10_000
    assert rows[-1].line == 10_001 and rows[-1].values["email"] == "n9999@example.com"
    refused = _refused(_numbered(10_001))
    assert (refused.code, refused.line) == ("too_many_rows", 10_002)
    assert refused.params["max"] == 10_000


def test_counting_stops_at_the_first_row_too_many() -> None:
    # A Latin-1 line after the limit is never read.
    refused = _refused(_numbered(4, tail=b"x@example.com;M\xfcller\n"), max_rows=3)
    assert (refused.code, refused.line) == ("too_many_rows", 5)
    assert _refused(_numbered(3, tail=b"x;\xfc\n"), max_rows=3).code == "bad_encoding"


def test_row_problems_are_reported_with_their_line_and_reading_goes_on() -> None:
    text = (
        "email;name;;plan\n"
        "a@example.com;A;;pro\n"  # 2: fine, the unnamed column is empty
        "b@example.com;B;;pro;surplus\n"  # 3: a cell beyond the header
        "c@example.com;C;here;pro\n"  # 4: a value in the unnamed column
        'd@example.com;"D"x;;\n'  # 5: text after a closing quote
        "e@example.com;" + "x" * (record_csv.MAX_ROW_BYTES + 10) + "\n"  # 6: too long
        "f@example.com;F;;;;\n"  # 7: empty cells beyond the header are fine
        'g@example.com;"never closed\n'  # 8: the quote swallows the rest
        "h@example.com;H\n"
    )
    layout, rows = _read(_file(text))
    assert layout.columns == ("email", "name", "", "plan")
    assert layout.rows == len(rows) == 7
    assert [(row.line, row.problem) for row in rows] == [
        (2, None),
        (3, "too_many_cells"),
        (4, "too_many_cells"),
        (5, "malformed"),
        (6, "too_long"),
        (7, None),
        (8, "malformed"),
    ]
    assert rows[0].values == {"email": "a@example.com", "name": "A", "plan": "pro"}
    assert rows[1].values["email"] == "b@example.com"
    assert rows[3].values == {} and rows[3].record() == {}
    assert set(record_csv.PROBLEMS) == {row.problem for row in rows} - {None}


def test_a_header_too_long_is_no_header() -> None:
    refused = _refused("email;" + "n" * record_csv.MAX_ROW_BYTES + "\na@example.com;A\n")
    assert (refused.code, refused.line) == ("no_header", 1)


def test_reading_streams_the_file(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    with path.open("wb") as out:
        out.write(record_csv.BOM + b"email;name;language;plan;note\r\n")
        for i in range(10_000):
            note = '"two\r\nlines"' if i % 100 == 0 else "plain"
            out.write(f"p{i}@example.com;Person {i};de;pro;{note}\r\n".encode())
    size = path.stat().st_size
    with path.open("rb") as file:
        tracemalloc.start()
        try:
            layout = record_csv.check(file)
            count = sum(1 for row in record_csv.rows(file, layout) if row.record()["email"])
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == layout.rows == 10_000
    print(f"peak {peak} bytes while reading {size}")
    # About 20 kB whatever the size, most of it the csv reader's cell buffer.
    assert size > 400_000
    assert peak < size / 10, (peak, size)


def test_refused_rows_as_a_download() -> None:
    refused = [
        (3, "=HYPERLINK(1)@example.com", "invalid_email"),
        (7, "a@example.com", "recently_surveyed"),
        (9, "b@example.com", 'Bad, "quoted"\nreason'),
        (12, "", "-1"),
    ]
    chunks = list(record_csv.refused_rows_csv(iter(refused)))
    assert len(chunks) == 1 + len(refused), "one chunk a line"
    assert chunks[0] == '\ufeff"line","email","reason"\r\n'
    table = list(csv.reader(io.StringIO("".join(chunks)[1:])))
    assert table == [
        ["line", "email", "reason"],
        ["3", "'=HYPERLINK(1)@example.com", "invalid_email"],
        ["7", "a@example.com", "recently_surveyed"],
        ["9", "b@example.com", 'Bad, "quoted"\nreason'],
        ["12", "", "'-1"],
    ]


def test_every_refusal_and_row_problem_has_words_in_both_languages() -> None:
    keys = {f"csv.{code}" for code in record_csv.CODES}
    keys |= {f"csv.row.{problem}" for problem in record_csv.PROBLEMS}
    assert keys <= set(i18n.EN) and keys <= set(i18n.DE)
    for key in keys:
        assert i18n.EN[key] != i18n.DE[key]
    refused = CsvRefused("duplicate_column", 1, column="plan")
    assert refused.key == "csv.duplicate_column"
    german = i18n.translate("de", refused.key, **refused.params)
    assert german.startswith("Die Kopfzeile in Zeile 1 nennt die Spalte plan zweimal")
    assert str(refused) == i18n.translate("en", refused.key, **refused.params)
    assert "{" not in str(CsvRefused("empty"))


def test_a_german_e_mail_header_names_the_address_column() -> None:
    data = io.BytesIO(b"Name;E-Mail\nAnna;anna@example.de\n")
    layout = record_csv.check(data)
    assert layout.columns == ("name", "email")
    [row] = list(record_csv.rows(data, layout))
    assert row.record()["email"] == "anna@example.de"
