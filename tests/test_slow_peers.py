"""Peers that drip their answers one byte every few seconds (tests/drip_server.py)
hold back no one: every webhook attempt and every SMTP conversation has a
deadline, webhooks run in a lane of their own beside the e-mail, and one
endpoint or account has a bounded share of that lane; on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from app import db, webhook_delivery, webhooks
from app.models import webhook_message_table
from app.settings import Settings
from tests.conftest import Clock, seed
from tests.drip_server import HTTP_OK, running_drip_server
from tests.smtp_server import SmtpServer
from tests.test_delivery import PUBLIC, _accept, _process, _rows, _subprocess_env, _wait_for
from tests.test_webhooks import _endpoint, _sender
from tests.webhook_receiver import Receiver

MARGIN = 3.0  # seconds past a deadline that a loaded machine may take to act on it


def _emit(engine: Engine, account_id: int, count: int, now: datetime) -> None:
    with db.write(engine) as conn:
        for number in range(count):
            webhooks.emit(conn, account_id, "inbox.updated", {"id": number}, now)


# -- webhooks ----------------------------------------------------------------------


def test_a_receiver_dripping_its_status_fails_the_attempt_at_the_deadline(
    engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    with running_drip_server(HTTP_OK, every=1.0, http=True) as drip:
        _endpoint(engine, shop.account_id, drip.url("/hooks"))
        _emit(engine, shop.account_id, 1, clock())
        summary = webhook_delivery.run_pass(_sender(engine, clock, smtp_server, deadline=2))
        [connection] = drip.finished()

    assert summary == webhook_delivery.Summary(retried=1)
    assert connection.lasted is not None and connection.lasted < 2 + MARGIN
    [attempt] = _rows(engine, "SELECT status_code, error, duration_ms FROM webhook_attempt")
    assert (attempt.status_code, attempt.error) == (None, "timed out: no answer within 2 s")
    assert attempt.duration_ms < (2 + MARGIN) * 1000
    with db.read(engine) as conn:
        [message] = conn.execute(select(webhook_message_table)).all()
    assert (message.status, message.claimed_until) == ("pending", None)
    assert message.next_attempt_at > clock()  # tried again with the backoff


def test_a_status_in_time_delivers_though_the_body_drips_on(
    engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    with running_drip_server(head + b"x" * 100, every=1.0, http=True, at_once=len(head)) as drip:
        _endpoint(engine, shop.account_id, drip.url("/hooks"))
        _emit(engine, shop.account_id, 1, clock())
        summary = webhook_delivery.run_pass(_sender(engine, clock, smtp_server, deadline=2))
        [connection] = drip.finished()

    assert summary == webhook_delivery.Summary(delivered=1)
    assert connection.lasted is not None and connection.lasted < 2 + MARGIN
    [attempt] = _rows(engine, "SELECT status_code, error FROM webhook_attempt")
    assert (attempt.status_code, attempt.error) == (200, None)


def test_a_dripping_receiver_holds_back_no_other_account_in_the_worker(
    engine: Engine,
    settings: Settings,
    smtp_server: SmtpServer,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """One account's three endpoints drip; the worker still sends another
    account's invitation and webhook at once, and gives the dripping account
    no more than its share of attempts at a time."""
    dripping = seed(engine)
    invited = seed(engine)
    hooked = seed(engine)
    deadline = 6
    with running_drip_server(HTTP_OK, every=2.0, http=True) as drip:
        paths = [f"/hooks/{n}" for n in range(3)]
        for path in paths:
            _endpoint(engine, dripping.account_id, drip.url(path))
        _endpoint(engine, hooked.account_id, receiver.url)
        _emit(engine, dripping.account_id, 4, datetime.now(UTC))  # 12 messages
        env = _subprocess_env(
            settings,
            SMTP_URL=smtp_server.url(),
            PUBLIC_URL=PUBLIC,
            WEBHOOK_DEADLINE=str(deadline),
        )
        with _process(["worker"], env, tmp_path) as worker:
            _wait_for(lambda: drip.open_now() > 0, worker, "the drip")
            # Due now, while the drip goes on.
            due = time.monotonic()
            _accept(engine, invited, "ana@example.com", datetime.now(UTC))
            _emit(engine, hooked.account_id, 1, datetime.now(UTC))
            _wait_for(lambda: smtp_server.addresses == ["ana@example.com"], worker, "the mail")
            mailed = time.monotonic() - due
            dripping_then = drip.open_now()
            _wait_for(lambda: len(receiver.requests) == 1, worker, "the webhook")
            hooked_after = time.monotonic() - due
            # Let the first attempts reach their deadline and be marked.
            _wait_for(lambda: len(_attempts(engine, dripping.account_id)) >= 4, worker, "marks")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=deadline + 30) == 0
        cut = drip.finished()

    assert mailed < 15 and hooked_after < 15
    assert dripping_then > 0
    # Two attempts at a time per endpoint, four per account.
    assert drip.most_open <= webhook_delivery.PER_ACCOUNT
    assert max(drip.most_open_per_path.values()) <= webhook_delivery.PER_ENDPOINT
    assert cut and all(c.lasted is not None and c.lasted < deadline + MARGIN for c in cut)
    for attempt in _attempts(engine, dripping.account_id):
        assert attempt.status_code is None
        assert attempt.error == f"timed out: no answer within {deadline} s"
        assert attempt.duration_ms < (deadline + MARGIN) * 1000
    left = _rows(
        engine,
        "SELECT status, count(*) AS n FROM webhook_message WHERE account_id = :a GROUP BY status",
        a=dripping.account_id,
    )
    assert [(row.status, row.n) for row in left] == [("pending", 12)]


def _attempts(engine: Engine, account_id: int) -> list[Any]:
    return list(
        _rows(
            engine,
            "SELECT a.status_code, a.error, a.duration_ms FROM webhook_attempt a"
            " JOIN webhook_endpoint e ON e.id = a.endpoint_id WHERE e.account_id = :a",
            a=account_id,
        )
    )
