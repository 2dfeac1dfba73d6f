"""A follow-up the server refuses, on the e-mail and link pages in chromium:
the visitor's text and choices stay, one line says what went wrong, and
they can send again; a 409 (given before, from another tab) is a quiet
success. Without JavaScript the server's page keeps the text too."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text, update

from app.platform import db
from app.platform.models import survey_table
from tests.browser.conftest import run_axe, screenshot
from tests.browser.test_invitations import PHONE, _invite, _watch
from tests.conftest import Seeded, seed
from tests.test_follow_up_questions import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.server]

FOLLOW_UP = "We are sorry to hear that. What should we improve?"
WRITTEN = "Late, and the lid was broken."


def _cap_tags(engine: Engine, survey_id: int, picks: int) -> None:
    """The owner lowers the tags cap of "What went wrong?" meanwhile."""
    changed = copy.deepcopy(QUESTIONS)
    changed[0]["max_picks"] = picks
    with db.write(engine) as conn:
        conn.execute(
            update(survey_table).where(survey_table.c.id == survey_id).values(questions=changed)
        )


def _switch_off(engine: Engine, survey_id: int) -> None:
    with db.write(engine) as conn:
        conn.execute(text("UPDATE survey SET active = false WHERE id = :i"), {"i": survey_id})


def _stored(engine: Engine) -> tuple[Any, dict[str, str]]:
    with db.read(engine) as conn:
        comment = conn.execute(text("SELECT comment FROM response")).scalar_one()
        given = dict(conn.execute(text("SELECT question_id, value FROM answer")).all())  # type: ignore[arg-type]
    return comment, given


def _answered(page: Any, base: str, key: str, javascript: bool) -> None:
    """A detractor's score 3 from the e-mail, then the follow-up filled in."""
    page.goto(f"{base}/s/{key}?score=3")
    if not javascript:
        page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/thanks?t=*")
    page.get_by_label(FOLLOW_UP).fill(WRITTEN)
    page.get_by_label("Delivery").check()
    page.get_by_label("Price").check()


def _kept(page: Any) -> None:
    assert page.get_by_label(FOLLOW_UP).input_value() == WRITTEN
    assert page.get_by_label("Delivery").is_checked()
    assert page.get_by_label("Price").is_checked()


def _email(engine: Engine) -> tuple[Seeded, str]:
    shop = seed(engine, questions=QUESTIONS)
    return shop, _invite(engine, shop, "ann@example.com")[1]


def test_a_refused_follow_up_keeps_the_text_says_why_and_sends_again(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop, key = _email(engine)
    base = live_server()
    page.set_viewport_size(PHONE)
    _answered(page, base, key, javascript=True)
    thanks = page.url

    _cap_tags(engine, shop.survey_id, 1)
    page.get_by_role("button", name="Send").click()

    error = page.locator("#comment-error")
    error.wait_for()
    assert "What went wrong?" in error.inner_text()
    assert page.url == thanks
    _kept(page)
    assert _stored(engine) == (None, {})
    assert run_axe(page) == []
    screenshot(page, "follow-up-refused-375")

    page.get_by_label("Price").uncheck()
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Thank you, your answers were added.").wait_for()
    assert _stored(engine) == (WRITTEN, {"qwhy": '["odel"]'})


def test_a_follow_up_to_a_survey_switched_off_keeps_the_text(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop = seed(engine, questions=QUESTIONS)
    base = live_server()
    _answered(page, base, shop.link_key, javascript=True)

    _switch_off(engine, shop.survey_id)
    page.wait_for_timeout(1500)  # the link survey reads its survey through a one-second cache
    page.get_by_role("button", name="Send").click()

    error = page.locator("#comment-error")
    error.wait_for()
    assert error.inner_text() == "It no longer collects responses. Thank you for stopping by."
    _kept(page)
    assert page.get_by_role("button", name="Send").is_enabled()
    assert _stored(engine) == (None, {})


def test_a_follow_up_given_before_in_another_tab_is_a_quiet_success(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    _, key = _email(engine)
    base = live_server()
    _answered(page, base, key, javascript=True)
    other = page.context.new_page()
    problems = _watch(other)
    other.goto(page.url)
    other.get_by_label(FOLLOW_UP).fill("Sent from the other tab first.")
    other.get_by_role("button", name="Send").click()
    other.get_by_text("Thank you, your answers were added.").wait_for()
    assert problems == []

    page.get_by_role("button", name="Send").click()  # answered meanwhile: a 409

    page.get_by_text("Thank you, your answers were added.").wait_for()
    assert page.locator("#comment-error").count() == 0
    assert _stored(engine) == ("Sent from the other tab first.", {})


@pytest.mark.parametrize("channel", ["email", "link"])
def test_without_javascript_the_refused_form_comes_back_with_the_text(
    live_server: Callable[..., str], engine: Engine, browser: Any, channel: str
) -> None:
    shop, key = _email(engine)
    if channel == "link":
        key = shop.link_key
    base = live_server()
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        _answered(page, base, key, javascript=False)
        assert _stored(engine) == (None, {})
        # The link survey reads its survey through a cache of one second.
        _cap_tags(engine, shop.survey_id, 1)
        if channel == "link":
            page.wait_for_timeout(1500)
        page.get_by_role("button", name="Send").click()
        assert "What went wrong?" in page.locator("#comment-error").inner_text()
        _kept(page)

        _switch_off(engine, shop.survey_id)
        if channel == "link":
            page.wait_for_timeout(1500)
        page.get_by_role("button", name="Send").click()
        assert page.locator("#comment-error").inner_text() == (
            "It no longer collects responses. Thank you for stopping by."
        )
        _kept(page)
    finally:
        context.close()
    assert _stored(engine) == (None, {})
