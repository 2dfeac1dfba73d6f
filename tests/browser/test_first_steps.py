"""A new owner's first minutes in a real chromium: the dashboard's checklist
ticks as the survey's link is opened and answered, then goes; the survey
list's copy button; the tariff change asks before it applies."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.browser.conftest import run_axe, screenshot
from tests.browser.test_admin import EMAIL, _assert_no_violations, _log_in, csp_errors
from tests.conftest import seed

pytestmark = [pytest.mark.browser, pytest.mark.server]
__all__ = ["csp_errors"]  # the fixture, used by name


def _steps(page: Any) -> list[str]:
    return [str(item.get_attribute("class")) for item in page.locator("#onboarding li").all()]


def test_checklist_ticks_as_the_survey_is_opened_and_answered(
    live_server: Any, page: Any, csp_errors: list[str], engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1100, "height": 800})
    _log_in(page, base)
    assert page.locator("#onboarding-progress").inner_text() == "1 of 3 steps done"
    assert _steps(page) == ["done", "todo", "todo"]
    _assert_no_violations(page, "dashboard with the checklist")
    screenshot(page, "first-steps-1-survey-created")

    # The next step's link leads to the survey's snippet and link.
    page.get_by_role("link", name="Get the snippet and the link").click()
    page.wait_for_url(f"{base}/admin/surveys/{shop.survey_id}")
    link = page.locator("#link-url").inner_text()
    page.goto(link)  # the link page contacts the server
    page.goto(f"{base}/admin/dashboard")
    assert page.locator("#onboarding-progress").inner_text() == "2 of 3 steps done"
    assert _steps(page) == ["done", "done", "todo"]
    screenshot(page, "first-steps-2-contacted")

    page.goto(link)
    page.locator('input[name="score"][value="10"]').check()
    page.locator("form.survey button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/thanks\?t=.*"))
    page.goto(f"{base}/admin/dashboard")
    assert page.locator("#onboarding").count() == 0
    assert page.locator("#nps").inner_text() == "+100"
    screenshot(page, "first-steps-3-answered")
    assert csp_errors == []


def test_survey_list_copies_a_snippet(
    live_server: Any, page: Any, csp_errors: list[str], engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.set_viewport_size({"width": 1100, "height": 800})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys")
    page.get_by_role("button", name="Copy Embed snippet: Survey").click()
    page.get_by_text("Copied").first.wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f'<script src="{base}/widget.js"')
    page.get_by_text("Show").first.click()
    assert page.locator(f"#snippet-{shop.survey_id}").inner_text() == copied
    assert run_axe(page) == []
    screenshot(page, "survey-list")
    assert csp_errors == []


def test_tariff_change_is_confirmed_on_a_page_of_its_own(
    live_server: Any, page: Any, csp_errors: list[str], engine: Engine
) -> None:
    seed(engine, email=EMAIL, tariff="pro")
    base = live_server()
    page.set_viewport_size({"width": 1100, "height": 800})
    _log_in(page, base)
    page.get_by_role("link", name="Tariff", exact=True).click()
    page.get_by_role("link", name=re.compile(r"^Downgrade next month\W+Basic$")).click()
    page.wait_for_url(f"{base}/admin/tariff/confirm?code=basic")
    heading = page.locator("#change-heading").inner_text()
    assert re.fullmatch(
        r"Downgrade to Basic from 1 \w+ \d{4}: this month keeps Pro's budget", heading
    ), heading
    _assert_no_violations(page, "tariff confirmation")
    screenshot(page, "tariff-confirm-downgrade")
    # Going back changes nothing.
    page.get_by_role("link", name="Back to the tariffs").click()
    page.wait_for_url(f"{base}/admin/tariff")
    assert page.locator("#pending").count() == 0

    page.get_by_role("link", name=re.compile(r"^Downgrade next month\W+Basic$")).click()
    page.get_by_role("button", name=re.compile("^Downgrade to Basic from")).click()
    page.wait_for_url(f"{base}/admin/tariff")
    assert page.locator("#pending").is_visible()
    page.get_by_role("link", name="Dashboard").click()
    pending = page.locator("#pending-change")
    assert pending.inner_text().startswith("Your tariff changes to Basic on 1 ")
    _assert_no_violations(page, "dashboard with a pending downgrade")
    screenshot(page, "dashboard-pending-downgrade")
    pending.get_by_role("link").click()
    page.wait_for_url(f"{base}/admin/tariff#pending")
    with page.expect_navigation():
        page.get_by_role("button", name="Keep the current tariff").click()
    assert page.locator("#pending").count() == 0

    page.get_by_role("link", name=re.compile(r"^Upgrade now\W+Business$")).click()
    assert page.locator("#change-heading").inner_text() == (
        "Upgrade to Business now: 50,000 surveys a month from today"
    )
    screenshot(page, "tariff-confirm-upgrade")
    page.get_by_role("button", name="Upgrade to Business now").click()
    assert page.locator("#current-tariff").inner_text().startswith("Business")
    assert csp_errors == []


def test_german_404_page_leads_back(live_server: Any, browser: Any) -> None:
    base = live_server()
    context = browser.new_context(locale="de-DE", viewport={"width": 900, "height": 500})
    try:
        tab = context.new_page()
        answer = tab.goto(f"{base}/gibt-es-nicht")
        assert answer.status == 404
        assert tab.get_by_role("heading", level=1).inner_text() == "Seite nicht gefunden"
        assert tab.locator("#error-text").inner_text() == "Unter dieser Adresse gibt es nichts."
        assert run_axe(tab) == []
        screenshot(tab, "error-404-de")
        tab.goto(f"{base}/admin/gibt-es-nicht")
        tab.get_by_role("link", name="Zurück zur Übersicht").click()
        tab.wait_for_url(f"{base}/admin/login")
    finally:
        context.close()
