"""Throughput of the public API against two yardsticks, under one load generator.

One run serves, each alone on 127.0.0.1 with one uvicorn worker and loaded by
the same ``wrk`` command:

  (a) a bare Starlette JSON endpoint (``bare_app.py``),
  (b) a submission written directly with ``sqlite3`` (``reference_app.py``),
  (c) the project's ``POST /api/v1/responses`` and ``GET /api/v1/widget/{key}``.

It prints successful requests per second and the ratios c_post/b (target
>= 0.5) and c_widget/a (target >= 0.4). With PostgreSQL it also serves the
submission from several workers on PostgreSQL against one on SQLite (target
>= 1.0), next to the same submission written on async psycopg
(``pg_reference_app.py``), the most those workers could give on the machine.
Nothing here asserts a time: machines differ. What it does assert is that
every run answered, and that under load the stored rows, the usage counter
and the 201 answers agree.

Knobs (environment): BENCH_DURATION seconds per run (8), BENCH_CONNECTIONS (32),
BENCH_THREADS wrk threads (2), BENCH_TOKENS display tokens minted per
submission run (60000).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from app import migrations
from app.budget.rule import next_period, period_of
from app.platform.db import create_db_engine
from app.platform.signing import Signer
from tests.conftest import SECRET, require, seed, set_budget
from tests.servers import free_port, running_server, server_pid

pytestmark = [pytest.mark.benchmark]

HERE = Path(__file__).parent
LOAD_SCRIPT = HERE / "load.lua"
DURATION = int(os.environ.get("BENCH_DURATION", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
TOKENS = int(os.environ.get("BENCH_TOKENS", "60000"))
WARMUP = 200  # requests per endpoint before measuring: fills pools and caches
HUGE_BUDGET = 1_000_000_000  # so every distinct token is accepted
TARGETS = {"c_post/b": 0.5, "c_widget/a": 0.4}


@dataclass(frozen=True)
class Run:
    """What the load script counted for one wrk run."""

    duration_us: int
    requests: int
    ok: int
    other: int
    exhausted: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    sent: int
    server_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        """Answers with the expected status per second."""
        return self.ok / (self.duration_us / 1e6)

    @property
    def cpu_us(self) -> float:
        """Server CPU time per answered request: steadier than requests/s when
        other work shares the machine."""
        return self.server_cpu_s * 1e6 / max(self.requests, 1)


def test_api_throughput(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")
    template = _migrated_template(tmp_path)
    signer = Signer((SECRET,), 86400)

    bare = _measure_bare(tmp_path)
    reference, reference_stored = _measure_reference(tmp_path, template, signer)
    post, widget, project_stored = _measure_project(tmp_path, template, signer)

    rates = {
        "a bare starlette GET": bare.rate,
        "b sqlite3 reference POST": reference.rate,
        "c_post project POST /api/v1/responses": post.rate,
        "c_widget project GET /api/v1/widget/{key}": widget.rate,
    }
    ratios = {"c_post/b": post.rate / reference.rate, "c_widget/a": widget.rate / bare.rate}
    runs = {"a": bare, "b": reference, "c_post": post, "c_widget": widget}
    with capsys.disabled():
        print(_report(rates, ratios, runs))

    for name, run in runs.items():
        assert run.ok > 0, f"{name}: no successful answer"
        assert run.other == 0, f"{name}: {run.other} answers with an unexpected status"
    for name, run, (stored, used) in (
        ("b", reference, reference_stored),
        ("c_post", post, project_stored),
    ):
        assert run.exhausted == 0, f"{name}: ran out of tokens; raise BENCH_TOKENS"
        assert stored == used, f"{name}: {stored} rows but usage counted {used}"
        # Every 201 is a stored row, and every other stored row belongs to a
        # request still in flight when wrk stopped (sent but never answered).
        answered_201 = run.ok + WARMUP
        in_flight = run.sent - run.requests
        assert answered_201 <= stored <= answered_201 + in_flight, (name, stored, run)


# -- the three servers ------------------------------------------------------


def _measure_bare(tmp_path: Path) -> Run:
    with _uvicorn("tests.benchmarks.bare_app:app", {}, tmp_path / "logs") as base:
        _warm_get(f"{base}/json")
        return _wrk(f"{base}/json", 200)


def _measure_reference(
    tmp_path: Path, template: Path, signer: Signer
) -> tuple[Run, tuple[int, int]]:
    database = tmp_path / "reference.sqlite3"
    shutil.copy(template, database)
    survey_id = _seed(database)
    _open_periods(database)
    tokens = _mint(signer, survey_id, tmp_path / "reference-tokens.txt")
    env = {
        "REFERENCE_DATABASE": str(database),
        "REFERENCE_SECRET_KEYS": SECRET,
        "REFERENCE_TOKEN_MAX_AGE": "86400",
    }
    with _uvicorn("tests.benchmarks.reference_app:app", env, tmp_path / "logs") as base:
        _warm_post(f"{base}/responses", signer, survey_id)
        run = _wrk(f"{base}/responses", 201, tokens)
    return run, _stored(database)


def _measure_project(
    tmp_path: Path, template: Path, signer: Signer
) -> tuple[Run, Run, tuple[int, int]]:
    database = tmp_path / "project.sqlite3"
    shutil.copy(template, database)
    survey_id = _seed(database)
    embed_key = signer.embed_key(_public_id(database, survey_id))
    tokens = _mint(signer, survey_id, tmp_path / "project-tokens.txt")
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEYS": SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "ENVIRONMENT": "development",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DISPLAY_TOKEN_MAX_AGE": "86400",
    }
    with running_server(env, workers=1, port=port, log_dir=tmp_path / "logs") as base:
        _warm_post(f"{base}/api/v1/responses", signer, survey_id)
        post = _wrk(f"{base}/api/v1/responses", 201, tokens)
        widget_url = f"{base}/api/v1/widget/{embed_key}"
        _warm_get(widget_url)
        answer = httpx.get(widget_url).json()
        assert answer["show"] is True, answer
        widget = _wrk(widget_url, 200)
    return post, widget, _stored(database)


@contextmanager
def _uvicorn(target: str, env: Mapping[str, str], log_dir: Path) -> Iterator[str]:
    """One uvicorn worker with the options ``nps-beacon serve`` uses."""
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--workers", "1",
        "--log-level", "warning", "--no-server-header", "--proxy-headers",
        "--forwarded-allow-ips", "127.0.0.1",
    ]  # fmt: skip
    with running_server(env, log_dir=log_dir, command=command) as base:
        yield base


# -- load -------------------------------------------------------------------


def _wrk(url: str, expected: int, tokens: Path | None = None) -> Run:
    server = _server_pid(url)
    cpu_before = _cpu_seconds(server)
    command = [
        "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "-s", str(LOAD_SCRIPT),
        url, "--", str(expected),
    ]  # fmt: skip
    if tokens is not None:
        command += [str(tokens), str(THREADS)]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=DURATION + 60
    ).stdout
    cpu = _cpu_seconds(server) - cpu_before
    found = re.search(r"^RESULT (\{.*\})$", output, re.MULTILINE)
    assert found, output
    return Run(**json.loads(found.group(1)), server_cpu_s=cpu)


def _server_pid(url: str) -> int:
    """The server process this test started for ``url`` (found by its port)."""
    return server_pid(url.split(":")[2].split("/")[0])


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _warm_get(url: str) -> None:
    with httpx.Client() as client:
        for _ in range(WARMUP):
            assert client.get(url).status_code == 200


def _warm_post(url: str, signer: Signer, survey_id: int) -> None:
    with httpx.Client() as client:
        for _ in range(WARMUP):
            token = signer.display_token(survey_id, "widget")
            answer = client.post(url, json={"display_token": token, "score": 9})
            assert answer.status_code == 201, answer.text


def _mint(signer: Signer, survey_id: int, path: Path) -> Path:
    """Display tokens as the widget config hands them out (same signer, key and
    salt), made here because fetching tens of thousands over HTTP would take
    longer than the benchmark itself."""
    path.write_text(
        "".join(f"{signer.display_token(survey_id, 'widget')}\n" for _ in range(TOKENS))
    )
    return path


# -- databases --------------------------------------------------------------


def _migrated_template(tmp_path: Path) -> Path:
    path = tmp_path / "template.sqlite3"
    migrations.upgrade(f"sqlite:///{path}")
    return path


def _seed(database: Path) -> int:
    """An account on the business tariff, made big enough to accept every token."""
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        shop = seed(engine, tariff="business")
        set_budget(engine, "business", HUGE_BUDGET)
    finally:
        engine.dispose()
    return shop.survey_id


def _public_id(database: Path, survey_id: int) -> str:
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT public_id FROM survey WHERE id = ?", (survey_id,)).fetchone()
    return str(row[0])


def _open_periods(database: Path) -> None:
    """The reference steps an existing usage row; open this month and the next
    (in case the run crosses midnight at a month's end)."""
    period = period_of(datetime.now(UTC), ZoneInfo("UTC"))
    with sqlite3.connect(database) as conn:
        for month in (period, next_period(period)):
            conn.execute(
                "INSERT INTO usage (account_id, period, used, rejected) "
                "SELECT account_id, ?, 0, 0 FROM survey",
                (month,),
            )


def _stored(database: Path) -> tuple[int, int]:
    """(response rows, sum of usage.used)."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT count(*) FROM response").fetchone()[0]
        used = conn.execute("SELECT coalesce(sum(used), 0) FROM usage").fetchone()[0]
    return int(rows), int(used)


# -- report -----------------------------------------------------------------


def _report(rates: dict[str, float], ratios: dict[str, float], runs: dict[str, Run]) -> str:
    lines = [
        "",
        f"API benchmark: wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, one uvicorn worker each;"
        f" nproc={os.cpu_count()}, {_cpu()}, Python {platform.python_version()},"
        f" load average {os.getloadavg()[1]:.1f} (5 min; other work skews requests/s)",
    ]
    for (name, rate), run in zip(rates.items(), runs.values(), strict=True):
        lines.append(
            f"  {name:<42} {rate:>7.0f} req/s  {run.cpu_us:6.0f} us CPU/req"
            f"  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  ({run.ok} ok)"
        )
    cpu_ratios = {
        "c_post/b": runs["b"].cpu_us / runs["c_post"].cpu_us,
        "c_widget/a": runs["a"].cpu_us / runs["c_widget"].cpu_us,
    }
    for name, ratio in ratios.items():
        verdict = "meets" if ratio >= TARGETS[name] else "BELOW"
        lines.append(
            f"  {name:<10} {ratio:5.2f}  ({verdict} target {TARGETS[name]};"
            f" by server CPU per request {cpu_ratios[name]:.2f})"
        )
    return "\n".join(lines)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- several workers on PostgreSQL against one on SQLite ----------------------

PG_WORKERS = int(os.environ.get("BENCH_PG_WORKERS", "4"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_workers_against_one_sqlite_worker(
    tmp_path: Path,
    settings: Any,
    engine: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Accepted submissions per second: PG_WORKERS uvicorn workers on
    PostgreSQL (the path for several workers and hosts) against one worker on
    SQLite, the same wrk load on each (target ratio >= 1.0)."""
    require(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")
    signer = Signer((SECRET,), 86400)
    single, _widget, (stored, used) = _measure_project(
        tmp_path, _migrated_template(tmp_path), signer
    )
    assert stored == used

    shop = seed(engine, tariff="business")
    set_budget(engine, "business", HUGE_BUDGET)
    tokens = _mint(signer, shop.survey_id, tmp_path / "pg-tokens.txt")
    port = free_port()
    env = {
        "DATABASE_URL": settings.db_url,
        "SECRET_KEYS": SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "ENVIRONMENT": "development",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    with running_server(env, workers=PG_WORKERS, port=port, log_dir=tmp_path / "logs") as base:
        _warm_post(f"{base}/api/v1/responses", signer, shop.survey_id)
        server = _server_pid(f"{base}/")
        before = _cpu_by_process(server)
        many = _wrk(f"{base}/api/v1/responses", 201, tokens)
        spent = _cpu_by_process(server, since=before)
    workers_us, postgres_us = _cpu_per_answer(spent, many)

    # The yardstick: the same answer on the same database with nothing but
    # Starlette and async psycopg, as many workers.
    reference_tokens = _mint(signer, shop.survey_id, tmp_path / "pg-reference-tokens.txt")
    command = [
        sys.executable, "-m", "uvicorn", "tests.benchmarks.pg_reference_app:app",
        "--host", "127.0.0.1", "--workers", str(PG_WORKERS), "--log-level", "warning",
    ]  # fmt: skip
    reference_env = {"REFERENCE_DATABASE_URL": settings.db_url, "REFERENCE_SECRET_KEYS": SECRET}
    with running_server(reference_env, log_dir=tmp_path / "logs", command=command) as base:
        _warm_post(f"{base}/responses", signer, shop.survey_id)
        server = _server_pid(f"{base}/")
        before = _cpu_by_process(server)
        reference = _wrk(f"{base}/responses", 201, reference_tokens)
        reference_cpu = _cpu_per_answer(_cpu_by_process(server, since=before), reference)

    with capsys.disabled():
        print(
            f"\nPostgreSQL, {PG_WORKERS} workers: {many.rate:.0f} accepted POSTs/s"
            f" (p50 {many.p50_ms:.1f} ms, p99 {many.p99_ms:.1f} ms);"
            f" SQLite, 1 worker: {single.rate:.0f}/s (p50 {single.p50_ms:.1f} ms,"
            f" p99 {single.p99_ms:.1f} ms); ratio {many.rate / single.rate:.2f}"
            f" (target 1.0); {_cpu()}, nproc={os.cpu_count()}\n"
            f"  CPU per answer: {PG_WORKERS} workers {workers_us:.0f} us + PostgreSQL"
            f" {postgres_us:.0f} us, against SQLite's one worker {single.cpu_us:.0f} us"
            " (on a machine with fewer cores than processes, these bound the rate)\n"
            f"  reference on PostgreSQL (Starlette and async psycopg, {PG_WORKERS} workers):"
            f" {reference.rate:.0f}/s, ratio {reference.rate / single.rate:.2f} against"
            f" SQLite's one worker; CPU per answer {reference_cpu[0]:.0f} us + PostgreSQL"
            f" {reference_cpu[1]:.0f} us; the project reaches"
            f" {many.rate / reference.rate:.2f} of it"
        )
    assert many.ok > 0 and many.other == 0 and many.exhausted == 0
    assert reference.ok > 0 and reference.other == 0
    with engine.connect() as conn:
        used = conn.execute(text("SELECT sum(used) FROM usage")).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM response")).scalar_one()
    assert used == stored


def _cpu_per_answer(spent: dict[int, float], run: Run) -> tuple[float, float]:
    """Microseconds of CPU per answer: the server's processes, PostgreSQL's."""
    answers = max(run.requests, 1)
    workers = sum(used for pid, used in spent.items() if pid > 0) * 1e6 / answers
    postgres = sum(used for pid, used in spent.items() if pid < 0) * 1e6 / answers
    return workers, postgres


def _cpu_by_process(server: int, since: dict[int, float] | None = None) -> dict[int, float]:
    """CPU seconds of the server's processes (``server`` and its workers, as
    positive pids) and of PostgreSQL's (as negative pids); with ``since``,
    what each spent after that reading."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        used = (int(fields[11]) + int(fields[12])) / ticks
        if pid == server or parent == server:
            found[pid] = used
        elif name == "postgres":
            found[-pid] = used
    if since is not None:
        found = {pid: used - since.get(pid, 0.0) for pid, used in found.items()}
    return found
