"""Recording a visitor's answer under the budget rule, and reading it back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, text

from app import budget, db
from app.cache import SurveyCache
from app.models import UTCDateTime
from app.signing import Display
from app.surveys import Survey

COMMENT_MAX = 2000


class BudgetExhausted(Exception):
    pass


class TokenAlreadyUsed(Exception):
    pass


class ScoreRequired(Exception):
    """A comment arrived for a display that has no stored score yet."""


class CommentAlreadyGiven(Exception):
    """The display's response has a comment already; the first one stands."""


@dataclass(frozen=True)
class Submission:
    display: Display
    score: int | None
    comment: str | None = None
    page_url: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class Recorded:
    id: int
    score: int
    segment: str
    created: bool


def record(
    engine: Engine,
    cache: SurveyCache,
    survey: Survey,
    submission: Submission,
    now: datetime,
    zone: ZoneInfo,
) -> Recorded:
    """Count a submission under the budget rule. Counted, refused or replayed,
    this worker's widget configs then read the account's budget afresh."""
    try:
        return record_response(engine, survey, submission, now, zone)
    finally:
        cache.forget_budget(survey.account_id)


def record_response(
    engine: Engine, survey: Survey, submission: Submission, now: datetime, zone: ZoneInfo
) -> Recorded:
    """Store a submission and count it, in one transaction.

    The response row is inserted first, keyed by the token's nonce; then the
    usage counter takes one guarded step. If the budget is exhausted the whole
    transaction rolls back and the refusal is counted on its own.
    """
    period = budget.period_of(now, zone)
    account_id = survey.account_id
    try:
        with db.counting(engine) as conn:
            if submission.score is not None:
                segment = survey.scale.segment_of(submission.score)
                new_id = _insert_response(conn, survey, submission, segment, period, now)
                if new_id is not None:
                    if not budget.consume(conn, account_id, period, now, survey.id):
                        raise BudgetExhausted
                    return Recorded(new_id, submission.score, segment, True)
            return _replay(conn, submission)
    except BudgetExhausted:
        with db.counting(engine) as conn:
            budget.record_rejection(conn, account_id, period)
        raise


_INSERT_RESPONSE = text(
    "INSERT INTO response (nonce, account_id, survey_id, period, score, segment, comment,"
    " channel, page_url, locale, created_at) VALUES (:nonce, :account_id, :survey_id, :period,"
    " :score, :segment, :comment, :channel, :page_url, :locale, :created_at)"
    " ON CONFLICT (nonce) DO NOTHING RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))
_STORED = text("SELECT id, score, segment, comment FROM response WHERE nonce = :nonce")
# Guarded so that of two comments racing for one response, only the first lands.
_ATTACH_COMMENT = text(
    "UPDATE response SET comment = :comment WHERE id = :id AND comment IS NULL RETURNING id"
)
_STORED_COMMENT = text("SELECT comment FROM response WHERE id = :id")


def _insert_response(
    conn: db.Executor,
    survey: Survey,
    submission: Submission,
    segment: str,
    period: str,
    now: datetime,
) -> int | None:
    """The new response's id, or None when this display's nonce is stored already."""
    params = {
        "nonce": submission.display.nonce,
        "account_id": survey.account_id,
        "survey_id": survey.id,
        "period": period,
        "score": submission.score,
        "segment": segment,
        "comment": submission.comment,
        "channel": submission.display.channel,
        "page_url": submission.page_url,
        "locale": submission.locale,
        "created_at": now,
    }
    return conn.execute(_INSERT_RESPONSE, params).scalar_one_or_none()


def _replay(conn: db.Executor, submission: Submission) -> Recorded:
    """The token was used before: the same score returns the stored response,
    a first comment attaches to it, and a different score or a different
    comment than the one stored is a conflict."""
    stored = conn.execute(_STORED, {"nonce": submission.display.nonce}).first()
    if stored is None:
        raise ScoreRequired
    stored_id, score, segment, comment = stored
    if submission.score is not None and submission.score != score:
        raise TokenAlreadyUsed
    wanted = submission.comment
    if wanted and wanted != comment:
        if comment is not None:
            raise CommentAlreadyGiven
        attached = conn.execute(_ATTACH_COMMENT, {"comment": wanted, "id": stored_id}).first()
        # None: another request attached a comment first; only the same one is a replay.
        lost = attached is None
        if lost and conn.execute(_STORED_COMMENT, {"id": stored_id}).scalar_one_or_none() != wanted:
            raise CommentAlreadyGiven
    return Recorded(stored_id, score, segment, False)


@dataclass(frozen=True)
class Stored:
    segment: str
    comment: str | None


_STORED_BY_SURVEY = text(
    "SELECT segment, comment FROM response WHERE nonce = :nonce AND survey_id = :survey_id"
)


def stored_response(engine: Engine, survey: Survey, display: Display) -> Stored | None:
    """The answer given with ``display`` to ``survey``, if any."""
    with db.read(engine) as conn:
        row = conn.execute(
            _STORED_BY_SURVEY, {"nonce": display.nonce, "survey_id": survey.id}
        ).first()
    return Stored(row.segment, row.comment) if row is not None else None
