"""The period's budget by channel: e-mails not given back, widget and link
answers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Select, func, select

from app.platform.models import invitation_table as invitation
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey

# Only these answers count; an answer to an invitation (channel ``email``)
# counts nothing, the invitation was counted when its record was accepted.
COUNTED_CHANNELS = ("widget", "link")

# An invitation in one of these states was never sent and gave its count back
# (``records.end_unsent`` is the only way into them).
GIVEN_BACK = ("failed", "cancelled")


def invitations_query(account_id: int, period: str) -> Select[tuple[str, int]]:
    return (
        select(invitation.c.status, func.count().label("n"))
        .where(invitation.c.account_id == account_id, invitation.c.period == period)
        .group_by(invitation.c.status)
    )


def answers_query(account_id: int, period: str) -> Select[tuple[str, int]]:
    # The account's surveys lead ix_response_stats to the period of each one.
    of_account = select(survey.c.id).where(survey.c.account_id == account_id)
    return (
        select(response.c.channel, func.count().label("n"))
        .where(
            response.c.account_id == account_id,
            response.c.survey_id.in_(of_account.scalar_subquery()),
            response.c.period == period,
            response.c.channel.in_(COUNTED_CHANNELS),
        )
        .group_by(response.c.channel)
    )


@dataclass(frozen=True)
class ChannelUse:
    """What the period's ``used`` went to."""

    email: int  # invitations sent or scheduled, not given back
    scheduled: int  # of those, not sent yet
    widget: int
    link: int

    @property
    def total(self) -> int:
        return self.email + self.widget + self.link


def channel_use(conn: Connection, account_id: int, period: str) -> ChannelUse:
    statuses = {
        str(row.status): int(row.n) for row in conn.execute(invitations_query(account_id, period))
    }
    answers = {
        str(row.channel): int(row.n) for row in conn.execute(answers_query(account_id, period))
    }
    email = sum(n for status, n in statuses.items() if status not in GIVEN_BACK)
    return ChannelUse(
        email, statuses.get("scheduled", 0), answers.get("widget", 0), answers.get("link", 0)
    )
