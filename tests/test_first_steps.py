"""What a new owner meets in the first minutes, through the ASGI client: the
dashboard's checklist ticked from real data, the survey list's snippets and
answer counts."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.accounts import accounts
from app.cli import main as cli
from app.platform import db
from app.platform.settings import Settings
from app.platform.signing import Signer
from tests.admin_helpers import PASSWORD, login, post_form, text_of
from tests.conftest import SECRET, Clock, seed
from tests.test_admin_pages import _survey_form, add_survey, submit

EMAIL = "new@owner.example"


def new_account(engine: Engine, name: str = "Demo Shop") -> int:
    """An account with its admin and no survey yet, as `account create` leaves it."""
    with db.write(engine) as conn:
        account_id = accounts.create_account(conn, name, "free")
        accounts.create_admin(conn, account_id, EMAIL, PASSWORD)
    return account_id


def step_state(page: str, name: str) -> str:
    match = re.search(rf'<li id="step-{name}" class="(\w+)"', page)
    assert match, f"no step {name}"
    return match.group(1)


def test_checklist_ticks_each_step_from_real_data_then_goes(
    client: TestClient, engine: Engine
) -> None:
    new_account(engine)
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    assert text_of(page, "onboarding-heading") == "Get started"
    assert text_of(page, "onboarding-progress") == "0 of 3 steps done"
    assert [step_state(page, name) for name in ("survey", "snippet", "answer")] == [
        "todo",
        "todo",
        "todo",
    ]
    assert '<a href="/admin/surveys/new">New survey</a>' in page

    created = post_form(
        client,
        "/admin/surveys/new",
        "/admin/surveys/new",
        _survey_form(name="Homepage", kind="nps", origins=""),
    )
    assert created.status_code == 303
    survey_page = created.headers["location"]
    page = client.get("/admin/dashboard").text
    assert text_of(page, "onboarding-progress") == "1 of 3 steps done"
    assert step_state(page, "survey") == "done"
    assert step_state(page, "snippet") == "todo"
    # The next step links to the survey's page, where its snippet and link are.
    assert f'<a href="{survey_page}">Get the snippet and the link</a>' in page

    snippet = html.unescape(text_of(client.get(survey_page).text, "snippet"))
    embed_key = re.search(r'data-survey="([^"]+)"', snippet).group(1)  # type: ignore[union-attr]
    assert client.get(f"/api/v1/widget/{embed_key}").json()["show"] is True
    page = client.get("/admin/dashboard").text
    assert text_of(page, "onboarding-progress") == "2 of 3 steps done"
    assert step_state(page, "snippet") == "done"
    assert step_state(page, "answer") == "todo"

    assert submit(client, embed_key, 9) == 201
    page = client.get("/admin/dashboard").text
    assert 'id="onboarding"' not in page
    assert text_of(page, "remaining") == "49"


def test_checklist_in_german(client: TestClient, engine: Engine) -> None:
    new_account(engine)
    login(client, EMAIL)
    page = client.get("/admin/dashboard", headers={"Accept-Language": "de"}).text
    assert text_of(page, "onboarding-heading") == "Erste Schritte"
    assert text_of(page, "onboarding-progress") == "0 von 3 Schritten erledigt"


def test_survey_list_has_snippets_and_answer_counts(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    clock.now = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
    assert submit(client, shop.embed_key, 9) == 201
    clock.now = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
    assert submit(client, shop.embed_key, 3) == 201
    assert submit(client, shop.embed_key, 10) == 201

    page = client.get("/admin/surveys").text
    assert "Answers in May 2026" in page
    assert text_of(page, f"answers-period-{shop.survey_id}") == "2"
    assert text_of(page, f"answers-total-{shop.survey_id}") == "3"
    snippet = html.unescape(text_of(page, f"snippet-{shop.survey_id}"))
    embed_key = Signer((SECRET,), 3600).embed_key(shop.public_id)
    assert snippet == (
        f'<script src="http://127.0.0.1:8000/widget.js" data-survey="{embed_key}" async></script>'
    )
    # The copy button names its snippet, and admin.js reveals it.
    assert f'data-copy="snippet-{shop.survey_id}"' in page


# -- tariff changes ask first ----------------------------------------------


def test_tariff_change_asks_for_confirmation_then_applies(
    client: TestClient, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    tariffs = client.get("/admin/tariff").text
    # One click only opens the confirmation: no form on the list changes anything.
    assert 'action="/admin/tariff"' not in tariffs
    assert 'href="/admin/tariff/confirm?code=pro"' in tariffs

    ask = client.get("/admin/tariff/confirm?code=pro")
    assert ask.status_code == 200
    assert text_of(ask.text, "change-heading") == (
        "Upgrade to Pro now: 5,000 surveys a month from today"
    )
    assert text_of(ask.text, "change-detail") == (
        "This month's budget grows from 50 to 5,000 at once; answers counted so far stay counted."
    )
    assert text_of(client.get("/admin/tariff").text, "current-tariff").startswith("Free")
    applied = post_form(client, "/admin/tariff/confirm?code=pro", "/admin/tariff", {"code": "pro"})
    assert applied.status_code == 303
    assert text_of(client.get("/admin/tariff").text, "current-tariff").startswith("Pro")

    ask = client.get("/admin/tariff/confirm?code=basic").text
    assert text_of(ask, "change-heading") == (
        "Downgrade to Basic from 1 June 2026: this month keeps Pro's budget"
    )
    assert "Downgrade to Basic from 1 June 2026</button>" in ask
    assert 'id="pending-change"' not in client.get("/admin/dashboard").text
    post_form(client, "/admin/tariff/confirm?code=basic", "/admin/tariff", {"code": "basic"})
    dashboard = client.get("/admin/dashboard").text
    assert text_of(dashboard, "pending-change") == (
        "Your tariff changes to Basic on 1 June 2026 (500 surveys a month). "
        "Cancel the change on the tariff page"
    )
    assert '<a href="/admin/tariff#pending">' in dashboard
    german = client.get("/admin/dashboard", headers={"Accept-Language": "de"}).text
    assert text_of(german, "pending-change").startswith(
        "Ihr Tarif wechselt am 1. Juni 2026 zu Basic (500 Umfragen im Monat)."
    )

    # An upgrade drops the scheduled downgrade, and says so first.
    ask = client.get("/admin/tariff/confirm?code=business").text
    assert text_of(ask, "change-dropped") == (
        "The change to Basic scheduled for next month is dropped."
    )
    already = client.get("/admin/tariff/confirm?code=pro").text
    assert text_of(already, "change-heading") == "You are already on Pro."
    assert 'action="/admin/tariff"' not in already
    assert client.get("/admin/tariff/confirm?code=platinum").status_code == 400


# -- the budget's unit is the counted answer -------------------------------


def test_the_budget_counts_answers_and_the_tariff_page_explains_its_surveys(
    client: TestClient, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    budget_card = page[page.index('id="budget-heading"') : page.index('id="sync-heading"')]
    assert "of 50 left this month" in budget_card
    assert text_of(page, "budget-used") == "0 of 50 used"
    assert "Tariff Free · The budget resets on" in budget_card
    assert "survey" not in budget_card.lower()

    tariffs = client.get("/admin/tariff").text
    assert text_of(tariffs, "current-tariff") == "Free · 50 surveys a month"
    assert '<th scope="col" class="num">Surveys a month</th>' in tariffs
    assert "a survey = one counted answer or one e-mail invitation, answered or not" in text_of(
        tariffs, "tariff-unit"
    )

    german = {"Accept-Language": "de"}
    page = client.get("/admin/dashboard", headers=german).text
    assert "von 50 in diesem Monat übrig" in page
    assert text_of(page, "budget-used") == "0 von 50 verbraucht"
    assert "Tarif Free · Das Budget wird am" in page
    tariffs = client.get("/admin/tariff", headers=german).text
    assert text_of(tariffs, "current-tariff") == "Free · 50 Umfragen im Monat"
    assert "eine Umfrage = eine gezählte Antwort" in text_of(tariffs, "tariff-unit")


# -- error pages speak the visitor's language and lead back ----------------


def test_error_pages_in_the_visitors_language_with_a_way_back(client: TestClient) -> None:
    german = client.get("/nothing-here", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert german.status_code == 404
    assert '<html lang="de">' in german.text
    assert "<h1>Seite nicht gefunden</h1>" in german.text
    assert text_of(german.text, "error-text") == "Unter dieser Adresse gibt es nichts."
    assert '<a id="error-back" href="/">Zur Startseite</a>' in german.text

    english = client.get("/nothing-here", headers={"Accept-Language": "fr, en;q=0.5"})
    assert "<h1>Page not found</h1>" in english.text
    assert text_of(english.text, "error-text") == "There is nothing at this address."
    assert '<a id="error-back" href="/">Back to the start page</a>' in english.text
    # The API keeps answering problem+json.
    assert client.get("/api/v1/nothing-here").json()["code"] == "not_found"
    # The way back leads somewhere: the service's root opens the admin.
    root = client.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/admin/")

    # Under /admin the way back is the admin's start, in the browser's language
    # before login.
    admin = client.get("/admin/nothing-here", headers={"Accept-Language": "de"})
    assert admin.status_code == 404
    assert '<a id="error-back" href="/admin/">Zurück zur Übersicht</a>' in admin.text


def test_admin_error_pages_follow_the_admins_own_language(
    client: TestClient, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    post_form(client, "/admin/account", "/admin/account/language", {"language": "de"})
    english_browser = {"Accept-Language": "en"}
    client.get("/admin/dashboard", headers=english_browser)
    for path, text in (
        ("/admin/nothing-here", "Unter dieser Adresse gibt es nichts."),
        ("/admin/surveys/987654", "Diese Umfrage gibt es in Ihrem Konto nicht."),
    ):
        page = client.get(path, headers=english_browser)
        assert page.status_code == 404
        assert '<html lang="de">' in page.text, path
        assert text_of(page.text, "error-text") == text, path
        assert '<a id="error-back" href="/admin/">Zurück zur Übersicht</a>' in page.text
    # Back to "as in my browser": the browser's language again.
    post_form(client, "/admin/account", "/admin/account/language", {"language": ""})
    client.get("/admin/dashboard")
    page = client.get("/admin/nothing-here", headers=english_browser)
    assert text_of(page.text, "error-text") == "There is nothing at this address."
    assert '<a id="error-back" href="/admin/">Back to the dashboard</a>' in page.text


def test_german_admin_uses_one_word_for_origins(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    client.get(f"/api/v1/widget/{shop.embed_key}", headers={"Origin": "https://shop.example"})
    german = {"Accept-Language": "de"}
    dashboard = client.get("/admin/dashboard", headers=german).text
    survey_page = client.get(f"/admin/surveys/{shop.survey_id}", headers=german).text
    assert "Herkunft: <span" in dashboard
    assert "Erlaubte Herkünfte" in survey_page
    assert "Origin" not in dashboard + survey_page.replace("crossorigin", "")


# -- the CSV export covers a range of months -------------------------------


def test_csv_export_of_a_range_of_months_named_after_the_survey(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL, tariff="basic")
    survey_id, embed_key = add_survey(engine, shop.account_id, "nps", "Käufer-Umfrage: Checkout!")
    for month, score in ((3, 9), (4, 3), (5, 10)):
        clock.now = datetime(2026, month, 10, 12, 0, tzinfo=UTC)
        assert submit(client, embed_key, score) == 201
    login(client, EMAIL)
    page = client.get(f"/admin/surveys/{survey_id}/results").text
    assert f'action="/admin/surveys/{survey_id}/export.csv"' in page
    assert '<select id="export-from" name="from">' in page
    assert '<select id="export-to" name="to">' in page
    assert "At most 24 months at once." in page

    base = f"/admin/surveys/{survey_id}/export.csv"
    spring = client.get(base, params={"from": "2026-03", "to": "2026-04"})
    assert spring.status_code == 200
    disposition = spring.headers["content-disposition"]
    assert disposition == 'attachment; filename="kaufer-umfrage-checkout-2026-03-to-2026-04.csv"'
    rows = list(csv.DictReader(io.StringIO(spring.content.decode("utf-8-sig"))))
    assert [(row["period"], row["score"]) for row in rows] == [("2026-03", "9"), ("2026-04", "3")]
    may = client.get(base, params={"from": "2026-05", "to": "2026-05"})
    assert may.headers["content-disposition"].endswith(
        'filename="kaufer-umfrage-checkout-2026-05.csv"'
    )
    # Two years at most, in order.
    assert client.get(base, params={"from": "2024-06", "to": "2026-05"}).status_code == 200
    too_long = client.get(base, params={"from": "2024-05", "to": "2026-05"})
    assert too_long.status_code == 400
    assert "An export covers at most 24 months." in too_long.text
    backwards = client.get(base, params={"from": "2026-05", "to": "2026-03"})
    assert backwards.status_code == 400
    assert "The first month must not come after the last." in backwards.text
    # A survey whose name has no letters is named by its id.
    other_id, _key = add_survey(engine, shop.account_id, "csat", "???")
    plain = client.get(f"/admin/surveys/{other_id}/export.csv", params={"period": "2026-05"})
    assert plain.headers["content-disposition"].endswith(
        f'filename="survey-{other_id}-2026-05.csv"'
    )


# -- an operator resets a password -----------------------------------------


def test_cli_password_reset_ends_every_session(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", settings.secret_keys[0])
    seed(engine, email=EMAIL)
    assert login(client, EMAIL).status_code == 303
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 200

    assert cli(["admin", "password", "--email", EMAIL.upper()]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["sessions_ended"] == 1
    assert len(made["password"]) >= 16
    # The browser that was logged in is out, the old password no longer works.
    assert client.get("/admin/dashboard", follow_redirects=False).headers["location"] == (
        "/admin/login"
    )
    assert login(client, EMAIL).status_code == 400
    assert login(client, EMAIL, made["password"]).status_code == 303

    assert cli(["admin", "password", "--email", EMAIL, "--password", "chosen by the operator"]) == 0
    given = json.loads(capsys.readouterr().out)
    assert given == {"admin_id": made["admin_id"], "sessions_ended": 1}
    assert login(client, EMAIL, "chosen by the operator").status_code == 303

    assert cli(["admin", "password", "--email", "nobody@shop.example"]) == 2
    assert "no admin with the email nobody@shop.example" in capsys.readouterr().err
    assert cli(["admin", "password", "--email", EMAIL, "--password", "short"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


# -- the link pages: who asks, and one thanks ------------------------------


def _main(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


def test_link_page_names_the_site_and_the_thank_you_page_thanks_once(
    client: TestClient, engine: Engine
) -> None:
    account_id = new_account(engine, "Demo Shop")
    _survey_id, embed_key = add_survey(engine, account_id, "nps", "Homepage")
    public_id = Signer((SECRET,), 3600).survey_from_embed_key(embed_key)
    link = f"/s/{Signer((SECRET,), 3600).link_key(public_id)}"

    form = client.get(link, headers={"Accept-Language": "en"})
    assert text_of(form.text, "asker") == "Demo Shop asks:"
    assert "<title>How likely are you to recommend us" in form.text
    assert "· Demo Shop</title>" in form.text
    token = re.search(r'name="display_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    thanks = client.post(link, data={"display_token": token, "score": "10"})
    assert thanks.status_code == 200
    main = _main(thanks.text)
    assert main.count("Thank") == 1
    assert "<h1>Thank you! We are glad you are happy.</h1>" in main
    assert '<label for="comment">What do you like most?</label>' in main
    commented = client.post(f"{link}/comment", data={"display_token": token, "comment": "Fast."})
    main = _main(commented.text)
    assert main.count("Thank") == 1
    assert "Your comment was added." in main

    # Another visitor: this browser's answer would be changed for half an hour.
    client.cookies.clear()
    german = client.get(link, headers={"Accept-Language": "de"})
    assert text_of(german.text, "asker") == "Demo Shop fragt:"
    token = re.search(r'name="display_token" value="([^"]+)"', german.text).group(1)  # type: ignore[union-attr]
    danke = client.post(
        link, data={"display_token": token, "score": "7"}, headers={"Accept-Language": "de"}
    )
    main = _main(danke.text)
    assert main.count("Dank") == 1
    assert '<label for="comment">Was würde es noch besser machen?</label>' in main
