"""Messages sent per second by ``nps-beacon worker --once`` to a local SMTP
server (aiosmtpd in a thread of this process), on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL. To see where the time goes, the same number
of invitation messages is then built alone and sent alone over the same
transport, without the database. Then the running worker (both lanes) sends
as many again, once with no webhook to send and once while another account's
three endpoints drip their answers a byte every 2 s, in the same run.
Prints figures; never asserts a time.

Knobs (environment): BENCH_INVITATIONS due invitations (1,000).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from app import worker
from app.cli import main as cli
from app.invitations import record_in, records
from app.invitations.messages import invitation_message
from app.platform import db, outbox
from app.platform.mail import SmtpTransport, parse_smtp_url
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.urls import Urls
from app.surveys import model as surveys
from app.surveys.model import Survey
from app.webhooks import endpoints as webhooks
from tests.conftest import SECRET, seed
from tests.drip_server import HTTP_OK, running_drip_server
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.benchmark]

INVITATIONS = int(os.environ.get("BENCH_INVITATIONS", "1000"))
ZONE = ZoneInfo("UTC")


def _due(engine: Engine, count: int) -> Survey:
    shop = seed(engine, tariff="business")
    now = datetime.now(UTC)
    source = records.Source("api", "bench")
    for n in range(count):
        wanted = record_in.RecordIn(shop.survey_id, f"person{n}@example.com", name=f"Person {n}")
        assert records.accept(engine, shop.account_id, wanted, source, now, ZONE).accepted
    with db.read(engine) as conn:
        survey = surveys.find(conn, shop.survey_id)
    assert survey is not None
    return survey


def test_worker_once_messages_per_second(
    engine: Engine,
    settings: Settings,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend = "postgresql" if settings.db_url.startswith("postgresql") else "sqlite"
    survey = _due(engine, INVITATIONS)
    for name, value in {
        "DATABASE_URL": settings.db_url,
        "SECRET_KEYS": SECRET,
        "PUBLIC_URL": "https://feedback.example",
        "SMTP_URL": smtp_server.url(),
        "LOG_LEVEL": "warning",
    }.items():
        monkeypatch.setenv(name, value)

    started = time.perf_counter()
    code = cli(["worker", "--once"])
    elapsed = time.perf_counter() - started
    summary = json.loads(capsys.readouterr().out)

    assert code == 0 and summary["sent"] == INVITATIONS
    assert len(smtp_server.received) == INVITATIONS

    # Apart: building the same messages, then sending them, with no database.
    urls = Urls("https://feedback.example", Signer((SECRET,), 3600))
    started = time.perf_counter()
    messages = [_invitation(survey, urls, n) for n in range(INVITATIONS)]
    building = time.perf_counter() - started
    transport = SmtpTransport(parse_smtp_url(smtp_server.url()))
    started = time.perf_counter()
    for first in range(0, INVITATIONS, outbox.BATCH_SIZE):
        transport.send_batch(messages[first : first + outbox.BATCH_SIZE])
    sending = time.perf_counter() - started

    rest = elapsed - building - sending
    with capsys.disabled():
        print(
            f"\nworker --once on {backend}: {INVITATIONS} invitations in {elapsed:.2f}s"
            f" = {INVITATIONS / elapsed:.0f} messages/s (batches of {outbox.BATCH_SIZE});"
            f" apart: building {building / INVITATIONS * 1000:.1f} ms/message,"
            f" SMTP {sending / INVITATIONS * 1000:.1f} ms/message,"
            f" the rest (claims, marks, start) {rest / INVITATIONS * 1000:.1f} ms/message"
        )


def _invitation(survey: Survey, urls: Urls, number: int) -> EmailMessage:
    return invitation_message(
        survey=survey,
        language="en",
        to=f"other{number}@example.com",
        name=f"Other {number}",
        sender="nps-beacon <noreply@feedback.example>",
        account_name="Shop",
        score_url=functools.partial(urls.invitation, 100_000 + number),
        unsubscribe_url=urls.unsubscribe(100_000 + number),
        message_id=urls.message_id(100_000 + number),
    )


def test_running_worker_invitations_per_second_with_and_without_a_dripping_endpoint(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    backend = "postgresql" if settings.db_url.startswith("postgresql") else "sqlite"
    quiet = _running_worker_rate(engine, smtp_server, None)
    with running_drip_server(HTTP_OK, every=2.0, http=True) as drip:
        dripping = _running_worker_rate(engine, smtp_server, drip.url)
        held = drip.most_open
    print(
        f"\nrunning worker on {backend}: {INVITATIONS} invitations,"
        f" {quiet:.0f} messages/s with no webhooks,"
        f" {dripping:.0f} messages/s while 3 endpoints drip"
        f" (at most {held} of their attempts open at once)"
    )


def _running_worker_rate(engine: Engine, smtp_server: SmtpServer, drip_url: Any) -> float:
    """Invitations a second sent by ``delivery.run`` from start to the last one
    received; with ``drip_url``, another account's endpoints drip meanwhile."""
    _due(engine, INVITATIONS)
    if drip_url is not None:
        hooked = seed(engine)
        now = datetime.now(UTC)
        for number in range(3):
            webhooks.create(
                engine,
                hooked.account_id,
                drip_url(f"/hooks/{number}"),
                webhooks.EVENTS,
                now,
                production=False,
            )
        with db.write(engine) as conn:
            for number in range(30):
                webhooks.emit(conn, hooked.account_id, "inbox.updated", {"id": number}, now)
    sender = outbox.Sender(
        engine=engine,
        transport=SmtpTransport(parse_smtp_url(smtp_server.url())),
        urls=Urls("https://feedback.example", Signer((SECRET,), 3600)),
        mail_from="nps-beacon <noreply@feedback.example>",
        zone=ZONE,
    )
    wanted = len(smtp_server.received) + INVITATIONS
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(sender, stop))
    started = time.perf_counter()
    thread.start()
    try:
        while len(smtp_server.received) < wanted:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
    return INVITATIONS / elapsed
