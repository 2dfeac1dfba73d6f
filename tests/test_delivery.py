"""Sending invitations and budget alerts, against a real SMTP server (aiosmtpd)
on real databases, through ``nps-beacon worker`` and the delivery functions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text, update

from app import worker
from app.accounts import accounts
from app.budget import alerts
from app.cli import main as cli
from app.invitations import delivery, record_in, record_status, records
from app.invitations.records import Outcome, Source
from app.platform import db, outbox
from app.platform.db import create_db_engine
from app.platform.mail import Delivery, SmtpTransport, parse_smtp_url
from app.platform.models import invitation_table, recipient_table
from app.platform.outbox import Sender, Summary
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.urls import Urls
from tests import invariants
from tests.conftest import PG_URL, SECRET, Seeded, seed, set_budget
from tests.servers import ROOT
from tests.smtp_server import SmtpServer

T0 = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
PERIOD = "2026-05"
UTC_ZONE = ZoneInfo("UTC")
PUBLIC = "https://feedback.example"
MAIL_FROM = "Shop feedback <feedback@shop.example>"
URLS = Urls(PUBLIC, Signer((SECRET,), 3600))
API = Source("api", "Shop")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _accept(
    engine: Engine, shop: Seeded, email: str, when: datetime = T0, **fields: Any
) -> Outcome:
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": email, **fields}, when)
    outcome = records.accept(engine, shop.account_id, wanted, API, when, UTC_ZONE)
    assert outcome.accepted, outcome
    return outcome


def _invitation(engine: Engine, outcome: Outcome) -> Any:
    with db.read(engine) as conn:
        return conn.execute(
            select(invitation_table).where(invitation_table.c.record_id == outcome.id)
        ).one()


def _rows(engine: Engine, sql: str, **params: Any) -> Sequence[Any]:
    with db.read(engine) as conn:
        return conn.execute(text(sql), params).all()


def _sender(engine: Engine, server: SmtpServer, clock: Clock, **changes: Any) -> Sender:
    values: dict[str, Any] = {
        "engine": engine,
        "transport": SmtpTransport(parse_smtp_url(server.url()), timeout=10),
        "urls": URLS,
        "mail_from": MAIL_FROM,
        "zone": UTC_ZONE,
        "clock": clock,
    }
    return Sender(**{**values, **changes})


def _invitations_received(server: SmtpServer) -> list[EmailMessage]:
    messages = [item.message for item in server.received]
    return [m for m in messages if str(m["Message-ID"]).startswith("<invitation-")]


def _alerts_received(server: SmtpServer) -> list[EmailMessage]:
    messages = [item.message for item in server.received]
    return [m for m in messages if str(m["Message-ID"]).startswith("<budget-")]


def _used(engine: Engine, account_id: int, period: str = PERIOD) -> tuple[int, int]:
    with db.read(engine) as conn:
        return invariants.usage_invariant(conn, account_id, period)


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(settings.var_dir.parent)  # var/ (the outbox) is relative to the directory
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", SECRET)
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("MAIL_FROM", MAIL_FROM)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.delenv("SMTP_URL", raising=False)


def _worker_once(capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    code = cli(["worker", "--once"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return cast(dict[str, int], json.loads(captured.out))


def _summary(**counts: int) -> dict[str, int]:
    return {
        "sent": 0,
        "retried": 0,
        "failed": 0,
        "cancelled": 0,
        "alerts": 0,
        "inbox": 0,
        "webhooks_delivered": 0,
        "webhooks_retried": 0,
        "webhooks_failed": 0,
        **counts,
    }


# -- through the command -----------------------------------------------------------


def test_worker_once_delivers_a_due_invitation_once_with_its_headers(
    engine: Engine,
    smtp_server: SmtpServer,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SMTP_URL", smtp_server.url())
    shop = seed(engine, email="owner@shop.example")
    now = datetime.now(UTC)
    due = _accept(engine, shop, "Ana@Example.com", now, name="Ana Lima")
    later = _accept(engine, shop, "ben@example.com", now, event_at=_iso(now + timedelta(days=2)))

    assert _worker_once(capsys) == _summary(sent=1)
    assert _worker_once(capsys) == _summary()  # nothing due any more, nothing twice

    assert len(smtp_server.received) == 1
    item = smtp_server.received[0]
    assert item.rcpt_tos == ("Ana@Example.com",)
    assert item.mail_from == "feedback@shop.example"
    message = item.message
    row = _invitation(engine, due)
    assert message["To"] == "Ana Lima <Ana@Example.com>"
    # MAIL_FROM's address under the account's name.
    assert message["From"] == "Shop <feedback@shop.example>"
    assert message["Message-ID"] == URLS.message_id(row.id)
    assert message["List-Unsubscribe"] == f"<{URLS.unsubscribe(row.id)}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Content-Language"] == "en"
    html = _part(message, "text/html")
    for score in range(11):
        assert f'href="{URLS.invitation(row.id, score)}"' in html
    assert (row.status, row.attempts, row.claimed_until, row.last_error) == ("sent", 1, None, None)
    assert row.sent_at is not None and row.given_back_at is None
    waiting = _invitation(engine, later)
    assert (waiting.status, waiting.attempts, waiting.sent_at) == ("scheduled", 0, None)
    assert _used(engine, shop.account_id, row.period) == (2, 2)


def test_production_without_smtp_url_refuses_to_start(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert cli(["worker", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SMTP_URL" in err and "Traceback" not in err


def test_without_smtp_url_development_writes_the_outbox(
    engine: Engine, settings: Settings, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine)
    outcome = _accept(engine, shop, "ana@example.com", datetime.now(UTC))

    assert _worker_once(capsys) == _summary(sent=1)

    row = _invitation(engine, outcome)
    outbox = settings.var_dir / "outbox"
    path = delivery.outbox_path(outbox, URLS, row.id)
    assert sorted(outbox.iterdir()) == [path]
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == URLS.message_id(row.id)
    assert message["To"] == "ana@example.com"
    assert row.status == "sent"


def test_serve_in_development_sends_in_process_unless_told_not_to() -> None:
    from app.cli import _parser, _sends_in_process

    development = Settings(secret_keys=("k",))
    serve, quiet = (_parser().parse_args(argv) for argv in (["serve"], ["serve", "--no-sender"]))
    assert _sends_in_process(development, serve)
    assert not _sends_in_process(development, quiet)
    assert not _sends_in_process(development.replace(smtp_url="smtp://127.0.0.1:2525"), serve)
    assert not _sends_in_process(development.replace(environment="production"), serve)


@pytest.mark.server
def test_serve_writes_due_invitations_to_the_outbox(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    shop = seed(engine)
    outcome = _accept(engine, shop, "ana@example.com", datetime.now(UTC))
    row = _invitation(engine, outcome)
    path = delivery.outbox_path(tmp_path / "var" / "outbox", URLS, row.id)
    env = _subprocess_env(settings, PUBLIC_URL=PUBLIC)
    with _process(["serve", "--port", "0"], env, tmp_path) as process:
        _wait_for(lambda: _invitation(engine, outcome).status == "sent", process, "the mark")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == URLS.message_id(row.id)


@pytest.mark.server
def test_the_worker_loops_until_sigterm(
    engine: Engine, settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    shop = seed(engine)
    env = _subprocess_env(settings, SMTP_URL=smtp_server.url(), PUBLIC_URL=PUBLIC)
    with _process(["worker"], env, tmp_path) as process:
        _accept(engine, shop, "ana@example.com", datetime.now(UTC))
        _wait_for(lambda: len(smtp_server.received) == 1, process, "the first message")
        _accept(engine, shop, "ben@example.com", datetime.now(UTC))
        _wait_for(lambda: len(smtp_server.received) == 2, process, "the second message")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert smtp_server.addresses == ["ana@example.com", "ben@example.com"]


# -- retries, failures, giving back ----------------------------------------------------


def test_a_4xx_is_retried_later_and_delivered_once(engine: Engine, smtp_server: SmtpServer) -> None:
    shop = seed(engine)
    outcome = _accept(engine, shop, "ana@example.com")
    clock = Clock(T0)
    sender = _sender(engine, smtp_server, clock)
    smtp_server.answer_next("RCPT", 451, text="Greylisted, try again")

    assert worker.run_pass(sender) == Summary(retried=1)
    row = _invitation(engine, outcome)
    assert (row.status, row.attempts, row.claimed_until) == ("scheduled", 1, None)
    assert row.next_attempt_at == T0 + timedelta(minutes=1)
    assert "451" in row.last_error and "Greylisted" in row.last_error

    clock.now = T0 + timedelta(seconds=59)
    assert worker.run_pass(sender) == Summary()  # not due yet
    clock.now = T0 + timedelta(minutes=1)
    assert worker.run_pass(sender) == Summary(sent=1)
    clock.now = T0 + timedelta(hours=2)
    assert worker.run_pass(sender) == Summary()

    assert smtp_server.addresses == ["ana@example.com"]
    row = _invitation(engine, outcome)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, T0 + timedelta(minutes=1))
    assert _used(engine, shop.account_id) == (1, 1)


def test_a_5xx_fails_and_gives_the_count_back(engine: Engine, smtp_server: SmtpServer) -> None:
    shop = seed(engine)
    unknown = _accept(engine, shop, "nobody@example.com")
    known = _accept(engine, shop, "ana@example.com")
    assert _used(engine, shop.account_id) == (2, 2)
    smtp_server.answer_next("RCPT", 550, text="No such user")

    assert worker.run_pass(_sender(engine, smtp_server, Clock(T0))) == Summary(sent=1, failed=1)

    failed = _invitation(engine, unknown)
    assert (failed.status, failed.given_back_at, failed.sent_at) == ("failed", T0, None)
    assert "550" in failed.last_error and "No such user" in failed.last_error
    assert _invitation(engine, known).status == "sent"
    assert smtp_server.addresses == ["ana@example.com"]
    assert _used(engine, shop.account_id) == (1, 1)


def test_a_connection_dropped_mid_batch_loses_nothing_and_sends_nothing_twice(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, tariff="basic")
    addresses = [f"person{n}@example.com" for n in range(7)]
    for address in addresses:
        _accept(engine, shop, address)
    clock = Clock(T0)
    sender = _sender(engine, smtp_server, clock)
    smtp_server.drop_after(3)

    assert worker.run_pass(sender) == Summary(sent=3, retried=4)
    assert smtp_server.addresses == addresses[:3]
    clock.now = T0 + timedelta(minutes=1)
    assert worker.run_pass(sender) == Summary(sent=4)
    assert worker.run_pass(sender) == Summary()

    assert Counter(smtp_server.addresses) == Counter(addresses)
    ids = Counter(str(m["Message-ID"]) for m in _invitations_received(smtp_server))
    assert len(ids) == 7 and set(ids.values()) == {1}
    assert _rows(engine, "SELECT status, count(*) FROM invitation GROUP BY status") == [("sent", 7)]
    assert _used(engine, shop.account_id) == (7, 7)


def test_transient_failures_back_off_and_after_a_day_fail_and_give_back(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    outcome = _accept(engine, shop, "ana@example.com")
    clock = Clock(T0)
    sender = _sender(engine, smtp_server, clock)
    smtp_server.answer_next("RCPT", 452, count=1_000, text="Mailbox full")

    waits = []
    while True:
        assert worker.run_pass(sender) in (Summary(retried=1), Summary(failed=1))
        row = _invitation(engine, outcome)
        if row.status != "scheduled":
            break
        waits.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at

    minutes = [int(wait.total_seconds() // 60) for wait in waits]
    assert minutes[:6] == [1, 5, 15, 60, 60, 60]
    assert set(minutes[4:]) == {60}
    assert row.status == "failed" and row.given_back_at == clock.now
    assert clock.now > T0 + timedelta(days=1) >= clock.now - timedelta(hours=1)
    assert row.attempts == len(waits) + 1
    assert "Mailbox full" in row.last_error
    assert smtp_server.received == []
    assert _used(engine, shop.account_id) == (0, 0)


def test_unsubscribed_before_due_is_cancelled_given_back_and_never_sent(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email_delay_days=2)
    by_link = _accept(engine, shop, "ana@example.com")
    suppressed = _accept(engine, shop, "ben@example.com")
    stays = _accept(engine, shop, "cleo@example.com")
    # Ana unsubscribes through an earlier message's link, which ends what is
    # scheduled; Ben's address is put on the suppression list behind the sender's back.
    assert record_status.unsubscribe(engine, _invitation(engine, by_link).id, T0) is not None
    with db.write(engine) as conn:
        conn.execute(
            update(recipient_table)
            .where(recipient_table.c.email == "ben@example.com")
            .values(unsubscribed_at=T0)
        )
    assert _used(engine, shop.account_id) == (2, 2)

    summary = worker.run_pass(_sender(engine, smtp_server, Clock(T0 + timedelta(days=2))))

    assert summary == Summary(sent=1, cancelled=1)
    assert smtp_server.addresses == ["cleo@example.com"]
    assert _invitation(engine, by_link).status == "cancelled"
    cancelled = _invitation(engine, suppressed)
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "unsubscribed")
    assert cancelled.given_back_at is not None and cancelled.sent_at is None
    assert _invitation(engine, stays).status == "sent"
    assert _used(engine, shop.account_id) == (1, 1)


def test_a_switched_off_surveys_invitations_are_cancelled_and_given_back(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    waiting = _accept(engine, shop, "ana@example.com")
    with db.write(engine) as conn:
        conn.execute(text("UPDATE survey SET active = false WHERE id = :s"), {"s": shop.survey_id})

    summary = worker.run_pass(_sender(engine, smtp_server, Clock(T0)))

    assert summary == Summary(cancelled=1)
    assert smtp_server.received == []
    row = _invitation(engine, waiting)
    assert (row.status, row.last_error) == ("cancelled", "survey inactive")
    assert _used(engine, shop.account_id) == (0, 0)


class _SendsThenDies:
    """A worker that sends its batch and dies before marking it."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def send_batch(
        self, messages: Sequence[EmailMessage], until: float | None = None
    ) -> list[Delivery]:
        self.transport.send_batch(messages, until)
        raise SystemExit("killed")


def test_a_claim_whose_worker_died_is_sent_again_after_the_lease_with_the_same_message_id(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    outcome = _accept(engine, shop, "ana@example.com")
    clock = Clock(T0)
    healthy = _sender(engine, smtp_server, clock)
    dying = _sender(engine, smtp_server, clock, transport=_SendsThenDies(healthy.transport))

    with pytest.raises(SystemExit):
        worker.run_pass(dying)
    row = _invitation(engine, outcome)
    assert (row.status, row.claimed_until) == ("scheduled", T0 + outbox.LEASE)

    clock.now = T0 + outbox.LEASE - timedelta(seconds=1)
    assert worker.run_pass(healthy) == Summary()  # still held by the dead worker
    clock.now = T0 + outbox.LEASE
    assert worker.run_pass(healthy) == Summary(sent=1)

    # At least once: the receiver got it twice, and can tell by the Message-ID.
    ids = [str(m["Message-ID"]) for m in _invitations_received(smtp_server)]
    assert ids == [URLS.message_id(row.id)] * 2
    row = _invitation(engine, outcome)
    assert (row.status, row.attempts) == ("sent", 2)


def test_the_message_speaks_the_recipients_language_when_the_survey_does(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    auto = seed(engine)
    english = seed(engine, language="en")
    _accept(engine, auto, "de@example.com", language="de-AT")
    _accept(engine, auto, "fr@example.com", language="fr")
    _accept(engine, english, "de@example.com", language="de")

    assert worker.run_pass(_sender(engine, smtp_server, Clock(T0))) == Summary(sent=3)

    languages = [
        (str(m["To"]), str(m["Content-Language"])) for m in _invitations_received(smtp_server)
    ]
    assert sorted(languages) == [
        ("de@example.com", "de"),
        ("de@example.com", "en"),
        ("fr@example.com", "en"),
    ]


def test_two_workers_at_once_send_every_invitation_exactly_once(
    settings: Settings, engine: Engine, smtp_server: SmtpServer
) -> None:
    """On PostgreSQL the claims skip each other's locked rows; on SQLite they
    queue on the write lock. Either way each invitation goes once."""
    shop = seed(engine, tariff="basic")
    count = 120
    for n in range(count):
        _accept(engine, shop, f"person{n}@example.com")
    start = threading.Barrier(2)
    summaries: list[Summary] = []

    def work() -> None:
        own = create_db_engine(settings.db_url, write_wait=30)
        try:
            start.wait()
            summaries.append(worker.run_pass(_sender(own, smtp_server, Clock(T0), batch_size=10)))
        finally:
            own.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    per_id = Counter(str(m["Message-ID"]) for m in _invitations_received(smtp_server))
    assert len(per_id) == count and set(per_id.values()) == {1}
    assert sum(s.sent for s in summaries) == count
    if PG_URL and settings.db_url.startswith("postgresql"):
        assert all(s.sent > 0 for s in summaries)  # both took part
    assert _rows(
        engine, "SELECT status, count(*), max(attempts) FROM invitation GROUP BY status"
    ) == [("sent", count, 1)]


# -- budget alerts -----------------------------------------------------------------------


def test_budget_alerts_go_once_per_level_to_each_admin_even_with_two_passes(
    settings: Settings, engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email="owner@shop.example")
    with db.write(engine) as conn:
        second = accounts.create_admin(
            conn, shop.account_id, "partner@shop.example", "long pw 123!"
        )
        conn.execute(text("UPDATE admin_user SET language = 'de' WHERE id = :id"), {"id": second})
    other = seed(engine, email="other@example.org")
    set_budget(engine, "free", 10)

    def alerts_at_once() -> list[int]:
        start = threading.Barrier(2)
        sent: list[int] = []

        def work() -> None:
            own = create_db_engine(settings.db_url, write_wait=30)
            try:
                start.wait()
                sent.append(alerts.send_alerts(_sender(own, smtp_server, Clock(T0))))
            finally:
                own.dispose()

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(sent)

    for n in range(7):
        _accept(engine, shop, f"p{n}@example.com")
    assert alerts_at_once() == [0, 0]  # 70 %
    _accept(engine, shop, "p7@example.com")
    # Another account crosses 80 % and 100 % between two passes: only 100 % is said.
    for n in range(10):
        _accept(engine, other, f"q{n}@example.com")
    assert alerts_at_once() == [0, 3]

    first = {(str(m["To"]), str(m["Subject"])) for m in _alerts_received(smtp_server)}
    assert first == {
        ("owner@shop.example", "Shop: 80% of the budget for May 2026 used"),
        ("partner@shop.example", "Shop: 80 % des Budgets für Mai 2026 verbraucht"),
        ("other@example.org", "Shop: the budget for May 2026 is used up"),
    }
    message = _alerts_received(smtp_server)[0]
    assert f"{PUBLIC}/admin/dashboard" in _part(message, "text/plain")
    assert message["Content-Language"] == "en"

    _accept(engine, shop, "p8@example.com")
    assert alerts_at_once() == [0, 0]  # 90 %: said already
    _accept(engine, shop, "p9@example.com")
    assert alerts_at_once() == [0, 2]  # 100 %
    assert alerts_at_once() == [0, 0]

    received = Counter((str(m["To"]), str(m["Message-ID"])) for m in _alerts_received(smtp_server))
    assert set(received.values()) == {1} and len(received) == 5
    assert Counter(to for to, _ in received) == {
        "owner@shop.example": 2,
        "partner@shop.example": 2,
        "other@example.org": 1,
    }
    assert sorted(_rows(engine, "SELECT account_id, alerted FROM usage")) == [
        (shop.account_id, 100),
        (other.account_id, 100),
    ]


def test_an_alert_that_failed_for_now_is_tried_again_a_refused_one_is_not(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email="owner@shop.example")
    set_budget(engine, "free", 5)
    for n in range(4):
        _accept(engine, shop, f"p{n}@example.com")
    sender = _sender(engine, smtp_server, Clock(T0))
    smtp_server.answer_next("RCPT", 451)

    assert alerts.send_alerts(sender) == 0
    assert _rows(engine, "SELECT alerted FROM usage") == [(0,)]
    assert alerts.send_alerts(sender) == 1
    assert alerts.send_alerts(sender) == 0
    assert [str(m["To"]) for m in _alerts_received(smtp_server)] == ["owner@shop.example"]

    # A refused address is not asked again in every pass.
    _accept(engine, shop, "p4@example.com")
    smtp_server.answer_next("RCPT", 550)
    assert alerts.send_alerts(sender) == 0
    assert alerts.send_alerts(sender) == 0
    assert _rows(engine, "SELECT alerted FROM usage") == [(100,)]
    assert len(_alerts_received(smtp_server)) == 1


def test_worker_once_counts_the_alerts_it_sent(
    engine: Engine,
    smtp_server: SmtpServer,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SMTP_URL", smtp_server.url())
    shop = seed(engine, email="owner@shop.example")
    set_budget(engine, "free", 2)
    now = datetime.now(UTC)
    _accept(engine, shop, "a@example.com", now)
    _accept(engine, shop, "b@example.com", now)

    assert _worker_once(capsys) == _summary(sent=2, alerts=1)
    assert _worker_once(capsys) == _summary()
    assert sorted(smtp_server.addresses) == ["a@example.com", "b@example.com", "owner@shop.example"]


# -- helpers for processes ---------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _part(message: EmailMessage, content_type: str) -> str:
    for part in message.walk():
        if part.get_content_type() == content_type:
            return cast(str, cast(EmailMessage, part).get_content())
    raise AssertionError(f"no {content_type} part")


def _subprocess_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SMTP_URL", "ENVIRONMENT"}}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": settings.db_url,
        "SECRET_KEYS": SECRET,
        "LOG_LEVEL": "warning",
        **extra,
    }


@contextmanager
def _process(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``nps-beacon ARGV`` in ``cwd``, stopped with SIGTERM at the end."""
    with (cwd / "process.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *argv],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str, timeout: float = 60
) -> None:
    """Poll until ``condition`` holds; a deadline only so a broken run ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"the process ended before {what} (status {process.returncode})")
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout}s")
