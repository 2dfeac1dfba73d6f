"""The CSV export of one survey's responses in one period.

Spreadsheets open the file directly, so free text that could start a formula
is neutralised, and a BOM makes them read it as UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, select

from app.models import response_table as response
from app.models import survey_table as survey
from app.stats import response_scope

BATCH = 1_000
# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "id",
    "created_at",
    "survey",
    "kind",
    "period",
    "score",
    "segment",
    "comment",
    "channel",
    "page_url",
    "locale",
)


class NotFound(LookupError):
    """The survey does not exist or belongs to another account."""


def neutralize(value: object) -> str:
    """A cell as text that a spreadsheet shows instead of evaluating."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_lines(rows: Iterable[Sequence[object]]) -> str:
    """Rows whose free-text cells went through ``neutralize`` already."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def export_csv(engine: Engine, account_id: int, survey_id: int, period: str) -> Iterator[str]:
    """The survey's responses of ``period`` as CSV text chunks, oldest first.

    Raises NotFound at once (before any chunk) for another account's survey,
    so the caller can answer 404. The rows come through a server-side cursor
    in batches: memory stays flat however many responses there are.
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(survey.c.name, survey.c.kind).where(
                survey.c.id == survey_id, survey.c.account_id == account_id
            )
        ).first()
    if row is None:
        raise NotFound(survey_id)
    name = neutralize(row.name)
    return _export_rows(engine, account_id, survey_id, period, name, str(row.kind))


def _export_rows(
    engine: Engine, account_id: int, survey_id: int, period: str, name: str, kind: str
) -> Iterator[str]:
    yield "\ufeff" + _csv_lines([COLUMNS])
    query = export_query(account_id, survey_id, period)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
        for batch in result.partitions():
            yield _csv_lines(
                (
                    r.id,
                    r.created_at.isoformat(),
                    name,
                    kind,
                    r.period,
                    r.score,
                    r.segment,
                    # Only the free-text cells can start a formula: the
                    # others are numbers, timestamps and fixed words.
                    neutralize(r.comment),
                    r.channel,
                    neutralize(r.page_url),
                    neutralize(r.locale),
                )
                for r in batch
            )


def export_query(account_id: int, survey_id: int, period: str) -> Select[Any]:
    return (
        select(
            response.c.id,
            response.c.created_at,
            response.c.period,
            response.c.score,
            response.c.segment,
            response.c.comment,
            response.c.channel,
            response.c.page_url,
            response.c.locale,
        )
        .where(response_scope(account_id, survey_id, period))
        .order_by(response.c.created_at, response.c.id)
    )
