"""Sending the webhook outbox, in a lane of the worker beside the e-mail.

Like ``delivery.py``: a short transaction claims due messages under a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and counts the attempt; the POSTs
run outside any transaction, many at once on one event loop; another
transaction records every attempt and what became of each message. A worker
killed mid-attempt leaves its claims to run out, and another worker sends
them again with the same ``webhook-id``: delivery is at least once, and
receivers dedupe on it.

Every attempt has a deadline from connect to the last byte read
(``WebhookSender.deadline``), so a receiver that drips its answer a byte at a
time is cut off like one that says nothing. One receiver's slowness stays its
own: an endpoint has at most ``PER_ENDPOINT`` attempts in flight and an
account ``PER_ACCOUNT``, counted from the claims in the database, so over
every worker; and the lane claims again as soon as a slot is free, without
waiting for the slow attempts of others.

A non-2xx answer, a redirect (never followed), a time-out or a refused
target is a failed attempt, retried after 1 min, 5 min, 30 min, 2 h, 5 h and
10 h; a message still failing a day after it was written fails for good. An
endpoint is disabled after ``DISABLE_AFTER`` messages in a row failed for
good, or when every attempt failed for a day, and its account's admins get
an e-mail. In production the target is resolved and checked before each POST
(``webhooks.target``) and the connection goes to the checked address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, update

from app.platform import db, metrics, outbox
from app.platform.compose import admin_notice, checked_url, one_line
from app.platform.i18n import DEFAULT, LANGUAGES, translator
from app.platform.mail import Transport
from app.platform.models import account_table as account
from app.platform.models import admin_table as admin_user
from app.platform.models import webhook_attempt_table as attempt
from app.platform.models import webhook_endpoint_table as endpoint
from app.platform.models import webhook_message_table as message
from app.platform.urls import Urls
from app.webhooks import endpoints as webhooks
from app.webhooks import signatures, targets

log = logging.getLogger("nps_beacon.webhooks")

BATCH_SIZE = 20
LEASE = timedelta(minutes=5)
TIMEOUT = outbox.WEBHOOK_TIMEOUT
DEADLINE = outbox.WEBHOOK_DEADLINE
BODY_MAX = 64 * 1024  # bytes of an answer read; the rest is not waited for
PARALLEL = 16  # attempts in flight per worker
# Attempts in flight for one endpoint, and for all of one account's
# endpoints, over every worker: a slow receiver takes no more of the lane.
PER_ENDPOINT = 2
PER_ACCOUNT = 4
POLL = 0.25  # seconds between looks at finished attempts and at ``stop``
IDLE = 5.0  # seconds between claims while nothing finishes
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
    deadline: float = DEADLINE
    backoff: tuple[timedelta, ...] = BACKOFF
    resolver: targets.Resolver = targets.resolve


@dataclass
class Summary:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0

    def add(self, other: Summary) -> None:
        for name in ("delivered", "retried", "failed", "disabled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


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


def _fair_ids(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Up to ``limit`` due, unclaimed messages, oldest first, leaving out
    what would give an endpoint more than ``PER_ENDPOINT`` claims in flight or
    an account more than ``PER_ACCOUNT``. Claims in flight are those whose
    lease runs, whichever worker holds them; they rank first, so they use up
    their endpoint's and account's share."""
    m = message.c
    busy = case((m.claimed_until > now, 1), else_=0)
    per_endpoint = (
        select(
            m.id,
            m.account_id,
            m.next_attempt_at,
            busy.label("busy"),
            func.row_number()
            .over(partition_by=m.endpoint_id, order_by=(busy.desc(), m.next_attempt_at, m.id))
            .label("nth"),
        )
        .where(m.status == "pending", m.next_attempt_at <= now)
        .subquery()
    )
    e = per_endpoint.c
    per_account = (
        select(
            e.id,
            e.busy,
            func.row_number()
            .over(partition_by=e.account_id, order_by=(e.busy.desc(), e.next_attempt_at, e.id))
            .label("nth"),
        )
        .where(e.nth <= PER_ENDPOINT)
        .subquery()
    )
    chosen = select(per_account.c.id).where(
        per_account.c.busy == 0, per_account.c.nth <= PER_ACCOUNT
    )
    return list(
        conn.execute(
            select(m.id)
            .where(
                m.id.in_(chosen),
                # Again on the locked rows: another worker may have claimed one since.
                m.status == "pending",
                m.next_attempt_at <= now,
                or_(m.claimed_until.is_(None), m.claimed_until <= now),
            )
            .order_by(m.next_attempt_at, m.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def claim(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[Due]:
    ids = _fair_ids(conn, now, limit)
    if not ids:
        return []
    conn.execute(
        update(message)
        .where(message.c.id.in_(ids))
        .values(claimed_until=now + lease, attempts=message.c.attempts + 1)
    )
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


def _address_url(target: targets.Target) -> str:
    """The URL with its host replaced by the checked address."""
    parts = urlsplit(target.url)
    assert target.address is not None
    host = f"[{target.address}]" if ":" in target.address else target.address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def post(sender: WebhookSender, http: httpx.AsyncClient, due: Due) -> Result:
    """One attempt, within ``sender.deadline`` from the target check to the
    answer's last byte (at most ``BODY_MAX`` of it is read). Only the status
    counts: an answer whose status came in time is not failed for a body
    that did not."""
    started = time.monotonic()
    at = sender.clock()
    status: int | None = None

    def done(status: int | None, error: str | None) -> Result:
        elapsed = int((time.monotonic() - started) * 1000)
        return Result(status, error[:ERROR_MAX] if error else None, elapsed, at)

    try:
        async with asyncio.timeout(sender.deadline):
            try:
                # A thread: resolving the host in production may take a while.
                target = await asyncio.to_thread(
                    targets.target, due.url, sender.production, sender.resolver
                )
            except targets.TargetRefused as refused:
                return done(None, f"refused: {refused}")
            # The wall clock, whatever the sender's clock says: receivers
            # compare it with theirs to refuse replays.
            timestamp = int(time.time())
            head = signatures.headers(due.secrets, due.msg_id, timestamp, due.body)
            url = due.url
            extensions: dict[str, object] = {}
            if target.address is not None:
                # Connect to the address just checked; Host and TLS still name the host.
                url = _address_url(target)
                head["host"] = urlsplit(due.url).netloc
                if urlsplit(due.url).scheme == "https":
                    extensions["sni_hostname"] = target.host
            async with http.stream(
                "POST", url, content=due.body.encode(), headers=head, extensions=extensions
            ) as answer:
                status = answer.status_code
                await _read_some(answer)
    except TimeoutError:
        if status is None:
            return done(None, f"timed out: no answer within {sender.deadline:g} s")
    except httpx.TimeoutException:
        if status is None:
            return done(None, "timed out")
    except httpx.HTTPError as exc:
        if status is None:
            return done(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    assert status is not None
    if 300 <= status < 400:
        return done(status, "redirects are not followed")
    return done(status, None if 200 <= status < 300 else f"HTTP {status}")


async def _read_some(answer: httpx.Response) -> None:
    """Read the answer to its end or to ``BODY_MAX`` bytes, undecoded."""
    read = 0
    async for chunk in answer.aiter_raw():
        read += len(chunk)
        if read >= BODY_MAX:
            return


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


def webhook_disabled_message(
    *,
    to: str,
    sender: str,
    language: str,
    account_name: str,
    url: str,
    page_url: str,
    message_id: str,
) -> EmailMessage:
    """Tells an account's admin that a webhook endpoint was switched off
    after repeated failures, and where to switch it on again."""
    language = language if language in LANGUAGES else DEFAULT
    t = translator(language)
    account = one_line(account_name)
    target = one_line(url)
    subject = t("email.webhook.subject", account=account)
    paragraphs = [
        t("email.budget.greeting"),
        t("email.webhook.disabled", account=account, url=target),
        t("email.webhook.lost"),
    ]
    return admin_notice(
        to=to,
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        paragraphs=paragraphs,
        action=t("email.webhook.action"),
        link=checked_url(page_url),
        why=t("email.webhook.why", account=account),
    )


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


def client(sender: WebhookSender) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(sender.timeout),
        follow_redirects=False,
        # No proxy from the environment: the checked address is what is called.
        trust_env=False,
        # A connection per attempt: one opened for a checked address and host
        # name is never lent to another endpoint's attempt.
        limits=httpx.Limits(max_connections=PARALLEL, max_keepalive_connections=0),
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


def claim_batch(sender: WebhookSender, limit: int) -> list[Due]:
    with db.write(sender.engine) as conn:
        return claim(conn, sender.clock(), limit, sender.lease)


def record_results(sender: WebhookSender, finished: Sequence[tuple[Due, Result]]) -> Summary:
    """Mark finished attempts in one transaction; tell the admins of
    endpoints that were switched off."""
    now = sender.clock()
    with db.write(sender.engine) as conn:
        summary, disabled = mark(
            conn, sender, [due for due, _ in finished], [result for _, result in finished], now
        )
    if disabled:
        _notify(sender, disabled, now)
    for outcome in ("delivered", "retried", "failed"):
        metrics.webhook(outcome, getattr(summary, outcome))
    return summary


async def send_one(sender: WebhookSender, http: httpx.AsyncClient, due: Due) -> tuple[Due, Result]:
    try:
        return due, await post(sender, http, due)
    except Exception as exc:
        # One odd target must not end the lane; the message is tried again.
        log.exception("webhook attempt %s failed", due.msg_id)
        return due, Result(None, f"{type(exc).__name__}: {exc}"[:ERROR_MAX], 0, sender.clock())
