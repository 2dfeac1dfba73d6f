"""The widget config and submission API through the ASGI client."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.conftest import count_responses, seed, set_budget, usage_row


def _token(client: TestClient, embed_key: str, **headers: str) -> str:
    answer = client.get(f"/api/v1/widget/{embed_key}", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["show"] is True, body
    return str(body["display_token"])


def test_config_shows_survey_and_submission_counts(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    answer = client.get(f"/api/v1/widget/{shop.embed_key}?lang=de")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["survey"]["kind"] == "nps"
    assert body["survey"]["language"] == "de"
    assert set(body["survey"]["follow_up"]) == {"detractor", "passive", "promoter"}
    assert body["rules"] == {"delay_ms": 0, "recontact_days": 90, "sample_rate": 1.0}

    sent = client.post(
        "/api/v1/responses", json={"display_token": body["display_token"], "score": 9}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["segment"] == "promoter"
    assert usage_row(engine, shop.account_id, "2026-05") == (1, 0)
    assert count_responses(engine) == 1


def test_replay_same_score_is_200_and_counts_nothing(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _token(client, shop.embed_key)
    first = client.post(
        "/api/v1/responses",
        content=f'{{"display_token":"{token}","score":3}}',
        headers={"content-type": "text/plain"},
    )
    assert first.status_code == 201
    again = client.post("/api/v1/responses", json={"display_token": token, "score": 3})
    assert again.status_code == 200
    assert again.json() == first.json()
    other = client.post("/api/v1/responses", json={"display_token": token, "score": 4})
    assert other.status_code == 409
    assert other.json()["code"] == "token_already_used"
    comment = client.post(
        "/api/v1/responses", json={"display_token": token, "comment": "Too slow\x07 checkout"}
    )
    assert comment.status_code == 200
    assert usage_row(engine, shop.account_id, "2026-05") == (1, 0)
    assert count_responses(engine) == 1


def test_exhausted_budget_refuses_and_hides(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    first, second = _token(client, shop.embed_key), _token(client, shop.embed_key)
    assert (
        client.post("/api/v1/responses", json={"display_token": first, "score": 10}).status_code
        == 201
    )
    refused = client.post("/api/v1/responses", json={"display_token": second, "score": 10})
    assert refused.status_code == 402
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "budget_exhausted"
    assert usage_row(engine, shop.account_id, "2026-05") == (1, 1)
    assert count_responses(engine) == 1
    hidden = client.get(f"/api/v1/widget/{shop.embed_key}").json()
    assert hidden == {"show": False, "reason": "budget_exhausted"}


def test_last_contact_names_the_page_origin(client: TestClient, engine: Engine) -> None:
    from sqlalchemy import text

    from app.platform import db

    shop = seed(engine)
    # A same-origin fetch carries no Origin header, only the Referer.
    client.get(
        f"/api/v1/widget/{shop.embed_key}",
        headers={"referer": "https://shop.example/checkout/done?order=7"},
    )
    with db.read(engine) as conn:
        origin = conn.execute(text("SELECT origin FROM contact")).scalar_one()
    assert origin == "https://shop.example"
