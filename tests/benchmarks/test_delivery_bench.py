"""Messages sent per second by ``nps-beacon worker --once`` to a local SMTP
server (aiosmtpd in a thread of this process), on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL. To see where the time goes, the same number
of invitation messages is then built alone and sent alone over the same
transport, without the database. Prints figures; never asserts a time.

Knobs (environment): BENCH_INVITATIONS due invitations (1,000).
"""

from __future__ import annotations

import functools
import json
import os
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from app import db, delivery, records, surveys
from app.cli import main as cli
from app.invitation_mail import invitation_message
from app.mail import SmtpTransport, parse_smtp_url
from app.settings import Settings
from app.signing import Signer
from app.surveys import Survey
from app.urls import Urls
from tests.conftest import SECRET, seed
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.benchmark]

INVITATIONS = int(os.environ.get("BENCH_INVITATIONS", "1000"))
ZONE = ZoneInfo("UTC")


def _due(engine: Engine, count: int) -> Survey:
    shop = seed(engine, tariff="business")
    now = datetime.now(UTC)
    source = records.Source("api", "bench")
    for n in range(count):
        wanted = records.RecordIn(shop.survey_id, f"person{n}@example.com", name=f"Person {n}")
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
    for first in range(0, INVITATIONS, delivery.BATCH_SIZE):
        transport.send_batch(messages[first : first + delivery.BATCH_SIZE])
    sending = time.perf_counter() - started

    rest = elapsed - building - sending
    with capsys.disabled():
        print(
            f"\nworker --once on {backend}: {INVITATIONS} invitations in {elapsed:.2f}s"
            f" = {INVITATIONS / elapsed:.0f} messages/s (batches of {delivery.BATCH_SIZE});"
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
