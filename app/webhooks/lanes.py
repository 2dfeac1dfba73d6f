"""The webhook lane: attempts in flight on an event loop of its own, as slots free
up, at most a few per endpoint and per account; one pass (``worker --once``) or
until stopped."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy.exc import SQLAlchemyError

from app.webhooks.delivery import (
    IDLE,
    PARALLEL,
    POLL,
    Due,
    Result,
    Summary,
    WebhookSender,
    claim_batch,
    client,
    prune,
    record_results,
    send_one,
)

log = logging.getLogger("nps_beacon.webhooks")


class _Lane:
    """Attempts in flight on one event loop. A slot that frees is filled by
    the next claim at once: nothing waits for the slowest attempt."""

    def __init__(self, sender: WebhookSender, stop: Callable[[], bool], drain: bool) -> None:
        self.sender = sender
        self.stop = stop
        self.drain = drain  # a pass: end once nothing is due and nothing in flight
        self.running: set[asyncio.Task[tuple[Due, Result]]] = set()
        self.finished: list[tuple[Due, Result]] = []
        self.total = Summary()
        self.more = True  # the last claim was full, or slots were freed since
        self.claimed_at = -math.inf

    async def run(self, idle: float) -> Summary:
        async with client(self.sender) as http:
            while True:
                if self.finished:
                    await self._mark()
                stopping = self.stop()
                if not stopping and self._claim_due(idle):
                    await self._fill(http)
                if self.running:
                    done, self.running = await asyncio.wait(
                        self.running, timeout=POLL, return_when=asyncio.FIRST_COMPLETED
                    )
                    self.finished.extend(task.result() for task in done)
                elif stopping or (self.drain and not self.more):
                    return self.total
                else:
                    await asyncio.sleep(0 if self.drain else POLL)

    def _claim_due(self, idle: float) -> bool:
        if len(self.running) >= PARALLEL:
            return False
        return self.more or time.monotonic() - self.claimed_at >= idle

    async def _fill(self, http: httpx.AsyncClient) -> None:
        wanted = PARALLEL - len(self.running)
        if not self.drain:
            await asyncio.to_thread(prune, self.sender)  # at most hourly
        due = await asyncio.to_thread(claim_batch, self.sender, wanted)
        self.claimed_at = time.monotonic()
        self.more = len(due) == wanted
        for item in due:
            self.running.add(asyncio.create_task(send_one(self.sender, http, item)))

    async def _mark(self) -> None:
        finished, self.finished = self.finished, []
        summary = await asyncio.to_thread(record_results, self.sender, finished)
        self.total.add(summary)
        self.more = True
        if not self.drain and (summary.delivered or summary.retried or summary.failed):
            log.info("webhooks %s", summary)


def _on_a_loop_of_its_own(work: Coroutine[object, object, Summary]) -> Summary:
    """Run ``work`` on a new event loop in a thread of its own, so a caller
    whose thread already runs a loop may call it too."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nps-beacon-webhooks") as pool:
        return pool.submit(asyncio.run, work).result()


def run_pass(sender: WebhookSender, stop: Callable[[], bool] | None = None) -> Summary:
    """Send every due message and wait for the attempts (``worker --once``);
    now and then forget old ones. A true ``stop()`` claims nothing more."""
    prune(sender)
    lane = _Lane(sender, stop or (lambda: False), drain=True)
    return _on_a_loop_of_its_own(lane.run(idle=0))


def run(sender: WebhookSender, stop: Callable[[], bool], idle: float = IDLE) -> None:
    """The worker's webhook lane until ``stop()``: claims whenever a slot is
    free; then the attempts in flight end within their deadline and are
    marked. A database that is away is waited out."""
    while not stop():
        lane = _Lane(sender, stop, drain=False)
        try:
            _on_a_loop_of_its_own(lane.run(idle))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("webhooks paused: %s", exc)
        except Exception:
            log.exception("webhooks failed")
        else:
            return
        # Attempts in flight when the lane broke were dropped unmarked: their
        # leases run out and they are sent again, as after a killed worker.
        deadline = time.monotonic() + idle
        while not stop() and time.monotonic() < deadline:
            time.sleep(POLL)
