"""Fixtures: a migrated database per test (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set), an app with an injectable clock, and seed helpers."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app import migrations
from app.accounts import accounts
from app.main import build_app
from app.platform import db
from app.platform.db import create_db_engine
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.surveys import model as surveys
from tests.smtp_server import smtp_cert, smtp_server  # noqa: F401  (fixtures for every test)
from tests.webhook_receiver import receiver  # noqa: F401  (a fixture for every test)

T = TypeVar("T")
PG_URL = os.environ.get("TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"
SECRET = "test-secret-key"
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
TABLES = (
    "inbox_mail",
    "inbox_note",
    "inbox_item",
    "review_count",
    "coupon",
    "webhook_attempt",
    "webhook_message",
    "webhook_endpoint",
    "record_upload",
    "record_sync",
    "api_key",
    "refused_record",
    "invitation",
    "record",
    "recipient",
    "refused_origin",
    "contact",
    "usage",
    "answer",
    "test_response",
    "response",
    "survey",
    "admin_session",
    "admin_user",
    "account",
    "tariff",
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    """A database of this test run's own beside TEST_DATABASE_URL's, so that
    runs on one server never see each other's rows. A test made for
    PostgreSQL alone skips here on a laptop without it (and fails in CI)."""
    require(PG_URL is not None, "PostgreSQL is needed (TEST_DATABASE_URL)")
    assert PG_URL is not None
    admin = create_db_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"nps_beacon_test_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(
            text(
                "INSERT INTO tariff (code, name, monthly_budget) VALUES "
                "('free', 'Free', 50), ('basic', 'Basic', 500), ('pro', 'Pro', 5000), "
                "('business', 'Business', 50000)"
            )
        )
    engine.dispose()


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A command run in-process (``worker --once``) configures logging onto
    this test's captured stderr; later tests must not write to it once closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_migrated")
        _reset_postgres(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "db.sqlite3"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_keys=(SECRET,),
        rate_limit_enabled=False,
        var_dir=tmp_path / "var",
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings.db_url)
    yield engine
    engine.dispose()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 5, 14, 12, 0, tzinfo=UTC))


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    app = build_app(settings, clock=clock, engine=engine)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@dataclass
class Seeded:
    account_id: int
    survey_id: int
    public_id: str
    embed_key: str
    link_key: str


def seed(
    engine: Engine,
    *,
    tariff: str = "free",
    kind: str = "nps",
    origins: list[str] | None = None,
    email: str | None = None,
    **options: Any,
) -> Seeded:
    signer = Signer((SECRET,), 3600)
    with db.write(engine) as conn:
        account_id = accounts.create_account(conn, "Shop", tariff)
        if email:
            accounts.create_admin(conn, account_id, email, "correct horse battery")
        survey_id, public_id = surveys.create_survey(
            conn, account_id, name="Survey", kind=kind, allowed_origins=origins, **options
        )
    return Seeded(
        account_id, survey_id, public_id, signer.embed_key(public_id), signer.link_key(public_id)
    )


def set_budget(engine: Engine, code: str, budget: int) -> None:
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE tariff SET monthly_budget = :b WHERE code = :c"), {"b": budget, "c": code}
        )


def expire_caches(client: TestClient) -> None:
    """What the hot-path cache's second does: forget copies of survey rows and
    budget states, after a test changed the database behind the app's back."""
    client.app.state.ctx.cache.clear()  # type: ignore[attr-defined]


def usage_row(engine: Engine, account_id: int, period: str) -> tuple[int, int]:
    with db.read(engine) as conn:
        row = conn.execute(
            text("SELECT used, rejected FROM usage WHERE account_id = :a AND period = :p"),
            {"a": account_id, "p": period},
        ).first()
    return (row.used, row.rejected) if row else (0, 0)


def count_responses(engine: Engine) -> int:
    with db.read(engine) as conn:
        return int(conn.execute(text("SELECT count(*) FROM response")).scalar_one())


def run_async(awaitable: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a loop of its own, in a thread: the
    browser tests' Playwright keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, awaitable).result()


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop without the tool; fail in CI, where it must be there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def live_server(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """Start real servers on the test's database: ``live_server(workers=2, **env)``."""
    from contextlib import ExitStack

    from tests.servers import free_port, running_server

    with ExitStack() as stack:

        def start(workers: int = 1, **env: str) -> str:
            port = free_port()
            base_env = {
                "DATABASE_URL": settings.db_url,
                "SECRET_KEYS": SECRET,
                "RATE_LIMIT_ENABLED": "false",
                "ENVIRONMENT": "development",
                "PUBLIC_URL": f"http://127.0.0.1:{port}",
            }
            return stack.enter_context(
                running_server(
                    {**base_env, **env}, workers=workers, port=port, log_dir=tmp_path / "logs"
                )
            )

        yield start
