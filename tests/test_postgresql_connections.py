"""PostgreSQL's connections: a connection in steady use goes out without a
ping (a round trip per answer saved); one that rested is tried first, and if
the server cut it meanwhile another takes its place without an error. A
connection lost right after a commit is a database error like any other."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from app import cli
from app.main import build_app
from app.platform import db
from app.platform.driver import DriverConnection, Executor, counting
from app.platform.settings import Settings

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pings the pool sends, one entry each."""
    sent: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@POSTGRES_ONLY
def test_a_connection_in_steady_use_is_not_pinged(engine: Engine, pings: list[int]) -> None:
    first = _backend(engine)
    again = [_backend(engine) for _ in range(5)]
    assert again == [first] * 5  # the same pooled connection each time
    assert pings == []


@POSTGRES_ONLY
def test_a_rested_connection_cut_by_the_server_is_replaced_without_an_error(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = _backend(engine)
    other = db.create_db_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        with other.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": cut}).scalar()
    finally:
        other.dispose()
    monkeypatch.setattr(db, "IDLE_PING", 0.0)  # as if it had rested long enough

    replaced = _backend(engine)
    assert replaced != cut
    assert pings == [1]
    # A ping that succeeds leaves no transaction open behind it.
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None and driver.info.transaction_status.name == "IDLE"
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == replaced
    assert pings == [1, 1]


@POSTGRES_ONLY
def test_a_connection_lost_after_the_commit_is_a_database_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving the pipeline flushes it; a server gone by then (a fast
    shutdown right after the commit) must surface as SQLAlchemy's error,
    which the web layer answers with a 503, never as the driver's own."""
    other = db.create_db_engine(str(engine.url.render_as_string(hide_password=False)))
    commit = DriverConnection.commit

    def commit_then_cut(driver: DriverConnection) -> None:
        commit(driver)
        pid = driver.execute(text("SELECT pg_backend_pid()"), {}).scalar_one_or_none()
        with other.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        time.sleep(0.2)

    monkeypatch.setattr(DriverConnection, "commit", commit_then_cut)
    try:
        with pytest.raises(DBAPIError), counting(engine) as conn:
            conn.execute(text("SELECT 1"), {})
    finally:
        other.dispose()
    monkeypatch.undo()
    # The lost connection was dropped: the next transaction gets a live one.
    with counting(engine) as conn:
        assert conn.execute(text("SELECT 1"), {}).scalar_one_or_none() == 1


@POSTGRES_ONLY
def test_once_a_connection_is_found_broken_the_rested_ones_are_tried_first(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart cuts every connection at once: the first answer to meet one
    fails, and the pool tries the others before handing them out."""
    monkeypatch.setattr(db, "IDLE_PING", 60.0)  # none has rested long enough
    with engine.connect() as first, engine.connect() as second:
        cut = {
            conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in (first, second)
        }
    other = db.create_db_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        with other.connect() as conn:
            for pid in cut:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()
    time.sleep(0.2)

    with pytest.raises(DBAPIError), counting(engine) as driver:
        driver.execute(text("SELECT 1"), {}).scalar_one_or_none()
    for _ in range(3):
        with counting(engine) as driver:
            pid = driver.execute(text("SELECT pg_backend_pid()"), {}).scalar_one_or_none()
        assert pid not in cut


def _lock_wait(conn: Executor) -> str:
    return str(
        conn.execute(text("SELECT current_setting('lock_timeout')"), {}).scalar_one_or_none()
    )


@POSTGRES_ONLY
def test_a_lock_timeout_in_the_pipeline_is_a_database_error_on_a_connection_kept_usable(
    engine: Engine,
) -> None:
    """The guarded step leaves with the COMMIT, so a row held elsewhere makes
    the commit fail: SQLAlchemy's OperationalError (a 503), the transaction
    rolled back, and the same pooled connection fit for the next answer."""
    url = engine.url.render_as_string(hide_password=False)
    short = db.create_db_engine(url, write_wait=1.0, pool_size=1)
    try:
        with short.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as holder, holder.begin():
            holder.execute(text("SELECT name FROM tariff WHERE code = 'free' FOR UPDATE"))
            with pytest.raises(OperationalError), counting(short) as conn:
                conn.execute(text("UPDATE tariff SET name = 'Held' WHERE code = 'free'"), {})
        with counting(short) as conn:
            assert conn.execute(text("SELECT pg_backend_pid()"), {}).first() == (pid,)
            conn.execute(text("UPDATE tariff SET name = 'Free' WHERE code = 'free'"), {})
            assert _lock_wait(conn) == "500ms"  # half the write's wait: see db._lock_timeout
        # A write that waited for its thread until the deadline keeps the floor.
        with db.locks_wait_until(time.monotonic() - 1), counting(short) as conn:
            assert _lock_wait(conn) == "250ms"
        with db.locks_wait_until(time.monotonic() - 1), db.write(short) as sa_conn:
            assert _lock_wait(sa_conn) == "250ms"
    finally:
        short.dispose()


def _waits(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        ).one()
    return row[0], row[1]


@POSTGRES_ONLY
def test_request_connections_wait_briefly_and_commands_patiently(settings: Settings) -> None:
    """The web server's connections: DATABASE_LOCK_TIMEOUT for a row (half per
    wait) and DATABASE_STATEMENT_TIMEOUT per statement. The worker's and the
    commands' (retention, migrations' too): 30 s for a row, no statement limit."""
    web = build_app(settings.replace(database_lock_timeout=4.0, database_statement_timeout=20.0))
    worker = cli._engine(settings)
    try:
        assert _waits(web.state.ctx.engine) == ("2s", "20s")
        assert _waits(worker) == ("15s", "0")
    finally:
        web.state.ctx.engine.dispose()
        worker.dispose()


@POSTGRES_ONLY
def test_a_statement_past_its_timeout_is_a_database_error(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    short = db.create_db_engine(url, statement_timeout=0.2)
    try:
        with pytest.raises(OperationalError), db.read(short) as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
        with db.read(short) as conn:  # and the connection serves the next request
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        short.dispose()
