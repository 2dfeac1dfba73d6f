"""The survey editor's live preview through HTTP: the preview page signs the
unsaved form into a preview key, the widget API answers its config and its
answers from the key alone, and nothing is written anywhere."""

from __future__ import annotations

import html
import re
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.platform import db
from app.platform.signing import InvalidToken, Signer
from tests.conftest import SECRET, TABLES, seed, usage_row

EMAIL = "owner@shop.example"
OTHER = "other@elsewhere.example"
PERIOD = "2026-05"
SIGNER = Signer((SECRET,), 3600)
# What an admin has typed and not saved: texts, a follow-up question for
# detractors only, a promoter reward, a review link, the look.
FORM = {
    "language": "en",
    "en_question": "Would you recommend the bakery?",
    "en_low_label": "Never",
    "en_high_label": "At once",
    "en_follow_0": "What went wrong with your bread?",
    "en_thanks_2": "Thank you, bread friend!",
    "q0_kind": "text",
    "en_q0_label": "Which shop did you visit?",
    "q0_seg_0": "1",
    "reward_2": "fixed",
    "reward_code_2": "CROISSANT10",
    "review_url": "https://reviews.example/bakery",
    "color": "#aa3300",
    "position": "top-left",
}


def _login(client: TestClient, email: str) -> None:
    from tests.admin_helpers import login

    assert login(client, email).status_code == 303


def _counts(engine: Engine) -> dict[str, int]:
    with db.read(engine) as conn:
        return {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in TABLES
        }


def _key(page: str) -> str:
    match = re.search(r'<script src="/widget.js" data-survey="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


def _check_documented(client: TestClient, path: str, method: str, status: str, body: Any) -> None:
    """``body`` against the API's own OpenAPI document."""
    document = client.get("/api/v1/openapi.json").json()
    schema = document["paths"][path][method]["responses"][status]["content"]["application/json"]
    # The document's components beside the schema, for its "#/components/..." references.
    Draft202012Validator({**schema["schema"], "components": document["components"]}).validate(body)


def _preview(client: TestClient, survey_id: int | str, **extra: str) -> Any:
    return client.get(f"/admin/surveys/{survey_id}/preview", params={**FORM, **extra})


def test_preview_shows_the_unsaved_form_and_stores_nothing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL, origins=["https://shop.example"])
    _login(client, EMAIL)
    before = _counts(engine)

    page = _preview(client, shop.survey_id)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    # Framed by the admin's own editor only; the editor itself stays unframeable.
    assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    editor = client.get(f"/admin/surveys/{shop.survey_id}")
    assert "frame-ancestors 'none'" in editor.headers["content-security-policy"]
    assert "frame-src 'self'" in editor.headers["content-security-policy"]
    assert 'sandbox="allow-scripts allow-forms"' in editor.text
    key = _key(page.text)

    # The sandboxed frame's fetches carry Origin: null, which the survey's
    # origin list would refuse; a preview key is answered all the same.
    config = client.get(f"/api/v1/widget/{key}", headers={"Origin": "null"})
    assert config.status_code == 200, config.text
    body = config.json()
    assert body["show"] is True
    assert body["rules"]["test"] is True and body["rules"]["delay_ms"] == 0
    survey = body["survey"]
    assert survey["question"] == "Would you recommend the bakery?"
    assert (survey["low_label"], survey["high_label"]) == ("Never", "At once")
    assert survey["follow_up"]["detractor"] == "What went wrong with your bread?"
    assert survey["thanks"]["promoter"] == "Thank you, bread friend!"
    assert (survey["color"], survey["position"], survey["language"]) == (
        "#aa3300",
        "top-left",
        "en",
    )
    [question] = survey["questions"]
    assert question["label"] == "Which shop did you visit?"
    assert question["segments"] == ["detractor"]
    token = body["display_token"]
    _check_documented(client, "/widget/{embed_key}", "get", "200", body)

    promoter = client.post(
        "/api/v1/responses", json={"display_token": token, "score": 10}, headers={"Origin": "null"}
    )
    assert promoter.status_code == 201, promoter.text
    assert promoter.json() == {
        "id": 0,
        "segment": "promoter",
        "reward": "PREVIEW",
        "review_url": "https://reviews.example/bakery",
    }
    _check_documented(client, "/responses", "post", "201", promoter.json())
    detractor = client.post(
        "/api/v1/responses",
        json={"display_token": token, "score": 2, "comment": "Stale", "answers": {"x": "y"}},
    )
    assert detractor.json() == {"id": 0, "segment": "detractor"}
    # The same token again (the widget's later comment) is told the same.
    again = client.post("/api/v1/responses", json={"display_token": token, "score": 10})
    assert again.status_code == 201 and again.json()["segment"] == "promoter"

    assert _counts(engine) == before
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)
    # Origin: null is accepted for preview keys only.
    real = client.get(f"/api/v1/widget/{shop.embed_key}", headers={"Origin": "null"}).json()
    assert real == {"show": False, "reason": "origin_not_allowed"}


def test_preview_language_and_a_new_survey(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    _login(client, EMAIL)
    # A new survey's kind comes from the form; German defaults fill what is empty.
    page = client.get(
        "/admin/surveys/new/preview",
        params={"kind": "csat", "language": "de", "color": "nonsense", "position": "middle"},
    )
    assert page.status_code == 200
    survey = client.get(f"/api/v1/widget/{_key(page.text)}").json()["survey"]
    assert survey["kind"] == "csat" and survey["language"] == "de"
    assert survey["question"].startswith("Wie zufrieden")
    # A value the form would refuse falls back to the default look.
    assert (survey["color"], survey["position"]) == ("#1f5fbf", "bottom-right")


def test_stage_switch_answers_the_segments_top_score(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    _login(client, EMAIL)
    assert 'data-score="10"' in _preview(client, shop.survey_id, stage="2").text
    thanks = _preview(client, shop.survey_id, stage="0:thanks").text
    assert 'data-score="6"' in thanks and "data-thanks" in thanks
    for wrong in ("", "3", "x", "1:later", "-1"):
        assert "data-score" not in _preview(client, shop.survey_id, stage=wrong).text


def test_preview_keys_and_tokens_are_kept_apart(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    other = seed(engine, email=OTHER)
    _login(client, EMAIL)
    # Another account's survey is not found; logged out, the login is asked for.
    assert _preview(client, other.survey_id).status_code == 404
    assert _preview(client, 999_999).status_code == 404
    key = _key(_preview(client, shop.survey_id).text)
    token = client.get(f"/api/v1/widget/{key}").json()["display_token"]

    # A preview key is no survey key, nor the other way round.
    try:
        SIGNER.read_embed_key(key)
        raise AssertionError("a preview key read as an embed key")
    except InvalidToken:
        pass
    try:
        SIGNER.read_preview_key(shop.embed_key)
        raise AssertionError("an embed key read as a preview key")
    except InvalidToken:
        pass
    assert client.get(f"/s/{key}").status_code == 404
    # A preview token is no display token, nor the other way round.
    try:
        SIGNER.read_display_token(token)
        raise AssertionError("a preview token read as a display token")
    except InvalidToken:
        pass
    real = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    try:
        SIGNER.read_preview_token(real)
        raise AssertionError("a display token read as a preview token")
    except InvalidToken:
        pass

    # Forged keys and tokens are refused as unknown and invalid.
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    refused = client.get(f"/api/v1/widget/{forged}")
    assert refused.status_code == 404
    assert refused.json()["type"].endswith("unknown_survey")
    bad = client.post("/api/v1/responses", json={"display_token": token + "x", "score": 9})
    assert bad.status_code == 400 and bad.json()["type"].endswith("invalid_token")
    # Signed for a preview, but not holding what a preview holds.
    odd_key = SIGNER.preview_key({"survey": {"kind": "stars"}, "answers": {}})
    assert client.get(f"/api/v1/widget/{odd_key}").status_code == 404
    odd_token = SIGNER.preview_token({"k": "stars", "answers": {}})
    assert (
        client.post("/api/v1/responses", json={"display_token": odd_token, "score": 9}).status_code
        == 400
    )
    # A preview answer is checked like any other.
    for extra, field in (
        ({"score": 11}, "between 0 and 10"),
        ({"score": True}, "whole number"),
        ({"score": None}, "required"),
        ({"score": 3, "comment": 7}, "must be text"),
        ({"score": 3, "comment": "x" * 2001}, "at most 2000"),
    ):
        answer = client.post("/api/v1/responses", json={"display_token": token, **extra})
        assert answer.status_code == 422 and field in answer.json()["detail"], answer.text

    # A real display token still counts, once.
    before = _counts(engine)
    counted = client.post("/api/v1/responses", json={"display_token": real, "score": 9})
    assert counted.status_code == 201 and counted.json()["id"] > 0
    assert _counts(engine)["response"] == before["response"] + 1
    assert usage_row(engine, shop.account_id, PERIOD)[0] == 1
