"""The e-mail admin pages in a real chromium against a real server: upload a
CSV file of good and bad rows through the form, read the result, download
the refused rows, cancel an invitation, add one recipient by hand, create an
API key and copy it. axe-core checks each page; screenshots land in
screenshots/adm-*.png."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.invitations import record_in, record_status, records
from app.platform import db
from tests.browser.conftest import SCREENSHOTS, run_axe, screenshot, show_form_part
from tests.conftest import seed, set_budget

pytestmark = [pytest.mark.browser, pytest.mark.server]

EMAIL = "owner@shop.example"
PASSWORD = "correct horse battery"
CSV_FILE = (
    "\ufeffemail;name;language;external_id;plan\n"
    "ann@example.com;Ann;en;order-1;pro\n"
    "not an address;Bob;en;order-2;basic\n"
    "cleo@example.com;Cleo;de;order-3;\n"
    "ann@example.com;Ann;en;order-4;\n"
    "ben@example.com;Ben;;order-5;\n"
    "dan@example.com;Dan;;order-6;\n"
)


def _log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/dashboard")


def _checked(page: Any, where: str, name: str) -> None:
    violations = run_axe(page)
    summary = [(item["id"], [node["target"] for node in item["nodes"]]) for item in violations]
    assert violations == [], f"{where}: {summary}"
    screenshot(page, f"adm-{name}")


def test_upload_a_csv_file_and_download_its_refused_rows(
    live_server: Any, page: Any, engine: Engine, tmp_path: Path
) -> None:
    shop = seed(engine, email=EMAIL)
    set_budget(engine, "free", 2)
    # Ben unsubscribed after an earlier invitation, which went back to the budget.
    now = datetime.now(UTC)
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": "ben@example.com"}, now)
    first = records.accept(engine, shop.account_id, wanted, records.Source("api", "Shop"), now, UTC)
    with db.read(engine) as conn:
        invitation_id = conn.execute(
            text("SELECT id FROM invitation WHERE record_id = :r"), {"r": first.id}
        ).scalar_one()
    record_status.unsubscribe(engine, invitation_id, now)
    file = tmp_path / "customers.csv"
    file.write_text(CSV_FILE, encoding="utf-8")
    base = live_server()
    page.set_viewport_size({"width": 1200, "height": 900})
    _log_in(page, base)

    page.get_by_role("link", name="E-mail", exact=True).click()
    page.wait_for_url(f"{base}/admin/records")
    page.get_by_role("link", name="Upload CSV").click()
    # A file saved in another encoding is refused as a whole, with the line.
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email;name\njürgen@example.com;Jürgen\n".encode("latin-1"))
    page.get_by_label("CSV file", exact=True).set_input_files(str(latin))
    page.get_by_role("button", name="Upload and take the records").click()
    page.locator("#upload-error").wait_for()
    assert page.locator("#upload-message").inner_text().startswith("Line 2 is not UTF-8 text.")
    _checked(page, "upload refused", "upload-refused")
    page.get_by_label("Survey", exact=True).select_option(str(shop.survey_id))
    page.get_by_label("CSV file", exact=True).set_input_files(str(file))
    _checked(page, "upload form", "upload")
    page.get_by_role("button", name="Upload and take the records").click()
    page.wait_for_url(re.compile(r".*/admin/records/uploads/\d+$"))
    counts = {
        code: page.locator(f"#count-{code}").inner_text()
        for code in ("scheduled", "budget_exhausted", "recently_surveyed", "unsubscribed")
    }
    counts["invalid"] = page.locator("#count-invalid").inner_text()
    assert counts == {
        "scheduled": "2",
        "budget_exhausted": "1",
        "recently_surveyed": "1",
        "unsubscribed": "1",
        "invalid": "1",
    }
    rows = page.locator("#refused-rows tbody tr")
    assert rows.count() == 4
    assert rows.nth(0).inner_text().split("\t")[:2] == ["3", "not an address"]
    _checked(page, "upload result", "upload-result")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rows not accepted (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    content = Path(download.path()).read_bytes().decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(content)))
    assert table[0] == ["line", "email", "reason"]
    assert [row[0] for row in table[1:]] == ["3", "5", "6", "7"]
    assert table[3] == ["6", "ben@example.com", "The recipient has unsubscribed from your surveys."]

    # The records page lists them; one scheduled invitation is cancelled.
    page.get_by_role("link", name="See the records").click()
    page.get_by_text("ann@example.com").first.wait_for()
    _checked(page, "records", "records")
    page.get_by_label("Status").select_option("refused")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*status=refused.*"))
    assert page.locator("#record-count").inner_text() == "2 records"
    page.get_by_role("link", name="Show all").click()
    page.wait_for_url(f"{base}/admin/records")
    page.get_by_role("link", name=re.compile(r"^Cancel\W+cleo@example\.com$")).click()
    _checked(page, "cancel an invitation", "record-cancel")
    page.get_by_role("button", name="Cancel the invitation").click()
    page.wait_for_url(f"{base}/admin/records")
    assert "was cancelled" in page.get_by_role("status").first.inner_text()

    # One recipient by hand: a mistake first, then the budget's unit given back.
    page.get_by_role("link", name="Add one recipient").click()
    page.get_by_label("E-mail address").fill("erin@")
    page.get_by_role("button", name="Add recipient").click()
    assert page.locator("#email-error").inner_text().startswith("Please enter an e-mail address")
    _checked(page, "manual form with an error", "manual")
    page.get_by_label("E-mail address").fill("erin@example.com")
    page.get_by_role("button", name="Add recipient").click()
    page.wait_for_url(f"{base}/admin/records")
    notice = page.get_by_role("status").first.inner_text()
    assert notice.startswith("Accepted: the invitation to erin@example.com is scheduled for")


def test_create_an_api_key_and_copy_it(live_server: Any, page: Any, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.set_viewport_size({"width": 1200, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/api-keys")
    _checked(page, "API keys, none yet", "api-keys-empty")
    page.get_by_label("Name", exact=True).fill("Shop backend")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("heading", name="The key “Shop backend” was created").wait_for()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("nbk_")
    assert f'"survey_id": {shop.survey_id}' in page.locator("#curl").inner_text()
    copy = page.get_by_role("button", name="Copy API key")
    assert copy.is_visible()
    copy.click()
    page.get_by_text("Copied").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _checked(page, "key created", "api-key-created")
    page.get_by_role("link", name="Done: back to the keys").click()
    assert secret not in page.content()
    page.get_by_role("link", name=re.compile(r"^Revoke\W+Shop backend$")).click()
    _checked(page, "revoke a key", "api-key-revoke")
    page.get_by_role("button", name="Revoke the key").click()
    page.wait_for_url(f"{base}/admin/api-keys")
    assert page.get_by_role("status").first.inner_text() == "The key “Shop backend” was revoked."
    _checked(page, "API keys with a revoked one", "api-keys")

    # The other new settings, for people to look at.
    page.goto(f"{base}/admin/account")
    _checked(page, "account", "account")
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    show_form_part(page, "E-mail invitations")
    assert run_axe(page) == []
    SCREENSHOTS.mkdir(exist_ok=True)
    email_settings = page.locator("fieldset", has=page.locator("#email_delay_days"))
    email_settings.screenshot(path=str(SCREENSHOTS / "adm-survey-form-email.png"))
