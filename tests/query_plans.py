"""The database's plans for the admin figures' main queries, so a test (and
the benchmark) can check that each one reads its index."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, event, func, select

from app.budget import channels
from app.invitations import views as record_views
from app.platform.models import response_table as response
from app.results import email_stats, stats, trend
from app.results.export import export_query


def explain(
    conn: Connection, account_id: int, survey_id: int, period: str, zone: ZoneInfo
) -> dict[str, str]:
    """The database's plan for each main query, by the query's name."""
    days = trend.period_days(period)

    def commented(segment: str | None) -> Any:
        return stats.commented(account_id, survey_id, period, segment)

    queries: dict[str, Any] = {
        "summary": stats.summary_query(stats.response_scope(account_id, survey_id, period)),
        "account_nps": stats.summary_query(stats.response_scope(account_id, [survey_id], period)),
        "daily_trend": trend.trend_query(
            account_id, survey_id, period, trend.day_buckets(conn.dialect.name, days, zone).key
        ),
        "comments": stats.comments_query(commented(None), 1, stats.PER_PAGE, recipients=True),
        "comments_by_segment": stats.comments_query(
            commented("promoter"), 1, stats.PER_PAGE, recipients=True
        ),
        "comments_count": select(func.count()).select_from(response).where(commented(None)),
        "export": export_query(account_id, survey_id, period, recipients=True),
    }
    return {name: _plan(conn, query) for name, query in queries.items()}


def explain_email(conn: Connection, account_id: int, period: str, zone: ZoneInfo) -> dict[str, str]:
    """The plans of the dashboard's e-mail figures, by the query's name."""
    queries: dict[str, Any] = {
        "invitations": channels.invitations_query(account_id, period),
        "answers": channels.answers_query(account_id, period),
        "last_record": email_stats.last_record_query(account_id),
        "refusals": email_stats.refusals_query(account_id, period, zone),
        "refused_list": record_views.refused_query(account_id, period).limit(50),
        "refused_count": record_views.refused_count_query(account_id, period),
    }
    return {name: _plan(conn, query) for name, query in queries.items()}


def _plan(conn: Connection, query: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "

    def explained(*args: Any) -> tuple[str, Any]:
        statement, parameters = args[2], args[3]
        return prefix + statement, parameters

    # The statement is compiled and bound as usual; only its text gets the prefix.
    event.listen(conn, "before_cursor_execute", explained, retval=True)
    try:
        cursor = conn.execute(query).cursor
        assert cursor is not None
        rows = cursor.fetchall()
    finally:
        event.remove(conn, "before_cursor_execute", explained)
    return "\n".join(" ".join(str(cell) for cell in row) for row in rows)
