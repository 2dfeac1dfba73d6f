"""Deleting what an owner no longer wants: one response, or a survey with
everything that hangs on it. Every call is scoped to one account.

An answer or a sent invitation that was counted stays counted, so deleting
gives no budget back; only a survey's invitations still waiting to be sent
do, as any cancelled invitation does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func, select, update

from app.invitations import record_status
from app.platform import db
from app.platform.models import (
    answer_table,
    contact_table,
    coupon_table,
    invitation_table,
    record_table,
    refused_origin_table,
    response_table,
    review_count_table,
    survey_table,
    test_response_table,
    usage_table,
)
from app.surveys import model as surveys
from app.surveys.model import Survey

response = response_table


# -- one response ------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    survey: Survey
    id: int
    created_at: datetime
    score: int
    segment: str
    comment: str | None
    channel: str
    period: str


def find_response(
    engine: Engine, account_id: int, survey_id: int, response_id: int
) -> StoredResponse | None:
    """The response only if it belongs to the account's survey."""
    with db.read(engine) as conn:
        survey = surveys.get_for_account(conn, account_id, survey_id)
        if survey is None:
            return None
        row = conn.execute(
            select(
                response.c.id,
                response.c.created_at,
                response.c.score,
                response.c.segment,
                response.c.comment,
                response.c.channel,
                response.c.period,
            ).where(
                response.c.id == response_id,
                response.c.survey_id == survey_id,
                response.c.account_id == account_id,
            )
        ).first()
    return StoredResponse(survey, *row) if row is not None else None


def delete_response(engine: Engine, account_id: int, survey_id: int, response_id: int) -> bool:
    """True when the account's response was there to delete."""
    with db.write(engine) as conn:
        # Its follow-up answers go with it (the foreign key cascades too).
        conn.execute(
            delete(answer_table).where(
                answer_table.c.response_id.in_(
                    select(response.c.id).where(
                        response.c.id == response_id,
                        response.c.survey_id == survey_id,
                        response.c.account_id == account_id,
                    )
                )
            )
        )
        result = conn.execute(
            delete(response).where(
                response.c.id == response_id,
                response.c.survey_id == survey_id,
                response.c.account_id == account_id,
            )
        )
    return result.rowcount == 1


# -- a survey ------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyContents:
    survey: Survey
    responses: int
    tests: int


def survey_contents(engine: Engine, account_id: int, survey_id: int) -> SurveyContents | None:
    """What deleting the account's survey would remove."""
    with db.read(engine) as conn:
        survey = surveys.get_for_account(conn, account_id, survey_id)
        if survey is None:
            return None
        counts = [
            conn.execute(
                select(func.count()).select_from(table).where(table.c.survey_id == survey_id)
            ).scalar_one()
            for table in (response, test_response_table)
        ]
    return SurveyContents(survey, int(counts[0]), int(counts[1]))


def delete_survey(
    engine: Engine, account_id: int, survey_id: int, now: datetime | None = None
) -> bool:
    """Delete the account's survey, its responses with their follow-up
    answers, test answers, records, invitations and last contact, in one
    transaction; True when it was there
    to delete. Invitations not sent yet are cancelled first: their count goes
    back to the period that was charged."""
    now = now or datetime.now(UTC)
    with db.write(engine) as conn:
        if surveys.get_for_account(conn, account_id, survey_id) is None:
            return False
        waiting = conn.execute(
            select(invitation_table.c.id).where(
                invitation_table.c.survey_id == survey_id,
                invitation_table.c.status == "scheduled",
            )
        ).scalars()
        for invitation_id in list(waiting):
            record_status.end_unsent(conn, invitation_id, "cancelled", now, "survey deleted")
        # The month's counts stay; only the pointer to the survey goes.
        conn.execute(
            update(usage_table)
            .where(
                usage_table.c.account_id == account_id,
                usage_table.c.last_accepted_survey_id == survey_id,
            )
            .values(last_accepted_survey_id=None)
        )
        for table in (
            coupon_table,  # before responses: a code names the response it went to
            review_count_table,
            answer_table,  # before their responses
            response,  # before invitations: an answer names its invitation
            test_response_table,
            contact_table,
            refused_origin_table,
            invitation_table,
            record_table,
        ):
            conn.execute(delete(table).where(table.c.survey_id == survey_id))
        conn.execute(delete(survey_table).where(survey_table.c.id == survey_id))
    return True
