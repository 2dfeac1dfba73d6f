# ruff: noqa: RUF001  (the page writes score ranges with en dashes)
"""The new-survey form in chromium, with and without JavaScript: the kind's
own defaults, live counters and the long-question warning, and the error
summary that takes the focus after a failed submit. Screenshots land in
screenshots/survey-form-*.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from app.platform import i18n
from tests.browser.conftest import screenshot, show_form_part
from tests.browser.test_admin import EMAIL, _assert_no_violations, _log_in
from tests.conftest import seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

CSAT_QUESTION = "How satisfied are you with your experience?"
CES_QUESTION = "How easy was it to get what you needed?"


def _watch_csp(page: Any) -> list[str]:
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return blocked


def test_choosing_csat_shows_csat_defaults_and_the_kind_switches_live(
    live_server: Any, page: Any, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    base = live_server()
    blocked = _watch_csp(page)
    page.set_viewport_size({"width": 1000, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys")
    page.get_by_role("link", name="New survey").click()
    assert page.get_by_role("heading", name="Which kind of survey?").is_visible()
    _assert_no_violations(page, "choice of kind")
    screenshot(page, "survey-form-kind-step")

    page.get_by_role("link", name="CSAT (1–5)").click()
    page.wait_for_url(f"{base}/admin/surveys/new?kind=csat")
    question = page.locator("#en_question")
    assert question.get_attribute("placeholder") == CSAT_QUESTION
    assert page.locator("#en_low_label").get_attribute("placeholder") == "Very dissatisfied"
    assert page.locator("#en_follow_0-label").inner_text() == "Follow-up: Negative, 1–2"
    assert page.locator("#en_question-count").inner_text() == "0 / 300"

    # With JavaScript the kind can still change here, and the texts follow.
    kind = page.get_by_label("Kind")
    assert kind.input_value() == "csat"
    kind.select_option("ces")
    assert question.get_attribute("placeholder") == CES_QUESTION
    assert page.locator("#de_question").get_attribute("placeholder") == i18n.translate(
        "de", "survey.ces.question"
    )
    assert page.locator("#en_high_label").get_attribute("placeholder") == "Very easy"
    assert page.locator("#en_follow_2-label").inner_text() == "Follow-up: Low effort, 5–7"
    _assert_no_violations(page, "form switched to CES")
    screenshot(page, "survey-form-switched-to-ces")

    page.get_by_label("Name").fill("Help centre")
    page.get_by_role("button", name="Create survey").click()
    page.wait_for_url(f"{base}/admin/surveys/*")
    assert "CES (1–7)" in page.locator("main").inner_text()
    assert blocked == []


def test_without_javascript_the_chosen_kind_is_fixed_on_the_form(
    live_server: Any, page: Any, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    base = live_server()
    # The admin's script never arrives, as with JavaScript off; axe still runs.
    page.route(re.compile(r"/static/admin\.js"), lambda route: route.abort())
    page.set_viewport_size({"width": 1000, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/new")
    page.get_by_role("link", name="CSAT (1–5)").click()
    assert page.locator("#en_question").get_attribute("placeholder") == CSAT_QUESTION
    assert not page.locator("#kind").is_visible()
    fixed = page.locator("p[data-kind-static]")
    assert fixed.inner_text() == "CSAT (1–5) · Choose another kind"
    assert page.locator("#en_question-count").inner_text() == "At most 300 characters."
    _assert_no_violations(page, "form without JavaScript")
    screenshot(page, "survey-form-csat-no-js")
    page.get_by_label("Name").fill("After purchase")
    page.get_by_role("button", name="Create survey").click()
    page.wait_for_url(f"{base}/admin/surveys/*")
    assert "CSAT (1–5)" in page.locator("main").inner_text()


def test_a_long_question_is_counted_warned_about_and_kept(
    live_server: Any, page: Any, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    base = live_server()
    blocked = _watch_csp(page)
    page.set_viewport_size({"width": 1000, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/new?kind=nps")
    page.get_by_label("Name").fill("Homepage")
    show_form_part(page, "Widget texts")
    question = page.locator("#en_question")

    medium = (
        "Thinking about everything from finding the product you wanted to paying for it, "
        "how likely are you to recommend our shop to a friend or a colleague?"
    )
    assert len(medium) > 140
    question.fill(medium)
    assert page.locator("#en_question-count").inner_text() == f"{len(medium)} / 300"
    warning = page.locator("#en_question-long")
    assert warning.inner_text().startswith("On a phone (375 px wide) this question takes ")
    assert page.locator("#en_question-preview").is_visible()
    # The number of lines is the preview's, as a 375 px phone wraps it.
    preview = page.locator("#en_question-preview .phone-question")
    lines = round(
        preview.evaluate(
            "q => q.getBoundingClientRect().height / parseFloat(getComputedStyle(q).lineHeight)"
        )
    )
    assert lines >= 5
    assert f"takes {lines} lines;" in warning.inner_text()
    assert page.locator("#en_question-status").inner_text() == ""  # announced after a pause
    # Playwright's expect polls the element itself: the strict CSP forbids eval.
    expect(page.locator("#en_question-status")).to_have_text(
        f"{len(medium)} of 300 characters", timeout=3000
    )
    _assert_no_violations(page, "form with a long question")
    screenshot(page, "survey-form-long-question-warning")

    long = ("Would you tell us, in as many words as you like, " * 15)[:728] + "?"
    question.fill(long)
    counter = page.locator("#en_question-count")
    assert counter.inner_text() == "729 / 300: 429 too many"
    assert "over" in (counter.get_attribute("class") or "")
    assert question.input_value() == long  # nothing cuts it while typing

    page.get_by_role("button", name="Create survey").click()
    page.wait_for_load_state()
    # The summary has the focus and names the field and the limit.
    summary = page.locator("#form-errors")
    assert page.evaluate("document.activeElement.id") == "form-errors"
    assert summary.get_by_role("link").all_inner_texts() == [
        "Question (English): This has 729 characters; please use at most 300."
    ]
    assert question.input_value() == long
    assert question.get_attribute("aria-invalid") == "true"
    _assert_no_violations(page, "form with a too long question")
    screenshot(page, "survey-form-too-long")

    # Its link takes the focus to the field.
    summary.get_by_role("link").click()
    assert page.evaluate("document.activeElement.id") == "en_question"
    assert blocked == []


def test_the_error_summary_takes_the_focus_after_a_failed_submit(
    live_server: Any, page: Any, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    base = live_server()
    page.set_viewport_size({"width": 1000, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/admin/surveys/new?kind=nps")
    show_form_part(page, "Where and when")
    page.get_by_label("Allowed origins").fill("localhost:8090")
    page.get_by_role("button", name="Create survey").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "form-errors"
    assert page.locator("#form-errors").get_by_role("link").all_inner_texts() == [
        "Name: Please fill this in.",
        "Allowed origins: “localhost:8090” lacks http:// or https://. "
        "Did you mean http://localhost:8090?",
    ]
    name = page.get_by_label("Name")
    assert name.get_attribute("aria-invalid") == "true"
    assert name.evaluate("field => field.getAttribute('aria-describedby')") == "name-error"
    _assert_no_violations(page, "summary with focus")
    screenshot(page, "survey-form-error-summary")
    page.get_by_role("link", name="Allowed origins: “localhost:8090”", exact=False).click()
    assert page.evaluate("document.activeElement.id") == "origins"
