"""What the admin pages say: the budget in surveys by channel on the tariff
page, a used-up budget as surveys paused until the next period, follow-up
answers in the admin's language, and each survey's id."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.editor import form as survey_form
from app.invitations import record_in, records
from app.invitations.records import Source
from tests.admin_helpers import login, post_form, text_of
from tests.conftest import seed, set_budget
from tests.test_follow_up_questions import QUESTIONS
from tests.test_inbox import EMAIL, T0, UTC_ZONE

ACCOUNT = "/admin/account"


def answer(client: TestClient, embed_key: str, score: int, given: dict[str, Any]) -> int:
    token = client.get(f"/api/v1/widget/{embed_key}").json()["display_token"]
    body = {"display_token": token, "score": score, "comment": "Late", "answers": given}
    sent = client.post("/api/v1/responses", json=body)
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


def speak(client: TestClient, language: str) -> None:
    """The admin's language, set on the account page as an admin sets it."""
    saved = post_form(client, ACCOUNT, "/admin/account/language", {"language": language})
    assert saved.status_code == 303


def test_the_tariff_page_counts_surveys_by_channel(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": "ann@example.com"}, T0)
    assert records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), T0, UTC_ZONE)
    login(client, EMAIL)
    page = client.get("/admin/tariff").text
    assert text_of(page, "budget-used").startswith("1 of 50 surveys used:")
    assert text_of(page, "use-email") == "1 e-mail"
    assert text_of(page, "use-widget") == "0 widget answers"
    assert text_of(page, "use-link") == "0 link answers"
    assert "counted answers" not in page
    speak(client, "de")
    page = client.get("/admin/tariff").text
    assert text_of(page, "budget-used").startswith("1 von 50 Umfragen verbraucht:")
    assert text_of(page, "use-email") == "1 E-Mail"


def test_a_used_up_budget_pauses_the_surveys_until_the_first(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    set_budget(engine, "free", 1)
    login(client, EMAIL)
    survey_page = f"/admin/surveys/{shop.survey_id}"
    assert text_of(client.get("/admin/surveys").text, f"state-{shop.survey_id}") == "Active"
    assert 'id="paused"' not in client.get(survey_page).text

    answer(client, shop.embed_key, 9, {})  # the month's one survey (May 2026)
    listed = client.get("/admin/surveys").text
    assert text_of(listed, f"state-{shop.survey_id}") == "Paused until 1 June 2026"
    assert text_of(listed, "paused").startswith(
        "This month's budget is used up: the surveys ask nobody until 1 June 2026"
    )
    assert text_of(client.get(survey_page).text, "paused").startswith(
        "This month's budget is used up: the surveys ask nobody until 1 June 2026"
    )
    speak(client, "de")
    listed = client.get("/admin/surveys").text
    assert text_of(listed, f"state-{shop.survey_id}") == "Pausiert bis 1. Juni 2026"
    # The widget says the same: it asks nobody.
    assert client.get(f"/api/v1/widget/{shop.embed_key}").json()["show"] is False
    # A larger budget lets them ask again at once.
    set_budget(engine, "free", 2)
    assert text_of(client.get("/admin/surveys").text, f"state-{shop.survey_id}") == "Aktiv"


def test_follow_up_answers_in_the_admins_language(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL, questions=QUESTIONS)
    item = answer(
        client, shop.embed_key, 2, {"qwhy": ["odel"], "qagain": "ono", "qwhich": ["oapp"]}
    )
    login(client, EMAIL)
    results = f"/admin/surveys/{shop.survey_id}/results?period=2026-05"
    english = html.unescape(client.get(results).text)
    assert "<dt>What went wrong?</dt><dd>Delivery</dd>" in english
    speak(client, "de")
    german = html.unescape(client.get(results).text)
    panel = german.split('id="follow-ups-heading"', 1)[1].split("</section>", 1)[0]
    assert 'Was lief schief? <span class="sub">' in panel
    assert "<td>Lieferung</td><td>1</td>" in panel and "<td>Nein</td><td>1</td>" in panel
    comments = german.split('id="comments-heading"', 1)[1]
    assert "<dt>Was lief schief?</dt><dd>Lieferung</dd>" in comments
    assert "<dt>Bestellen Sie wieder?</dt><dd>Nein</dd>" in comments
    # A question the survey has only in English stays English.
    assert "<dt>Which did you use?</dt><dd>App</dd>" in comments
    assert "What went wrong?" not in german and "Delivery" not in german

    inbox_item = html.unescape(client.get(f"/admin/inbox/{item}").text)
    assert "Was lief schief?" in inbox_item and "Lieferung" in inbox_item
    assert "What went wrong?" not in inbox_item and "Delivery" not in inbox_item


def test_the_survey_page_shows_the_surveys_id(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    page = client.get(f"/admin/surveys/{shop.survey_id}").text
    assert text_of(page, "survey-id") == str(shop.survey_id)
    assert "survey_id" in page


def test_the_survey_form_has_parts_with_links_and_one_add_question_button(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    for path in (f"/admin/surveys/{shop.survey_id}", "/admin/surveys/new?kind=nps"):
        page = client.get(path).text
        nav = page.split('id="form-sections"', 1)[1].split("</nav>", 1)[0]
        targets = re.findall(r'<a href="#(section-[a-z]+)">', nav)
        assert targets == [f"section-{part}" for part in survey_form.PARTS], path
        form = page.split('class="survey-form"', 1)[1].split("</form>", 1)[0]
        for target in targets:
            assert f'id="{target}"' in form  # every part inside the one form
        assert page.count("data-add-question") == 1
        # The question editor's button sits among the questions, not in the e-mail part.
        questions = form.split('id="section-questions"', 1)[1].split('id="section-after"', 1)[0]
        assert "data-add-question" in questions


def test_saving_comes_back_to_the_part_it_was_sent_from(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    path = f"/admin/surveys/{shop.survey_id}"
    fields = {
        "name": "Checkout",
        "language": "auto",
        "review_audience": "all",
        "recontact_days": "90",
        "sample_percent": "100",
        "delay_seconds": "0",
        "color": "#1f5fbf",
        "position": "bottom-right",
    }
    for part, location in (("rules", f"{path}#section-rules"), ("", path), ("evil", path)):
        saved = post_form(client, path, path, {**fields, "part": part})
        assert saved.status_code == 303 and saved.headers["location"] == location, part
    created = post_form(
        client,
        "/admin/surveys/new?kind=nps",
        "/admin/surveys/new",
        {**fields, "kind": "nps", "part": "look"},
    )
    assert created.status_code == 303 and created.headers["location"].endswith("#section-look")
