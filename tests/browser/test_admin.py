"""The admin pages in a real chromium against a real server: log in, create a
survey, copy its snippet, answer it through the link page, and watch the
dashboard's budget go down by one. axe-core checks the pages; screenshots of
the dashboard, the survey form and the results page land in screenshots/."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert

from app.platform import db
from app.platform.models import response_table, usage_table
from app.platform.signing import Signer
from app.surveys import scales
from tests.browser.conftest import run_axe, screenshot, show_form_part
from tests.conftest import SECRET, seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

EMAIL = "owner@shop.example"
PASSWORD = "correct horse battery"


def _log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/dashboard")


@pytest.fixture
def csp_errors(page: Any) -> list[str]:
    """Console reports of anything the page's CSP blocked."""
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return errors


def _assert_no_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    summary = [(item["id"], [node["target"] for node in item["nodes"]]) for item in violations]
    assert violations == [], f"{where}: {summary}"


def test_create_survey_answer_it_and_see_the_budget_drop(
    live_server: Any, page: Any, csp_errors: list[str], engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    base = live_server()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

    _log_in(page, base)
    remaining_before = int(page.locator("#remaining").inner_text())
    assert page.locator("#last-accepted").inner_text() == "No feedback accepted yet."
    _assert_no_violations(page, "dashboard")

    page.get_by_role("link", name="Surveys").click()
    page.get_by_role("link", name="New survey").click()
    _assert_no_violations(page, "choice of kind")
    page.get_by_role("link", name="NPS (0\u201310)").click()
    _assert_no_violations(page, "new survey form")
    page.get_by_label("Name").fill("Checkout NPS")
    assert page.get_by_label("Kind").input_value() == "nps"
    show_form_part(page, "Widget texts")
    page.locator("#en_question").fill("Would you recommend our checkout?")
    show_form_part(page, "Where and when")
    page.get_by_label("Allowed origins").fill("shop.example")
    page.get_by_role("button", name="Create survey").click()
    # A mistake re-renders the form with the message next to the field.
    assert page.locator("#origins-error").inner_text() == (
        "“shop.example” lacks http:// or https://. Did you mean https://shop.example?"
    )
    assert page.get_by_label("Name").input_value() == "Checkout NPS"
    _assert_no_violations(page, "survey form with errors")
    screenshot(page, "admin-survey-form-errors")
    page.get_by_label("Allowed origins").fill("")
    page.get_by_role("button", name="Create survey").click()
    # Saving comes back to the part in hand.
    page.wait_for_url(re.compile(r".*/admin/surveys/\d+#section-rules$"))
    assert page.get_by_role("status").first.inner_text() == "The survey was created."
    _assert_no_violations(page, "survey edit form")
    screenshot(page, "admin-survey-form")

    snippet = page.locator("#snippet").inner_text()
    assert snippet.startswith(f'<script src="{base}/widget')
    page.get_by_role("button", name="Copy Embed snippet").click()
    page.get_by_text("Copied").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    embed_key = re.search(r'data-survey="([^"]+)"', snippet).group(1)  # type: ignore[union-attr]
    config = httpx.get(f"{base}/api/v1/widget/{embed_key}").json()
    assert config["show"] is True
    assert config["survey"]["question"] == "Would you recommend our checkout?"

    link = page.locator("#link-url").inner_text()
    page.goto(link)
    page.locator('input[name="score"][value="9"]').check()
    page.locator("form.survey button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/thanks\?t=.*"))

    page.goto(f"{base}/admin/dashboard")
    assert int(page.locator("#remaining").inner_text()) == remaining_before - 1
    accepted = page.locator("#last-accepted").inner_text()
    assert re.fullmatch(r"\d{1,2} \w+ \d{4}, \d\d:\d\d UTC", accepted), accepted
    assert "Survey “Checkout NPS”" in page.locator("main").inner_text()
    assert page.locator("#nps").inner_text() == "+100"
    assert csp_errors == []


def test_screenshots_with_data(
    live_server: Any, page: Any, csp_errors: list[str], engine: Engine
) -> None:
    """Dashboard and results with a month of answers, for people to look at."""
    shop = seed(engine, email=EMAIL, tariff="basic")
    signer = Signer((SECRET,), 3600)
    rows = []
    for day in range(1, 21):
        for number in range(day % 5 + 1):
            score = (day * 7 + number * 3) % 11
            comment = f"Answer {number} on day {day}" if number == 0 else None
            rows.append((day, number, score, comment))
    now = datetime.now(UTC)
    period = f"{now.year:04d}-{now.month:02d}"
    with db.write(engine) as conn:
        conn.execute(
            insert(response_table),
            [
                {
                    "nonce": f"n{day}-{number}",
                    "account_id": shop.account_id,
                    "survey_id": shop.survey_id,
                    "period": period,
                    "score": score,
                    "segment": scales.segment_of("nps", score),
                    "comment": comment,
                    "channel": "widget",
                    "created_at": datetime(
                        now.year, now.month, min(day, now.day), 9 + number, tzinfo=UTC
                    ),
                }
                for day, number, score, comment in rows
            ],
        )
        conn.execute(
            insert(usage_table).values(
                account_id=shop.account_id,
                period=period,
                used=len(rows),
                rejected=3,
                last_accepted_at=now,
                last_accepted_survey_id=shop.survey_id,
            )
        )
    base = live_server()
    httpx.get(
        f"{base}/api/v1/widget/{signer.embed_key(shop.public_id)}",
        headers={"Origin": "https://shop.example"},
    )
    page.set_viewport_size({"width": 1200, "height": 900})
    _log_in(page, base)
    _assert_no_violations(page, "dashboard with data")
    screenshot(page, "admin-dashboard")
    page.goto(f"{base}/admin/surveys/{shop.survey_id}/results")
    _assert_no_violations(page, "results")
    screenshot(page, "admin-results")
    page.locator(".comment .delete a").first.click()
    page.get_by_role("heading", name="Delete this response?").wait_for()
    _assert_no_violations(page, "delete a response")
    screenshot(page, "admin-delete-response")
    page.goto(f"{base}/admin/surveys/{shop.survey_id}/delete")
    _assert_no_violations(page, "delete a survey")
    screenshot(page, "admin-delete-survey")
    page.goto(f"{base}/admin/tariff")
    _assert_no_violations(page, "tariff")
    screenshot(page, "admin-tariff")
    page.goto(f"{base}/admin/account")
    _assert_no_violations(page, "account")

    # The same session in a German browser speaks German.
    german = page.context.browser.new_context(
        locale="de-DE", viewport={"width": 1200, "height": 900}
    )
    german.add_cookies(page.context.cookies())
    tab = german.new_page()
    tab.goto(f"{base}/admin/dashboard")
    assert tab.locator("h1").inner_text().startswith("Übersicht")
    screenshot(tab, "admin-dashboard-de")
    german.close()
    assert csp_errors == []
