"""The owner's test answers: given through a survey's test key, kept in
``test_response``, listed on a page of their own and cleared by the owner.
Every call is scoped to one account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, delete, func, select

from app.platform import db
from app.platform.models import test_response_table as test_response
from app.surveys import model as surveys
from app.surveys.model import Survey

SHOWN = 100


@dataclass(frozen=True)
class OwnerTest:
    id: int
    created_at: datetime
    score: int
    segment: str
    comment: str | None
    channel: str
    page_url: str | None


@dataclass(frozen=True)
class OwnerTests:
    survey: Survey
    items: list[OwnerTest]
    total: int


def _of(account_id: int, survey_id: int) -> ColumnElement[bool]:
    return and_(test_response.c.account_id == account_id, test_response.c.survey_id == survey_id)


def for_survey(engine: Engine, account_id: int, survey_id: int) -> OwnerTests | None:
    """The newest test answers of the account's survey; None for another account's."""
    with db.read(engine) as conn:
        survey = surveys.get_for_account(conn, account_id, survey_id)
        if survey is None:
            return None
        where = _of(account_id, survey_id)
        count = select(func.count()).select_from(test_response).where(where)
        total = conn.execute(count).scalar_one()
        rows = conn.execute(
            select(
                test_response.c.id,
                test_response.c.created_at,
                test_response.c.score,
                test_response.c.segment,
                test_response.c.comment,
                test_response.c.channel,
                test_response.c.page_url,
            )
            .where(where)
            .order_by(test_response.c.created_at.desc(), test_response.c.id.desc())
            .limit(SHOWN)
        ).all()
    items = [OwnerTest(*row) for row in rows]
    return OwnerTests(survey, items, int(total))


def clear(engine: Engine, account_id: int, survey_id: int) -> int | None:
    """Delete the survey's test answers; how many went, or None for a
    survey that is not the account's."""
    with db.write(engine) as conn:
        if surveys.get_for_account(conn, account_id, survey_id) is None:
            return None
        result = conn.execute(delete(test_response).where(_of(account_id, survey_id)))
    return int(result.rowcount)
