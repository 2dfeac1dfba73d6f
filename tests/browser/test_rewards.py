"""Rewards in a real chromium: the admin adds coupon codes by textarea and
file, a refused upload says why; promoters of a link survey each see their
own code and the review link until the pool runs out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.platform import db
from tests.browser.conftest import SCREENSHOTS, run_axe, screenshot, show_form_part
from tests.browser.test_admin import EMAIL, _log_in, csp_errors  # noqa: F401  (a fixture)
from tests.conftest import seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def _no_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    summary = [(item["id"], [node["target"] for node in item["nodes"]]) for item in violations]
    assert violations == [], f"{where}: {summary}"


def _codes(engine: Engine) -> list[tuple[str, bool]]:
    with db.read(engine) as conn:
        rows = conn.execute(text("SELECT code, handed_at IS NOT NULL FROM coupon ORDER BY id"))
        return [(row[0], bool(row[1])) for row in rows]


def test_the_admin_uploads_codes_and_sees_a_refusal_explained(
    live_server: Callable[..., str],
    engine: Engine,
    page: Any,
    csp_errors: list[str],  # noqa: F811
    tmp_path: Path,
) -> None:
    shop = seed(engine, email=EMAIL, rewards={"promoter": {"type": "pool"}})
    base = live_server()
    page.set_viewport_size(DESKTOP)
    _log_in(page, base)
    SCREENSHOTS.mkdir(exist_ok=True)
    # The dashboard warns: promoters are promised a code from an empty pool.
    warning = page.locator(f"#empty-pool-{shop.survey_id}-promoter")
    assert "is empty" in warning.inner_text()
    _no_violations(page, "dashboard")
    warning.screenshot(path=str(SCREENSHOTS / "dashboard-empty-pool.png"))
    warning.get_by_role("link", name="Add codes").click()
    page.wait_for_url(f"{base}/admin/surveys/{shop.survey_id}/rewards")
    assert page.get_by_label("Pool", exact=True).input_value() == "promoter"
    _no_violations(page, "rewards page")

    page.get_by_label("Codes", exact=True).fill("WELCOME-1\nWELCOME-2\n")
    codes_file = tmp_path / "codes.txt"
    codes_file.write_text("FILE-1\nFILE-2\nFILE-3\n", encoding="utf-8")
    page.get_by_label("Or a text file of codes").set_input_files(str(codes_file))
    page.get_by_role("button", name="Add the codes").click()
    page.get_by_text("5 codes added.").wait_for()
    assert page.locator("#pool-promoter td.num").first.inner_text() == "5"
    _no_violations(page, "after adding")
    screenshot(page, "rewards-pools-desktop")

    # A code already in the pool refuses the whole upload, naming it.
    page.get_by_label("Codes", exact=True).fill("NEW-1\nFILE-2\nbad code")
    page.get_by_role("button", name="Add the codes").click()
    message = page.locator("#codes-message")
    message.wait_for()
    assert "starting with a letter or digit: 3: bad code" in message.inner_text()
    # The typed codes are kept to correct.
    assert page.get_by_label("Codes", exact=True).input_value() == "NEW-1\nFILE-2\nbad code"
    page.get_by_label("Codes", exact=True).fill("NEW-1\nFILE-2")
    page.get_by_role("button", name="Add the codes").click()
    assert "in the pool already: FILE-2" in page.locator("#codes-message").inner_text()
    _no_violations(page, "refused upload")
    screenshot(page, "rewards-refused-desktop")
    assert [code for code, _ in _codes(engine)] == [
        "WELCOME-1",
        "WELCOME-2",
        "FILE-1",
        "FILE-2",
        "FILE-3",
    ]
    # The survey's settings say how many codes are left in the pool.
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    show_form_part(page, "After the answer")
    assert page.locator("#reward_2-left").inner_text() == "5 codes left in the pool"
    page.locator("#rewards").screenshot(path=str(SCREENSHOTS / "survey-form-rewards.png"))
    assert csp_errors == []


def test_promoters_each_see_their_own_code_until_the_pool_runs_out(
    live_server: Callable[..., str], engine: Engine, browser: Any
) -> None:
    shop = seed(
        engine,
        review_url="https://reviews.example/shop",
        rewards={"promoter": {"type": "pool"}},
        texts={"en": {"thanks": {"promoter": "You made our day!"}}},
    )
    with db.write(engine) as conn:
        for code in ("BEANS-10-A", "BEANS-10-B"):
            conn.execute(
                text(
                    "INSERT INTO coupon (account_id, survey_id, segment, code, created_at)"
                    " VALUES (:a, :s, 'promoter', :c, CURRENT_TIMESTAMP)"
                ),
                {"a": shop.account_id, "s": shop.survey_id, "c": code},
            )
    base = live_server()
    seen = []
    for number in range(3):
        # Three promoters, each in a browser of their own, each clicking 10.
        page = browser.new_context(viewport=PHONE).new_page()
        page.goto(f"{base}/s/{shop.link_key}?score=10")
        page.wait_for_url("**/thanks?t=*")
        assert page.get_by_role("heading", level=1).inner_text() == "You made our day!"
        assert page.get_by_role("link", name="Write a review").is_visible()
        code = page.locator("#reward-code")
        if number < 2:
            seen.append(code.inner_text())
            assert run_axe(page) == []
            if number == 0:
                screenshot(page, "link-thanks-reward-375")
        else:
            assert code.count() == 0  # the pool ran out: no code is shown
            screenshot(page, "link-thanks-pool-empty-375")
        page.context.close()
    assert sorted(seen) == ["BEANS-10-A", "BEANS-10-B"]
    assert _codes(engine) == [("BEANS-10-A", True), ("BEANS-10-B", True)]
    # The review link leads on to the review site through the counting redirect.
    with db.read(engine) as conn:
        shown = conn.execute(text("SELECT sum(shown) FROM review_count")).scalar_one()
    assert shown == 3
