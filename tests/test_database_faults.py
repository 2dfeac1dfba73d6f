"""A real server against a database that misbehaves: every failure is a 503
with Retry-After, nothing half-stored, and the service recovers by itself."""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app.platform import db
from app.platform.settings import Settings
from tests.admin_helpers import PASSWORD, csrf_from
from tests.conftest import count_responses, require, seed, set_budget, usage_row

# A failure of SQLite's own: a file to move away, one write lock for all.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

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
        require(False, "chattr +i needs root and a filesystem with the immutable flag")
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


# -- the database file moved away and back ------------------------------------


async def _gather(base: str, requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Send the requests at once, so that the server needs several connections."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        return list(
            await asyncio.gather(
                *(http.request(method, url, json=body) for method, url, body in requests)
            )
        )


def _run(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own (Playwright may own this one's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _round(shop: Any, tokens: list[str]) -> list[tuple[str, str, Any]]:
    """Submissions, a widget config, health, and enough link pages at once that
    the server must open connections beyond those in its pool."""
    return [
        *(("POST", "/api/v1/responses", {"display_token": t, "score": 7}) for t in tokens),
        ("GET", f"/api/v1/widget/{shop.embed_key}", None),
        ("GET", "/healthz", None),
        *[("GET", f"/s/{shop.link_key}", None)] * 24,
    ]


@SQLITE_ONLY
def test_a_database_file_moved_away_and_back_recovers_without_restart(
    live_server: Any, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _sqlite_path(settings)
    assert path is not None
    shop = seed(engine)
    base = live_server()
    with httpx.Client(base_url=base, timeout=30) as http:
        tokens = [_token(http, shop.embed_key) for _ in range(17)]
        first = http.post("/api/v1/responses", json={"display_token": tokens[0], "score": 7})
        assert first.status_code == 201, first.text
    engine.dispose()  # the test's own connections stay out of it
    away = tmp_path / "away"
    away.mkdir()
    files = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]
    for file in files:
        if file.exists():
            file.rename(away / file.name)

    try:
        answers = _run(_gather(base, _round(shop, tokens[1:9])))
        statuses = [answer.status_code for answer in answers]
        posts, (config, health), links = answers[:8], answers[8:10], answers[10:]
        for answer in posts:
            _unavailable(answer)
        # A cached widget config may still answer within its second.
        assert config.status_code in {200, 503}, statuses
        assert health.status_code == 503, statuses
        assert health.json()["status"] == "error"
        assert {link.status_code for link in links} == {503}, statuses
        assert not path.exists(), "the server created a new, empty database at the path"
    finally:
        for file in files:
            if (away / file.name).exists():
                (away / file.name).rename(file)

    for batch in (tokens[9:13], tokens[13:17]):
        answers = _run(_gather(base, _round(shop, batch)))
        statuses = [answer.status_code for answer in answers]
        assert statuses == [201] * 4 + [200] * 26, statuses
        assert answers[4].json()["show"] is True
        assert answers[5].json() == {"status": "ok", "database": "ok"}
    assert count_responses(engine) == 9
    assert usage_row(engine, shop.account_id, _period()) == (9, 0)


def test_healthz_is_503_until_the_database_is_at_the_latest_migration(
    client: TestClient, engine: Engine
) -> None:
    with db.read(engine) as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    try:
        with db.write(engine) as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        behind = client.get("/healthz")
        assert behind.status_code == 503
        assert behind.headers["cache-control"] == "no-store"
        assert behind.json() == {"status": "error", "database": "not_migrated"}
        with db.write(engine) as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        assert client.get("/healthz").json()["database"] == "not_migrated"
        with db.write(engine) as conn:
            conn.execute(text("ALTER TABLE alembic_version RENAME TO alembic_version_gone"))
        try:
            assert client.get("/healthz").json()["database"] == "not_migrated"
        finally:
            with db.write(engine) as conn:
                conn.execute(text("ALTER TABLE alembic_version_gone RENAME TO alembic_version"))
    finally:
        with db.write(engine) as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version VALUES (:head)"), {"head": head})
    assert client.get("/healthz").status_code == 200


# -- a write lock held by another process ---------------------------------------

CAP = 20.0  # seconds: only keeps a broken server from hanging the test
OWNER = "owner@shop.example"


async def _under_a_held_lock(
    base: str, shop: Any, path: Path, engine: Engine, tokens: list[str]
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=CAP) as http:
        login_csrf = csrf_from((await http.get("/admin/login")).text)
        link_token = _link_token((await http.get(f"/s/{shop.link_key}")).text)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # what a backup, a CLI command or a stuck worker does
        try:
            submissions = [
                asyncio.create_task(
                    http.post("/api/v1/responses", json={"display_token": t, "score": 9})
                )
                for t in tokens[:45]
            ]
            await asyncio.sleep(0.5)  # let them reach the server before the reads
            reads = await asyncio.gather(
                http.get("/healthz"),
                http.get(f"/api/v1/widget/{shop.embed_key}"),
                http.get(f"/s/{shop.link_key}"),
                http.get("/admin/login"),
            )
            unanswered_after_reads = sum(not task.done() for task in submissions)
            writes = await asyncio.gather(
                http.post(
                    "/admin/login",
                    data={"email": OWNER, "password": PASSWORD, "csrf_token": login_csrf},
                ),
                http.post(f"/s/{shop.link_key}", data={"display_token": link_token, "score": "9"}),
            )
            answers = await asyncio.gather(*submissions)
            stored = (count_responses(engine), usage_row(engine, shop.account_id, _period()))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        after = await asyncio.gather(
            *(
                http.post("/api/v1/responses", json={"display_token": t, "score": 9})
                for t in tokens[45:]
            )
        )
    return {
        "reads": reads,
        "unanswered_after_reads": unanswered_after_reads,
        "writes": writes,
        "answers": answers,
        "stored_while_locked": stored,
        "after": after,
    }


def _link_token(page: str) -> str:
    found = re.search(r'name="display_token" value="([^"]+)"', page)
    assert found, "the link page has no display token"
    return html.unescape(found.group(1))


@SQLITE_ONLY
def test_a_held_write_lock_bounds_the_wait_and_never_stalls_reads(
    live_server: Any, engine: Engine, settings: Settings
) -> None:
    path = _sqlite_path(settings)
    assert path is not None
    shop = seed(engine, email=OWNER)
    set_budget(engine, "free", 1000)
    base = live_server()
    with httpx.Client(base_url=base, timeout=30) as http:
        tokens = [_token(http, shop.embed_key) for _ in range(50)]

    seen = _run(_under_a_held_lock(base, shop, path, engine, tokens))

    health, config, link, login_page = seen["reads"]
    assert health.json() == {"status": "ok", "database": "ok"}
    assert config.status_code == 200 and config.json()["show"] is True
    assert link.status_code == 200
    assert login_page.status_code == 200
    # The reads answered while submissions were still waiting for the lock.
    assert seen["unanswered_after_reads"] > 0
    # An admin's write and a link survey's form give up in bounded time too.
    for answer in seen["writes"]:
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
    for answer in seen["answers"]:
        _unavailable(answer)
    assert seen["stored_while_locked"] == (0, (0, 0))

    assert [answer.status_code for answer in seen["after"]] == [201] * 5
    assert count_responses(engine) == 5
    assert usage_row(engine, shop.account_id, _period()) == (5, 0)
