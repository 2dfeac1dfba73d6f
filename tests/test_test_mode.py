"""The owner's test key through HTTP: asked on every view, answers stored
apart, never counted (even on a used-up budget), kept out of every figure
and export, listed and cleared under "Test answers"."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.platform import db
from app.platform.signing import InvalidToken, Signer
from tests.admin_helpers import login, post_form, text_of
from tests.conftest import SECRET, count_responses, seed, set_budget, usage_row

EMAIL = "owner@shop.example"
PERIOD = "2026-05"
SIGNER = Signer((SECRET,), 3600)


def _tests(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return list(
            conn.execute(
                text("SELECT survey_id, score, segment, comment, channel FROM test_response")
            )
        )


def _answer(client: TestClient, key: str, score: int, comment: str | None = None) -> Any:
    config = client.get(f"/api/v1/widget/{key}").json()
    assert config["show"] is True, config
    body: dict[str, Any] = {"display_token": config["display_token"], "score": score}
    answer = client.post("/api/v1/responses", json=body)
    if comment is not None:
        assert answer.status_code == 201, answer.text
        answer = client.post("/api/v1/responses", json={**body, "comment": comment})
    return answer


def _survey_page(client: TestClient, survey_id: int) -> str:
    return client.get(f"/admin/surveys/{survey_id}").text


def test_test_snippet_answers_twice_and_nothing_counts(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL, recontact_days=90, sample_rate=0.1, delay_ms=30000)
    login(client, EMAIL)
    page = _survey_page(client, shop.survey_id)
    words = html.unescape(page)
    assert "Try it yourself (for testing only)" in words
    assert "Test snippet (for testing only)" in words
    assert "never count against your budget and are accepted even when it is used up" in words
    snippet = text_of(page, "test-snippet")
    test_key = re.search(r'data-survey="([^"]+)"', snippet).group(1)  # type: ignore[union-attr]
    assert test_key != shop.embed_key
    assert (
        snippet
        == f'<script src="http://127.0.0.1:8000/widget.js" data-survey="{test_key}" async></script>'
    )

    # The config tells the widget to ask at once, whatever it remembers.
    config = client.get(f"/api/v1/widget/{test_key}").json()
    assert config["rules"] == {"delay_ms": 0, "recontact_days": 0, "sample_rate": 1.0, "test": True}
    assert SIGNER.read_display_token(config["display_token"]).test is True
    normal = client.get(f"/api/v1/widget/{shop.embed_key}").json()
    assert "test" not in normal["rules"]
    assert SIGNER.read_display_token(normal["display_token"]).test is False

    # Two views, two answers: both stored as tests, nothing counted.
    assert _answer(client, test_key, 9, comment="first try").status_code == 200
    assert _answer(client, test_key, 2).status_code == 201
    assert [(row.score, row.comment, row.channel) for row in _tests(engine)] == [
        (9, "first try", "widget"),
        (2, None, "widget"),
    ]
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)

    # A visitor's answer still counts, once.
    assert _answer(client, shop.embed_key, 10, comment="real one").status_code == 200
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)

    # Results, dashboard and export show the visitor's answer only.
    results = client.get(f"/admin/surveys/{shop.survey_id}/results?period={PERIOD}").text
    assert text_of(results, "responses") == "1 response"
    assert text_of(results, "figure") == "+100"
    assert "real one" in results and "first try" not in results
    assert "1 response" in client.get("/admin/dashboard").text
    assert text_of(client.get("/admin/dashboard").text, "nps") == "+100"
    export = client.get(f"/admin/surveys/{shop.survey_id}/export.csv?period={PERIOD}")
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [(row["score"], row["comment"]) for row in rows] == [("10", "real one")]

    # ...and the test answers are under their own view, linked from the results.
    assert f'href="/admin/surveys/{shop.survey_id}/test-answers"' in results
    tests_url = f"/admin/surveys/{shop.survey_id}/test-answers"
    tests_page = client.get(tests_url).text
    assert "2 test answers" in tests_page
    assert "first try" in tests_page and "real one" not in tests_page

    # Clearing takes the session's CSRF token, and removes only the test answers.
    refused = client.post(f"{tests_url}/delete", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert len(_tests(engine)) == 2
    cleared = post_form(client, tests_url, f"{tests_url}/delete", {})
    assert cleared.status_code == 303
    after = client.get(cleared.headers["location"]).text
    assert "2 test answers were deleted." in after
    assert "No test answers yet." in after
    assert _tests(engine) == []
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_a_test_answer_is_taken_on_a_used_up_budget(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    test_key = SIGNER.test_embed_key(shop.public_id)
    set_budget(engine, "free", 0)
    assert client.get(f"/api/v1/widget/{shop.embed_key}").json() == {
        "show": False,
        "reason": "budget_exhausted",
    }
    assert _answer(client, test_key, 7).status_code == 201
    assert [row.score for row in _tests(engine)] == [7]
    # Neither counted nor refused.
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)


def test_a_visitor_cannot_turn_a_key_or_token_into_a_test_one(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    test_key = SIGNER.test_embed_key(shop.public_id)
    # Same survey, another salt: the keys differ, and each is read as what it is.
    assert SIGNER.read_embed_key(shop.embed_key).test is False
    assert SIGNER.read_embed_key(test_key).test is True
    with pytest.raises(InvalidToken):
        SIGNER.survey_from_embed_key(test_key)
    # A test key of one purpose is no key of another.
    assert client.get(f"/api/v1/widget/{SIGNER.test_link_key(shop.public_id)}").status_code == 404
    assert client.get(f"/s/{test_key}").status_code == 404
    # Keys of another secret, test or not, are worthless.
    stranger = Signer(("another-secret",), 3600)
    assert (
        client.get(f"/api/v1/widget/{stranger.test_embed_key(shop.public_id)}").status_code == 404
    )
    forged = stranger.display_token(shop.survey_id, "widget", test=True)
    answer = client.post("/api/v1/responses", json={"display_token": forged, "score": 9})
    assert answer.status_code == 400
    assert _tests(engine) == [] and count_responses(engine) == 0


def test_test_link_page_says_so_and_counts_nothing(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    link = text_of(_survey_page(client, shop.survey_id), "test-link-url")
    path = link.removeprefix("http://127.0.0.1:8000")
    set_budget(engine, "free", 0)
    page = client.get(path)
    assert page.status_code == 200
    assert "Test mode: this answer is stored as a test and not counted." in page.text
    token = html.unescape(re.search(r'name="display_token" value="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    sent = client.post(path, data={"display_token": token, "score": "3"}, follow_redirects=False)
    assert sent.status_code == 303
    thanks = client.get(sent.headers["location"])
    assert "Test mode" in thanks.text
    commented = client.post(
        f"{path}/comment",
        data={"display_token": token, "comment": "link test"},
        follow_redirects=False,
    )
    assert commented.status_code == 303
    assert [(row.score, row.comment, row.channel) for row in _tests(engine)] == [
        (3, "link test", "link")
    ]
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)
    # The visitor's link has no test notice and takes no test token.
    visitor = text_of(_survey_page(client, shop.survey_id), "link-url")
    visitor_path = visitor.removeprefix("http://127.0.0.1:8000")
    assert "Test mode" not in client.get(visitor_path).text
    crossed = client.post(visitor_path, data={"display_token": token, "score": "3"})
    assert crossed.status_code == 400
    assert len(_tests(engine)) == 1
