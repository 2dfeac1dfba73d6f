"""What the admin's records pages read: the account's recent records with
what became of each (its invitation's state, or why it was refused), one
page at a time and filtered by status and survey, and one record to confirm
cancelling it. Every query is scoped to one account.

A record the exhausted budget refused is not kept (see ``records``), so it
is not among the records; every refusal of the current period is listed
apart, from ``refused_record``, with its CSV download.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Join,
    Row,
    Select,
    and_,
    func,
    select,
    true,
)

from app.invitations import records
from app.platform import db, i18n, sheet_csv
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_table as record
from app.platform.models import refused_record_table as refused
from app.platform.models import survey_table as survey
from app.surveys import model as surveys

PER_PAGE = 50
# What the status filter offers: an invitation's states, and the records
# refused without one (unsubscribed, recently surveyed).
STATUSES = (*records.STATUSES, "refused")


@dataclass(frozen=True)
class RecordRow:
    id: int
    received_at: datetime
    email: str
    name: str | None
    survey_id: int
    survey_name: str
    source: str  # api, csv, manual
    source_name: str
    status: str  # one of STATUSES
    reason: str | None  # why a refused record was refused
    period: str
    send_at: datetime | None
    sent_at: datetime | None
    # A sender holds the invitation now: it cannot be cancelled at this moment.
    sending: bool
    # What the integration said the record is about (its order, its ticket).
    external_id: str | None = None
    event: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def cancellable(self) -> bool:
        return self.status == "scheduled" and not self.sending


@dataclass(frozen=True)
class RecordPage:
    items: list[RecordRow]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class SurveyChoice:
    id: int
    name: str
    active: bool


def _joined() -> Join:
    return (
        record.join(recipient, recipient.c.id == record.c.recipient_id)
        .join(survey, survey.c.id == record.c.survey_id)
        .outerjoin(invitation, invitation.c.record_id == record.c.id)
    )


def _columns(now: datetime) -> Select[Any]:
    return select(
        record.c.id,
        record.c.received_at,
        recipient.c.email,
        recipient.c.name,
        record.c.survey_id,
        survey.c.name.label("survey_name"),
        record.c.source,
        record.c.source_name,
        record.c.outcome,
        record.c.period,
        record.c.external_id,
        record.c.event,
        record.c.properties,
        invitation.c.status,
        invitation.c.send_at,
        invitation.c.sent_at,
        (invitation.c.claimed_until > now).label("sending"),
    ).select_from(_joined())


def _row(row: Row[Any]) -> RecordRow:
    values = row._mapping
    status = values["status"]
    return RecordRow(
        id=values["id"],
        received_at=values["received_at"],
        email=values["email"],
        name=values["name"],
        survey_id=values["survey_id"],
        survey_name=values["survey_name"],
        source=values["source"],
        source_name=values["source_name"],
        status=status or "refused",
        reason=None if status else values["outcome"],
        period=values["period"],
        send_at=values["send_at"],
        sent_at=values["sent_at"],
        sending=bool(values["sending"]),
        external_id=values["external_id"],
        event=values["event"],
        properties=dict(values["properties"] or {}),
    )


def _where(account_id: int, status: str | None, survey_id: int | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [record.c.account_id == account_id]
    if survey_id is not None:
        conditions.append(record.c.survey_id == survey_id)
    if status == "refused":
        conditions.append(record.c.outcome != "accepted")
    elif status in records.STATUSES:
        conditions.append(invitation.c.status == status)
    return and_(true(), *conditions)


def list_records(
    engine: Engine,
    account_id: int,
    now: datetime,
    *,
    status: str | None = None,
    survey_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> RecordPage:
    """The account's records, newest first, one page of them; ``status`` one
    of ``STATUSES`` (anything else: all)."""
    per_page = max(1, per_page)
    where = _where(account_id, status, survey_id)
    with db.read(engine) as conn:
        total = int(
            conn.execute(select(func.count()).select_from(_joined()).where(where)).scalar_one()
        )
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        rows = conn.execute(
            _columns(now)
            .where(where)
            .order_by(record.c.received_at.desc(), record.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return RecordPage([_row(row) for row in rows], page, pages, total)


def find_record(engine: Engine, account_id: int, record_id: int, now: datetime) -> RecordRow | None:
    """The account's record; None for another account's, as for none at all."""
    with db.read(engine) as conn:
        row = conn.execute(
            _columns(now).where(record.c.id == record_id, record.c.account_id == account_id)
        ).first()
    return None if row is None else _row(row)


def survey_choices(engine: Engine, account_id: int) -> list[SurveyChoice]:
    """The account's surveys, as the filters and forms offer them."""
    with db.read(engine) as conn:
        return _choices(conn, account_id)


def _choices(conn: Connection, account_id: int) -> list[SurveyChoice]:
    return [
        SurveyChoice(item.id, item.name, item.active)
        for item in surveys.list_for_account(conn, account_id)
    ]


def first_survey_id(choices: list[SurveyChoice]) -> int | None:
    """The survey an example should name: the first active one."""
    ordered = sorted(choices, key=lambda choice: not choice.active)
    return ordered[0].id if ordered else None


# -- the period's refused records ------------------------------------------------


@dataclass(frozen=True)
class RefusedRow:
    id: int
    refused_at: datetime
    email: str
    external_id: str | None
    reason: str  # one of records.REFUSALS
    source: str  # api, csv, manual


@dataclass(frozen=True)
class RefusedPage:
    period: str
    items: list[RefusedRow]
    page: int
    pages: int
    total: int


REFUSED_COLUMNS = ("refused_at", "email", "external_id", "reason", "source")


def refused_query(account_id: int, period: str, *, newest_first: bool = True) -> Select[Any]:
    """The account's refusals of ``period``, read along ix_refused_record_period
    (period, account, time), so thousands of them cost a page's rows."""
    order = (refused.c.refused_at, refused.c.id)
    return (
        select(
            refused.c.id,
            refused.c.refused_at,
            refused.c.email,
            refused.c.external_id,
            refused.c.reason,
            refused.c.source,
        )
        .where(refused.c.period == period, refused.c.account_id == account_id)
        .order_by(*(column.desc() for column in order) if newest_first else order)
    )


def refused_count_query(account_id: int, period: str) -> Select[Any]:
    return select(func.count()).where(
        refused.c.period == period, refused.c.account_id == account_id
    )


def list_refused(
    engine: Engine, account_id: int, period: str, *, page: int = 1, per_page: int = PER_PAGE
) -> RefusedPage:
    """The account's records refused in ``period``, newest first, one page."""
    per_page = max(1, per_page)
    with db.read(engine) as conn:
        total = int(conn.execute(refused_count_query(account_id, period)).scalar_one())
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        rows = conn.execute(
            refused_query(account_id, period).limit(per_page).offset((page - 1) * per_page)
        ).all()
    items = [RefusedRow(**row._mapping) for row in rows]
    return RefusedPage(period, items, page, pages, total)


def refused_csv(engine: Engine, account_id: int, period: str, language: str) -> Iterator[str]:
    """The account's records refused in ``period`` as CSV text chunks, oldest
    first, reasons and sources in ``language``, through the export's writer
    (free text neutralised). Rows come in batches from a server-side cursor."""
    words = i18n.translator(language)
    writer = sheet_csv.SheetWriter()
    yield sheet_csv.BOM + writer.row(REFUSED_COLUMNS)
    query = refused_query(account_id, period, newest_first=False)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=sheet_csv.BATCH)
        for batch in result.execute(query).partitions():
            yield writer.rows(
                (
                    row.refused_at,
                    row.email,
                    row.external_id,
                    words(f"records.reason.{row.reason}"),
                    words(f"records.source.{row.source}"),
                )
                for row in batch
            )
