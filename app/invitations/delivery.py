"""Sending due invitations, and the budget alerts of each pass.

A pass claims due invitations in batches: one short transaction sets each
one's lease (``claimed_until``) and counts the attempt, reading what its
message needs on the way. The batch is then sent outside any transaction, so
a slow mail server holds no lock, and one more transaction marks what became
of each message. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``, so two
workers never claim one invitation; SQLite's single writer serialises claims.
A batch stops sending while a fifth of its lease is left, for the mark: no
other worker claims a message this one may still be sending.

The running worker has two lanes: the e-mail's passes here, and the webhook
outbox in a thread of its own (``webhook_delivery.run``), so no receiver
delays an invitation, an alert or an inbox reply.

Delivery is at least once: an invitation whose worker died before marking it
is claimed again once its lease runs out, and its ``Message-ID`` is the same
on every attempt, so receivers can drop a repeat. Transient failures are
retried with backoff until the invitation's first attempt is a day old; a
permanent failure, a day of transient ones or an unsubscribed recipient
ends it and gives its count back (``records.end_unsent``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Connection, select, update

from app.invitations import record_status
from app.invitations.messages import invitation_message
from app.platform import db, outbox
from app.platform.compose import from_address
from app.platform.mail import Delivery, file_name
from app.platform.models import account_table as account
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import survey_table
from app.platform.outbox import ERROR_MAX, LEASE, RETRY_FOR, Sender, Summary, backoff, sending_until
from app.platform.urls import Urls
from app.surveys.model import SURVEY_COLUMNS, Survey
from app.surveys.texts import choose_language

log = logging.getLogger("nps_beacon.delivery")


# -- claiming ------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A claimed invitation with what its message needs. ``attempts``
    includes this one and tells this claim from a later one."""

    id: int
    attempts: int
    send_at: datetime
    survey: Survey
    email: str
    name: str | None
    language: str
    account_name: str
    sender_name: str | None = None  # the From display name; None: the account's name


@dataclass(frozen=True)
class Claim:
    due: list[Due] = field(default_factory=list)
    cancelled: int = 0  # for unsubscribed recipients or switched-off surveys, given back

    @property
    def size(self) -> int:
        return len(self.due) + self.cancelled


def claim(conn: Connection, now: datetime, limit: int, lease: timedelta = LEASE) -> Claim:
    """Claim up to ``limit`` due invitations in the caller's write transaction."""
    ids = outbox.lease_due(conn, invitation, "scheduled", now, limit, lease)
    if not ids:
        return Claim()
    rows = conn.execute(
        select(
            invitation.c.id,
            invitation.c.attempts,
            invitation.c.send_at,
            invitation.c.survey_id,
            recipient.c.email,
            recipient.c.name,
            recipient.c.language,
            recipient.c.unsubscribed_at,
            account.c.name.label("account_name"),
            account.c.sender_name,
        )
        .select_from(
            invitation.join(recipient, recipient.c.id == invitation.c.recipient_id).join(
                account, account.c.id == invitation.c.account_id
            )
        )
        .where(invitation.c.id.in_(ids))
        .order_by(invitation.c.id)
    ).all()
    survey_ids = {row.survey_id for row in rows}
    found = {
        item.id: item
        for item in map(
            Survey.from_row,
            conn.execute(
                select(*SURVEY_COLUMNS).where(survey_table.c.id.in_(survey_ids))
            ).mappings(),
        )
    }
    due: list[Due] = []
    cancelled = 0
    for row in rows:
        if row.unsubscribed_at is not None:
            # Never sent, never counted: the recipient left before it was due.
            cancelled += record_status.end_unsent(conn, row.id, "cancelled", now, "unsubscribed")
            continue
        survey = found[row.survey_id]
        if not survey.active:
            # A switched-off survey's page says it has ended: a mail leading
            # there would ask in vain. Never sent, so never counted.
            cancelled += record_status.end_unsent(conn, row.id, "cancelled", now, "survey inactive")
            continue
        due.append(
            Due(
                id=row.id,
                attempts=row.attempts,
                send_at=row.send_at,
                survey=survey,
                email=row.email,
                name=row.name,
                # What the link page would show the recipient, as Accept-Language does.
                language=choose_language(survey.language, row.language),
                account_name=row.account_name,
                sender_name=row.sender_name,
            )
        )
    return Claim(due, cancelled)


# -- sending and marking -------------------------------------------------------


def _message(sender: Sender, due: Due) -> EmailMessage:
    return invitation_message(
        survey=due.survey,
        language=due.language,
        to=due.email,
        name=due.name,
        sender=from_address(sender.mail_from, due.sender_name or due.account_name),
        account_name=due.account_name,
        score_url=functools.partial(sender.urls.invitation, due.id),
        unsubscribe_url=sender.urls.unsubscribe(due.id),
        message_id=sender.urls.message_id(due.id),
    )


def _send(sender: Sender, due: Sequence[Due], until: float) -> list[Delivery]:
    """One delivery per invitation, in order. A message that cannot even be
    written (an address no header takes) is a permanent failure."""
    messages: list[EmailMessage] = []
    unwritable: dict[int, Delivery] = {}
    for index, item in enumerate(due):
        try:
            messages.append(_message(sender, item))
        except ValueError as exc:
            unwritable[index] = Delivery("permanent", f"the message cannot be written: {exc}")
    sent = iter(sender.transport.send_batch(messages, until))
    return [unwritable[i] if i in unwritable else next(sent) for i in range(len(due))]


def _error(detail: str) -> str:
    return (detail or "unknown error")[:ERROR_MAX]


def mark(
    conn: Connection, due: Sequence[Due], deliveries: Sequence[Delivery], now: datetime
) -> Summary:
    """Record what became of a claimed batch, in the caller's transaction."""
    summary = Summary()
    sent = [
        item.id for item, result in zip(due, deliveries, strict=True) if result.status == "sent"
    ]
    if sent:
        # Guarded: an unsubscribe may have cancelled one while it was on its way.
        conn.execute(
            update(invitation)
            .where(invitation.c.id.in_(sent), invitation.c.status == "scheduled")
            .values(status="sent", sent_at=now, claimed_until=None, last_error=None)
        )
        summary.sent = len(sent)
    for item, result in zip(due, deliveries, strict=True):
        if result.status == "sent":
            continue
        if result.status == "permanent":
            summary.failed += record_status.end_unsent(
                conn, item.id, "failed", now, _error(result.detail)
            )
        elif item.send_at + RETRY_FOR < now:
            error = _error(f"gave up after {item.attempts} attempts over a day: {result.detail}")
            summary.failed += record_status.end_unsent(conn, item.id, "failed", now, error)
        else:
            retried = conn.execute(
                update(invitation)
                .where(
                    invitation.c.id == item.id,
                    invitation.c.status == "scheduled",
                    # Only while this claim is the latest: after a lease ran
                    # out, another worker's claim is left alone.
                    invitation.c.attempts == item.attempts,
                )
                .values(
                    next_attempt_at=now + backoff(item.attempts),
                    claimed_until=None,
                    last_error=_error(result.detail),
                )
            )
            summary.retried += retried.rowcount
    return summary


def send_batch(sender: Sender) -> tuple[Summary, int]:
    """Claim, send and mark one batch: its summary and how many were claimed.
    A batch that would outlive its lease stops sending first; the rest is
    tried again later."""
    claimed = time.monotonic()
    with db.write(sender.engine) as conn:
        taken = claim(conn, sender.clock(), sender.batch_size, sender.lease)
    summary = Summary(cancelled=taken.cancelled)
    if taken.due:
        deliveries = _send(sender, taken.due, sending_until(claimed, sender.lease))
        with db.write(sender.engine) as conn:
            summary.add(mark(conn, taken.due, deliveries, sender.clock()))
    return summary, taken.size


def outbox_path(directory: Path, urls: Urls, invitation_id: int) -> Path:
    """Where the outbox keeps an invitation's message (development)."""
    named = EmailMessage()
    named["Message-ID"] = urls.message_id(invitation_id)
    return directory / file_name(named)
