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

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    bindparam,
    delete,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from app.budget import rule as budget
from app.invitations.record_in import RecordIn
from app.platform import db, metrics
from app.platform.db import insert as upsert_for
from app.platform.models import UTCDateTime
from app.platform.models import invitation_table as invitation
from app.platform.models import record_sync_table as record_sync
from app.platform.models import record_table as record
from app.platform.models import refused_record_table as refused_record
from app.webhooks import endpoints as webhooks

SOURCES = ("api", "csv", "manual")
REFUSALS = ("budget_exhausted", "unsubscribed", "recently_surveyed")
STATUSES = ("scheduled", "sent", "answered", "failed", "cancelled")
BATCH_MAX = 1_000


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
