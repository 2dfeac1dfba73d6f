"""The survey editor's live preview in chromium: the real widget in a
sandboxed frame follows what the admin types, the switch opens a segment's
follow-up and thanks, and nothing is stored or counted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.browser.conftest import screenshot, show_form_part
from tests.browser.test_admin import EMAIL, _assert_no_violations, _log_in
from tests.conftest import seed, usage_row
from tests.test_preview import PERIOD, _counts

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/work/shots")


def test_the_preview_follows_the_form(live_server: Any, page: Any, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    _log_in(page, base)
    before = _counts(engine)
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")

    frame = page.frame_locator("#preview-frame")
    card = frame.locator("nps-beacon section")
    # The frame opens with the saved survey, then follows the typing.
    card.locator("legend").wait_for()
    show_form_part(page, "Widget texts")
    page.locator("#en_question").fill("How would you rate our croissants?")
    page.locator("#en_follow_2").fill("What did you love most?")
    page.locator("#en_thanks_2").fill("Merci, croissant fan!")
    show_form_part(page, "Look")
    page.locator("#position").select_option("top-left")
    frame.get_by_text("How would you rate our croissants?").wait_for(timeout=10_000)
    assert card.get_attribute("class") == "c top-left"  # where the form says

    # The switch answers a promoter's score: the follow-up, then the thanks.
    page.get_by_label("Preview of").select_option(label="Follow-up after a high score (promoters)")
    frame.get_by_text("What did you love most?").wait_for(timeout=10_000)
    # Typing on while the frame reloads: the widget's card never takes the focus.
    show_form_part(page, "Widget texts")
    follow = page.locator("#en_follow_2")
    follow.press_sequentially(" Really?", delay=150)
    frame.get_by_text("What did you love most? Really?").wait_for(timeout=10_000)
    follow.press_sequentially(" Yes!", delay=100)
    page.wait_for_timeout(1500)
    assert follow.input_value() == "What did you love most? Really? Yes!"
    frame.get_by_text("What did you love most? Really? Yes!").wait_for(timeout=10_000)
    _assert_no_violations(page, "survey editor with its preview")
    path = screenshot(page, "preview")
    page.screenshot(path=str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / "preview.png")
    page.get_by_label("Preview of").select_option(label="Thank-you after a high score")
    frame.get_by_text("Merci, croissant fan!").wait_for(timeout=10_000)
    # Once the widget has closed, the frame offers it again instead of going blank.
    again = frame.get_by_role("button", name="Show the survey again")
    assert not again.is_visible()
    frame.locator("nps-beacon button.x").click()
    again.click()
    frame.get_by_text("Merci, croissant fan!").wait_for(timeout=10_000)
    assert not again.is_visible()

    # Nothing was stored or counted, and the frame's policy refused nothing.
    assert _counts(engine) == before
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)
    assert not [text for text in problems if "Content Security Policy" in text], problems


def test_a_new_surveys_preview_follows_kind_and_language(
    live_server: Any, page: Any, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/new?kind=csat")
    frame = page.frame_locator("#preview-frame")
    frame.get_by_text("How satisfied are you with your experience?").wait_for(timeout=10_000)
    # A CSAT scale runs from 1 to 5 in the real widget.
    radios = frame.locator("nps-beacon input[name='score']")
    assert radios.count() == 5
    page.locator("#kind").select_option("ces")
    frame.get_by_text("How easy was it to get what you needed?").wait_for(timeout=10_000)
    assert radios.count() == 7
    page.locator("#language").select_option("de")
    frame.get_by_text("Wie einfach war es, das Gewünschte zu erledigen?").wait_for(timeout=10_000)
    assert frame.locator("nps-beacon section").get_attribute("lang") == "de"
