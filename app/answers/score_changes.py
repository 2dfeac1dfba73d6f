"""Changing the score of a link or invitation answer within a short while.

A score link in an e-mail saves its score as soon as the page's script runs,
so the first score stored may be a click the person regretted at once, or a
mail scanner that ran the script before its recipient clicked. For
``WINDOW`` after a response was stored, a different score from the same
invitation (or the same browser, for a link survey) changes the response in
place: it still counts once. Later the first score stands (``TooLate``).

What hangs on the segment moves with it, in the change's transaction:

- follow-up answers to questions not asked of the new segment are dropped
  (they answered a question the response no longer asks); the comment stays;
- a pool code handed out stays with the response (the visitor has seen it;
  a code is never taken back or given twice); a response without one gets
  the new segment's, like a new answer;
- the review link's "offered" count takes a step when the new segment is
  offered it and the old one was not;
- detractor alerts: a response that becomes a detractor is looked at again
  by the alert pass (the survey's mark moves back to it); one that stops
  being a detractor loses its alerts not yet sent;
- ``response.updated`` tells webhook consumers the new score and segment,
  with ``previous`` naming the ones replaced.

Every statement is a ``text()`` one, so the change runs on the counting
transaction's driver connection as on SQLAlchemy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text

from app.answers import rewards
from app.platform import driver
from app.platform.models import UTCDateTime
from app.surveys.model import Survey
from app.surveys.scales import DETRACTORS
from app.webhooks import endpoints as webhooks

WINDOW = timedelta(minutes=30)


class TooLate(Exception):
    """The response is older than ``WINDOW``: its first score stands."""


@dataclass(frozen=True)
class Changed:
    score: int
    segment: str
    previous_score: int
    previous_segment: str


_READ = text("SELECT score, segment, channel, invitation_id FROM response WHERE id = :id")
# Guarded by the score read: of two changes racing, the second reads again.
_CHANGE = text(
    "UPDATE response SET score = :score, segment = :segment"
    " WHERE id = :id AND score = :old AND created_at > :cutoff RETURNING id"
).bindparams(bindparam("cutoff", type_=UTCDateTime()))
_DROP_ANSWER = text("DELETE FROM answer WHERE response_id = :id AND question_id = :question")
_HOLDS_CODE = text("SELECT id FROM coupon WHERE response_id = :id")
# The alert pass looks at detractors created since the survey's mark.
_ALERT_AGAIN = text(
    "UPDATE survey SET alert_since = (SELECT created_at FROM response WHERE id = :id)"
    " WHERE id = :survey_id AND alert_since > (SELECT created_at FROM response WHERE id = :id)"
)
_UNSENT_ALERTS = text(
    "DELETE FROM inbox_mail WHERE response_id = :id AND kind = 'alert'"
    " AND status = 'scheduled' AND claimed_until IS NULL"
)


def change(
    conn: driver.Executor,
    survey: Survey,
    response_id: int,
    score: int,
    now: datetime,
    zone: ZoneInfo,
    *,
    postgres: bool,
) -> Changed | None:
    """Give the stored response ``score``, in the caller's transaction.

    None when it has that score already (a replay); raises ``TooLate`` when
    it is older than ``WINDOW``."""
    for _ in range(3):
        row = conn.execute(_READ, {"id": response_id}).first()
        if row is None:
            raise TooLate  # deleted by its owner meanwhile: nothing to change
        old_score, old_segment, channel, invitation_id = row
        if old_score == score:
            return None
        segment = survey.scale.segment_of(score)
        params = {
            "score": score,
            "segment": segment,
            "id": response_id,
            "old": old_score,
            "cutoff": now - WINDOW,
        }
        if conn.execute(_CHANGE, params).first() is None:
            if _still(conn, response_id, old_score):
                raise TooLate
            continue  # another change came first: read it and try again
        found = Changed(score, segment, old_score, old_segment)
        if segment != old_segment:
            _follow_segment(conn, survey, response_id, found, now, zone, postgres)
        _emit(conn, survey, response_id, found, channel, invitation_id, now)
        return found
    raise TooLate  # changed under us again and again: the latest one stands


def _still(conn: driver.Executor, response_id: int, score: int) -> bool:
    row = conn.execute(_READ, {"id": response_id}).first()
    return row is None or row[0] == score


def _follow_segment(
    conn: driver.Executor,
    survey: Survey,
    response_id: int,
    found: Changed,
    now: datetime,
    zone: ZoneInfo,
    postgres: bool,
) -> None:
    for question in survey.questions:
        if not question.shown_to(found.segment):
            conn.execute(_DROP_ANSWER, {"id": response_id, "question": question.id})
    pool = rewards.has_pool(survey, found.segment)
    if pool and conn.execute(_HOLDS_CODE, {"id": response_id}).first() is None:
        rewards.hand_out(conn, postgres, survey, found.segment, response_id, now)
    if survey.offers_review(found.segment) and not survey.offers_review(found.previous_segment):
        rewards.count_shown(conn, survey, now, zone)
    became = found.segment in DETRACTORS
    was = found.previous_segment in DETRACTORS
    if became and not was:
        conn.execute(_ALERT_AGAIN, {"id": response_id, "survey_id": survey.id})
    elif was and not became:
        conn.execute(_UNSENT_ALERTS, {"id": response_id})


def _emit(
    conn: driver.Executor,
    survey: Survey,
    response_id: int,
    found: Changed,
    channel: str,
    invitation_id: int | None,
    now: datetime,
) -> None:
    data = webhooks.response_data(
        response_id=response_id,
        survey_id=survey.id,
        survey_name=survey.name,
        score=found.score,
        segment=found.segment,
        comment=None,
        channel=channel,
        created_at=None,
    )
    data["previous"] = {"score": found.previous_score, "segment": found.previous_segment}
    if invitation_id is not None:
        data["invitation_id"] = invitation_id
    webhooks.emit(conn, survey.account_id, "response.updated", data, now)
