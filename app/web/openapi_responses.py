"""The OpenAPI document's shared parts: references, headers and the answers
every operation may give (problem documents, rate limits, unavailability)."""

from __future__ import annotations

from typing import Any

from app.web.problem import PROBLEM_TYPE

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def header(name: str) -> Schema:
    return {"$ref": f"#/components/headers/{name}"}


HEADERS: dict[str, Schema] = {
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


def answer_schema(
    description: str,
    schema: Schema | None,
    *,
    media_type: str = "application/json",
    headers: tuple[str, ...] = (),
) -> Schema:
    answer: Schema = {
        "description": description,
        "headers": {name: header(name) for name in ("X-Request-ID", *headers)},
    }
    if schema is not None:
        answer["content"] = {media_type: {"schema": schema}}
    return answer


def problem(
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
    schema: Schema = {"allOf": [ref("ValidationProblem" if errors else "Problem"), narrowed]}
    return answer_schema(
        description, schema, media_type="application/problem+json", headers=headers
    )


def rate_limited(whose: str) -> Schema:
    return problem(f"Too many requests {whose}.", 429, "rate_limited", headers=("Retry-After",))


UNAVAILABLE = problem(
    "The database is away or busy (no write slot or lock in time); nothing was stored.",
    503,
    "service_unavailable",
    headers=("Retry-After",),
)


NOT_JSON = problem("The body is not a JSON object.", 400, "invalid_json")


BAD_KEY = problem(
    "No API key, or one that is unknown or revoked.",
    401,
    "invalid_api_key",
    headers=("WWW-Authenticate",),
)


def too_large(limit: int) -> Schema:
    return problem(f"The body is larger than {limit:,} bytes.", 413, "payload_too_large")


def unsupported(allowed: str) -> Schema:
    return problem(f"The body is not sent as {allowed}.", 415, "unsupported_media_type")


def invalid(what: str) -> Schema:
    return problem(what, 422, "validation_error", errors=True)
