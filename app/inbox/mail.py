"""The inbox's e-mail, sent by the worker beside the invitations: replies
an admin wrote to a respondent, and the detractor alerts.

Alerts cost the submission path nothing: each pass looks for detractor
responses of the surveys whose alerts are on, newer than the survey's
high-water mark (``survey.alert_since``), and queues one message per
response and address. A response is alerted once its comment or follow-up
answers have come, or ``COMMENT_WAIT`` after it without them, so the owner
reads what the customer wrote, not "No comment" a moment before it. Where
the survey is not anonymous the alert names the customer and the record
(its ``external_id`` and event). The mark trails the clock by the wait plus
``OVERLAP`` so a response whose transaction commits late is still seen;
``inbox_mail.dedupe_key`` is unique, so however many workers look at once,
each alert is queued once.
Queued messages are claimed under a lease, sent outside any transaction and
marked, with the invitations' backoff for up to a day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from app.answers import follow_ups as answers
from app.answers.follow_ups import Answered
from app.platform import compose, db, i18n, outbox
from app.platform.compose import (
    ACTION_CELL,
    ACTION_LINK,
    FOOTER_TEXT,
    build_message,
    checked_url,
    escaped,
    from_address,
    html_document,
    html_row,
    one_line,
    paragraph,
    text_paragraphs,
)
from app.platform.i18n import DEFAULT, LANGUAGES, Formatter
from app.platform.mail import Delivery
from app.platform.models import account_table as account
from app.platform.models import answer_table
from app.platform.models import inbox_mail_table as mail
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_table as record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey
from app.platform.urls import Urls
from app.surveys.scales import DETRACTORS, scale

if TYPE_CHECKING:
    from app.platform.outbox import Sender

log = logging.getLogger("nps_beacon.inbox_mail")

OVERLAP = timedelta(minutes=10)
# How long an alert waits for the comment that usually follows the score.
COMMENT_WAIT = timedelta(minutes=10)
# How far the high-water mark trails the clock: a response waiting for its
# comment stays above it, and so does one whose transaction committed late.
TRAIL = COMMENT_WAIT + OVERLAP
ALERTS_PER_PASS = 500  # responses per survey and pass; the next pass takes the rest


# -- detractor alerts ---------------------------------------------------------------


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
def _alert_work(now: datetime) -> Any:
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


# -- sending ------------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    id: int
    attempts: int
    kind: str
    response_id: int | None
    to_email: str
    reply_to: str | None
    from_name: str | None
    to_name: str | None
    subject: str
    body: str
    language: str
    account_name: str
    created_at: datetime


def claim(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[Queued]:
    ids = outbox.lease_due(conn, mail, "scheduled", now, limit, lease)
    if not ids:
        return []
    rows = conn.execute(
        select(
            mail.c.id,
            mail.c.attempts,
            mail.c.kind,
            mail.c.response_id,
            mail.c.to_email,
            mail.c.reply_to,
            mail.c.from_name,
            mail.c.to_name,
            mail.c.subject,
            mail.c.body,
            mail.c.language,
            account.c.name.label("account_name"),
            mail.c.created_at,
        )
        .select_from(mail.join(account, account.c.id == mail.c.account_id))
        .where(mail.c.id.in_(ids))
        .order_by(mail.c.id)
    ).all()
    return [Queued(**row._mapping) for row in rows]


def message(queued: Queued, urls: Urls, mail_from: str) -> EmailMessage:
    """The message of a queued reply or alert; ValueError for an address no
    header takes."""
    t = i18n.translator(queued.language)
    link = None
    if queued.kind == "alert":
        footer = t("inbox.alert.footer", account=queued.account_name)
        if queued.response_id is not None:
            link = (t("inbox.alert.open"), urls.inbox_item(queued.response_id))
    else:
        footer = t("inbox.reply.footer", account=queued.account_name)
    reply = queued.kind == "reply"
    return note_message(
        to=queued.to_email,
        # A reply is a person's: their name on MAIL_FROM's address, the
        # respondent's name beside theirs. An alert stays the service's.
        sender=from_address(mail_from, queued.from_name) if reply else mail_from,
        to_name=queued.to_name if reply else None,
        subject=queued.subject,
        language=queued.language,
        message_id=urls.inbox_message_id(queued.id),
        text=queued.body,
        footer=footer,
        reply_to=queued.reply_to if reply else None,
        link=link,
    )


def mark(
    conn: Connection, queued: Sequence[Queued], results: Sequence[Delivery], now: datetime
) -> tuple[int, int, int]:
    """What became of a claimed batch: (sent, retried, failed)."""
    sent = retried = failed = 0
    for item, result in zip(queued, results, strict=True):
        mine = and_(mail.c.id == item.id, mail.c.attempts == item.attempts)
        if result.status == "sent":
            conn.execute(
                update(mail)
                .where(mail.c.id == item.id, mail.c.status == "scheduled")
                .values(status="sent", sent_at=now, claimed_until=None, last_error=None)
            )
            sent += 1
        elif result.status == "permanent" or item.created_at + outbox.RETRY_FOR < now:
            conn.execute(
                update(mail)
                .where(mine, mail.c.status == "scheduled")
                .values(
                    status="failed",
                    claimed_until=None,
                    last_error=(result.detail or "unknown error")[: outbox.ERROR_MAX],
                )
            )
            failed += 1
        else:
            conn.execute(
                update(mail)
                .where(mine, mail.c.status == "scheduled")
                .values(
                    next_attempt_at=now + outbox.backoff(item.attempts),
                    claimed_until=None,
                    last_error=(result.detail or "unknown error")[: outbox.ERROR_MAX],
                )
            )
            retried += 1
    return sent, retried, failed


def send_batch(sender: Sender) -> tuple[int, int]:
    """Claim, send and mark one batch: (messages sent, claimed)."""
    claimed = time.monotonic()
    with db.write(sender.engine) as conn:
        taken = claim(conn, sender.clock(), sender.batch_size, sender.lease)
    if not taken:
        return 0, 0
    messages: list[EmailMessage] = []
    unwritable: dict[int, Delivery] = {}
    for index, item in enumerate(taken):
        try:
            messages.append(message(item, sender.urls, sender.mail_from))
        except ValueError as exc:
            log.warning("inbox mail %s cannot be written: %s", item.id, exc)
            unwritable[index] = Delivery("permanent", f"the message cannot be written: {exc}")
    until = outbox.sending_until(claimed, sender.lease)
    sent = iter(sender.transport.send_batch(messages, until))
    results = [unwritable[i] if i in unwritable else next(sent) for i in range(len(taken))]
    with db.write(sender.engine) as conn:
        done, _retried, _failed = mark(conn, taken, results, sender.clock())
    return done, len(taken)


def run_pass(sender: Sender) -> int:
    """Queue new alerts, then send what is due; the number of messages sent."""
    now = sender.clock()
    with db.read(sender.engine) as conn:
        work = conn.execute(_alert_work(now)).first() is not None
    if work:
        with db.write(sender.engine) as conn:
            queue_alerts(conn, now, sender.zone)
    total = 0
    while True:
        sent, claimed = send_batch(sender)
        total += sent
        if claimed < sender.batch_size:
            return total


def note_message(
    *,
    to: str,
    sender: str | Address,
    subject: str,
    language: str,
    message_id: str,
    text: str,
    footer: str,
    reply_to: str | None = None,
    link: tuple[str, str] | None = None,
    to_name: str | None = None,
) -> EmailMessage:
    """A short message of paragraphs: a reply to a respondent (``Reply-To``
    the admin who wrote it) or a detractor alert (with ``link``, a label
    and an admin page's address)."""
    language = language if language in LANGUAGES else DEFAULT
    subject = one_line(subject)
    parts = [text]
    button = ""
    if link is not None:
        label, url = link[0], checked_url(link[1])
        parts.append(f"{label}: {url}")
        button = (
            f'<table role="presentation" cellpadding="0" cellspacing="0" border="0">'
            f'<tr><td style="{ACTION_CELL}"><a href="{escaped(url)}" style="{ACTION_LINK}">'
            f"{escaped(label)}</a></td></tr></table>"
        )
    body = html_row(text_paragraphs(text) + button, "padding:28px 24px")
    message = build_message(
        to=compose.recipient(to, to_name),
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        text="\n\n".join([*parts, f"-- \n{footer}"]),
        html=html_document(language, subject, body, paragraph(footer, FOOTER_TEXT), "#1f5fbf"),
    )
    if reply_to is not None:
        message["Reply-To"] = compose.recipient(reply_to, None)
        # A person wrote it: the respondent's auto-responder may answer.
        del message["Auto-Submitted"]
    return message
