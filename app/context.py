"""What request handlers share: settings, the engine, the signer, the clock,
and the queue that submissions wait in.

Built once by ``main.build_app`` and kept on ``app.state.ctx``; a plain object
so that handlers stay typed and tests can inject a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import anyio
import anyio.to_thread
from sqlalchemy import Engine, RowMapping

from app import db, migrations
from app.cache import SurveyCache
from app.settings import Settings
from app.signing import Signer
from app.surveys import ContactRecorder, Recorded, Submission, record_response

Clock = Callable[[], datetime]
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

    async def run(self, work: Callable[..., T], *args: Any) -> T:
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


@dataclass
class Context:
    settings: Settings
    engine: Engine
    signer: Signer
    clock: Clock
    contacts: ContactRecorder = field(default_factory=ContactRecorder)
    cache: SurveyCache = field(default_factory=SurveyCache)
    schema_head: str = field(default_factory=migrations.head)
    writes: WriteQueue = field(default_factory=WriteQueue)

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def record_response(
        self, survey: RowMapping, submission: Submission, now: datetime
    ) -> Recorded:
        """Count a submission under the budget rule. Counted, refused or
        replayed, this worker's widget configs then read the budget afresh."""
        try:
            return record_response(self.engine, survey, submission, now, self.zone)
        finally:
            self.cache.forget_budget(survey["account_id"])

    def database_state(self) -> str:
        """Readiness: "ok" at the newest migration, "not_migrated" otherwise
        (a new, restored or foreign file). A database that cannot be reached
        raises SQLAlchemy's DBAPIError."""
        if db.schema_revisions(self.engine) == {self.schema_head}:
            return "ok"
        return "not_migrated"
