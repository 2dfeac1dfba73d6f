"""The API's OpenAPI document: valid OpenAPI 3.1, naming every route under
/api/v1 and nothing else, served cacheably across origins; and schemathesis
against a real server, so every answer the server gives is one the document
describes and none is a 5xx."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from app.invitations import record_in, records
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
            # The document names a parameter without its convertor ({id:int}).
            found.add((re.sub(r":\w+}", "}", route.path), method.lower()))
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
    assert record["email"]["maxLength"] == record_in.EMAIL_MAX
    assert record["properties"]["anyOf"][0]["maxProperties"] == record_in.PROPERTIES_MAX_KEYS
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
    from schemathesis.core.parameters import ParameterLocation

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
    base = live_server(ENVIRONMENT="production")
    # Loaded as data: schemathesis leaves out the operation a schema was
    # fetched from, and this one should be exercised like the others.
    schema = schemathesis.openapi.from_dict(httpx.get(f"{base}{API}/openapi.json").json())
    schema.config.update(base_url=f"{base}{API}")
    # A used-up budget refuses well-formed data on purpose: the business rule,
    # which no schema can state, is exercised here too.
    accepted = schema.config.checks.positive_data_acceptance
    accepted.expected_statuses = [*(accepted.expected_statuses or []), "402"]
    checks = _checks()
    answered_tokens: list[str] = []  # displays the server stored an answer for
    record_ids: list[int] = []
    statuses: dict[str, set[int]] = {}

    def real_values(case: Any, data: st.DataObject) -> dict[str, str]:
        """Keys, tokens and ids that get generated requests past the checks of
        who may ask, so the handlers' deeper answers are exercised too. What
        a schema cannot state (a token's signature, which questions a survey
        asks, how far ahead today is) is made real wherever the generated
        value is well-formed, so a malformed request stays malformed. Returns
        the headers to send besides: an API key, given as the client's own."""
        name = case.operation.definition.raw.get("operationId")
        positive = case.meta.generation.mode is GenerationMode.POSITIVE
        real = positive or data.draw(st.integers(0, 9), label="real") < 8
        body = case.body if isinstance(case.body, dict) else {}
        if name == "getWidgetConfig" and real:
            case.path_parameters["embed_key"] = shop.embed_key
        elif name == "submitResponse" and isinstance(body.get("display_token"), str):
            # Drawn whatever the state, so a replay draws the same kinds of values.
            reuse = data.draw(st.booleans(), label="reuse token") and bool(answered_tokens)
            score = data.draw(st.integers(0, 10), label="score")
            token = answered_tokens[-1] if reuse else signer.display_token(shop.survey_id, "widget")
            if body["display_token"]:
                body["display_token"] = token
            # A display's first submission needs its score; a later one may bring words alone.
            if not reuse and positive and body.get("score") is None:
                body["score"] = score
            # The survey asks no follow-up questions: any answers are a 422.
            if positive:
                body.pop("answers", None)
        elif name in {"createRecord", "createRecords", "getRecord"}:
            items = body.get("records") if name == "createRecords" else [body]
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict):
                    continue
                survey_id = item.get("survey_id")
                if type(survey_id) is int and 0 < survey_id <= record_in.ID_MAX:
                    item["survey_id"] = crm.survey_id
                _within_a_year(item)
            known = data.draw(st.integers(0, 2**20), label="known record")
            if name == "getRecord" and positive and record_ids and known % 2:
                case.path_parameters["record_id"] = record_ids[known % len(record_ids)]
            if real and not case.meta.is_negative_at(ParameterLocation.HEADER):
                return {"Authorization": f"Bearer {secret}"}
        return {}

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
                answer = case.call_and_validate(checks=checks, headers=real_values(case, data))
                statuses.setdefault(case.operation.label, set()).add(answer.status_code)
                if answer.status_code in (200, 202) and case.path == "/records":
                    record_ids.append(answer.json()["id"])
                if answer.status_code in (200, 201) and case.path == "/responses":
                    answered_tokens.append(case.body["display_token"])

            exchange()

    # The run went past authentication and validation into the handlers.
    assert {201, 402} <= statuses["POST /responses"]
    assert {202, 401, 422} <= statuses["POST /records"]
    assert {200, 404} <= statuses["GET /records/{record_id}"]
    assert 200 in statuses["GET /widget/{embed_key}"]
    assert 200 in statuses["GET /openapi.json"]


@pytest.mark.server
def test_schemathesis_with_every_check_in_every_phase(
    live_server: Any, engine: Engine, tmp_path: Path
) -> None:
    """The command line run the way an outsider would run it (`-c all`, a
    server in production mode), with the phases the loop above has not:
    schema examples, coverage (boundaries, undeclared methods, missing
    headers) and stateful chains (a record created, then looked up). The
    budget is ample: the loop above exercises the used-up one."""
    set_budget(engine, "free", 1_000_000)
    set_budget(engine, "basic", 1_000_000)
    shop = seed(engine, tariff="free")
    crm = seed(engine, tariff="basic")
    with db.write(engine) as conn:
        _stored, secret = api_keys.create(conn, crm.account_id, "CRM", datetime.now(UTC))
    base = live_server(ENVIRONMENT="production")
    # From a file: schemathesis leaves out the operation a schema was fetched from.
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{base}{API}/openapi.json").content)
    facts = {
        "embed_key": shop.embed_key,
        "shop_survey_id": shop.survey_id,
        "crm_survey_id": crm.survey_id,
    }
    run = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "run", str(document)),
            *("--url", f"{base}{API}", "--checks", "all", "--workers", "1"),
            *("--phases", "examples,coverage,stateful", "--max-examples", str(EXAMPLES)),
            *("--header", f"Authorization: Bearer {secret}", "--suppress-health-check", "all"),
            *(() if EXPLORE else ("--seed", "1")),
        ],
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            "NPS_BEACON_FUZZ": json.dumps(facts),
        },
        cwd=tmp_path,  # where it keeps its cache
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "failures" not in run.stdout.splitlines()[-1], run.stdout[-3000:]


def _within_a_year(record: dict[str, Any]) -> None:
    """A generated ``event_at`` more than a year ahead moved to today: the
    document says how far ahead an event may be, but JSON Schema has no word
    for "within a year from now"."""
    moment = record.get("event_at")
    if not isinstance(moment, str) or not moment:
        return
    try:
        when = datetime.fromisoformat(moment.upper().replace(":60", ":59"))
    except ValueError:
        return  # no date at all: the server's to refuse
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when > datetime.now(UTC) + record_in.FUTURE_LIMIT - timedelta(days=2):
        record["event_at"] = datetime.now(UTC).date().isoformat()


def _checks() -> list[Any]:
    """Every check schemathesis has (its `-c all`)."""
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    return list(CHECKS.get_all())


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


# -- what the document promises, the server keeps --------------------------------

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A concrete address for each documented path.
ADDRESSES = {
    "/openapi.json": "/openapi.json",
    "/widget/{embed_key}": "/widget/anything",
    "/responses": "/responses",
    "/records": "/records",
    "/records/batch": "/records/batch",
    "/records/{record_id}": "/records/7",
}


def test_an_undeclared_method_is_a_405_naming_the_declared_ones(client: TestClient) -> None:
    paths = _document(client)["paths"]
    assert set(paths) == set(ADDRESSES)

    for path, operations in paths.items():
        declared = {method.upper() for method in operations}
        allowed = declared | ({"HEAD"} if "GET" in declared else set())
        for method in set(METHODS) - declared:
            answer = client.request(method, API + ADDRESSES[path])
            assert answer.status_code == 405, (method, path, answer.text)
            assert set(answer.headers["allow"].split(", ")) == allowed, (method, path)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "method_not_allowed"


def _schema_valid(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> bool:
    """Whether ``instance`` fits ``schema`` (which may refer into the
    document), formats included, by the validator schemathesis uses (its
    patterns are ECMA 262's: ``$`` is the end, never before a line break)."""
    import jsonschema_rs

    # The document as the root, so references resolve; its other keys are no keywords.
    validator = jsonschema_rs.Draft202012Validator({**document, **schema}, validate_formats=True)
    return bool(validator.is_valid(instance))


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# Each was valid by the document once and refused by the server: now the
# document refuses it, or the server takes it.
RECORD_EXTRAS: list[dict[str, Any]] = [
    {"language": "\x14S"},
    {"event_at": "soon"},
    {"event_at": "2020-01-02t10:00:00z"},  # RFC 3339 allows lower case
    {"event_at": "2016-12-31T23:59:60Z"},  # and a leap second
    {"event_at": "0001-01-01T00:30:00+01:00"},  # before the calendar, in UTC
    {"external_id": 12.0},
    {"name": "Ann\n"},
    {"event": "order\x00"},
    {"properties": {"\u00a0": 1}},
]
SUBMISSION_EXTRAS: list[dict[str, Any]] = [
    {"page_url": "http://[shop/"},
    {"page_url": "http://?q=1"},
    {"page_url": "https://shop.example/\x00"},
    {"locale": "de\n"},
    {"score": 9.0},
]


@pytest.mark.parametrize("extra", RECORD_EXTRAS, ids=repr)
def test_a_record_the_document_takes_the_server_takes(
    client: TestClient, keyed: tuple[Any, dict[str, str]], extra: dict[str, Any]
) -> None:
    shop, headers = keyed
    record = {"survey_id": shop.survey_id, "email": "ann@example.com", **extra}

    answer = client.post(f"{API}/records", content=json.dumps(record), headers=headers)

    if _schema_valid(_document(client), _ref("Record"), record):
        assert answer.status_code == 202, answer.text
    else:
        assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("extra", SUBMISSION_EXTRAS, ids=repr)
def test_a_submission_the_document_takes_the_server_takes(
    client: TestClient, keyed: tuple[Any, dict[str, str]], extra: dict[str, Any]
) -> None:
    shop, _headers = keyed
    token = Signer((SECRET,), 3600).display_token(shop.survey_id, "widget")
    body = {"display_token": token, "score": 9, **extra}

    answer = client.post(f"{API}/responses", content=json.dumps(body))

    if _schema_valid(_document(client), _ref("Submission"), body):
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 422, answer.text


def test_a_record_id_sent_as_a_whole_float_is_taken(
    client: TestClient, keyed: tuple[Any, dict[str, str]]
) -> None:
    shop, headers = keyed
    record = {"survey_id": float(shop.survey_id), "email": "ann@example.com"}
    assert _schema_valid(_document(client), _ref("Record"), record)

    answer = client.post(f"{API}/records", content=json.dumps(record), headers=headers)

    assert answer.status_code == 202, answer.text


def test_a_plain_text_submission_is_a_json_object_by_the_document(client: TestClient) -> None:
    document = _document(client)
    plain = document["paths"]["/responses"]["post"]["requestBody"]["content"]["text/plain"]

    for body in ("", "not json", "[]"):
        assert not _schema_valid(document, plain["schema"], body)
        answer = client.post(
            f"{API}/responses", content=body, headers={"Content-Type": "text/plain"}
        )
        assert answer.status_code == 400
