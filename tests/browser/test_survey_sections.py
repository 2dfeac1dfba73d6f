"""The survey form in parts: a short navigation of links, one part shown at
a time with JavaScript (every part in the one form, so nothing typed is lost
and Save checks it all), the whole page with working anchors without it, and
the question editor's one "Add a question" button. Screenshots land in
screenshots/survey-form-sections-*.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.platform import db
from tests.browser.conftest import screenshot, show_form_part
from tests.browser.test_admin import EMAIL, _assert_no_violations, _log_in
from tests.conftest import seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

PARTS = [
    "Basics",
    "Widget texts",
    "Follow-up questions",
    "After the answer",
    "Where and when",
    "E-mail invitations",
    "Inbox and alerts",
    "Look",
]


def _shown(page: Any) -> list[str]:
    return [
        section.get_attribute("id")
        for section in page.locator("[data-section]").all()
        if section.is_visible()
    ]


def _saved(engine: Engine, survey_id: int) -> tuple[str, str]:
    with db.read(engine) as conn:
        row = conn.execute(
            text("SELECT name, allowed_origins FROM survey WHERE id = :id"), {"id": survey_id}
        ).one()
    return str(row[0]), str(row[1])


def test_one_part_at_a_time_keeps_what_was_typed_and_saves_it_all(
    live_server: Any, page: Any, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    nav = page.locator("#form-sections")
    assert nav.get_by_role("link").all_inner_texts() == PARTS
    assert _shown(page) == ["section-basics"]
    assert nav.get_by_role("link", name="Basics").get_attribute("aria-current") == "true"
    # One part is a page of its own height, not the whole form's.
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, height
    _assert_no_violations(page, "sectioned survey form")
    screenshot(page, "survey-form-sections-basics")

    page.get_by_label("Name").fill("Checkout, renamed")
    show_form_part(page, "Where and when")
    assert _shown(page) == ["section-rules"]
    assert page.url.endswith("#section-rules")
    assert page.evaluate("document.activeElement.id") == "section-rules"
    page.get_by_label("Allowed origins").fill("https://shop.example")
    show_form_part(page, "Basics")
    assert page.get_by_label("Name").input_value() == "Checkout, renamed"
    show_form_part(page, "Where and when")
    assert page.get_by_label("Allowed origins").input_value() == "https://shop.example"
    _assert_no_violations(page, "survey form, rules part")
    screenshot(page, "survey-form-sections-rules")

    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    name, origins = _saved(engine, shop.survey_id)
    assert name == "Checkout, renamed" and "https://shop.example" in origins

    # The question editor has one "Add a question" button, and it works.
    show_form_part(page, "Follow-up questions")
    add = page.locator("[data-add-question]")
    assert add.count() == 1
    slots = page.locator("[data-question-slot]")
    before = sum(1 for slot in slots.all() if slot.is_visible())
    add.click()
    assert sum(1 for slot in slots.all() if slot.is_visible()) == before + 1
    # A link to a place inside a part (the rewards page's) opens that part.
    page.goto(f"{base}/admin/surveys/{shop.survey_id}#rewards")
    assert _shown(page) == ["section-after"]


def test_errors_open_their_part_and_the_links_say_which_parts_have_them(
    live_server: Any, page: Any, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    page.get_by_label("Name").fill("")
    show_form_part(page, "Where and when")
    page.get_by_label("Allowed origins").fill("localhost:8090")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "form-errors"
    # The first error's part is open; each part with errors says so.
    assert _shown(page) == ["section-basics"]
    nav = page.locator("#form-sections")
    marked = [link for link in nav.get_by_role("link").all_inner_texts() if "has errors" in link]
    assert marked == ["Basics (has errors)", "Where and when (has errors)"]
    _assert_no_violations(page, "sectioned form with errors")
    screenshot(page, "survey-form-sections-errors")
    page.get_by_role("link", name=re.compile("^Allowed origins:")).click()
    assert _shown(page) == ["section-rules"]
    assert page.evaluate("document.activeElement.id") == "origins"
    # Nothing was saved while the form had errors.
    assert _saved(engine, shop.survey_id)[0] == "Survey"


def test_without_javascript_the_links_lead_down_the_whole_form(
    live_server: Any, page: Any, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    page.route(re.compile(r"/static/admin\.js"), lambda route: route.abort())
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/{shop.survey_id}")
    assert len(_shown(page)) == len(PARTS)
    assert page.locator("[data-add-question]").count() == 1
    page.locator("#form-sections").get_by_role("link", name="E-mail invitations").click()
    page.wait_for_url(re.compile(r"#section-email$"))
    top = page.locator("#section-email").evaluate("part => part.getBoundingClientRect().top")
    assert -2 < top < 100  # scrolled to the part
    _assert_no_violations(page, "survey form without JavaScript")
    page.get_by_label("Allowed origins").fill("https://shop.example")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert "https://shop.example" in _saved(engine, shop.survey_id)[1]
