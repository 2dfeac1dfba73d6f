"""Soak: two "hosts" on one PostgreSQL and one Redis under wrk, first with a
budget far above what the run can use, then with one that runs out mid-run.

Host A is ``nps-beacon serve --workers 4``, host B a second ``serve`` process
on another port (one worker); both count rate limits in the same Redis (with
limits high enough for a load generator on one address). Two wrk processes
post distinct display tokens, one to each host, and a third asks host B for
the widget's config. It prints p50/p99 per endpoint and asserts what must
hold whatever the machine: no 5xx, not one answer over the budget, and
``used`` equal to the stored answers.

Knobs (environment): BENCH_SOAK_SECONDS per phase (60), BENCH_SOAK_TOKENS per
posting wrk (120000), BENCH_CONNECTIONS (32), BENCH_THREADS (2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.platform import db
from app.platform.signing import Signer
from tests.benchmarks.test_api_bench import CONNECTIONS, LOAD_SCRIPT, THREADS, Run, _cpu, _mint
from tests.conftest import PG_URL, SECRET, require, seed, set_budget
from tests.servers import free_port, running_server

pytestmark = [pytest.mark.benchmark]

SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS", "60"))
TOKENS = int(os.environ.get("BENCH_SOAK_TOKENS", "120000"))
REDIS_URL = os.environ.get("TEST_REDIS_URL")


def _wrk(url: str, expected: int, tokens: Path | None = None) -> Run:
    import json
    import re

    command = [
        "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "30s",
        "-s", str(LOAD_SCRIPT),
        url, "--", str(expected),
    ]  # fmt: skip
    if tokens is not None:
        command += [str(tokens), str(THREADS)]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=SECONDS + 120
    ).stdout
    found = re.search(r"^RESULT (\{.*\})$", output, re.MULTILINE)
    assert found, output
    return Run(**json.loads(found.group(1)))


@pytest.fixture(autouse=True)
def _tools() -> None:
    # Autouse runs first: a laptop without them skips before PostgreSQL is asked.
    require(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")
    require(PG_URL is not None, "the soak runs on PostgreSQL (TEST_DATABASE_URL)")
    require(REDIS_URL is not None, "the soak shares Redis between hosts (TEST_REDIS_URL)")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("phase_budget", [100_000, 1_000])
def test_two_hosts_on_postgresql_and_redis_stay_exact(
    settings: Any, engine: Engine, tmp_path: Path, phase_budget: int, capsys: Any
) -> None:
    assert REDIS_URL is not None
    url = settings.db_url
    shop = seed(engine, tariff="business")
    set_budget(engine, "business", phase_budget)
    signer = Signer((SECRET,), 86400)
    tokens = [_mint_many(signer, shop.survey_id, tmp_path / f"tokens-{i}.txt") for i in (0, 1)]

    redis = REDIS_URL.rsplit("/", 1)[0] + "/13"
    import redis as redis_client

    redis_client.Redis.from_url(redis).flushdb()
    ports = [free_port(), free_port()]
    env = {
        "DATABASE_URL": url,
        "SECRET_KEYS": SECRET,
        "RATE_LIMIT_STORAGE_URL": redis,
        "RATE_LIMIT_WIDGET": "10000000/minute",
        "RATE_LIMIT_RESPONSES": "10000000/minute",
        "ENVIRONMENT": "development",
    }
    logs = tmp_path / "logs"
    with (
        running_server({**env, "PUBLIC_URL": f"http://127.0.0.1:{ports[0]}"}, workers=4,
                       port=ports[0], log_dir=logs) as host_a,
        running_server({**env, "PUBLIC_URL": f"http://127.0.0.1:{ports[1]}"}, workers=1,
                       port=ports[1], log_dir=logs) as host_b,
        ThreadPoolExecutor(3) as pool,
    ):  # fmt: skip
        post_a = pool.submit(_wrk, f"{host_a}/api/v1/responses", 201, tokens[0])
        post_b = pool.submit(_wrk, f"{host_b}/api/v1/responses", 201, tokens[1])
        widget = pool.submit(_wrk, f"{host_b}/api/v1/widget/{shop.embed_key}", 200)
        runs = {"POST A": post_a.result(), "POST B": post_b.result(), "GET B": widget.result()}
    for log in logs.glob("*.log"):
        assert "Exception in ASGI application" not in log.read_text(), log.read_text()[-3000:]

    with db.read(engine) as conn:
        used = conn.execute(text("SELECT coalesce(sum(used), 0) FROM usage")).scalar_one()
        rejected = conn.execute(text("SELECT coalesce(sum(rejected), 0) FROM usage")).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM response")).scalar_one()
    accepted = runs["POST A"].ok + runs["POST B"].ok
    with capsys.disabled():
        print(_report(phase_budget, runs, used, rejected, stored))
    assert all(run.exhausted == 0 for run in runs.values()), "more tokens are needed"
    # A request wrk gave up on, or still in flight when it stopped, may have
    # been stored without wrk seeing its 201; none is stored twice.
    lost = sum(run.socket_errors + run.sent - run.requests for run in runs.values())
    assert used == stored and accepted <= used <= accepted + lost
    assert used <= phase_budget
    # Every answer that was not a 201 was a 402 the usage row counted: no 5xx.
    # (Requests still in flight when wrk stopped may have been refused unseen.)
    refused_seen = runs["POST A"].other + runs["POST B"].other
    assert refused_seen <= rejected <= refused_seen + lost
    assert runs["GET B"].other == 0
    posted = runs["POST A"].requests + runs["POST B"].requests
    if posted > phase_budget:
        # Exhausted mid-run: exactly the budget, the rest 402 or show=false.
        assert used == phase_budget and rejected > 0


def _mint_many(signer: Signer, survey_id: int, path: Path) -> Path:
    from tests.benchmarks import test_api_bench

    saved = test_api_bench.TOKENS
    test_api_bench.TOKENS = TOKENS
    try:
        return _mint(signer, survey_id, path)
    finally:
        test_api_bench.TOKENS = saved


def _report(budget: int, runs: dict[str, Run], used: int, rejected: int, stored: int) -> str:
    lines = [
        "",
        f"Soak, budget {budget:,}: {SECONDS}s, host A 4 workers + host B 1 worker on PostgreSQL"
        f" and Redis; wrk -t{THREADS} -c{CONNECTIONS} per load; {_cpu()}",
    ]
    for name, run in runs.items():
        lines.append(
            f"  {name:<7} {run.requests / (run.duration_us / 1e6):8.0f} req/s"
            f"  expected {run.ok:>7}  other {run.other:>6}  p50 {run.p50_ms:7.1f} ms"
            f"  p99 {run.p99_ms:7.1f} ms"
        )
    lines.append(f"  usage: used {used:,}  rejected {rejected:,}  stored answers {stored:,}")
    return "\n".join(lines)
