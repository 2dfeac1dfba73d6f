"""The driver-level counting transaction: one guarded step without SQLAlchemy's Core.

On SQLite the event loop's own connection runs inline writes; on PostgreSQL
the statements go as one pipeline, and a refused guarded step raises
``REFUSED_SQLSTATE``."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    Dialect,
    Engine,
    TextClause,
    text,
)
from sqlalchemy.exc import DBAPIError

from app.platform.db import (
    INLINE,
    SET_LOCK_WAIT,
    WRITERS,
    WouldWait,
    Writers,
    connection_unusable,
    drop_loop_connection,
    loop_connection_of,
    must_not_wait,
    one_writer,
    shortened_lock_wait,
)

_PYFORMAT = re.compile(r"(?<![:\w]):(\w+)")


class Executor(Protocol):
    """What the counting statements need: SQLAlchemy's Connection or ours."""

    def execute(self, statement: TextClause, params: Mapping[str, Any], /) -> Any: ...


# A guarded statement sent ahead in a pipeline is not read before the COMMIT
# queued behind it, so it refuses by raising this SQLSTATE (migration 0011)
# and the COMMIT becomes a rollback.
REFUSED_SQLSTATE = "NB402"


class Refused(Exception):
    """A guarded step refused, and the transaction was rolled back."""


def pipelined(conn: Executor) -> bool:
    """Whether ``conn`` sends statements ahead without waiting for them: a
    guarded step must then refuse by raising (``REFUSED_SQLSTATE``)."""
    return isinstance(conn, DriverConnection) and conn.pipelined


class DriverResult:
    def __init__(self, cursor: Any, conn: DriverConnection, sql: str) -> None:
        self._cursor = cursor
        self._conn = conn
        self._sql = sql

    def first(self) -> tuple[Any, ...] | None:
        # In a pipeline this is where the statement's error, or an earlier
        # unread one's, surfaces.
        try:
            row = self._cursor.fetchone()
        except self._conn.dbapi_error as exc:
            raise self._conn.failure(exc, self._sql) from exc
        return tuple(row) if row is not None else None

    def scalar_one_or_none(self) -> Any:
        row = self.first()
        return row[0] if row is not None else None

    def all(self) -> list[tuple[Any, ...]]:
        try:
            rows = self._cursor.fetchall()
        except self._conn.dbapi_error as exc:
            raise self._conn.failure(exc, self._sql) from exc
        return [tuple(row) for row in rows]


class DriverConnection:
    """Executes ``text()`` statements with ``:name`` parameters on the driver."""

    def __init__(self, raw: Any, dialect: Dialect, pipelined: bool = False) -> None:
        self._raw = raw
        self._dialect = dialect
        self._sqlite = dialect.name == "sqlite"
        # PostgreSQL's pipeline mode: a statement whose result is not read
        # costs no round trip; its error surfaces when a later one is read, or
        # at the commit.
        self.pipelined = pipelined

    def execute(self, statement: TextClause, params: Mapping[str, Any]) -> DriverResult:
        sql = _driver_sql(statement.text, self._sqlite)
        values = {key: self._bind(value) for key, value in params.items()}
        try:
            return DriverResult(self._raw.execute(sql, values), self, sql)
        except self.dbapi_error as exc:
            raise self.failure(exc, sql, values) from exc

    @property
    def dbapi_error(self) -> type[Exception]:
        error: type[Exception] = self._dialect.loaded_dbapi.Error
        return error

    def commit(self) -> None:
        # A commit does I/O of its own (SQLite writes its log, PostgreSQL runs
        # deferred triggers): its failure is a database error like any other.
        try:
            self._raw.commit()
        except self.dbapi_error as exc:
            raise self.failure(exc, "COMMIT") from exc

    def rollback(self) -> bool:
        """Roll back; False when even that failed and the connection is suspect."""
        try:
            self._raw.rollback()
        except self._dialect.loaded_dbapi.Error:
            return False
        return True

    def failure(
        self, exc: Exception, sql: str, values: Mapping[str, Any] | None = None
    ) -> Exception:
        """What a driver error is raised as: a guarded step's refusal, or
        SQLAlchemy's exception for it, so that handlers answer it as usual."""
        if getattr(exc, "sqlstate", None) == REFUSED_SQLSTATE:
            return Refused()
        return DBAPIError.instance(sql, values or {}, exc, self.dbapi_error)

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
    """A write transaction on the driver's connection: BEGIN IMMEDIATE on
    SQLite; on PostgreSQL a pipeline, where only the results read cost a
    round trip and the last statements leave together with the COMMIT."""
    writers = WRITERS.get(engine)
    if writers is not None and must_not_wait():
        with _counting_inline(engine, writers) as driver:
            yield driver
        return
    with one_writer(engine), engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a live pooled connection always has its driver's
        sqlite_conn = conn.dialect.name == "sqlite"
        driver = DriverConnection(raw, conn.dialect, pipelined=not sqlite_conn)
        try:
            if sqlite_conn:
                driver.execute(_BEGIN_IMMEDIATE, {})
                yield driver
                driver.commit()
            else:
                try:
                    with raw.pipeline():
                        wait = shortened_lock_wait(engine)
                        if wait is not None:  # sent ahead: costs no round trip
                            driver.execute(SET_LOCK_WAIT, {"wait": wait})
                        yield driver
                        driver.commit()
                except driver.dbapi_error as exc:
                    # Leaving the pipeline flushes it: a connection lost
                    # after the commit fails there, like any database error.
                    raise driver.failure(exc, "COMMIT") from exc
            inline = INLINE.get()
            if inline is not None:
                inline.committed = True
        except BaseException as exc:
            failed = exc.orig if isinstance(exc, DBAPIError) else None
            if not driver.rollback() or connection_unusable(failed):
                conn.invalidate()  # the pool must not hand this connection out again
            raise


_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")


@contextmanager
def _counting_inline(engine: Engine, writers: Writers) -> Iterator[DriverConnection]:
    """``counting`` on the event loop: it begins at once or raises
    ``WouldWait`` having written nothing."""
    if not writers.lock.acquire(blocking=False):
        raise WouldWait
    try:
        try:
            raw = loop_connection_of(engine, writers)
        except (DBAPIError, sqlite3.Error):
            raise WouldWait from None  # a thread tries again, and reports what fails
        driver = DriverConnection(raw, engine.dialect)
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # Another process holds SQLite's write lock (busy_timeout is 0 here).
            if "locked" in str(exc) or "busy" in str(exc):
                raise WouldWait from exc
            drop_loop_connection(writers)
            raise driver.failure(exc, "BEGIN IMMEDIATE") from exc
        try:
            yield driver
            driver.commit()
        except BaseException as exc:
            failed = exc.orig if isinstance(exc, DBAPIError) else None
            if not driver.rollback() or connection_unusable(failed):
                drop_loop_connection(writers)
            raise
        inline = INLINE.get()
        assert inline is not None
        inline.committed = True
    finally:
        writers.lock.release()
