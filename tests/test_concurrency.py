"""The budget rule against real servers with several workers, under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from app.platform.settings import Settings
from tests.conftest import count_responses, seed, set_budget, usage_row

pytestmark = pytest.mark.server


def _workers(settings: Settings) -> int:
    # SQLite serialises writers on one file; PostgreSQL is the many-worker path.
    return 4 if settings.db_url.startswith("postgresql") else 2


def _tokens(base: str, embed_key: str, count: int) -> list[str]:
    with httpx.Client(base_url=base) as http:
        tokens = []
        for _ in range(count):
            body = http.get(f"/api/v1/widget/{embed_key}").json()
            assert body["show"] is True, body
            tokens.append(body["display_token"])
    return tokens


async def _fire(base: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        return list(
            await asyncio.gather(*(http.post("/api/v1/responses", json=body) for body in bodies))
        )


def _run(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps
    an event loop running in the main thread of the same test process."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _period(engine: Engine) -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m")


@pytest.mark.parametrize("limit", [50, 1])
def test_exactly_the_budget_is_stored_under_200_concurrent_submissions(
    live_server: Any, engine: Engine, settings: Settings, limit: int
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", limit)
    base = live_server(workers=_workers(settings))
    tokens = _tokens(base, shop.embed_key, 200)

    answers = _run(_fire(base, [{"display_token": t, "score": 8} for t in tokens]))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: limit, 402: 200 - limit}, statuses
    assert all(a.json()["code"] == "budget_exhausted" for a in answers if a.status_code == 402)
    assert count_responses(engine) == limit
    assert usage_row(engine, shop.account_id, _period(engine)) == (limit, 200 - limit)


def test_one_token_sent_20_times_at_once_counts_once(
    live_server: Any, engine: Engine, settings: Settings
) -> None:
    shop = seed(engine)
    base = live_server(workers=_workers(settings))
    [token] = _tokens(base, shop.embed_key, 1)

    answers = _run(_fire(base, [{"display_token": token, "score": 6}] * 20))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 1, 200: 19}, statuses
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, _period(engine)) == (1, 0)

    with httpx.Client(base_url=base) as http:
        replay = http.post("/api/v1/responses", json={"display_token": token, "score": 6})
        assert replay.status_code == 200
        assert replay.json() == answers[0].json()
        other = http.post("/api/v1/responses", json={"display_token": token, "score": 7})
        assert other.status_code == 409
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, _period(engine)) == (1, 0)
