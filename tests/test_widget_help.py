"""The "Why is my widget not showing?" page: in English and German, with the
survey's own settings when asked from its page, and only for the account's
own surveys."""

from __future__ import annotations

import html

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.admin_helpers import login, text_of
from tests.conftest import seed

EMAIL = "owner@shop.example"
TOPICS_EN = (
    "The message in the browser's console",
    "http://localhost:8090 and http://127.0.0.1:8090 are different origins",
    "not asked again for the number of days set in “Ask again after (days)”",
    "npsBeacon:",
    "localStorage.removeItem",
    "This visitor is not in the sample",
    "The delay has not passed yet",
    "The month's budget is used up",
    "The survey is inactive",
    "nps-beacon: this survey does not accept answers from http://127.0.0.1:8090",
)
TOPICS_DE = (
    "Die Meldung in der Konsole des Browsers",
    "http://localhost:8090 und http://127.0.0.1:8090 sind verschiedene Herkünfte",
    "„Erneut fragen nach (Tagen)“",
    "Dieser Besucher ist nicht in der Stichprobe",
    "Die Verzögerung ist noch nicht abgelaufen",
    "Das Budget des Monats ist verbraucht",
    "Die Umfrage ist inaktiv",
)


def test_help_page_in_english_and_german(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    assert client.get("/admin/help/widget", follow_redirects=False).status_code == 303
    login(client, EMAIL)

    english = html.unescape(client.get("/admin/help/widget").text)
    assert "<h1>Why is my widget not showing?</h1>" in english
    for topic in TOPICS_EN:
        assert topic in english, topic
    german = html.unescape(client.get("/admin/help/widget", headers={"Accept-Language": "de"}).text)
    assert "<h1>Warum wird mein Widget nicht angezeigt?</h1>" in german
    for topic in TOPICS_DE:
        assert topic in german, topic


def test_help_for_one_survey_names_its_settings_and_storage_entry(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(
        engine,
        email=EMAIL,
        origins=["http://localhost:8090"],
        recontact_days=30,
        sample_rate=0.25,
        delay_ms=5000,
        active=False,
    )
    other = seed(engine, email="other@competitor.example")
    login(client, EMAIL)

    survey_page = client.get(f"/admin/surveys/{shop.survey_id}").text
    assert f'href="/admin/help/widget?survey={shop.survey_id}"' in survey_page
    page = client.get(f"/admin/help/widget?survey={shop.survey_id}").text
    assert text_of(page, "storage-entry") == f"npsBeacon:{shop.embed_key}"
    assert text_of(page, "this-origins") == "This survey allows: http://localhost:8090."
    text = html.unescape(page)
    for fact in (
        "This survey asks again after 30 days",
        "This survey asks 25% of visitors.",
        "This survey waits 5 seconds.",
        "This survey is inactive.",
    ):
        assert fact in text, fact

    # Another account's survey: the general page, nothing of that survey.
    foreign = client.get(f"/admin/help/widget?survey={other.survey_id}")
    assert foreign.status_code == 200
    assert other.embed_key not in foreign.text
    assert 'id="storage-entry"' not in foreign.text
    assert client.get("/admin/help/widget?survey=abc").status_code == 200
