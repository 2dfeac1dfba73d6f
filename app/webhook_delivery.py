"""Sending the webhook outbox, in the same passes as the e-mail sender.

Like ``delivery.py``: a short transaction claims due messages under a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and counts the attempt; the POSTs
run outside any transaction, a few at once; one more transaction records
every attempt and what became of each message. A worker killed mid-batch
leaves its claims to run out, and another worker sends them again with the
same ``webhook-id``: delivery is at least once, and receivers dedupe on it.

A non-2xx answer, a redirect (never followed), a time-out or a refused
target is a failed attempt, retried after 1 min, 5 min, 30 min, 2 h, 5 h and
10 h; a message still failing a day after it was written fails for good. An
endpoint is disabled after ``DISABLE_AFTER`` messages in a row failed for
good, or when every attempt failed for a day, and its account's admins get
an e-mail. In production the target is resolved and checked before each POST
(``webhooks.target``) and the connection goes to the checked address.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import Connection, Engine, delete, insert, select, update

from app import db, webhooks
from app.i18n import DEFAULT, LANGUAGES
from app.invitation_mail import webhook_disabled_message
from app.mail import Transport
from app.models import account_table as account
from app.models import admin_table as admin_user
from app.models import webhook_attempt_table as attempt
from app.models import webhook_endpoint_table as endpoint
from app.models import webhook_message_table as message
from app.urls import Urls

log = logging.getLogger("nps_beacon.webhooks")

BATCH_SIZE = 20
LEASE = timedelta(minutes=5)
TIMEOUT = 10.0  # seconds for each of connect, write and read
PARALLEL = 8
BACKOFF = tuple(timedelta(minutes=m) for m in (1, 5, 30, 120, 300, 600))
RETRY_FOR = timedelta(days=1)
DISABLE_AFTER = 5  # messages failed for good in a row
FAILING_FOR = timedelta(days=1)  # every attempt failed this long
ERROR_MAX = 500
# Delivered and failed messages are kept, with their attempts, this long for
# the log; pruned at most this often per process, a slice at a time.
KEEP_FOR = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)
PRUNE_SLICE = 5000
_pruned: dict[str, datetime] = {}


@dataclass(frozen=True)
class WebhookSender:
    engine: Engine
    transport: Transport
    urls: Urls
    mail_from: str
    production: bool
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    batch_size: int = BATCH_SIZE
    lease: timedelta = LEASE
    timeout: float = TIMEOUT
    backoff: tuple[timedelta, ...] = BACKOFF
    resolver: webhooks.Resolver = webhooks.resolve


@dataclass
class Summary:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0


@dataclass(frozen=True)
class Due:
    id: int
    endpoint_id: int
    account_id: int
    msg_id: str
    body: str
    attempts: int
    created_at: datetime
    url: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[Due]:
    ids = db.lease_due(conn, message, "pending", now, limit, lease)
    if not ids:
        return []
    rows = conn.execute(
        select(
            message.c.id,
            message.c.endpoint_id,
            message.c.account_id,
            message.c.msg_id,
            message.c.body,
            message.c.attempts,
            message.c.created_at,
            message.c.event_type,
            endpoint.c.url,
            endpoint.c.active,
            endpoint.c.secret,
            endpoint.c.previous_secret,
            endpoint.c.previous_until,
        )
        .join(endpoint, endpoint.c.id == message.c.endpoint_id)
        .where(message.c.id.in_(ids))
        .order_by(message.c.id)
    ).all()
    due = []
    for row in rows:
        if not row.active and row.event_type != webhooks.TEST_EVENT:
            # Switched off (by its owner or after failures): nothing more is sent.
            conn.execute(
                update(message)
                .where(message.c.id == row.id)
                .values(status="failed", claimed_until=None, last_error="endpoint disabled")
            )
            continue
        keys = [row.secret]
        if row.previous_secret and row.previous_until and row.previous_until > now:
            keys.append(row.previous_secret)
        due.append(
            Due(
                row.id,
                row.endpoint_id,
                row.account_id,
                row.msg_id,
                row.body,
                row.attempts,
                row.created_at,
                row.url,
                tuple(keys),
            )
        )
    return due


def _address_url(target: webhooks.Target) -> str:
    """The URL with its host replaced by the checked address."""
    parts = urlsplit(target.url)
    assert target.address is not None
    host = f"[{target.address}]" if ":" in target.address else target.address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def post(sender: WebhookSender, client: httpx.Client, due: Due) -> Result:
    """One attempt. The body is not read: only the status counts."""
    started = time.monotonic()
    at = sender.clock()

    def done(status: int | None, error: str | None) -> Result:
        elapsed = int((time.monotonic() - started) * 1000)
        return Result(status, error[:ERROR_MAX] if error else None, elapsed, at)

    try:
        target = webhooks.target(due.url, sender.production, sender.resolver)
    except webhooks.TargetRefused as refused:
        return done(None, f"refused: {refused}")
    # The wall clock, whatever the sender's clock says: receivers compare it
    # with theirs to refuse replays.
    timestamp = int(time.time())
    head = webhooks.headers(due.secrets, due.msg_id, timestamp, due.body)
    url = due.url
    extensions: dict[str, object] = {}
    if target.address is not None:
        # Connect to the address just checked; Host and TLS still name the host.
        url = _address_url(target)
        head["host"] = urlsplit(due.url).netloc
        if urlsplit(due.url).scheme == "https":
            extensions["sni_hostname"] = target.host
    try:
        with client.stream(
            "POST", url, content=due.body.encode(), headers=head, extensions=extensions
        ) as answer:
            status = answer.status_code
    except httpx.TimeoutException:
        return done(None, "timed out")
    except httpx.HTTPError as exc:
        return done(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if 300 <= status < 400:
        return done(status, "redirects are not followed")
    return done(status, None if 200 <= status < 300 else f"HTTP {status}")


@dataclass
class Disabled:
    endpoint_id: int
    account_id: int
    url: str
    reason: str
    admins: list[tuple[int, str, str]] = field(default_factory=list)
    account_name: str = ""


def mark(
    conn: Connection,
    sender: WebhookSender,
    due: Sequence[Due],
    results: Sequence[Result],
    now: datetime,
) -> tuple[Summary, list[Disabled]]:
    summary = Summary()
    touched: set[int] = set()
    for item, result in zip(due, results, strict=True):
        conn.execute(
            insert(attempt).values(
                message_id=item.id,
                endpoint_id=item.endpoint_id,
                attempted_at=result.at,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        this_claim = (message.c.id == item.id) & (message.c.attempts == item.attempts)
        if result.ok:
            conn.execute(
                update(message)
                .where(message.c.id == item.id, message.c.status == "pending")
                .values(status="delivered", delivered_at=now, claimed_until=None, last_error=None)
            )
            conn.execute(
                update(endpoint)
                .where(endpoint.c.id == item.endpoint_id)
                .values(failed_in_a_row=0, failing_since=None)
            )
            summary.delivered += 1
            continue
        conn.execute(
            update(endpoint)
            .where(endpoint.c.id == item.endpoint_id, endpoint.c.failing_since.is_(None))
            .values(failing_since=result.at)
        )
        touched.add(item.endpoint_id)
        if item.attempts > len(sender.backoff) or item.created_at + RETRY_FOR <= now:
            ended = conn.execute(
                update(message)
                .where(this_claim, message.c.status == "pending")
                .values(status="failed", claimed_until=None, last_error=result.error)
            ).rowcount
            if ended:
                conn.execute(
                    update(endpoint)
                    .where(endpoint.c.id == item.endpoint_id)
                    .values(failed_in_a_row=endpoint.c.failed_in_a_row + 1)
                )
                summary.failed += 1
        else:
            wait = sender.backoff[item.attempts - 1]
            summary.retried += conn.execute(
                update(message)
                .where(this_claim, message.c.status == "pending")
                .values(next_attempt_at=now + wait, claimed_until=None, last_error=result.error)
            ).rowcount
    disabled = [_disable_if_failing(conn, endpoint_id, now) for endpoint_id in sorted(touched)]
    found = [item for item in disabled if item is not None]
    summary.disabled = len(found)
    return summary, found


def _disable_if_failing(conn: Connection, endpoint_id: int, now: datetime) -> Disabled | None:
    row = conn.execute(
        select(
            endpoint.c.account_id,
            endpoint.c.url,
            endpoint.c.active,
            endpoint.c.failed_in_a_row,
            endpoint.c.failing_since,
        ).where(endpoint.c.id == endpoint_id)
    ).first()
    if row is None or not row.active:
        return None
    if row.failed_in_a_row >= DISABLE_AFTER:
        reason = f"{row.failed_in_a_row} messages in a row failed after every retry"
    elif row.failing_since is not None and row.failing_since + FAILING_FOR <= now:
        reason = "every attempt failed for a day"
    else:
        return None
    taken = conn.execute(
        update(endpoint)
        .where(endpoint.c.id == endpoint_id, endpoint.c.active)
        .values(active=False, disabled_at=now, disabled_reason=reason)
    ).rowcount
    if not taken:
        return None
    conn.execute(
        update(message)
        .where(message.c.endpoint_id == endpoint_id, message.c.status == "pending")
        .values(status="failed", claimed_until=None, last_error="endpoint disabled")
    )
    name = conn.execute(select(account.c.name).where(account.c.id == row.account_id)).scalar_one()
    admins = [
        (a.id, a.email, a.language if a.language in LANGUAGES else DEFAULT)
        for a in conn.execute(
            select(admin_user.c.id, admin_user.c.email, admin_user.c.language)
            .where(admin_user.c.account_id == row.account_id)
            .order_by(admin_user.c.id)
        )
    ]
    return Disabled(endpoint_id, row.account_id, row.url, reason, admins, name)


def _notify(sender: WebhookSender, disabled: Sequence[Disabled], now: datetime) -> int:
    """Tell each admin of the account; a message lost here is logged, the
    endpoint's page says it too."""
    messages: list[EmailMessage] = []
    for item in disabled:
        for admin_id, address, language in item.admins:
            try:
                messages.append(
                    webhook_disabled_message(
                        to=address,
                        sender=sender.mail_from,
                        language=language,
                        account_name=item.account_name,
                        url=item.url,
                        page_url=sender.urls.admin_page(f"webhooks/{item.endpoint_id}"),
                        message_id=sender.urls.webhook_disabled_message_id(
                            item.endpoint_id, int(now.timestamp()), admin_id
                        ),
                    )
                )
            except ValueError as exc:
                log.warning("webhook notice to admin %s cannot be written: %s", admin_id, exc)
    if not messages:
        return 0
    results = sender.transport.send_batch(messages)
    for result in results:
        if result.status != "sent":
            log.warning("webhook notice not sent: %s", result.detail)
    return sum(result.status == "sent" for result in results)


def send_batch(sender: WebhookSender, client: httpx.Client) -> tuple[Summary, int]:
    with db.write(sender.engine) as conn:
        due = claim(conn, sender.clock(), sender.batch_size, sender.lease)
    if not due:
        return Summary(), 0
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(due))) as pool:
        results = list(pool.map(lambda item: post(sender, client, item), due))
    now = sender.clock()
    with db.write(sender.engine) as conn:
        summary, disabled = mark(conn, sender, due, results, now)
    if disabled:
        _notify(sender, disabled, now)
    return summary, len(due)


def client(sender: WebhookSender) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(sender.timeout),
        follow_redirects=False,
        # No proxy from the environment: the checked address is what is called.
        trust_env=False,
        headers={"user-agent": "nps-beacon-webhooks/1"},
    )


def prune(sender: WebhookSender) -> int:
    """Delete finished messages older than ``KEEP_FOR`` with their attempts;
    at most hourly per process, so most passes skip it."""
    now = sender.clock()
    key = sender.engine.url.render_as_string(hide_password=True)
    last = _pruned.get(key)
    if last is not None and timedelta(0) <= now - last < PRUNE_EVERY:
        return 0
    _pruned[key] = now
    with db.write(sender.engine) as conn:
        ids = list(
            conn.execute(
                select(message.c.id)
                .where(message.c.status != "pending", message.c.created_at < now - KEEP_FOR)
                .limit(PRUNE_SLICE)
            ).scalars()
        )
        if ids:
            conn.execute(delete(attempt).where(attempt.c.message_id.in_(ids)))
            conn.execute(delete(message).where(message.c.id.in_(ids)))
    return len(ids)


def run_pass(sender: WebhookSender, stop: Callable[[], bool] | None = None) -> Summary:
    """Send every due message, batch after batch; now and then forget old ones."""
    prune(sender)
    total = Summary()
    with client(sender) as http:
        while stop is None or not stop():
            done, claimed = send_batch(sender, http)
            for name in ("delivered", "retried", "failed", "disabled"):
                setattr(total, name, getattr(total, name) + getattr(done, name))
            if claimed < sender.batch_size:
                break
    return total
