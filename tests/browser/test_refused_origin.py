"""The owner's first-hour mistake end to end in chromium: the survey allows
http://localhost:PORT, the page runs on http://127.0.0.1:PORT. The widget
stays away and says why in the console, the dashboard warns and links to the
help, and "Allow this origin" brings the widget up on that page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.browser.conftest import run_axe, screenshot
from tests.browser.test_admin import EMAIL, _log_in
from tests.browser.test_widget import open_config, shop, snippet, strict_csp, watch
from tests.conftest import seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

__all__ = ["shop"]  # the fixture serving the other origin's page


def _no_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    summary = [(item["id"], [node["target"] for node in item["nodes"]]) for item in violations]
    assert violations == [], f"{where}: {summary}"


def test_dashboard_warning_then_allow_this_origin_shows_the_widget(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    base = live_server()
    origin = shop()
    survey = seed(engine, email=EMAIL, origins=[origin.replace("127.0.0.1", "localhost")])
    shop(snippet(base, survey.embed_key), csp=strict_csp(base))
    seen = watch(page)

    assert open_config(page, origin)["reason"] == "origin_not_allowed"
    page.evaluate("window.npsBeacon.show()")
    assert len(seen.warnings) == 1 and origin in seen.warnings[0]

    _log_in(page, base)
    warning = page.locator(".refusal")
    assert (
        warning.locator("strong")
        .inner_text()
        .startswith(f"The widget of survey “Survey” was refused on {origin} (last at ")
    )
    assert page.locator("#last-sync").inner_text() == (
        "No widget or link has contacted the server yet."
    )
    _no_violations(page, "dashboard with a refused origin")
    screenshot(page, "admin-dashboard-refused-origin")

    warning.get_by_role("link", name="Why is my widget not showing?").click()
    page.wait_for_url(f"{base}/admin/help/widget?survey={survey.survey_id}#origins")
    assert page.locator("#storage-entry").inner_text() == f"npsBeacon:{survey.embed_key}"
    _no_violations(page, "widget help")
    screenshot(page, "admin-widget-help")
    page.go_back()

    page.get_by_role("button", name="Allow this origin").click()
    page.wait_for_url(f"{base}/admin/dashboard")
    assert page.get_by_role("status").first.inner_text() == (
        f"{origin} is now allowed for “Survey”. Reload that page to see the widget."
    )
    assert page.locator(".refusal").count() == 0
    _no_violations(page, "dashboard after allowing the origin")
    screenshot(page, "admin-dashboard-origin-allowed")

    seen.warnings.clear()
    page.emulate_media(reduced_motion="reduce")  # the card at rest, for the screenshot
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    screenshot(page, "widget-after-origin-allowed")
    assert seen.warnings == []
    assert seen.console_errors == []
    # Now a healthy contact: the dashboard's last data sync names the origin.
    page.goto(f"{base}/admin/dashboard")
    assert origin in page.locator("#sync-heading + p + p").inner_text()
