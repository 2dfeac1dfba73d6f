"""The link survey's follow-up questions in chromium, without JavaScript:
answered by keyboard, axe-clean, tags as chips, at phone width."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.platform import db
from tests.browser.conftest import run_axe, screenshot
from tests.browser.test_links import PHONE, _targets_are_large, _watch
from tests.conftest import seed
from tests.test_follow_up_questions import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_a_detractor_answers_the_questions_by_keyboard(
    live_server: Callable[..., str], engine: Engine, browser: Any
) -> None:
    shop = seed(engine, questions=QUESTIONS)
    base = live_server()
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    problems = _watch(page)
    page.goto(f"{base}/s/{shop.link_key}?score=2")
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    assert (
        page.get_by_role("heading", level=1).inner_text() == "Thank you for your honest feedback."
    )
    tags = page.get_by_role("group", name="What went wrong?")
    assert tags.get_by_role("checkbox").count() == 3
    _targets_are_large(page, ".option span")
    # axe needs a script; the page itself runs none.
    checked = browser.new_context(viewport=PHONE)
    axe_page = checked.new_page()
    axe_page.goto(page.url)
    assert run_axe(axe_page) == []
    checked.close()

    page.get_by_label("We are sorry to hear that. What should we improve?").focus()
    page.keyboard.type("Late")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # Delivery
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # Price
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past Support, into "Will you order again?"
    page.keyboard.press("ArrowDown")  # No
    path = screenshot(page, "link-follow-up-375")
    Path("/work/shots").mkdir(parents=True, exist_ok=True)
    shutil.copy(path, Path("/work/shots") / path.name)
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    assert "Thank you, your answers were added." in page.content()
    with db.read(engine) as conn:
        stored = dict(conn.execute(text("SELECT question_id, value FROM answer")).all())  # type: ignore[arg-type]
        comment = conn.execute(text("SELECT comment FROM response")).scalar_one()
    assert stored == {"qwhy": '["odel","opri"]', "qagain": '"ono"'}
    assert comment == "Late"
    assert problems == []
    context.close()
