"""Every kind of bad input gets its documented problem+json and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from app.platform.signing import Signer
from tests.conftest import SECRET, Clock, count_responses, seed, usage_row


def _token(client: TestClient, embed_key: str) -> str:
    return str(client.get(f"/api/v1/widget/{embed_key}").json()["display_token"])


def _problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


@pytest.mark.parametrize(
    ("kind", "score"),
    [
        ("nps", -1),
        ("nps", 11),
        ("csat", 0),
        ("csat", 6),
        ("ces", 0),
        ("ces", 8),
        ("nps", "9"),
        ("nps", 9.5),
        ("nps", True),
        ("nps", [9]),
        ("nps", {"v": 9}),
    ],
)
def test_scores_outside_the_kind_or_of_wrong_type_are_422(
    client: TestClient, engine: Engine, kind: str, score: Any
) -> None:
    shop = seed(engine, kind=kind)
    answer = client.post(
        "/api/v1/responses", json={"display_token": _token(client, shop.embed_key), "score": score}
    )
    body = _problem(answer, 422, "validation_error")
    assert body["errors"][0]["field"] == "score"
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, "2026-05") == (0, 0)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": 5}, "comment"),
        ({"page_url": "javascript:alert(1)"}, "page_url"),
        ({"page_url": "/relative"}, "page_url"),
        ({"locale": "<script>"}, "locale"),
        ({"display_token": 12}, "display_token"),
    ],
)
def test_other_fields_are_validated(
    client: TestClient, engine: Engine, extra: dict[str, Any], field: str
) -> None:
    shop = seed(engine)
    body = {"display_token": _token(client, shop.embed_key), "score": 7, **extra}
    problem = _problem(client.post("/api/v1/responses", json=body), 422, "validation_error")
    assert field in {error["field"] for error in problem["errors"]}
    assert count_responses(engine) == 0


def test_a_comment_is_cleaned_of_control_characters(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _token(client, shop.embed_key)
    comment = "  Fast\x00 delivery\u202e!\r\nThanks\t🙂  "
    sent = client.post(
        "/api/v1/responses",
        json={
            "display_token": token,
            "score": 10,
            "comment": comment,
            "page_url": "https://shop.example/cart",
            "locale": "de-DE",
        },
    )
    assert sent.status_code == 201
    with db.read(engine) as conn:
        stored = conn.execute(text("SELECT comment, page_url, locale FROM response")).one()
    assert stored.comment == "Fast delivery!\nThanks\t🙂"
    assert stored.page_url == "https://shop.example/cart"
    assert stored.locale == "de-DE"


def test_broken_json_huge_bodies_and_wrong_media_types(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _token(client, shop.embed_key)
    _problem(
        client.post(
            "/api/v1/responses", content=b"{not json", headers={"content-type": "text/plain"}
        ),
        400,
        "invalid_json",
    )
    _problem(
        client.post(
            "/api/v1/responses", content=b"\xff\xfe", headers={"content-type": "application/json"}
        ),
        400,
        "invalid_json",
    )
    _problem(client.post("/api/v1/responses", json=[token, 9]), 400, "invalid_json")
    nested = b"[" * 8000 + b"]" * 8000
    _problem(
        client.post("/api/v1/responses", content=nested, headers={"content-type": "text/plain"}),
        400,
        "invalid_json",
    )
    huge = {"display_token": token, "score": 9, "comment": "x" * 40000}
    _problem(client.post("/api/v1/responses", json=huge), 413, "payload_too_large")
    _problem(
        client.post(
            "/api/v1/responses",
            content=b'{"score": 9}',
            headers={"content-type": "application/xml"},
        ),
        415,
        "unsupported_media_type",
    )
    _problem(client.post("/api/v1/responses", json={"score": 9}), 422, "validation_error")
    assert count_responses(engine) == 0


def test_a_huge_body_without_content_length_is_cut_off(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 1024

    answer = client.post(
        "/api/v1/responses", content=chunks(), headers={"content-type": "text/plain"}
    )
    _problem(answer, 413, "payload_too_large")


def test_unknown_surveys_and_routes(client: TestClient, engine: Engine) -> None:
    signer = Signer((SECRET,), 60)
    _problem(client.get(f"/api/v1/widget/{signer.embed_key('nope')}"), 404, "unknown_survey")
    orphan = signer.display_token(999, "widget")
    _problem(
        client.post("/api/v1/responses", json={"display_token": orphan, "score": 9}),
        404,
        "unknown_survey",
    )
    _problem(client.get("/api/v1/nothing-here"), 404, "not_found")
    _problem(client.get("/api/v1/responses"), 405, "method_not_allowed")
    assert count_responses(engine) == 0


def test_a_comment_for_an_unanswered_display_needs_a_score(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    token = _token(client, shop.embed_key)
    answer = client.post("/api/v1/responses", json={"display_token": token, "comment": "hi"})
    _problem(answer, 422, "validation_error")
    assert count_responses(engine) == 0


def test_origins_are_enforced(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, origins=["https://shop.example"])
    own = {"origin": "https://shop.example"}
    other = {"origin": "https://evil.example"}
    hidden = client.get(f"/api/v1/widget/{shop.embed_key}", headers=other).json()
    assert hidden == {"show": False, "reason": "origin_not_allowed"}
    token = client.get(f"/api/v1/widget/{shop.embed_key}", headers=own).json()["display_token"]
    refused = client.post(
        "/api/v1/responses", json={"display_token": token, "score": 9}, headers=other
    )
    _problem(refused, 403, "origin_not_allowed")
    assert count_responses(engine) == 0
    accepted = client.post(
        "/api/v1/responses", json={"display_token": token, "score": 9}, headers=own
    )
    assert accepted.status_code == 201
    assert accepted.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in accepted.headers


def test_cors_preflight_never_allows_credentials(client: TestClient) -> None:
    answer = client.options(
        "/api/v1/responses",
        headers={
            "origin": "https://shop.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


def test_inactive_survey_hides_and_refuses(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, active=False)
    assert client.get(f"/api/v1/widget/{shop.embed_key}").json() == {
        "show": False,
        "reason": "inactive",
    }
    token = Signer((SECRET,), 60).display_token(shop.survey_id, "widget")
    _problem(
        client.post("/api/v1/responses", json={"display_token": token, "score": 9}),
        410,
        "survey_inactive",
    )
    assert count_responses(engine) == 0


def test_a_database_that_is_down_gives_503_not_500(settings: Settings, clock: Clock) -> None:
    from app.platform.db import create_db_engine

    down = create_db_engine("postgresql://nobody@127.0.0.1:9/none", pool_pre_ping=False)
    app = build_app(settings, clock=clock, engine=down)
    with TestClient(app, raise_server_exceptions=False) as client:
        key = Signer((SECRET,), 60).embed_key("anything")
        answer = client.get(f"/api/v1/widget/{key}")
        body = _problem(answer, 503, "service_unavailable")
        assert "nobody" not in body["detail"]
        assert answer.headers["retry-after"] == "5"
        token = Signer((SECRET,), 60).display_token(1, "widget")
        _problem(
            client.post("/api/v1/responses", json={"display_token": token, "score": 9}),
            503,
            "service_unavailable",
        )
        assert client.get("/healthz").status_code == 503
