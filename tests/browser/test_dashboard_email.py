"""The dashboard with a month of answers and records in a real chromium: the
budget by channel, the records' sync, the refusals and the lapse note, read
the way an owner sees them; axe-core checks the page and a screenshot goes to
screenshots/ for people to look at."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.browser.conftest import run_axe, screenshot
from tests.conftest import seed
from tests.test_dashboard_email import EMAIL, fill_month

pytestmark = [pytest.mark.browser, pytest.mark.server]

PASSWORD = "correct horse battery"


def test_the_email_dashboard_reads_at_a_glance(live_server: Any, page: Any, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def moment(step: int) -> datetime:
        # A few seconds apart and never before this month, like the answers
        # the server stores at its own time.
        return max(now - timedelta(seconds=50 - 10 * step), month_start)

    with httpx.Client(base_url=base) as http:
        fill_month(http, engine, shop, moment)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/dashboard")

    used = page.locator("#budget-used").inner_text()
    assert re.sub(r"\s+", " ", used) == (
        "7 of 7 used: 4 e-mails (3 still scheduled) · 2 widget answers · 1 link answer"
    )
    assert page.locator("#sync-source").inner_text() == "Records: API key “Shop backend”"
    assert "CSV upload “orders-may.csv”" in page.locator("#last-record-detail").inner_text()
    assert page.locator("#refused").inner_text() == "5"
    lapsed = page.locator("#lapsed")
    assert "have lapsed: they are not kept for next month." in lapsed.inner_text()
    assert lapsed.get_by_role("link", name="Change tariff").get_attribute("href") == "/admin/tariff"
    violations = run_axe(page)
    assert violations == [], [(item["id"], item["nodes"][0]["target"]) for item in violations]

    screenshot(page, "admin-dashboard-email")
