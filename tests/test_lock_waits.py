"""A row lock held elsewhere on PostgreSQL: the account's writes give up
after the lock timeout with a 503, never fill every write slot, and leave
no broken connection behind; another account goes on being counted."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app.accounts import api_keys
from app.platform import db
from tests.conftest import Seeded, run_async, seed, set_budget, usage_row

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
pytestmark = pytest.mark.server

LOCK_TIMEOUT = 2.0
# What may pass beyond the lock timeout on a loaded machine: the floor of a
# late write's lock wait (db.LOCK_WAIT_FLOOR), the HTTP round trip, a busy CPU.
MARGIN = 2.0
CAP = 30.0  # seconds: only keeps a broken server from hanging the test
WORKERS = 4
STUCK_ANSWERS = 48  # more than all the write slots of the server's workers
STUCK_RECORDS = 8
OTHER_ANSWERS = 8


def _period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _tokens(http: httpx.Client, shop: Seeded, count: int) -> list[str]:
    tokens = []
    for _ in range(count):
        body = http.get(f"/api/v1/widget/{shop.embed_key}").json()
        assert body["show"] is True, body
        tokens.append(str(body["display_token"]))
    return tokens


def _stored(engine: Engine, account_id: int) -> tuple[int, int]:
    """(responses, records) the account has."""
    with db.read(engine) as conn:
        responses = conn.execute(
            text("SELECT count(*) FROM response WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
        records = conn.execute(
            text("SELECT count(*) FROM record WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
    return int(responses), int(records)


async def _timed(http: httpx.AsyncClient, url: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await http.post(url, **kwargs)
    return answer, time.monotonic() - started


async def _while_held(
    base: str, engine: Engine, stuck: Seeded, secret: str, tokens: list[str], others: list[str]
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    holder = engine.connect()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=CAP) as http:
        try:
            # What `BEGIN; SELECT ... FOR UPDATE` in psql does to the account's budget.
            holder.begin()
            holder.execute(
                text("SELECT used FROM usage WHERE account_id = :a AND period = :p FOR UPDATE"),
                {"a": stuck.account_id, "p": _period()},
            )
            answers = [
                asyncio.create_task(
                    _timed(http, "/api/v1/responses", json={"display_token": t, "score": 9})
                )
                for t in tokens
            ]
            records = [
                asyncio.create_task(
                    _timed(
                        http,
                        "/api/v1/records",
                        json={"survey_id": stuck.survey_id, "email": f"r{n}@example.com"},
                        headers={"Authorization": f"Bearer {secret}"},
                    )
                )
                for n in range(STUCK_RECORDS)
            ]
            await asyncio.sleep(0.5)  # the stuck account's writes now wait in every worker
            other = await asyncio.gather(
                *(
                    http.post("/api/v1/responses", json={"display_token": t, "score": 8})
                    for t in others
                )
            )
            stuck_answers = await asyncio.gather(*answers)
            stuck_records = await asyncio.gather(*records)
        finally:
            holder.rollback()
            holder.close()
    return {"answers": stuck_answers, "records": stuck_records, "other": other}


def _unavailable_in_time(answer: httpx.Response, took: float) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "service_unavailable"
    assert int(answer.headers["retry-after"]) > 0
    assert took < LOCK_TIMEOUT + MARGIN, f"answered after {took:.1f}s"


@POSTGRES_ONLY
def test_a_held_usage_row_bounds_its_accounts_waits_and_spares_other_accounts(
    live_server: Any, engine: Engine
) -> None:
    stuck, other = seed(engine), seed(engine)
    set_budget(engine, "free", 1000)
    with db.write(engine) as conn:
        _key, secret = api_keys.create(conn, stuck.account_id, "CRM", datetime.now(UTC))
    base = live_server(workers=WORKERS, DATABASE_LOCK_TIMEOUT=str(LOCK_TIMEOUT))
    with httpx.Client(base_url=base, timeout=CAP) as http:
        tokens = _tokens(http, stuck, STUCK_ANSWERS + 1 + 8)
        others = _tokens(http, other, OTHER_ANSWERS)
        # The usage row exists once the account's first answer counted.
        first = http.post("/api/v1/responses", json={"display_token": tokens[0], "score": 9})
        assert first.status_code == 201, first.text

    seen = run_async(
        _while_held(base, engine, stuck, secret, tokens[1 : STUCK_ANSWERS + 1], others)
    )

    for answer, took in [*seen["answers"], *seen["records"]]:
        _unavailable_in_time(answer, took)
    assert [answer.status_code for answer in seen["other"]] == [201] * OTHER_ANSWERS

    # Every connection that met the lock timeout went back to the pool usable.
    with httpx.Client(base_url=base, timeout=CAP) as http:
        later = [
            http.post("/api/v1/responses", json={"display_token": t, "score": 7})
            for t in tokens[STUCK_ANSWERS + 1 :]
        ]
    assert [answer.status_code for answer in later] == [201] * 8
    assert _stored(engine, stuck.account_id) == (9, 0)
    assert usage_row(engine, stuck.account_id, _period())[0] == 9
    assert _stored(engine, other.account_id) == (OTHER_ANSWERS, 0)
    assert usage_row(engine, other.account_id, _period())[0] == OTHER_ANSWERS
