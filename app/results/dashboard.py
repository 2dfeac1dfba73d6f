"""What the admin's dashboard and results pages read: the first steps of a new
account, the period's figures, a survey's results; one transaction per call,
scoped to one account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from app.answers import follow_ups as answers
from app.answers import rewards
from app.budget import rule as budget
from app.budget.tariff_page import Tariff, offered_tariffs
from app.budget.tariffs import tariff_state
from app.platform import db
from app.results import email_stats, stats
from app.results.trend import daily_trend
from app.surveys import contacts
from app.surveys import model as surveys
from app.surveys.model import Survey


@dataclass(frozen=True)
class Onboarding:
    """A new account's first steps, each read from what happened: a survey
    exists, one of its widgets or links contacted the server, an answer came."""

    first_survey_id: int | None
    contacted: bool
    answered_survey_id: int | None

    @property
    def steps_done(self) -> int:
        steps = (self.first_survey_id, self.contacted, self.answered_survey_id)
        return sum(1 for step in steps if step)

    @property
    def done(self) -> bool:
        return self.steps_done == 3


@dataclass(frozen=True)
class Dashboard:
    period: str
    usage: budget.UsageState
    tariff: Tariff | None
    resets_at: datetime
    contact: stats.LastContact | None
    accepted: stats.LastAccepted | None
    forecast: budget.Forecast
    suggested: Tariff | None
    nps: stats.Summary
    has_surveys: bool
    refusals: list[contacts.Refusal]
    onboarding: Onboarding
    pending: Tariff | None  # a downgrade waiting for its month
    pending_starts: date | None
    email: email_stats.EmailFigures
    # Rewards of active surveys whose pool of codes has run out.
    empty_pools: list[rewards.EmptyPool] = field(default_factory=list)


def dashboard(engine: Engine, account_id: int, now: datetime, zone: ZoneInfo) -> Dashboard:
    """The account's month at a glance, read in one transaction."""
    period = budget.period_of(now, zone)
    with db.read(engine) as conn:
        usage = budget.usage_state(conn, account_id, period)
        tariff = tariff_state(conn, account_id, period)
        tariffs = {item.code: item for item in offered_tariffs(conn)}
        contact = stats.last_contact(conn, account_id)
        accepted = stats.last_accepted(conn, account_id, period)
        forecast = budget.forecast(conn, account_id, period, now, zone)
        nps = stats.account_nps(conn, account_id, period)
        listed = {survey.id: survey for survey in surveys.list_for_account(conn, account_id)}
        refusals = contacts.refusals(conn, account_id, now)
        answered = stats.first_answered_survey(conn, account_id)
        email = email_stats.figures(conn, account_id, period, zone, usage.rejected_email)
        empty_pools = rewards.empty_pools(conn, account_id, listed.values())
    first = next(iter(listed), None)
    onboarding = Onboarding(first, contact is not None, answered)
    return Dashboard(
        period,
        usage,
        tariffs.get(tariff.code),
        budget.period_start(budget.next_period(period), zone),
        contact,
        accepted,
        forecast,
        tariffs.get(forecast.suggested_tariff or ""),
        nps,
        bool(listed),
        # Only what still holds: an origin allowed since, or a survey switched
        # off since (which allowing would not bring back), warns no more.
        [
            refusal
            for refusal in refusals
            if listed[refusal.survey_id].active
            and not listed[refusal.survey_id].allows(refusal.origin)
        ],
        onboarding,
        tariffs.get(tariff.pending_code or ""),
        budget.period_start(tariff.pending_from, zone).date() if tariff.pending_from else None,
        email,
        empty_pools,
    )


@dataclass(frozen=True)
class Results:
    survey: Survey
    segment: str | None
    summary: stats.Summary
    trend: list[stats.Day]
    comments: stats.CommentPage
    periods: list[str]
    review: rewards.ReviewFigures
    # Follow-up answers: the month's per question, and those of the listed comments.
    follow_ups: list[answers.QuestionSummary] = field(default_factory=list)
    answers: dict[int, list[answers.Answered]] = field(default_factory=dict)


def results(
    engine: Engine,
    account_id: int,
    survey_id: int,
    period: str,
    *,
    segment: str | None,
    page: int,
    zone: ZoneInfo,
    language: str | None = None,
) -> Results | None:
    """A survey's figures of one month and one page of its comments (of one
    segment, if it is one of the survey's kind); None for a survey that is
    not the account's."""
    with db.read(engine) as conn:
        survey = surveys.get_for_account(conn, account_id, survey_id)
        if survey is None:
            return None
        segment = segment if segment in survey.scale.segments else None
        summary = stats.survey_summary(conn, account_id, survey_id, period)
        trend = daily_trend(conn, account_id, survey_id, period, zone)
        comments = stats.comments(
            conn, account_id, survey_id, period, segment, page, recipients=not survey.anonymous
        )
        periods = stats.list_periods(conn, account_id)
        review = rewards.review_figures(conn, account_id, survey_id, period)
        # Follow-up labels in the admin's language where the survey has it.
        follow_ups = answers.summary(conn, account_id, survey, period, language)
        given = answers.answers_for(conn, [item.id for item in comments.items], language)
    if summary is None:  # pragma: no cover - the survey was found above
        return None
    return Results(survey, segment, summary, trend, comments, periods, review, follow_ups, given)
