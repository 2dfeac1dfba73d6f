"""Schema migrations (Alembic) and the helper that runs them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.db import schema_revisions

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser interpolation would choke on a % in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision under versions/, read once per process."""
    revision = ScriptDirectory(str(HERE)).get_current_head()
    assert revision is not None, "app/migrations/versions holds one line of revisions"
    return revision


def state(engine: Engine) -> str:
    """Readiness: "ok" at the newest revision, "not_migrated" otherwise (a
    new, restored or foreign database). An unreachable one raises DBAPIError."""
    return "ok" if schema_revisions(engine) == {head()} else "not_migrated"
