"""The webhooks admin page through the ASGI client: an endpoint made with its
secret shown once, the test event and the delivery log, a new secret, the
form's errors (production refuses loopback and http), another account's
endpoints answering 404, deleting."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.main import build_app
from app.platform import db
from app.platform.mail import OutboxTransport
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.urls import Urls
from app.webhooks import delivery as webhook_delivery
from app.webhooks import endpoints as webhooks
from app.webhooks import lanes
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import SECRET, Clock, seed
from tests.webhook_receiver import Receiver, verify

ADMIN = "owner@shop.example"
SECRET_SHOWN = re.compile(r'<pre class="code" id="secret"[^>]*>(whsec_[A-Za-z0-9+/=]+)</pre>')


def _secret(page: str) -> str:
    match = SECRET_SHOWN.search(page)
    assert match, "no secret on the page"
    return match.group(1)


def _create(client: TestClient, url: str, *events: str) -> tuple[int, str]:
    answer = post_form(
        client,
        "/admin/webhooks",
        "/admin/webhooks",
        {"url": url, **{f"event.{event}": "1" for event in events}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = re.search(r'href="/admin/webhooks/(\d+)"', answer.text)
    assert found, "no link to the endpoint"
    return int(found.group(1)), _secret(answer.text)


def _pass(engine: Engine, tmp_path: object, clock: Clock) -> webhook_delivery.Summary:
    return lanes.run_pass(
        webhook_delivery.WebhookSender(
            engine=engine,
            transport=OutboxTransport(Path(str(tmp_path)) / "outbox"),
            urls=Urls("http://testserver", Signer((SECRET,), 3600)),
            mail_from="feedback@shop.example",
            production=False,
            clock=clock,
        )
    )


def test_create_shows_the_secret_once_then_test_event_lands_in_the_log(
    client: TestClient, engine: Engine, receiver: Receiver, tmp_path: object, clock: Clock
) -> None:
    seed(engine, email=ADMIN)
    login(client, ADMIN)
    endpoint_id, secret = _create(client, receiver.url, "response.created", "budget.threshold")
    listing = client.get("/admin/webhooks").text
    assert receiver.url in listing and secret not in listing
    page = client.get(f"/admin/webhooks/{endpoint_id}").text
    assert secret not in page
    assert text_of(page, "log-empty") == "No attempts yet."
    assert 'name="event.response.created" value="1" checked' in page
    assert 'name="event.record.refused" value="1">' in page

    sent = post_form(
        client, f"/admin/webhooks/{endpoint_id}", f"/admin/webhooks/{endpoint_id}/test", {}
    )
    assert sent.status_code == 303
    queued = client.get(sent.headers["location"]).text
    assert "A test event is on its way" in queued
    assert "waiting for their next attempt: 1" in queued
    assert _pass(engine, tmp_path, clock).delivered == 1
    [request] = receiver.requests
    assert request.json["type"] == "webhook.test" and verify(secret, request)
    logged = client.get(f"/admin/webhooks/{endpoint_id}").text
    assert request.webhook_id in logged
    assert '<span class="badge status-sent">200</span>' in logged

    rotated = post_form(
        client, f"/admin/webhooks/{endpoint_id}", f"/admin/webhooks/{endpoint_id}/rotate", {}
    )
    new_secret = _secret(rotated.text)
    assert new_secret != secret
    post_form(client, f"/admin/webhooks/{endpoint_id}", f"/admin/webhooks/{endpoint_id}/test", {})
    _pass(engine, tmp_path, clock)
    # For a day both secrets sign, so a receiver may switch at leisure.
    assert verify(new_secret, receiver.requests[1]) and verify(secret, receiver.requests[1])
    assert len(receiver.requests[1].headers["webhook-signature"].split(" ")) == 2


def test_saving_switches_events_and_the_endpoint_off_and_on(
    client: TestClient, engine: Engine, receiver: Receiver
) -> None:
    shop = seed(engine, email=ADMIN)
    login(client, ADMIN)
    endpoint_id, _ = _create(client, receiver.url, "response.created")
    page = f"/admin/webhooks/{endpoint_id}"
    saved = post_form(client, page, page, {"url": receiver.url, "event.inbox.updated": "1"})
    assert saved.status_code == 303
    found = webhooks.find(engine, shop.account_id, endpoint_id)
    assert found is not None
    assert (found.events, found.active) == (("inbox.updated",), False)
    post_form(client, page, page, {"url": receiver.url, "event.inbox.updated": "1", "active": "1"})
    found = webhooks.find(engine, shop.account_id, endpoint_id)
    assert found is not None and found.active
    refused = post_form(client, page, page, {"url": receiver.url, "active": "1"})
    assert refused.status_code == 422
    assert text_of(refused.text, "webhook-url-error") == "Please choose at least one event."


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("", "Please enter an address starting with https://"),
        ("javascript:alert(1)", "Please enter an address starting with https://"),
        ("https://user:pw@hooks.example/x", "Leave the user name and password out"),
    ],
)
def test_bad_urls_get_a_form_error_and_keep_what_was_typed(
    client: TestClient, engine: Engine, url: str, error: str
) -> None:
    seed(engine, email=ADMIN)
    login(client, ADMIN)
    answer = post_form(
        client, "/admin/webhooks", "/admin/webhooks", {"url": url, "event.response.created": "1"}
    )
    assert answer.status_code == 422
    assert text_of(answer.text, "webhook-url-error").startswith(error)
    assert f'value="{html.escape(url)}"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert SECRET_SHOWN.search(answer.text) is None


@pytest.fixture
def production_client(settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    production = settings.replace(environment="production", public_url="https://testserver")
    app = build_app(production, clock=clock, engine=engine)
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def test_production_refuses_loopback_and_plain_http_in_the_form(
    production_client: TestClient, engine: Engine, receiver: Receiver
) -> None:
    shop = seed(engine, email=ADMIN)
    login(production_client, ADMIN)
    for url, error in (
        (receiver.url, "Webhook addresses must start with https://."),
        (f"https://127.0.0.1:{receiver.port}/hooks", "private, local or reserved"),
        ("https://localhost/hooks", "private, local or reserved"),
        ("https://[::1]/hooks", "private, local or reserved"),
    ):
        answer = post_form(
            production_client,
            "/admin/webhooks",
            "/admin/webhooks",
            {"url": url, "event.response.created": "1"},
        )
        assert answer.status_code == 422, url
        assert error in text_of(answer.text, "webhook-url-error"), url
    assert webhooks.list_for_account(engine, shop.account_id) == []


def test_another_accounts_endpoint_answers_404_everywhere(
    client: TestClient, engine: Engine, receiver: Receiver
) -> None:
    seed(engine, email=ADMIN)
    other = seed(engine, email="other@rival.example")
    theirs, _ = webhooks.create(
        engine, other.account_id, receiver.url, ["response.created"], datetime.now(UTC), False
    )
    login(client, ADMIN)
    token = csrf_from(client.get("/admin/webhooks").text)
    base = f"/admin/webhooks/{theirs.id}"
    answers = {
        "page": client.get(base),
        "save": client.post(
            base,
            data={"csrf_token": token, "url": "http://x.example/", "event.inbox.updated": "1"},
        ),
        "test": client.post(f"{base}/test", data={"csrf_token": token}),
        "rotate": client.post(f"{base}/rotate", data={"csrf_token": token}),
        "confirm": client.get(f"{base}/delete"),
        "delete": client.post(f"{base}/delete", data={"csrf_token": token}),
    }
    for name, answer in answers.items():
        assert answer.status_code == 404, name
        assert "There is no such webhook endpoint in your account." in answer.text, name
    assert receiver.url not in client.get("/admin/webhooks").text
    with db.read(engine) as conn:
        row = conn.execute(text("SELECT url, secret FROM webhook_endpoint")).one()
        assert row.url == receiver.url
        assert conn.execute(text("SELECT count(*) FROM webhook_message")).scalar_one() == 0


def test_deleting_takes_the_log_with_it(
    client: TestClient, engine: Engine, receiver: Receiver, tmp_path: object, clock: Clock
) -> None:
    shop = seed(engine, email=ADMIN)
    login(client, ADMIN)
    endpoint_id, _ = _create(client, receiver.url, "response.created")
    base = f"/admin/webhooks/{endpoint_id}"
    post_form(client, base, f"{base}/test", {})
    _pass(engine, tmp_path, clock)
    confirm = client.get(f"{base}/delete")
    assert confirm.status_code == 200 and receiver.url in confirm.text
    deleted = post_form(client, f"{base}/delete", f"{base}/delete", {})
    assert deleted.status_code == 303
    assert "was deleted" in client.get(deleted.headers["location"]).text
    assert webhooks.list_for_account(engine, shop.account_id) == []
    with db.read(engine) as conn:
        for table in ("webhook_attempt", "webhook_message", "webhook_endpoint"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
