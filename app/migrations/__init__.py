"""Schema migrations (Alembic) and the helpers that run and check them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from app.platform.db import schema_revisions

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
# The newest revision under versions/. The readiness check compares the
# database with it without loading Alembic, which would cost every server
# worker about 9 MB; tests/test_migrations.py keeps it equal to Alembic's head.
HEAD = "0014"


def alembic_config(url: str) -> Config:
    # Imported here: only the commands that migrate need Alembic, not the server.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser interpolation would choke on a % in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def state(engine: Engine) -> str:
    """Readiness: "ok" at the newest revision, "not_migrated" otherwise (a
    new, restored or foreign database). An unreachable one raises DBAPIError."""
    return "ok" if schema_revisions(engine) == {HEAD} else "not_migrated"
