"""`nps-beacon backup`: a consistent SQLite copy while a real server takes
answers, which a server started on it then serves (the restore)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.platform.backups import BackupError, backup_sqlite, pg_dump_command
from app.platform.settings import Settings
from tests.conftest import SECRET, seed
from tests.servers import ROOT as ROOT_DIR
from tests.servers import free_port, running_server


def _answer(base: str, embed_key: str, score: int) -> int:
    config = httpx.get(f"{base}/api/v1/widget/{embed_key}").json()
    body = {"display_token": config["display_token"], "score": score}
    return httpx.post(f"{base}/api/v1/responses", json=body, timeout=30).status_code


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _count(path: Path, sql: str) -> Any:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.server
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_backup_taken_under_load_is_one_consistent_snapshot_that_serves(
    settings: Settings, engine: Any, live_server: Any, tmp_path: Path
) -> None:
    seeded = seed(engine, tariff="pro")
    base = live_server(workers=2)
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        score = 0
        while not stop.is_set():
            statuses.append(_answer(base, seeded.embed_key, score % 11))
            score += 1

    writers = [threading.Thread(target=load) for _ in range(3)]
    for writer in writers:
        writer.start()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.db_url, "SECRET_KEYS": SECRET}
    try:
        while len(statuses) < 30:
            stop.wait(0.05)
        target = tmp_path / "copy.db"
        made = _cli("backup", str(target), env=env)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert made.returncode == 0, made.stderr
    printed = json.loads(made.stdout)
    assert printed["path"] == str(target) and printed["bytes"] == target.stat().st_size
    assert set(statuses) == {201}
    # One moment of the database: every stored answer is counted, no more.
    responses = _count(target, "SELECT count(*) FROM response")
    used = _count(target, "SELECT coalesce(sum(used), 0) FROM usage")
    assert 30 <= responses <= len(statuses) and used == responses
    assert _count(target, "PRAGMA integrity_check") == "ok"
    assert not Path(f"{target}-wal").exists()

    # The restore: a server on the copy serves at once and takes new answers.
    port = free_port()
    restored_env = {
        "DATABASE_URL": f"sqlite:///{target}",
        "SECRET_KEYS": SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    with running_server(restored_env, port=port, log_dir=tmp_path / "logs") as restored:
        assert _answer(restored, seeded.embed_key, 10) == 201
    assert _count(target, "SELECT count(*) FROM response") == responses + 1


def test_backup_refuses_what_would_lose_data(
    settings: Settings, engine: Any, tmp_path: Path
) -> None:
    if not settings.db_url.startswith("sqlite"):
        with pytest.raises(BackupError, match="pg_dump"):
            backup_sqlite(settings.db_url, tmp_path / "x.db")
        return
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep me")
    with pytest.raises(BackupError, match="exists"):
        backup_sqlite(settings.db_url, taken)
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(BackupError, match="no database"):
        backup_sqlite(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path / "y.db")
    assert not (tmp_path / "missing.db").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_the_pg_dump_line_names_the_database_but_never_the_password() -> None:
    line = pg_dump_command("postgresql+psycopg://beacon:s3cret@db.internal:5433/feedback")
    assert line.startswith("pg_dump --format=custom")
    assert "--host=db.internal" in line and "--port=5433" in line and line.endswith(" feedback")
    assert "s3cret" not in line
