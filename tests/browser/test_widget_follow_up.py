"""The widget's follow-up questions in a real browser, on a page of another
origin under a strict CSP: answered by keyboard alone, checked by axe, and
the thank-you step with a segment's thanks, a reward code and a review link;
a follow-up the server refuses, or that never reaches it, stays on the card
to be sent again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app.answers import follow_ups as answers
from app.platform import db
from tests.browser.conftest import SCREENSHOTS, run_axe, screenshot
from tests.browser.test_widget import shop, snippet, strict_csp, watch  # noqa: F401
from tests.conftest import seed
from tests.test_follow_up_questions import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.server]

WIDGET = "nps-beacon"
SHOTS = Path("/work/shots")


def focused(page: Any) -> dict[str, Any] | None:
    """The focused control inside the widget's shadow root: its kind and name."""
    found: dict[str, Any] | None = page.evaluate(
        """() => {
          const host = document.activeElement;
          const el = host && host.shadowRoot && host.shadowRoot.activeElement;
          if (!el) return null;
          const label = el.closest('label');
          return {tag: el.tagName.toLowerCase(), type: el.type || null, value: el.value,
                  label: label ? label.innerText.trim() : null, checked: !!el.checked};
        }"""
    )
    return found


def keep_shot(page: Any, name: str) -> None:
    path = screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def stored_answers(engine: Engine) -> dict[str, str]:
    with db.read(engine) as conn:
        rows = conn.execute(text("SELECT question_id, value FROM answer")).all()
    return {row[0]: row[1] for row in rows}


def test_detractor_answers_by_keyboard_alone(
    page: Any,
    engine: Engine,
    live_server: Any,
    shop: Any,  # noqa: F811
) -> None:
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin], questions=QUESTIONS)
    shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)
    page.emulate_media(reduced_motion="reduce")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()

    for _ in range(15):
        page.keyboard.press("Tab")
        if (focused(page) or {}).get("type") == "radio":
            break
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")  # 3: a detractor
    comment = page.locator("nps-beacon textarea[name=comment]")
    comment.wait_for()
    assert focused(page) == {
        "tag": "textarea",
        "type": "textarea",
        "value": "",
        "label": None,
        "checked": False,
    }
    # Only the questions for detractors: the promoters' one is left out.
    legends = page.locator("nps-beacon form fieldset legend").all_inner_texts()
    assert legends == ["What went wrong? (max. 2)", "Will you order again?", "Which did you use?"]
    assert page.locator("nps-beacon form").get_by_text("What do you love?").count() == 0
    assert run_axe(page, WIDGET) == []
    tags = page.get_by_role("group", name="What went wrong? (max. 2)")
    assert tags.get_by_role("checkbox").count() == 3
    assert page.get_by_role("radio", name="No").count() == 1
    assert page.get_by_role("textbox", name="Anything else?").count() == 1

    page.keyboard.type("Late parcel")
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "Delivery"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "Price"
    page.keyboard.press("Space")
    # Two of two picked: the third tag waits, disabled, and Tab passes it by.
    assert tags.get_by_role("checkbox", name="Support").is_disabled()
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "Yes"
    page.keyboard.press("ArrowDown")  # arrows move through a choice and pick
    assert focused(page) == {
        "tag": "input",
        "type": "radio",
        "value": "ono",
        "label": "No",
        "checked": True,
    }
    keep_shot(page, "widget-follow-up-desktop")
    assert run_axe(page, WIDGET) == []
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "App"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused(page)["tag"] == "textarea"  # "Anything else?"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    status = page.locator("nps-beacon [role=status]")
    status.filter(has_text="Thank you for your honest feedback.").wait_for()
    # Without a thanks text, a reward or a review address there is nothing to follow.
    assert status.locator("a").count() == 0
    assert status.locator("b").count() == 0

    assert stored_answers(engine) == {"qwhy": '["odel","opri"]', "qagain": '"ono"'}
    with db.read(engine) as conn:
        comment_text = conn.execute(text("SELECT comment FROM response")).scalar_one()
        response_id = conn.execute(text("SELECT id FROM response")).scalar_one()
        readable = answers.answers_for(conn, [response_id])[response_id]
    assert comment_text == "Late parcel"
    assert [a.display for a in readable] == ["Delivery, Price", "No"]
    follow = json.loads(seen.posts[1])
    assert follow["answers"] == {"qwhy": ["odel", "opri"], "qagain": "ono"}
    assert seen.violations(page) == []
    assert seen.console_errors == []
    assert seen.page_errors == []


def test_thanks_reward_and_review_link_at_375_pixels(
    page: Any,
    engine: Engine,
    live_server: Any,
    shop: Any,  # noqa: F811
) -> None:
    """What the config and the answer may add: a thanks per segment, a
    coupon code and a review address, rendered in the last step."""
    server = live_server()
    survey = seed(engine, questions=QUESTIONS, language="de")
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server), lang="de")

    def add_thanks(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["survey"]["thanks"] = {"promoter": "Danke, Sie sind großartig!"}
        route.fulfill(response=response, json=body)

    def add_reward(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        if response.status == 201:
            body.update(reward="SAVE-10-XYZ", review_url="https://reviews.example/shop")
        route.fulfill(response=response, json=body)

    page.route("**/api/v1/widget/**", add_thanks)
    page.route("**/api/v1/responses", add_reward)
    page.emulate_media(reduced_motion="reduce")
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    page.locator("nps-beacon input[type=radio]").nth(9).check()
    page.locator("nps-beacon textarea[name=comment]").wait_for()
    assert page.locator("nps-beacon form fieldset legend").all_inner_texts() == [
        "Bestellen Sie wieder?",
        "Which did you use?",
    ]
    page.get_by_role("radio", name="Ja").check()
    page.get_by_role("textbox", name="What do you love?").fill("Schnell")
    keep_shot(page, "widget-follow-up-375")
    assert run_axe(page, WIDGET) == []
    page.locator("nps-beacon .send").click()
    status = page.locator("nps-beacon [role=status]")
    status.filter(has_text="Danke, Sie sind großartig!").wait_for()
    assert status.locator("b").inner_text() == "SAVE-10-XYZ"
    link = status.get_by_role("link", name="Bewertung schreiben")
    assert link.get_attribute("href") == "https://reviews.example/shop"
    assert link.get_attribute("target") == "_blank"
    keep_shot(page, "widget-thanks-reward-375")
    assert run_axe(page, WIDGET) == []
    assert stored_answers(engine) == {"qagain": '"oyes"', "qlove": '"Schnell"'}
    assert SCREENSHOTS.exists()


# -- a follow-up that does not go through ----------------------------------------


def stored_comments(engine: Engine) -> list[str | None]:
    with db.read(engine) as conn:
        return list(conn.execute(text("SELECT comment FROM response")).scalars())


def set_questions(engine: Engine, survey_id: int, questions: list[dict[str, Any]]) -> None:
    """What the owner saves in the question editor, written straight to the row."""
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE survey SET questions = :q WHERE id = :s"),
            {"q": json.dumps(questions), "s": survey_id},
        )


def card_state(page: Any) -> dict[str, Any]:
    """What the visitor sees of the follow-up form and the line below it."""
    found: dict[str, Any] = page.evaluate(
        """() => {
          const root = document.querySelector('nps-beacon').shadowRoot;
          const form = root.querySelector('form');
          return {
            comment: form && form.comment.value,
            picked: form ? [...form.querySelectorAll(':checked')].map((el) => el.value) : [],
            inert: !!(form && form.inert),
            status: root.querySelector('[role=status]').textContent,
          };
        }"""
    )
    return found


def test_a_refused_follow_up_keeps_the_visitors_words_to_send_again(
    page: Any,
    engine: Engine,
    live_server: Any,
    shop: Any,  # noqa: F811
) -> None:
    """The card was shown with two tags allowed; before the visitor sends,
    the owner allows one. The 422 leaves the comment and the picks on the
    card with one line saying what to do, and the second Send is kept."""
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin], questions=QUESTIONS)
    shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)
    page.emulate_media(reduced_motion="reduce")
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    # A click, not check(): the choice replaces the radios at once.
    page.locator("nps-beacon input[type=radio]").nth(3).click()  # 3: a detractor
    page.locator("nps-beacon textarea[name=comment]").fill("The parcel came a week late")
    page.get_by_role("checkbox", name="Delivery").check()
    page.get_by_role("checkbox", name="Price").check()
    one_tag = [dict(q, max_picks=1) if q["id"] == "qwhy" else q for q in QUESTIONS]
    set_questions(engine, survey.survey_id, one_tag)
    page.wait_for_timeout(1500)  # the server's copy of the survey lives a second

    with page.expect_response("**/api/v1/responses") as refused:
        page.get_by_role("button", name="Send").click()
    assert refused.value.status == 422
    status = page.locator("nps-beacon [role=status]")
    status.filter(has_text="Not sent. Please check your answers.").wait_for()
    assert card_state(page) == {
        "comment": "The parcel came a week late",
        "picked": ["odel", "opri"],
        "inert": False,
        "status": "Not sent. Please check your answers.",
    }
    assert (focused(page) or {}).get("tag") == "button"  # Send, beside the line
    assert stored_comments(engine) == [None]
    assert run_axe(page, WIDGET) == []
    keep_shot(page, "widget-follow-up-refused")

    page.get_by_role("checkbox", name="Price").uncheck()
    page.get_by_role("button", name="Send").click()
    status.filter(has_text="Thank you for your honest feedback.").wait_for()
    assert stored_comments(engine) == ["The parcel came a week late"]
    assert stored_answers(engine) == {"qwhy": '["odel"]'}
    assert len(seen.posts) == 3
    assert seen.page_errors == [] and seen.only_network_logs()


def test_a_follow_up_given_already_is_thanked_for(
    page: Any,
    engine: Engine,
    live_server: Any,
    shop: Any,  # noqa: F811
) -> None:
    """A 409 means the answer is kept already (another tab, a retry that got
    through): the card thanks without a word about it."""
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin])
    shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)
    page.emulate_media(reduced_motion="reduce")
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    # A click, not check(): the choice replaces the radios at once.
    page.locator("nps-beacon input[type=radio]").nth(9).click()
    page.locator("nps-beacon textarea[name=comment]").fill("Second thoughts")
    token = json.loads(seen.posts[0])["display_token"]
    first = httpx.post(
        f"{server}/api/v1/responses",
        json={"display_token": token, "comment": "First words"},
        headers={"Origin": origin},
    )
    assert first.status_code == 200, first.text

    with page.expect_response("**/api/v1/responses") as replay:
        page.get_by_role("button", name="Send").click()
    assert replay.value.status == 409
    page.locator("nps-beacon [role=status]").filter(has_text="Thank you").wait_for()
    assert page.locator("nps-beacon form").count() == 0
    assert stored_comments(engine) == ["First words"]


def test_a_follow_up_that_never_arrives_stays_to_be_sent_again_in_german(
    page: Any,
    engine: Engine,
    live_server: Any,
    shop: Any,  # noqa: F811
) -> None:
    """Offline, the widget tries five times with backoff (on a fake clock
    here), then keeps the form with one line in the survey's language."""
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin], questions=QUESTIONS, language="de")
    shop(snippet(server, survey.embed_key), csp=strict_csp(server), lang="de")
    seen = watch(page)
    page.emulate_media(reduced_motion="reduce")
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    # A click, not check(): the choice replaces the radios at once.
    page.locator("nps-beacon input[type=radio]").nth(2).click()
    page.locator("nps-beacon textarea[name=comment]").fill("Zu spät")
    page.get_by_role("radio", name="Nein").check()
    page.clock.install()
    page.context.set_offline(True)
    page.get_by_role("button", name="Senden").click()
    status = page.locator("nps-beacon [role=status]")
    wanted = "Nicht gesendet. Bitte versuchen Sie es erneut."
    for _ in range(40):  # each try's failure schedules the next wait
        if status.inner_text() == wanted:
            break
        page.clock.run_for(2000)
    assert card_state(page) == {
        "comment": "Zu spät",
        "picked": ["ono"],
        "inert": False,
        "status": wanted,
    }
    assert run_axe(page, WIDGET) == []

    page.context.set_offline(False)
    page.get_by_role("button", name="Senden").click()
    status.filter(has_text="Vielen Dank").wait_for()
    assert stored_comments(engine) == ["Zu spät"]
    assert stored_answers(engine) == {"qagain": '"ono"'}
    assert seen.page_errors == []
