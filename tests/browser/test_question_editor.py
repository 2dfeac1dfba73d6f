"""The survey form's follow-up question editor in chromium: filled in by an
admin, an error that says how to fix it, saved, axe-clean, with screenshots
of the editor on a desktop and at 375 px."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.platform import db
from app.surveys import model as surveys
from tests.browser.conftest import screenshot, show_form_part
from tests.browser.test_admin import EMAIL, _assert_no_violations, _log_in
from tests.conftest import seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/work/shots")


def _shot(page: Any, name: str, selector: str) -> None:
    """The editor alone: the whole form would be a very long picture."""
    path = screenshot(page, name)
    page.locator(selector).screenshot(path=str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def test_an_admin_adds_tags_and_a_choice(live_server: Any, page: Any, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1100, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    show_form_part(page, "Follow-up questions")

    # With JavaScript one empty slot waits open and the rest behind a button;
    # a slot shows the fields its type uses.
    first = page.get_by_role("group", name="Question 1")
    assert page.get_by_role("group", name="Question 2").count() == 0
    assert not first.get_by_label("Options (English)").is_visible()
    first.get_by_label("Type").select_option("tags")
    assert first.get_by_label("Options (English)").is_visible()
    page.get_by_role("button", name="Add a question").click()
    assert page.evaluate("document.activeElement.id") == "q1_kind"
    first.get_by_label("Question (English)").fill("What went wrong?")
    first.get_by_label("Question (German)").fill("Was lief schief?")
    first.get_by_label("Options (English)").fill("Delivery\nPrice\nSupport")
    first.get_by_label("Options (German)").fill("Lieferung\nPreis")  # one short
    first.get_by_label("Most tags a visitor may pick").fill("2")
    first.get_by_label("Passives (7–8)").uncheck()  # noqa: RUF001
    first.get_by_label("Promoters (9–10)").uncheck()  # noqa: RUF001
    second = page.get_by_role("group", name="Question 2")
    second.get_by_label("Type").select_option("single")
    second.get_by_label("Question (English)").fill("Will you order again?")
    second.get_by_label("Options (English)").fill("Yes\nNo")
    assert not second.get_by_label("Most tags a visitor may pick").is_visible()
    page.get_by_role("button", name="Save").click()

    # The summary names the field and says how to fix it; the choices are kept.
    summary = page.locator("#form-errors")
    assert "This language lists 2 options, another 3." in summary.inner_text()
    assert page.locator("#de_q0_options").get_attribute("aria-invalid") == "true"
    assert first.get_by_label("Type").input_value() == "tags"
    _assert_no_violations(page, "question editor with an error")
    _shot(page, "question-editor-error-desktop", "#questions")

    first.get_by_label("Options (German)").fill("Lieferung\nPreis\nSupport")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert page.locator("#form-errors").count() == 0
    with db.read(engine) as conn:
        survey = surveys.find(conn, shop.survey_id)
    assert survey is not None
    assert [(q.kind, q.label("de")) for q in survey.questions] == [
        ("tags", "Was lief schief?"),
        ("single", "Will you order again?"),
    ]
    assert survey.questions[0].segments == ("detractor",)

    # Saved: the page shows the questions again, in their slots.
    assert first.get_by_label("Options (German)").input_value() == "Lieferung\nPreis\nSupport"
    _assert_no_violations(page, "question editor")
    _shot(page, "question-editor-desktop", "#questions")
    assert page.get_by_role("group", name="Question 3").is_visible()  # the empty one, open
    assert page.get_by_role("group", name="Question 4").count() == 0
    page.set_viewport_size({"width": 375, "height": 800})
    _shot(page, "question-editor-375", "#questions .question-slot >> nth=0")
