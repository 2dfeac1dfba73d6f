"""A record as an integration sends it: its fields, their limits, and parsing
one into a ``RecordIn`` or an ``InvalidRecord`` naming every bad field."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.platform import addresses
from app.platform.i18n import LANGUAGES

# Ids are 32-bit in the database; a larger number cannot name a row, and
# PostgreSQL and SQLite would refuse to compare it.
ID_MAX = 2**31 - 1


EMAIL_MAX = 254


NAME_MAX = 200


EVENT_MAX = 100


EXTERNAL_ID_MAX = 200


PROPERTIES_MAX_KEYS = 50


PROPERTIES_MAX_BYTES = 4_096


PROPERTY_KEY_MAX = 64


# An event may lie ahead (an appointment, a delivery date), but not so far
# that a typo in the year schedules an e-mail for decades.
FUTURE_LIMIT = timedelta(days=366)


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s.]+")


_FORBIDDEN_IN_EMAIL = set('<>()[]\\,;:"')


# Refused in any text field; the OpenAPI document states it too.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_LEAP_SECOND = re.compile(r"(T\d\d:\d\d):60")


# A record's language tag (matched whole); the OpenAPI document states it too.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


FIELDS = (
    "survey_id",
    "email",
    "name",
    "language",
    "event",
    "event_at",
    "external_id",
    "properties",
)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidRecord(ValueError):
    """The record as sent cannot be taken; ``errors`` name each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class RecordIn:
    """A validated record."""

    survey_id: int
    email: str
    name: str | None = None
    language: str | None = None
    event: str | None = None
    event_at: datetime | None = None
    external_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def email_key(self) -> str:
        return addresses.email_key(self.email)


def parse(raw: object, now: datetime) -> RecordIn:
    """Validate a record as the API, a CSV row or the admin's form sends it.
    Raises ``InvalidRecord`` naming every field that is wrong."""
    if not isinstance(raw, Mapping):
        raise InvalidRecord([FieldError("record", "must be a JSON object")])
    errors: list[FieldError] = []

    def fail(name: str, message: str) -> None:
        errors.append(FieldError(name, message))

    unknown = sorted(str(key) for key in raw if key not in FIELDS)
    if unknown:
        fail(unknown[0], f"unknown field; known fields are {', '.join(FIELDS)}")
    survey_id = whole_number(raw.get("survey_id"))
    # ASCII and short: int() refuses some digits str.isdigit() takes ("²")
    # and very long numbers.
    if isinstance(survey_id, str) and survey_id.isascii() and survey_id.isdigit():
        survey_id = int(survey_id) if len(survey_id) <= 12 else None
    if not isinstance(survey_id, int) or isinstance(survey_id, bool) or not 0 < survey_id <= ID_MAX:
        fail("survey_id", "required: the id of one of the account's surveys")
    email = _email(raw.get("email"), fail)
    name = _text(raw.get("name"), "name", NAME_MAX, fail)
    language = _language(raw.get("language"), fail)
    event = _text(raw.get("event"), "event", EVENT_MAX, fail)
    event_at = _moment(raw.get("event_at"), now, fail)
    external_id = whole_number(raw.get("external_id"))
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    external_id = _text(external_id, "external_id", EXTERNAL_ID_MAX, fail)
    properties = _properties(raw.get("properties"), fail)
    if errors:
        raise InvalidRecord(errors)
    assert isinstance(survey_id, int) and email is not None
    return RecordIn(survey_id, email, name, language, event, event_at, external_id, properties)


def whole_number(value: Any) -> Any:
    """A JSON number without a fraction (``9.0``) as the integer JSON Schema
    takes it for; anything else as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _email(value: object, fail: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        fail("email", "required: the recipient's e-mail address")
        return None
    address = value.strip()
    if len(address) > EMAIL_MAX:
        fail("email", f"at most {EMAIL_MAX} characters")
    elif (
        CONTROL.search(address)
        or not _EMAIL.fullmatch(address)
        or _FORBIDDEN_IN_EMAIL & set(address)
        or ".." in address
    ):
        fail("email", f"not an e-mail address like name@example.com: {address[:80]!r}")
    elif not _idna_domain(address):
        fail("email", f"the domain is not a valid internationalised domain name: {address[:80]!r}")
    elif len(addresses.email_key(address)) > EMAIL_MAX:
        # Case folding can lengthen a local part, IDNA a domain.
        fail("email", f"at most {EMAIL_MAX} characters, with the domain written in ASCII")
    else:
        return address
    return None


def _idna_domain(address: str) -> bool:
    """Whether the domain has an A-label: the key compares mailboxes by it."""
    try:
        addresses.a_label(address.rpartition("@")[2])
    except UnicodeError:
        return False
    return True


def _text(value: object, name: str, limit: int, fail: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        fail(name, "must be a string")
        return None
    # A line break in a name would end a mail header: refused, not cleaned.
    if CONTROL.search(value):
        fail(name, "must not contain line breaks or control characters")
        return None
    value = value.strip()
    if len(value) > limit:
        fail(name, f"at most {limit} characters")
        return None
    return value or None


def _language(value: object, fail: Any) -> str | None:
    """``de``, ``de-AT`` and ``DE`` are German; a language the surveys do not
    speak is kept as none, so the survey's own language is used."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not LANGUAGE_TAG.fullmatch(value):
        fail("language", "a language tag like de or en-GB")
        return None
    base = value[:2].lower() if value[2:3] in ("", "-", "_") else ""
    return base if base in LANGUAGES else None


def _moment(value: object, now: datetime, fail: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        fail("event_at", "an ISO 8601 date or time, e.g. 2026-05-04T10:00:00Z")
        return None
    # RFC 3339 allows a lower-case "t" and "z", which Python does not read.
    text_value = value.strip().upper()
    try:
        if len(text_value) == 10:
            moment = datetime.combine(date.fromisoformat(text_value), datetime.min.time())
        else:
            moment = _date_time(text_value)
    except ValueError:
        fail("event_at", f"not an ISO 8601 date or time: {text_value[:40]!r}")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a moment without a zone is taken as UTC
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC is before the calendar begins
        fail("event_at", f"not a date or time within the calendar: {text_value[:40]!r}")
        return None
    if moment > now + FUTURE_LIMIT:
        fail("event_at", "more than a year ahead")
        return None
    return moment


def _date_time(text_value: str) -> datetime:
    """An ISO 8601 date and time ("Z" is UTC since Python 3.11). A leap
    second, which RFC 3339 allows and Python cannot hold, is the second after
    :59."""
    leap = _LEAP_SECOND.search(text_value)
    if leap is None:
        return datetime.fromisoformat(text_value)
    before = text_value[: leap.start()] + leap.group(1) + ":59" + text_value[leap.end() :]
    return datetime.fromisoformat(before) + timedelta(seconds=1)


def _properties(value: object, fail: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail("properties", "must be an object of names and values")
        return {}
    if len(value) > PROPERTIES_MAX_KEYS:
        fail("properties", f"at most {PROPERTIES_MAX_KEYS} properties")
        return {}
    clean: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > PROPERTY_KEY_MAX:
            fail("properties", f"names are 1 to {PROPERTY_KEY_MAX} characters")
            return {}
        # NaN and infinities are no JSON numbers: PostgreSQL would refuse them.
        if (item is not None and not isinstance(item, str | int | float | bool)) or (
            isinstance(item, float) and not math.isfinite(item)
        ):
            fail("properties", f"{key[:40]!r}: values are strings, numbers, booleans or null")
            return {}
        clean[key.strip()] = item
    if len(json.dumps(clean, ensure_ascii=False).encode()) > PROPERTIES_MAX_BYTES:
        fail("properties", f"at most {PROPERTIES_MAX_BYTES} bytes as JSON")
        return {}
    return clean
