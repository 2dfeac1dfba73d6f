"""Where a submission's transaction runs: on the event loop when SQLite's
write lock is free at once, else on a write thread that may wait for it.
Either way it is stored exactly once."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import anyio
import pytest
from sqlalchemy import Engine, text

from app.platform import db, driver
from app.platform.settings import Settings
from app.platform.write_queue import WriteQueue
from tests.conftest import run_async

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _write_once(engine: Engine, seen: list[str]) -> str:
    seen.append(threading.current_thread().name)
    with driver.counting(engine) as conn:
        conn.execute(text("UPDATE tariff SET name = name WHERE code = :c"), {"c": "free"})
    return threading.current_thread().name


@ON_SQLITE
def test_a_free_lock_writes_on_the_loop_and_a_held_one_on_a_thread(
    engine: Engine, settings: Settings
) -> None:
    queue = WriteQueue(wait=10)
    seen: list[str] = []

    loop_threads: list[str] = []

    async def submit() -> str:
        loop_threads.append(threading.current_thread().name)
        return await queue.run(_write_once, engine, seen, inline_on=engine)

    assert run_async(submit()) == loop_threads[0]

    # Another process's writer (here: another connection) holds SQLite's lock.
    path = settings.db_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, holder.rollback)
    release.start()
    try:
        done_on = run_async(submit())
    finally:
        release.join()
        holder.close()
    # Tried on the loop, given up at once, done on a thread once the lock was free.
    loop_thread = loop_threads[1]
    assert seen[1:] == [loop_thread, done_on] and done_on != loop_thread


@ON_SQLITE
def test_work_that_committed_inline_is_never_run_again(engine: Engine) -> None:
    """Once a transaction has committed on the loop, a later one in the same
    work waits for its lock instead of starting the work over on a thread."""
    queue = WriteQueue(wait=10)
    calls: list[int] = []
    lock = db.WRITERS[engine].lock

    def two_writes() -> None:
        calls.append(1)
        with driver.counting(engine) as conn:
            conn.execute(text("INSERT INTO tariff (code, name, monthly_budget) "
                              "VALUES ('t1', 't1', 1)"), {})  # fmt: skip
        lock.acquire()  # a thread of this process is writing now
        threading.Timer(0.3, lock.release).start()
        with driver.counting(engine) as conn:
            conn.execute(text("UPDATE tariff SET monthly_budget = 2 WHERE code = 't1'"), {})

    run_async(queue.run(two_writes, inline_on=engine))
    assert calls == [1]
    with db.read(engine) as conn:
        assert (
            conn.execute(text("SELECT monthly_budget FROM tariff WHERE code = 't1'")).scalar() == 2
        )


def test_postgresql_writes_never_run_on_the_loop() -> None:
    from app.platform.db import create_db_engine

    engine: Any = create_db_engine("postgresql://nobody@127.0.0.1:1/none")
    assert not db.writes_inline(engine)


def test_one_accounts_stuck_writes_hold_only_its_share_of_the_slots() -> None:
    """Writes of an account whose rows are held elsewhere take at most its
    share of the threads; its next write gives up at the deadline, and
    another account's write still finds a thread at once."""
    queue = WriteQueue(slots=3, wait=1.0, account_slots=2)
    release = threading.Event()
    started: list[str] = []

    def stuck() -> str:
        started.append("stuck")
        release.wait(10)
        return "stuck"

    def quick() -> str:
        return "quick"

    async def scenario() -> tuple[list[object], str]:
        outcomes: list[object] = []

        async def stuck_write() -> None:
            try:
                outcomes.append(await queue.run(stuck, account=1))
            except db.WriteTimeout:
                outcomes.append("timeout")

        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(stuck_write)
            await anyio.sleep(0.2)
            other = await queue.run(quick, account=2)
            await anyio.sleep(2.0)  # well past the third stuck write's deadline
            release.set()
        return outcomes, other

    outcomes, other = run_async(scenario())
    assert other == "quick"
    assert started == ["stuck", "stuck"]  # the third never got a thread
    assert sorted(map(str, outcomes)) == ["stuck", "stuck", "timeout"]
