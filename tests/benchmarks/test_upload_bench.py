"""A 10,000-row CSV upload: rows taken per second and the memory it needs, on
SQLite and, with TEST_DATABASE_URL, on PostgreSQL. The file is on disk, as
Starlette spools an upload; the figure that matters is the peak of Python
allocations while it is taken, against the file's size (the rows are
streamed, never held). A second file meets the exhausted budget, so every row
is refused and kept for the result page: the most an upload holds. Prints
figures; asserts only what was stored, never a time.

Knobs (environment): BENCH_UPLOAD_ROWS (10,000).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from app.invitations import intake as record_intake
from app.platform import db
from app.platform.settings import Settings
from tests.conftest import Seeded, seed, set_budget

pytestmark = [pytest.mark.benchmark]

ROWS = int(os.environ.get("BENCH_UPLOAD_ROWS", "10000"))


def _csv(path: Path, rows: int, first: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffemail;name;language;external_id;plan;city\n")
        for n in range(first, first + rows):
            out.write(f"person{n}@example.com;Person {n};de;order-{n};pro;Berlin\n")
    return path


def _take(engine: Engine, shop: Seeded, path: Path) -> int:
    with path.open("rb") as file:
        return record_intake.take_upload(
            engine,
            shop.account_id,
            shop.survey_id,
            file,
            path.name,
            datetime.now(UTC),
            ZoneInfo("UTC"),
        )


def test_a_10000_row_upload(
    engine: Engine, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = "postgresql" if settings.db_url.startswith("postgresql") else "sqlite"
    shop = seed(engine)
    set_budget(engine, "free", ROWS)
    accepted = _csv(tmp_path / "customers.csv", ROWS)
    size = accepted.stat().st_size

    # Timed alone: every row accepted, each in a transaction of its own.
    started = time.perf_counter()
    _take(engine, shop, accepted)
    elapsed = time.perf_counter() - started

    # Traced (which slows Python down, so not timed): the budget is used up,
    # every row is refused and kept for the result page, the most it holds.
    refused = _csv(tmp_path / "more.csv", ROWS, first=ROWS)
    tracemalloc.start()
    upload_id = _take(engine, shop, refused)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    upload = record_intake.get_upload(engine, shop.account_id, upload_id)
    assert upload is not None
    with db.read(engine) as conn:
        invitations = conn.execute(text("SELECT count(*) FROM invitation")).scalar_one()
    assert invitations == ROWS

    with capsys.disabled():
        print(
            f"\n[upload bench] {backend}: {ROWS:,} rows ({size / 1e6:.2f} MB) accepted in"
            f" {elapsed:.1f} s, {ROWS / elapsed:,.0f} rows/s; {ROWS:,} rows refused for the"
            f" budget: peak Python memory {peak / 1e6:.2f} MB ({peak / size:.2f} x the file)"
        )
