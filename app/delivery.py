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

from sqlalchemy import Connection, select, text, update

from app import budget, records
from app.invitation_mail import ALERT_LEVELS, budget_alert_message, invitation_message
from app.platform import db, outbox
from app.platform.compose import from_address
from app.platform.i18n import DEFAULT, LANGUAGES
from app.platform.mail import Delivery, file_name
from app.platform.models import account_table as account
from app.platform.models import admin_table as admin_user
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import survey_table
from app.platform.outbox import ERROR_MAX, LEASE, RETRY_FOR, Sender, Summary, backoff, sending_until
from app.platform.urls import Urls
from app.survey_texts import choose_language
from app.surveys import SURVEY_COLUMNS, Survey
from app.webhooks import endpoints as webhooks

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
            cancelled += records.end_unsent(conn, row.id, "cancelled", now, "unsubscribed")
            continue
        survey = found[row.survey_id]
        if not survey.active:
            # A switched-off survey's page says it has ended: a mail leading
            # there would ask in vain. Never sent, so never counted.
            cancelled += records.end_unsent(conn, row.id, "cancelled", now, "survey inactive")
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
            summary.failed += records.end_unsent(
                conn, item.id, "failed", now, _error(result.detail)
            )
        elif item.send_at + RETRY_FOR < now:
            error = _error(f"gave up after {item.attempts} attempts over a day: {result.detail}")
            summary.failed += records.end_unsent(conn, item.id, "failed", now, error)
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


# -- budget alerts ---------------------------------------------------------------

# This period's usage rows that reached 80 % or 100 % of the budget in force
# and miss that level's alert; an account that has used nothing is not warned.
_CROSSED = text(
    "SELECT account_id, used, alerted, budget_limit FROM (SELECT u.account_id, u.used,"
    f" u.alerted, {budget.limit_sql('u.account_id')} AS budget_limit FROM usage u"
    " WHERE u.period = CAST(:period AS VARCHAR) AND u.used > 0 AND u.alerted < 100) crossed"
    " WHERE used * 100 >= budget_limit * 80"
    " AND alerted < CASE WHEN used >= budget_limit THEN 100 ELSE 80 END"
    # One order for every pass, so two passes at once never wait on each other in a circle.
    " ORDER BY account_id"
)
_RAISE = text(
    "UPDATE usage SET alerted = :level"
    " WHERE account_id = :account_id AND period = :period AND alerted < :level"
)
_LOWER = text(
    "UPDATE usage SET alerted = :previous"
    " WHERE account_id = :account_id AND period = :period AND alerted = :level"
)


@dataclass(frozen=True)
class Alert:
    account_id: int
    account_name: str
    period: str
    used: int
    limit: int
    level: int
    previous: int
    admins: tuple[tuple[int, str, str], ...]  # id, address, language


def level_of(used: int, limit: int) -> int:
    """The highest alert level ``used`` reached: 0, 80 or 100."""
    reached = [level for level in ALERT_LEVELS if used * 100 >= limit * level]
    return reached[-1] if reached else 0


def take_alerts(conn: Connection, period: str, now: datetime) -> list[Alert]:
    """Raise ``alerted`` for every account that crossed a level, in the
    caller's write transaction; the guarded UPDATE hands each alert to one
    pass only, however many run at once. Only the highest level crossed is
    taken: 80 % and 100 % at once is one 100 % alert."""
    alerts = []
    for row in conn.execute(_CROSSED, {"period": period}).all():
        level = level_of(row.used, row.budget_limit)
        if level <= row.alerted:
            continue
        params = {"level": level, "account_id": row.account_id, "period": period}
        if conn.execute(_RAISE, params).rowcount != 1:
            continue
        name = conn.execute(
            select(account.c.name).where(account.c.id == row.account_id)
        ).scalar_one()
        # In the transaction that takes the alert, for every account whatever
        # its channels. An alert whose mails all failed for now is taken again
        # later: its id, one per account, period and level, queues it once.
        webhooks.emit(
            conn,
            row.account_id,
            "budget.threshold",
            {
                "period": period,
                "level": level,
                "used": row.used,
                "limit": row.budget_limit,
            },
            now,
            msg_id=f"msg_budget_{row.account_id}_{period}_{level}",
        )
        admins = conn.execute(
            select(admin_user.c.id, admin_user.c.email, admin_user.c.language)
            .where(admin_user.c.account_id == row.account_id)
            .order_by(admin_user.c.id)
        ).all()
        alerts.append(
            Alert(
                row.account_id,
                name,
                period,
                row.used,
                row.budget_limit,
                level,
                row.alerted,
                tuple(
                    (a.id, a.email, a.language if a.language in LANGUAGES else DEFAULT)
                    for a in admins
                ),
            )
        )
    return alerts


def send_alerts(sender: Sender) -> int:
    """Send this period's due budget alerts to each admin of the account in
    their language; the number of messages sent. An alert whose every message
    failed for the time being is lowered again, so a later pass tries it once
    more."""
    period = budget.period_of(sender.clock(), sender.zone)
    with db.read(sender.engine) as conn:
        # Mostly there is nothing to say: then no write lock is taken.
        if conn.execute(_CROSSED, {"period": period}).first() is None:
            return 0
    with db.write(sender.engine) as conn:
        alerts = take_alerts(conn, period, sender.clock())
    if not alerts:
        return 0
    messages: list[EmailMessage] = []
    owners: list[Alert] = []
    for alert in alerts:
        for admin_id, address, language in alert.admins:
            try:
                messages.append(_alert_message(sender, alert, admin_id, address, language))
            except ValueError as exc:
                log.warning("budget alert to admin %s cannot be written: %s", admin_id, exc)
                continue
            owners.append(alert)
    deliveries = sender.transport.send_batch(messages)
    outcomes: dict[int, list[str]] = {alert.account_id: [] for alert in alerts}
    for alert, result in zip(owners, deliveries, strict=True):
        outcomes[alert.account_id].append(result.status)
    # Lowered only when every message of the alert failed for the time being:
    # a refused address would otherwise be tried again in every pass.
    unsent = [
        alert
        for alert in alerts
        if outcomes[alert.account_id]
        and all(status == "transient" for status in outcomes[alert.account_id])
    ]
    if unsent:
        with db.write(sender.engine) as conn:
            for alert in unsent:
                conn.execute(
                    _LOWER,
                    {
                        "previous": alert.previous,
                        "level": alert.level,
                        "account_id": alert.account_id,
                        "period": alert.period,
                    },
                )
    return sum(result.status == "sent" for result in deliveries)


def _alert_message(
    sender: Sender, alert: Alert, admin_id: int, address: str, language: str
) -> EmailMessage:
    return budget_alert_message(
        to=address,
        sender=sender.mail_from,
        language=language,
        account_name=alert.account_name,
        period=alert.period,
        used=alert.used,
        limit=alert.limit,
        level=alert.level,
        dashboard_url=sender.urls.admin_page("dashboard"),
        message_id=sender.urls.alert_message_id(
            alert.account_id, alert.period, alert.level, admin_id
        ),
    )


# -- passes ----------------------------------------------------------------------
