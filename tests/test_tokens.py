"""Embed keys, link keys and display tokens: forged, expired, cross-purpose, rotated."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.main import build_app
from app.platform.settings import Settings
from app.platform.signing import ExpiredToken, InvalidToken, Signer
from tests.conftest import SECRET, Clock, count_responses, seed


def _post(client: TestClient, token: str, score: int = 9) -> tuple[int, str]:
    answer = client.post("/api/v1/responses", json={"display_token": token, "score": score})
    return answer.status_code, answer.json().get("code", "")


def test_forged_keys_and_tokens_are_refused(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    forged_key = shop.embed_key[:-2] + ("AA" if not shop.embed_key.endswith("AA") else "BB")
    answer = client.get(f"/api/v1/widget/{forged_key}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "unknown_survey"

    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    tampered = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    assert _post(client, tampered) == (400, "invalid_token")
    assert _post(client, "not-a-token") == (400, "invalid_token")
    assert count_responses(engine) == 0


def test_a_value_of_one_purpose_never_passes_as_another(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    assert client.get(f"/api/v1/widget/{shop.link_key}").status_code == 404
    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    assert client.get(f"/api/v1/widget/{token}").status_code == 404
    assert _post(client, shop.embed_key) == (400, "invalid_token")
    assert _post(client, shop.link_key) == (400, "invalid_token")
    signer = Signer((SECRET,), 60)
    with pytest.raises(InvalidToken):
        signer.survey_from_link_key(shop.embed_key)
    with pytest.raises(InvalidToken):
        signer.survey_from_embed_key(shop.link_key)
    assert count_responses(engine) == 0


def test_an_expired_display_token_is_410(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = seed(engine)
    signer = Signer((SECRET,), 86400)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 90000)
    old = signer.display_token(shop.survey_id, "widget")
    monkeypatch.undo()
    with pytest.raises(ExpiredToken):
        signer.read_display_token(old)
    assert _post(client, old) == (410, "token_expired")
    fresh = signer.display_token(shop.survey_id, "widget")
    assert _post(client, fresh)[0] == 201
    assert count_responses(engine) == 1


def test_rotated_keys_keep_snippets_working(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)  # signed with SECRET
    rotated = settings.replace(secret_keys=("a-new-key", SECRET))
    with TestClient(build_app(rotated, clock=clock, engine=engine)) as client:
        body = client.get(f"/api/v1/widget/{shop.embed_key}").json()
        assert body["show"] is True
        # New tokens are signed with the first key only.
        Signer(("a-new-key",), 60).read_display_token(body["display_token"])
        with pytest.raises(InvalidToken):
            Signer((SECRET,), 60).read_display_token(body["display_token"])
        old_token = Signer((SECRET,), 60).display_token(shop.survey_id, "widget")
        assert _post(client, old_token)[0] == 201

    retired = settings.replace(secret_keys=("a-new-key",))
    with TestClient(build_app(retired, clock=clock, engine=engine)) as client:
        assert client.get(f"/api/v1/widget/{shop.embed_key}").status_code == 404
        stale = Signer((SECRET,), 60).display_token(shop.survey_id, "widget")
        assert _post(client, stale) == (400, "invalid_token")
    assert count_responses(engine) == 1


def test_display_tokens_are_the_bytes_itsdangerous_would_sign(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast signer must write exactly what the library writes, so every
    token verifies with itsdangerous, under every key of a rotation."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_790_000_000)
    monkeypatch.setattr("secrets.token_urlsafe", lambda n: "Nonce-With_Both-0123A")
    library = URLSafeTimedSerializer(["old-key", "new-key"], salt="display")
    signer = Signer(("new-key", "old-key"), 86400)
    for survey_id, channel, test, payload in (
        (7, "widget", False, [7, "Nonce-With_Both-0123A", 0]),
        (123456, "email", True, [123456, "Nonce-With_Both-0123A", 2, 1]),
    ):
        token = signer.display_token(survey_id, channel, test=test)
        assert token == library.dumps(payload)
        assert library.loads(token) == payload
