"""The admin figures (app/stats.py, app/csv_export.py, the forecast in
app/budget.py) against hand-computed values, on responses stored through the
real submission path."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, insert, text
from starlette.testclient import TestClient

from app.answers import responses
from app.budget import rule as budget
from app.platform import db, sheet_csv
from app.platform.models import response_table
from app.platform.signing import Signer
from app.results import export as csv_export
from app.results import stats
from app.results.trend import daily_trend, day_buckets, period_days
from app.surveys import model as surveys
from app.surveys import scales
from tests import query_plans
from tests.conftest import SECRET, Seeded, seed, set_budget

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
MAY = "2026-05"
SIGNER = Signer((SECRET,), 3600)


def at(day: int, hour: int = 12, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def submit(
    engine: Engine,
    survey_id: int,
    score: int,
    when: datetime,
    comment: str | None = None,
    channel: str = "widget",
    zone: ZoneInfo = UTC_ZONE,
) -> responses.Recorded:
    """One submission through the budget rule, as the API stores it."""
    with db.read(engine) as conn:
        survey = surveys.find(conn, survey_id)
    assert survey is not None
    display = SIGNER.read_display_token(SIGNER.display_token(survey_id, channel))
    return responses.record_response(
        engine, survey, responses.Submission(display, score, comment), when, zone
    )


def add_survey(engine: Engine, account_id: int, kind: str, name: str = "Other") -> int:
    with db.write(engine) as conn:
        survey_id, _ = surveys.create_survey(conn, account_id, name=name, kind=kind)
    return survey_id


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with db.read(engine) as connection:
        yield connection


# -- summaries -------------------------------------------------------------


def test_nps_from_five_promoters_three_passives_two_detractors(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, tariff="basic")
    for score in (10, 9, 9, 10, 9, 8, 7, 8, 6, 0):
        config = client.get(f"/api/v1/widget/{shop.embed_key}").json()
        sent = client.post(
            "/api/v1/responses", json={"display_token": config["display_token"], "score": score}
        )
        assert sent.status_code == 201, sent.text

    with db.read(engine) as conn:
        summary = stats.survey_summary(conn, shop.account_id, shop.survey_id, MAY)
        whole = stats.account_nps(conn, shop.account_id, MAY)
    assert summary == stats.Summary(
        "nps", 10, {"detractor": 2, "passive": 3, "promoter": 5}, nps=30
    )
    assert whole == summary


def test_csat_average_and_share_of_four_and_five(engine: Engine, conn: Connection) -> None:
    shop = seed(engine, tariff="basic", kind="csat")
    for score in (5, 5, 4, 4, 3, 2, 1):
        submit(engine, shop.survey_id, score, at(3))
    summary = stats.survey_summary(conn, shop.account_id, shop.survey_id, MAY)
    assert summary is not None
    assert summary.segments == {"negative": 2, "neutral": 1, "positive": 4}
    assert summary.responses == 7
    assert summary.average == pytest.approx(24 / 7)
    assert summary.positive_share == pytest.approx(4 / 7)
    assert summary.nps is None


def test_ces_average_and_segments(engine: Engine, conn: Connection) -> None:
    shop = seed(engine, tariff="basic", kind="ces")
    for score in (7, 6, 5, 4, 3, 1):
        submit(engine, shop.survey_id, score, at(3))
    summary = stats.survey_summary(conn, shop.account_id, shop.survey_id, MAY)
    assert summary == stats.Summary(
        "ces", 6, {"high-effort": 2, "neutral": 1, "low-effort": 3}, average=26 / 6
    )


def test_empty_period_is_zero_filled_without_figures(engine: Engine, conn: Connection) -> None:
    shop = seed(engine)
    submit(engine, shop.survey_id, 10, at(20, month=4))
    summary = stats.survey_summary(conn, shop.account_id, shop.survey_id, MAY)
    assert summary == stats.Summary("nps", 0, {"detractor": 0, "passive": 0, "promoter": 0})


@pytest.mark.parametrize(
    ("promoters", "detractors", "total", "expected"),
    [(1, 0, 8, 13), (0, 1, 8, -13), (1, 1, 3, 0), (2, 1, 3, 33), (1, 2, 3, -33), (3, 0, 3, 100)],
)
def test_nps_rounds_half_away_from_zero(
    promoters: int, detractors: int, total: int, expected: int
) -> None:
    assert stats.nps_of(promoters, detractors, total) == expected


def test_account_nps_spans_nps_surveys_only(engine: Engine, conn: Connection) -> None:
    shop = seed(engine, tariff="basic")
    second = add_survey(engine, shop.account_id, "nps")
    csat = add_survey(engine, shop.account_id, "csat")
    stranger = seed(engine, tariff="basic")
    submit(engine, shop.survey_id, 10, at(2))
    submit(engine, second, 9, at(2))
    submit(engine, second, 3, at(2))
    submit(engine, csat, 5, at(2))
    submit(engine, stranger.survey_id, 0, at(2))
    submit(engine, stranger.survey_id, 0, at(2))
    whole = stats.account_nps(conn, shop.account_id, MAY)
    # 2 promoters, 1 detractor of 3: 33.3 -> 33
    assert whole == stats.Summary("nps", 3, {"detractor": 1, "passive": 0, "promoter": 2}, nps=33)


# -- daily trend -----------------------------------------------------------


def test_daily_trend_zero_fills_every_day_of_the_period(engine: Engine, conn: Connection) -> None:
    shop = seed(engine, tariff="basic", kind="csat")
    submit(engine, shop.survey_id, 5, at(4))
    submit(engine, shop.survey_id, 2, at(4, 18))
    submit(engine, shop.survey_id, 4, at(31, 23, 59))
    trend = daily_trend(conn, shop.account_id, shop.survey_id, MAY, UTC_ZONE)
    assert [day.day for day in trend] == [date(2026, 5, n) for n in range(1, 32)]
    assert trend[3] == stats.Day(date(2026, 5, 4), 2, 3.5)
    assert trend[30] == stats.Day(date(2026, 5, 31), 1, 4.0)
    assert sum(day.responses for day in trend) == 3
    assert all(day == stats.Day(day.day, 0, None) for day in trend if day.day.day not in (4, 31))


def test_daily_trend_uses_berlin_days_across_summer_time(engine: Engine) -> None:
    """March 2026 in Berlin: UTC+1 until the 29th at 01:00 UTC, then UTC+2, so
    the 29th has 23 hours and its days start at 23:00 and then 22:00 UTC."""
    shop = seed(engine, tariff="basic")
    march = {
        datetime(2026, 2, 28, 23, 30, tzinfo=UTC): 10,  # 1 March 00:30 local
        datetime(2026, 3, 28, 22, 30, tzinfo=UTC): 9,  # 28 March 23:30 local
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC): 0,  # 29 March 00:30 local
        datetime(2026, 3, 29, 21, 30, tzinfo=UTC): 8,  # 29 March 23:30 local (summer)
        datetime(2026, 3, 29, 22, 30, tzinfo=UTC): 10,  # 30 March 00:30 local
        datetime(2026, 3, 31, 21, 59, tzinfo=UTC): 3,  # 31 March 23:59 local
    }
    for when, score in march.items():
        submit(engine, shop.survey_id, score, when, zone=BERLIN)
    submit(engine, shop.survey_id, 10, datetime(2026, 3, 31, 22, 0, tzinfo=UTC), zone=BERLIN)

    with db.read(engine) as conn:
        trend = daily_trend(conn, shop.account_id, shop.survey_id, "2026-03", BERLIN)
    counted = {day.day.day: (day.responses, day.value) for day in trend if day.responses}
    assert counted == {
        1: (1, 100.0),
        28: (1, 100.0),
        29: (2, -50.0),  # one detractor, one passive
        30: (1, 100.0),
        31: (1, -100.0),
    }
    assert len(trend) == 31


@pytest.mark.parametrize(
    ("zone", "boundary", "path"),
    [
        # Local midnight of 2 May in UTC, and how SQLite groups for the zone:
        # by UTC hour, by ten minutes, or by a CASE over the day boundaries.
        ("Europe/Berlin", datetime(2026, 5, 1, 22, 0, tzinfo=UTC), "13"),
        ("Asia/Kolkata", datetime(2026, 5, 1, 18, 30, tzinfo=UTC), "15"),
        ("Asia/Kathmandu", datetime(2026, 5, 1, 18, 15, tzinfo=UTC), "case"),
    ],
)
def test_daily_trend_day_boundaries_in_zones_off_the_hour(
    engine: Engine, zone: str, boundary: datetime, path: str
) -> None:
    local = ZoneInfo(zone)
    shop = seed(engine, tariff="basic", kind="csat")
    submit(engine, shop.survey_id, 1, boundary - timedelta(minutes=1), zone=local)
    submit(engine, shop.survey_id, 5, boundary, zone=local)
    submit(engine, shop.survey_id, 4, boundary + timedelta(minutes=1), zone=local)
    with db.read(engine) as conn:
        trend = daily_trend(conn, shop.account_id, shop.survey_id, MAY, local)
    counted = {day.day.day: (day.responses, day.value) for day in trend if day.responses}
    assert counted == {1: (1, 1.0), 2: (2, 4.5)}
    key = day_buckets("sqlite", period_days(MAY), local).key
    assert _grouping(key) == path


def _grouping(key: Any) -> str:
    if str(key).startswith("CASE"):
        return "case"
    return str(list(key.clauses)[2].value)  # substr(created_at, 1, width)


def test_daily_trend_new_york_autumn_day_has_25_hours(engine: Engine) -> None:
    """1 Nov 2026 in New York runs from 04:00 UTC (EDT) to 05:00 UTC next day (EST)."""
    new_york = ZoneInfo("America/New_York")
    shop = seed(engine, tariff="basic")
    moments = {
        datetime(2026, 11, 1, 3, 30, tzinfo=UTC): 10,  # 31 Oct 23:30: October's period
        datetime(2026, 11, 1, 4, 30, tzinfo=UTC): 0,  # 1 Nov 00:30 EDT
        datetime(2026, 11, 2, 4, 30, tzinfo=UTC): 9,  # 1 Nov 23:30 EST
        datetime(2026, 11, 2, 5, 30, tzinfo=UTC): 8,  # 2 Nov 00:30 EST
    }
    for when, score in moments.items():
        submit(engine, shop.survey_id, score, when, zone=new_york)
    with db.read(engine) as conn:
        trend = daily_trend(conn, shop.account_id, shop.survey_id, "2026-11", new_york)
    counted = {day.day.day: (day.responses, day.value) for day in trend if day.responses}
    assert counted == {1: (2, 0.0), 2: (1, 0.0)}
    assert len(trend) == 30


# -- comments --------------------------------------------------------------


def test_comments_newest_first_filtered_and_paginated(engine: Engine, conn: Connection) -> None:
    shop = seed(engine, tariff="basic")
    for minute in range(7):
        submit(engine, shop.survey_id, 10, at(5, 10, minute), comment=f"great {minute}")
    for minute in range(3):
        submit(
            engine, shop.survey_id, 2, at(5, 11, minute), comment=f"bad {minute}", channel="link"
        )
    submit(engine, shop.survey_id, 8, at(5, 12))  # no comment: never listed
    later = submit(engine, shop.survey_id, 7, at(6))

    first = stats.comments(conn, shop.account_id, shop.survey_id, MAY, None, 1, per_page=4)
    assert (first.total, first.pages, first.page) == (10, 3, 1)
    assert [item.comment for item in first.items] == ["bad 2", "bad 1", "bad 0", "great 6"]
    assert first.items[0].segment == "detractor"
    assert first.items[0].channel == "link"
    assert first.items[0].score == 2
    assert later.id not in {item.id for item in first.items}

    last = stats.comments(conn, shop.account_id, shop.survey_id, MAY, None, 3, per_page=4)
    assert [item.comment for item in last.items] == ["great 1", "great 0"]
    # Out-of-range pages land on the nearest real page.
    assert stats.comments(conn, shop.account_id, shop.survey_id, MAY, None, 99, 4) == last
    assert stats.comments(conn, shop.account_id, shop.survey_id, MAY, None, 0, 4) == first

    promoters = stats.comments(conn, shop.account_id, shop.survey_id, MAY, "promoter", 2, 5)
    assert (promoters.total, promoters.pages) == (7, 2)
    assert [item.comment for item in promoters.items] == ["great 1", "great 0"]
    passives = stats.comments(conn, shop.account_id, shop.survey_id, MAY, "passive", 1)
    assert passives == stats.CommentPage([], 1, 1, 0)


def test_comment_sent_after_the_score_is_listed(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    assert client.post("/api/v1/responses", json={"display_token": token, "score": 4}).is_success
    sent = client.post("/api/v1/responses", json={"display_token": token, "comment": "Too slow"})
    assert sent.status_code == 200, sent.text
    with db.read(engine) as conn:
        page = stats.comments(conn, shop.account_id, shop.survey_id, MAY, "detractor", 1)
    assert [(item.score, item.comment) for item in page.items] == [(4, "Too slow")]


# -- export ----------------------------------------------------------------


def _parse(chunks: list[str]) -> list[list[str]]:
    body = "".join(chunks)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline="")))


def test_csv_has_bom_header_and_neutralised_formula_cells(engine: Engine) -> None:
    shop = seed(engine, tariff="basic")
    nasty = [
        '=HYPERLINK("http://evil")',
        "+1+2",
        "-2+3",
        "@SUM(A1)",
        "\tindented",
        'plain, with "quotes"\nand a line',
    ]
    for minute, comment in enumerate(nasty):
        submit(engine, shop.survey_id, 9, at(7, 9, minute), comment=comment)
    submit(engine, shop.survey_id, 0, at(7, 10))

    chunks = list(csv_export.export_csv(engine, shop.account_id, shop.survey_id, MAY))
    rows = _parse(chunks)
    assert rows[0] == list(csv_export.COLUMNS)
    comments_column = [row[csv_export.COLUMNS.index("comment")] for row in rows[1:]]
    assert comments_column == [
        '\'=HYPERLINK("http://evil")',
        "'+1+2",
        "'-2+3",
        "'@SUM(A1)",
        "'\tindented",
        'plain, with "quotes"\nand a line',
        "",
    ]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["created_at"] == "2026-05-07T09:00:00+00:00"
    assert (first["survey"], first["kind"], first["period"]) == ("Survey", "nps", MAY)
    assert (first["score"], first["segment"], first["channel"]) == ("9", "promoter", "widget")


def test_neutralize_covers_every_formula_start() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20"):
        assert sheet_csv.neutralize(f"{start}x") == f"'{start}x"
    # After a separator or line break inside the cell, blanks between.
    for start in ("=", "+", "-", "@", "\uff1d", "\ufe62"):
        for cut in (";", ",", "\n", "\t", "\uff1b"):
            assert sheet_csv.neutralize(f"a{cut} {start}x") == f"a{cut} '{start}x"
    assert sheet_csv.neutralize(" =1") == "' =1"
    assert sheet_csv.neutralize("x=1; a-b, c@d") == "x=1; a-b, c@d"
    assert sheet_csv.neutralize(None) == ""
    assert sheet_csv.neutralize(7) == "7"


def test_csv_streams_in_batches(engine: Engine) -> None:
    shop = seed(engine, tariff="basic")
    count = 2 * sheet_csv.BATCH + 500
    _bulk(engine, shop, count)
    chunks = csv_export.export_csv(engine, shop.account_id, shop.survey_id, MAY)
    header = next(chunks)
    assert header.startswith('\ufeff"id","created_at"')
    batches = list(chunks)
    assert len(batches) == 3
    assert [chunk.count("\r\n") for chunk in batches] == [
        sheet_csv.BATCH,
        sheet_csv.BATCH,
        500,
    ]
    assert len(_parse([header, *batches])) == count + 1


def _bulk(engine: Engine, shop: Seeded, count: int) -> None:
    """Volume without the budget rule: only for streaming, not for figures."""
    start = at(1, 0)
    rows = [
        {
            "nonce": f"bulk-{shop.survey_id}-{n}",
            "account_id": shop.account_id,
            "survey_id": shop.survey_id,
            "period": MAY,
            "score": n % 11,
            "segment": scales.segment_of("nps", n % 11),
            "comment": f"=cmd {n}" if n % 3 == 0 else None,
            "channel": "widget",
            "created_at": start + timedelta(seconds=n),
        }
        for n in range(count)
    ]
    with db.write(engine) as conn:
        conn.execute(insert(response_table), rows)


# -- dashboard -------------------------------------------------------------


def test_forecast_projects_the_pace_to_a_date_and_a_tariff(engine: Engine) -> None:
    shop = seed(engine)  # free: 50 a month
    for n in range(20):  # 20 in the first 10 days: 2 a day
        submit(engine, shop.survey_id, 9, at(1) + timedelta(hours=12 * n))
    with db.read(engine) as conn:
        result = budget.forecast(conn, shop.account_id, MAY, at(11, 0), UTC_ZONE)
    # 30 left at 2 a day: 15 days after 11 May; 20 * 31 / 10 = 62 a month > 50.
    assert result == budget.Forecast(date(2026, 5, 26), "basic")


def test_forecast_for_a_slow_pace_and_an_idle_account(engine: Engine) -> None:
    shop = seed(engine)
    idle = seed(engine)
    submit(engine, shop.survey_id, 9, at(2))
    with db.read(engine) as conn:
        assert budget.forecast(conn, shop.account_id, MAY, at(11), UTC_ZONE) == budget.Forecast(
            None, None
        )
        assert budget.forecast(conn, idle.account_id, MAY, at(11), UTC_ZONE) == budget.Forecast(
            None, None
        )


def test_forecast_when_exhausted_counts_refusals_as_demand(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 5)
    for day in range(1, 6):
        submit(engine, shop.survey_id, 10, at(day))
    for _ in range(3):
        with pytest.raises(responses.BudgetExhausted):
            submit(engine, shop.survey_id, 10, at(6))
    with db.read(engine) as conn:
        result = budget.forecast(conn, shop.account_id, MAY, at(11, 0), UTC_ZONE)
    # Ran out with the fifth on 5 May; 8 wanted in 10 days is 24.8 a month: basic fits.
    assert result == budget.Forecast(date(2026, 5, 5), "basic")


def test_forecast_suggests_the_largest_tariff_when_none_fits(engine: Engine) -> None:
    shop = seed(engine)  # free: 50
    set_budget(engine, "basic", 100)
    set_budget(engine, "pro", 200)
    set_budget(engine, "business", 300)
    for n in range(12):
        submit(engine, shop.survey_id, 10, at(1) + timedelta(hours=n))
    with db.read(engine) as conn:
        result = budget.forecast(conn, shop.account_id, MAY, at(2, 0), UTC_ZONE)
    # 12 a day: 38 left last until 5 May 04:00; 372 a month outgrow every tariff.
    assert result == budget.Forecast(date(2026, 5, 5), "business")


def test_forecast_without_suggestion_when_the_tariff_fits(engine: Engine) -> None:
    shop = seed(engine, tariff="basic")  # 500
    for n in range(12):
        submit(engine, shop.survey_id, 10, at(1) + timedelta(hours=n))
    with db.read(engine) as conn:
        result = budget.forecast(conn, shop.account_id, MAY, at(2, 0), UTC_ZONE)
    # 372 a month fit into 500: the budget lasts, nothing to suggest.
    assert result == budget.Forecast(None, None)


def test_last_contact_and_last_accepted(client: TestClient, engine: Engine, clock: object) -> None:
    shop = seed(engine)
    other = add_survey(engine, shop.account_id, "csat", name="Checkout")
    stranger = seed(engine)
    with db.read(engine) as conn:
        assert stats.last_contact(conn, shop.account_id) is None
        assert stats.last_accepted(conn, shop.account_id, MAY) is None

    config = client.get(
        f"/api/v1/widget/{shop.embed_key}", headers={"Origin": "https://shop.example"}
    )
    assert config.status_code == 200
    client.get(f"/api/v1/widget/{stranger.embed_key}", headers={"Origin": "https://x.example"})
    submit(engine, other, 5, at(9), channel="link")
    submit(engine, stranger.survey_id, 5, at(10))

    with db.read(engine) as conn:
        contact = stats.last_contact(conn, shop.account_id)
        accepted = stats.last_accepted(conn, shop.account_id, MAY)
        next_month = stats.last_accepted(conn, shop.account_id, "2026-06")
        before = stats.last_accepted(conn, shop.account_id, "2026-04")
    assert contact is not None
    assert (contact.origin, contact.channel, contact.survey_name) == (
        "https://shop.example",
        "widget",
        "Survey",
    )
    assert contact.seen_at == datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
    assert accepted == stats.LastAccepted(at(9), "Checkout")
    assert next_month == accepted  # still shown on the first days of a new month
    assert before is None


def test_list_periods_newest_first_with_refusal_only_periods(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    submit(engine, shop.survey_id, 9, at(30, month=3))
    submit(engine, shop.survey_id, 9, at(3))
    with pytest.raises(responses.BudgetExhausted):
        submit(engine, shop.survey_id, 9, at(4))
    with db.write(engine) as conn:
        conn.execute(text("UPDATE tariff SET monthly_budget = 0 WHERE code = 'free'"))
    with pytest.raises(responses.BudgetExhausted):
        submit(engine, shop.survey_id, 9, at(3, month=6))
    with db.read(engine) as conn:
        assert stats.list_periods(conn, shop.account_id) == ["2026-06", MAY, "2026-03"]
        assert stats.list_periods(conn, seed(engine).account_id) == []


# -- tenant isolation ------------------------------------------------------


def test_another_accounts_survey_yields_nothing(engine: Engine) -> None:
    owner = seed(engine, tariff="basic")
    intruder = seed(engine, tariff="basic")
    submit(engine, owner.survey_id, 10, at(8), comment="private")
    mine, theirs = intruder.account_id, owner.survey_id
    with db.read(engine) as conn:
        assert stats.survey_summary(conn, mine, theirs, MAY) is None
        assert daily_trend(conn, mine, theirs, MAY, UTC_ZONE) == []
        assert stats.comments(conn, mine, theirs, MAY, None, 1).total == 0
        assert stats.account_nps(conn, mine, MAY).responses == 0
        assert stats.last_accepted(conn, mine, MAY) is None
        assert stats.list_periods(conn, mine) == []
        assert budget.forecast(conn, mine, MAY, at(20), UTC_ZONE) == budget.Forecast(None, None)
    with pytest.raises(csv_export.NotFound):
        csv_export.export_csv(engine, mine, theirs, MAY)
    with pytest.raises(csv_export.NotFound):
        csv_export.export_csv(engine, owner.account_id, 10_000, MAY)


# -- index use -------------------------------------------------------------


def test_figures_read_the_stats_and_comment_indexes(engine: Engine) -> None:
    """The plans name the new indexes (PostgreSQL is told to avoid table scans,
    as it would rightly prefer them on a handful of rows)."""
    shop = seed(engine)
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        plans = query_plans.explain(conn, shop.account_id, shop.survey_id, MAY, UTC_ZONE)
    assert "ix_response_stats" in plans["summary"]
    assert "ix_response_stats" in plans["daily_trend"]
    assert "ix_response_comments" in plans["comments"]
    assert "ix_response_comments_segment" in plans["comments_by_segment"]
