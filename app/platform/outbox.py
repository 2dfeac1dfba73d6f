"""Leases, retries and the sender's clock, shared by every outbox the worker sends from.

A row is claimed under a lease (``claimed_until``): a worker that died holds
its claims no longer than the lease. A transient failure is retried with
backoff until the row's first attempt is a day old."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Table, or_, select, update

from app.platform.mail import Transport
from app.platform.urls import Urls

BATCH_SIZE = 50
# Long enough for a batch over a slow mail server; a worker that died holds
# its claims no longer than this.
LEASE = timedelta(minutes=5)
# The part of a lease kept for marking the batch: sending stops before it, so
# no other worker claims a message while this one may still be sending it.
MARK_SHARE = 0.2
# Waits after the 1st, 2nd, 3rd, ... transient failure; hourly after the last.
BACKOFF = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60))
RETRY_FOR = timedelta(days=1)
ERROR_MAX = 500  # invitation.last_error's length
WEBHOOK_TIMEOUT = 10.0  # seconds for each of connect, write and read
# Seconds for a whole webhook attempt, connect to last byte. A receiver should
# answer at once and work later; 15 s is what webhook senders commonly allow,
# and it keeps a dripping receiver's slots taken for no longer.
WEBHOOK_DEADLINE = 15.0

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Summary:
    """What passes did: messages sent, invitations retried later, failed and
    given back, cancelled (unsubscribed) and given back; alert messages sent;
    the inbox's replies and detractor alerts sent, webhook messages delivered,
    to be retried and failed for good."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    alerts: int = 0
    inbox: int = 0  # replies and detractor alerts of the inbox sent
    webhooks_delivered: int = 0
    webhooks_retried: int = 0
    webhooks_failed: int = 0

    def add(self, other: Summary) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __bool__(self) -> bool:
        return any(asdict(self).values())


@dataclass(frozen=True)
class Sender:
    """Everything a pass needs: where the rows are, how messages leave, how
    addresses are written, who sends, and the time."""

    engine: Engine
    transport: Transport
    urls: Urls
    mail_from: str
    zone: ZoneInfo
    clock: Clock = utcnow
    batch_size: int = BATCH_SIZE
    lease: timedelta = LEASE
    # Production checks every webhook target before calling it (no private addresses).
    production: bool = False
    webhook_timeout: float = WEBHOOK_TIMEOUT
    webhook_deadline: float = WEBHOOK_DEADLINE


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after ``attempts`` tries (1 = the first)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def sending_until(claimed: float, lease: timedelta) -> float:
    """When a batch claimed at ``claimed`` (``time.monotonic()``) for
    ``lease`` must have stopped sending."""
    return claimed + lease.total_seconds() * (1 - MARK_SHARE)


def lease_due(
    conn: Connection, table: Table, waiting: str, now: datetime, limit: int, lease: timedelta
) -> list[int]:
    """Claim up to ``limit`` rows of an outbox (``status``, ``next_attempt_at``,
    ``claimed_until``, ``attempts``) that are ``waiting`` and due, for ``lease``,
    in the caller's write transaction: their ids, oldest due first. PostgreSQL
    locks the rows until commit and passes over rows another worker is
    claiming; SQLite renders nothing and has one writer anyway."""
    c = table.c
    ids = list(
        conn.execute(
            select(c.id)
            .where(
                c.status == waiting,
                c.next_attempt_at <= now,
                or_(c.claimed_until.is_(None), c.claimed_until <= now),
            )
            .order_by(c.next_attempt_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if ids:
        conn.execute(
            update(table)
            .where(c.id.in_(ids))
            .values(claimed_until=now + lease, attempts=c.attempts + 1)
        )
    return ids
