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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, select, update

from app.inbox.alerts import alert_work, queue_alerts
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
from app.platform.i18n import DEFAULT, LANGUAGES
from app.platform.mail import Delivery
from app.platform.models import account_table as account
from app.platform.models import inbox_mail_table as mail
from app.platform.urls import Urls

if TYPE_CHECKING:
    from app.platform.outbox import Sender

log = logging.getLogger("nps_beacon.inbox_mail")


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
        work = conn.execute(alert_work(now)).first() is not None
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
