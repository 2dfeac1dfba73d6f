"""Real uvicorn processes for tests that need a server: several workers,
proxy headers, a browser on another origin."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    env: Mapping[str, str],
    *,
    workers: int = 1,
    log_dir: Path,
    port: int | None = None,
    timeout: float = 90.0,
    command: list[str] | None = None,
) -> Iterator[str]:
    """Start ``nps-beacon serve`` (or ``command`` followed by ``--port``) and
    yield its base URL once /healthz answers. The server sends no invitations
    itself: a test's rows keep the status the test gave them."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{port}.log"
    serve = ["serve", "--no-sender", "--workers", str(workers)]
    argv = command or [sys.executable, "-m", "app.cli", *serve]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "warning", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_up(base, process, timeout, log_path)
            yield base
        finally:
            # A server that died on startup has no group left to signal; the
            # error worth reading is the one _wait_until_up raised.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_up(
    base: str, process: subprocess.Popen[bytes], timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not come up in {timeout}s:\n{log_path.read_text()}")


def server_pid(port: int | str) -> int:
    """The server process this test process started on ``port`` (found by
    the port in its arguments); with one worker, uvicorn serves in it."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and str(port).encode() in arguments:
            return int(entry.name)
    raise LookupError(f"no server process on port {port}")
