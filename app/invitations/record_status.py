"""A record's status as the API reports it, and ending what is never sent:
cancelling, unsubscribing, giving an unsent invitation's count back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    select,
    update,
)

from app.budget import rule as budget
from app.platform import db
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_table as record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey


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
