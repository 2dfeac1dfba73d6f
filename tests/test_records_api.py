"""The records API through HTTP: keys, every answer it documents, batches, the
per-key rate limit, and the counting rule against real servers under load."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, text
from starlette.testclient import TestClient

from app.accounts import api_keys
from app.invitations import record_status, records
from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from app.platform.signing import Signer
from tests.conftest import SECRET, Clock, Seeded, require, seed, set_budget
from tests.servers import free_port
from tests.test_rate_limits import REDIS_URL, make_url_db

PERIOD = "2026-05"  # the client fixture's clock


# -- helpers -----------------------------------------------------------------


def _key(engine: Engine, account_id: int, name: str = "Shop") -> str:
    with db.write(engine) as conn:
        _stored, secret = api_keys.create(conn, account_id, name, datetime.now(UTC))
    return secret


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _scalar(engine: Engine, sql: str, **params: object) -> Any:
    with db.read(engine) as conn:
        return conn.execute(text(sql), params).scalar()


def _count(engine: Engine, table: str) -> int:
    return int(_scalar(engine, f"SELECT count(*) FROM {table}"))


def _problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    return body


def _usage(engine: Engine, account_id: int, period: str = PERIOD) -> tuple[int, int]:
    """(used, rejected_email) of the account's period."""
    with db.read(engine) as conn:
        row = conn.execute(
            text("SELECT used, rejected_email FROM usage WHERE account_id = :a AND period = :p"),
            {"a": account_id, "p": period},
        ).first()
    return (int(row.used), int(row.rejected_email)) if row else (0, 0)


class Api:
    """One account's survey and key, and a client that sends with the key."""

    def __init__(self, client: TestClient, engine: Engine, **seed_options: Any) -> None:
        self.client, self.engine = client, engine
        self.shop: Seeded = seed(engine, **seed_options)
        self.secret = _key(engine, self.shop.account_id)

    def record(self, **fields: Any) -> httpx.Response:
        body = {"survey_id": self.shop.survey_id, "email": "ann@example.com", **fields}
        return self.client.post("/api/v1/records", json=body, headers=_auth(self.secret))

    def batch(self, items: list[Any]) -> httpx.Response:
        return self.client.post(
            "/api/v1/records/batch", json={"records": items}, headers=_auth(self.secret)
        )

    def show(self, record_id: object) -> httpx.Response:
        return self.client.get(f"/api/v1/records/{record_id}", headers=_auth(self.secret))

    def people(self, count: int, start: int = 0) -> list[dict[str, Any]]:
        return [
            {"survey_id": self.shop.survey_id, "email": f"person{i}@example.com"}
            for i in range(start, start + count)
        ]


@pytest.fixture
def api(client: TestClient, engine: Engine) -> Api:
    return Api(client, engine)


# -- one record --------------------------------------------------------------


def test_a_record_is_scheduled_counted_and_looked_up(api: Api, engine: Engine) -> None:
    answer = api.record(name="Ann", language="de-AT", event="order", external_id="o-1")

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body == {"id": body["id"], "status": "scheduled", "send_at": "2026-05-14T12:00:00Z"}
    assert answer.headers["location"] == f"/api/v1/records/{body['id']}"
    assert answer.headers["cache-control"] == "no-store"
    assert _usage(engine, api.shop.account_id) == (1, 0)
    sync = _scalar(engine, "SELECT source || ':' || source_name FROM record_sync")
    assert sync == "api:Shop"

    shown = api.show(body["id"])
    assert shown.status_code == 200
    assert shown.json() == {
        "id": body["id"],
        "external_id": "o-1",
        "status": "scheduled",
        "send_at": body["send_at"],
    }


def test_the_survey_delay_and_event_time_set_send_at(client: TestClient, engine: Engine) -> None:
    api = Api(client, engine, email_delay_days=3)
    answer = api.record(event_at="2026-05-13T08:30:00+02:00")
    assert answer.status_code == 202
    assert answer.json()["send_at"] == "2026-05-16T06:30:00Z"


def test_an_external_id_replay_answers_200_with_the_first_body(api: Api, engine: Engine) -> None:
    first = api.record(external_id="order-7")
    again = api.record(external_id="order-7", email="someone-else@example.com")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert _count(engine, "record") == 1
    assert _usage(engine, api.shop.account_id) == (1, 0)


def test_a_replay_of_a_refused_record_is_refused_alike(api: Api, engine: Engine) -> None:
    assert api.record().status_code == 202
    refused = _problem(api.record(external_id="o-2"), 409, "recently_surveyed")
    again = _problem(api.record(external_id="o-2"), 409, "recently_surveyed")
    assert refused["id"] == again["id"] and isinstance(refused["id"], int)
    assert _count(engine, "record") == 2
    assert _usage(engine, api.shop.account_id) == (1, 0)
    shown = api.show(refused["id"]).json()
    assert shown == {
        "id": refused["id"],
        "external_id": "o-2",
        "status": "refused",
        "send_at": None,
        "code": "recently_surveyed",
    }


def test_an_unsubscribed_recipient_is_409_with_the_record_id(api: Api, engine: Engine) -> None:
    assert api.record(email="bo@example.com").status_code == 202
    invitation_id = _scalar(engine, "SELECT id FROM invitation")
    assert record_status.unsubscribe(engine, invitation_id, datetime(2026, 5, 14, tzinfo=UTC))

    body = _problem(api.record(email="Bo@Example.com"), 409, "unsubscribed")

    assert isinstance(body["id"], int)
    assert _usage(engine, api.shop.account_id) == (0, 0)  # the first was given back


def test_an_inactive_survey_is_409_and_stores_nothing(api: Api, engine: Engine) -> None:
    with db.write(engine) as conn:
        conn.execute(text("UPDATE survey SET active = false"))
    body = _problem(api.record(), 409, "survey_inactive")
    assert "id" not in body
    assert _count(engine, "record") == 0


def test_an_exhausted_budget_refuses_with_402_and_keeps_nothing(api: Api, engine: Engine) -> None:
    set_budget(engine, "free", 1)
    assert api.record(email="a@example.com").status_code == 202

    body = _problem(api.record(email="b@example.com", external_id="x"), 402, "budget_exhausted")

    assert "id" not in body
    assert _count(engine, "record") == 1
    assert _count(engine, "recipient") == 1
    assert _usage(engine, api.shop.account_id) == (1, 1)
    # It lapsed: no replay of a refusal that was never kept.
    set_budget(engine, "free", 2)
    assert api.record(email="b@example.com", external_id="x").status_code == 202


def test_unknown_and_other_accounts_surveys_are_404(api: Api, engine: Engine) -> None:
    other = seed(engine)
    _problem(api.record(survey_id=other.survey_id), 404, "survey_not_found")
    _problem(api.record(survey_id=999_999), 404, "survey_not_found")
    assert _count(engine, "record") == 0
    assert _count(engine, "recipient") == 0


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        ({"name": "Eve\r\nBcc: all@example.com"}, "name"),
        ({"name": "Eve\nBcc: all@example.com"}, "name"),
        ({"event": "order\rX-Header: 1"}, "event"),
        ({"properties": {"notes": "x" * 5000}}, "properties"),
        ({"properties": {f"p{i}": i for i in range(51)}}, "properties"),
        ({"properties": {"nested": {"a": 1}}}, "properties"),
        ({"properties": ["a"]}, "properties"),
        ({"email": "not an address"}, "email"),
        ({"email": "ann@example"}, "email"),
        ({"email": "ann@@example.com"}, "email"),
        ({"email": "ann@example.com\r\nBcc: all@example.com"}, "email"),
        ({"email": "<ann@example.com>"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": ""}, "email"),
        ({"email": None}, "email"),
        ({"survey_id": "one"}, "survey_id"),
        ({"survey_id": 2**64}, "survey_id"),
        ({"survey_id": "²"}, "survey_id"),
        ({"survey_id": True}, "survey_id"),
        ({"event_at": "yesterday"}, "event_at"),
        ({"event_at": "2030-01-01"}, "event_at"),
        ({"language": "deutsch!"}, "language"),
        ({"external_id": "x" * 201}, "external_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_records_are_422_naming_the_field_and_store_nothing(
    api: Api, engine: Engine, fields: dict[str, Any], wrong: str
) -> None:
    body = _problem(api.record(**fields), 422, "validation_error")
    assert wrong in {error["field"] for error in body["errors"]}, body
    assert all(error["message"] for error in body["errors"])
    assert _count(engine, "record") == 0
    assert _count(engine, "recipient") == 0
    assert _usage(engine, api.shop.account_id) == (0, 0)


def test_non_finite_numbers_in_properties_are_422(api: Api, engine: Engine) -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = (
            f'{{"survey_id": {api.shop.survey_id}, "email": "a@example.com",'
            f' "properties": {{"x": {constant}}}}}'
        )
        answer = api.client.post(
            "/api/v1/records",
            content=body.encode(),
            headers={**_auth(api.secret), "Content-Type": "application/json"},
        )
        _problem(answer, 422, "validation_error")
    assert _count(engine, "recipient") == 0


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'"record"', b"\xff\xfe", b"", b"[" * 5_000 + b"]" * 5_000]
)
def test_bodies_that_are_no_json_object_are_400(api: Api, body: bytes) -> None:
    headers = {**_auth(api.secret), "Content-Type": "application/json"}
    for path in ("/api/v1/records", "/api/v1/records/batch"):
        _problem(api.client.post(path, content=body, headers=headers), 400, "invalid_json")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/xml"]
)
def test_bodies_that_are_not_json_are_415(api: Api, engine: Engine, content_type: str) -> None:
    headers = {**_auth(api.secret), "Content-Type": content_type}
    body = f'{{"survey_id": {api.shop.survey_id}, "email": "a@example.com"}}'.encode()
    for path in ("/api/v1/records", "/api/v1/records/batch"):
        answer = api.client.post(path, content=body, headers=headers)
        _problem(answer, 415, "unsupported_media_type")
    assert _count(engine, "record") == 0


def test_json_with_a_charset_is_taken(api: Api) -> None:
    body = f'{{"survey_id": {api.shop.survey_id}, "email": "a@example.com"}}'.encode()
    headers = {**_auth(api.secret), "Content-Type": "application/json; charset=utf-8"}
    assert api.client.post("/api/v1/records", content=body, headers=headers).status_code == 202


def test_oversized_bodies_are_413(api: Api, engine: Engine) -> None:
    headers = {**_auth(api.secret), "Content-Type": "application/json"}
    padding = "x" * (16 * 1024)
    single = f'{{"survey_id": {api.shop.survey_id}, "email": "a@example.com", "name": "{padding}"}}'
    _problem(
        api.client.post("/api/v1/records", content=single.encode(), headers=headers),
        413,
        "payload_too_large",
    )
    big = b'{"records": [' + b'"' + b"x" * (8 * 1024 * 1024) + b'"]}'
    _problem(
        api.client.post("/api/v1/records/batch", content=big, headers=headers),
        413,
        "payload_too_large",
    )
    # Chunked, without a declared length, the cap holds all the same.
    chunks = iter([single[:10_000].encode(), single[10_000:].encode()])
    _problem(
        api.client.post("/api/v1/records", content=chunks, headers=headers),
        413,
        "payload_too_large",
    )
    assert _count(engine, "record") == 0


# -- keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer nbk_not-a-key-of-anyone",
        "Bearer not-even-our-shape",
        "Bearer " + "nbk_" + "x" * 500,
        "Token nbk_whatever",
    ],
)
def test_missing_or_bad_keys_are_401(api: Api, engine: Engine, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    body = {"survey_id": api.shop.survey_id, "email": "a@example.com"}
    answers = [
        api.client.post("/api/v1/records", json=body, headers=headers),
        api.client.post("/api/v1/records/batch", json={"records": [body]}, headers=headers),
        api.client.get("/api/v1/records/1", headers=headers),
    ]
    for answer in answers:
        _problem(answer, 401, "invalid_api_key")
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert _count(engine, "record") == 0
    assert _count(engine, "record_sync") == 0


def test_the_scheme_is_case_insensitive(api: Api) -> None:
    body = {"survey_id": api.shop.survey_id, "email": "a@example.com"}
    headers = {"Authorization": f"bearer {api.secret}"}
    assert api.client.post("/api/v1/records", json=body, headers=headers).status_code == 202


def test_a_revoked_key_is_401_and_another_key_still_works(api: Api, engine: Engine) -> None:
    assert api.record(email="a@example.com").status_code == 202
    second = _key(engine, api.shop.account_id, "CRM")
    key_id = _scalar(engine, "SELECT id FROM api_key WHERE name = 'Shop'")
    assert api_keys.revoke(engine, api.shop.account_id, key_id, datetime.now(UTC))

    _problem(api.record(email="b@example.com"), 401, "invalid_api_key")
    _problem(api.show(1), 401, "invalid_api_key")
    answer = api.client.post(
        "/api/v1/records",
        json={"survey_id": api.shop.survey_id, "email": "b@example.com"},
        headers=_auth(second),
    )
    assert answer.status_code == 202
    assert _scalar(engine, "SELECT source_name FROM record_sync") == "CRM"


def test_a_key_opens_only_its_own_accounts_records(
    client: TestClient, engine: Engine, api: Api
) -> None:
    other = Api(client, engine)
    mine = api.record().json()["id"]
    theirs = other.record().json()["id"]

    assert api.show(mine).status_code == 200
    _problem(api.show(theirs), 404, "record_not_found")
    _problem(other.show(mine), 404, "record_not_found")
    # Another account's survey, with a valid key, is no survey at all.
    _problem(other.record(survey_id=api.shop.survey_id), 404, "survey_not_found")


@pytest.mark.parametrize("record_id", ["0", "999999", "2147483648", "9" * 40])
def test_unknown_record_ids_are_404(api: Api, record_id: str) -> None:
    _problem(api.show(record_id), 404, "record_not_found")


@pytest.mark.parametrize("record_id", ["abc", "١٢", "-1", "1.0"])
def test_an_id_that_is_no_number_is_no_address(api: Api, record_id: str) -> None:
    _problem(api.show(record_id), 404, "not_found")


def test_a_browser_on_another_site_cannot_send_a_key(api: Api) -> None:
    """The preflight for an Authorization header is refused: keys stay on servers."""
    answer = api.client.options(
        "/api/v1/records",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert answer.status_code == 400
    assert "authorization" not in answer.headers.get("access-control-allow-headers", "").lower()


# -- looking records up --------------------------------------------------------


def test_status_follows_the_invitation(api: Api, engine: Engine) -> None:
    ids = [api.record(email=f"p{i}@example.com").json()["id"] for i in range(4)]
    sent_at = datetime(2026, 5, 14, 12, 5, 7, 123456, tzinfo=UTC)
    with db.write(engine) as conn:
        for record_id, state in zip(ids[:3], ("sent", "answered", "failed"), strict=True):
            conn.execute(
                text("UPDATE invitation SET status = :s, sent_at = :t WHERE record_id = :r"),
                {"s": state, "t": None if state == "failed" else sent_at, "r": record_id},
            )
    assert record_status.cancel(
        engine, api.shop.account_id, ids[3], datetime(2026, 5, 14, tzinfo=UTC)
    )

    shown = [api.show(record_id).json() for record_id in ids]

    assert [body["status"] for body in shown] == ["sent", "answered", "failed", "cancelled"]
    assert shown[0]["sent_at"] == shown[1]["sent_at"] == "2026-05-14T12:05:07Z"
    assert "sent_at" not in shown[2] and "sent_at" not in shown[3]
    assert all(body["send_at"] == "2026-05-14T12:00:00Z" for body in shown)
    assert all("code" not in body for body in shown)


def _answer_invitation(api: Api, record_id: int, score: int, comment: str | None) -> None:
    """The recipient answers the record's invitation on its pages, as in a browser."""
    invitation_id = _scalar(
        api.engine, "SELECT id FROM invitation WHERE record_id = :r", r=record_id
    )
    key = Signer((SECRET,), 3600).invitation_key(invitation_id)
    token_of = re.compile(r'name="display_token" value="([^"]+)"')
    page = api.client.get(f"/s/{key}?score={score}").text
    token = token_of.search(page)
    assert token
    sent = api.client.post(f"/s/{key}", data={"display_token": token.group(1), "score": str(score)})
    assert sent.status_code == 200, sent.text
    if comment is not None:
        later = token_of.search(sent.text)
        assert later
        added = api.client.post(
            f"/s/{key}/comment", data={"display_token": later.group(1), "comment": comment}
        )
        assert added.status_code == 200, added.text


def test_an_answered_record_shows_its_answer(api: Api, engine: Engine, clock: Clock) -> None:
    record_id = api.record(external_id="order-1001", event="purchase").json()["id"]
    assert "response" not in api.show(record_id).json()  # not answered yet
    clock.now += timedelta(hours=2)

    _answer_invitation(api, record_id, 3, "The parcel came late.")

    shown = api.show(record_id)
    assert shown.status_code == 200
    assert shown.json() == {
        "id": record_id,
        "external_id": "order-1001",
        "status": "answered",
        "send_at": "2026-05-14T12:00:00Z",
        "response": {
            "score": 3,
            "segment": "detractor",
            "comment": "The parcel came late.",
            "answered_at": "2026-05-14T14:00:00Z",
        },
    }
    # An answer without a comment says so.
    quiet = api.record(email="ben@example.com").json()["id"]
    _answer_invitation(api, quiet, 10, None)
    assert api.show(quiet).json()["response"] == {
        "score": 10,
        "segment": "promoter",
        "comment": None,
        "answered_at": "2026-05-14T14:00:00Z",
    }


def test_an_anonymous_surveys_record_says_answered_and_nothing_of_the_answer(
    client: TestClient, engine: Engine
) -> None:
    api = Api(client, engine, anonymous=True)
    record_id = api.record(external_id="order-7").json()["id"]

    _answer_invitation(api, record_id, 2, "Nobody should know it was me.")

    shown = api.show(record_id).json()
    assert shown == {
        "id": record_id,
        "external_id": "order-7",
        "status": "answered",
        "send_at": "2026-05-14T12:00:00Z",
    }


# -- batches -------------------------------------------------------------------


def test_a_batch_takes_each_record_on_its_own_in_order(
    api: Api, engine: Engine, client: TestClient
) -> None:
    other = seed(engine)
    assert api.record(email="recent@example.com").status_code == 202
    items: list[Any] = [
        {"survey_id": api.shop.survey_id, "email": "a@example.com", "external_id": "e1"},
        {"survey_id": api.shop.survey_id, "email": "bad", "name": "x\r\ny"},
        {"survey_id": other.survey_id, "email": "b@example.com"},
        {"survey_id": api.shop.survey_id, "email": "recent@example.com"},
        {"survey_id": api.shop.survey_id, "email": "c@example.com", "external_id": "e1"},
        "not a record",
        {"survey_id": api.shop.survey_id, "email": "d@example.com"},
    ]

    answer = api.batch(items)

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [
        "scheduled", "invalid", "refused", "refused", "scheduled", "invalid", "scheduled",
    ]  # fmt: skip
    assert results[0]["send_at"] == "2026-05-14T12:00:00Z"
    assert {e["field"] for e in results[1]["errors"]} == {"email", "name"}
    assert results[1]["code"] == "validation_error"
    assert results[2] == {"index": 2, "status": "refused", "code": "survey_not_found"}
    assert results[3]["code"] == "recently_surveyed" and isinstance(results[3]["id"], int)
    assert results[4]["id"] == results[0]["id"] and results[4]["replay"] is True
    assert results[5]["errors"][0]["field"] == "record"
    assert _usage(engine, api.shop.account_id) == (3, 0)
    assert _count(engine, "record") == 4  # three accepted, one refused as recent
    assert api.show(results[6]["id"]).json()["status"] == "scheduled"


def test_a_batch_meeting_the_end_of_the_budget_accepts_the_first(api: Api, engine: Engine) -> None:
    set_budget(engine, "free", 4)

    answer = api.batch(api.people(10))

    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["scheduled"] * 4 + ["refused"] * 6
    assert all(r["code"] == "budget_exhausted" and "id" not in r for r in results[4:])
    assert _usage(engine, api.shop.account_id) == (4, 6)
    assert _count(engine, "invitation") == 4
    emails = _scalar(engine, "SELECT count(*) FROM recipient WHERE email LIKE 'person%'")
    assert emails == 4


def test_a_batch_over_the_maximum_is_422_and_stores_nothing(api: Api, engine: Engine) -> None:
    body = _problem(api.batch(api.people(records.BATCH_MAX + 1)), 422, "validation_error")

    assert "1,000" in body["detail"] and "1,001" in body["detail"]
    assert body["errors"][0]["field"] == "records"
    assert _count(engine, "record") == 0
    assert _count(engine, "record_sync") == 0
    assert _usage(engine, api.shop.account_id) == (0, 0)


def test_a_batch_of_exactly_the_maximum_is_taken(api: Api, engine: Engine) -> None:
    # Mostly records without an address, which cost no database work.
    items = [*api.people(2), *({"survey_id": 1} for _ in range(records.BATCH_MAX - 2))]
    answer = api.batch(items)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert Counter(r["status"] for r in results) == {
        "scheduled": 2,
        "invalid": records.BATCH_MAX - 2,
    }
    assert results[-1]["index"] == records.BATCH_MAX - 1
    assert _usage(engine, api.shop.account_id) == (2, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "records"),
        ({"records": {"survey_id": 1}}, "records"),
        ({"records": None}, "records"),
        ({"records": [], "dry_run": True}, "dry_run"),
    ],
)
def test_a_malformed_batch_is_422(
    api: Api, engine: Engine, body: dict[str, Any], field: str
) -> None:
    answer = api.client.post("/api/v1/records/batch", json=body, headers=_auth(api.secret))
    problem = _problem(answer, 422, "validation_error")
    assert problem["errors"][0]["field"] == field
    assert _count(engine, "record_sync") == 0


def test_an_empty_batch_answers_no_results(api: Api, engine: Engine) -> None:
    answer = api.batch([])
    assert answer.status_code == 200
    assert answer.json() == {"results": []}


# -- rate limits ---------------------------------------------------------------


def test_the_rate_limit_counts_per_key_and_a_batch_once(
    settings: Settings, engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    limited = settings.replace(rate_limit_enabled=True, rate_limit_records="3/minute")
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        first = Api(client, engine, tariff="basic")
        second = Api(client, engine)
        caplog.set_level(logging.WARNING)
        codes = [
            first.record(email="a@example.com").status_code,
            first.batch(first.people(50)).status_code,
            first.record(email="b@example.com").status_code,
        ]
        refused = first.record(email="c@example.com")
        # Another key of the same client has its own window; lookups too.
        other = second.record(email="a@example.com").status_code
        lookup = first.show(1).status_code
        storage = client.app.state.limiter._storage  # type: ignore[attr-defined]
        storage_keys = [*storage.storage, *storage.events]

    assert codes == [202, 200, 202]
    body = _problem(refused, 429, "rate_limited")
    assert "API key" in body["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (other, lookup) == (202, 200)
    assert _count(engine, "record") == 53
    # The secrets never reach the limiter's storage or the log.
    assert storage_keys
    for secret in (first.secret, second.secret):
        assert not any(secret in key for key in storage_keys)
        assert secret not in caplog.text
        assert secret[4:20] not in caplog.text


def test_requests_without_a_key_count_as_failures_per_address(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    limited = settings.replace(rate_limit_enabled=True, rate_limit_api_key_failures="2/minute")
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        codes = [client.post("/api/v1/records", json={}).status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def _key_lookups(engine: Engine) -> list[str]:
    """Every statement that reads the api_key table, as the engine sends them."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_key" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    return seen


def _addresses() -> tuple[str, str]:
    # Unique per run: a shared Redis may hold the windows of other runs.
    run = secrets.randbelow(2**16)
    return f"198.51.{run >> 8}.{run & 255}", f"203.0.{run >> 8}.{run & 255}"


@pytest.mark.parametrize("storage", ["memory", "redis", "redis away"])
def test_failed_keys_are_limited_per_address_before_any_lookup(
    settings: Settings, engine: Engine, clock: Clock, storage: str
) -> None:
    if storage == "redis":
        require(bool(REDIS_URL), "TEST_REDIS_URL is not set (a Redis for shared limits)")
    # With Redis away the limits hold in memory, and nothing answers 500.
    urls = {
        "memory": "memory://",
        "redis": make_url_db(REDIS_URL, 13),
        "redis away": f"redis://127.0.0.1:{free_port()}/0",
    }
    limited = settings.replace(
        rate_limit_enabled=True,
        rate_limit_records="100/minute",
        rate_limit_api_key_failures="5/minute",
        rate_limit_storage_url=urls[storage],
    )
    app = build_app(limited, clock=clock, engine=engine)
    here, there = _addresses()
    with (
        TestClient(app, client=(here, 40000)) as guesser,
        TestClient(app, client=(there, 40000)) as neighbour,
    ):
        shop = Api(guesser, engine)
        assert shop.record(email="before@example.com").status_code == 202
        lookups = _key_lookups(engine)
        bogus = [
            guesser.post(
                "/api/v1/records",
                json={"survey_id": shop.shop.survey_id, "email": "x@example.com"},
                headers=_auth(f"nbk_{secrets.token_urlsafe(32)}"),
            )
            for _ in range(8)
        ]
        assert [a.status_code for a in bogus] == [401] * 5 + [429] * 3
        # Past the limit no key is looked up: the three 429s cost no query.
        assert len(lookups) == 5
        for refused in bogus[5:]:
            body = _problem(refused, 429, "rate_limited")
            assert "invalid API keys" in body["detail"]
            assert 1 <= int(refused.headers["retry-after"]) <= 60
        lookup = guesser.get("/api/v1/records/1", headers=_auth("nbk_guess"))
        assert lookup.status_code == 429
        assert guesser.post("/api/v1/records", json={}).status_code == 429  # no key at all

        # Another address has a window of its own.
        other = neighbour.post("/api/v1/records", json={}, headers=_auth("nbk_wrong"))
        assert other.status_code == 401
        # The valid key keeps working, from the other address and from this one,
        # where it was used within its window.
        neighbour.headers.update(_auth(shop.secret))
        listed = neighbour.post(
            "/api/v1/records", json={"survey_id": shop.shop.survey_id, "email": "b@example.com"}
        )
        assert listed.status_code == 202
        assert shop.record(email="after@example.com").status_code == 202
        assert shop.show(listed.json()["id"]).status_code == 200


# -- against real servers -----------------------------------------------------


def _workers(settings: Settings) -> int:
    # SQLite serialises writers on one file; PostgreSQL is the many-worker path.
    return 4 if settings.db_url.startswith("postgresql") else 2


def _fire(base: str, secret: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every body at once, each on a connection of its own."""

    async def send() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(http.post("/api/v1/records", json=b, headers=_auth(secret)) for b in bodies)
                )
            )

    # In a thread of its own: the browser tests keep an event loop running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, send()).result()


def _this_period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@pytest.mark.server
def test_with_4_left_8_records_at_once_over_http_accept_4(
    live_server: Any, engine: Engine, settings: Settings
) -> None:
    shop = seed(engine)
    secret = _key(engine, shop.account_id)
    set_budget(engine, "free", 4)
    base = live_server(workers=_workers(settings))
    bodies = [{"survey_id": shop.survey_id, "email": f"person{i}@example.com"} for i in range(8)]

    answers = _fire(base, secret, bodies)

    assert Counter(a.status_code for a in answers) == {202: 4, 402: 4}
    assert all(a.json()["code"] == "budget_exhausted" for a in answers if a.status_code == 402)
    assert _count(engine, "invitation") == 4
    assert _usage(engine, shop.account_id, _this_period()) == (4, 4)
    # Each refusal is listed once for the admin, and only the refused.
    with db.read(engine) as conn:
        listed = conn.execute(text("SELECT email, reason FROM refused_record")).all()
        invited = conn.execute(
            text("SELECT r.email FROM invitation i JOIN recipient r ON r.id = i.recipient_id")
        ).scalars()
        assert {reason for _, reason in listed} == {"budget_exhausted"}
        assert sorted([email for email, _ in listed] + list(invited)) == sorted(
            body["email"] for body in bodies
        )


@pytest.mark.server
def test_two_records_for_one_address_at_once_over_http_give_one_invitation(
    live_server: Any, engine: Engine, settings: Settings
) -> None:
    shop = seed(engine)
    secret = _key(engine, shop.account_id)
    base = live_server(workers=_workers(settings))
    # Spellings of one mailbox: case, the domain's A-label, a decomposed accent.
    for email, twin in [
        ("same0@example.com", "SAME0@EXAMPLE.COM"),
        ("same1@bücher.de", "Same1@xn--bcher-kva.de"),
        ("josé2@example.com", "jose\u03012@example.com"),
        ("same3@example.com", "same3@Example.com"),
        ("same4@MÜNCHEN.de", "same4@xn--mnchen-3ya.de"),
    ]:
        bodies = [
            {"survey_id": shop.survey_id, "email": email},
            {"survey_id": shop.survey_id, "email": twin},
        ]
        answers = _fire(base, secret, bodies)
        assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 409).json()
        assert refused["code"] == "recently_surveyed"
    assert _count(engine, "invitation") == 5
    assert _usage(engine, shop.account_id, _this_period()) == (5, 0)


@pytest.mark.server
def test_the_per_key_rate_limit_on_a_real_server(live_server: Any, engine: Engine) -> None:
    shop = seed(engine, tariff="basic")
    first, second = _key(engine, shop.account_id, "Shop"), _key(engine, shop.account_id, "CRM")
    base = live_server(RATE_LIMIT_ENABLED="true", RATE_LIMIT_RECORDS="3/minute")

    def send(secret: str, count: int) -> list[int]:
        with httpx.Client(base_url=base, headers=_auth(secret)) as http:
            return [
                http.post(
                    "/api/v1/records",
                    json={"survey_id": shop.survey_id, "email": f"{secret[-6:]}{i}@example.com"},
                ).status_code
                for i in range(count)
            ]

    assert send(first, 5) == [202, 202, 202, 429, 429]
    assert send(second, 4) == [202, 202, 202, 429]
    with httpx.Client(base_url=base, headers=_auth(first)) as http:
        refused = http.post("/api/v1/records/batch", json={"records": []})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert _count(engine, "record") == 6


def _guess(base: str, forwarded_for: str | None = None) -> int:
    headers = _auth(f"nbk_{secrets.token_urlsafe(32)}")
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    with httpx.Client(base_url=base) as http:
        return http.post("/api/v1/records", json={}, headers=headers).status_code


@pytest.mark.server
def test_failed_keys_count_per_address_as_the_proxy_settings_give_it(
    live_server: Any, engine: Engine
) -> None:
    limits = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_API_KEY_FAILURES": "3/minute"}
    here, there = _addresses()
    # Behind a trusted proxy each forwarded client has a window of its own.
    trusted = live_server(FORWARDED_ALLOW_IPS="127.0.0.1", **limits)
    assert [_guess(trusted, here) for _ in range(5)] == [401] * 3 + [429] * 2
    assert _guess(trusted, there) == 401
    # From a peer that is no trusted proxy the header picks no fresh window.
    direct = live_server(FORWARDED_ALLOW_IPS="", **limits)
    assert [_guess(direct, f"192.0.2.{i}") for i in range(5)] == [401] * 3 + [429] * 2


@pytest.mark.server
def test_failed_keys_share_one_window_across_workers_through_redis(
    live_server: Any, engine: Engine
) -> None:
    require(bool(REDIS_URL), "TEST_REDIS_URL is not set (a Redis for shared limits)")
    limits = {
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_API_KEY_FAILURES": "4/minute",
        "RATE_LIMIT_STORAGE_URL": make_url_db(REDIS_URL, 13),
    }
    servers = [live_server(**limits) for _ in range(2)]
    here, _there = _addresses()
    codes = [_guess(servers[i % 2], here) for i in range(8)]
    assert codes == [401] * 4 + [429] * 4


def test_each_use_of_a_key_is_noted(api: Api, engine: Engine, clock: Clock) -> None:
    assert _last_used(engine) is None
    api.record()
    assert _last_used(engine) == clock.now
    clock.now += timedelta(hours=1)
    api.show(1)
    assert _last_used(engine) == clock.now


def _last_used(engine: Engine) -> datetime | None:
    return api_keys.list_for_account(engine, 1)[0].last_used_at
