"""Counters and timings for ``GET /metrics`` (Prometheus' text format).

Off unless ``METRICS=on``: then every function here returns at once and
prometheus_client is never imported, so a worker pays neither memory nor
time for it. When on, every process of one host (the web server's workers and
the e-mail worker) writes into ``METRICS_DIR`` and ``/metrics`` adds them up,
so one scrape sees the whole host whichever worker answers it.

Labels hold route templates, channels, reasons and outcomes, never an
account, a survey, an address or a key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_on: Any = None  # the collectors once enabled


def enabled() -> bool:
    return _on is not None


def enable(directory: Path) -> None:
    """Turn collection on in this process; must run before the first count."""
    global _on
    if _on is not None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    # prometheus_client reads this at import, and each process writes files
    # named after its pid there.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    _on = _Collectors(directory)


def request(method: str, route: str, status: int, seconds: float) -> None:
    if _on is not None:
        _on.requests.labels(method, route, f"{status // 100}xx").inc()
        _on.latency.labels(method, route).observe(seconds)


def submission(channel: str, outcome: str) -> None:
    """An answer taken (``accepted``) or refused (its problem code)."""
    if _on is not None:
        _on.submissions.labels(channel, outcome).inc()


def record(outcome: str) -> None:
    """A record accepted, replayed or refused (its reason)."""
    if _on is not None:
        _on.records.labels(outcome).inc()


def invitation(outcome: str, count: int = 1) -> None:
    """Invitations sent, retried, failed or cancelled."""
    if _on is not None and count:
        _on.invitations.labels(outcome).inc(count)


def webhook(outcome: str, count: int = 1) -> None:
    """Webhook messages delivered, to be retried, or failed for good."""
    if _on is not None and count:
        _on.webhooks.labels(outcome).inc(count)


def rate_limited(route: str) -> None:
    if _on is not None:
        _on.rate_limited.labels(route).inc()


def rate_limits_in_memory(fallen_back: bool) -> None:
    """Whether this process counts rate limits in memory because their Redis
    is away (the limits then hold per process only)."""
    if _on is not None:
        _on.limits_in_memory.set(1 if fallen_back else 0)


def pool(checked_out: int, size: int) -> None:
    if _on is not None:
        _on.pool_in_use.set(checked_out)
        _on.pool_size.set(size)


def render() -> tuple[bytes, str]:
    """The host's figures, summed over its processes."""
    assert _on is not None, "metrics are off"
    return _on.render()


class _Collectors:
    def __init__(self, directory: Path) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.directory = directory
        self.requests = Counter(
            "nps_beacon_requests", "HTTP answers", ["method", "route", "status"]
        )
        self.latency = Histogram(
            "nps_beacon_request_duration_seconds",
            "Time to answer, by route",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.submissions = Counter(
            "nps_beacon_submissions", "Answers taken or refused", ["channel", "outcome"]
        )
        self.records = Counter("nps_beacon_records", "Records taken or refused", ["outcome"])
        self.invitations = Counter(
            "nps_beacon_invitations", "Invitation messages by outcome", ["outcome"]
        )
        self.webhooks = Counter("nps_beacon_webhook_deliveries", "Webhook attempts", ["outcome"])
        self.rate_limited = Counter(
            "nps_beacon_rate_limited", "Requests refused by a rate limit", ["route"]
        )
        # The processes counting limits in memory while Redis is away.
        self.limits_in_memory = Gauge(
            "nps_beacon_rate_limits_in_memory",
            "Processes counting rate limits in memory because Redis is away",
            multiprocess_mode="livesum",
        )
        # Summed over the live processes: the host's connections in use.
        self.pool_in_use = Gauge(
            "nps_beacon_db_pool_in_use", "Database connections in use", multiprocess_mode="livesum"
        )
        self.pool_size = Gauge(
            "nps_beacon_db_pool_size", "Database connections kept", multiprocess_mode="livesum"
        )

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            CollectorRegistry,
            generate_latest,
            multiprocess,
        )

        self._forget_dead_processes()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.directory))
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def _forget_dead_processes(self) -> None:
        # A restarted worker's gauges would otherwise be added up for ever;
        # its counters stay, as totals should.
        from prometheus_client import multiprocess

        for path in self.directory.glob("gauge_live*_*.db"):
            pid = int(path.stem.rsplit("_", 1)[1])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                multiprocess.mark_process_dead(pid, str(self.directory))
            except PermissionError:
                pass
