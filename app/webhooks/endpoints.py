"""Webhooks: an account's endpoints and the outbox its events go to (the
signature is ``signatures.py``, the check of a target ``targets.py``).

``emit`` is called inside the transaction that caused the event, and writes
one outbox row per active endpoint that wants it with ONE ``INSERT ...
SELECT``: the submission path pays one cheap statement, which inserts nothing
when the account has no endpoints, and a rolled-back submission emits
nothing. ``webhooks/delivery.py`` sends the rows.

Payloads are ``{type, timestamp, data}``. ``record.refused`` carries the
reason, the survey and the record's ``external_id`` but never the address:
an integration knows whom its external id stands for, and an address would
travel to every endpoint of the account. Endpoint secrets are kept as they
are (an HMAC needs the key itself), shown once on creation and rotation, and
never logged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, select, text, update

from app.platform import db, driver
from app.platform.models import UTCDateTime
from app.platform.models import webhook_attempt_table as attempt
from app.platform.models import webhook_endpoint_table as endpoint
from app.platform.models import webhook_message_table as message
from app.webhooks.signatures import new_secret
from app.webhooks.targets import Resolver, TargetRefused, resolve, target

EVENTS = (
    "response.created",
    "response.updated",
    "record.refused",
    "budget.threshold",
    "inbox.updated",
)
TEST_EVENT = "webhook.test"
MAX_ENDPOINTS = 20
# After a rotation the old secret keeps signing this long, beside the new
# one, so a receiver can switch without losing messages.
ROTATION_OVERLAP = timedelta(hours=24)
LOG_SIZE = 50


# -- the outbox ----------------------------------------------------------------


def message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def body(event_type: str, now: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": iso(now), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_EMIT = text(
    "INSERT INTO webhook_message (endpoint_id, account_id, msg_id, event_type, body, status,"
    " next_attempt_at, attempts, created_at)"
    " SELECT id, account_id, :msg_id, :event_type, :body, 'pending', :now, 0, :now"
    " FROM webhook_endpoint WHERE account_id = :account_id AND active AND events LIKE :wanted"
    # An event with an id of its own is queued once however often it is told.
    " ON CONFLICT (endpoint_id, msg_id) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()))


def emit(
    conn: driver.Executor,
    account_id: int,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    *,
    msg_id: str | None = None,
) -> None:
    """Queue ``event_type`` for each of the account's active endpoints that
    want it, in the caller's transaction. One statement; every endpoint gets
    the same ``webhook-id``, as one message fanned out. An event that may be
    told again (a budget level crossed) names its own ``msg_id``: told twice,
    it is queued once."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    conn.execute(
        _EMIT,
        {
            "msg_id": msg_id or message_id(),
            "event_type": event_type,
            "body": body(event_type, now, data),
            "now": now,
            "account_id": account_id,
            "wanted": f"%,{event_type},%",
        },
    )


def response_data(
    *,
    response_id: int,
    survey_id: int,
    survey_name: str | None,
    score: int,
    segment: str,
    comment: str | None,
    channel: str,
    created_at: datetime | None,
    answers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A response event's data; ``answers`` are the follow-up answers given
    with this event, by question id (option ids for choices and tags)."""
    return {
        "id": response_id,
        "survey": {"id": survey_id, "name": survey_name},
        "score": score,
        "segment": segment,
        "comment": comment,
        "answers": dict(answers or {}),
        "channel": channel,
        "created_at": iso(created_at) if created_at is not None else None,
    }


# -- endpoints (the admin page) ------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    id: int
    account_id: int
    url: str
    events: tuple[str, ...]
    active: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime


_ENDPOINT_COLUMNS = [
    endpoint.c.id,
    endpoint.c.account_id,
    endpoint.c.url,
    endpoint.c.events,
    endpoint.c.active,
    endpoint.c.disabled_at,
    endpoint.c.disabled_reason,
    endpoint.c.created_at,
]


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        row.id,
        row.account_id,
        row.url,
        tuple(event for event in row.events.split(",") if event),
        bool(row.active),
        row.disabled_at,
        row.disabled_reason,
        row.created_at,
    )


def _events(wanted: Sequence[str]) -> str:
    unknown = [event for event in wanted if event not in EVENTS]
    if unknown:
        raise TargetRefused(f"unknown events: {', '.join(unknown)}", "unknown_event")
    if not wanted:
        raise TargetRefused("choose at least one event", "no_events")
    return "," + ",".join(event for event in EVENTS if event in wanted) + ","


def create(
    engine: Engine,
    account_id: int,
    url: str,
    events: Sequence[str],
    now: datetime,
    production: bool,
    resolver: Resolver = resolve,
) -> tuple[Endpoint, str]:
    """A new active endpoint and its secret, which no page shows again.
    Raises ``TargetRefused`` with a code for the form."""
    url = url.strip()
    stored_events = _events(events)
    target(url, production, resolver)
    secret = new_secret()
    with db.write(engine) as conn:
        count = conn.execute(select(endpoint.c.id).where(endpoint.c.account_id == account_id)).all()
        if len(count) >= MAX_ENDPOINTS:
            raise TargetRefused(f"at most {MAX_ENDPOINTS} endpoints", "too_many")
        row = conn.execute(
            insert(endpoint)
            .values(
                account_id=account_id,
                url=url,
                events=stored_events,
                secret=secret,
                active=True,
                failed_in_a_row=0,
                created_at=now,
            )
            .returning(*_ENDPOINT_COLUMNS)
        ).one()
    return _endpoint(row), secret


def list_for_account(engine: Engine, account_id: int) -> list[Endpoint]:
    with db.read(engine) as conn:
        rows = conn.execute(
            select(*_ENDPOINT_COLUMNS)
            .where(endpoint.c.account_id == account_id)
            .order_by(endpoint.c.created_at, endpoint.c.id)
        )
        return [_endpoint(row) for row in rows]


def find(engine: Engine, account_id: int, endpoint_id: int) -> Endpoint | None:
    """The account's endpoint; another account's is None, like none at all."""
    with db.read(engine) as conn:
        row = conn.execute(
            select(*_ENDPOINT_COLUMNS).where(
                endpoint.c.id == endpoint_id, endpoint.c.account_id == account_id
            )
        ).first()
    return None if row is None else _endpoint(row)


def _mine(endpoint_id: int, account_id: int) -> Any:
    return (endpoint.c.id == endpoint_id) & (endpoint.c.account_id == account_id)


def update_endpoint(
    engine: Engine,
    account_id: int,
    endpoint_id: int,
    url: str,
    events: Sequence[str],
    active: bool,
    production: bool,
    resolver: Resolver = resolve,
) -> bool:
    """Save the form; switching it on again forgets the failures that
    disabled it. False when the account has no such endpoint."""
    url = url.strip()
    stored_events = _events(events)
    target(url, production, resolver)
    values: dict[str, Any] = {"url": url, "events": stored_events, "active": active}
    if active:
        values.update(disabled_at=None, disabled_reason=None, failed_in_a_row=0, failing_since=None)
    with db.write(engine) as conn:
        changed = conn.execute(
            update(endpoint).where(_mine(endpoint_id, account_id)).values(**values)
        )
    return changed.rowcount == 1


def rotate(engine: Engine, account_id: int, endpoint_id: int, now: datetime) -> str | None:
    """A new secret (returned once); the old one signs beside it for a day."""
    secret = new_secret()
    with db.write(engine) as conn:
        done = conn.execute(
            update(endpoint)
            .where(_mine(endpoint_id, account_id))
            .values(
                previous_secret=endpoint.c.secret,
                previous_until=now + ROTATION_OVERLAP,
                secret=secret,
            )
        ).rowcount
    return secret if done == 1 else None


def remove(engine: Engine, account_id: int, endpoint_id: int) -> bool:
    """Delete the endpoint with its outbox rows and log."""
    with db.write(engine) as conn:
        found = conn.execute(select(endpoint.c.id).where(_mine(endpoint_id, account_id))).first()
        if found is None:
            return False
        # Explicit rather than ON DELETE CASCADE alone: SQLite enforces it only
        # with its foreign keys on, and the order keeps every reference valid.
        conn.execute(delete(attempt).where(attempt.c.endpoint_id == endpoint_id))
        conn.execute(delete(message).where(message.c.endpoint_id == endpoint_id))
        conn.execute(delete(endpoint).where(endpoint.c.id == endpoint_id))
    return True


def send_test(engine: Engine, account_id: int, endpoint_id: int, now: datetime) -> bool:
    """Queue a ``webhook.test`` message for this endpoint alone, whatever it
    subscribes to and even when it is disabled (so the owner can check it)."""
    data = {"message": "A test event from nps-beacon.", "endpoint_id": endpoint_id}
    with db.write(engine) as conn:
        found = conn.execute(select(endpoint.c.id).where(_mine(endpoint_id, account_id))).first()
        if found is None:
            return False
        conn.execute(
            insert(message).values(
                endpoint_id=endpoint_id,
                account_id=account_id,
                msg_id=message_id(),
                event_type=TEST_EVENT,
                body=body(TEST_EVENT, now, data),
                status="pending",
                next_attempt_at=now,
                attempts=0,
                created_at=now,
            )
        )
    return True


@dataclass(frozen=True)
class LogEntry:
    attempted_at: datetime
    msg_id: str
    event_type: str
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Queued:
    msg_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime


def delivery_log(
    engine: Engine, account_id: int, endpoint_id: int, limit: int = LOG_SIZE
) -> tuple[list[LogEntry], list[Queued]]:
    """The endpoint's latest attempts, newest first, and the messages still
    waiting for a first or next attempt."""
    with db.read(engine) as conn:
        rows = conn.execute(
            select(
                attempt.c.attempted_at,
                message.c.msg_id,
                message.c.event_type,
                attempt.c.status_code,
                attempt.c.error,
                attempt.c.duration_ms,
            )
            .join(message, message.c.id == attempt.c.message_id)
            .join(endpoint, endpoint.c.id == attempt.c.endpoint_id)
            .where(attempt.c.endpoint_id == endpoint_id, endpoint.c.account_id == account_id)
            .order_by(attempt.c.attempted_at.desc(), attempt.c.id.desc())
            .limit(limit)
        ).all()
        waiting = conn.execute(
            select(
                message.c.msg_id,
                message.c.event_type,
                message.c.status,
                message.c.attempts,
                message.c.next_attempt_at,
                message.c.created_at,
            )
            .where(
                message.c.endpoint_id == endpoint_id,
                message.c.account_id == account_id,
                message.c.status == "pending",
            )
            .order_by(message.c.next_attempt_at, message.c.id)
            .limit(limit)
        ).all()
    return [LogEntry(*row) for row in rows], [Queued(*row) for row in waiting]
