"""The dashboard's figures of e-mail surveys: how the period's budget went
to each channel, when records last arrived and when one was last accepted,
and the records refused this period by reason.

Every query is scoped to one account and reads an index: invitations by
``ix_invitation_account_period`` (index-only, grouped by status), records by
``ix_record_account_outcome``, answers by ``ix_response_stats``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, and_, func, select

from app.budget import rule as budget
from app.budget.channels import ChannelUse, channel_use
from app.platform.models import record_sync_table as record_sync
from app.platform.models import record_table as record
from app.platform.models import survey_table as survey

# Refusals kept as record rows; ``budget_exhausted`` keeps none, only its count.
KEPT_REFUSALS = ("recently_surveyed", "unsubscribed")


@dataclass(frozen=True)
class Arrival:
    """Where records came from: ``api`` (the key's name), ``csv`` (the
    file's name) or ``manual`` (who entered it)."""

    at: datetime
    source: str
    source_name: str


@dataclass(frozen=True)
class LastRecord:
    arrival: Arrival
    survey_name: str | None  # None once that survey was deleted


@dataclass(frozen=True)
class RecordRefusals:
    budget_exhausted: int  # lapsed: not kept for a later month
    recently_surveyed: int
    unsubscribed: int

    @property
    def total(self) -> int:
        return self.budget_exhausted + self.recently_surveyed + self.unsubscribed


@dataclass(frozen=True)
class EmailFigures:
    channels: ChannelUse
    sync: Arrival | None  # "last data sync" of records; None before the first
    last_record: LastRecord | None
    refusals: RecordRefusals


def figures(
    conn: Connection, account_id: int, period: str, zone: ZoneInfo, rejected_email: int
) -> EmailFigures:
    """The dashboard's e-mail figures for ``period``; ``rejected_email`` is
    the period's count of records the exhausted budget refused (from usage)."""
    return EmailFigures(
        channel_use(conn, account_id, period),
        last_sync(conn, account_id),
        last_record(conn, account_id),
        refusals(conn, account_id, period, zone, rejected_email),
    )


def last_sync(conn: Connection, account_id: int) -> Arrival | None:
    row = conn.execute(
        select(record_sync.c.arrived_at, record_sync.c.source, record_sync.c.source_name).where(
            record_sync.c.account_id == account_id
        )
    ).first()
    return None if row is None else Arrival(row.arrived_at, row.source, row.source_name)


def last_record_query(account_id: int) -> Select[tuple[datetime, str, str, str | None]]:
    of_account = and_(survey.c.id == record.c.survey_id, survey.c.account_id == account_id)
    return (
        select(record.c.received_at, record.c.source, record.c.source_name, survey.c.name)
        .select_from(record.outerjoin(survey, of_account))
        .where(record.c.account_id == account_id, record.c.outcome == "accepted")
        .order_by(record.c.received_at.desc(), record.c.id.desc())
        .limit(1)
    )


def last_record(conn: Connection, account_id: int) -> LastRecord | None:
    """The account's last accepted record, of any period."""
    row = conn.execute(last_record_query(account_id)).first()
    if row is None:
        return None
    return LastRecord(Arrival(row.received_at, row.source, row.source_name), row.name)


def refusals_query(account_id: int, period: str, zone: ZoneInfo) -> Select[tuple[str, int]]:
    # The period as a range of received_at (a record's period is the month it
    # was received in), so the count stays inside ix_record_account_outcome.
    start = budget.period_start(period, zone)
    end = budget.period_start(budget.next_period(period), zone)
    return (
        select(record.c.outcome, func.count().label("n"))
        .where(
            record.c.account_id == account_id,
            record.c.outcome.in_(KEPT_REFUSALS),
            record.c.received_at >= start,
            record.c.received_at < end,
        )
        .group_by(record.c.outcome)
    )


def refusals(
    conn: Connection, account_id: int, period: str, zone: ZoneInfo, rejected_email: int
) -> RecordRefusals:
    counts = {
        str(row.outcome): int(row.n)
        for row in conn.execute(refusals_query(account_id, period, zone))
    }
    return RecordRefusals(
        rejected_email, counts.get("recently_surveyed", 0), counts.get("unsubscribed", 0)
    )
