"""Answering an e-mail invitation: what its recipient's pages show, the one
answer it takes, and the comment after it.

The invitation was counted when its record was accepted, so its answer takes
no step of ``usage`` and is stored even while the budget is exhausted. The
answer and the invitation's move to ``answered`` are one transaction, guarded
so that only a scheduled or sent invitation is answered: scheduled too, since
delivery is at-least-once and the message may have gone out before the sender
marked it sent. Another score within ``score_changes.WINDOW`` of the answer
changes it in place (a regretted click, or a mail scanner that ran the page's
script first); later the first score stands. An anonymous survey's answer
keeps no link to the invitation: the invitation's status alone holds it to
one answer, and the answer is found again only through the display it was
given with (the answering browser keeps it in a cookie for the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, and_, select, update
from sqlalchemy.exc import IntegrityError

from app.answers import follow_ups as answers
from app.answers import rewards, score_changes
from app.answers.responses import CommentAlreadyGiven, ScoreRequired, TokenAlreadyUsed
from app.budget import rule as budget
from app.platform import db, metrics
from app.platform.models import account_table as account
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_table as record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey_table
from app.platform.signing import Display
from app.surveys import model as surveys
from app.surveys import questions
from app.surveys import texts as survey_texts
from app.surveys.model import Survey
from app.webhooks import endpoints as webhooks

OPEN = ("scheduled", "sent")
CHANNEL = "email"


@dataclass(frozen=True)
class Invited:
    """An invitation as its recipient meets it: the survey, who asks, whom."""

    id: int
    status: str
    survey: Survey
    account_name: str
    email: str
    recipient_language: str | None
    unsubscribed: bool

    @property
    def language(self) -> str:
        """The invitation's language: the recipient's if the survey speaks it
        (one set to automatic speaks every language), else the survey's."""
        return survey_texts.choose_language(self.survey.language, self.recipient_language)

    @property
    def open(self) -> bool:
        """Not answered, cancelled or failed (whether the survey is active is apart)."""
        return self.status in OPEN


def find(engine: Engine, invitation_id: int) -> Invited | None:
    """The invitation with its survey, account and recipient; None when it
    is gone (its survey was deleted) or never was."""
    query = (
        select(
            *surveys.SURVEY_COLUMNS,
            invitation.c.status,
            account.c.name.label("account_name"),
            recipient.c.email,
            recipient.c.language.label("recipient_language"),
            recipient.c.unsubscribed_at,
        )
        .select_from(
            invitation.join(survey_table, survey_table.c.id == invitation.c.survey_id)
            .join(account, account.c.id == invitation.c.account_id)
            .join(recipient, recipient.c.id == invitation.c.recipient_id)
        )
        .where(invitation.c.id == invitation_id)
    )
    with db.read(engine) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return Invited(
        invitation_id,
        row["status"],
        Survey.from_row(row),
        row["account_name"],
        row["email"],
        row["recipient_language"],
        row["unsubscribed_at"] is not None,
    )


# -- the answer ----------------------------------------------------------------


class Closed(Exception):
    """Cancelled, failed, or its survey deleted: the invitation takes no answer."""


class Inactive(Exception):
    """The survey was switched off: it takes no answers, by e-mail neither."""


class AnsweredBefore(Exception):
    """Answered already, by a display whose answer cannot be shown here: an
    anonymous survey's answer is found only with the display it came from."""


@dataclass(frozen=True)
class Answer:
    id: int
    score: int
    segment: str
    comment: str | None
    created: bool = False  # stored by this call
    reward: str | None = None  # the coupon code the answer got
    answered: frozenset[str] = frozenset()  # ids of the follow-up questions answered
    created_at: datetime | None = None
    changed: bool = False  # its score was changed by this call

    def changeable(self, now: datetime) -> bool:
        """Whether another score still changes this one (``score_changes.WINDOW``)."""
        return self.created_at is not None and now - self.created_at < score_changes.WINDOW


def answer(
    engine: Engine,
    invitation_id: int,
    display: Display,
    score: int,
    locale: str | None,
    now: datetime,
    zone: ZoneInfo,
    earlier: Display | None = None,
) -> Answer:
    """Store the invitation's answer, or give back the one stored before,
    its score changed to ``score`` while ``score_changes.WINDOW`` lasts.
    ``earlier`` is the display this browser answered with before: an
    anonymous survey's answer is found only through its display.

    Raises ``Closed``, ``Inactive``, ``AnsweredBefore``,
    ``score_changes.TooLate``, or ``TokenAlreadyUsed`` when ``display``
    answered another invitation."""
    assert display.channel == CHANNEL and not display.test
    period = budget.period_of(now, zone)
    try:
        with db.write(engine) as conn:
            found = _answer(conn, invitation_id, display, score, locale, now, period, zone, earlier)
            if not found.created and found.score != score:
                found = _change(conn, invitation_id, found, score, now, zone)
    except IntegrityError:
        # A foreign key: the survey was deleted while its answer was being stored.
        metrics.submission(CHANNEL, "closed")
        raise Closed from None
    except (Closed, Inactive, AnsweredBefore, TokenAlreadyUsed, score_changes.TooLate) as refused:
        metrics.submission(CHANNEL, _REFUSALS[type(refused)])
        raise
    outcome = "accepted" if found.created else "changed" if found.changed else "replayed"
    metrics.submission(CHANNEL, outcome)
    return found


_REFUSALS: dict[type[Exception], str] = {
    Closed: "closed",
    Inactive: "inactive",
    AnsweredBefore: "answered_before",
    TokenAlreadyUsed: "token_already_used",
    score_changes.TooLate: "score_too_late",
}


def _change(
    conn: Connection, invitation_id: int, found: Answer, score: int, now: datetime, zone: ZoneInfo
) -> Answer:
    """The stored answer with its score changed; ``TooLate`` once the window passed."""
    survey_id = conn.execute(
        select(invitation.c.survey_id).where(invitation.c.id == invitation_id)
    ).scalar_one()
    survey = surveys.find(conn, survey_id)
    if survey is None:
        raise Closed
    if not survey.active:
        raise Inactive
    postgres = conn.dialect.name == "postgresql"
    changed = score_changes.change(conn, survey, found.id, score, now, zone, postgres=postgres)
    if changed is None:  # changed to this score meanwhile
        return found
    return Answer(
        found.id,
        changed.score,
        changed.segment,
        found.comment,
        reward=rewards.handed(conn, survey, changed.segment, found.id),
        answered=frozenset(answers.given(conn, found.id)),
        created_at=found.created_at,
        changed=True,
    )


def _answer(
    conn: Connection,
    invitation_id: int,
    display: Display,
    score: int,
    locale: str | None,
    now: datetime,
    period: str,
    zone: ZoneInfo,
    earlier: Display | None,
) -> Answer:
    taken = conn.execute(
        update(invitation)
        .where(invitation.c.id == invitation_id, invitation.c.status.in_(OPEN))
        .values(status="answered")
        .returning(invitation.c.survey_id, invitation.c.account_id)
    ).first()
    if taken is None:
        return _answered_before(conn, invitation_id, display, earlier)
    # Read in this transaction: whether the answer may name the invitation
    # is decided by the survey as it is now.
    survey = surveys.find(conn, taken.survey_id)
    if survey is None:
        raise Closed
    if not survey.active:
        raise Inactive  # rolls back the status too
    segment = survey.scale.segment_of(score)
    statement = db.insert(conn, response).values(
        nonce=display.nonce,
        account_id=taken.account_id,
        survey_id=survey.id,
        period=period,
        score=score,
        segment=segment,
        channel=CHANNEL,
        locale=locale,
        invitation_id=None if survey.anonymous else invitation_id,
        created_at=now,
    )
    new_id = conn.execute(
        statement.on_conflict_do_nothing(index_elements=[response.c.nonce]).returning(response.c.id)
    ).scalar_one_or_none()
    if new_id is None:
        raise TokenAlreadyUsed  # this display answered another invitation of the survey
    budget.note_feedback(conn, taken.account_id, period, now, survey.id)
    # In this transaction: a code is handed out only to a stored answer.
    postgres = conn.dialect.name == "postgresql"
    reward = rewards.hand_out(conn, postgres, survey, segment, int(new_id), now)
    if survey.offers_review(segment):
        rewards.count_shown(conn, survey, now, zone)
    data = webhooks.response_data(
        response_id=int(new_id),
        survey_id=survey.id,
        survey_name=survey.name,
        score=score,
        segment=segment,
        comment=None,
        channel=CHANNEL,
        created_at=now,
    )
    if not survey.anonymous:
        data.update(_whom(conn, invitation_id))
    webhooks.emit(conn, taken.account_id, "response.created", data, now)
    return Answer(int(new_id), score, segment, None, created=True, reward=reward, created_at=now)


def _answered_before(
    conn: Connection, invitation_id: int, display: Display, earlier: Display | None
) -> Answer:
    status = conn.execute(
        select(invitation.c.status).where(invitation.c.id == invitation_id)
    ).scalar_one_or_none()
    if status != "answered":
        raise Closed
    found = _stored(conn, invitation_id, display.nonce)
    if found is None and earlier is not None:
        found = _stored(conn, invitation_id, earlier.nonce)
    if found is None:
        raise AnsweredBefore
    return found


def stored(engine: Engine, invitation_id: int, nonce: str | None) -> Answer | None:
    """The invitation's answer; for an anonymous survey only the one given
    with the display of ``nonce``."""
    with db.read(engine) as conn:
        return _stored(conn, invitation_id, nonce)


def _stored(conn: Connection, invitation_id: int, nonce: str | None) -> Answer | None:
    asked = conn.execute(
        select(survey_table.c.id, survey_table.c.anonymous)
        .join(invitation, invitation.c.survey_id == survey_table.c.id)
        .where(invitation.c.id == invitation_id)
    ).first()
    if asked is None:
        return None
    which: ColumnElement[bool]
    if not asked.anonymous:
        which = response.c.invitation_id == invitation_id
    elif nonce is not None:
        which = and_(
            response.c.nonce == nonce,
            response.c.survey_id == asked.id,
            response.c.channel == CHANNEL,
        )
    else:
        return None
    row = conn.execute(
        select(
            response.c.id,
            response.c.score,
            response.c.segment,
            response.c.comment,
            response.c.created_at,
        ).where(which)
    ).first()
    if row is None:
        return None
    survey = surveys.find(conn, asked.id)
    reward = rewards.handed(conn, survey, row.segment, row.id) if survey is not None else None
    given = frozenset(answers.given(conn, row.id))
    return Answer(
        row.id,
        row.score,
        row.segment,
        row.comment,
        reward=reward,
        answered=given,
        created_at=row.created_at,
    )


# -- the comment and the follow-up answers --------------------------------------------


def add_comment(
    engine: Engine,
    invitation_id: int,
    nonce: str | None,
    comment: str | None,
    values: questions.Answers | None = None,
    now: datetime | None = None,
) -> Answer:
    """Attach the first comment and the follow-up answers (cleaned by
    ``questions.validate``) to the invitation's answer, in one transaction;
    they count nothing, and what was new emits ``response.updated``.

    Raises ``ScoreRequired`` when there is no answer to attach them to (for an
    anonymous survey: none given with the display of ``nonce``),
    ``CommentAlreadyGiven`` or ``answers.AnswerAlreadyGiven`` when another
    comment or answer is there (the first one stands), and
    ``questions.AnswerError`` for a question not asked of the answer's segment."""
    moment = now or datetime.now(UTC)
    commented = added = False
    clean: questions.Answers = {}
    with db.write(engine) as conn:
        found = _stored(conn, invitation_id, nonce)
        if found is None:
            raise ScoreRequired
        if comment:
            commented = _attach_comment(conn, found.id, comment)
        if values:
            survey_id = conn.execute(
                select(response.c.survey_id).where(response.c.id == found.id)
            ).scalar_one()
            survey = surveys.find(conn, survey_id)
            asked = survey.questions if survey is not None else ()
            clean = questions.validate(asked, dict(values), found.segment)
            added = answers.attach(conn, found.id, survey_id, clean, moment)
        if commented or added:
            _emit_updated(conn, found, comment if commented else None, clean, moment)
    return Answer(found.id, found.score, found.segment, comment or found.comment)


def _attach_comment(conn: Connection, response_id: int, comment: str) -> bool:
    """True when this comment was attached now; False for it sent twice."""
    attached = conn.execute(
        update(response)
        .where(response.c.id == response_id, response.c.comment.is_(None))
        .values(comment=comment)
        .returning(response.c.id)
    ).first()
    if attached is None:
        # Another comment came first, unless it was this one sent twice.
        first = conn.execute(
            select(response.c.comment).where(response.c.id == response_id)
        ).scalar_one()
        if first != comment:
            raise CommentAlreadyGiven
        return False
    return True


def _emit_updated(
    conn: Connection,
    found: Answer,
    comment: str | None,
    given: questions.Answers,
    now: datetime,
) -> None:
    row = conn.execute(
        select(
            response.c.account_id,
            response.c.survey_id,
            response.c.invitation_id,
            response.c.created_at,
            survey_table.c.name,
            survey_table.c.anonymous,
        )
        .join(survey_table, survey_table.c.id == response.c.survey_id)
        .where(response.c.id == found.id)
    ).one()
    data = webhooks.response_data(
        response_id=found.id,
        survey_id=row.survey_id,
        survey_name=row.name,
        score=found.score,
        segment=found.segment,
        comment=comment,
        channel=CHANNEL,
        created_at=row.created_at,
        answers=given,
    )
    if row.invitation_id is not None and not row.anonymous:
        data.update(_whom(conn, row.invitation_id))
    webhooks.emit(conn, row.account_id, "response.updated", data, now)


def _whom(conn: Connection, invitation_id: int) -> dict[str, object]:
    """What lets an integration match a response of a survey that is not
    anonymous to its own order: the invitation, its record and the address."""
    row = conn.execute(
        select(record.c.id, record.c.external_id, recipient.c.email)
        .select_from(
            invitation.join(record, record.c.id == invitation.c.record_id).join(
                recipient, recipient.c.id == invitation.c.recipient_id
            )
        )
        .where(invitation.c.id == invitation_id)
    ).one()
    return {
        "invitation_id": invitation_id,
        "record_id": row.id,
        "external_id": row.external_id,
        "recipient_email": row.email,
    }
