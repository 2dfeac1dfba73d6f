"""What the admin pages read and write, one transaction per call. Every read
and write of a survey is scoped to the account of the admin who asks, so one
tenant never sees another's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, literal, update

from app.answers import rewards
from app.editor import form as survey_form
from app.platform import db
from app.platform.models import UTCDateTime, survey_table
from app.results import stats
from app.surveys import model as surveys
from app.surveys.model import Survey

# -- surveys ---------------------------------------------------------------


@dataclass(frozen=True)
class ListedSurvey:
    survey: Survey
    answers: stats.AnswerCounts


def survey_overview(engine: Engine, account_id: int, period: str) -> list[ListedSurvey]:
    """The account's surveys with their answers in ``period`` and in all."""
    with db.read(engine) as conn:
        listed = surveys.list_for_account(conn, account_id)
        counts = stats.answer_counts(conn, account_id, period)
    none = stats.AnswerCounts(0, 0)
    return [ListedSurvey(survey, counts.get(survey.id, none)) for survey in listed]


def get_survey(engine: Engine, account_id: int, survey_id: int) -> Survey | None:
    """The survey only if it belongs to ``account_id``; None looks the same
    as a survey that does not exist at all."""
    with db.read(engine) as conn:
        return surveys.get_for_account(conn, account_id, survey_id)


def create_survey(
    engine: Engine, account_id: int, values: dict[str, Any], now: datetime | None = None
) -> int:
    values = _with_alert_mark(values, now, None)
    with db.write(engine) as conn:
        survey_id, _public_id = surveys.create_survey(conn, account_id, **values)
    return survey_id


def update_survey(
    engine: Engine,
    account_id: int,
    survey_id: int,
    values: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Save edited settings; the kind never changes once answers may exist."""
    values = {key: value for key, value in values.items() if key != "kind"}
    values = _with_alert_mark(values, now, survey_table.c.alert_since)
    return _update_survey(engine, account_id, survey_id, values)


def _with_alert_mark(
    values: dict[str, Any], now: datetime | None, kept: ColumnElement[Any] | None
) -> dict[str, Any]:
    """Detractor alerts are on while the survey has addresses: switched on,
    they start with the responses from now (``app.inbox_mail``); left on,
    the worker's mark stays where it is; switched off, it is cleared."""
    if "alert_emails" not in values:
        return values
    if not values["alert_emails"]:
        return {**values, "alert_since": None}
    start = literal(now or datetime.now(UTC), UTCDateTime())
    mark = start if kept is None else case((kept.is_(None), start), else_=kept)
    return {**values, "alert_since": mark}


def allow_origin(engine: Engine, account_id: int, survey_id: int, origin: str) -> Survey | None:
    """Allow ``origin`` for the account's survey (see ``surveys.allow_origin``)."""
    with db.write(engine) as conn:
        return surveys.allow_origin(conn, account_id, survey_id, origin, survey_form.MAX_ORIGINS)


def set_active(engine: Engine, account_id: int, survey_id: int, active: bool) -> bool:
    return _update_survey(engine, account_id, survey_id, {"active": active})


def _update_survey(engine: Engine, account_id: int, survey_id: int, values: dict[str, Any]) -> bool:
    """True when the account's survey was there to change."""
    with db.write(engine) as conn:
        result = conn.execute(
            update(survey_table)
            .where(survey_table.c.id == survey_id, survey_table.c.account_id == account_id)
            .values(**values)
        )
    return result.rowcount == 1


# -- rewards -----------------------------------------------------------------


def pools(engine: Engine, account_id: int, survey_id: int) -> dict[str, rewards.Pool]:
    """Codes left and handed out per segment of the account's survey."""
    with db.read(engine) as conn:
        return rewards.pools(conn, account_id, survey_id)
