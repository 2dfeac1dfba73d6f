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
import sys
from dataclasses import dataclass
from datetime import MINYEAR
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.answers import responses
from app.editor.form import COLOR
from app.invitations import records
from app.platform.i18n import LANGUAGES
from app.surveys import model as surveys
from app.surveys import questions, scales
from app.web.problem import PROBLEM_TYPE

VERSION = "1"
Schema = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    """The HTTP layer's limits, which live beside their handlers."""

    response_body: int
    record_body: int
    batch_body: int
    locale_pattern: str
    url_max: int
    control_pattern: str


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
            "schemas": _schemas(limits),
            "headers": _HEADERS,
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


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _header(name: str) -> Schema:
    return {"$ref": f"#/components/headers/{name}"}


_HEADERS: dict[str, Schema] = {
    "X-Request-ID": {
        "description": "The answer's id, also in problem documents and the server's log.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Location": {
        "description": "Where the record's status can be looked up.",
        "required": True,
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": 'The Bearer scheme, with `error="invalid_token"` for a bad key.',
        "required": True,
        "schema": {"type": "string"},
    },
    "Cache-Control": {"required": True, "schema": {"type": "string"}},
    "ETag": {"required": True, "schema": {"type": "string"}},
}


# -- answers -----------------------------------------------------------------


def _answer(
    description: str,
    schema: Schema | None,
    *,
    media_type: str = "application/json",
    headers: tuple[str, ...] = (),
) -> Schema:
    answer: Schema = {
        "description": description,
        "headers": {name: _header(name) for name in ("X-Request-ID", *headers)},
    }
    if schema is not None:
        answer["content"] = {media_type: {"schema": schema}}
    return answer


def _problem(
    description: str,
    status: int,
    *codes: str,
    headers: tuple[str, ...] = (),
    errors: bool = False,
) -> Schema:
    """A problem answer whose ``code`` is one of ``codes``."""
    narrowed: Schema = {
        "properties": {
            "status": {"const": status},
            "code": {"enum": list(codes)},
            "type": {"enum": [PROBLEM_TYPE + code for code in codes]},
        }
    }
    schema: Schema = {"allOf": [_ref("ValidationProblem" if errors else "Problem"), narrowed]}
    return _answer(description, schema, media_type="application/problem+json", headers=headers)


def _rate_limited(whose: str) -> Schema:
    return _problem(f"Too many requests {whose}.", 429, "rate_limited", headers=("Retry-After",))


_UNAVAILABLE = _problem(
    "The database is away or busy (no write slot or lock in time); nothing was stored.",
    503,
    "service_unavailable",
    headers=("Retry-After",),
)
_NOT_JSON = _problem("The body is not a JSON object.", 400, "invalid_json")
_BAD_KEY = _problem(
    "No API key, or one that is unknown or revoked.",
    401,
    "invalid_api_key",
    headers=("WWW-Authenticate",),
)


def _too_large(limit: int) -> Schema:
    return _problem(f"The body is larger than {limit:,} bytes.", 413, "payload_too_large")


def _unsupported(allowed: str) -> Schema:
    return _problem(f"The body is not sent as {allowed}.", 415, "unsupported_media_type")


def _invalid(what: str) -> Schema:
    return _problem(what, 422, "validation_error", errors=True)


# -- operations --------------------------------------------------------------


def _paths(limits: Limits) -> dict[str, Any]:
    key_limited = _rate_limited(
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
                    "200": _answer(
                        "The OpenAPI document.",
                        {"type": "object"},
                        headers=("Cache-Control", "ETag"),
                    ),
                    "304": _answer(
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
                    "200": _answer("The survey to show, or why not.", _ref("WidgetConfig")),
                    "404": _problem(
                        "No survey has this key (or no route has this address).",
                        404,
                        "unknown_survey",
                        "not_found",
                    ),
                    "429": _rate_limited("from this address"),
                    "503": _UNAVAILABLE,
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
                        "application/json": {"schema": _ref("Submission")},
                        # The same JSON object; a string schema would promise any text.
                        "text/plain": {"schema": _ref("Submission")},
                    },
                },
                "responses": {
                    "200": _answer("This display's answer, already stored.", _ref("Submitted")),
                    "201": _answer(
                        "Stored and counted (with a survey editor's preview token: "
                        "checked only, id 0, nothing stored).",
                        _ref("Submitted"),
                    ),
                    "400": _problem(
                        "The body is no JSON object, or the display token is not valid.",
                        400,
                        "invalid_json",
                        "invalid_token",
                    ),
                    "402": _problem(
                        "The account's budget for this month is used up; nothing was stored.",
                        402,
                        "budget_exhausted",
                    ),
                    "403": _problem(
                        "The survey does not take answers from this Origin.",
                        403,
                        "origin_not_allowed",
                    ),
                    "404": _problem("The survey was deleted.", 404, "unknown_survey"),
                    "409": _problem(
                        "This display was answered with another score, or has a comment "
                        "or an answer to a question already (the first one stands).",
                        409,
                        "token_already_used",
                        "comment_already_given",
                        "answer_already_given",
                    ),
                    "410": _problem(
                        "The display token expired, or the survey was switched off.",
                        410,
                        "token_expired",
                        "survey_inactive",
                    ),
                    "413": _too_large(limits.response_body),
                    "415": _unsupported("application/json or text/plain"),
                    "422": _invalid("A field is missing or wrong; `errors` names each."),
                    "429": _rate_limited("from this address"),
                    "503": _UNAVAILABLE,
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
                    "content": {"application/json": {"schema": _ref("Record")}},
                },
                "responses": {
                    "200": _answer(
                        "A replay of an `external_id` already accepted; nothing counted.",
                        _ref("RecordAccepted"),
                        headers=("Location",),
                    ),
                    "202": _answer(
                        "Accepted and counted: the invitation is scheduled.",
                        _ref("RecordAccepted"),
                        headers=("Location",),
                    ),
                    "400": _NOT_JSON,
                    "401": _BAD_KEY,
                    "402": _problem(
                        "The account's budget for this month is used up; the record lapsed.",
                        402,
                        "budget_exhausted",
                    ),
                    "404": _problem(
                        "The account has no survey with this `survey_id`.",
                        404,
                        "survey_not_found",
                    ),
                    "409": _problem(
                        "Refused without counting; a replayed refusal carries the record's `id`.",
                        409,
                        "unsubscribed",
                        "recently_surveyed",
                        "survey_inactive",
                    ),
                    "413": _too_large(limits.record_body),
                    "415": _unsupported("application/json"),
                    "422": _invalid("A field is missing or wrong; `errors` names each."),
                    "429": key_limited,
                    "503": _UNAVAILABLE,
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
                    "content": {"application/json": {"schema": _ref("Batch")}},
                },
                "responses": {
                    "200": _answer("One result per record, in order.", _ref("BatchResults")),
                    "400": _NOT_JSON,
                    "401": _BAD_KEY,
                    "413": _too_large(limits.batch_body),
                    "415": _unsupported("application/json"),
                    "422": _invalid(
                        f"Not a list of at most {records.BATCH_MAX:,} records; none was taken."
                    ),
                    "429": key_limited,
                    "503": _UNAVAILABLE,
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
                        "schema": {"type": "integer", "minimum": 1, "maximum": records.ID_MAX},
                    }
                ],
                "responses": {
                    "200": _answer(
                        "The record's invitation, or its refusal.", _ref("RecordStatus")
                    ),
                    "401": _BAD_KEY,
                    "404": _problem(
                        "The account has no record with this id (or no route has this address).",
                        404,
                        "record_not_found",
                        "not_found",
                    ),
                    "429": _rate_limited(
                        "with this API key (lookups count apart from records sent), "
                        "or with invalid keys from this address"
                    ),
                    "503": _UNAVAILABLE,
                },
            }
        },
    }


# -- bodies ------------------------------------------------------------------


def _obj(fields: dict[str, Schema], *required: str, closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": fields, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _optional(schema: Schema) -> Schema:
    """A field that may also be null (the server treats null as absent)."""
    return {"anyOf": [schema, {"type": "null"}]}


def _all_segments() -> list[str]:
    return list(dict.fromkeys(name for scale in scales.SCALES.values() for name in scale.segments))


def _score() -> Schema:
    lows = [scale.low for scale in scales.SCALES.values()]
    highs = [scale.high for scale in scales.SCALES.values()]
    ranges = ", ".join(f"{kind} {scale.low}-{scale.high}" for kind, scale in scales.SCALES.items())
    return {
        "type": "integer",
        "minimum": min(lows),
        "maximum": max(highs),
        "description": f"On the survey's scale: {ranges}. Required in a display's first "
        "submission (without it: 422); a later one may bring a comment or answers alone.",
    }


# Every survey field is always sent but these, which a survey may not have.
SURVEY_REQUIRED = (
    "kind", "language", "question", "low_label", "high_label", "follow_up", "color", "position",
    "thanks",
)  # fmt: skip


def survey_fields() -> dict[str, Schema]:
    """The widget config's ``survey``."""
    return {
        "kind": {"enum": list(scales.KINDS)},
        "language": {"enum": list(LANGUAGES)},
        "question": {"type": "string"},
        "low_label": {"type": "string"},
        "high_label": {"type": "string"},
        "follow_up": {
            "type": "object",
            "description": "The follow-up question per segment of the survey's kind.",
            "propertyNames": {"enum": _all_segments()},
            "additionalProperties": {"type": "string"},
        },
        "color": {"type": "string", "pattern": COLOR.pattern},
        "position": {"enum": list(surveys.POSITIONS)},
        "questions": {
            "type": "array",
            "maxItems": questions.MAX_QUESTIONS,
            "description": "The follow-up questions, in the page's language; `segments` "
            "names who is asked (absent: everyone).",
            "items": _obj(
                {
                    "id": {"type": "string", "maxLength": questions.ID_MAX},
                    "kind": {"enum": list(questions.KINDS)},
                    "label": {"type": "string"},
                    "options": {
                        "type": "array",
                        "maxItems": questions.MAX_OPTIONS,
                        "items": _obj(
                            {"id": {"type": "string"}, "label": {"type": "string"}}, "id", "label"
                        ),
                    },
                    "segments": {"type": "array", "items": {"enum": _all_segments()}},
                    "max": {"type": "integer", "minimum": 1, "maximum": questions.MAX_PICKS},
                },
                "id",
                "kind",
                "label",
            ),
        },
        "thanks": {
            "type": "object",
            "description": "The thank-you per segment of the survey's kind.",
            "propertyNames": {"enum": _all_segments()},
            "additionalProperties": {"type": "string"},
        },
    }


def rules_fields() -> dict[str, Schema]:
    """The widget config's ``rules``: when the widget asks."""
    return {
        "delay_ms": {"type": "integer", "minimum": 0},
        "recontact_days": {"type": "integer", "minimum": 0},
        "sample_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "test": {"const": True, "description": "Present for a test key: asks on every view."},
        "preview": {
            "const": True,
            "description": "Present for a survey editor's preview key: its answers are "
            "checked and told id 0, and nothing is stored or counted.",
        },
    }


def submission_fields(limits: Limits) -> dict[str, Schema]:
    """What ``POST /responses`` takes."""
    return {
        "display_token": {
            "type": "string",
            "minLength": 1,
            "description": "The token of the display being answered.",
        },
        "score": _optional(_score()),
        "comment": _optional(
            {
                "type": "string",
                "maxLength": responses.COMMENT_MAX,
                "description": "Control characters are dropped; the first comment stands.",
            }
        ),
        "page_url": _optional(
            {
                "type": "string",
                "maxLength": limits.url_max,
                "pattern": _web_url(limits.control_pattern),
                "description": "Stored as origin and path only: a query string, a fragment "
                "and a user name are cut.",
            }
        ),
        "locale": _optional({"type": "string", "pattern": limits.locale_pattern}),
        "answers": _optional(
            {
                "type": "object",
                "maxProperties": questions.MAX_QUESTIONS,
                "description": "Follow-up answers by question id: a text, an option id, or a "
                "list of option ids; with the score or later with the same token. The first "
                "answer to a question stands.",
                "additionalProperties": {
                    "anyOf": [
                        {"type": "string", "maxLength": questions.TEXT_MAX},
                        {"type": "array", "items": {"type": "string"}},
                    ]
                },
            }
        ),
    }


def _web_url(control: str) -> str:
    """An http(s) address with a host of the characters RFC 3986 allows
    there, and no control character anywhere."""
    return rf"^https?://[A-Za-z0-9._~!$&'()*+,;=:@%-]+(?:[/?#]{_none_of(control)}*)?$"


def _none_of(char_class: str) -> str:
    """``[^...]`` for a pattern that is one character class ``[...]``."""
    assert char_class.startswith("[") and char_class.endswith("]"), char_class
    return f"[^{char_class[1:]}"


# What the server's str.strip() removes, as a character class's contents.
_WHITESPACE = "".join(f"\\u{code:04x}" for code in range(sys.maxunicode + 1) if chr(code).isspace())


def _plain_text(limit: int) -> Schema:
    """A text field of a record: no control characters, up to ``limit``."""
    pattern = f"^{_none_of(records.CONTROL.pattern)}*$"
    return {"type": "string", "maxLength": limit, "pattern": pattern}


def submitted_fields() -> dict[str, Schema]:
    """What ``POST /responses`` answers."""
    return {
        "id": {"type": "integer"},
        "segment": {"enum": _all_segments()},
        "reward": {
            "type": "string",
            "description": "A coupon code handed to this response (PREVIEW for a preview).",
        },
        "review_url": {
            "type": "string",
            "format": "uri",
            "description": "The survey's review link for this segment (counts a follow).",
        },
    }


def record_fields() -> dict[str, Schema]:
    """A record, as ``POST /records`` and each item of a batch take it."""
    optional_text = {
        name: _optional(_plain_text(limit))
        for name, limit in (("name", records.NAME_MAX), ("event", records.EVENT_MAX))
    }
    return {
        "survey_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": records.ID_MAX,
            "description": "One of the account's surveys (a string of digits is taken too).",
        },
        "email": {"type": "string", "format": "email", "maxLength": records.EMAIL_MAX},
        "name": optional_text["name"],
        "language": _optional(
            {
                "type": "string",
                "pattern": f"^(?:{records.LANGUAGE_TAG.pattern})?$",
                "description": "A language tag; one the surveys do not speak, or none, "
                "means the survey's own language.",
            }
        ),
        "event": optional_text["event"],
        "event_at": _optional(
            {
                "type": "string",
                # Empty is none, as null is.
                "anyOf": [{"format": "date-time"}, {"format": "date"}, {"maxLength": 0}],
                "pattern": _EVENT_YEARS,
                "description": "An RFC 3339 date-time or date (also ISO 8601 without a zone, "
                f"taken as UTC), at most {records.FUTURE_LIMIT.days} days ahead; the "
                "invitation is due then plus the survey's delay.",
            }
        ),
        "external_id": _optional(
            {
                "anyOf": [
                    _plain_text(records.EXTERNAL_ID_MAX),
                    # Taken as its decimal digits, which must fit the same length.
                    {
                        "type": "integer",
                        "minimum": 1 - 10 ** (records.EXTERNAL_ID_MAX - 1),
                        "maximum": 10**records.EXTERNAL_ID_MAX - 1,
                    },
                ],
                "description": "Your id: the same one again replays the first outcome.",
            }
        ),
        "properties": _optional(
            {
                "type": "object",
                "maxProperties": records.PROPERTIES_MAX_KEYS,
                "propertyNames": {
                    "minLength": 1,
                    "maxLength": records.PROPERTY_KEY_MAX,
                    # Names are stripped: one of spaces alone would be empty.
                    "pattern": f"[^{_WHITESPACE}]",
                },
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                "description": f"At most {records.PROPERTIES_MAX_BYTES:,} bytes as JSON.",
            }
        ),
    }


# Python's calendar has no year 0 and begins in year 1 (MINYEAR), which a time
# east of UTC early that year would leave: the document starts a year later.
_EVENT_YEARS = f"^(?!0*[0-{MINYEAR}]-)"


def record_status_fields() -> dict[str, Schema]:
    return {
        "id": {"type": "integer"},
        "status": {"enum": [*records.STATUSES, "refused"]},
        "send_at": _optional(_moment()),
        "sent_at": _moment(),
        "code": {"enum": list(records.REFUSALS), "description": "Why it was refused."},
        "external_id": {"type": "string", "description": "Your id, when the record had one."},
        "response": _obj(
            {
                "score": _score(),
                "segment": {"enum": _all_segments()},
                "comment": _optional({"type": "string"}),
                "answered_at": _moment(),
            },
            "score",
            "segment",
            "comment",
            "answered_at",
        )
        | {"description": "The answer, once answered; never for an anonymous survey."},
    }


def _moment() -> Schema:
    return {"type": "string", "format": "date-time", "description": "UTC, to the second."}


def _batch_result() -> Schema:
    refusals = [*records.REFUSALS, "survey_not_found", "survey_inactive"]
    base: dict[str, Schema] = {
        "index": {"type": "integer", "minimum": 0},
        "replay": {"const": True},
    }
    return {
        "oneOf": [
            _obj(
                {
                    **base,
                    "status": {"const": "scheduled"},
                    "id": {"type": "integer"},
                    "send_at": _moment(),
                },
                "index",
                "status",
                "id",
                "send_at",
            ),
            _obj(
                {
                    **base,
                    "status": {"const": "refused"},
                    "code": {"enum": refusals},
                    "id": {"type": "integer", "description": "When the record was kept."},
                },
                "index",
                "status",
                "code",
            ),
            _obj(
                {
                    **base,
                    "status": {"const": "invalid"},
                    "code": {"const": "validation_error"},
                    "errors": {"type": "array", "items": _ref("FieldError")},
                },
                "index",
                "status",
                "code",
                "errors",
            ),
        ]
    }


def _schemas(limits: Limits) -> dict[str, Schema]:
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "request_id": {"type": "string"},
                "id": {"type": "integer", "description": "The record a refusal concerns."},
            },
            "required": ["type", "title", "status", "detail", "code"],
        },
        "FieldError": _obj(
            {"field": {"type": "string"}, "message": {"type": "string"}}, "field", "message"
        ),
        "ValidationProblem": {
            "allOf": [
                _ref("Problem"),
                {
                    "properties": {"errors": {"type": "array", "items": _ref("FieldError")}},
                    "required": ["errors"],
                },
            ]
        },
        "WidgetConfig": {
            "oneOf": [
                _obj(
                    {
                        "show": {"const": True},
                        "display_token": {"type": "string"},
                        "survey": _obj(survey_fields(), *SURVEY_REQUIRED),
                        "rules": _obj(rules_fields(), "delay_ms", "recontact_days", "sample_rate"),
                    },
                    "show",
                    "display_token",
                    "survey",
                    "rules",
                ),
                _obj(
                    {
                        "show": {"const": False},
                        "reason": {"enum": ["budget_exhausted", "inactive", "origin_not_allowed"]},
                    },
                    "show",
                    "reason",
                ),
            ]
        },
        # Open: the server ignores fields it does not know (records refuse them).
        "Submission": _obj(submission_fields(limits), "display_token", closed=False),
        "Submitted": _obj(submitted_fields(), "id", "segment"),
        "Record": _obj(record_fields(), "survey_id", "email"),
        "RecordAccepted": _obj(
            {"id": {"type": "integer"}, "status": {"const": "scheduled"}, "send_at": _moment()},
            "id",
            "status",
            "send_at",
        ),
        "Batch": _obj(
            {
                "records": {
                    "type": "array",
                    "maxItems": records.BATCH_MAX,
                    "description": "Each item is checked on its own: one that is no valid "
                    "Record gets an `invalid` result, and the others go on.",
                    # Anything is taken, as the server does; Record says what counts.
                    "items": {"anyOf": [_ref("Record"), {}]},
                }
            },
            "records",
        ),
        "BatchResults": _obj({"results": {"type": "array", "items": _batch_result()}}, "results"),
        "RecordStatus": _obj(record_status_fields(), "id", "status", "send_at"),
    }
