# ruff: noqa: RUF001  (the page writes score ranges with en dashes)
"""The new-survey form through the ASGI client, where a new owner got stuck:
the kind chosen first with its own defaults, long texts kept and measured
instead of cut, and errors that name their field and suggest the fix."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.editor import form as survey_form
from app.platform import db
from tests.admin_helpers import login, post_form, text_of
from tests.conftest import seed

EMAIL = "owner@shop.example"
NEW = "/admin/surveys/new"


def _form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Checkout",
        "kind": "csat",
        "language": "auto",
        "review_audience": "all",
        "recontact_days": "90",
        "sample_percent": "100",
        "delay_seconds": "0",
        "color": "#1f5fbf",
        "position": "bottom-right",
    }
    form.update(changes)
    return form


def _survey_count(engine: Engine) -> int:
    with db.read(engine) as conn:
        return int(conn.execute(text("SELECT count(*) FROM survey")).scalar_one())


def _attributes(page: str, element_id: str) -> str:
    match = re.search(rf'<(?:input|textarea|select)[^>]*\sid="{element_id}"[^>]*>', page)
    assert match, f"no field #{element_id}"
    return match.group(0)


@pytest.fixture
def owner(client: TestClient, engine: Engine) -> TestClient:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    return client


# -- the kind first --------------------------------------------------------


def test_a_new_survey_starts_with_its_kind(owner: TestClient) -> None:
    for address in (NEW, f"{NEW}?kind=stars"):
        step = html.unescape(owner.get(address).text)
        assert "Which kind of survey?" in step
        assert "<form" not in step.split("<main", 1)[1].replace('class="logout"', "")
        links = re.findall(r'<a href="/admin/surveys/new\?kind=(\w+)"', step)
        assert links == ["nps", "csat", "ces"]
        assert "Asks how satisfied visitors are, from 1 to 5." in step
        assert "Default question: “How easy was it to get what you needed?”" in step


def test_the_csat_form_shows_csat_defaults_and_ranges(owner: TestClient) -> None:
    page = html.unescape(owner.get(f"{NEW}?kind=csat").text)
    question = _attributes(page, "en_question")
    assert 'placeholder="How satisfied are you with your experience?"' in question
    assert 'placeholder="Very dissatisfied"' in _attributes(page, "en_low_label")
    assert 'placeholder="Very satisfied"' in _attributes(page, "en_high_label")
    assert 'placeholder="Wie zufrieden sind Sie mit Ihrem Erlebnis?"' in _attributes(
        page, "de_question"
    )
    assert "recommend" not in re.sub(r'data-(placeholder|text)-\w+="[^"]*"', "", page)
    assert text_of(page, "en_follow_0-label") == "Follow-up: Negative, 1–2"
    assert text_of(page, "en_follow_1-label") == "Follow-up: Neutral, 3"
    assert text_of(page, "en_follow_2-label") == "Follow-up: Positive, 4–5"
    # Without JavaScript the kind is fixed on this form, with a way back.
    assert '<input type="hidden" name="kind" value="csat"' in page
    assert 'href="/admin/surveys/new">Choose another kind</a>' in page
    # Every kind's texts are there for the page to follow a change of kind.
    assert 'data-placeholder-ces="How easy was it to get what you needed?"' in question
    assert 'data-text-nps="Follow-up: Detractors, 0–6"' in page


def test_a_survey_created_from_the_csat_form_is_csat(owner: TestClient, engine: Engine) -> None:
    created = post_form(owner, f"{NEW}?kind=csat", NEW, _form())
    assert created.status_code == 303
    page = owner.get(created.headers["location"]).text
    key = re.search(r'data-survey="([^"]+)"', html.unescape(text_of(page, "snippet")))
    assert key
    config = owner.get(f"/api/v1/widget/{key.group(1)}?lang=en").json()
    assert config["survey"]["question"] == "How satisfied are you with your experience?"
    assert _survey_count(engine) == 2


# -- long texts ------------------------------------------------------------


def test_a_too_long_question_is_kept_and_the_message_says_by_how_much(
    owner: TestClient, engine: Engine
) -> None:
    question = ("Would you tell us, in as many words as you like, " * 15)[:728] + "?"
    assert len(question) == 729
    answer = post_form(owner, f"{NEW}?kind=csat", NEW, _form(en_question=question))
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    assert "Question (English): This has 729 characters; please use at most 300." in page
    assert text_of(page, "en_question-error") == (
        "This has 729 characters; please use at most 300."
    )
    # All of it is still there to shorten, and nothing cuts it in the browser.
    field = re.search(r'<textarea[^>]*id="en_question"[^>]*>([^<]*)</textarea>', page, re.S)
    assert field and field.group(1) == question
    assert "maxlength" not in page
    assert text_of(page, "en_question-count") == "At most 300 characters."
    assert _survey_count(engine) == 1


def test_a_long_name_is_named_with_its_limit(owner: TestClient) -> None:
    answer = post_form(owner, f"{NEW}?kind=nps", NEW, _form(kind="nps", name="n" * 250))
    assert "Name: This has 250 characters; please use at most 200." in html.unescape(answer.text)


def test_a_long_question_is_saved_with_a_warning(owner: TestClient, engine: Engine) -> None:
    question = (
        "Thinking about everything from finding the product you wanted to paying for it "
        "and getting your confirmation email, how satisfied are you with your visit today?"
    )
    assert len(question) > survey_form.LONG_QUESTION
    created = post_form(owner, f"{NEW}?kind=csat", NEW, _form(en_question=question))
    assert created.status_code == 303  # a warning, not an error
    page = html.unescape(owner.get(created.headers["location"]).text)
    lines = survey_form.phone_lines(question)
    assert lines >= 5
    assert text_of(page, "en_question-long") == (
        f"On a phone (375 px wide) this question takes {lines} lines; "
        "shorter questions get more answers."
    )
    assert 'id="en_question-preview" aria-hidden="true">' in page
    assert "en_question-long" in _attributes(page, "en_question")
    # The short German default asks for nothing.
    assert text_of(page, "de_question-long") == ""
    assert 'id="de_question-preview" aria-hidden="true" hidden>' in page


def test_phone_lines_wraps_words_and_splits_long_ones() -> None:
    assert survey_form.phone_lines("") == 1
    assert survey_form.phone_lines("How satisfied are you with your") == 2  # 31 characters
    assert survey_form.phone_lines("x" * 61) == 3


# -- errors that say where and what to do ----------------------------------


def test_the_summary_comes_first_and_links_to_described_fields(owner: TestClient) -> None:
    answer = post_form(
        owner,
        f"{NEW}?kind=ces",
        NEW,
        _form(kind="ces", name="", de_follow_2="x" * 301, review_audience="x", color="red"),
    )
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    after_heading = page.split("</h1>", 1)[1].split("</div>", 1)[1].lstrip()
    assert after_heading.startswith(
        '<div class="error-box" id="form-errors" tabindex="-1" role="group" '
        'aria-labelledby="form-errors-title">'
    )
    summary = page.split('id="form-errors"', 1)[1].split("</div>", 1)[0]
    links = re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', summary)
    assert [label for _, label in links] == [
        "Name: Please fill this in.",
        "Follow-up: Low effort, 5–7 (German): This has 301 characters; please use at most 300.",
        "Who is offered the review link: Please choose one of the options.",
        "Colour: Please choose a colour like #1f5fbf.",
    ]
    for name, _label in links:
        field = _attributes(page, name)
        assert 'aria-invalid="true"' in field, name
        described = re.search(r'aria-describedby="([^"]+)"', field)
        assert described and f"{name}-error" in described.group(1).split(), name
        assert f'id="{name}-error"' in page, name


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "localhost:8090",
            "“localhost:8090” lacks http:// or https://. Did you mean http://localhost:8090?",
        ),
        (
            "127.0.0.1:5173",
            "“127.0.0.1:5173” lacks http:// or https://. Did you mean http://127.0.0.1:5173?",
        ),
        (
            "Shop.example",
            "“Shop.example” lacks http:// or https://. Did you mean https://shop.example?",
        ),
        (
            "shop.example/checkout",
            "“shop.example/checkout” lacks http:// or https://. Did you mean https://shop.example?",
        ),
        (
            "https://shop.example:8443/checkout?step=2",
            "“https://shop.example:8443/checkout?step=2” is a page address; an origin has no "
            "path. Did you mean https://shop.example:8443?",
        ),
        ("ftp://files.example", "Not an origin like https://shop.example: ftp://files.example"),
        ("shop", "Not an origin like https://shop.example: shop"),
        ("https://shop example", "Not an origin like https://shop.example: https://shop example"),
    ],
)
def test_origin_errors_suggest_the_fix(owner: TestClient, line: str, message: str) -> None:
    answer = post_form(owner, f"{NEW}?kind=nps", NEW, _form(kind="nps", origins=line))
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    assert text_of(page, "origins-error") == message
    assert f"Allowed origins: {message}</a>" in page


def test_origins_with_a_trailing_slash_are_fine(owner: TestClient, engine: Engine) -> None:
    origins = "https://Shop.example/\nhttp://localhost:8090/"
    created = post_form(owner, f"{NEW}?kind=nps", NEW, _form(kind="nps", origins=origins))
    assert created.status_code == 303
    page = owner.get(created.headers["location"]).text
    assert "https://shop.example\nhttp://localhost:8090</textarea>" in page


def test_german_errors_name_the_field_and_say_herkunft(owner: TestClient) -> None:
    german = {"Accept-Language": "de-DE"}
    owner.headers.update(german)
    answer = post_form(
        owner, f"{NEW}?kind=nps", NEW, _form(kind="nps", origins="localhost:8090", name="")
    )
    page = html.unescape(answer.text)
    assert "Bitte korrigieren Sie 2 Felder." in page
    assert "Name: Bitte füllen Sie dieses Feld aus." in page
    assert (
        "Erlaubte Herkünfte: Bei „localhost:8090“ fehlt http:// oder https://. "
        "Meinten Sie http://localhost:8090?"
    ) in page
    assert "Origin" not in page
