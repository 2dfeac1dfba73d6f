"""Engine setup and transactions.

SQLite runs in WAL mode with a busy timeout, and write transactions begin
``IMMEDIATE`` so two writers queue on the lock instead of one of them failing
with "database is locked" when it upgrades a read lock. PostgreSQL needs none
of this: its row locks and unique indexes give the same guarantees; its waits
for them are bounded by ``lock_timeout`` instead.

Only the migrations create a SQLite file. Every other engine opens an existing
one, and its pool drops connections whose file is no longer the one at the
path (moved, replaced) or that failed in a way only a new connection can mend,
so the service recovers without a restart once the file is back.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Table,
    TextClause,
    create_engine,
    event,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

# Seconds a writer waits for a lock another transaction holds: on SQLite for
# the write lock, first behind the other threads of its process, then in
# busy_timeout behind other processes; on PostgreSQL for any row or table
# lock (lock_timeout). A request gives up soon and answers 503 with
# Retry-After (DATABASE_LOCK_TIMEOUT): a lock held by a backup, a psql session
# or a stuck process must not pile up waiting requests. Commands an operator
# runs (migrate, tariff, retention, ...) and the worker are patient.
REQUEST_WRITE_WAIT = 3.0
COMMAND_WRITE_WAIT = 30.0

# A write that got its thread late still waits this long for a lock: another
# answer to the same account holds its usage row for a commit, milliseconds,
# and must not turn a burst into refusals.
LOCK_WAIT_FLOOR = 0.5

# PostgreSQL connections per process, all kept open: the write queue's slots
# and two for reads (see ``write_queue.WRITE_SLOTS``). Overflow connections
# would be opened and closed on every burst of answers; beyond these, threads
# wait for one. Operators size max_connections by it (docs/deployment.md).
POOL_SIZE = 10


class WriteTimeout(OperationalError):
    """The database's write lock stayed taken longer than this writer may wait.
    An OperationalError, so that handlers answer it like any unavailable
    database: 503 with Retry-After."""

    def __init__(self, waited: float) -> None:
        super().__init__(None, None, TimeoutError(f"write lock not free after {waited:g}s"))


def normalize_url(url: str) -> str:
    """Let operators write ``postgresql://`` and still get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(
    url: str,
    *,
    create: bool = False,
    write_wait: float = REQUEST_WRITE_WAIT,
    statement_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """The engine for ``url``. Only ``create=True`` (the migrations) may create
    a SQLite file; every other engine opens an existing database or fails.
    ``write_wait`` bounds how long a writer waits for a lock held elsewhere;
    ``statement_timeout`` how long a PostgreSQL statement may run (None: as
    long as it takes)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, create=create, write_wait=write_wait, **kwargs)
    # A bounded pool per process: with several workers per host the sum must stay
    # below the server's max_connections (100 by default); threads queue instead.
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    engine = create_engine(url, **kwargs)
    _bound_waits(engine, write_wait, statement_timeout)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


# PostgreSQL engines' write wait, in seconds, for ``_shortened_lock_wait``.
_LOCK_WAITS: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()


def _milliseconds(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"  # 0 would mean no limit at all


def _lock_timeout(wait: float) -> str:
    """PostgreSQL's lock_timeout for a write that may wait ``wait`` seconds
    for a row. The limit counts each lock wait apart, and a row held by
    another transaction can cost two: one behind the row's earlier waiters
    (its tuple lock), one for the holder to end. Each gets half."""
    return _milliseconds(wait / 2)


def _bound_waits(engine: Engine, lock_wait: float, statement_timeout: float | None) -> None:
    """Every connection of the engine gives up waiting for a row after
    ``lock_wait`` seconds, and cancels a statement after ``statement_timeout``:
    both are errors of class OperationalError, answered with a 503. Set once
    per connection, as it is opened: no round trip per transaction. Without
    ``statement_timeout`` the server's own setting stays."""
    _LOCK_WAITS[engine] = lock_wait
    settings = {"lock_timeout": _lock_timeout(lock_wait)}
    if statement_timeout is not None:
        settings["statement_timeout"] = _milliseconds(statement_timeout)

    @event.listens_for(engine, "connect")
    def _set_timeouts(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        with dbapi_connection.cursor() as cursor:
            for name, value in settings.items():
                cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
        dbapi_connection.commit()


# Seconds a pooled PostgreSQL connection may rest before it is tried on
# checkout. A ping on every checkout (pool_pre_ping) is one more round trip
# per answer, which counts when PostgreSQL is on another host; a connection
# in steady use has just proved itself. One that rested may have been cut by
# a restart, a proxy or a firewall meanwhile, and so may every connection
# that rested while another was found broken.
IDLE_PING = 1.0


def _ping_when_idle(engine: Engine) -> None:
    lost_at = [0.0]  # when a connection of this pool was last found broken

    @event.listens_for(engine, "invalidate")
    def _lost(dbapi_connection: Any, record: ConnectionPoolEntry, exc: Any) -> None:
        lost_at[0] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _rested_from(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or (time.monotonic() - since < IDLE_PING and since > lost_at[0]):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping began a transaction; end it
        except Exception as exc:
            # The pool drops this connection and checks out another (up to three).
            raise DisconnectionError(str(exc)) from exc


def _sqlite_engine(url: str, *, create: bool, write_wait: float, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    path = None
    if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
        path = Path(parsed.database).absolute()
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            # A file missing at run time is an outage to report, not a new,
            # empty database to answer "no such table" from until a restart.
            parsed = parsed.set(database=f"file:{quote(str(path))}").update_query_dict(
                {"mode": "rw", "uri": "true"}
            )
    engine = create_engine(
        parsed,
        # The driver's timeout is SQLite's busy_timeout.
        connect_args={"check_same_thread": False, "timeout": write_wait},
        # As many as the thread pool has threads (anyio's default, 40), so
        # connections are kept rather than opened and closed under load.
        pool_size=40,
        max_overflow=10,
        **kwargs,
    )

    _WRITERS[engine] = _Writers(threading.Lock(), write_wait, path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, not left in free space for
        # anyone who reads the file: an erased address must be gone from it.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
        if path is not None:
            record.info[_OPENED_FILE] = _file_identity(path)

    if path is not None:
        file_path = path

        @event.listens_for(engine, "checkout")
        def _on_checkout(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
            # A connection stays on the file it opened after that file was moved
            # or replaced: it would read and write the wrong database. One stat()
            # per checkout notices; the pool then opens a connection afresh.
            opened = record.info.get(_OPENED_FILE)
            if opened is None or opened != _file_identity(file_path):
                raise DisconnectionError("the database file at the path is not the one opened")

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if _connection_unusable(context.original_exception):
            context.is_disconnect = True  # the pool drops its connections, not the process

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


_OPENED_FILE = "nps_beacon_file"


def empty_log(engine: Engine) -> bool:
    """SQLite: the write-ahead log copied into the database file and cut to
    nothing, so the old versions of rows just deleted leave it too; False when
    readers or writers kept it from completing within the busy timeout.
    PostgreSQL keeps no such file beside the tables: nothing to do."""
    if engine.dialect.name != "sqlite":
        return True
    pooled = engine.raw_connection()
    try:
        # Outside any transaction (the driver's own BEGIN is off on our connections).
        cursor = pooled.cursor()
        busy, _frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        pooled.close()
    return bool(busy == 0)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


# What SQLite says when a connection's file is gone, unwritable, or not the
# migrated database (a stray empty file): retrying on the same connection
# cannot help, a new connection may.
_SQLITE_UNUSABLE = (
    "disk i/o error",
    "unable to open database file",
    "no such table",
    "attempt to write a readonly database",
    "database disk image is malformed",
    "file is not a database",
)


def _connection_unusable(error: BaseException | None) -> bool:
    if not isinstance(error, sqlite3.Error):
        return False
    message = str(error).lower()
    return any(words in message for words in _SQLITE_UNUSABLE)


def schema_revisions(engine: Engine) -> set[str]:
    """The revisions Alembic recorded in the database; none if it never ran."""
    with read(engine) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


# SQLite has one writer at a time. Threads of one process queue on this lock
# rather than in SQLite's busy handler, which sleeps in growing steps and turns
# contention into long tails; other processes still wait in busy_timeout. Each
# of the two waits ends after the engine's write_wait.
@dataclass
class _Writers:
    lock: threading.Lock
    wait: float
    path: Path | None
    # The event loop's own connection for inline writes (see below), taken
    # only under ``lock``, with its file's identity when it was opened.
    loop_connection: Any = None
    loop_file: tuple[int, int] | None = None


_WRITERS: WeakKeyDictionary[Engine, _Writers] = WeakKeyDictionary()


# -- writes on the event loop ---------------------------------------------------
# A SQLite write is a few hundred microseconds of work, less than a thread hop
# costs. So a submission first tries its transaction right on the event loop,
# but only if it can begin at once: this process's writer lock free and
# SQLite's lock free (busy_timeout 0). Otherwise ``WouldWait`` is raised before
# anything was written, and the caller runs the work again on a thread, where
# waiting is allowed. Once one transaction has committed inline, the rest of
# that work waits as on a thread: it must not be done twice.


class WouldWait(Exception):
    """An inline write could not begin at once; run the work on a thread."""


@dataclass
class _Inline:
    committed: bool = False


_INLINE: ContextVar[_Inline | None] = ContextVar("nps_beacon_inline_write", default=None)


def _loop_connection(engine: Engine, writers: _Writers) -> Any:
    """The connection inline writes use, kept out of the pool: a pool's
    checkout and return cost as much as the write itself. Its busy_timeout
    is 0 for good, so a lock held elsewhere is known at once. Opened again
    when its file was moved or replaced, like the pool's (see ``_on_checkout``)."""
    opened = _file_identity(writers.path) if writers.path is not None else None
    if writers.loop_connection is not None and writers.loop_file != opened:
        _drop_loop_connection(writers)
    if writers.loop_connection is None:
        pooled = engine.raw_connection()
        raw = pooled.driver_connection
        assert raw is not None  # a live pooled connection always has its driver's
        pooled.detach()  # the pool's events (pragmas, file check) ran; it is ours now
        raw.execute("PRAGMA busy_timeout = 0")
        writers.loop_connection, writers.loop_file = raw, opened
    return writers.loop_connection


def _drop_loop_connection(writers: _Writers) -> None:
    connection, writers.loop_connection = writers.loop_connection, None
    if connection is not None:
        with suppress(sqlite3.Error):  # already unusable: that is why it is dropped
            connection.close()


def writes_inline(engine: Engine) -> bool:
    """Whether this engine's writes may be tried on the event loop: SQLite's
    (a network round trip to PostgreSQL would stall every other request)."""
    return engine in _WRITERS


@contextmanager
def inline_writes() -> Iterator[None]:
    token = _INLINE.set(_Inline())
    try:
        yield
    finally:
        _INLINE.reset(token)


def _must_not_wait() -> bool:
    inline = _INLINE.get()
    return inline is not None and not inline.committed


@contextmanager
def _one_writer(engine: Engine) -> Iterator[None]:
    writers = _WRITERS.get(engine)
    if writers is None:
        yield
        return
    if _must_not_wait():
        if not writers.lock.acquire(blocking=False):
            raise WouldWait
    elif not writers.lock.acquire(timeout=writers.wait):
        raise WriteTimeout(writers.wait)
    try:
        yield
    finally:
        writers.lock.release()


# -- one deadline for a request's waits ------------------------------------------
# A request's write first waits for a thread of the write queue, then for the
# locks its statements need. The queue sets one deadline for both: a write
# that got its thread late waits for locks only what is left (at least
# LOCK_WAIT_FLOOR), set for its own transaction, so that no answer waits the
# queue's time and the lock timeout one after the other.

_LOCK_DEADLINE: ContextVar[float | None] = ContextVar("nps_beacon_lock_deadline", default=None)


@contextmanager
def locks_wait_until(deadline: float) -> Iterator[None]:
    """Transactions begun inside wait for locks until ``deadline`` (a
    ``time.monotonic()`` value) on PostgreSQL, not their engine's full wait."""
    token = _LOCK_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _LOCK_DEADLINE.reset(token)


def _shortened_lock_wait(engine: Engine) -> str | None:
    """The lock_timeout for a transaction begun now, when the deadline leaves
    noticeably less than the connection's own; else None (no statement)."""
    deadline = _LOCK_DEADLINE.get()
    full = _LOCK_WAITS.get(engine)
    if deadline is None or full is None:
        return None
    left = max(deadline - time.monotonic(), LOCK_WAIT_FLOOR)
    return _lock_timeout(left) if left < full - 0.1 else None


_SET_LOCK_WAIT = text("SELECT set_config('lock_timeout', :wait, true)")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any error."""
    with _one_writer(engine), engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            wait = _shortened_lock_wait(engine)
            if wait is not None:
                conn.execute(_SET_LOCK_WAIT, {"wait": wait})
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work (a deferred transaction on SQLite)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def lease_due(
    conn: Connection, table: Table, waiting: str, now: datetime, limit: int, lease: timedelta
) -> list[int]:
    """Claim up to ``limit`` rows of an outbox (``status``, ``next_attempt_at``,
    ``claimed_until``, ``attempts``) that are ``waiting`` and due, for ``lease``,
    in the caller's write transaction: their ids, oldest due first. PostgreSQL
    locks the rows until commit and passes over rows another worker is
    claiming; SQLite renders nothing and has one writer anyway."""
    c = table.c
    ids = list(
        conn.execute(
            select(c.id)
            .where(
                c.status == waiting,
                c.next_attempt_at <= now,
                or_(c.claimed_until.is_(None), c.claimed_until <= now),
            )
            .order_by(c.next_attempt_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if ids:
        conn.execute(
            update(table)
            .where(c.id.in_(ids))
            .values(claimed_until=now + lease, attempts=c.attempts + 1)
        )
    return ids


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
    writers = _WRITERS.get(engine)
    if writers is not None and _must_not_wait():
        with _counting_inline(engine, writers) as driver:
            yield driver
        return
    with _one_writer(engine), engine.connect() as conn:
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
                        wait = _shortened_lock_wait(engine)
                        if wait is not None:  # sent ahead: costs no round trip
                            driver.execute(_SET_LOCK_WAIT, {"wait": wait})
                        yield driver
                        driver.commit()
                except driver.dbapi_error as exc:
                    # Leaving the pipeline flushes it: a connection lost
                    # after the commit fails there, like any database error.
                    raise driver.failure(exc, "COMMIT") from exc
            inline = _INLINE.get()
            if inline is not None:
                inline.committed = True
        except BaseException as exc:
            failed = exc.orig if isinstance(exc, DBAPIError) else None
            if not driver.rollback() or _connection_unusable(failed):
                conn.invalidate()  # the pool must not hand this connection out again
            raise


_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")


@contextmanager
def _counting_inline(engine: Engine, writers: _Writers) -> Iterator[DriverConnection]:
    """``counting`` on the event loop: it begins at once or raises
    ``WouldWait`` having written nothing."""
    if not writers.lock.acquire(blocking=False):
        raise WouldWait
    try:
        try:
            raw = _loop_connection(engine, writers)
        except (DBAPIError, sqlite3.Error):
            raise WouldWait from None  # a thread tries again, and reports what fails
        driver = DriverConnection(raw, engine.dialect)
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # Another process holds SQLite's write lock (busy_timeout is 0 here).
            if "locked" in str(exc) or "busy" in str(exc):
                raise WouldWait from exc
            _drop_loop_connection(writers)
            raise driver.failure(exc, "BEGIN IMMEDIATE") from exc
        try:
            yield driver
            driver.commit()
        except BaseException as exc:
            failed = exc.orig if isinstance(exc, DBAPIError) else None
            if not driver.rollback() or _connection_unusable(failed):
                _drop_loop_connection(writers)
            raise
        inline = _INLINE.get()
        assert inline is not None
        inline.committed = True
    finally:
        writers.lock.release()
