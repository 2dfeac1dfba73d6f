"""Recording a visitor's answer under the budget rule, and reading it back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError

from app.answers import follow_ups as answers
from app.answers import rewards, score_changes
from app.budget import rule as budget
from app.platform import db, driver, metrics
from app.platform.models import UTCDateTime
from app.platform.signing import Display
from app.surveys import questions
from app.surveys.cache import SurveyCache
from app.surveys.model import Survey
from app.webhooks import endpoints as webhooks

COMMENT_MAX = 2000


class BudgetExhausted(Exception):
    pass


class TokenAlreadyUsed(Exception):
    pass


class SurveyGone(Exception):
    """The survey was deleted while the visitor was answering it."""


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
    # Follow-up answers, cleaned by ``questions.validate``; with the score or later.
    answers: Mapping[str, questions.Value] | None = None
    # A link page's score may change the one stored within ``score_changes.WINDOW``:
    # the one of this display, or of ``earlier``, the display this browser answered with.
    changeable: bool = False
    earlier: Display | None = None


@dataclass(frozen=True)
class Recorded:
    id: int
    score: int
    segment: str
    created: bool
    reward: str | None = None  # the coupon code this answer got
    changed: bool = False  # the stored score was changed to this one
    earlier: bool = False  # the answer is the one of ``Submission.earlier``


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
    channel = submission.display.channel
    try:
        recorded = record_response(engine, survey, submission, now, zone)
    except IntegrityError:
        # The nonce's conflict is handled in SQL, so this is a foreign key: the
        # survey was deleted after this worker's cached copy of it was read.
        metrics.submission(channel, "survey_gone")
        raise SurveyGone from None
    except (
        BudgetExhausted,
        TokenAlreadyUsed,
        CommentAlreadyGiven,
        score_changes.TooLate,
    ) as refused:
        metrics.submission(channel, _REFUSALS[type(refused)])
        raise
    finally:
        cache.forget_budget(survey.account_id)
    outcome = "accepted" if recorded.created else "changed" if recorded.changed else "replayed"
    metrics.submission(channel, outcome)
    return recorded


_REFUSALS: dict[type[Exception], str] = {
    BudgetExhausted: "budget_exhausted",
    TokenAlreadyUsed: "token_already_used",
    CommentAlreadyGiven: "comment_already_given",
    score_changes.TooLate: "score_too_late",
}


def record_response(
    engine: Engine, survey: Survey, submission: Submission, now: datetime, zone: ZoneInfo
) -> Recorded:
    """Store a submission and count it, in one transaction.

    The response row is inserted first, keyed by the token's nonce; then the
    usage counter takes one guarded step. If the budget is exhausted the whole
    transaction rolls back and the refusal is counted on its own. A test
    token's answer is stored apart and counts nothing, whatever the budget.
    """
    if submission.display.test:
        with driver.counting(engine) as conn:
            found = _record_test(conn, survey, submission, now)
        return replace(found, reward=rewards.for_test(survey, found.segment))
    period = budget.period_of(now, zone)
    account_id = survey.account_id
    try:
        with driver.counting(engine) as conn:
            earlier = _change_earlier(conn, survey, submission, now, zone)
            if earlier is not None:
                return earlier
            if submission.score is not None:
                segment = survey.scale.segment_of(submission.score)
                new_id = _insert_response(conn, survey, submission, segment, period, now)
                if new_id is not None:
                    _attach(conn, survey, new_id, segment, submission, now)
                    # In this transaction: a code is handed out only to a stored response.
                    postgres = engine.dialect.name == "postgresql"
                    reward = rewards.hand_out(conn, postgres, survey, segment, new_id, now)
                    # In this transaction: a refused or rolled-back answer emits nothing.
                    _emit(conn, "response.created", survey, submission, new_id, segment, now)
                    # From this step to the commit every answer to the account waits.
                    budget.consume(conn, account_id, period, now, survey.id)
                    if survey.offers_review(segment):
                        # Only this follows the step: the survey's shared counter row
                        # is then locked only by the answer holding the usage row, so
                        # one waiting for a usage row held elsewhere holds nothing the
                        # next one waits for, and each gives up after one lock wait.
                        rewards.count_shown(conn, survey, now, zone)
                    return Recorded(new_id, submission.score, segment, True, reward)
            found = _replay(conn, ANSWERS, submission, survey, now, zone)
            if _attach(conn, survey, found.id, found.segment, submission, now) and not (
                submission.comment
            ):
                # Answers alone, later: a comment with them emitted already.
                _emit(
                    conn, "response.updated", survey, submission, found.id, found.segment, now,
                    score=found.score,
                )  # fmt: skip
            return replace(found, reward=rewards.handed(conn, survey, found.segment, found.id))
    except driver.Refused:
        with driver.counting(engine) as conn:
            budget.record_rejection(conn, account_id, period)
        raise BudgetExhausted from None


def _change_earlier(
    conn: driver.Executor, survey: Survey, submission: Submission, now: datetime, zone: ZoneInfo
) -> Recorded | None:
    """The answer this browser gave with another display of the link page,
    its score changed to the submission's; None when there is none (or no
    score), and the submission is taken on its own."""
    earlier = submission.earlier
    if submission.score is None or earlier is None or earlier.nonce == submission.display.nonce:
        return None
    params = {"nonce": earlier.nonce, "survey_id": survey.id}
    stored = conn.execute(ANSWERS.by_survey, params).first()
    if stored is None:
        return None
    response_id = int(stored[0])
    changed = score_changes.change(
        conn, survey, response_id, submission.score, now, zone, postgres=driver.pipelined(conn)
    )
    segment = changed.segment if changed is not None else str(stored[1])
    reward = rewards.handed(conn, survey, segment, response_id)
    return Recorded(
        response_id, submission.score, segment, False, reward, changed is not None, earlier=True
    )


def _attach(
    conn: driver.Executor,
    survey: Survey,
    response_id: int,
    segment: str,
    submission: Submission,
    now: datetime,
) -> bool:
    """The submission's answers onto the response, in its transaction. Only
    now is the segment of a later submission known: a question not asked of
    it raises ``questions.AnswerError`` and the whole submission rolls back.
    True when an answer was stored that was not there before."""
    if not submission.answers:
        return False
    values = questions.validate(survey.questions, dict(submission.answers), segment)
    return answers.attach(conn, response_id, survey.id, values, now)


def _record_test(
    conn: driver.Executor, survey: Survey, submission: Submission, now: datetime
) -> Recorded:
    if submission.score is not None:
        segment = survey.scale.segment_of(submission.score)
        params = _values(survey, submission, segment, now)
        new_id = conn.execute(_INSERT_TEST, params).scalar_one_or_none()
        if new_id is not None:
            return Recorded(new_id, submission.score, segment, True)
    return _replay(conn, TESTS, submission)


@dataclass(frozen=True)
class _Table:
    """The statements that read a stored answer back, for one table."""

    stored: TextClause
    attach_comment: TextClause
    stored_comment: TextClause
    by_survey: TextClause

    @classmethod
    def named(cls, table: str) -> _Table:
        return cls(
            text(f"SELECT id, score, segment, comment FROM {table} WHERE nonce = :nonce"),
            # Guarded so that of two comments racing for one response, only the first lands.
            text(
                f"UPDATE {table} SET comment = :comment WHERE id = :id AND comment IS NULL"
                " RETURNING id"
            ),
            text(f"SELECT comment FROM {table} WHERE id = :id"),
            text(
                f"SELECT id, segment, comment, score FROM {table}"
                " WHERE nonce = :nonce AND survey_id = :survey_id"
            ),
        )


ANSWERS = _Table.named("response")
TESTS = _Table.named("test_response")

_COLUMNS = "nonce, account_id, survey_id, score, segment, comment, channel, page_url, locale"
_PARAMS = ", ".join(f":{name}" for name in _COLUMNS.split(", "))
_INSERT_RESPONSE = text(
    f"INSERT INTO response ({_COLUMNS}, period, created_at) VALUES ({_PARAMS}, :period,"
    " :created_at) ON CONFLICT (nonce) DO NOTHING RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))
_INSERT_TEST = text(
    f"INSERT INTO test_response ({_COLUMNS}, created_at) VALUES ({_PARAMS}, :created_at)"
    " ON CONFLICT (nonce) DO NOTHING RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))


def _values(
    survey: Survey, submission: Submission, segment: str, now: datetime
) -> dict[str, object]:
    return {
        "nonce": submission.display.nonce,
        "account_id": survey.account_id,
        "survey_id": survey.id,
        "score": submission.score,
        "segment": segment,
        "comment": submission.comment,
        "channel": submission.display.channel,
        "page_url": submission.page_url,
        "locale": submission.locale,
        "created_at": now,
    }


def _insert_response(
    conn: driver.Executor,
    survey: Survey,
    submission: Submission,
    segment: str,
    period: str,
    now: datetime,
) -> int | None:
    """The new response's id, or None when this display's nonce is stored already."""
    params = {**_values(survey, submission, segment, now), "period": period}
    return conn.execute(_INSERT_RESPONSE, params).scalar_one_or_none()


def _emit(
    conn: driver.Executor,
    event: str,
    survey: Survey,
    submission: Submission,
    response_id: int,
    segment: str,
    now: datetime,
    score: int | None = None,
    comment: str | None = None,
) -> None:
    webhooks.emit(
        conn,
        survey.account_id,
        event,
        webhooks.response_data(
            response_id=response_id,
            survey_id=survey.id,
            survey_name=survey.name,
            score=score if score is not None else submission.score or 0,
            segment=segment,
            comment=comment if comment is not None else submission.comment,
            channel=submission.display.channel,
            created_at=now if event == "response.created" else None,
            answers=submission.answers,
        ),
        now,
    )


def _replay(
    conn: driver.Executor,
    table: _Table,
    submission: Submission,
    survey: Survey | None = None,
    now: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> Recorded:
    """The token was used before: the same score returns the stored response,
    a first comment attaches to it, and a different score or a different
    comment than the one stored is a conflict, unless the submission's score
    may change the stored one. A comment attached to a counted answer
    (``survey`` and ``now`` given) emits ``response.updated``."""
    stored = conn.execute(table.stored, {"nonce": submission.display.nonce}).first()
    if stored is None:
        raise ScoreRequired
    stored_id, score, segment, comment = stored
    changed = None
    if submission.score is not None and submission.score != score:
        if not (submission.changeable and survey is not None and now and zone):
            raise TokenAlreadyUsed
        changed = score_changes.change(
            conn, survey, stored_id, submission.score, now, zone, postgres=driver.pipelined(conn)
        )
        if changed is not None:
            score, segment = changed.score, changed.segment
    wanted = submission.comment
    if wanted and wanted != comment:
        if comment is not None:
            raise CommentAlreadyGiven
        attached = conn.execute(table.attach_comment, {"comment": wanted, "id": stored_id}).first()
        # None: another request attached a comment first; only the same one is a replay.
        lost = attached is None
        if lost and _comment_of(conn, table, stored_id) != wanted:
            raise CommentAlreadyGiven
        if not lost and survey is not None and now is not None:
            _emit(
                conn,
                "response.updated",
                survey,
                submission,
                stored_id,
                segment,
                now,
                score=score,
                comment=wanted,
            )
    return Recorded(stored_id, score, segment, False, changed=changed is not None)


def _comment_of(conn: driver.Executor, table: _Table, response_id: int) -> str | None:
    comment: str | None = conn.execute(
        table.stored_comment, {"id": response_id}
    ).scalar_one_or_none()
    return comment


@dataclass(frozen=True)
class Stored:
    score: int
    segment: str
    comment: str | None
    reward: str | None = None
    answered: frozenset[str] = frozenset()  # ids of the follow-up questions answered


def stored_response(engine: Engine, survey: Survey, display: Display) -> Stored | None:
    """The answer given with ``display`` to ``survey``, if any, with its reward."""
    with db.read(engine) as conn:
        table = TESTS if display.test else ANSWERS
        row = conn.execute(
            table.by_survey, {"nonce": display.nonce, "survey_id": survey.id}
        ).first()
        if row is None:
            return None
        if display.test:
            reward = rewards.for_test(survey, row.segment)
        else:
            reward = rewards.handed(conn, survey, row.segment, row.id)
        # A test's answers are checked but not kept: they have no response to hang on.
        given = answers.given(conn, row.id) if survey.questions and not display.test else set()
    return Stored(row.score, row.segment, row.comment, reward, frozenset(given))
