"""A real server against a database that misbehaves: every failure is a 503
with Retry-After, nothing half-stored, and the service recovers by itself."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from app import db
from app.settings import Settings
from tests.conftest import count_responses, seed, usage_row

pytestmark = pytest.mark.server


def _period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _sqlite_path(settings: Settings) -> Path | None:
    url = make_url(settings.db_url)
    return Path(str(url.database)) if url.get_backend_name() == "sqlite" else None


def _token(http: httpx.Client, embed_key: str) -> str:
    body = http.get(f"/api/v1/widget/{embed_key}").json()
    assert body["show"] is True, body
    return str(body["display_token"])


def _unavailable(answer: httpx.Response) -> None:
    """The database's 503: problem+json for the API with a Retry-After."""
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "service_unavailable"
    assert int(answer.headers["retry-after"]) > 0


# -- a commit that fails -------------------------------------------------------


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@contextmanager
def _sqlite_commits_fail(path: Path) -> Iterator[None]:
    """An immutable write-ahead log: statements run, the COMMIT that writes the
    log fails with "disk I/O error"."""
    wal = path.with_name(path.name + "-wal")
    assert wal.exists(), "the server keeps the database in WAL mode"
    try:
        _chattr("+i", wal)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("chattr +i needs root and a filesystem with the immutable flag")
    try:
        yield
    finally:
        _chattr("-i", wal)


@contextmanager
def _postgres_commits_fail(engine: Engine) -> Iterator[None]:
    """A deferred constraint trigger that fails at COMMIT with disk_full (53100),
    which psycopg raises as an OperationalError."""
    with db.write(engine) as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'no space left' USING ERRCODE = '53100'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON response"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
            )
        )
    try:
        yield
    finally:
        with db.write(engine) as conn:
            conn.execute(text("DROP TRIGGER refuse_commit ON response"))
            conn.execute(text("DROP FUNCTION refuse_commit()"))


def test_a_failed_commit_is_a_503_and_stores_nothing(
    live_server: Any, engine: Engine, settings: Settings
) -> None:
    shop = seed(engine)
    base = live_server()
    path = _sqlite_path(settings)
    failing = _sqlite_commits_fail(path) if path else _postgres_commits_fail(engine)
    with httpx.Client(base_url=base, timeout=30) as http:
        token = _token(http, shop.embed_key)
        with failing:
            answer = http.post("/api/v1/responses", json={"display_token": token, "score": 9})
            _unavailable(answer)
        assert count_responses(engine) == 0
        assert usage_row(engine, shop.account_id, _period()) == (0, 0)

        # Nothing was kept: the same display now counts as new, once.
        again = http.post("/api/v1/responses", json={"display_token": token, "score": 9})
        assert again.status_code == 201, again.text
        assert http.get("/healthz").status_code == 200
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, _period()) == (1, 0)
