"""Peers that drip their answers one byte every few seconds (tests/drip_server.py)
hold back no one: every webhook attempt and every SMTP conversation has a
deadline, webhooks run in a lane of their own beside the e-mail, and one
endpoint or account has a bounded share of that lane; on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app import worker
from app.platform import db
from app.platform.db import create_db_engine
from app.platform.mail import SmtpConfig, SmtpTransport, parse_smtp_url
from app.platform.models import webhook_message_table
from app.platform.outbox import Sender, Summary
from app.platform.settings import Settings
from app.webhooks import delivery as webhook_delivery
from app.webhooks import endpoints as webhooks
from app.webhooks import lanes
from tests.conftest import Clock, seed
from tests.drip_server import HTTP_OK, running_drip_server
from tests.smtp_server import SmtpServer
from tests.test_delivery import (
    MAIL_FROM,
    PUBLIC,
    URLS,
    UTC_ZONE,
    _accept,
    _invitation,
    _invitations_received,
    _process,
    _rows,
    _subprocess_env,
    _summary,
    _used,
    _wait_for,
    _worker_once,
    cli_env,  # noqa: F401  (a fixture)
)
from tests.test_mail import note, statuses
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
        summary = lanes.run_pass(_sender(engine, clock, smtp_server, deadline=2))
        [connection] = drip.finished(at_least=1)

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
        summary = lanes.run_pass(_sender(engine, clock, smtp_server, deadline=2))
        [connection] = drip.finished(at_least=1)

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


def test_two_workers_share_one_endpoints_slots_and_never_attempt_one_message_twice(
    settings: Settings, engine: Engine, smtp_server: SmtpServer
) -> None:
    """The share of an endpoint is counted from the claims in the database:
    two workers at once still keep two attempts open at the dripping
    receiver, and each message is tried by one of them only."""
    shop = seed(engine)
    with running_drip_server(HTTP_OK, every=1.0, http=True) as drip:
        _endpoint(engine, shop.account_id, drip.url("/hooks"))
        _emit(engine, shop.account_id, 6, datetime.now(UTC))
        start = threading.Barrier(2)
        summaries: list[webhook_delivery.Summary] = []

        def work() -> None:
            own = create_db_engine(settings.db_url, write_wait=30)
            try:
                sender = _sender(own, lambda: datetime.now(UTC), smtp_server, deadline=2)
                start.wait()
                summaries.append(lanes.run_pass(sender))
            finally:
                own.dispose()

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        connections = len(drip.connections)

    assert drip.most_open_per_path["/hooks"] <= webhook_delivery.PER_ENDPOINT
    assert connections == 6
    assert sum(summary.retried for summary in summaries) == 6
    rows = _rows(engine, "SELECT status, attempts FROM webhook_message")
    assert sorted((row.status, row.attempts) for row in rows) == [("pending", 1)] * 6


def _attempts(engine: Engine, account_id: int) -> list[Any]:
    return list(
        _rows(
            engine,
            "SELECT a.status_code, a.error, a.duration_ms FROM webhook_attempt a"
            " JOIN webhook_endpoint e ON e.id = a.endpoint_id WHERE e.account_id = :a",
            a=account_id,
        )
    )


# -- e-mail ------------------------------------------------------------------------

BANNER = b"220 drip.example ESMTP\r\n"


def test_a_dripping_smtp_banner_is_cut_at_the_conversation_deadline() -> None:
    with running_drip_server(BANNER, every=1.0) as drip:
        config = SmtpConfig("127.0.0.1", drip.port, None, None, "none")
        results = SmtpTransport(config, deadline=2).send_batch([note(1), note(2)])
        [connection] = drip.finished(at_least=1)

    assert statuses(results) == ["transient", "transient"]
    assert results[0].detail == (
        f"no session with 127.0.0.1:{drip.port}: cut off: the conversation passed its 2 s"
    )
    assert connection.lasted is not None and connection.lasted < 2 + MARGIN


def test_a_dripping_tls_handshake_is_cut_at_the_conversation_deadline() -> None:
    """The deadline holds through TLS too: the start of a handshake record,
    a byte a second, with no end in sight."""
    record = b"\x16\x03\x03\x40\x00" + b"\x02" * 64
    with running_drip_server(record, every=1.0) as drip:
        config = SmtpConfig("127.0.0.1", drip.port, None, None, "tls")
        results = SmtpTransport(config, deadline=2).send_batch([note(1)])
        [connection] = drip.finished(at_least=1)

    assert statuses(results) == ["transient"]
    assert results[0].detail.endswith("cut off: the conversation passed its 2 s")
    assert connection.lasted is not None and connection.lasted < 2 + MARGIN


@pytest.mark.usefixtures("cli_env")
def test_worker_once_with_a_dripping_mail_server_ends_and_keeps_the_invitations_for_later(
    engine: Engine,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop = seed(engine)
    now = datetime.now(UTC)
    waiting = [_accept(engine, shop, f"p{n}@example.com", now) for n in range(2)]
    with running_drip_server(BANNER, every=5.0) as drip:
        monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{drip.port}")
        monkeypatch.setenv("SMTP_DEADLINE", "3")
        summary = _worker_once(capsys)
        [connection] = drip.finished(at_least=1)

    assert summary == _summary(retried=2)
    assert connection.lasted is not None and connection.lasted < 3 + MARGIN
    for outcome in waiting:
        row = _invitation(engine, outcome)
        assert (row.status, row.attempts, row.claimed_until, row.given_back_at) == (
            "scheduled",
            1,
            None,
            None,
        )
        assert row.last_error.endswith("cut off: the conversation passed its 3 s")
    assert _used(engine, shop.account_id, row.period) == (2, 2)  # nothing given back

    # Tried again later, through a mail server that answers.
    later = Sender(
        engine=engine,
        transport=SmtpTransport(parse_smtp_url(smtp_server.url())),
        urls=URLS,
        mail_from=MAIL_FROM,
        zone=UTC_ZONE,
        clock=lambda: datetime.now(UTC) + timedelta(minutes=1),
    )
    assert worker.run_pass(later).sent == 2
    assert sorted(smtp_server.addresses) == ["p0@example.com", "p1@example.com"]


def test_a_batch_longer_than_its_lease_stops_so_no_second_worker_sends_a_message_twice(
    settings: Settings, engine: Engine, smtp_server: SmtpServer
) -> None:
    """A relay that takes a second a message, and a lease of four seconds for
    a batch of ten: the first worker stops sending and marks its batch before
    the lease runs out, so the second, passing again and again meanwhile,
    finds nothing of it to claim."""
    shop = seed(engine, tariff="basic")
    now = datetime.now(UTC)
    for n in range(10):
        _accept(engine, shop, f"person{n}@example.com", now)
    smtp_server.data_delay = 1.0
    lease = timedelta(seconds=4)
    first_done = threading.Event()
    summaries: dict[str, Summary] = {}

    def first() -> None:
        own = create_db_engine(settings.db_url, write_wait=30)
        try:
            sender = Sender(**_values(own, smtp_server), lease=lease, batch_size=10)
            summaries["first"] = worker.run_pass(sender)
        finally:
            first_done.set()
            own.dispose()

    def second() -> None:
        own = create_db_engine(settings.db_url, write_wait=30)
        sender = Sender(**_values(own, smtp_server), lease=lease, batch_size=10)
        total = Summary()
        try:
            time.sleep(0.5)
            until = time.monotonic() + lease.total_seconds() + 4
            while time.monotonic() < until or not first_done.is_set():
                total.add(worker.run_pass(sender))
                time.sleep(0.2)
        finally:
            summaries["second"] = total
            own.dispose()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    per_id = Counter(str(m["Message-ID"]) for m in _invitations_received(smtp_server))
    assert per_id and set(per_id.values()) == {1}, per_id
    assert summaries["first"].retried > 0  # it stopped before the lease ran out
    assert summaries["second"].sent == 0
    rows = _rows(engine, "SELECT status, count(*) AS n FROM invitation GROUP BY status")
    assert {row.status: row.n for row in rows}.get("sent", 0) == summaries["first"].sent


def _values(engine: Engine, server: SmtpServer) -> dict[str, Any]:
    return {
        "engine": engine,
        "transport": SmtpTransport(parse_smtp_url(server.url()), timeout=10),
        "urls": URLS,
        "mail_from": MAIL_FROM,
        "zone": UTC_ZONE,
    }
