"""Webhooks end to end: events written in the transaction that caused them,
sent by the worker's passes to a real HTTP receiver on 127.0.0.1, signed as
Standard Webhooks says, retried, logged, switched off after failures with an
e-mail to the admins (a real SMTP server), never lost to a killed worker, and
refused for private addresses in production; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import worker
from app.accounts import api_keys
from app.invitations import record_in, records
from app.invitations.records import Source
from app.platform import db
from app.platform.mail import SmtpTransport, parse_smtp_url
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.urls import Urls
from app.webhooks import delivery as webhook_delivery
from app.webhooks import endpoints as webhooks
from app.webhooks import lanes, signatures, targets
from tests.conftest import SECRET, Clock, Seeded, seed, set_budget
from tests.servers import ROOT
from tests.smtp_server import SmtpServer
from tests.test_inbox import sender as inbox_sender
from tests.webhook_receiver import Receiver, verify

ADMIN = "owner@shop.example"
PUBLIC = "https://feedback.example"
URLS = Urls(PUBLIC, Signer((SECRET,), 3600))


def _endpoint(
    engine: Engine, account_id: int, url: str, events: tuple[str, ...] = webhooks.EVENTS
) -> tuple[int, str]:
    endpoint, secret = webhooks.create(
        engine, account_id, url, events, datetime.now(UTC), production=False
    )
    return endpoint.id, secret


def _sender(
    engine: Engine, clock: Callable[[], datetime], smtp: SmtpServer, **changes: Any
) -> webhook_delivery.WebhookSender:
    sender = webhook_delivery.WebhookSender(
        engine=engine,
        transport=SmtpTransport(parse_smtp_url(smtp.url()), timeout=10),
        urls=URLS,
        mail_from="Shop feedback <feedback@shop.example>",
        production=False,
        clock=clock,
    )
    return replace(sender, **changes)


def _rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(text(sql), params).all())


def _answer(client: TestClient, embed_key: str, score: int, comment: str | None = None) -> Any:
    token = client.get(f"/api/v1/widget/{embed_key}").json()["display_token"]
    body: dict[str, Any] = {"display_token": token, "score": score}
    if comment is not None:
        body["comment"] = comment
    return token, client.post("/api/v1/responses", json=body)


# -- signatures and payloads ------------------------------------------------------


def test_an_answer_is_posted_signed_once_to_each_endpoint_that_wants_it(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=ADMIN)
    wanted, secret = _endpoint(engine, shop.account_id, receiver.url, ("response.created",))
    _endpoint(engine, shop.account_id, receiver.url + "/other", ("record.refused",))
    other = seed(engine, email="other@rival.example")
    _endpoint(engine, other.account_id, receiver.url + "/rival")

    _, answered = _answer(client, shop.embed_key, 3, "Too slow")
    assert answered.status_code == 201
    summary = lanes.run_pass(_sender(engine, clock, smtp_server))

    assert summary.delivered == 1
    [request] = receiver.requests
    assert request.path == "/hooks"
    assert verify(secret, request)
    assert not verify(signatures.new_secret(), request)  # a wrong secret fails
    forged = replace(request, body=request.body.replace(b'"score":3', b'"score":9'))
    assert not verify(secret, forged)  # so does a changed body
    assert request.webhook_id.startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    payload = request.json
    assert payload["type"] == "response.created"
    data = payload["data"]
    assert data["id"] == answered.json()["id"]
    assert (data["score"], data["segment"], data["comment"], data["channel"]) == (
        3,
        "detractor",
        "Too slow",
        "widget",
    )
    assert data["survey"] == {"id": shop.survey_id, "name": "Survey"}
    assert data["created_at"].startswith("2026-05-14T12:00")
    [logged] = _rows(engine, "SELECT endpoint_id, status_code, error FROM webhook_attempt")
    assert (logged.endpoint_id, logged.status_code, logged.error) == (wanted, 200, None)


def test_a_comment_sent_later_is_response_updated(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    _, secret = _endpoint(engine, shop.account_id, receiver.url)
    token, first = _answer(client, shop.embed_key, 10)
    later = client.post(
        "/api/v1/responses", json={"display_token": token, "score": 10, "comment": "Great"}
    )
    assert (first.status_code, later.status_code) == (201, 200)
    # The same comment again changes nothing and says nothing.
    client.post("/api/v1/responses", json={"display_token": token, "score": 10, "comment": "Great"})
    lanes.run_pass(_sender(engine, clock, smtp_server))
    # One batch is POSTed a few at once: the order of arrival is not kept.
    events = sorted((r.json["type"], r.json["data"]["comment"] or "") for r in receiver.requests)
    assert events == [("response.created", ""), ("response.updated", "Great")]
    assert all(verify(secret, request) for request in receiver.requests)


def test_a_refused_or_rolled_back_submission_emits_nothing(
    client: TestClient, engine: Engine, receiver: Receiver
) -> None:
    set_budget(engine, "free", 1)
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)
    tokens = [client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"] for _ in "ab"]
    answers = [
        client.post("/api/v1/responses", json={"display_token": token, "score": 9})
        for token in tokens
    ]
    assert [answer.status_code for answer in answers] == [201, 402]  # the second rolled back
    rows = _rows(engine, "SELECT event_type FROM webhook_message")
    assert [row.event_type for row in rows] == ["response.created"]


def test_emit_rolls_back_with_its_transaction(engine: Engine, receiver: Receiver) -> None:
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)
    with pytest.raises(RuntimeError), db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 1}, datetime.now(UTC))
        raise RuntimeError("the event's own work failed")
    assert _rows(engine, "SELECT id FROM webhook_message") == []
    with db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 1}, datetime.now(UTC))
    assert len(_rows(engine, "SELECT id FROM webhook_message")) == 1


def _four_of_five_used(client: TestClient, engine: Engine, receiver: Receiver) -> Seeded:
    """An account with an endpoint that used 4 of its 5 by widget answers
    only: no e-mail survey in sight."""
    set_budget(engine, "free", 5)
    shop = seed(engine, email=ADMIN)
    _endpoint(engine, shop.account_id, receiver.url)
    for _ in range(4):
        assert _answer(client, shop.embed_key, 8)[1].status_code == 201
    return shop


def test_a_budget_level_is_one_event_even_when_its_alert_mail_is_tried_again(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    _four_of_five_used(client, engine, receiver)
    sender = inbox_sender(engine, smtp_server, clock)
    smtp_server.answer_next("RCPT", 451)  # the alert mail fails for now...
    assert worker.run_pass(sender).alerts == 0
    assert worker.run_pass(sender).alerts == 1  # ...and goes in the next pass
    threshold = [r for r in receiver.requests if r.json["type"] == "budget.threshold"]
    assert len(threshold) == 1
    assert threshold[0].json["data"] == {"period": "2026-05", "level": 80, "used": 4, "limit": 5}
    assert _rows(engine, "SELECT count(*) FROM webhook_message") == [(5,)]


def test_refused_records_and_budget_thresholds_are_events(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = _four_of_five_used(client, engine, receiver)
    sender = inbox_sender(engine, smtp_server, clock)
    # The worker's pass: the 80 % alert by e-mail, and its event, sent in the same pass.
    summary = worker.run_pass(sender)
    assert (summary.alerts, summary.webhooks_delivered) == (1, 5)
    threshold = [r.json for r in receiver.requests if r.json["type"] == "budget.threshold"]
    assert [t["data"] for t in threshold] == [
        {"period": "2026-05", "level": 80, "used": 4, "limit": 5}
    ]
    assert _answer(client, shop.embed_key, 8)[1].status_code == 201
    wanted = record_in.parse(
        {
            "survey_id": shop.survey_id,
            "email": "jane@example.com",
            "external_id": "order-7",
            "event": "order",
        },
        clock(),
    )
    outcome = records.accept(
        engine, shop.account_id, wanted, Source("api", "Shop"), clock(), ZoneInfo("UTC")
    )
    assert outcome.code == "budget_exhausted"
    worker.run_pass(sender)
    types = [r.json["type"] for r in receiver.requests]
    assert types.count("budget.threshold") == 2
    refused = next(r for r in receiver.requests if r.json["type"] == "record.refused")
    assert refused.json["data"] == {
        "record_id": None,
        "reason": "budget_exhausted",
        "survey_id": shop.survey_id,
        "external_id": "order-7",
        "event": "order",
        "source": "api",
    }
    assert b"jane" not in refused.body  # never the address


# -- retries, the log, switching off --------------------------------------------------


def test_500s_and_timeouts_are_retried_with_the_same_id_and_every_attempt_logged(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    _, secret = _endpoint(engine, shop.account_id, receiver.url)
    _answer(client, shop.embed_key, 7)
    receiver.script = [500, ("sleep", 3.0), 200]
    sender = _sender(engine, clock, smtp_server, timeout=0.5)

    assert lanes.run_pass(sender).retried == 1  # 500
    assert lanes.run_pass(sender) == webhook_delivery.Summary()  # not due yet
    clock.now += timedelta(minutes=1)
    assert lanes.run_pass(sender).retried == 1  # timed out
    clock.now += timedelta(minutes=4)
    assert lanes.run_pass(sender) == webhook_delivery.Summary()  # 5 min after
    clock.now += timedelta(minutes=1)
    assert lanes.run_pass(sender).delivered == 1

    assert len(set(receiver.ids())) == 1 and len(receiver.requests) == 3
    assert all(verify(secret, request) for request in receiver.requests)
    log = _rows(engine, "SELECT status_code, error FROM webhook_attempt ORDER BY attempted_at, id")
    assert [(row.status_code, row.error) for row in log] == [
        (500, "HTTP 500"),
        (None, "timed out"),
        (200, None),
    ]
    [message] = _rows(engine, "SELECT status, attempts FROM webhook_message")
    assert (message.status, message.attempts) == ("delivered", 3)


def test_five_messages_failed_for_good_switch_the_endpoint_off_and_mail_the_admins(
    engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=ADMIN)
    endpoint_id, _ = _endpoint(engine, shop.account_id, receiver.url)
    receiver.default = 503
    with db.write(engine) as conn:
        for number in range(6):
            webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": number}, clock())
    # No retries left: each failure is final.
    summary = lanes.run_pass(_sender(engine, clock, smtp_server, backoff=()))
    # Attempts to one endpoint run a few at a time: the fifth failure switches
    # it off, and a sixth not yet marked by then fails as switched off.
    assert summary.failed in (5, 6) and summary.disabled == 1
    assert _rows(engine, "SELECT DISTINCT status FROM webhook_message") == [("failed",)]
    [endpoint] = _rows(
        engine,
        "SELECT active, disabled_reason FROM webhook_endpoint WHERE id = :id",
        id=endpoint_id,
    )
    assert not endpoint.active
    assert "in a row" in endpoint.disabled_reason
    [mail] = [item.message for item in smtp_server.received]
    assert mail["To"] == ADMIN
    assert "switched off" in str(mail["Subject"])
    assert f"{PUBLIC}/admin/webhooks/{endpoint_id}" in mail.get_body(("plain",)).get_content()
    # Switched off: new events go nowhere.
    with db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 9}, clock())
    assert len(_rows(engine, "SELECT id FROM webhook_message WHERE status = 'pending'")) == 0


def test_a_day_of_failures_ends_the_message_and_switches_the_endpoint_off(
    engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=ADMIN)
    endpoint_id, _ = _endpoint(engine, shop.account_id, receiver.url)
    receiver.default = 500
    with db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 1}, clock())
    sender = _sender(engine, clock, smtp_server)
    assert lanes.run_pass(sender).retried == 1
    clock.now += timedelta(hours=25)
    summary = lanes.run_pass(sender)
    assert (summary.failed, summary.disabled) == (1, 1)
    [endpoint] = _rows(
        engine,
        "SELECT active, disabled_reason FROM webhook_endpoint WHERE id = :id",
        id=endpoint_id,
    )
    assert (bool(endpoint.active), endpoint.disabled_reason) == (
        False,
        "every attempt failed for a day",
    )
    assert [item.message["To"] for item in smtp_server.received] == [ADMIN]


# -- SSRF ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::1", False),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 around 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo: a tunnel, not global
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.215.14", True),
    ],
)
def test_only_public_addresses_pass(address: str, public: bool) -> None:
    assert targets.public_address(address) is public


def test_production_checks_urls_and_every_resolved_address() -> None:
    def resolver(*answers: str) -> targets.Resolver:
        return lambda host, port: list(answers)

    def refused(url: str, *answers: str) -> str:
        with pytest.raises(targets.TargetRefused) as caught:
            targets.target(url, True, resolver(*answers) if answers else targets.resolve)
        return caught.value.code

    assert refused("http://hooks.example/x", "93.184.215.14") == "https_required"
    assert refused("https://hooks.example/x", "93.184.215.14", "10.0.0.5") == "private_address"
    with pytest.raises(targets.TargetRefused, match="does not resolve"):
        targets.target("https://hooks.example/x", True, resolver())
    assert refused("https://user:pw@hooks.example/x", "93.184.215.14") == "url_credentials"
    assert refused("ftp://hooks.example/x") == "url_invalid"
    assert refused("https://127.0.0.1/x") == "private_address"  # resolved for real
    assert refused("https://[::ffff:7f00:1]/x") == "private_address"
    found = targets.target("https://hooks.example:8443/x?a=1", True, resolver("2606:4700::1"))
    assert found.address == "2606:4700::1"
    # What is called: the address checked, with the port, path and query kept.
    assert webhook_delivery._address_url(found) == "https://[2606:4700::1]:8443/x?a=1"
    # Development calls what it is given.
    assert targets.target("http://localhost:8000/x", False).address is None


def test_in_production_a_loopback_endpoint_is_refused_at_delivery(
    engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)  # saved while developing
    with db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 1}, clock())
    summary = lanes.run_pass(_sender(engine, clock, smtp_server, production=True))
    assert summary.retried == 1
    assert receiver.requests == []  # nothing reached the address
    [logged] = _rows(engine, "SELECT status_code, error FROM webhook_attempt")
    assert logged.status_code is None
    assert logged.error == "refused: webhook URLs must use https://"
    with db.write(engine) as conn:
        conn.execute(text("UPDATE webhook_endpoint SET url = 'https://127.0.0.1:1/hooks'"))
    clock.now += timedelta(minutes=1)
    lanes.run_pass(_sender(engine, clock, smtp_server, production=True))
    errors = _rows(engine, "SELECT error FROM webhook_attempt ORDER BY id")
    assert "private or reserved address" in errors[-1].error
    assert receiver.requests == []


# -- a worker killed mid-batch ----------------------------------------------------------


def test_a_worker_killed_mid_batch_loses_nothing(
    settings: Settings, engine: Engine, receiver: Receiver, smtp_server: SmtpServer, tmp_path: Any
) -> None:
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)
    now = datetime.now(UTC)
    with db.write(engine) as conn:
        for number in range(12):
            webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": number}, now)
    expected = {row.msg_id for row in _rows(engine, "SELECT msg_id FROM webhook_message")}
    assert len(expected) == 12
    receiver.default = ("sleep", 30.0)  # every request hangs until the worker is killed
    env = {k: v for k, v in os.environ.items() if k not in {"SMTP_URL", "ENVIRONMENT"}}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=settings.db_url,
        SECRET_KEYS=SECRET,
        LOG_LEVEL="warning",
        PUBLIC_URL=PUBLIC,
    )
    with (tmp_path / "worker.log").open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        # As many as one endpoint may have in flight at once.
        wanted = webhook_delivery.PER_ENDPOINT
        while len(receiver.requests) < wanted and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.05)
        assert len(receiver.requests) >= wanted, "the worker sent nothing"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    claimed = _rows(
        engine,
        "SELECT id FROM webhook_message WHERE status = 'pending' AND claimed_until > :now",
        now=datetime.now(UTC),
    )
    assert claimed, "the killed worker held claims"
    assert _rows(engine, "SELECT id FROM webhook_message WHERE status = 'delivered'") == []
    # Another worker, once the lease has run out (here: after it is moved back).
    receiver.default = 200
    later = datetime.now(UTC) + webhook_delivery.LEASE + timedelta(seconds=1)
    summary = lanes.run_pass(_sender(engine, lambda: later, smtp_server))
    assert summary.delivered == 12
    assert set(receiver.ids()) == expected  # each at least once; repeats share their id
    statuses = _rows(engine, "SELECT DISTINCT status FROM webhook_message")
    assert [row.status for row in statuses] == ["delivered"]


def test_an_email_answer_and_its_comment_are_events_and_refusals_name_no_address(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)
    source = Source("csv", "march.csv")
    zone = ZoneInfo("UTC")
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": "ann@example.com"}, clock())
    accepted = records.accept(engine, shop.account_id, wanted, source, clock(), zone)
    [invitation] = _rows(engine, "SELECT id FROM invitation WHERE record_id = :r", r=accepted.id)
    key = URLS.signer.invitation_key(invitation.id)
    page = client.get(f"/s/{key}?score=4").text
    token = page.split('name="display_token" value="', 1)[1].split('"', 1)[0]
    sent = client.post(
        f"/s/{key}", data={"display_token": token, "score": "4"}, follow_redirects=False
    )
    assert sent.status_code == 303
    thanks = client.get(sent.headers["location"]).text
    token = thanks.split('name="display_token" value="', 1)[1].split('"', 1)[0]
    commented = client.post(
        f"/s/{key}/comment",
        data={"display_token": token, "comment": "Late parcel"},
        follow_redirects=False,
    )
    assert commented.status_code == 303
    # The address unsubscribes; a record for it again is refused, by name of reason only.
    with db.write(engine) as conn:
        conn.execute(text("UPDATE recipient SET unsubscribed_at = created_at"))
    again = record_in.parse(
        {"survey_id": shop.survey_id, "email": "ann@example.com", "external_id": "crm-9"}, clock()
    )
    refused = records.accept(engine, shop.account_id, again, source, clock(), zone)
    assert refused.code == "unsubscribed"

    lanes.run_pass(_sender(engine, clock, smtp_server))
    by_type = {r.json["type"]: r for r in receiver.requests}
    assert sorted(by_type) == ["record.refused", "response.created", "response.updated"]
    created = by_type["response.created"].json["data"]
    assert (created["channel"], created["score"], created["invitation_id"]) == (
        "email",
        4,
        invitation.id,
    )
    assert by_type["response.updated"].json["data"]["comment"] == "Late parcel"
    assert by_type["record.refused"].json["data"] == {
        "record_id": refused.id,
        "reason": "unsubscribed",
        "survey_id": shop.survey_id,
        "external_id": "crm-9",
        "event": None,
        "source": "csv",
    }
    assert b"ann@" not in by_type["record.refused"].body


def _api_record(client: TestClient, engine: Engine, shop: Seeded, **fields: Any) -> int:
    """A record as the shop's back end sends it: through the records API."""
    with db.write(engine) as conn:
        _key, secret = api_keys.create(conn, shop.account_id, "Shop", datetime.now(UTC))
    sent = client.post(
        "/api/v1/records",
        json={"survey_id": shop.survey_id, **fields},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert sent.status_code == 202, sent.text
    return int(sent.json()["id"])


def _answer_invitation(
    client: TestClient, engine: Engine, record_id: int, score: int, comment: str
) -> None:
    [invitation] = _rows(engine, "SELECT id FROM invitation WHERE record_id = :r", r=record_id)
    key = URLS.signer.invitation_key(invitation.id)
    page = client.get(f"/s/{key}?score={score}").text
    token = page.split('name="display_token" value="', 1)[1].split('"', 1)[0]
    thanks = client.post(f"/s/{key}", data={"display_token": token, "score": str(score)})
    token = thanks.text.split('name="display_token" value="', 1)[1].split('"', 1)[0]
    added = client.post(f"/s/{key}/comment", data={"display_token": token, "comment": comment})
    assert added.status_code == 200, added.text


def test_response_events_name_the_record_and_the_address_so_the_shop_finds_its_order(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)
    record_id = _api_record(
        client, engine, shop, email="ann@example.com", external_id="order-1001", event="purchase"
    )
    _answer_invitation(client, engine, record_id, 2, "The parcel came late.")

    lanes.run_pass(_sender(engine, clock, smtp_server))

    by_type = {r.json["type"]: r.json["data"] for r in receiver.requests}
    assert sorted(by_type) == ["response.created", "response.updated"]
    for data in by_type.values():
        assert (data["record_id"], data["external_id"], data["recipient_email"]) == (
            record_id,
            "order-1001",
            "ann@example.com",
        )
        assert (data["score"], data["segment"], data["channel"]) == (2, "detractor", "email")
    assert by_type["response.created"]["comment"] is None
    assert by_type["response.updated"]["comment"] == "The parcel came late."


def test_an_anonymous_surveys_response_events_name_nobody(
    client: TestClient, engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, anonymous=True)
    _endpoint(engine, shop.account_id, receiver.url)
    record_id = _api_record(
        client, engine, shop, email="ann@example.com", external_id="order-1001", event="purchase"
    )
    _answer_invitation(client, engine, record_id, 2, "Nobody should know it was me.")

    lanes.run_pass(_sender(engine, clock, smtp_server))

    by_type = {r.json["type"]: r for r in receiver.requests}
    assert sorted(by_type) == ["response.created", "response.updated"]
    assert by_type["response.updated"].json["data"]["comment"] == "Nobody should know it was me."
    for request in by_type.values():
        data = request.json["data"]
        assert (data["score"], data["segment"]) == (2, "detractor")
        assert not {"record_id", "external_id", "recipient_email", "invitation_id"} & set(data)
        assert b"ann@" not in request.body and b"order-1001" not in request.body


def test_finished_messages_are_forgotten_after_thirty_days(
    engine: Engine, clock: Clock, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    shop = seed(engine)
    _endpoint(engine, shop.account_id, receiver.url)
    with db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 1}, clock())
    webhook_delivery._pruned.clear()
    sender = _sender(engine, clock, smtp_server)
    assert lanes.run_pass(sender).delivered == 1
    clock.now += timedelta(days=29)
    with db.write(engine) as conn:
        webhooks.emit(conn, shop.account_id, "inbox.updated", {"id": 2}, clock())
    clock.now += timedelta(days=2)  # the first is 31 days old, the second 2; both delivered
    lanes.run_pass(sender)
    assert webhook_delivery.prune(sender) == 0  # not again within the hour
    left = _rows(engine, "SELECT body FROM webhook_message")
    assert [row.body.count('"id":2') for row in left] == [1]
    assert len(_rows(engine, "SELECT id FROM webhook_attempt")) == 1
