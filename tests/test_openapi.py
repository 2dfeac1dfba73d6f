"""The API's OpenAPI document: valid OpenAPI 3.1, naming every route under
/api/v1 and nothing else, served cacheably across origins; and schemathesis
against a real server, so every answer the server gives is one the document
describes and none is a 5xx."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV31SpecValidator
from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from app.accounts import api_keys
from app.answers import responses
from app.invitations import records
from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.web import records_api, widget_api
from tests.conftest import SECRET, seed, set_budget

API = "/api/v1"


def _document(client: TestClient) -> dict[str, Any]:
    answer = client.get(f"{API}/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document: dict[str, Any] = answer.json()
    return document


def _api_routes(client: TestClient) -> set[tuple[str, str]]:
    mount = next(
        route
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Mount) and route.path == API
    )
    found = set()
    for route in mount.routes:
        assert isinstance(route, Route), route
        # Starlette adds HEAD to every GET; the document names the GET.
        for method in (route.methods or set()) - {"HEAD"}:
            found.add((route.path, method.lower()))
    return found


def test_the_document_is_valid_openapi_3_1(client: TestClient) -> None:
    document = _document(client)

    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()
    assert document["servers"] == [{"url": API}]


def test_every_route_under_the_api_is_documented_and_nothing_else(client: TestClient) -> None:
    document = _document(client)
    documented = {(path, method) for path, item in document["paths"].items() for method in item}

    assert documented == _api_routes(client)
    assert len(documented) >= 6


def test_limits_come_from_the_code(client: TestClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    paths = _document(client)["paths"]

    assert schemas["Batch"]["properties"]["records"]["maxItems"] == records.BATCH_MAX
    record = schemas["Record"]["properties"]
    assert record["email"]["maxLength"] == records.EMAIL_MAX
    assert record["properties"]["anyOf"][0]["maxProperties"] == records.PROPERTIES_MAX_KEYS
    comment = schemas["Submission"]["properties"]["comment"]["anyOf"][0]
    assert comment["maxLength"] == responses.COMMENT_MAX
    locale = schemas["Submission"]["properties"]["locale"]["anyOf"][0]
    assert locale["pattern"] == widget_api.LOCALE.pattern
    too_large = paths["/records/batch"]["post"]["responses"]["413"]["description"]
    assert f"{records_api.BATCH_BODY_LIMIT:,}" in too_large
    # Both bodies the widget may send are described.
    assert set(paths["/responses"]["post"]["requestBody"]["content"]) == {
        "application/json",
        "text/plain",
    }


def test_the_document_is_cacheable_and_open_to_other_origins(client: TestClient) -> None:
    answer = client.get(f"{API}/openapi.json", headers={"Origin": "https://docs.example"})

    assert answer.headers["access-control-allow-origin"] == "*"
    assert "max-age" in answer.headers["cache-control"]
    etag = answer.headers["etag"]
    again = client.get(f"{API}/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    stale = client.get(f"{API}/openapi.json", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200


# -- schemathesis against a real server ----------------------------------------

# Per operation and generation mode: about 500 requests per database, the
# same ones each run. API_FUZZ_EXAMPLES=N explores N fresh random ones instead.
EXPLORE = os.environ.get("API_FUZZ_EXAMPLES", "")
EXAMPLES = int(EXPLORE) if EXPLORE.isdigit() else 40


@pytest.mark.server
def test_the_real_server_answers_as_documented(live_server: Any, engine: Engine) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    # Small budgets, one account for the widget and one for records: some
    # answers and records are counted, later ones meet the exhausted budget,
    # so both sides of the rule are exercised.
    set_budget(engine, "free", 5)
    set_budget(engine, "basic", 15)
    shop = seed(engine, tariff="free")
    crm = seed(engine, tariff="basic")
    with db.write(engine) as conn:
        _stored, secret = api_keys.create(conn, crm.account_id, "CRM", datetime.now(UTC))
    signer = Signer((SECRET,), 3600)
    base = live_server()
    # Loaded as data: schemathesis leaves out the operation a schema was
    # fetched from, and this one should be exercised like the others.
    schema = schemathesis.openapi.from_dict(httpx.get(f"{base}{API}/openapi.json").json())
    schema.config.update(base_url=f"{base}{API}")
    checks = _checks()
    used_tokens: list[str] = []
    record_ids: list[int] = []
    statuses: dict[str, set[int]] = {}

    def real_values(case: Any, data: st.DataObject) -> None:
        """Keys, tokens and ids that get generated requests past the checks of
        who may ask, so the handlers' deeper answers are exercised too."""
        name = case.operation.definition.raw.get("operationId")
        real = data.draw(st.integers(0, 9), label="real") < 8
        if name == "getWidgetConfig" and real:
            case.path_parameters["embed_key"] = shop.embed_key
        elif name == "submitResponse" and real:
            reuse = used_tokens and data.draw(st.booleans(), label="reuse token")
            token = used_tokens[-1] if reuse else signer.display_token(shop.survey_id, "widget")
            used_tokens.append(token)
            if isinstance(case.body, dict):
                case.body["display_token"] = token
                # The survey asks no follow-up questions: any answers are a 422.
                case.body.pop("answers", None)
            elif isinstance(case.body, str):
                score = data.draw(st.integers(-1, 11), label="score")
                case.body = json.dumps({"display_token": token, "score": score})
        elif name in {"createRecord", "createRecords", "getRecord"}:
            if real:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {secret}"}
            if name == "createRecord" and isinstance(case.body, dict) and real:
                case.body["survey_id"] = crm.survey_id
            items = case.body.get("records") if isinstance(case.body, dict) else None
            if name == "createRecords" and isinstance(items, list) and real:
                for item in items:
                    if isinstance(item, dict):
                        item["survey_id"] = crm.survey_id
            if name == "getRecord" and record_ids and data.draw(st.booleans(), label="known"):
                case.path_parameters["record_id"] = data.draw(st.sampled_from(record_ids))

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and operation.path == "/openapi.json":
                continue  # one free-text header: no request to it can be invalid

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=not EXPLORE,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            def exchange(case: Any, data: st.DataObject) -> None:
                real_values(case, data)
                answer = case.call_and_validate(checks=checks)
                statuses.setdefault(case.operation.label, set()).add(answer.status_code)
                if answer.status_code in (200, 202) and case.path == "/records":
                    record_ids.append(answer.json()["id"])

            exchange()

    # The run went past authentication and validation into the handlers.
    assert {201, 402} <= statuses["POST /responses"]
    assert {202, 401, 422} <= statuses["POST /records"]
    assert {200, 404} <= statuses["GET /records/{record_id}"]
    assert 200 in statuses["GET /widget/{embed_key}"]
    assert 200 in statuses["GET /openapi.json"]


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]


def test_answers_fuzzing_rarely_reaches_are_documented_too(
    settings: Settings, engine: Engine, clock: Any
) -> None:
    """Wrong media types, oversized bodies, bad keys, a refused origin, a full
    rate-limit window and a revalidation, each checked against the document."""
    import schemathesis

    limited = settings.replace(
        rate_limit_enabled=True, rate_limit_widget="2/minute", rate_limit_records="2/minute"
    )
    shop = seed(engine, origins=["https://shop.example"])
    with db.write(engine) as conn:
        _stored, secret = api_keys.create(conn, shop.account_id, "Shop", datetime.now(UTC))
    auth = {"Authorization": f"Bearer {secret}"}
    token = Signer((SECRET,), 3600).display_token(shop.survey_id, "widget")
    app = build_app(limited, clock=clock, engine=engine)
    with TestClient(app, base_url="http://testserver") as client:
        schema = schemathesis.openapi.from_dict(_document(client))
        etag = client.get(f"{API}/openapi.json").headers["etag"]
        too_many = {"records": [{"survey_id": 1, "email": "a@b.example"}] * 1_001}
        exchanges: list[tuple[str, str, int, dict[str, Any]]] = [
            ("GET", "/openapi.json", 304, {"headers": {"If-None-Match": etag}}),
            ("POST", "/responses", 415, {"content": b"{}", "headers": {"Content-Type": "a/b"}}),
            ("POST", "/responses", 413, {"content": b" " * (widget_api.BODY_LIMIT + 1)}),
            (
                "POST",
                "/responses",
                403,
                {
                    "json": {"display_token": token, "score": 9},
                    "headers": {"Origin": "https://elsewhere.example"},
                },
            ),
            ("POST", "/records", 401, {"json": {}}),
            ("POST", "/records", 401, {"json": {}, "headers": {"Authorization": "Bearer nbk_x"}}),
            ("POST", "/records", 415, {"content": b"{}", "headers": auth}),
            ("POST", "/records/batch", 422, {"json": too_many, "headers": auth}),
            ("POST", "/records/batch", 429, {"json": {"records": []}, "headers": auth}),
            ("GET", "/records/{record_id}", 404, {"path": {"record_id": 7}, "headers": auth}),
            ("GET", "/widget/{embed_key}", 200, {"path": {"embed_key": shop.embed_key}}),
            ("GET", "/widget/{embed_key}", 200, {"path": {"embed_key": shop.embed_key}}),
            ("GET", "/widget/{embed_key}", 429, {"path": {"embed_key": shop.embed_key}}),
        ]
        for method, path, status, request in exchanges:
            parameters = request.pop("path", {})
            url = API + path.format(**parameters)
            answer = client.request(method, url, **request)
            assert answer.status_code == status, (method, url, answer.text)
            case = schema[path][method].Case(path_parameters=parameters)
            case.validate_response(answer, checks=_checks())


# -- what fuzzing found --------------------------------------------------------


@pytest.fixture
def keyed(client: TestClient, engine: Engine) -> tuple[Any, dict[str, str]]:
    shop = seed(engine)
    with db.write(engine) as conn:
        _stored, secret = api_keys.create(conn, shop.account_id, "Shop", datetime.now(UTC))
    return shop, {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "\\ud800"}',
        '{"external_id": "x\\udfff"}',
        '{"properties": {"a": "\\ud83d"}}',
        '{"email": "a@b.example\\udc00"}',
    ],
)
def test_a_lone_surrogate_escape_is_refused_not_stored(
    client: TestClient, keyed: tuple[Any, dict[str, str]], raw: str
) -> None:
    shop, headers = keyed
    fields = raw[1:-1]
    body = f'{{"survey_id": {shop.survey_id}, "email": "ann@example.com", {fields}}}'
    body = body.replace('"email": "ann@example.com", "email"', '"email"')

    answer = client.post(f"{API}/records", content=body.encode(), headers=headers)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_json"


def test_a_whole_escaped_pair_is_text_like_any_other(
    client: TestClient, keyed: tuple[Any, dict[str, str]]
) -> None:
    shop, headers = keyed
    body = (
        f'{{"survey_id": {shop.survey_id}, "email": "ann@example.com", "name": "\\ud83d\\ude00"}}'
    )

    answer = client.post(f"{API}/records", content=body.encode(), headers=headers)

    assert answer.status_code == 202, answer.text


def test_a_comment_with_a_lone_surrogate_is_refused(
    client: TestClient, keyed: tuple[Any, dict[str, str]]
) -> None:
    shop, _headers = keyed
    token = Signer((SECRET,), 3600).display_token(shop.survey_id, "widget")
    body = f'{{"display_token": "{token}", "score": 9, "comment": "nice \\udead"}}'

    answer = client.post(
        f"{API}/responses", content=body.encode(), headers={"Content-Type": "text/plain"}
    )

    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_json"


def test_a_page_url_with_control_characters_is_refused(
    client: TestClient, keyed: tuple[Any, dict[str, str]]
) -> None:
    shop, _headers = keyed
    token = Signer((SECRET,), 3600).display_token(shop.survey_id, "widget")
    body = {"display_token": token, "score": 9, "page_url": "https://shop.example/\x00a"}

    answer = client.post(f"{API}/responses", json=body)

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "page_url"


def test_an_event_time_before_the_calendar_begins_is_refused(
    client: TestClient, keyed: tuple[Any, dict[str, str]]
) -> None:
    shop, headers = keyed
    body = {
        "survey_id": shop.survey_id,
        "email": "ann@example.com",
        "event_at": "0001-01-01T00:00:00+01:00",
    }

    answer = client.post(f"{API}/records", content=json.dumps(body), headers=headers)

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "event_at"


def test_properties_with_nul_characters_are_kept_on_every_database(
    client: TestClient, keyed: tuple[Any, dict[str, str]]
) -> None:
    shop, headers = keyed
    body = {
        "survey_id": shop.survey_id,
        "email": "ann@example.com",
        "properties": {"plan\x00": "gold\x00"},
    }

    answer = client.post(f"{API}/records", content=json.dumps(body), headers=headers)

    assert answer.status_code == 202, answer.text
