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
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
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


# PostgreSQL engines' write wait, in seconds, for ``shortened_lock_wait``.
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

    WRITERS[engine] = Writers(threading.Lock(), write_wait, path)

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
        if connection_unusable(context.original_exception):
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


def connection_unusable(error: BaseException | None) -> bool:
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
class Writers:
    lock: threading.Lock
    wait: float
    path: Path | None
    # The event loop's own connection for inline writes (see below), taken
    # only under ``lock``, with its file's identity when it was opened.
    loop_connection: Any = None
    loop_file: tuple[int, int] | None = None


WRITERS: WeakKeyDictionary[Engine, Writers] = WeakKeyDictionary()


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


INLINE: ContextVar[_Inline | None] = ContextVar("nps_beacon_inline_write", default=None)


def loop_connection_of(engine: Engine, writers: Writers) -> Any:
    """The connection inline writes use, kept out of the pool: a pool's
    checkout and return cost as much as the write itself. Its busy_timeout
    is 0 for good, so a lock held elsewhere is known at once. Opened again
    when its file was moved or replaced, like the pool's (see ``_on_checkout``)."""
    opened = _file_identity(writers.path) if writers.path is not None else None
    if writers.loop_connection is not None and writers.loop_file != opened:
        drop_loop_connection(writers)
    if writers.loop_connection is None:
        pooled = engine.raw_connection()
        raw = pooled.driver_connection
        assert raw is not None  # a live pooled connection always has its driver's
        pooled.detach()  # the pool's events (pragmas, file check) ran; it is ours now
        raw.execute("PRAGMA busy_timeout = 0")
        writers.loop_connection, writers.loop_file = raw, opened
    return writers.loop_connection


def drop_loop_connection(writers: Writers) -> None:
    connection, writers.loop_connection = writers.loop_connection, None
    if connection is not None:
        with suppress(sqlite3.Error):  # already unusable: that is why it is dropped
            connection.close()


def writes_inline(engine: Engine) -> bool:
    """Whether this engine's writes may be tried on the event loop: SQLite's
    (a network round trip to PostgreSQL would stall every other request)."""
    return engine in WRITERS


@contextmanager
def inline_writes() -> Iterator[None]:
    token = INLINE.set(_Inline())
    try:
        yield
    finally:
        INLINE.reset(token)


def must_not_wait() -> bool:
    inline = INLINE.get()
    return inline is not None and not inline.committed


@contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    writers = WRITERS.get(engine)
    if writers is None:
        yield
        return
    if must_not_wait():
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


def shortened_lock_wait(engine: Engine) -> str | None:
    """The lock_timeout for a transaction begun now, when the deadline leaves
    noticeably less than the connection's own; else None (no statement)."""
    deadline = _LOCK_DEADLINE.get()
    full = _LOCK_WAITS.get(engine)
    if deadline is None or full is None:
        return None
    left = max(deadline - time.monotonic(), LOCK_WAIT_FLOOR)
    return _lock_timeout(left) if left < full - 0.1 else None


SET_LOCK_WAIT = text("SELECT set_config('lock_timeout', :wait, true)")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any error."""
    with one_writer(engine), engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            wait = shortened_lock_wait(engine)
            if wait is not None:
                conn.execute(SET_LOCK_WAIT, {"wait": wait})
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
