"""The pages whose words changed, in chromium with axe: the account page's
names, the tariff page's surveys by channel, the survey list and page of a
used-up budget, and a German admin's results and inbox item with follow-up
answers. Screenshots land in screenshots/admin-words-*.png."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.browser.conftest import screenshot
from tests.browser.test_admin import EMAIL, _assert_no_violations, _log_in
from tests.conftest import seed, set_budget
from tests.test_follow_up_questions import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_the_changed_pages_read_well_and_pass_axe(
    live_server: Any, page: Any, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL, questions=QUESTIONS)
    set_budget(engine, "free", 1)
    base = live_server()
    token = httpx.get(f"{base}/api/v1/widget/{shop.embed_key}").json()["display_token"]
    answer = {"display_token": token, "score": 2, "answers": {"qwhy": ["odel"]}}
    item = httpx.post(f"{base}/api/v1/responses", json=answer).json()["id"]
    page.set_viewport_size({"width": 1100, "height": 900})
    _log_in(page, base)

    page.goto(f"{base}/admin/account")
    page.get_by_label("Sender name of invitations").fill("Bücherstube Müller")
    page.get_by_label("Your name on replies").fill("Jörg Weiß")
    page.locator("#names-form").get_by_role("button", name="Save").click()
    assert page.get_by_role("status").first.inner_text() == "The names are saved."
    _assert_no_violations(page, "account page with names")
    screenshot(page, "admin-words-account")
    page.get_by_label("Account name").fill("")
    page.locator("#names-form").get_by_role("button", name="Save").click()
    assert page.locator("#account_name-error").inner_text() == "Please fill this in."
    _assert_no_violations(page, "account page with a name error")

    page.goto(f"{base}/admin/tariff")
    assert page.locator("#budget-used").inner_text().startswith("1 of 1 surveys used:")
    _assert_no_violations(page, "tariff page")
    screenshot(page, "admin-words-tariff")
    page.goto(f"{base}/admin/surveys")
    assert page.locator(f"#state-{shop.survey_id}").inner_text().startswith("Paused until")
    _assert_no_violations(page, "paused survey list")
    screenshot(page, "admin-words-surveys-paused")

    page.goto(f"{base}/admin/account")
    page.get_by_label("Language of these pages").select_option("de")
    page.locator("#ui-language").locator("xpath=ancestor::form").get_by_role("button").click()
    page.goto(f"{base}/admin/surveys/{shop.survey_id}/results")
    assert "Was lief schief?" in page.locator("main").inner_text()
    _assert_no_violations(page, "German results")
    page.goto(f"{base}/admin/inbox/{item}")
    main = page.locator("main").inner_text()
    assert "Was lief schief?" in main and "Lieferung" in main and "Delivery" not in main
    _assert_no_violations(page, "German inbox item")
    screenshot(page, "admin-words-inbox-item-de")
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    assert page.locator("#survey-id").inner_text() == str(shop.survey_id)
    assert page.locator("#paused").is_visible()
    _assert_no_violations(page, "German paused survey page")
