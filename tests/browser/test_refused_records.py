"""The "Refused" tab in a real chromium against a real server: reached from
the dashboard's lapsed records, read, checked by axe-core and downloaded as
CSV. The screenshot lands in screenshots/adm-refused-records.png."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.invitations import record_in, records
from tests.browser.test_admin_email import _checked, _log_in
from tests.conftest import seed, set_budget

pytestmark = [pytest.mark.browser, pytest.mark.server]

EMAIL = "owner@shop.example"


def test_the_refused_tab_shows_and_downloads_the_months_refusals(
    live_server: Any, page: Any, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    set_budget(engine, "free", 1)
    people = [
        ("ann@example.com", "order-1001", "api"),
        ("bob@example.com", "order-1002", "api"),
        ("ANN@example.com", "order-1003", "csv"),
        ("cleo@bücher.de", None, "manual"),
    ]
    for email, external_id, source in people:
        now = datetime.now(UTC)
        wanted = record_in.parse(
            {"survey_id": shop.survey_id, "email": email, "external_id": external_id}, now
        )
        records.accept(engine, shop.account_id, wanted, records.Source(source, "Shop"), now, UTC)
    base = live_server()
    page.set_viewport_size({"width": 1200, "height": 900})
    _log_in(page, base)

    page.locator("#lapsed").get_by_role("link", name="See which").click()
    page.wait_for_url(f"{base}/admin/records/refused")
    rows = page.locator("table.refused-records tbody tr")
    assert rows.count() == 3
    assert rows.nth(0).inner_text().split("\t")[1:] == [
        "cleo@bücher.de",
        "–",  # noqa: RUF001  (the page's dash for no external id)
        "the budget was used up",
        "By hand",
    ]
    assert rows.nth(1).inner_text().split("\t")[3] == "invited within the minimum interval"
    assert page.get_by_role("link", name="Refused", exact=True).get_attribute("aria-current")
    _checked(page, "refused records", "refused-records")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("refused-records-")
    content = Path(download.path()).read_bytes().decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(content)))
    assert table[0] == ["refused_at", "email", "external_id", "reason", "source"]
    assert [row[1:3] for row in table[1:]] == [
        ["bob@example.com", "order-1002"],
        ["ANN@example.com", "order-1003"],
        ["cleo@bücher.de", ""],
    ]
