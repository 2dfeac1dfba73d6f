"""The public API's contract: an OpenAPI 3.1 document for everything under
``/api/v1``, served at ``/api/v1/openapi.json``.

Every limit in it is read from the constant the server enforces (the domain's
field limits here, the handlers' body limits handed in by the route table, as
web modules do not import each other), so the document cannot drift from the
code. Each request and answer body is one ``*_fields`` function below: a new
field is one entry there.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.invitations import record_in, records
from app.web.openapi_responses import (
    BAD_KEY,
    HEADERS,
    NOT_JSON,
    UNAVAILABLE,
    answer_schema,
    invalid,
    problem,
    rate_limited,
    ref,
    too_large,
    unsupported,
)
from app.web.openapi_schemas import Limits, schemas

VERSION = "1"


def routes(limits: Limits) -> list[BaseRoute]:
    # Built once: the document changes only with the code.
    body = json.dumps(document(limits), ensure_ascii=False, sort_keys=True).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}

    def serve(request: Request) -> Response:
        wanted = request.headers.get("if-none-match", "")
        if etag in (tag.strip().removeprefix("W/") for tag in wanted.split(",")):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return [Route("/openapi.json", serve, methods=["GET"])]


# -- the document ------------------------------------------------------------


def document(limits: Limits) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nps-beacon API",
            "version": VERSION,
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        # Relative: the paths below are under /api/v1 of whichever host serves this.
        "servers": [{"url": "/api/v1"}],
        "paths": _paths(limits),
        "components": {
            "schemas": schemas(limits),
            "headers": HEADERS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key an account's admin created (nbk_...).",
                }
            },
        },
    }


_DESCRIPTION = (
    "The widget's API (configuration and submissions, callable from any site: CORS `*`, "
    "no credentials, only `Content-Type` may be added) and the records API for "
    "integrations (Bearer API keys, meant for servers). Every error is an RFC 9457 "
    "`application/problem+json` document whose `code` names the case and whose "
    "`request_id` matches the `X-Request-ID` header and the server's log line. "
    "In production a request whose `Host` is not the service's gets a plain 400 first."
)


# -- operations --------------------------------------------------------------


def _paths(limits: Limits) -> dict[str, Any]:
    key_limited = rate_limited(
        "with this API key, or with invalid keys from this address (looked up no more)"
    )
    return {
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "summary": "This document",
                "tags": ["meta"],
                "parameters": [
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": answer_schema(
                        "The OpenAPI document.",
                        {"type": "object"},
                        headers=("Cache-Control", "ETag"),
                    ),
                    "304": answer_schema(
                        "The copy the client holds is current.",
                        None,
                        headers=("Cache-Control", "ETag"),
                    ),
                },
            }
        },
        "/widget/{embed_key}": {
            "get": {
                "operationId": "getWidgetConfig",
                "summary": "What the widget shows, with a fresh display token",
                "description": "Free: showing a survey never counts. Not cached (`no-store`).",
                "tags": ["widget"],
                "parameters": [
                    {
                        "name": "embed_key",
                        "in": "path",
                        "required": True,
                        "description": "The survey's signed embed key from the snippet "
                        "(or a survey editor's preview key).",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "lang",
                        "in": "query",
                        "description": "The visitor's language, used when the survey "
                        "has none fixed; unknown languages give English.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": answer_schema("The survey to show, or why not.", ref("WidgetConfig")),
                    "404": problem(
                        "No survey has this key (or no route has this address).",
                        404,
                        "unknown_survey",
                        "not_found",
                    ),
                    "429": rate_limited("from this address"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/responses": {
            "post": {
                "operationId": "submitResponse",
                "summary": "Submit a score (counts one survey) or a comment to it",
                "description": (
                    "The same display token again returns the stored response and counts "
                    "nothing; a comment sent later with it attaches to that response. "
                    "`text/plain` carries the same JSON and needs no CORS preflight."
                ),
                "tags": ["widget"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("Submission")},
                        # The same JSON object; a string schema would promise any text.
                        "text/plain": {"schema": ref("Submission")},
                    },
                },
                "responses": {
                    "200": answer_schema(
                        "This display's answer, already stored.", ref("Submitted")
                    ),
                    "201": answer_schema(
                        "Stored and counted (with a survey editor's preview token: "
                        "checked only, id 0, nothing stored).",
                        ref("Submitted"),
                    ),
                    "400": problem(
                        "The body is no JSON object, or the display token is not valid.",
                        400,
                        "invalid_json",
                        "invalid_token",
                    ),
                    "402": problem(
                        "The account's budget for this month is used up; nothing was stored.",
                        402,
                        "budget_exhausted",
                    ),
                    "403": problem(
                        "The survey does not take answers from this Origin.",
                        403,
                        "origin_not_allowed",
                    ),
                    "404": problem("The survey was deleted.", 404, "unknown_survey"),
                    "409": problem(
                        "This display was answered with another score, or has a comment "
                        "or an answer to a question already (the first one stands).",
                        409,
                        "token_already_used",
                        "comment_already_given",
                        "answer_already_given",
                    ),
                    "410": problem(
                        "The display token expired, or the survey was switched off.",
                        410,
                        "token_expired",
                        "survey_inactive",
                    ),
                    "413": too_large(limits.response_body),
                    "415": unsupported("application/json or text/plain"),
                    "422": invalid("A field is missing or wrong; `errors` names each."),
                    "429": rate_limited("from this address"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/records": {
            "post": {
                "operationId": "createRecord",
                "summary": "Ask for one recipient to be surveyed by e-mail (counts one survey)",
                "tags": ["records"],
                "security": [{"apiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("Record")}},
                },
                "responses": {
                    "200": answer_schema(
                        "A replay of an `external_id` already accepted; nothing counted.",
                        ref("RecordAccepted"),
                        headers=("Location",),
                    ),
                    "202": answer_schema(
                        "Accepted and counted: the invitation is scheduled.",
                        ref("RecordAccepted"),
                        headers=("Location",),
                    ),
                    "400": NOT_JSON,
                    "401": BAD_KEY,
                    "402": problem(
                        "The account's budget for this month is used up; the record lapsed.",
                        402,
                        "budget_exhausted",
                    ),
                    "404": problem(
                        "The account has no survey with this `survey_id`.",
                        404,
                        "survey_not_found",
                    ),
                    "409": problem(
                        "Refused without counting; a replayed refusal carries the record's `id`.",
                        409,
                        "unsubscribed",
                        "recently_surveyed",
                        "survey_inactive",
                    ),
                    "413": too_large(limits.record_body),
                    "415": unsupported("application/json"),
                    "422": invalid("A field is missing or wrong; `errors` names each."),
                    "429": key_limited,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/records/batch": {
            "post": {
                "operationId": "createRecords",
                "summary": f"Up to {records.BATCH_MAX:,} records, taken in order, each on its own",
                "description": (
                    "One write slot for the batch, a transaction per record: a batch that "
                    "meets the end of the budget accepts the records before and refuses the "
                    "rest. It counts once against the rate limit."
                ),
                "tags": ["records"],
                "security": [{"apiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("Batch")}},
                },
                "responses": {
                    "200": answer_schema("One result per record, in order.", ref("BatchResults")),
                    "400": NOT_JSON,
                    "401": BAD_KEY,
                    "413": too_large(limits.batch_body),
                    "415": unsupported("application/json"),
                    "422": invalid(
                        f"Not a list of at most {records.BATCH_MAX:,} records; none was taken."
                    ),
                    "429": key_limited,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/records/{record_id}": {
            "get": {
                "operationId": "getRecord",
                "summary": "What became of a record",
                "tags": ["records"],
                "security": [{"apiKey": []}],
                "parameters": [
                    {
                        "name": "record_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": record_in.ID_MAX},
                    }
                ],
                "responses": {
                    "200": answer_schema(
                        "The record's invitation, or its refusal.", ref("RecordStatus")
                    ),
                    "401": BAD_KEY,
                    "404": problem(
                        "The account has no record with this id (or no route has this address).",
                        404,
                        "record_not_found",
                        "not_found",
                    ),
                    "429": rate_limited(
                        "with this API key (lookups count apart from records sent), "
                        "or with invalid keys from this address"
                    ),
                    "503": UNAVAILABLE,
                },
            }
        },
    }
