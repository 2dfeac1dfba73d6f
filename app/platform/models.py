"""Database tables. Schema changes go through Alembic migrations only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no
    zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs: Any) -> Any:
    """A timestamp column, stored as UTC."""
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class Tariff(SQLModel, table=True):
    """A plan with a monthly survey budget; operators edit the rows with the CLI."""

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    monthly_budget: int = Field(ge=0)


class Account(SQLModel, table=True):
    """One website owner. A downgrade waits in ``pending_tariff_code`` until
    ``pending_from`` (a period, ``YYYY-MM``) begins."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    tariff_code: str = Field(foreign_key="tariff.code", max_length=32)
    pending_tariff_code: str | None = Field(default=None, foreign_key="tariff.code", max_length=32)
    pending_from: str | None = Field(default=None, max_length=7)
    # Days within which a recipient is not invited again; 0 turns it off.
    min_interval_days: int = Field(default=182, sa_column_kwargs={"server_default": "182"})
    # The display name of the account's messages; their address is MAIL_FROM's.
    sender_name: str | None = Field(default=None, max_length=100)
    created_at: datetime = _when(nullable=False, default=utcnow)


class AdminUser(SQLModel, table=True):
    __tablename__ = "admin_user"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=200)
    language: str | None = Field(default=None, max_length=2)
    # Shown as the sender of the admin's replies to respondents.
    name: str | None = Field(default=None, max_length=100)
    created_at: datetime = _when(nullable=False, default=utcnow)


class AdminSession(SQLModel, table=True):
    """One login of an admin. The cookie carries a random secret; only its
    SHA-256 is kept, so the table alone opens no session. Deleting the row
    ends the session however many copies of the cookie exist."""

    __tablename__ = "admin_session"

    id: int | None = Field(default=None, primary_key=True)
    admin_id: int = Field(foreign_key="admin_user.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False, index=True)


class Survey(SQLModel, table=True):
    """What is asked. ``texts`` maps a language to its question, end labels and
    per-segment follow-ups; missing texts fall back to the kind's defaults."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    public_id: str = Field(max_length=24, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=4)
    language: str = Field(default="auto", max_length=4)
    texts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    allowed_origins: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    delay_ms: int = 0
    recontact_days: int = 90
    sample_rate: float = 1.0
    color: str = Field(default="#1f5fbf", max_length=7)
    position: str = Field(default="bottom-right", max_length=16)
    review_url: str | None = Field(default=None, max_length=2048)
    # Offered the review link: promoters (the top segment), all or none.
    review_audience: str = Field(default="promoters", max_length=16)
    email_delay_days: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    anonymous: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Which responses the inbox lists (app/inbox.py RULES).
    inbox_rule: str = Field(
        default="detractors_text",
        max_length=16,
        sa_column_kwargs={"server_default": "detractors_text"},
    )
    # Who gets an e-mail for each detractor; alerts are on while ``alert_since``
    # is set, and the worker moves it forward as its high-water mark.
    alert_emails: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )
    alert_since: datetime | None = _when(nullable=True)
    # The reward per segment: {segment: {"type": "fixed", "code": ...} | {"type": "pool"}}.
    rewards: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False, server_default=text("'{}'")),
    )
    # Follow-up questions after the score, shaped by app/questions.py.
    questions: list[Any] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )
    created_at: datetime = _when(nullable=False, default=utcnow)


class Response(SQLModel, table=True):
    """One accepted submission. ``nonce`` comes from the display token, so a
    token can be stored at most once. No visitor address is kept."""

    __table_args__ = (
        Index("ix_response_survey_period_created", "survey_id", "period", "created_at"),
        Index("ix_response_account_created", "account_id", "created_at"),
        # The admin figures (app/stats.py): every column they aggregate, so
        # summaries and daily trends are index-only scans of one survey-period.
        Index(
            "ix_response_stats",
            "account_id",
            "survey_id",
            "period",
            "segment",
            "score",
            "created_at",
        ),
        # Only commented responses, newest first, with and without a segment filter.
        Index(
            "ix_response_comments",
            "account_id",
            "survey_id",
            "period",
            "created_at",
            "id",
            sqlite_where=text("comment IS NOT NULL"),
            postgresql_where=text("comment IS NOT NULL"),
        ),
        Index(
            "ix_response_comments_segment",
            "account_id",
            "survey_id",
            "period",
            "segment",
            "created_at",
            "id",
            sqlite_where=text("comment IS NOT NULL"),
            postgresql_where=text("comment IS NOT NULL"),
        ),
        # One answer per invitation.
        Index("ux_response_invitation", "invitation_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=32, unique=True)
    account_id: int = Field(foreign_key="account.id")
    survey_id: int = Field(foreign_key="survey.id")
    period: str = Field(max_length=7)
    score: int
    segment: str = Field(max_length=16)
    comment: str | None = Field(default=None, max_length=2000)
    channel: str = Field(max_length=8)
    page_url: str | None = Field(default=None, max_length=2048)
    locale: str | None = Field(default=None, max_length=35)
    # The invitation answered (channel email); none for an anonymous survey.
    invitation_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("invitation.id", name="fk_response_invitation")),
    )
    created_at: datetime = _when(nullable=False)


class TestResponse(SQLModel, table=True):
    """An answer given through a survey's test key. Kept apart from
    ``response`` so that no figure, trend or export can ever include it, and
    never counted against the budget."""

    __tablename__ = "test_response"
    __table_args__ = (Index("ix_test_response_survey_created", "survey_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=32, unique=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    survey_id: int = Field(foreign_key="survey.id")
    score: int
    segment: str = Field(max_length=16)
    comment: str | None = Field(default=None, max_length=2000)
    channel: str = Field(max_length=8)
    page_url: str | None = Field(default=None, max_length=2048)
    locale: str | None = Field(default=None, max_length=35)
    created_at: datetime = _when(nullable=False)


class Answer(SQLModel, table=True):
    """A visitor's answer to one follow-up question, attached to a stored
    response: a text, an option id or a list of option ids. The first
    answer to a question stands. Counts nothing."""

    __table_args__ = (
        Index("ux_answer_response_question", "response_id", "question_id", unique=True),
        Index("ix_answer_survey", "survey_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("response.id", name="fk_answer_response", ondelete="CASCADE"),
            nullable=False,
        )
    )
    survey_id: int = Field(foreign_key="survey.id")
    question_id: str = Field(max_length=16)
    # JSON text, written and read by app/answers.py alike on both databases.
    value: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when(nullable=False)


class Usage(SQLModel, table=True):
    """Counted and refused submissions of one account in one period."""

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=7)
    used: int = 0
    rejected: int = 0  # widget and link submissions the exhausted budget refused
    # records the exhausted budget refused
    rejected_email: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # the highest budget alert sent this period: 0, 80 or 100
    alerted: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_accepted_at: datetime | None = _when(nullable=True)
    last_accepted_survey_id: int | None = Field(default=None, foreign_key="survey.id")
    # When an answer or a record was last counted: the day a budget ran out.
    last_counted_at: datetime | None = _when(nullable=True)


class Contact(SQLModel, table=True):
    """When a widget or link of a survey last talked to the server ("last data sync")."""

    survey_id: int = Field(foreign_key="survey.id", primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    seen_at: datetime = _when(nullable=False)
    origin: str | None = Field(default=None, max_length=255)
    channel: str = Field(max_length=8)


class RefusedOrigin(SQLModel, table=True):
    """The latest origin a survey's widget was refused on for not being
    allowed: kept apart from ``contact``, which records only healthy contacts."""

    __tablename__ = "refused_origin"

    survey_id: int = Field(foreign_key="survey.id", primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    origin: str = Field(max_length=255)
    refused_at: datetime = _when(nullable=False)


class ApiKey(SQLModel, table=True):
    """A secret an integration sends records with. Only its SHA-256 is kept;
    ``prefix`` (the key's first characters) lets an admin tell keys apart."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str = Field(max_length=80)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _when(nullable=False)
    last_used_at: datetime | None = _when(nullable=True)
    revoked_at: datetime | None = _when(nullable=True)


class Recipient(SQLModel, table=True):
    """A person an account may survey by e-mail, one per mailbox: ``email`` as
    first given (mail goes to it), ``email_key`` the mailbox's key
    (``addresses.email_key``). ``unsubscribed_at`` set is the account's
    suppression list."""

    __table_args__ = (Index("ux_recipient_account_email", "account_id", "email_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    email: str = Field(max_length=254)
    email_key: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=2)
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when(nullable=False)
    unsubscribed_at: datetime | None = _when(nullable=True)


class Record(SQLModel, table=True):
    """A request to survey a recipient and what became of it: ``accepted``
    (it has an invitation), ``unsubscribed`` or ``recently_surveyed``. A record
    the exhausted budget refused is not kept, only counted in ``usage``."""

    __table_args__ = (
        Index("ux_record_account_external", "account_id", "external_id", unique=True),
        Index("ix_record_account_received", "account_id", "received_at"),
        Index("ix_record_account_outcome", "account_id", "outcome", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    survey_id: int = Field(foreign_key="survey.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    external_id: str | None = Field(default=None, max_length=200)
    event: str | None = Field(default=None, max_length=100)
    event_at: datetime | None = _when(nullable=True)
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outcome: str = Field(max_length=20)
    source: str = Field(max_length=8)  # api, csv, manual
    source_name: str = Field(max_length=200)
    period: str = Field(max_length=7)
    received_at: datetime = _when(nullable=False)


class RefusedRecord(SQLModel, table=True):
    """A record refused in ``period``, kept only for the admin's list of them
    (what it needs, no more): deleted when the period has ended, by retention
    and by erasing its address; nothing is ever sent from it."""

    __tablename__ = "refused_record"
    __table_args__ = (
        # The list: one account's period, newest first; and ending past periods.
        Index("ix_refused_record_period", "period", "account_id", "refused_at"),
        # Erasing one mailbox; led by the key, so no list query takes it instead.
        Index("ix_refused_record_email", "email_key", "account_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    period: str = Field(max_length=7)
    email: str = Field(max_length=254)  # as given
    email_key: str = Field(max_length=254)  # addresses.email_key, for erasing
    external_id: str | None = Field(default=None, max_length=200)
    reason: str = Field(max_length=20)  # budget_exhausted, unsubscribed, recently_surveyed
    source: str = Field(max_length=8)  # api, csv, manual
    refused_at: datetime = _when(nullable=False)


class Invitation(SQLModel, table=True):
    """The e-mail of an accepted record. Counted in ``period`` when accepted;
    ``given_back_at`` set means it was never sent and its count went back."""

    __table_args__ = (
        # The sender's claim: due, unclaimed (or lease run out) scheduled invitations.
        Index("ix_invitation_due", "status", "next_attempt_at"),
        Index("ix_invitation_recipient", "recipient_id", "created_at"),
        Index("ix_invitation_account_period", "account_id", "period", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", unique=True)
    account_id: int = Field(foreign_key="account.id")
    survey_id: int = Field(foreign_key="survey.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id")
    period: str = Field(max_length=7)
    status: str = Field(max_length=10)  # scheduled, sent, answered, failed, cancelled
    send_at: datetime = _when(nullable=False)
    next_attempt_at: datetime = _when(nullable=False)
    claimed_until: datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = _when(nullable=True)
    given_back_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when(nullable=False)


class RecordSync(SQLModel, table=True):
    """When records last reached an account, and from where ("last data sync")."""

    __tablename__ = "record_sync"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    arrived_at: datetime = _when(nullable=False)
    source: str = Field(max_length=8)
    source_name: str = Field(max_length=200)


class RecordUpload(SQLModel, table=True):
    """One CSV upload's result: counts per outcome and its refused rows."""

    __tablename__ = "record_upload"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="SET NULL")
    filename: str = Field(max_length=200)
    outcomes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [[line, email, reason], ...] of the rows not accepted
    refused: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when(nullable=False)


class InboxItem(SQLModel, table=True):
    """The state of an inbox item from its first change; a response without
    a row is open and unassigned, so answering writes nothing here."""

    __tablename__ = "inbox_item"
    __table_args__ = (Index("ix_inbox_item_account_status", "account_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    response_id: int = Field(foreign_key="response.id", unique=True, ondelete="CASCADE")
    status: str = Field(max_length=12)  # open, in_progress, done
    assignee_id: int | None = Field(default=None, foreign_key="admin_user.id", ondelete="SET NULL")
    updated_at: datetime = _when(nullable=False)


class InboxNote(SQLModel, table=True):
    """An internal note on an item, or the record of a reply sent by e-mail."""

    __tablename__ = "inbox_note"
    __table_args__ = (Index("ix_inbox_note_response", "response_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    response_id: int = Field(foreign_key="response.id", ondelete="CASCADE")
    author_id: int | None = Field(default=None, foreign_key="admin_user.id", ondelete="SET NULL")
    kind: str = Field(max_length=8)  # note, reply
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when(nullable=False)


class InboxMail(SQLModel, table=True):
    """A reply to a respondent or a detractor alert, queued for the worker,
    which sends and retries it like an invitation."""

    __tablename__ = "inbox_mail"
    __table_args__ = (Index("ix_inbox_mail_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    response_id: int | None = Field(
        default=None, foreign_key="response.id", ondelete="SET NULL", index=True
    )
    kind: str = Field(max_length=8)  # reply, alert
    to_email: str = Field(max_length=254)
    reply_to: str | None = Field(default=None, max_length=254)
    # The display names of From and To, as they were when the reply was written.
    from_name: str | None = Field(default=None, max_length=200)
    to_name: str | None = Field(default=None, max_length=200)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    language: str = Field(max_length=2)
    # "alert:{response}:{address}": one alert per response and address.
    dedupe_key: str | None = Field(default=None, max_length=300, unique=True)
    status: str = Field(max_length=10)  # scheduled, sent, failed
    next_attempt_at: datetime = _when(nullable=False)
    claimed_until: datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when(nullable=False)


class WebhookEndpoint(SQLModel, table=True):
    """Where an account wants its events POSTed. ``events`` is the wanted
    types between commas (",response.created,record.refused,"), so the
    outbox's one INSERT ... SELECT filters with LIKE on both databases. The
    secret signs every message and so is kept as it is; after a rotation the
    previous one also signs until ``previous_until``."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_account", "account_id", "active"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    url: str = Field(max_length=2048)
    events: str = Field(max_length=200)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_until: datetime | None = _when(nullable=True)
    active: bool = True
    disabled_at: datetime | None = _when(nullable=True)
    disabled_reason: str | None = Field(default=None, max_length=500)
    # Messages that failed for good since the last success.
    failed_in_a_row: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The first failed attempt since the last success.
    failing_since: datetime | None = _when(nullable=True)
    created_at: datetime = _when(nullable=False)


class WebhookMessage(SQLModel, table=True):
    """One event for one endpoint: the outbox row, written in the event's own
    transaction. ``msg_id`` is the ``webhook-id`` of every attempt; ``body``
    is kept as sent, so every retry signs the same bytes."""

    __tablename__ = "webhook_message"
    __table_args__ = (
        Index("ix_webhook_message_due", "status", "next_attempt_at"),
        UniqueConstraint("endpoint_id", "msg_id", name="ux_webhook_message_endpoint_msg"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id")
    msg_id: str = Field(max_length=40)
    event_type: str = Field(max_length=40)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=10)  # pending, delivered, failed
    next_attempt_at: datetime = _when(nullable=False)
    claimed_until: datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when(nullable=False)


class Coupon(SQLModel, table=True):
    """One code of a survey's pool for a segment. ``handed_at`` set means it
    was given out, to ``response_id`` (kept given out if that response is
    deleted later: the visitor has seen it)."""

    __table_args__ = (
        Index("ux_coupon_code", "survey_id", "segment", "code", unique=True),
        # The next free code of a pool, without reading the handed-out ones.
        Index(
            "ix_coupon_free",
            "survey_id",
            "segment",
            "id",
            sqlite_where=text("handed_at IS NULL"),
            postgresql_where=text("handed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    survey_id: int = Field(foreign_key="survey.id")
    segment: str = Field(max_length=16)
    code: str = Field(max_length=64)
    response_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("response.id", name="fk_coupon_response", ondelete="SET NULL"),
            unique=True,
        ),
    )
    handed_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when(nullable=False)


class ReviewCount(SQLModel, table=True):
    """How often a survey's review link was offered and followed on one day
    (in the billing zone): counts only, nothing about who."""

    __tablename__ = "review_count"

    survey_id: int = Field(foreign_key="survey.id", primary_key=True)
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD
    account_id: int = Field(foreign_key="account.id", index=True)
    shown: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    followed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class WebhookAttempt(SQLModel, table=True):
    """One POST of a message and its outcome: a status code or an error."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_endpoint", "endpoint_id", "attempted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="webhook_message.id", ondelete="CASCADE")
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", ondelete="CASCADE")
    attempted_at: datetime = _when(nullable=False)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int


# Core handles for the hot paths, which skip the ORM.
tariff_table: Table = Tariff.__table__  # type: ignore[attr-defined]
account_table: Table = Account.__table__  # type: ignore[attr-defined]
admin_table: Table = AdminUser.__table__  # type: ignore[attr-defined]
admin_session_table: Table = AdminSession.__table__  # type: ignore[attr-defined]
survey_table: Table = Survey.__table__  # type: ignore[attr-defined]
response_table: Table = Response.__table__  # type: ignore[attr-defined]
answer_table: Table = Answer.__table__  # type: ignore[attr-defined]
test_response_table: Table = SQLModel.metadata.tables["test_response"]
usage_table: Table = Usage.__table__  # type: ignore[attr-defined]
contact_table: Table = Contact.__table__  # type: ignore[attr-defined]
refused_origin_table: Table = SQLModel.metadata.tables[RefusedOrigin.__tablename__]
api_key_table: Table = SQLModel.metadata.tables["api_key"]
recipient_table: Table = Recipient.__table__  # type: ignore[attr-defined]
record_table: Table = Record.__table__  # type: ignore[attr-defined]
invitation_table: Table = Invitation.__table__  # type: ignore[attr-defined]
refused_record_table: Table = SQLModel.metadata.tables["refused_record"]
record_sync_table: Table = SQLModel.metadata.tables["record_sync"]
record_upload_table: Table = SQLModel.metadata.tables["record_upload"]
inbox_item_table: Table = SQLModel.metadata.tables["inbox_item"]
inbox_note_table: Table = SQLModel.metadata.tables["inbox_note"]
inbox_mail_table: Table = SQLModel.metadata.tables["inbox_mail"]
coupon_table: Table = Coupon.__table__  # type: ignore[attr-defined]
review_count_table: Table = SQLModel.metadata.tables["review_count"]
webhook_endpoint_table: Table = SQLModel.metadata.tables["webhook_endpoint"]
webhook_message_table: Table = SQLModel.metadata.tables["webhook_message"]
webhook_attempt_table: Table = SQLModel.metadata.tables["webhook_attempt"]
