"""The daily trend of a survey's figures: a period's local days, one bucket per day,
and the query that fills them."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    case,
    func,
    literal,
    select,
)

from app.platform.models import response_table as response
from app.results.stats import Day, nps_of, response_scope, survey_kind


def period_days(period: str) -> list[date]:
    year, month = (int(part) for part in period.split("-"))
    return [date(year, month, day) for day in range(1, calendar.monthrange(year, month)[1] + 1)]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (23- and 25-hour days included)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone)


@dataclass(frozen=True)
class DayBuckets:
    """A cheap SQL grouping key and how to turn a key into the local day.

    PostgreSQL converts to the billing zone itself. SQLite has no time zones,
    but keeps UTC as text: when every local midnight of the period falls on a
    whole UTC hour (or ten minutes), the hour (or ten-minute) prefix of that
    text is a bucket that lies inside one local day, and Python names the day.
    Zones off that grid get a CASE over the days' UTC boundaries.
    """

    key: ColumnElement[Any]
    day_of: Callable[[Any], date | None]


def day_buckets(dialect: str, days: list[date], zone: ZoneInfo) -> DayBuckets:
    if dialect == "postgresql":
        local = func.date(func.timezone(zone.key, response.c.created_at))
        return DayBuckets(local, lambda key: key)
    starts = [local_midnight(day, zone) for day in days]
    starts.append(local_midnight(days[-1] + timedelta(days=1), zone))
    utc = [start.astimezone(UTC) for start in starts]
    for width, grid in ((13, 60), (15, 10)):  # "2026-05-01 13", "2026-05-01 13:4"
        if all(moment.minute % grid == 0 and moment.second == 0 for moment in utc):
            return DayBuckets(func.substr(response.c.created_at, 1, width), _text_day(zone))
    return DayBuckets(_bisect(starts, 0, len(starts)), _index_day(days))


def _text_day(zone: ZoneInfo) -> Callable[[Any], date | None]:
    def day_of(key: Any) -> date | None:
        prefix = str(key)
        start = datetime.fromisoformat(prefix + "2000-01-01 00:00"[len(prefix) :])
        return start.replace(tzinfo=UTC).astimezone(zone).date()

    return day_of


def _index_day(days: list[date]) -> Callable[[Any], date | None]:
    def day_of(key: Any) -> date | None:
        index = int(key)
        return days[index] if 0 <= index < len(days) else None

    return day_of


def _bisect(starts: list[datetime], low: int, high: int) -> ColumnElement[Any]:
    """Nested CASEs for (number of ``starts`` at or before created_at) - 1,
    known to lie in [low, high]: about five comparisons a row, not thirty."""
    if low == high:
        return literal(low - 1)
    middle = (low + high + 1) // 2
    return case(
        (response.c.created_at < starts[middle - 1], _bisect(starts, low, middle - 1)),
        else_=_bisect(starts, middle, high),
    )


def trend_query(
    account_id: int, survey_id: int, period: str, key: ColumnElement[Any]
) -> Select[Any]:
    """Per bucket: responses, score sum, promoters and detractors."""
    bucket = key.label("bucket")
    promoter = func.sum(case((response.c.segment == "promoter", 1), else_=0))
    detractor = func.sum(case((response.c.segment == "detractor", 1), else_=0))
    return (
        select(
            bucket,
            func.count().label("n"),
            func.sum(response.c.score).label("total"),
            promoter.label("promoters"),
            detractor.label("detractors"),
        )
        .where(response_scope(account_id, survey_id, period))
        .group_by(bucket)
    )


def daily_trend(
    conn: Connection, account_id: int, survey_id: int, period: str, zone: ZoneInfo
) -> list[Day]:
    """Every day of ``period``, zero-filled: responses and the NPS (nps) or
    the average score (csat, ces) of the day. Empty for another account's survey."""
    kind = survey_kind(conn, account_id, survey_id)
    if kind is None:
        return []
    days = period_days(period)
    buckets = day_buckets(conn.dialect.name, days, zone)
    sums: dict[date, list[int]] = {day: [0, 0, 0, 0] for day in days}
    for row in conn.execute(trend_query(account_id, survey_id, period, buckets.key)):
        day = buckets.day_of(row.bucket)
        if day in sums:  # a row outside the period's days: only if the zone changed
            for position, value in enumerate((row.n, row.total, row.promoters, row.detractors)):
                sums[day][position] += int(value)
    return [_day(kind, day, *sums[day]) for day in days]


def _day(kind: str, day: date, n: int, total: int, promoters: int, detractors: int) -> Day:
    if n == 0:
        return Day(day, 0, None)
    if kind == "nps":
        value = nps_of(promoters, detractors, n)
        return Day(day, n, None if value is None else float(value))
    return Day(day, n, total / n)
