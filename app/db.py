"""Engine setup and transactions.

SQLite runs in WAL mode with a busy timeout, and write transactions begin
``IMMEDIATE`` so two writers queue on the lock instead of one of them failing
with "database is locked" when it upgrades a read lock. PostgreSQL needs none
of this: its row locks and unique indexes give the same guarantees.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, Engine, Table, TextClause, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Let operators write ``postgresql://`` and still get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    # A bounded pool per process: with several workers per host the sum must stay
    # below the server's max_connections (100 by default); threads queue instead.
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        # As many as the thread pool has threads (anyio's default, 40), so
        # connections are kept rather than opened and closed under load.
        pool_size=40,
        max_overflow=10,
        **kwargs,
    )

    _WRITE_LOCKS[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


# SQLite has one writer at a time. Threads of one process queue on this lock
# rather than in SQLite's busy handler, which sleeps in growing steps and turns
# contention into long tails; other processes still wait in busy_timeout.
_WRITE_LOCKS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()


@contextmanager
def _one_writer(engine: Engine) -> Iterator[None]:
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        yield
        return
    with lock:
        yield


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any error."""
    with _one_writer(engine), engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work (a deferred transaction on SQLite)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which offers ON CONFLICT on both supported databases."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# -- the submission path ------------------------------------------------------
# Counting a submission is three short statements in one transaction; through
# SQLAlchemy's execution machinery they cost more than the database work
# itself. ``counting`` runs them on the driver's own connection (still taken
# from, and returned to, the engine's pool) with the statements' SQL compiled
# once per placeholder style. Driver errors, the commit's included, still
# surface as SQLAlchemy's exceptions, so a locked, full or unreachable database
# is a 503 like everywhere else, and the transaction is rolled back.

_PYFORMAT = re.compile(r"(?<![:\w]):(\w+)")


class Executor(Protocol):
    """What the counting statements need: SQLAlchemy's Connection or ours."""

    def execute(self, statement: TextClause, params: Mapping[str, Any], /) -> Any: ...


class DriverResult:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def first(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def scalar_one_or_none(self) -> Any:
        row = self.first()
        return row[0] if row is not None else None


class DriverConnection:
    """Executes ``text()`` statements with ``:name`` parameters on the driver."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self._raw = raw
        self._dialect = dialect
        self._sqlite = dialect.name == "sqlite"

    def execute(self, statement: TextClause, params: Mapping[str, Any]) -> DriverResult:
        sql = _driver_sql(statement.text, self._sqlite)
        values = {key: self._bind(value) for key, value in params.items()}
        try:
            return DriverResult(self._raw.execute(sql, values))
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._translated(exc, sql, values) from exc

    def commit(self) -> None:
        # A commit does I/O of its own (SQLite writes its log, PostgreSQL runs
        # deferred triggers): its failure is a database error like any other.
        try:
            self._raw.commit()
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._translated(exc, "COMMIT", {}) from exc

    def rollback(self) -> bool:
        """Roll back; False when even that failed and the connection is suspect."""
        try:
            self._raw.rollback()
        except self._dialect.loaded_dbapi.Error:
            return False
        return True

    def _translated(self, exc: Exception, sql: str, values: Mapping[str, Any]) -> StatementError:
        return DBAPIError.instance(sql, values, exc, self._dialect.loaded_dbapi.Error)

    def _bind(self, value: Any) -> Any:
        # The form SQLAlchemy's DateTime keeps on SQLite: naive UTC text.
        if self._sqlite and isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value


@lru_cache(maxsize=64)
def _driver_sql(sql: str, sqlite_style: bool) -> str:
    return sql if sqlite_style else _PYFORMAT.sub(r"%(\1)s", sql)


@contextmanager
def counting(engine: Engine) -> Iterator[DriverConnection]:
    """A write transaction on the driver's connection (BEGIN IMMEDIATE on SQLite)."""
    with _one_writer(engine), engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a live pooled connection always has its driver's
        driver = DriverConnection(raw, conn.dialect)
        try:
            if conn.dialect.name == "sqlite":
                driver.execute(_BEGIN_IMMEDIATE, {})
            yield driver
            driver.commit()
        except BaseException:
            if not driver.rollback():
                conn.invalidate()  # the pool must not hand this connection out again
            raise


_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")
