"""Records and invitations: the second counting rule.

A record asks for one recipient to be surveyed by e-mail. It is accepted in one
transaction that stores the recipient, the record and its invitation and takes
the same guarded step of ``usage(account, period)`` a widget answer takes: so
e-mail and widget share one budget and can never overshoot it together. While
the budget is exhausted a record is refused and lapses: it is not kept for a
later month. Every refusal is noted in ``refused_record`` for the admin's
list of the period's refusals only; those rows go when the period ends.

The checks run in the order DESIGN.md gives: validation, ``external_id``
replay, unsubscribed, recently surveyed, the budget. An invitation that will
never be sent gives its count back to the period that was charged, so per
period ``used`` = counted widget and link answers + invitations not given back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from app.budget import rule as budget
from app.platform import addresses, db, metrics
from app.platform.db import insert as upsert_for
from app.platform.i18n import LANGUAGES
from app.platform.models import UTCDateTime
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_sync_table as record_sync
from app.platform.models import record_table as record
from app.platform.models import refused_record_table as refused_record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey
from app.webhooks import endpoints as webhooks

SOURCES = ("api", "csv", "manual")
REFUSALS = ("budget_exhausted", "unsubscribed", "recently_surveyed")
STATUSES = ("scheduled", "sent", "answered", "failed", "cancelled")
BATCH_MAX = 1_000
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


# -- validation --------------------------------------------------------------


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


# -- accepting ---------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where records came from: ``api`` (with the key's name), ``csv`` (the
    file's name) or ``manual`` (the admin's e-mail)."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in SOURCES:
            raise ValueError(f"unknown source {self.kind!r}")


@dataclass(frozen=True)
class Outcome:
    """What became of a record. ``code`` is None when it was accepted; ``id``
    is None only when the exhausted budget refused it (no record is kept)."""

    id: int | None
    code: str | None
    send_at: datetime | None = None
    replay: bool = False

    @property
    def accepted(self) -> bool:
        return self.code is None


class UnknownSurvey(LookupError):
    """No survey of this id in the account (another account's looks the same)."""


class SurveyInactive(Exception):
    """The survey is switched off: it sends nothing, so it takes no records."""


class BudgetExhausted(Exception):
    """Raised inside the transaction to roll it back; ``accept`` answers it."""


class _Replay(Exception):
    """Another transaction stored this external_id first."""


def accept(
    engine: Engine,
    account_id: int,
    wanted: RecordIn,
    source: Source,
    now: datetime,
    zone: ZoneInfo,
) -> Outcome:
    """Take one record under the budget rule; see the module's docstring."""
    outcome = _take(engine, account_id, wanted, source, now, zone)
    metrics.record("replayed" if outcome.replay else outcome.code or "accepted")
    return outcome


def _take(
    engine: Engine,
    account_id: int,
    wanted: RecordIn,
    source: Source,
    now: datetime,
    zone: ZoneInfo,
) -> Outcome:
    period = budget.period_of(now, zone)
    try:
        with db.write(engine) as conn:
            return _accept(conn, account_id, wanted, source, now, period)
    except _Replay:
        with db.read(engine) as conn:
            stored = _stored(conn, account_id, wanted.external_id)
        assert stored is not None  # the conflicting row was committed
        return stored
    except BudgetExhausted:
        with db.write(engine) as conn:
            _keep_refusal(conn, account_id, wanted, source, "budget_exhausted", period, now)
            _emit_refused(conn, account_id, wanted, source, None, "budget_exhausted", now)
            # Last: from this step to the commit the usage row is locked.
            budget.record_refused_record(conn, account_id, period)
        return Outcome(None, "budget_exhausted")
    except IntegrityError:
        # The survey was deleted while the record was being taken.
        raise UnknownSurvey(wanted.survey_id) from None


# The statements of taking a record, written once: built per call through
# SQLAlchemy's expression layer they cost more than the database work. The
# same text runs on SQLite and PostgreSQL.
_SURVEY_AND_INTERVAL = text(
    "SELECT s.active, s.email_delay_days, a.min_interval_days FROM survey s"
    " JOIN account a ON a.id = s.account_id WHERE s.id = :survey_id AND s.account_id = :account_id"
).columns(active=Boolean)
# What a record tells about the recipient replaces what was known. The row is
# written even when nothing changes, which takes its lock until commit: two
# records for one address wait for each other, so the second sees the first's
# invitation.
_UPSERT_RECIPIENT = (
    text(
        "INSERT INTO recipient (account_id, email, email_key, name, language, properties,"
        " created_at) VALUES (:account_id, :email, :email_key, :name, :language, :properties, :now)"
        " ON CONFLICT (account_id, email_key) DO UPDATE SET"
        " name = COALESCE(excluded.name, recipient.name),"
        " language = COALESCE(excluded.language, recipient.language),"
        " properties = CASE WHEN :new_properties THEN excluded.properties"
        " ELSE recipient.properties END"
        " RETURNING id, unsubscribed_at"
    )
    .bindparams(
        bindparam("properties", type_=JSON),
        bindparam("new_properties", type_=Boolean),
        bindparam("now", type_=UTCDateTime()),
    )
    .columns(unsubscribed_at=UTCDateTime())
)
_RECENTLY_INVITED = text(
    "SELECT 1 FROM invitation WHERE recipient_id = :recipient_id AND given_back_at IS NULL"
    " AND created_at > :since LIMIT 1"
).bindparams(bindparam("since", type_=UTCDateTime()))
_INSERT_RECORD = text(
    "INSERT INTO record (account_id, survey_id, recipient_id, external_id, event, event_at,"
    " properties, outcome, source, source_name, period, received_at) VALUES (:account_id,"
    " :survey_id, :recipient_id, :external_id, :event, :event_at, :properties, :outcome,"
    " :source, :source_name, :period, :now)"
    " ON CONFLICT (account_id, external_id) DO NOTHING RETURNING id"
).bindparams(
    bindparam("event_at", type_=UTCDateTime()),
    bindparam("properties", type_=JSON),
    bindparam("now", type_=UTCDateTime()),
)
_INSERT_INVITATION = text(
    "INSERT INTO invitation (record_id, account_id, survey_id, recipient_id, period, status,"
    " send_at, next_attempt_at, attempts, created_at) VALUES (:record_id, :account_id,"
    " :survey_id, :recipient_id, :period, 'scheduled', :send_at, :send_at, 0, :now)"
).bindparams(bindparam("send_at", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime()))


def _accept(
    conn: Connection, account_id: int, wanted: RecordIn, source: Source, now: datetime, period: str
) -> Outcome:
    found = conn.execute(
        _SURVEY_AND_INTERVAL, {"survey_id": wanted.survey_id, "account_id": account_id}
    ).first()
    if found is None:
        raise UnknownSurvey(wanted.survey_id)
    if wanted.external_id is not None:
        stored = _stored(conn, account_id, wanted.external_id)
        if stored is not None:
            return stored
    if not found.active:
        raise SurveyInactive(wanted.survey_id)
    recipient_id, unsubscribed_at = conn.execute(
        _UPSERT_RECIPIENT,
        {
            "account_id": account_id,
            "email": wanted.email,
            "email_key": wanted.email_key,
            "name": wanted.name,
            "language": wanted.language,
            "properties": dict(wanted.properties),
            "new_properties": bool(wanted.properties),
            "now": now,
        },
    ).one()
    keep = _RecordRow(account_id, recipient_id, wanted, source, now, period)
    if unsubscribed_at is not None:
        record_id = keep.insert(conn, "unsubscribed")
        _keep_refusal(conn, account_id, wanted, source, "unsubscribed", period, now)
        _emit_refused(conn, account_id, wanted, source, record_id, "unsubscribed", now)
        return Outcome(record_id, "unsubscribed")
    days = found.min_interval_days
    if (
        days > 0
        and conn.execute(
            _RECENTLY_INVITED, {"recipient_id": recipient_id, "since": now - timedelta(days=days)}
        ).first()
    ):
        record_id = keep.insert(conn, "recently_surveyed")
        _keep_refusal(conn, account_id, wanted, source, "recently_surveyed", period, now)
        _emit_refused(conn, account_id, wanted, source, record_id, "recently_surveyed", now)
        return Outcome(record_id, "recently_surveyed")
    record_id = keep.insert(conn, "accepted")
    if not budget.consume_invitation(conn, account_id, period, now):
        raise BudgetExhausted
    send_at = max((wanted.event_at or now) + timedelta(days=found.email_delay_days), now)
    conn.execute(
        _INSERT_INVITATION,
        {
            "record_id": record_id,
            "account_id": account_id,
            "survey_id": wanted.survey_id,
            "recipient_id": recipient_id,
            "period": period,
            "send_at": send_at,
            "now": now,
        },
    )
    return Outcome(record_id, None, send_at)


# The admin's list of the period's refused records, and nothing else, reads
# these rows: no record is ever taken again from them.
_KEEP_REFUSAL = text(
    "INSERT INTO refused_record (account_id, period, email, email_key, external_id, reason,"
    " source, refused_at) VALUES (:account_id, :period, :email, :email_key, :external_id,"
    " :reason, :source, :now)"
).bindparams(bindparam("now", type_=UTCDateTime()))
_PAST_REFUSALS = text("SELECT 1 FROM refused_record WHERE period < :period LIMIT 1")


def _keep_refusal(
    conn: Connection,
    account_id: int,
    wanted: RecordIn,
    source: Source,
    reason: str,
    period: str,
    now: datetime,
) -> None:
    conn.execute(
        _KEEP_REFUSAL,
        {
            "account_id": account_id,
            "period": period,
            "email": wanted.email,
            "email_key": wanted.email_key,
            "external_id": wanted.external_id,
            "reason": reason,
            "source": source.kind,
            "now": now,
        },
    )


def forget_past_refusals(engine: Engine, period: str) -> int:
    """Delete the refused records of the periods before ``period``: the list
    shows only the current one's. Mostly there are none, and no write lock
    is taken."""
    with db.read(engine) as conn:
        if conn.execute(_PAST_REFUSALS, {"period": period}).first() is None:
            return 0
    with db.write(engine) as conn:
        return int(
            conn.execute(delete(refused_record).where(refused_record.c.period < period)).rowcount
        )


def _emit_refused(
    conn: Connection,
    account_id: int,
    wanted: RecordIn,
    source: Source,
    record_id: int | None,
    reason: str,
    now: datetime,
) -> None:
    """``record.refused`` without the address: the integration knows whom
    its ``external_id`` stands for; every endpoint need not."""
    webhooks.emit(
        conn,
        account_id,
        "record.refused",
        {
            "record_id": record_id,
            "reason": reason,
            "survey_id": wanted.survey_id,
            "external_id": wanted.external_id,
            "event": wanted.event,
            "source": source.kind,
        },
        now,
    )


@dataclass(frozen=True)
class _RecordRow:
    account_id: int
    recipient_id: int
    wanted: RecordIn
    source: Source
    now: datetime
    period: str

    def insert(self, conn: Connection, outcome: str) -> int:
        """The new record's id; ``_Replay`` when its external_id was taken
        by a transaction that committed first."""
        wanted = self.wanted
        record_id = conn.execute(
            _INSERT_RECORD,
            {
                "account_id": self.account_id,
                "survey_id": wanted.survey_id,
                "recipient_id": self.recipient_id,
                "external_id": wanted.external_id,
                "event": wanted.event,
                "event_at": wanted.event_at,
                "properties": dict(wanted.properties),
                "outcome": outcome,
                "source": self.source.kind,
                "source_name": self.source.name[:200],
                "period": self.period,
                "now": self.now,
            },
        ).scalar_one_or_none()
        if record_id is None:
            raise _Replay
        return int(record_id)


def _stored(conn: Connection, account_id: int, external_id: str | None) -> Outcome | None:
    """The first outcome of the account's record with this external id."""
    row = conn.execute(
        select(record.c.id, record.c.outcome, invitation.c.send_at)
        .select_from(record.outerjoin(invitation, invitation.c.record_id == record.c.id))
        .where(record.c.account_id == account_id, record.c.external_id == external_id)
    ).first()
    if row is None:
        return None
    code = None if row.outcome == "accepted" else row.outcome
    return Outcome(row.id, code, row.send_at, replay=True)


def note_arrival(engine: Engine, account_id: int, source: Source, now: datetime) -> None:
    """Remember that records reached the account ("last data sync"), once per
    request, batch or upload, whatever became of them."""
    with db.write(engine) as conn:
        statement = upsert_for(conn, record_sync).values(
            account_id=account_id, arrived_at=now, source=source.kind, source_name=source.name[:200]
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[record_sync.c.account_id],
                set_={
                    "arrived_at": statement.excluded.arrived_at,
                    "source": statement.excluded.source,
                    "source_name": statement.excluded.source_name,
                },
            )
        )


# -- reading back --------------------------------------------------------------


@dataclass(frozen=True)
class Given:
    """The answer to a record's invitation, as the API shows it."""

    score: int
    segment: str
    comment: str | None
    answered_at: datetime


@dataclass(frozen=True)
class RecordStatus:
    """A record as the API shows it: its invitation's state, or ``refused``;
    with the answer once there is one, unless the survey is anonymous."""

    id: int
    status: str
    code: str | None
    send_at: datetime | None
    sent_at: datetime | None
    external_id: str | None = None
    answer: Given | None = None


def find_status(engine: Engine, account_id: int, record_id: int) -> RecordStatus | None:
    """The account's record as the API shows it; None for another account's."""
    # An anonymous survey's answer keeps no invitation, and one made
    # anonymous later is not shown either: the survey as it is now decides.
    answered = and_(
        response.c.invitation_id == invitation.c.id,
        response.c.account_id == account_id,
        survey.c.anonymous.is_(False),
    )
    with db.read(engine) as conn:
        row = conn.execute(
            select(record.c.id, record.c.outcome, record.c.external_id, invitation.c.status)
            .add_columns(invitation.c.send_at, invitation.c.sent_at)
            .add_columns(
                response.c.score,
                response.c.segment,
                response.c.comment,
                response.c.created_at.label("answered_at"),
            )
            .select_from(
                record.join(survey, survey.c.id == record.c.survey_id)
                .outerjoin(invitation, invitation.c.record_id == record.c.id)
                .outerjoin(response, answered)
            )
            .where(record.c.id == record_id, record.c.account_id == account_id)
        ).first()
    if row is None:
        return None
    if row.status is None:
        return RecordStatus(row.id, "refused", row.outcome, None, None, row.external_id)
    given = (
        Given(row.score, row.segment, row.comment, row.answered_at)
        if row.score is not None
        else None
    )
    return RecordStatus(row.id, row.status, None, row.send_at, row.sent_at, row.external_id, given)


# -- giving back -------------------------------------------------------------


def end_unsent(
    conn: Connection, invitation_id: int, new_status: str, now: datetime, error: str | None = None
) -> bool:
    """End a still scheduled invitation as ``failed`` or ``cancelled`` and give
    its count back to the period that was charged. False when it was no
    longer scheduled (sent, answered or ended already): nothing changes."""
    assert new_status in ("failed", "cancelled")
    row = conn.execute(
        update(invitation)
        .where(invitation.c.id == invitation_id, invitation.c.status == "scheduled")
        .values(status=new_status, given_back_at=now, claimed_until=None, last_error=error)
        .returning(invitation.c.account_id, invitation.c.period)
    ).first()
    if row is None:
        return False
    budget.give_back(conn, row.account_id, row.period)
    return True


def cancel(engine: Engine, account_id: int, record_id: int, now: datetime) -> bool:
    """The admin cancels a scheduled invitation that no sender holds now."""
    with db.write(engine) as conn:
        found = conn.execute(
            select(invitation.c.id).where(
                invitation.c.record_id == record_id,
                invitation.c.account_id == account_id,
                invitation.c.status == "scheduled",
                (invitation.c.claimed_until.is_(None)) | (invitation.c.claimed_until < now),
            )
        ).scalar_one_or_none()
        return found is not None and end_unsent(conn, found, "cancelled", now)


@dataclass(frozen=True)
class Unsubscribed:
    account_id: int
    email: str
    cancelled: int  # scheduled invitations given back


def unsubscribe(engine: Engine, invitation_id: int, now: datetime) -> Unsubscribed | None:
    """Put the invitation's recipient on the account's suppression list and
    cancel what is still scheduled for them. None for an unknown invitation."""
    with db.write(engine) as conn:
        row = conn.execute(
            select(recipient.c.id, recipient.c.account_id, recipient.c.email)
            .select_from(invitation.join(recipient, recipient.c.id == invitation.c.recipient_id))
            .where(invitation.c.id == invitation_id)
        ).first()
        if row is None:
            return None
        conn.execute(
            update(recipient)
            .where(recipient.c.id == row.id, recipient.c.unsubscribed_at.is_(None))
            .values(unsubscribed_at=now)
        )
        pending = conn.execute(
            select(invitation.c.id).where(
                invitation.c.recipient_id == row.id, invitation.c.status == "scheduled"
            )
        ).scalars()
        cancelled = sum(end_unsent(conn, pid, "cancelled", now) for pid in list(pending))
    return Unsubscribed(row.account_id, row.email, cancelled)
