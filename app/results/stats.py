"""Figures for the admin pages: NPS/CSAT/CES summaries, daily trends, comments,
and the last contact and feedback. (The CSV export is in ``csv_export``, the
budget forecast in ``budget``.)

Every function takes the account id and puts it into every query, so a survey
id of another account yields nothing. All figures are SQL aggregates over the
``ix_response_stats`` and comment indexes (see migration 0002): the cost
follows the rows of one survey and period, not the size of the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    func,
    select,
)

from app.platform.models import (
    contact_table,
    invitation_table,
    recipient_table,
    response_table,
    survey_table,
    usage_table,
)
from app.surveys.scales import segments

response = response_table
survey = survey_table

PER_PAGE = 25


# -- results ---------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    kind: str
    responses: int
    segments: dict[str, int]
    nps: int | None = None
    average: float | None = None
    positive_share: float | None = None


@dataclass(frozen=True)
class Day:
    day: date
    responses: int
    value: float | None


@dataclass(frozen=True)
class Comment:
    id: int
    created_at: datetime
    score: int
    segment: str
    comment: str
    channel: str
    recipient_email: str | None = None  # an invitation's answer, unless the survey is anonymous


@dataclass(frozen=True)
class CommentPage:
    items: list[Comment]
    page: int
    pages: int
    total: int


def survey_kind(conn: Connection, account_id: int, survey_id: int) -> str | None:
    """The survey's kind, or None when it is not the account's."""
    kind = conn.execute(
        select(survey.c.kind).where(survey.c.id == survey_id, survey.c.account_id == account_id)
    ).scalar_one_or_none()
    return None if kind is None else str(kind)


def nps_of(promoters: int, detractors: int, total: int) -> int | None:
    """Promoters' share minus detractors' share, in points, rounded half away from zero."""
    if total <= 0:
        return None
    points = 100 * (promoters - detractors)
    rounded = (2 * abs(points) + total) // (2 * total)
    return rounded if points >= 0 else -rounded


def response_scope(
    account_id: int, survey_ids: Sequence[int] | int, period: str
) -> ColumnElement[bool]:
    """The WHERE that leads ``ix_response_stats``: account, survey(s), period."""
    by_survey = (
        response.c.survey_id == survey_ids
        if isinstance(survey_ids, int)
        else response.c.survey_id.in_(list(survey_ids))
    )
    return and_(response.c.account_id == account_id, by_survey, response.c.period == period)


def summary_query(where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(
            response.c.segment,
            func.count().label("n"),
            func.coalesce(func.sum(response.c.score), 0).label("total"),
        )
        .where(where)
        .group_by(response.c.segment)
    )


def _summarize(conn: Connection, kind: str, where: ColumnElement[bool]) -> Summary:
    rows = conn.execute(summary_query(where)).all()
    counts = dict.fromkeys(segments(kind), 0)
    score_sum = 0
    for row in rows:
        if row.segment in counts:
            counts[row.segment] = int(row.n)
            score_sum += int(row.total)
    n = sum(counts.values())
    if kind == "nps":
        return Summary(kind, n, counts, nps=nps_of(counts["promoter"], counts["detractor"], n))
    average = score_sum / n if n else None
    share = counts["positive"] / n if kind == "csat" and n else None
    return Summary(kind, n, counts, average=average, positive_share=share)


def survey_summary(
    conn: Connection, account_id: int, survey_id: int, period: str
) -> Summary | None:
    """Counts per segment and the kind's figure; None for another account's survey."""
    kind = survey_kind(conn, account_id, survey_id)
    if kind is None:
        return None
    return _summarize(conn, kind, response_scope(account_id, survey_id, period))


def account_nps(conn: Connection, account_id: int, period: str) -> Summary:
    """The NPS over all NPS surveys of the account in ``period``."""
    ids = _nps_survey_ids(conn, account_id)
    if not ids:
        return Summary("nps", 0, dict.fromkeys(segments("nps"), 0))
    return _summarize(conn, "nps", response_scope(account_id, ids, period))


def _nps_survey_ids(conn: Connection, account_id: int) -> list[int]:
    return [
        int(survey_id)
        for survey_id in conn.execute(
            select(survey.c.id).where(survey.c.account_id == account_id, survey.c.kind == "nps")
        ).scalars()
    ]


def commented(
    account_id: int, survey_id: int, period: str, segment: str | None
) -> ColumnElement[bool]:
    # ``comment IS NOT NULL`` must appear as such for the partial indexes to apply.
    where = and_(response_scope(account_id, survey_id, period), response.c.comment.is_not(None))
    return where if segment is None else and_(where, response.c.segment == segment)


def comments_query(
    where: ColumnElement[bool], page: int, per_page: int, *, recipients: bool = False
) -> Select[Any]:
    """One page of comments; with ``recipients``, each invitation's answer
    with its recipient's address (never for an anonymous survey)."""
    query = (
        select(
            response.c.id,
            response.c.created_at,
            response.c.score,
            response.c.segment,
            response.c.comment,
            response.c.channel,
        )
        .where(where)
        .order_by(response.c.created_at.desc(), response.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return with_recipient_email(query) if recipients else query


def with_recipient_email(query: Select[Any]) -> Select[Any]:
    """``query`` over responses with a ``recipient_email`` column: the address
    of the invitation a response answered, empty for every other response."""
    return (
        query.outerjoin(invitation_table, invitation_table.c.id == response.c.invitation_id)
        .outerjoin(recipient_table, recipient_table.c.id == invitation_table.c.recipient_id)
        .add_columns(recipient_table.c.email.label("recipient_email"))
    )


def comments(
    conn: Connection,
    account_id: int,
    survey_id: int,
    period: str,
    segment: str | None,
    page: int,
    per_page: int = PER_PAGE,
    *,
    recipients: bool = False,
) -> CommentPage:
    """Responses with a comment, newest first, one page of them; with
    ``recipients``, the addresses of the invitations answered.

    Both the count and the page read a partial index that holds only the
    commented responses, ordered by time."""
    per_page = max(1, per_page)
    where = commented(account_id, survey_id, period, segment)
    total = int(conn.execute(select(func.count()).select_from(response).where(where)).scalar_one())
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = conn.execute(comments_query(where, page, per_page, recipients=recipients)).all()
    items = [
        Comment(
            row.id,
            row.created_at,
            row.score,
            row.segment,
            row.comment,
            row.channel,
            row.recipient_email if recipients else None,
        )
        for row in rows
    ]
    return CommentPage(items, page, pages, total)


# -- dashboard -------------------------------------------------------------


@dataclass(frozen=True)
class LastContact:
    seen_at: datetime
    origin: str | None
    channel: str
    survey_name: str


@dataclass(frozen=True)
class LastAccepted:
    at: datetime
    survey_name: str | None  # None once that survey was deleted


def last_contact(conn: Connection, account_id: int) -> LastContact | None:
    """The latest time any widget or link of the account talked to the server."""
    row = conn.execute(
        select(
            contact_table.c.seen_at,
            contact_table.c.origin,
            contact_table.c.channel,
            survey.c.name,
        )
        .join(survey, survey.c.id == contact_table.c.survey_id)
        .where(contact_table.c.account_id == account_id, survey.c.account_id == account_id)
        .order_by(contact_table.c.seen_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LastContact(row.seen_at, row.origin, row.channel, row.name)


def last_accepted(conn: Connection, account_id: int, period: str) -> LastAccepted | None:
    """The last counted feedback up to and including ``period`` (so it still
    shows on the first day of a month)."""
    of_account = and_(
        survey.c.id == usage_table.c.last_accepted_survey_id, survey.c.account_id == account_id
    )
    row = conn.execute(
        select(usage_table.c.last_accepted_at, survey.c.name)
        .select_from(usage_table.outerjoin(survey, of_account))
        .where(
            usage_table.c.account_id == account_id,
            usage_table.c.period <= period,
            usage_table.c.last_accepted_at.is_not(None),
        )
        .order_by(usage_table.c.period.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LastAccepted(row.last_accepted_at, row.name)


def first_answered_survey(conn: Connection, account_id: int) -> int | None:
    """The survey of the account's first stored answer, or None before any:
    the onboarding's last step. Leads ``ix_response_account_created``."""
    survey_id = conn.execute(
        select(response.c.survey_id)
        .where(response.c.account_id == account_id)
        .order_by(response.c.created_at, response.c.id)
        .limit(1)
    ).scalar_one_or_none()
    return None if survey_id is None else int(survey_id)


@dataclass(frozen=True)
class AnswerCounts:
    this_period: int
    total: int


def answer_counts(conn: Connection, account_id: int, period: str) -> dict[int, AnswerCounts]:
    """Per survey of the account: its answers in ``period`` and of all time,
    in one pass over ``ix_response_stats``. Surveys without any are absent."""
    in_period = func.sum(case((response.c.period == period, 1), else_=0))
    rows = conn.execute(
        select(response.c.survey_id, in_period.label("in_period"), func.count().label("n"))
        .where(response.c.account_id == account_id)
        .group_by(response.c.survey_id)
    )
    return {int(row.survey_id): AnswerCounts(int(row.in_period), int(row.n)) for row in rows}


def list_periods(conn: Connection, account_id: int) -> list[str]:
    """Periods with usage or responses, newest first.

    A response is stored only in a transaction that writes its period's
    ``usage`` row (an invitation's answer makes the row without counting), so
    the usage rows (keyed by account and period) list every period that has
    responses, plus those that only saw refusals or records."""
    return [
        str(period)
        for period in conn.execute(
            select(usage_table.c.period)
            .where(usage_table.c.account_id == account_id)
            .order_by(usage_table.c.period.desc())
        ).scalars()
    ]
