"""The OpenAPI document's schemas, built from the domain's field limits and the
handlers' body limits; each body is one ``*_fields`` function, so a new field is
one entry."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import MINYEAR

from app.answers import responses
from app.editor.form import COLOR
from app.invitations import record_in, records
from app.platform.i18n import LANGUAGES
from app.surveys import model as surveys
from app.surveys import questions, scales
from app.web.openapi_responses import Schema, ref


@dataclass(frozen=True)
class Limits:
    """The HTTP layer's limits, which live beside their handlers."""

    response_body: int
    record_body: int
    batch_body: int
    locale_pattern: str
    url_max: int
    control_pattern: str


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
    pattern = f"^{_none_of(record_in.CONTROL.pattern)}*$"
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
        for name, limit in (("name", record_in.NAME_MAX), ("event", record_in.EVENT_MAX))
    }
    return {
        "survey_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": record_in.ID_MAX,
            "description": "One of the account's surveys (a string of digits is taken too).",
        },
        "email": {"type": "string", "format": "email", "maxLength": record_in.EMAIL_MAX},
        "name": optional_text["name"],
        "language": _optional(
            {
                "type": "string",
                "pattern": f"^(?:{record_in.LANGUAGE_TAG.pattern})?$",
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
                f"taken as UTC), at most {record_in.FUTURE_LIMIT.days} days ahead; the "
                "invitation is due then plus the survey's delay.",
            }
        ),
        "external_id": _optional(
            {
                "anyOf": [
                    _plain_text(record_in.EXTERNAL_ID_MAX),
                    # Taken as its decimal digits, which must fit the same length.
                    {
                        "type": "integer",
                        "minimum": 1 - 10 ** (record_in.EXTERNAL_ID_MAX - 1),
                        "maximum": 10**record_in.EXTERNAL_ID_MAX - 1,
                    },
                ],
                "description": "Your id: the same one again replays the first outcome.",
            }
        ),
        "properties": _optional(
            {
                "type": "object",
                "maxProperties": record_in.PROPERTIES_MAX_KEYS,
                "propertyNames": {
                    "minLength": 1,
                    "maxLength": record_in.PROPERTY_KEY_MAX,
                    # Names are stripped: one of spaces alone would be empty.
                    "pattern": f"[^{_WHITESPACE}]",
                },
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                "description": f"At most {record_in.PROPERTIES_MAX_BYTES:,} bytes as JSON.",
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
                    "errors": {"type": "array", "items": ref("FieldError")},
                },
                "index",
                "status",
                "code",
                "errors",
            ),
        ]
    }


def schemas(limits: Limits) -> dict[str, Schema]:
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
                ref("Problem"),
                {
                    "properties": {"errors": {"type": "array", "items": ref("FieldError")}},
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
                    "items": {"anyOf": [ref("Record"), {}]},
                }
            },
            "records",
        ),
        "BatchResults": _obj({"results": {"type": "array", "items": _batch_result()}}, "results"),
        "RecordStatus": _obj(record_status_fields(), "id", "status", "send_at"),
    }
