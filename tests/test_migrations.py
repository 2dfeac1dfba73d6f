"""The migrations build exactly the schema the models describe, and the
newest one can be undone and redone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from app import migrations
from app.db import create_db_engine
from tests.conftest import BACKENDS, PG_URL


def _differences(engine: Engine) -> list[object]:
    """What `alembic revision --autogenerate` would write: nothing, if the
    migrations and the models agree."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert _differences(engine) == []


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, so undoing migrations disturbs no other test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    assert PG_URL
    server = create_db_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"nps_beacon_migrations_{os.getpid()}"
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def test_the_readiness_check_knows_the_newest_revision() -> None:
    script = ScriptDirectory(str(migrations.HERE))
    assert script.get_current_head() == migrations.HEAD


def test_the_newest_migration_goes_down_and_up_again(empty_database: str) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config(empty_database))
    head = script.get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    engine = create_db_engine(empty_database)
    try:
        migrations.upgrade(empty_database)
        migrations.downgrade(empty_database, head.down_revision)
        assert _revision(engine) == head.down_revision
        migrations.upgrade(empty_database)
        assert _revision(engine) == head.revision
        assert _differences(engine) == []
    finally:
        engine.dispose()
