"""The inbox in a real chromium against a real server: the admin finds a
detractor's item, assigns it, writes a note and sets it done; axe-core checks
the list and the item, the strict CSP blocks nothing. Screenshots of both
(with an e-mail response's history beside the item) land in screenshots/."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from app.accounts import accounts
from app.invitations import record_in, records
from app.invitations.records import Source
from app.platform import db
from app.platform.signing import Signer
from tests.browser.conftest import run_axe, screenshot, show_form_part
from tests.conftest import SECRET, seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

EMAIL = "owner@shop.example"
COLLEAGUE = "support@shop.example"
PASSWORD = "correct horse battery"
SIGNER = Signer((SECRET,), 3600)
# Where the pictures for people to look at are kept beside the repository's own.
SHOTS = Path(os.environ.get("INBOX_SHOTS", "/work/shots"))


def _answer(base: str, embed_key: str, score: int, comment: str | None = None) -> int:
    config = httpx.get(f"{base}/api/v1/widget/{embed_key}").json()
    body: dict[str, Any] = {"display_token": config["display_token"], "score": score}
    if comment:
        body["comment"] = comment
    sent = httpx.post(f"{base}/api/v1/responses", json=body)
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


def _email_answer(
    engine: Engine,
    base: str,
    account_id: int,
    survey_id: int,
    score: int,
    comment: str,
    when: Any,
    **fields: Any,
) -> None:
    """An invitation to Ann, answered with a comment on its page."""
    wanted = record_in.parse({"survey_id": survey_id, "email": "ann@example.com", **fields}, when)
    outcome = records.accept(
        engine, account_id, wanted, Source("api", "Shop"), when, ZoneInfo("UTC")
    )
    assert outcome.accepted, outcome
    with db.read(engine) as conn:
        invitation_id = conn.execute(
            text("SELECT id FROM invitation WHERE record_id = :r"), {"r": outcome.id}
        ).scalar_one()
    key = SIGNER.invitation_key(invitation_id)
    with httpx.Client(base_url=base) as client:
        page = client.get(f"/s/{key}?score={score}").text
        token = re.search(r'name="display_token" value="([^"]+)"', page)
        assert token
        sent = client.post(f"/s/{key}", data={"display_token": token.group(1), "score": score})
        assert sent.status_code in (200, 303), sent.text
        client.post(f"/s/{key}/comment", data={"display_token": token.group(1), "comment": comment})


def _shot(page: Any, name: str) -> None:
    screenshot(page, name)
    if SHOTS.is_dir():
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    summary = [(item["id"], [node["target"] for node in item["nodes"]]) for item in violations]
    assert violations == [], f"{where}: {summary}"


def test_the_admin_assigns_notes_and_closes_a_detractors_item(
    live_server: Any, page: Any, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    with db.write(engine) as conn:
        accounts.create_admin(conn, shop.account_id, COLLEAGUE, PASSWORD)
        accounts.set_min_interval(conn, shop.account_id, 0)
    base = live_server()
    _answer(base, shop.embed_key, 9, "Quick delivery, friendly support.")
    _answer(base, shop.embed_key, 2)
    now = datetime.now(UTC)
    _email_answer(engine, base, shop.account_id, shop.survey_id, 8, "Fine.", now - timedelta(1))
    _email_answer(
        engine,
        base,
        shop.account_id,
        shop.survey_id,
        3,
        "The parcel arrived broken.",
        now,
        external_id="order-1001",
        event="purchase",
        properties={"plan": "pro"},
    )
    _answer(base, shop.embed_key, 10, "Love the new app!")
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/dashboard")

    # The menu says how many items are open.
    inbox_link = page.get_by_role("link", name=re.compile(r"^Inbox"))
    assert inbox_link.inner_text().split() == ["Inbox", "open:", "5"]
    inbox_link.click()
    page.wait_for_url(f"{base}/admin/inbox")
    assert page.locator("#inbox-total").inner_text() == "5 items"
    _no_violations(page, "inbox list")
    _shot(page, "admin-inbox")

    page.get_by_label("Segment").select_option("detractor")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#inbox-total").inner_text() == "2 items"
    # The detractor with the broken parcel: an e-mail response, newest first.
    page.locator("table.inbox tbody tr").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/admin/inbox/\d+$"))
    assert page.locator("#item-comment").inner_text() == "The parcel arrived broken."
    assert "Fine." in page.locator("#history").inner_text()
    assert page.locator("#item-reference").inner_text().split() == [
        "order-1001", "·", "purchase", "plan:", "pro",
    ]  # fmt: skip

    page.get_by_label("Assignee").select_option(label=COLLEAGUE)
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").first.inner_text() == "The item was saved."
    page.get_by_label("New note").fill("Called Ann: a new parcel goes out today.")
    page.get_by_role("button", name="Add note").click()
    assert page.get_by_role("status").first.inner_text() == "The note was added."
    assert "Called Ann: a new parcel goes out today." in page.locator("#notes").inner_text()
    page.get_by_label("Status").select_option("done")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#item-status").inner_text() == "Done"
    assert page.get_by_label("Assignee").locator("option:checked").inner_text() == COLLEAGUE
    page.get_by_label("Subject").fill("About your parcel")
    page.get_by_label("Message").fill("Dear Ann,\nsorry about that: a new one is on its way.")
    _no_violations(page, "inbox item")
    _shot(page, "admin-inbox-item")
    page.get_by_role("button", name="Send reply").click()
    assert "Replied by e-mail" in page.locator("#notes").inner_text()

    page.get_by_role("link", name="Inbox", exact=True).first.click()
    assert page.locator("#count-done").inner_text() == "Done 1"
    menu = page.get_by_role("link", name=re.compile(r"^Inbox")).inner_text()
    assert menu.split() == ["Inbox", "open:", "4"]

    # The survey's form sets the inbox rule and the detractor alert addresses.
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    show_form_part(page, "Inbox and alerts")
    page.get_by_label("Responses in the inbox").select_option("detractors")
    page.get_by_label("Detractor alert addresses").fill("support@shop.example\nnot-an-address")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#alert_emails-error").inner_text() == (
        "“not-an-address” is not an e-mail address like name@example.com."
    )
    page.get_by_label("Detractor alert addresses").fill("support@shop.example")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.get_by_role("status").first.inner_text() == "The changes were saved."
    section = page.locator("fieldset", has=page.locator("#alert_emails"))
    section.scroll_into_view_if_needed()
    if SHOTS.is_dir():
        section.screenshot(path=str(SHOTS / "admin-survey-form-inbox.png"))
    # The menu's entry, not the form's "Inbox and alerts" part.
    page.locator("header").get_by_role("link", name=re.compile(r"^Inbox")).click()
    assert page.locator("#inbox-total").inner_text() == "2 items"  # detractors only now
    assert errors == []
