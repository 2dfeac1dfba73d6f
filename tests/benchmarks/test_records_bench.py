"""Records accepted per second over HTTP, on real uvicorn.

Two runs per database (SQLite always, PostgreSQL when TEST_DATABASE_URL is
set): single ``POST /api/v1/records`` from concurrent clients, and batches of
100 from a few clients. Each prints accepted records per second as the
clients saw them and the server's CPU time per record (all its processes),
which stays meaningful when other work shares the machine. The load comes
from this process (httpx), which competes for the same CPUs.

Nothing here asserts a time. What is asserted is that the figures count what
was stored: every accepted record has its invitation and one step of usage.

Knobs (environment): BENCH_SINGLE_RECORDS (2000), BENCH_SINGLE_CLIENTS (16),
BENCH_BATCHES (40 batches of 100), BENCH_BATCH_CLIENTS (4),
BENCH_PG_WORKERS uvicorn workers on PostgreSQL (2; SQLite runs one).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app.accounts import api_keys
from app.platform import db
from app.platform.settings import Settings
from tests.conftest import seed, set_budget

pytestmark = [pytest.mark.benchmark]

SINGLE_RECORDS = int(os.environ.get("BENCH_SINGLE_RECORDS", "2000"))
SINGLE_CLIENTS = int(os.environ.get("BENCH_SINGLE_CLIENTS", "16"))
BATCHES = int(os.environ.get("BENCH_BATCHES", "40"))
BATCH_CLIENTS = int(os.environ.get("BENCH_BATCH_CLIENTS", "4"))
PG_WORKERS = int(os.environ.get("BENCH_PG_WORKERS", "2"))
BATCH_SIZE = 100
WARMUP = 50
HUGE_BUDGET = 1_000_000_000


@dataclass(frozen=True)
class Run:
    name: str
    records: int  # accepted
    seconds: float
    requests: int
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s * 1000 / max(self.records, 1)


def test_records_throughput(
    live_server: Any, engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    postgres = settings.db_url.startswith("postgresql")
    workers = PG_WORKERS if postgres else 1
    shop = seed(engine, tariff="business")
    set_budget(engine, "business", HUGE_BUDGET)
    with db.write(engine) as conn:
        _key, secret = api_keys.create(conn, shop.account_id, "Bench", datetime.now(UTC))
    base = live_server(workers=workers)
    addresses = (f"person{n}@example.com" for n in itertools.count())

    def body() -> dict[str, Any]:
        return {"survey_id": shop.survey_id, "email": next(addresses), "event": "order"}

    _run(_singles(base, secret, [body() for _ in range(WARMUP)], 4))
    server = _server_tree(base)

    singles = [body() for _ in range(SINGLE_RECORDS)]
    single = _measure("single requests", server, _singles(base, secret, singles, SINGLE_CLIENTS))
    batches = [[body() for _ in range(BATCH_SIZE)] for _ in range(BATCHES)]
    batch = _measure(
        f"batches of {BATCH_SIZE}", server, _batches(base, secret, batches, BATCH_CLIENTS)
    )

    backend = "PostgreSQL" if postgres else "SQLite"
    with capsys.disabled():
        print(_report(backend, workers, [single, batch]))

    assert single.records == SINGLE_RECORDS
    assert batch.records == BATCHES * BATCH_SIZE
    accepted = WARMUP + single.records + batch.records
    with db.read(engine) as conn:
        invitations = conn.execute(text("SELECT count(*) FROM invitation")).scalar_one()
        used = conn.execute(text("SELECT coalesce(sum(used), 0) FROM usage")).scalar_one()
    assert invitations == used == accepted


# -- load ----------------------------------------------------------------------


async def _singles(base: str, secret: str, bodies: list[dict[str, Any]], clients: int) -> int:
    """Each client posts its share one after another; the 202s."""
    shares = [bodies[i::clients] for i in range(clients)]
    async with _client(base, secret, clients) as http:

        async def post_all(share: list[dict[str, Any]]) -> int:
            accepted = 0
            for item in share:
                answer = await http.post("/api/v1/records", json=item)
                assert answer.status_code == 202, answer.text
                accepted += 1
            return accepted

        return sum(await asyncio.gather(*(post_all(share) for share in shares)))


async def _batches(
    base: str, secret: str, batches: list[list[dict[str, Any]]], clients: int
) -> int:
    """Each client posts its share of batches one after another; the records scheduled."""
    shares = [batches[i::clients] for i in range(clients)]
    async with _client(base, secret, clients) as http:

        async def post_all(share: list[list[dict[str, Any]]]) -> int:
            accepted = 0
            for items in share:
                answer = await http.post("/api/v1/records/batch", json={"records": items})
                assert answer.status_code == 200, answer.text
                results = answer.json()["results"]
                accepted += sum(result["status"] == "scheduled" for result in results)
            return accepted

        return sum(await asyncio.gather(*(post_all(share) for share in shares)))


def _client(base: str, secret: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {secret}"},
        limits=httpx.Limits(max_connections=connections),
        timeout=120,
    )


def _run(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own, away from any loop already running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _measure(name: str, server: list[int], coroutine: Any) -> Run:
    cpu_before = _cpu_seconds(server)
    started = time.perf_counter()
    accepted = _run(coroutine)
    seconds = time.perf_counter() - started
    requests = accepted if name.startswith("single") else -(-accepted // BATCH_SIZE)
    return Run(name, accepted, seconds, requests, _cpu_seconds(server) - cpu_before)


# -- the server's processes ------------------------------------------------------


def _server_tree(base: str) -> list[int]:
    """The server this test started for ``base`` and its worker processes."""
    port = base.rsplit(":", 1)[1].encode()
    parents: dict[int, int] = {}
    commands: dict[int, list[bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
    mine = os.getpid()
    roots = [pid for pid, parent in parents.items() if parent == mine and port in commands[pid]]
    assert roots, f"no server process on port {port.decode()}"
    tree = list(roots)
    for pid in tree:  # grows while walking: children, grandchildren, ...
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of the processes that are still there."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# -- report ----------------------------------------------------------------------


def _report(backend: str, workers: int, runs: list[Run]) -> str:
    lines = [
        "",
        f"Records benchmark on {backend}: real uvicorn, {workers} worker(s); nproc="
        f"{os.cpu_count()}, Python {platform.python_version()}, load average"
        f" {os.getloadavg()[1]:.1f} (5 min; other work skews records/s, less so CPU/record)",
    ]
    clients = {"single requests": SINGLE_CLIENTS}
    for run in runs:
        lines.append(
            f"  {run.name:<16} {run.rate:>7.0f} records/s  {run.cpu_ms:6.2f} ms server CPU/record"
            f"  ({run.records} records in {run.requests} requests, {run.seconds:.1f} s,"
            f" {clients.get(run.name, BATCH_CLIENTS)} clients)"
        )
    return "\n".join(lines)
