"""Detractor alerts: found by polling past each survey's high-water mark
(``survey.alert_since``), held until the comment or follow-up answers come or
the wait ends, and queued once per response and address for the inbox's mail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, or_, select, update

from app.answers import follow_ups as answers
from app.answers.follow_ups import Answered
from app.platform import db, i18n
from app.platform.i18n import LANGUAGES, Formatter
from app.platform.models import answer_table
from app.platform.models import inbox_mail_table as mail
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_table as record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey
from app.surveys.scales import DETRACTORS, scale

if TYPE_CHECKING:
    pass


OVERLAP = timedelta(minutes=10)


# How long an alert waits for the comment that usually follows the score.
COMMENT_WAIT = timedelta(minutes=10)


# How far the high-water mark trails the clock: a response waiting for its
# comment stays above it, and so does one whose transaction committed late.
TRAIL = COMMENT_WAIT + OVERLAP


ALERTS_PER_PASS = 500  # responses per survey and pass; the next pass takes the rest


def _alert_text(
    language: str,
    zone: ZoneInfo,
    *,
    survey_name: str,
    score: int,
    high: int,
    comment: str | None,
    when: datetime,
    given: Sequence[Answered] = (),
    whom: Whom | None = None,
) -> tuple[str, str]:
    t = i18n.translator(language)
    formats = Formatter(language, zone)
    subject = t("inbox.alert.subject", survey=survey_name, score=score)
    lines = [
        t("inbox.alert.intro", survey=survey_name),
        *(_whom_lines(t, whom) if whom is not None else ()),
        t("inbox.alert.score", score=score, high=high),
        t("inbox.alert.comment", comment=comment) if comment else t("inbox.alert.no_comment"),
        *(f"{answer.question}: {answer.display}" for answer in given),
        t("inbox.alert.when", when=formats.datetime(when)),
    ]
    return subject, "\n\n".join(lines)


@dataclass(frozen=True)
class Whom:
    """The customer an e-mail answer came from and what the record was about."""

    email: str
    name: str | None
    external_id: str | None
    event: str | None


def _whom_lines(t: Callable[..., str], whom: Whom) -> list[str]:
    customer = f"{whom.name} <{whom.email}>" if whom.name else whom.email
    lines = [t("inbox.alert.customer", customer=customer)]
    reference = " · ".join(part for part in (whom.external_id, whom.event) if part)
    if reference:
        lines.append(t("inbox.alert.reference", reference=reference))
    return lines


def _whom_of(conn: Connection, response_ids: list[int]) -> dict[int, Whom]:
    """The customers of e-mail answers, by response id. An anonymous
    survey's answers keep no invitation, so they find none here."""
    if not response_ids:
        return {}
    rows = conn.execute(
        select(
            response.c.id,
            recipient.c.email,
            recipient.c.name,
            record.c.external_id,
            record.c.event,
        )
        .select_from(
            response.join(invitation, invitation.c.id == response.c.invitation_id)
            .join(record, record.c.id == invitation.c.record_id)
            .join(recipient, recipient.c.id == invitation.c.recipient_id)
        )
        .where(response.c.id.in_(response_ids))
    )
    return {row.id: Whom(row.email, row.name, row.external_id, row.event) for row in rows}


def _ready(now: datetime) -> ColumnElement[bool]:
    """A detractor response whose alert need not wait any longer: its
    comment or a follow-up answer has come, or the wait is over."""
    followed = select(answer_table.c.id).where(answer_table.c.response_id == response.c.id)
    return or_(
        response.c.comment.is_not(None),
        followed.exists(),
        response.c.created_at <= now - COMMENT_WAIT,
    )


# Is there anything for ``queue_alerts``: a detractor response without its
# alert, or a mark due to move? Read first, so an idle pass takes no write lock.
def alert_work(now: datetime) -> Any:
    unalerted = (
        select(response.c.id)
        .where(
            response.c.survey_id == survey.c.id,
            response.c.account_id == survey.c.account_id,
            response.c.segment.in_(DETRACTORS),
            response.c.created_at >= survey.c.alert_since,
            _ready(now),
            ~select(mail.c.id)
            .where(mail.c.response_id == response.c.id, mail.c.kind == "alert")
            .exists(),
        )
        .exists()
    )
    return (
        select(survey.c.id)
        .where(
            survey.c.alert_since.is_not(None),
            or_(unalerted, survey.c.alert_since < now - TRAIL - OVERLAP),
        )
        .limit(1)
    )


def queue_alerts(conn: Connection, now: datetime, zone: ZoneInfo) -> int:
    """Queue the alerts of new detractor responses, in the caller's write
    transaction; the number of messages queued."""
    watched = conn.execute(
        select(
            survey.c.id,
            survey.c.account_id,
            survey.c.name,
            survey.c.kind,
            survey.c.language,
            survey.c.alert_emails,
            survey.c.alert_since,
            survey.c.anonymous,
        )
        .where(survey.c.alert_since.is_not(None))
        .order_by(survey.c.id)
    ).all()
    queued = 0
    for watch in watched:
        addresses = [a for a in (watch.alert_emails or []) if isinstance(a, str) and a]
        if not addresses:
            continue
        found = conn.execute(
            select(response.c.id, response.c.score, response.c.comment, response.c.created_at)
            .where(
                response.c.survey_id == watch.id,
                response.c.account_id == watch.account_id,
                response.c.segment.in_(DETRACTORS),
                response.c.created_at >= watch.alert_since,
                _ready(now),
                ~select(mail.c.id)
                .where(mail.c.response_id == response.c.id, mail.c.kind == "alert")
                .exists(),
            )
            .order_by(response.c.id)
            .limit(ALERTS_PER_PASS)
        ).all()
        language = watch.language if watch.language in LANGUAGES else i18n.DEFAULT
        high = scale(watch.kind).high
        follow_ups = answers.answers_for(conn, [row.id for row in found])
        # Checked anyway: a survey made anonymous later names no one either.
        customers = {} if watch.anonymous else _whom_of(conn, [row.id for row in found])
        for answer in found:
            subject, text = _alert_text(
                language,
                zone,
                survey_name=watch.name,
                score=answer.score,
                high=high,
                comment=answer.comment,
                when=answer.created_at,
                given=follow_ups.get(answer.id, ()),
                whom=customers.get(answer.id),
            )
            for address in addresses:
                inserted = conn.execute(
                    db.insert(conn, mail)
                    .values(
                        account_id=watch.account_id,
                        response_id=answer.id,
                        kind="alert",
                        to_email=address,
                        subject=subject[:200],
                        body=text,
                        language=language,
                        dedupe_key=f"alert:{answer.id}:{address.lower()}"[:300],
                        status="scheduled",
                        next_attempt_at=now,
                        attempts=0,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[mail.c.dedupe_key])
                )
                queued += inserted.rowcount
        # The mark trails the clock: what waits for its comment, or commits
        # late, is still looked at.
        conn.execute(
            update(survey)
            .where(survey.c.id == watch.id, survey.c.alert_since < now - TRAIL)
            .values(alert_since=now - TRAIL)
        )
    return queued
