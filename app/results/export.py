"""The CSV export of one survey's responses in a range of months.

Spreadsheets open the file directly, so it is written by ``sheet_csv``: text
quoted, formulas neutralised, a BOM first.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, and_, select

from app.answers import follow_ups as answers
from app.platform import db, sheet_csv
from app.platform.i18n import LANGUAGES
from app.platform.models import invitation_table as invitation
from app.platform.models import record_table as record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey
from app.platform.sheet_csv import BATCH
from app.results.stats import response_scope, with_recipient_email
from app.surveys import questions

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
    "recipient_email",  # an invitation's answer, unless the survey is anonymous
    # and, alike, the answered record's own words: the integration's id, its event
    # and its properties (as JSON)
    "external_id",
    "event",
    "properties",
)


# The longest export, in months: a year's comparison with the year before.
MAX_MONTHS = 24


class NotFound(LookupError):
    """The survey does not exist or belongs to another account."""


class BadRange(ValueError):
    """Months an export cannot cover; the text is for people."""


def months_between(first: str, last: str) -> int:
    """How many billing months ``first`` to ``last`` (``YYYY-MM``) span, both included."""
    (y1, m1), (y2, m2) = ((int(part) for part in period.split("-")) for period in (first, last))
    return (y2 - y1) * 12 + (m2 - m1) + 1


def check_range(first: str, last: str) -> None:
    if first > last:
        raise BadRange("The first month must not come after the last.")
    if months_between(first, last) > MAX_MONTHS:
        raise BadRange(f"An export covers at most {MAX_MONTHS} months.")


def slug(name: str) -> str:
    """A survey's name as a file name part: ``Käufer-Umfrage 2026!`` -> ``kaufer-umfrage-2026``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")


def filename(name: str, survey_id: int, first: str, last: str) -> str:
    months = first if first == last else f"{first}-to-{last}"
    return f"{slug(name) or f'survey-{survey_id}'}-{months}.csv"


@dataclass(frozen=True)
class Export:
    filename: str
    chunks: Iterator[str]


def export_csv(engine: Engine, account_id: int, survey_id: int, period: str) -> Iterator[str]:
    """One month's export as CSV text chunks (see ``export``)."""
    return export(engine, account_id, survey_id, period, period).chunks


def export(engine: Engine, account_id: int, survey_id: int, first: str, last: str) -> Export:
    """The survey's responses from month ``first`` to ``last`` as CSV text
    chunks, oldest first, with a file name that says which survey and months.

    Raises BadRange or NotFound at once (before any chunk) for too many months
    or another account's survey, so the caller can answer 400 or 404. The rows
    come through a server-side cursor in batches: memory stays flat however
    many responses there are.
    """
    check_range(first, last)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                survey.c.name,
                survey.c.kind,
                survey.c.anonymous,
                survey.c.questions,
                survey.c.language,
            ).where(survey.c.id == survey_id, survey.c.account_id == account_id)
        ).first()
    if row is None:
        raise NotFound(survey_id)
    name = str(row.name)
    # Named in the survey's default language, like the answers in their cells.
    language = row.language if row.language in LANGUAGES else "en"
    headers = [f"answer: {q.label(language)}" for q in questions.parse(row.questions)]
    asked = questions.parse(row.questions)
    chunks = _export_rows(
        engine,
        account_id,
        survey_id,
        (first, last),
        name,
        str(row.kind),
        not row.anonymous,
        (asked, headers),
    )
    return Export(filename(str(row.name), survey_id, first, last), chunks)


def _export_rows(
    engine: Engine,
    account_id: int,
    survey_id: int,
    months: tuple[str, str],
    name: str,
    kind: str,
    recipients: bool,
    follow_ups: tuple[tuple[questions.Question, ...], list[str]] = ((), []),
) -> Iterator[str]:
    # One column per follow-up question, named by its label; each cell the
    # answer in the survey's default language (choices joined by ", ").
    asked, headers = follow_ups
    writer = sheet_csv.SheetWriter()
    yield sheet_csv.BOM + writer.row([*COLUMNS, *headers])
    query = export_query(account_id, survey_id, *months, recipients=recipients)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
        for batch in result.partitions():
            given = _answers_of(engine, [r.id for r in batch]) if asked else {}
            yield writer.rows(
                (
                    r.id,
                    r.created_at,
                    name,
                    kind,
                    r.period,
                    r.score,
                    r.segment,
                    r.comment,
                    r.channel,
                    r.page_url,
                    r.locale,
                    r.recipient_email if recipients else "",
                    *(_record_cells(r) if recipients else ("", "", "")),
                    *_answer_cells(asked, given.get(r.id, [])),
                )
                for r in batch
            )


def _record_cells(row: Any) -> tuple[str | None, str | None, str | None]:
    # The writer quotes and neutralises these like every other text cell.
    properties = row.properties or {}
    return (
        row.external_id,
        row.event,
        json.dumps(properties, ensure_ascii=False) if properties else None,
    )


def _answers_of(engine: Engine, response_ids: list[int]) -> dict[int, list[answers.Answered]]:
    # Its own connection: the export's is busy streaming.
    with db.read(engine) as conn:
        return answers.answers_for(conn, response_ids)


def _answer_cells(
    asked: tuple[questions.Question, ...], given: list[answers.Answered]
) -> list[str]:
    by_id = {answer.question_id: answer.display for answer in given}
    return [by_id.get(question.id) or "" for question in asked]


def export_query(
    account_id: int,
    survey_id: int,
    period: str,
    last: str | None = None,
    *,
    recipients: bool = False,
) -> Select[Any]:
    """The rows of months ``period`` to ``last`` (just ``period`` without it);
    with ``recipients``, the addresses of the invitations answered."""
    where = (
        response_scope(account_id, survey_id, period)
        if last is None or last == period
        else and_(
            response.c.account_id == account_id,
            response.c.survey_id == survey_id,
            response.c.period.between(period, last),
        )
    )
    query = (
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
        .where(where)
        .order_by(response.c.created_at, response.c.id)
    )
    if not recipients:
        return query
    # The record of the invitation with_recipient_email joined.
    return (
        with_recipient_email(query)
        .outerjoin(record, record.c.id == invitation.c.record_id)
        .add_columns(record.c.external_id, record.c.event, record.c.properties)
    )
