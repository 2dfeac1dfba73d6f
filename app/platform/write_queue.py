"""The few threads submissions run on, apart from the shared thread pool."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine

from app.platform import db

T = TypeVar("T")

WRITE_SLOTS = 8
# Of those, what one account may take at once. Its writes lock one usage row
# and follow each other there anyway, so two keep it busy; a row held
# elsewhere then stalls two threads of a worker, never all eight.
ACCOUNT_SLOTS = 2
WRITE_QUEUE_WAIT = db.REQUEST_WRITE_WAIT


class _Account:
    """One account's share of the slots, kept while any of its writes waits or runs."""

    def __init__(self, slots: int) -> None:
        self.slots = anyio.Semaphore(slots)
        self.users = 0


class WriteQueue:
    """Submissions run on a few worker threads of their own.

    Writers on one database mostly wait for each other, so more threads add
    nothing but waiting; and a write lock held elsewhere must not take every
    thread of anyio's shared pool, which the reads, the admin and /healthz
    need. A write waits here on the event loop for a slot of its account and
    one of the queue, and then for the database's locks: ``wait`` seconds in
    all (see ``db.locks_wait_until``), then it fails like an unavailable
    database (503).
    """

    def __init__(
        self,
        slots: int = WRITE_SLOTS,
        wait: float = WRITE_QUEUE_WAIT,
        account_slots: int = ACCOUNT_SLOTS,
    ) -> None:
        self.wait = wait
        self._account_slots = account_slots
        self._accounts: dict[Hashable, _Account] = {}
        self._pending = 0  # writes waiting for a slot or running
        self._admitted = anyio.CapacityLimiter(slots)
        # Never waited on: at most ``slots`` callers get past the admission.
        self._threads = anyio.CapacityLimiter(slots)

    async def run(
        self,
        work: Callable[..., T],
        *args: Any,
        account: Hashable = None,
        inline_on: Engine | None = None,
    ) -> T:
        """``work(*args)`` on a write thread, holding one of the slots of
        ``account`` (the account whose rows it writes; None for no share).
        For a short write that may run inline (``inline_on`` its engine, when
        that is SQLite's), first on the event loop if its transaction can
        begin at once: nothing else is waiting then, so the thread hop would
        be pure cost (see ``db``)."""
        if inline_on is not None and self._pending == 0 and db.writes_inline(inline_on):
            try:
                with db.inline_writes():
                    return work(*args)
            except db.WouldWait:
                pass
        deadline = time.monotonic() + self.wait
        self._pending += 1
        try:
            with self._share_of(account) as share:
                await self._acquire(share, deadline)
                try:
                    await self._acquire(self._admitted, deadline)
                    try:
                        with db.locks_wait_until(deadline):
                            return await anyio.to_thread.run_sync(
                                work, *args, limiter=self._threads
                            )
                    finally:
                        self._admitted.release()
                finally:
                    if share is not None:
                        share.release()
        finally:
            self._pending -= 1

    async def _acquire(
        self, slots: anyio.Semaphore | anyio.CapacityLimiter | None, deadline: float
    ) -> None:
        if slots is None:
            return
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
            await slots.acquire()
            return
        raise db.WriteTimeout(self.wait)

    @contextmanager
    def _share_of(self, account: Hashable) -> Iterator[anyio.Semaphore | None]:
        if account is None:
            yield None
            return
        share = self._accounts.get(account)
        if share is None:
            share = self._accounts[account] = _Account(self._account_slots)
        share.users += 1
        try:
            yield share.slots
        finally:
            share.users -= 1
            if share.users == 0:
                del self._accounts[account]
