"""Faults under load against real servers: a worker killed with SIGKILL, two
server processes on one SQLite file, PostgreSQL stopped and started again.
Each ends with the budget rule's invariant: ``used`` is exactly the number
of stored answers, never above the budget, and no answer was a 5xx while
the database was up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app import migrations
from app.platform import db
from app.platform.db import create_db_engine
from tests.conftest import IN_CI, SECRET, count_responses, require, seed, set_budget, usage_row
from tests.servers import free_port, running_server

pytestmark = pytest.mark.server


def _period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


class Load:
    """Visitors answering in threads until stopped: each asks for the widget
    and posts one score. Statuses are kept with the time they came back;
    a refused connection (a worker just killed) is kept as 0."""

    def __init__(self, bases: list[str], embed_key: str, threads: int = 6) -> None:
        self.bases, self.embed_key = bases, embed_key
        self.stop = threading.Event()
        self.answers: list[tuple[float, int]] = []
        self.threads = [
            threading.Thread(target=self._visit, args=(i,), daemon=True) for i in range(threads)
        ]

    def _visit(self, index: int) -> None:
        base = self.bases[index % len(self.bases)]
        with httpx.Client(base_url=base, timeout=30) as http:
            while not self.stop.is_set():
                try:
                    config = http.get(f"/api/v1/widget/{self.embed_key}")
                    if config.status_code != 200 or not config.json()["show"]:
                        self.answers.append((time.monotonic(), config.status_code))
                        time.sleep(0.05)
                        continue
                    body = {"display_token": config.json()["display_token"], "score": 9}
                    answer = http.post("/api/v1/responses", json=body)
                    self.answers.append((time.monotonic(), answer.status_code))
                except httpx.TransportError:
                    self.answers.append((time.monotonic(), 0))
                    time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answers) < count:
            assert time.monotonic() < deadline, f"only {len(self.answers)} answers"
            time.sleep(0.05)

    def statuses(self, since: float = 0.0) -> Counter[int]:
        return Counter(status for at, status in list(self.answers) if at >= since)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _supervisor(port: str) -> int:
    listed = subprocess.run(
        ["pgrep", "-f", f"app.cli serve .*--port {port}"], capture_output=True, text=True
    )
    pids = [int(pid) for pid in listed.stdout.split()]
    assert len(pids) == 1, listed
    return pids[0]


def _assert_exact(engine: Engine, account_id: int, budget: int) -> int:
    used, _rejected = usage_row(engine, account_id, _period())
    assert used == count_responses(engine)
    assert used <= budget
    return used


def test_a_worker_killed_under_load_leaves_the_count_exact_and_is_replaced(
    live_server: Any, engine: Engine, settings: Any
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 150)
    workers = 4 if settings.db_url.startswith("postgresql") else 2
    base = live_server(workers=workers)
    supervisor = _supervisor(base.rsplit(":", 1)[1])
    before = _children(supervisor)
    assert len(before) == workers

    with Load([base], shop.embed_key) as load:
        load.wait_for(40)
        os.kill(before[0], signal.SIGKILL)
        killed_at = time.monotonic()
        deadline = killed_at + 30
        while len(set(_children(supervisor)) - set(before)) < 1:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        replaced_at = time.monotonic()
        # Load goes on for a while on every worker, the new one included.
        time.sleep(3)

    statuses = load.statuses()
    # Only requests in flight on the killed worker may have lost their connection.
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[0] <= 6, statuses
    after = load.statuses(since=replaced_at + 1)
    assert after and set(after) <= {200, 201, 402}, after
    used = _assert_exact(engine, shop.account_id, 150)
    # Every 201 is stored; a killed worker may have stored answers it never sent.
    assert statuses[201] <= used <= statuses[201] + statuses[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_server_processes_on_one_sqlite_file_stay_exact(
    live_server: Any, engine: Engine
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 80)
    bases = [live_server(), live_server()]

    with Load(bases, shop.embed_key, threads=8) as load:
        deadline = time.monotonic() + 90
        while load.statuses()[201] < 80:
            assert time.monotonic() < deadline, load.statuses()
            time.sleep(0.1)
        # Past the budget the widgets stop asking; answers in flight are refused.
        load.wait_for(len(load.answers) + 100)

    statuses = load.statuses()
    assert statuses[201] == 80 and set(statuses) <= {200, 201, 402}, statuses
    assert _assert_exact(engine, shop.account_id, 80) == 80


# -- PostgreSQL stopped and started under load ------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@contextmanager
def _own_postgres() -> Iterator[tuple[str, Any]]:
    """A PostgreSQL cluster of this test's own, so stopping it disturbs no
    one else: yields its URL and a function that runs pg_ctl."""
    bin_dir = _pg_bin()
    require(bin_dir is not None, "PostgreSQL's server binaries are not installed")
    assert bin_dir is not None
    # Not under tmp_path: pytest's directories are private to their owner,
    # and the cluster may belong to another user.
    home = Path(tempfile.mkdtemp(prefix="nps-beacon-pg-"))
    data = home / "pgdata"
    port = free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses root; the cluster belongs to the postgres user.
        require(shutil.which("runuser") is not None, "runuser is needed to run initdb")
        home.chmod(0o777)
        as_postgres = ["runuser", "-u", "postgres", "--"]

    def pg_ctl(*args: str) -> None:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", *args],
            check=True,
            capture_output=True,
        )

    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = str(home / "pg.log")
    pg_ctl("-o", options, "-l", log, "start")
    try:
        yield (
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
            lambda *a: pg_ctl(*a, "-o", options, "-l", log),
        )
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


def test_postgresql_restarted_under_load_gives_503s_then_full_service(
    tmp_path: Path,
) -> None:
    if not IN_CI and not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("PostgreSQL tests run when TEST_DATABASE_URL is set")
    with _own_postgres() as (url, pg_ctl):
        migrations.upgrade(url)
        engine = create_db_engine(url)
        try:
            shop = seed(engine)
            set_budget(engine, "free", 100_000)
            port = free_port()
            env = {
                "DATABASE_URL": url,
                "SECRET_KEYS": SECRET,
                "RATE_LIMIT_ENABLED": "false",
                "PUBLIC_URL": f"http://127.0.0.1:{port}",
            }
            with (
                running_server(env, workers=2, port=port, log_dir=tmp_path / "logs") as base,
                Load([base], shop.embed_key) as load,
            ):
                load.wait_for(30)
                pg_ctl("-m", "fast", "stop")
                stopped_at = time.monotonic()
                # While it is down: problem documents, never a 500.
                with httpx.Client(base_url=base, timeout=30) as http:
                    down = http.post("/api/v1/responses", json={"display_token": "x", "score": 1})
                    config = http.get(f"/api/v1/widget/{shop.embed_key}")
                    health = http.get("/healthz")
                time.sleep(1.5)
                pg_ctl("start")
                started_at = time.monotonic()
                deadline = started_at + 20
                while not load.statuses(since=time.monotonic() - 0.5)[201]:
                    assert time.monotonic() < deadline, "no answer stored after the restart"
                    time.sleep(0.1)
                recovered_at = time.monotonic()
                load.wait_for(len(load.answers) + 40)
            # An invalid token is refused before the database is asked.
            assert down.status_code == 400
            assert config.status_code == 503
            assert config.headers["content-type"] == "application/problem+json"
            assert config.headers["retry-after"]
            assert health.status_code == 503
            assert not [s for s in load.statuses() if s >= 500 and s != 503]
            assert set(load.statuses(since=recovered_at + 2)) <= {201}
            assert recovered_at - started_at < 15
            assert load.statuses(since=stopped_at)[503] > 0
            with db.read(engine) as conn:
                used = conn.execute(text("SELECT used FROM usage")).scalar_one()
                stored = conn.execute(text("SELECT count(*) FROM response")).scalar_one()
            assert used == stored
        finally:
            engine.dispose()
