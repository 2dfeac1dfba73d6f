"""Reference on PostgreSQL: a submission written directly with async psycopg.

The yardstick for several workers on PostgreSQL: what the platform gives when
nothing stands between Starlette and the driver. It does the work of ``POST
/api/v1/responses`` in the round trips the project's answer takes: ``json.loads``
of the body, itsdangerous ``loads`` of the display token (same serializer and
salt), then on one of a few connections per worker, in pipeline mode, ``INSERT
... ON CONFLICT (nonce) DO NOTHING RETURNING id`` (read: a replay costs no
count), then ``UPDATE usage SET used = used + 1 ... WHERE used < budget`` sent
with the ``COMMIT``. A step that updates nothing calls the migrations'
``budget_exhausted()``, whose error fails the commit: the insert is rolled
back with it and the answer is 402.
The survey's account, kind and budget are read once and kept, as the
project's cache keeps them; the benchmark has created the period's usage row.

Settings come from the environment: ``REFERENCE_DATABASE_URL``,
``REFERENCE_CONNECTIONS`` (per worker, 8), and those of ``reference_app.py``
for the tokens (``REFERENCE_SECRET_KEYS``, ``REFERENCE_TOKEN_MAX_AGE``), whose
reading of the body this reference shares.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.benchmarks.reference_app import (
    CONSUME,
    INSERT,
    NO_STORE,
    SCALES,
    SURVEY,
    problem,
    read_submission,
    segment_of,
)

URL = os.environ.get("REFERENCE_DATABASE_URL", "")
CONNECTIONS = int(os.environ.get("REFERENCE_CONNECTIONS", "8"))


def _pyformat(sql: str) -> str:
    return sql.replace("?", "%s")


PG_INSERT, PG_SURVEY = _pyformat(INSERT), _pyformat(SURVEY)
PG_CONSUME = (
    f"WITH step AS ({_pyformat(CONSUME)} RETURNING 1)"
    " SELECT coalesce((SELECT 1 FROM step), budget_exhausted())"
)
REFUSED = "NB402"
STORED = "SELECT id, score, segment FROM response WHERE nonce = %s"

_idle: asyncio.Queue[psycopg.AsyncConnection[Any]] | None = None
_opening = asyncio.Lock()
_surveys: dict[int, tuple[int, str, int] | None] = {}


async def _connections() -> asyncio.Queue[psycopg.AsyncConnection[Any]]:
    global _idle
    if _idle is not None:
        return _idle
    async with _opening:  # the first requests arrive together: one set of connections
        if _idle is None:
            idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
            for _ in range(CONNECTIONS):
                idle.put_nowait(await psycopg.AsyncConnection.connect(URL))
            _idle = idle
    return _idle


async def record(survey_id: int, nonce: str, channel: str, score: int) -> Response:
    idle = await _connections()
    conn = await idle.get()
    try:
        if survey_id not in _surveys:
            found = await (await conn.execute(PG_SURVEY, (survey_id,))).fetchone()
            await conn.commit()
            _surveys[survey_id] = (found[0], found[1], found[2]) if found else None
        survey = _surveys[survey_id]
        if survey is None:
            return problem(404, "unknown_survey")
        account_id, kind, budget = survey
        low, high = SCALES[kind]
        if not low <= score <= high:
            return problem(422, "validation_error")
        segment = segment_of(kind, score)
        now = datetime.now(UTC)
        period = f"{now.year:04d}-{now.month:02d}"
        values = (nonce, account_id, survey_id, period, score, segment, channel, now)
        async with conn.pipeline():
            inserted = await (await conn.execute(PG_INSERT, values)).fetchone()
            if inserted is None:
                stored = await (await conn.execute(STORED, (nonce,))).fetchone()
                await conn.commit()
                assert stored is not None
                if stored[1] != score:
                    return problem(409, "token_already_used")
                return JSONResponse({"id": stored[0], "segment": stored[2]}, headers=NO_STORE)
            await conn.execute(PG_CONSUME, (now, survey_id, account_id, period, budget))
            await conn.commit()
    except psycopg.Error as exc:
        # Caught outside the pipeline, which must end before the connection
        # can roll back and serve again.
        await conn.rollback()
        if exc.sqlstate != REFUSED:
            raise
        return problem(402, "budget_exhausted")
    except BaseException:
        await conn.rollback()
        raise
    finally:
        idle.put_nowait(conn)
    return JSONResponse({"id": inserted[0], "segment": segment}, status_code=201, headers=NO_STORE)


async def submit(request: Request) -> Response:
    args = read_submission(await request.body())
    if isinstance(args, Response):
        return args
    return await record(*args)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/responses", submit, methods=["POST"]), Route("/healthz", healthz)])
