"""A web worker imports only what its visitors' requests need: after the
first widget config and answer, none of the libraries that only the
commands that send use are loaded. A fresh interpreter stands in
for the worker: it imports the CLI (the process of ``serve --workers 1``),
then serves the requests through ``app.main:app`` as uvicorn would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.conftest import SECRET, seed

ROOT = Path(__file__).resolve().parents[1]

# Loaded by no request of a website's visitors.
NOT_IN_A_WORKER = (
    "httpx",  # the webhook sender's client, loaded by the commands that send
    "app.invitations.delivery",
    "app.webhooks.delivery",
    "app.webhooks.lanes",
    "app.worker",
)

WORKER = """
import asyncio, json, sys

import app.cli  # noqa: F401  (the process `nps-beacon serve --workers 1` serves in)
from app.main import app


async def call(scope, body=b""):
    sent, answer = [{"type": "http.request", "body": body, "more_body": False}], []

    async def receive():
        return sent.pop() if sent else {"type": "http.disconnect"}

    async def send(message):
        answer.append(message)

    await app(scope, receive, send)
    return answer


def request(method, path, body=b""):
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": headers + [(b"content-length", str(len(body)).encode())],
    }


def status_and_json(messages):
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


async def main():
    embed_key = sys.argv[1]
    statuses = []
    status, config = status_and_json(await call(request("GET", f"/api/v1/widget/{embed_key}")))
    statuses.append(status)
    answer = json.dumps({"display_token": config.get("display_token"), "score": 9}).encode()
    status, _ = status_and_json(await call(request("POST", "/api/v1/responses", answer), answer))
    statuses.append(status)
    print(json.dumps({"statuses": statuses, "modules": sorted(sys.modules)}))


asyncio.run(main())
"""


def first_visit(database_url: str, embed_key: str, cwd: Path) -> dict[str, Any]:
    """A fresh worker's first widget config and answer: their statuses and
    the modules it then holds."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SECRET_KEYS": SECRET,
        "ENVIRONMENT": "development",
        "PUBLIC_URL": "http://127.0.0.1:8000",
    }
    done = subprocess.run(
        [sys.executable, "-c", WORKER, embed_key],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    worker: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return worker


def test_first_visitor_requests_load_no_heavy_library(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    shop = seed(engine)
    worker = first_visit(database_url, shop.embed_key, tmp_path)
    assert worker["statuses"] == [200, 201]
    loaded = set(worker["modules"])
    assert [name for name in NOT_IN_A_WORKER if name in loaded] == []
