"""The link survey in a real chromium: answered by keyboard alone, a comment
attached, no accessibility violations, and screenshots at phone and desktop width."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.platform import db
from tests.browser.conftest import run_axe, screenshot
from tests.conftest import count_responses, seed, set_budget

pytestmark = [pytest.mark.browser, pytest.mark.server]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def _watch(page: Any) -> list[str]:
    """Console errors and CSP violations: a strict page must produce none."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    return problems


def _usage(engine: Engine, account_id: int) -> tuple[int, int]:
    """(used, rejected) over all periods: the live server runs on the real clock."""
    with db.read(engine) as conn:
        row = conn.execute(
            text(
                "SELECT coalesce(sum(used), 0) AS used, coalesce(sum(rejected), 0) AS rejected "
                "FROM usage WHERE account_id = :a"
            ),
            {"a": account_id},
        ).one()
    return int(row.used), int(row.rejected)


def _targets_are_large(page: Any, selector: str) -> None:
    for box in (handle.bounding_box() for handle in page.query_selector_all(selector)):
        assert box is not None
        assert box["width"] >= 44, box
        assert box["height"] >= 44, box


def test_answer_by_keyboard_then_comment(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop = seed(engine, review_url="https://reviews.example/demo-shop")
    base = live_server()
    problems = _watch(page)
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/s/{shop.link_key}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("How likely")
    # The stylesheet loaded under the CSP: the scale has its 44px targets.
    _targets_are_large(page, ".choice span")
    _targets_are_large(page, "button[type=submit]")
    assert run_axe(page) == []
    screenshot(page, "link-survey-375")

    page.keyboard.press("Tab")  # into the radio group: the first score
    assert page.evaluate("document.activeElement.value") == "0"
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.value") == "9"
    screenshot(page, "link-survey-focus-375")  # the focus ring on the chosen score
    assert count_responses(engine) == 0  # moving through the scale sends nothing
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")

    page.wait_for_url("**/thanks?t=*")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Thank you! We are glad you are happy."
    )
    assert page.get_by_label("What do you like most?").is_visible()
    # A promoter is offered the review link, through the redirect that counts it.
    review = page.get_by_role("link", name="Write a review").get_attribute("href")
    assert review.startswith(f"{base}/r/")
    assert count_responses(engine) == 1
    assert _usage(engine, shop.account_id) == (1, 0)
    _targets_are_large(page, ".button")
    assert run_axe(page) == []
    screenshot(page, "link-thanks-375")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "comment"
    page.keyboard.type("Fast delivery, lovely beans.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Your comment was added")
    with db.read(engine) as conn:
        stored = conn.execute(text("SELECT score, comment, channel FROM response")).one()
    assert tuple(stored) == (9, "Fast delivery, lovely beans.", "link")
    assert _usage(engine, shop.account_id) == (1, 0)
    assert run_axe(page) == []
    screenshot(page, "link-commented-375")
    assert problems == []


def test_screens_at_desktop_width_and_when_closed(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop = seed(engine, review_url="https://reviews.example/demo-shop")
    closed = seed(engine, tariff="basic")
    set_budget(engine, "basic", 0)
    base = live_server()
    problems = _watch(page)

    page.set_viewport_size(DESKTOP)
    page.goto(f"{base}/s/{shop.link_key}")
    page.locator("input[value='3']").check()
    screenshot(page, "link-survey-desktop")
    page.click("button[type=submit]")
    page.wait_for_url("**/thanks?t=*")
    assert page.get_by_label("We are sorry to hear that. What should we improve?").is_visible()
    screenshot(page, "link-thanks-desktop")

    for size, name in ((DESKTOP, "desktop"), (PHONE, "375")):
        page.set_viewport_size(size)
        page.goto(f"{base}/s/{closed.link_key}?score=10")
        heading = page.get_by_role("heading", level=1).inner_text()
        assert heading == "This survey is not collecting responses right now"
        assert page.query_selector("form") is None
        assert run_axe(page) == []
        screenshot(page, f"link-exhausted-{name}")

    page.set_viewport_size(PHONE)
    page.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9"})
    page.goto(f"{base}/s/{shop.link_key}")
    assert page.get_by_role("button", name="Absenden").is_visible()
    assert run_axe(page) == []
    screenshot(page, "link-survey-de-375")

    assert count_responses(engine) == 1
    assert _usage(engine, closed.account_id) == (0, 0)
    assert problems == []


def test_works_with_javascript_off(
    live_server: Callable[..., str], engine: Engine, browser: Any
) -> None:
    shop = seed(engine, kind="ces")
    base = live_server()
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(f"{base}/s/{shop.link_key}")
        assert page.locator("input[type=radio]").count() == 7
        _targets_are_large(page, ".choice span")
        page.locator("input[value='6']").click()  # the input lies over its visible box
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/thanks?t=*")
        page.get_by_label("What do you like most?").fill("Quick and clear.")
        page.get_by_role("button", name="Send comment").click()
        page.get_by_text("Your comment was added").wait_for()
    finally:
        context.close()
    with db.read(engine) as conn:
        stored = conn.execute(text("SELECT score, segment, comment FROM response")).one()
    assert tuple(stored) == (6, "low-effort", "Quick and clear.")
    assert _usage(engine, shop.account_id) == (1, 0)
