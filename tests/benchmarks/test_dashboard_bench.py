"""Dashboard and results page times with 10,000 and with 1,000,000 responses.

The logged-in account's survey keeps the same current period (4,000
responses) while the table grows a hundredfold with history and other
accounts: if every query reads only its survey-period through an index, the
page times barely move. Target: 1M / 10k <= 3x. A last step fills the current
period up to the largest tariff's budget (50,000) to show the worst busy month.

It prints the times, the ratio and the query plans; it never asserts a time.
Pages are timed through the ASGI client after a login through the form; the
stats functions behind them are timed too (and alone, should the admin pages
be unavailable).

Knobs (environment): BENCH_BIG_ROWS total rows of the big step on SQLite
(1,000,000), BENCH_PG_BIG_ROWS the same on PostgreSQL (250,000, so that both
databases together stay near three minutes; set 1000000 for the full size),
BENCH_REPEAT timed requests per page (15; a third of that for the export).
"""

from __future__ import annotations

import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, text
from starlette.testclient import TestClient

from app.budget import rule as budget
from app.platform import db
from app.results import export as csv_export
from app.results import stats, trend
from app.surveys import model as surveys
from app.surveys import scales
from tests import query_plans
from tests.conftest import Clock, seed

pytestmark = [pytest.mark.benchmark]

EMAIL = "bench@example.com"
PASSWORD = "correct horse battery"
ZONE = ZoneInfo("UTC")
CURRENT = "2026-05"
SMALL_ROWS = 10_000
CURRENT_ROWS = 4_000
BUSY_ROWS = 50_000
BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", "1000000"))
PG_BIG_ROWS = int(os.environ.get("BENCH_PG_BIG_ROWS", "250000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
OTHER_ACCOUNTS = 50
BATCH = 20_000
COLUMNS = (
    "nonce",
    "account_id",
    "survey_id",
    "period",
    "score",
    "segment",
    "comment",
    "channel",
    "created_at",
)
COMMENTS = ("Great service", "=1+1 looks odd", "Too slow", "Checkout failed twice", "Love it")


@dataclass
class Target:
    account_id: int
    nps_id: int
    csat_id: int
    others: list[tuple[int, int]]  # (account id, survey id)


def past_periods(count: int, before: str = CURRENT) -> list[str]:
    year, month = (int(part) for part in before.split("-"))
    periods = []
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        periods.append(f"{year:04d}-{month:02d}")
    return periods


class Seeder:
    """Fast bulk rows: sqlite3 executemany or PostgreSQL COPY, in batches."""

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.engine = engine
        self.now = now
        self.serial = 0
        self.random = random.Random(5)  # the same data on every run

    def rows(
        self, account_id: int, survey_id: int, kind: str, periods: list[str], count: int
    ) -> Iterator[tuple[object, ...]]:
        low, high = scales.scale(kind).low, scales.scale(kind).high
        segment = {score: scales.segment_of(kind, score) for score in range(low, high + 1)}
        spans = [self._span(period) for period in periods]
        draw = self.random.random
        # SQLite keeps UTC as text in the format SQLAlchemy writes.
        as_text = self.engine.dialect.name == "sqlite"
        for n in range(count):
            index = n * len(periods) // count
            start, seconds = spans[index]
            self.serial += 1
            score = low + int(draw() * (high - low + 1))
            chance = draw()
            moment = datetime.fromtimestamp(start + draw() * seconds, UTC)
            yield (
                f"bench-{self.serial}",
                account_id,
                survey_id,
                periods[index],
                score,
                segment[score],
                COMMENTS[int(chance * 10) % len(COMMENTS)] if chance < 0.3 else None,
                "widget" if n % 4 else "link",
                moment.replace(tzinfo=None).isoformat(" ", "microseconds") if as_text else moment,
            )

    def _span(self, period: str) -> tuple[float, float]:
        """The period's first second (epoch) and its length so far."""
        year, month = (int(part) for part in period.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
        end = min(datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC), self.now)
        return start.timestamp(), (end - start).total_seconds()

    def insert(self, rows: Iterable[tuple[object, ...]], rebuild: bool = False) -> None:
        with self._indexes_dropped() if rebuild else nullcontext():
            batch: list[tuple[object, ...]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    self._write(batch)
                    batch = []
            if batch:
                self._write(batch)

    @contextmanager
    def _indexes_dropped(self) -> Iterator[None]:
        """The usual bulk load: drop the secondary indexes, load, rebuild them
        from their own DDL (one sort each instead of a million random inserts)."""
        with db.write(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                query = (
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'response' "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
                )
            else:
                query = (
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'response' AND sql IS NOT NULL"
                )
            indexes = [(str(name), str(ddl)) for name, ddl in conn.exec_driver_sql(query)]
            for name, _ddl in indexes:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
        yield
        with db.write(self.engine) as conn:
            for _name, ddl in indexes:
                conn.exec_driver_sql(ddl)

    def _write(self, batch: list[tuple[object, ...]]) -> None:
        with db.write(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                raw = conn.connection.driver_connection
                assert raw is not None
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f"COPY response ({', '.join(COLUMNS)}) FROM STDIN") as copy,
                ):
                    for row in batch:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in COLUMNS)
                conn.exec_driver_sql(
                    f"INSERT INTO response ({', '.join(COLUMNS)}) VALUES ({marks})", batch
                )

    def settle(self, account_id: int | None = None) -> None:
        """Usage rows as the budget rule would have left them (of one account
        or all), then fresh planner statistics (what autovacuum does after a
        bulk load)."""
        only = "" if account_id is None else f"WHERE account_id = {int(account_id)}"
        with db.write(self.engine) as conn:
            conn.execute(text(f"DELETE FROM usage {only}"))
            conn.execute(
                text(
                    "INSERT INTO usage (account_id, period, used, rejected, last_accepted_at, "
                    "last_accepted_survey_id) SELECT account_id, period, COUNT(*), 0, "
                    f"MAX(created_at), MIN(survey_id) FROM response {only} "
                    "GROUP BY account_id, period"
                )
            )
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE response"
                )


def build_target(engine: Engine) -> Target:
    shop = seed(engine, tariff="business", email=EMAIL)
    with db.write(engine) as conn:
        csat_id, _ = surveys.create_survey(conn, shop.account_id, name="Checkout", kind="csat")
    others = [seed(engine, tariff="pro") for _ in range(OTHER_ACCOUNTS)]
    return Target(
        shop.account_id, shop.survey_id, csat_id, [(o.account_id, o.survey_id) for o in others]
    )


def seed_small(seeder: Seeder, target: Target) -> int:
    """10,000 rows: 4,000 in the current period of the timed survey."""
    plan = [
        (target.account_id, target.nps_id, "nps", [CURRENT], CURRENT_ROWS),
        (target.account_id, target.nps_id, "nps", past_periods(12), 3_000),
        (target.account_id, target.csat_id, "csat", [CURRENT, *past_periods(3)], 2_000),
    ]
    share = (SMALL_ROWS - sum(count for *_, count in plan)) // len(target.others)
    plan += [(a, s, "nps", [CURRENT, *past_periods(5)], share) for a, s in target.others]
    seeder.insert(chain.from_iterable(seeder.rows(*step) for step in plan))
    seeder.settle()
    return sum(count for *_, count in plan)


def seed_big(seeder: Seeder, target: Target, total: int, have: int) -> int:
    """Up to ``total`` rows: the timed survey's history and other accounts,
    never its current period."""
    more = total - have
    own = more * 3 // 10
    history = past_periods(36)
    plan = [(target.account_id, target.nps_id, "nps", history, own)]
    rest = (more - own) // len(target.others)
    plan += [(a, s, "nps", [CURRENT, *history], rest) for a, s in target.others]
    seeder.insert(chain.from_iterable(seeder.rows(*step) for step in plan), rebuild=True)
    seeder.settle()
    return have + sum(count for *_, count in plan)


# -- timing ----------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    best: float
    median: float

    def __str__(self) -> str:
        return f"{self.best:.1f} / {self.median:.1f}"


def timed(action: Callable[[], object], repeat: int = REPEAT) -> Timing:
    """Best and median of ``repeat`` runs after one warm-up. The best is what
    the work costs; the median also shows what other processes took from it."""
    action()
    times = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return Timing(min(times), statistics.median(times))


def log_in(client: TestClient) -> bool:
    """Log in through the form; False when the admin pages are not there."""
    form = client.get("/admin/login")
    if form.status_code != 200:
        return False
    token = re.search(r'name="csrf_token"\s+value="([^"]+)"', form.text)
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1) if token else ""}
    answer = client.post("/admin/login", data=data, follow_redirects=False)
    return answer.status_code == 303 and client.get("/admin/dashboard").status_code == 200


def page(client: TestClient, path: str) -> Callable[[], object]:
    def fetch() -> object:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer

    return fetch


def measure(client: TestClient, engine: Engine, target: Target, now: datetime) -> dict[str, Timing]:
    figures: dict[str, Timing] = {}
    if log_in(client):
        results = f"/admin/surveys/{target.nps_id}/results?period={CURRENT}"
        figures["page dashboard"] = timed(page(client, "/admin/dashboard"))
        figures["page results nps"] = timed(page(client, results))
        figures["page results nps p3 promoters"] = timed(
            page(client, f"{results}&segment=promoter&page=3")
        )
        figures["page results csat"] = timed(
            page(client, f"/admin/surveys/{target.csat_id}/results?period={CURRENT}")
        )
    account, survey = target.account_id, target.nps_id

    def functions(call: Callable[[Connection], object]) -> Callable[[], object]:
        def run() -> object:
            with db.read(engine) as conn:
                return call(conn)

        return run

    figures["fn dashboard (forecast, last*, account_nps)"] = timed(
        functions(
            lambda c: (
                budget.forecast(c, account, CURRENT, now, ZONE),
                stats.last_contact(c, account),
                stats.last_accepted(c, account, CURRENT),
                stats.account_nps(c, account, CURRENT),
            )
        )
    )
    figures["fn results (summary, trend, comments, periods)"] = timed(
        functions(
            lambda c: (
                stats.survey_summary(c, account, survey, CURRENT),
                trend.daily_trend(c, account, survey, CURRENT, ZONE),
                stats.comments(c, account, survey, CURRENT, None, 1),
                stats.list_periods(c, account),
            )
        )
    )
    figures["fn export csv (whole period)"] = timed(
        lambda: sum(
            len(chunk) for chunk in csv_export.export_csv(engine, account, survey, CURRENT)
        ),
        REPEAT // 3,
    )
    return figures


def show_plans(engine: Engine, target: Target) -> None:
    with db.read(engine) as conn:
        plans = query_plans.explain(conn, target.account_id, target.nps_id, CURRENT, ZONE)
    for name, plan in plans.items():
        print(f"\n  plan {name}:")
        for line in plan.splitlines():
            print(f"    {line}")


def table(steps: dict[str, dict[str, Timing]]) -> None:
    names = list(next(iter(steps.values())))
    print(f"\n  {'ms, best / median':<48}" + "".join(f"{step:>18}" for step in steps))
    for name in names:
        print(f"  {name:<48}" + "".join(f"{steps[step][name]!s:>18}" for step in steps))


def test_dashboard_and_results_times(client: TestClient, engine: Engine, clock: Clock) -> None:
    now = clock.now
    dialect = engine.dialect.name
    big = PG_BIG_ROWS if dialect == "postgresql" else BIG_ROWS
    target = build_target(engine)
    seeder = Seeder(engine, now)

    started = time.perf_counter()
    rows = seed_small(seeder, target)
    print(f"\n\n[{dialect}] seeded {rows:,} rows in {time.perf_counter() - started:.1f} s")
    measure(client, engine, target, now)  # a throwaway round: templates, caches, plans
    steps = {f"{rows // 1000}k": measure(client, engine, target, now)}

    started = time.perf_counter()
    rows = seed_big(seeder, target, big, rows)
    print(f"[{dialect}] seeded up to {rows:,} rows in {time.perf_counter() - started:.1f} s")
    big_label = f"{rows / 1_000_000:g}M" if rows >= 1_000_000 else f"{rows // 1000}k"
    steps[big_label] = measure(client, engine, target, now)

    seeder.insert(
        seeder.rows(target.account_id, target.nps_id, "nps", [CURRENT], BUSY_ROWS - CURRENT_ROWS)
    )
    seeder.settle(target.account_id)
    steps[f"+busy {BUSY_ROWS // 1000}k/mo"] = measure(client, engine, target, now)

    print(
        f"[{dialect}] {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; the timed survey-period holds "
        f"{CURRENT_ROWS:,} rows, then {BUSY_ROWS:,} in the last column"
    )
    table(steps)
    small, large = list(steps)[:2]
    print(f"\n  ratio {large}/{small} (target <= 3x), of the best and of the medians:")
    for name in steps[small]:
        one, other = steps[small][name], steps[large][name]
        print(f"    {name:<48}{other.best / one.best:>8.2f}x{other.median / one.median:>8.2f}x")
    show_plans(engine, target)
