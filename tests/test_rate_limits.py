"""Rate limits: 429 problem+json with Retry-After, shared through Redis by several
workers, and keyed by the peer address that uvicorn's proxy handling yields."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis as redis_client
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.main import build_app
from app.platform.settings import Settings
from tests.conftest import Clock, Seeded, require, seed
from tests.servers import free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def test_over_the_limit_is_429_with_retry_after(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    limited = settings.replace(rate_limit_enabled=True, rate_limit_widget="3/minute")
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        answers = [client.get(f"/api/v1/widget/{shop.embed_key}") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_submissions_have_their_own_limit(settings: Settings, engine: Engine, clock: Clock) -> None:
    shop = seed(engine)
    limited = settings.replace(rate_limit_enabled=True, rate_limit_responses="2/minute")
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        tokens = [
            client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"] for _ in range(3)
        ]
        codes = [
            client.post("/api/v1/responses", json={"display_token": t, "score": 9}).status_code
            for t in tokens
        ]
    assert codes == [201, 201, 429]


class Submitter:
    """Sends one submission of each kind a client can make, with fresh tokens."""

    def __init__(self, client: TestClient, shop: Seeded) -> None:
        self.client, self.shop = client, shop
        self.answered: list[str] = []  # link tokens with a score, ready for a comment

    def api(self) -> int:
        config = self.client.get(f"/api/v1/widget/{self.shop.embed_key}").json()
        body = {"display_token": config["display_token"], "score": 9}
        return self.client.post("/api/v1/responses", json=body).status_code

    def link(self) -> int:
        page = self.client.get(f"/s/{self.shop.link_key}").text
        match = re.search(r'name="display_token" value="([^"]+)"', page)
        assert match is not None
        token = html.unescape(match.group(1))
        self.answered.append(token)
        return self._post(f"/s/{self.shop.link_key}", {"display_token": token, "score": "9"})

    def comment(self) -> int:
        data = {"display_token": self.answered[0], "comment": "Quick delivery."}
        return self._post(f"/s/{self.shop.link_key}/comment", data)

    def _post(self, path: str, data: dict[str, str]) -> int:
        return self.client.post(path, data=data, follow_redirects=False).status_code


@pytest.mark.parametrize(
    "order",
    [
        ("link", "comment", "link", "api"),
        ("link", "api", "api", "link"),
        ("api", "link", "api", "comment"),
    ],
)
def test_api_and_link_submissions_share_one_window(
    settings: Settings, engine: Engine, clock: Clock, order: tuple[str, ...]
) -> None:
    """A client's allowance holds whichever way it submits: the widget API, the
    link form and its comment form count in one window."""
    shop = seed(engine, tariff="basic")
    limited = settings.replace(rate_limit_enabled=True, rate_limit_responses="3/minute")
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        submitter = Submitter(client, shop)
        codes = [getattr(submitter, kind)() for kind in order]
    accepted = {"api": 201, "link": 303, "comment": 303}
    assert codes == [accepted[kind] for kind in order[:3]] + [429]


def _hits(base: str, path: str, count: int, forwarded: bool = False) -> list[int]:
    with httpx.Client(base_url=base) as http:
        return [
            http.get(
                path, headers={"x-forwarded-for": f"203.0.113.{i}"} if forwarded else {}
            ).status_code
            for i in range(count)
        ]


def _alternating(bases: list[str], path: str, count: int) -> list[int]:
    clients = [httpx.Client(base_url=base) for base in bases]
    try:
        return [clients[i % len(clients)].get(path).status_code for i in range(count)]
    finally:
        for client in clients:
            client.close()


def make_url_db(url: str, number: int) -> str:
    """``url`` pointing at Redis database ``number``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.mark.server
def test_redis_storage_holds_the_limit_across_two_workers(
    live_server: Any, engine: Engine, database_url: str
) -> None:
    """Two server processes, requests alternating between them: with Redis the
    window is shared, with memory:// each process keeps its own (the control)."""
    require(bool(REDIS_URL), "TEST_REDIS_URL is not set (a Redis for shared limits)")
    import redis

    # Windows are keyed by endpoint and client address, the same for every
    # run: each database backend counts in a Redis database of its own, so the
    # two may run side by side.
    redis_url = make_url_db(REDIS_URL, 15 if database_url.startswith("sqlite") else 14)
    redis.Redis.from_url(redis_url).flushdb()
    shop = seed(engine)
    path = f"/api/v1/widget/{shop.embed_key}"
    limits = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_WIDGET": "10/minute"}

    shared = [live_server(RATE_LIMIT_STORAGE_URL=redis_url, **limits) for _ in range(2)]
    codes = _alternating(shared, path, 30)
    assert codes.count(200) == 10, codes
    assert codes.count(429) == 20

    apart = [live_server(RATE_LIMIT_STORAGE_URL="memory://", **limits) for _ in range(2)]
    assert _alternating(apart, path, 30).count(200) == 20


@pytest.mark.server
def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    live_server: Any, engine: Engine
) -> None:
    shop = seed(engine)
    path = f"/api/v1/widget/{shop.embed_key}"
    limits = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_WIDGET": "5/minute"}
    # Another proxy's address, or none at all (uvicorn facing clients directly).
    for allowed in ("192.0.2.1", ""):
        untrusted = live_server(FORWARDED_ALLOW_IPS=allowed, **limits)
        codes = _hits(untrusted, path, 8, forwarded=True)
        assert codes == [200] * 5 + [429] * 3, allowed

    # Positive control: behind a trusted proxy each forwarded client has its own window.
    trusted = live_server(FORWARDED_ALLOW_IPS="127.0.0.1", **limits)
    assert _hits(trusted, path, 8, forwarded=True) == [200] * 8


def test_redis_away_falls_back_to_limits_in_memory_and_recovers(
    settings: Settings, engine: Engine, clock: Clock, tmp_path: Any
) -> None:
    """Redis down must cost visitors nothing: each worker counts in memory
    meanwhile, and the shared storage is used again once Redis answers."""
    server = shutil.which("redis-server")
    require(server is not None, "redis-server is not installed")
    assert server is not None
    port = free_port()
    shop = seed(engine)
    limited = settings.replace(
        rate_limit_enabled=True,
        rate_limit_widget="3/minute",
        rate_limit_storage_url=f"redis://127.0.0.1:{port}/0",
    )
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        away = [client.get(f"/api/v1/widget/{shop.embed_key}").status_code for _ in range(4)]
        assert away == [200, 200, 200, 429]  # no 500: the limit holds in memory
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "error", "database": "ok", "redis": "unreachable"}

        redis = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            shared = redis_client.Redis(port=port)
            deadline = time.monotonic() + 20
            while not shared.keys("*"):
                assert time.monotonic() < deadline, "the limits never went back to Redis"
                client.get(f"/api/v1/widget/{shop.embed_key}")
                time.sleep(0.5)
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        finally:
            redis.terminate()
            redis.wait(timeout=10)
