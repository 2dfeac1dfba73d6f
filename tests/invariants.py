"""Invariants the tests check against the database."""

from __future__ import annotations

from sqlalchemy import (
    Connection,
    and_,
    func,
    select,
)

from app.budget import rule as budget
from app.platform.models import invitation_table as invitation
from app.platform.models import response_table as response


def usage_invariant(conn: Connection, account_id: int, period: str) -> tuple[int, int]:
    """(used, counted answers + invitations not given back) for one period:
    the two are equal unless responses were deleted."""
    used = conn.execute(
        select(func.coalesce(func.max(budget.usage.c.used), 0)).where(
            budget.usage.c.account_id == account_id, budget.usage.c.period == period
        )
    ).scalar_one()
    answers = conn.execute(
        select(func.count()).where(
            response.c.account_id == account_id,
            response.c.period == period,
            response.c.channel.in_(("widget", "link")),
        )
    ).scalar_one()
    invitations = conn.execute(
        select(func.count()).where(
            and_(
                invitation.c.account_id == account_id,
                invitation.c.period == period,
                invitation.c.given_back_at.is_(None),
            )
        )
    ).scalar_one()
    return int(used), int(answers) + int(invitations)
