"""The webhooks page in a real browser against a real server, whose
worker's pass delivers to a real receiver: an endpoint is
added, its secret shown once, a test event sent, and the delivery log shows
the attempt. axe-core checks each page; screenshots land in
screenshots/adm-webhook*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from app import worker
from app.platform import outbox
from app.platform.mail import OutboxTransport
from app.platform.signing import Signer
from app.platform.urls import Urls
from app.webhooks import endpoints as webhooks
from tests.browser.conftest import run_axe, screenshot
from tests.conftest import SECRET, seed
from tests.webhook_receiver import Receiver, verify

pytestmark = [pytest.mark.browser, pytest.mark.server]

EMAIL = "owner@shop.example"
PASSWORD = "correct horse battery"


def _checked(page: Any, where: str, name: str) -> None:
    violations = run_axe(page)
    summary = [(item["id"], [node["target"] for node in item["nodes"]]) for item in violations]
    assert violations == [], f"{where}: {summary}"
    screenshot(page, f"adm-{name}")


def test_add_an_endpoint_send_a_test_event_and_read_the_log(
    live_server: Any, page: Any, engine: Engine, receiver: Receiver, tmp_path: Path
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/dashboard")

    # Under the account menu.
    page.get_by_role("link", name="My account").click()
    page.get_by_role("navigation", name="Account pages").get_by_role(
        "link", name="Webhooks"
    ).click()
    page.wait_for_url(f"{base}/admin/webhooks")
    _checked(page, "webhooks, none yet", "webhooks-empty")

    # A mistake first: no event chosen.
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_role("checkbox", name="response.created").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    assert page.get_by_role("alert").inner_text() == "Please choose at least one event."
    page.get_by_role("checkbox", name="response.created").check()
    page.get_by_role("checkbox", name="budget.threshold").check()
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_role("heading", name="The endpoint was added").wait_for()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("whsec_")
    _checked(page, "endpoint added, secret shown once", "webhook-created")

    page.get_by_role("link", name="Done: to the endpoint").click()
    assert secret not in page.content()
    page.get_by_role("button", name="Send test event").click()
    page.get_by_role("status").get_by_text("A test event is on its way").wait_for()
    # The worker's pass (the test server runs without its sender thread).
    summary = worker.run_pass(
        outbox.Sender(
            engine=engine,
            transport=OutboxTransport(tmp_path / "outbox"),
            urls=Urls(base, Signer((SECRET,), 3600)),
            mail_from="feedback@shop.example",
            zone=ZoneInfo("UTC"),
        )
    )
    assert summary.webhooks_delivered == 1
    [request] = receiver.requests
    assert request.json["type"] == "webhook.test"
    assert verify(secret, request)
    page.reload()
    log = page.locator("#delivery-log")
    log.wait_for()
    assert request.webhook_id in log.inner_text()
    assert log.locator(".badge.status-sent").first.inner_text() == "200"
    _checked(page, "endpoint with its delivery log", "webhook")

    page.get_by_role("link", name="Webhooks").first.click()
    _checked(page, "webhooks list", "webhooks")
    assert [item.url for item in webhooks.list_for_account(engine, shop.account_id)] == [
        receiver.url
    ]
