"""The few threads submissions run on, apart from the shared thread pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine

from app import db

T = TypeVar("T")

WRITE_SLOTS = 8
WRITE_QUEUE_WAIT = 3.0


class WriteQueue:
    """Submissions run on a few worker threads of their own.

    Writers on one database mostly wait for each other, so more threads add
    nothing but waiting; and a write lock held elsewhere must not take every
    thread of anyio's shared pool, which the reads, the admin and /healthz
    need. Submissions beyond ``slots`` wait here on the event loop, at most
    ``wait`` seconds, then fail like an unavailable database (503).
    """

    def __init__(self, slots: int = WRITE_SLOTS, wait: float = WRITE_QUEUE_WAIT) -> None:
        self.wait = wait
        self._admitted = anyio.CapacityLimiter(slots)
        # Never waited on: at most ``slots`` callers get past the admission.
        self._threads = anyio.CapacityLimiter(slots)

    async def run(self, work: Callable[..., T], *args: Any, inline_on: Engine | None = None) -> T:
        """``work(*args)`` on a write thread. For a short write that may run
        inline (``inline_on`` its engine, when that is SQLite's), first on the
        event loop if its transaction can begin at once: nothing else is
        waiting then, so the thread hop would be pure cost (see ``db``)."""
        if inline_on is not None and self._idle() and db.writes_inline(inline_on):
            try:
                with db.inline_writes():
                    return work(*args)
            except db.WouldWait:
                pass
        admitted = False
        with anyio.move_on_after(self.wait):
            await self._admitted.acquire()
            admitted = True
        if not admitted:
            raise db.WriteTimeout(self.wait)
        try:
            return await anyio.to_thread.run_sync(work, *args, limiter=self._threads)
        finally:
            self._admitted.release()

    def _idle(self) -> bool:
        # Writes already queued go first; one on the loop would jump them.
        return self._admitted.borrowed_tokens == 0
