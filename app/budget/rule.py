"""The budget rule: periods, the tariff in force, counting a submission, and
the forecast of when the budget runs out.

A submission is counted by one guarded upsert of ``usage(account, period)``
inside the transaction that stores the response, so the count and the stored
rows can never disagree, whatever the number of workers or hosts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Case, Connection, and_, bindparam, case, select, text

from app.platform import driver
from app.platform.driver import Executor
from app.platform.models import UTCDateTime
from app.platform.models import account_table as account
from app.platform.models import tariff_table as tariff
from app.platform.models import usage_table as usage


class UnknownAccount(LookupError):
    def __str__(self) -> str:
        return f"no account with id {self.args[0]}"


# -- periods ---------------------------------------------------------------


def period_of(moment: datetime, zone: ZoneInfo) -> str:
    """The billing month (``YYYY-MM``) that contains ``moment`` in ``zone``."""
    if moment.tzinfo is None:
        raise ValueError("period_of needs an aware datetime")
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def next_period(period: str) -> str:
    year, month = (int(part) for part in period.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_start(period: str, zone: ZoneInfo) -> datetime:
    """The first instant of ``period`` in ``zone`` (an aware datetime)."""
    year, month = (int(part) for part in period.split("-"))
    return datetime(year, month, 1, tzinfo=zone)


def period_length(period: str, zone: ZoneInfo) -> timedelta:
    return period_start(next_period(period), zone) - period_start(period, zone)


# -- tariffs ---------------------------------------------------------------


def code_in_force(period: str) -> Case[Any]:
    """SQL for the tariff code in force for ``period``: a pending downgrade
    takes over once its period has begun."""
    return case(
        (
            and_(account.c.pending_from.is_not(None), account.c.pending_from <= period),
            account.c.pending_tariff_code,
        ),
        else_=account.c.tariff_code,
    )


def limit_in_force(conn: Connection, account_id: int, period: str) -> int:
    query = (
        select(tariff.c.monthly_budget)
        .select_from(account.join(tariff, tariff.c.code == code_in_force(period)))
        .where(account.c.id == account_id)
    )
    return int(conn.execute(query).scalar_one())


# -- counting --------------------------------------------------------------
# The hot path is plain SQL written once: the same text runs on SQLite and
# PostgreSQL, and SQLAlchemy compiles it once instead of per request.


def limit_sql(account_id: str) -> str:
    """SQL for the monthly budget in force for ``:period``; ``account_id`` is
    the SQL expression naming the account. The casts give PostgreSQL one type
    for a parameter used in several places."""
    return (
        "(SELECT t.monthly_budget FROM account a JOIN tariff t ON t.code = CASE"
        " WHEN a.pending_from IS NOT NULL AND a.pending_from <= CAST(:period AS VARCHAR)"
        " THEN a.pending_tariff_code ELSE a.tariff_code END"
        f" WHERE a.id = {account_id})"
    )


# One guarded step: a new period's row starts at 1 only if the limit is above
# 0; an existing row moves only while used < limit. No row back means refused.
_CONSUME = text(
    "INSERT INTO usage (account_id, period, used, rejected, last_accepted_at,"
    " last_accepted_survey_id, last_counted_at)"
    " SELECT CAST(:account_id AS INTEGER), CAST(:period AS VARCHAR), 1, 0, :now,"
    f" CAST(:survey_id AS INTEGER), :now WHERE {limit_sql(':account_id')} > 0"
    " ON CONFLICT (account_id, period) DO UPDATE SET used = usage.used + 1,"
    " last_accepted_at = excluded.last_accepted_at,"
    " last_accepted_survey_id = excluded.last_accepted_survey_id,"
    " last_counted_at = excluded.last_counted_at"
    f" WHERE usage.used < {limit_sql(':account_id')}"
    " RETURNING used"
).bindparams(bindparam("now", type_=UTCDateTime()))

# The same step for a pipeline, where nobody reads its row before the COMMIT:
# no row back raises (migration 0011), and the COMMIT becomes a rollback.
_CONSUME_OR_REFUSE = text(
    f"WITH step AS ({_CONSUME.text}) SELECT coalesce((SELECT used FROM step), budget_exhausted())"
).bindparams(bindparam("now", type_=UTCDateTime()))

# The same guarded step for an accepted record's invitation: it leaves "last
# accepted feedback" alone, which is about answers.
_CONSUME_INVITATION = text(
    "INSERT INTO usage (account_id, period, used, rejected, last_counted_at)"
    " SELECT CAST(:account_id AS INTEGER), CAST(:period AS VARCHAR), 1, 0, :now"
    f" WHERE {limit_sql(':account_id')} > 0"
    " ON CONFLICT (account_id, period) DO UPDATE SET used = usage.used + 1,"
    " last_counted_at = excluded.last_counted_at"
    f" WHERE usage.used < {limit_sql(':account_id')}"
    " RETURNING used"
).bindparams(bindparam("now", type_=UTCDateTime()))

_REJECT = text(
    "INSERT INTO usage (account_id, period, used, rejected) VALUES (:account_id, :period, 0, 1)"
    " ON CONFLICT (account_id, period) DO UPDATE SET rejected = usage.rejected + 1"
)
_REJECT_RECORD = text(
    "INSERT INTO usage (account_id, period, used, rejected, rejected_email)"
    " VALUES (:account_id, :period, 0, 0, 1)"
    " ON CONFLICT (account_id, period) DO UPDATE SET rejected_email = usage.rejected_email + 1"
)
# An e-mail answer counts nothing, but it is the account's latest feedback,
# and its month is to have a usage row like every month with answers (the
# results list their months from these rows).
_NOTE_FEEDBACK = text(
    "INSERT INTO usage (account_id, period, used, rejected, last_accepted_at,"
    " last_accepted_survey_id) VALUES (:account_id, :period, 0, 0, :now, :survey_id)"
    " ON CONFLICT (account_id, period) DO UPDATE SET"
    " last_accepted_at = excluded.last_accepted_at,"
    " last_accepted_survey_id = excluded.last_accepted_survey_id"
).bindparams(bindparam("now", type_=UTCDateTime()))
_GIVE_BACK = text(
    "UPDATE usage SET used = used - 1 WHERE account_id = :account_id AND period = :period"
    " AND used > 0"
)


def consume(conn: Executor, account_id: int, period: str, now: datetime, survey_id: int) -> None:
    """Count one survey if the budget in force allows it, as the last
    statement of the write transaction that stores the response: from this
    step to the commit the account's usage row is locked. Refused, it raises
    ``db.Refused``: at once, or, when the statement is sent ahead with the
    COMMIT in a pipeline, from the commit, which then rolls back."""
    params = {"account_id": account_id, "period": period, "now": now, "survey_id": survey_id}
    if driver.pipelined(conn):
        conn.execute(_CONSUME_OR_REFUSE, params)
    elif conn.execute(_CONSUME, params).first() is None:
        raise driver.Refused


def consume_invitation(conn: Executor, account_id: int, period: str, now: datetime) -> bool:
    """``consume`` for an accepted record: its invitation counts when accepted."""
    params = {"account_id": account_id, "period": period, "now": now}
    return conn.execute(_CONSUME_INVITATION, params).first() is not None


def record_rejection(conn: Executor, account_id: int, period: str) -> None:
    """Remember a submission the exhausted budget refused."""
    conn.execute(_REJECT, {"account_id": account_id, "period": period})


def record_refused_record(conn: Executor, account_id: int, period: str) -> None:
    """Remember a record the exhausted budget refused (it lapses)."""
    conn.execute(_REJECT_RECORD, {"account_id": account_id, "period": period})


def note_feedback(
    conn: Executor, account_id: int, period: str, now: datetime, survey_id: int
) -> None:
    """An answer that counts nothing (to an invitation) is still the latest
    feedback; no count changes."""
    params = {"account_id": account_id, "period": period, "now": now, "survey_id": survey_id}
    conn.execute(_NOTE_FEEDBACK, params)


def give_back(conn: Executor, account_id: int, period: str) -> None:
    """Return one count to ``period``: an invitation charged there will never
    be sent. Must run in the transaction that marks the invitation."""
    conn.execute(_GIVE_BACK, {"account_id": account_id, "period": period})


@dataclass(frozen=True)
class UsageState:
    period: str
    used: int
    rejected: int
    limit: int
    last_accepted_at: datetime | None
    last_accepted_survey_id: int | None
    rejected_email: int = 0
    last_counted_at: datetime | None = None  # the last answer or record counted

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def usage_state(conn: Connection, account_id: int, period: str) -> UsageState:
    row = conn.execute(
        select(usage).where(usage.c.account_id == account_id, usage.c.period == period)
    ).first()
    limit = limit_in_force(conn, account_id, period)
    if row is None:
        return UsageState(period, 0, 0, limit, None, None)
    return UsageState(
        period,
        row.used,
        row.rejected,
        limit,
        row.last_accepted_at,
        row.last_accepted_survey_id,
        row.rejected_email,
        row.last_counted_at,
    )


# -- forecast --------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    runs_out_on: date | None
    suggested_tariff: str | None


def forecast(
    conn: Connection, account_id: int, period: str, now: datetime, zone: ZoneInfo
) -> Forecast:
    """When the budget runs out at the current pace, and the tariff that fits.

    The pace is the demand so far over the elapsed part of the period: what
    was counted (answers, and invitations sent or still scheduled) plus what
    the exhausted budget refused (answers and records). ``runs_out_on`` is
    None when the budget lasts the period (the day it ran out, once it has);
    ``suggested_tariff`` is None when the current one fits, else the smallest
    tariff whose budget covers the projected month (the largest one if none
    does).
    """
    state = usage_state(conn, account_id, period)
    start = period_start(period, zone)
    end = period_start(next_period(period), zone)
    elapsed = (min(max(now, start), end) - start).total_seconds()
    demand = state.used + state.rejected + state.rejected_email
    if demand == 0 or elapsed <= 0:
        return Forecast(None, None)
    rate = demand / elapsed  # submissions per second
    projected = demand * (end - start).total_seconds() / elapsed
    exhausted_at = state.last_counted_at if state.remaining <= 0 else None
    return Forecast(
        _runs_out_on(state, rate, now, end, zone, exhausted_at),
        _fitting_tariff(conn, projected, state.limit),
    )


def _runs_out_on(
    state: UsageState,
    rate: float,
    now: datetime,
    end: datetime,
    zone: ZoneInfo,
    exhausted_at: datetime | None,
) -> date | None:
    if state.remaining <= 0:
        return (exhausted_at or now).astimezone(zone).date()
    moment = now + timedelta(seconds=state.remaining / rate)
    return moment.astimezone(zone).date() if moment < end else None


def _fitting_tariff(conn: Connection, projected: float, limit: int) -> str | None:
    if projected <= limit:
        return None
    needed = math.ceil(projected)
    tariffs = conn.execute(
        select(tariff.c.code, tariff.c.monthly_budget).order_by(
            tariff.c.monthly_budget, tariff.c.code
        )
    ).all()
    bigger = [row for row in tariffs if row.monthly_budget > limit]
    if not bigger:
        return None
    fitting = [row for row in bigger if row.monthly_budget >= needed]
    return str((fitting[0] if fitting else bigger[-1]).code)
