"""Reference (b): a submission written directly with ``sqlite3``.

It does the work of ``POST /api/v1/responses`` and nothing more: ``json.loads``
of the body, itsdangerous ``loads`` of the display token (same serializer and
salt), then on one connection (WAL, ``synchronous=NORMAL``) ``BEGIN
IMMEDIATE``, ``INSERT ... ON CONFLICT (nonce) DO NOTHING RETURNING id``,
``UPDATE usage SET used = used + 1 WHERE account_id = ? AND period = ? AND used
< ?`` and ``COMMIT``, rolling back when the budget is used up. The survey's
account, kind and budget are read once and kept, as the project's cache keeps
them. It runs on a database made by the project's migrations, in which the
benchmark has created the period's usage row (the guarded step is a plain
UPDATE).

Settings come from the environment: ``REFERENCE_DATABASE`` (a file path),
``REFERENCE_SECRET_KEYS`` and ``REFERENCE_TOKEN_MAX_AGE``. With
``REFERENCE_THREADPOOL=true`` the database work runs in Starlette's threadpool
(one connection per thread) as the project's handler does; by default it runs
on the event loop over one connection, since SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY_LIMIT = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
SEGMENTS = {
    "nps": (("detractor", 6), ("passive", 8), ("promoter", 10)),
    "csat": (("negative", 2), ("neutral", 3), ("positive", 5)),
    "ces": (("high-effort", 3), ("neutral", 4), ("low-effort", 7)),
}
CHANNELS = ("widget", "link")

DATABASE = os.environ.get("REFERENCE_DATABASE", "reference.sqlite3")
KEYS = [key for key in os.environ.get("REFERENCE_SECRET_KEYS", "").split(",") if key]
MAX_AGE = int(os.environ.get("REFERENCE_TOKEN_MAX_AGE", "86400"))
THREADPOOL = os.environ.get("REFERENCE_THREADPOOL", "").lower() == "true"
# The first key signs, all verify: itsdangerous signs with the last of its list.
TOKENS = URLSafeTimedSerializer(list(reversed(KEYS)) or ["unset"], salt="display")

INSERT = (
    "INSERT INTO response (nonce, account_id, survey_id, period, score, segment, comment,"
    " channel, page_url, locale, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL, NULL, ?)"
    " ON CONFLICT (nonce) DO NOTHING RETURNING id"
)
CONSUME = (
    "UPDATE usage SET used = used + 1, last_accepted_at = ?, last_accepted_survey_id = ?"
    " WHERE account_id = ? AND period = ? AND used < ?"
)
SURVEY = (
    "SELECT survey.account_id, survey.kind, tariff.monthly_budget FROM survey"
    " JOIN account ON account.id = survey.account_id"
    " JOIN tariff ON tariff.code = account.tariff_code WHERE survey.id = ? AND survey.active"
)
_surveys: dict[int, tuple[int, str, int] | None] = {}
REJECT = "UPDATE usage SET rejected = rejected + 1 WHERE account_id = ? AND period = ?"

_local = threading.local()


def connection() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DATABASE, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        _local.conn = conn
    return conn


def problem(status: int, code: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": code, "status": status, "code": code},
        status_code=status,
        media_type="application/problem+json",
    )


def segment_of(kind: str, score: int) -> str:
    return next(name for name, top in SEGMENTS[kind] if score <= top)


def record(survey_id: int, nonce: str, channel: str, score: int) -> Response:
    now = datetime.now(UTC)
    period = f"{now.year:04d}-{now.month:02d}"
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DATETIME on SQLite
    conn = connection()
    if survey_id not in _surveys:
        _surveys[survey_id] = conn.execute(SURVEY, (survey_id,)).fetchone()
    survey = _surveys[survey_id]
    if survey is None:
        return problem(404, "unknown_survey")
    account_id, kind, budget = survey
    low, high = SCALES[kind]
    if not low <= score <= high:
        return problem(422, "validation_error")
    segment = segment_of(kind, score)
    conn.execute("BEGIN IMMEDIATE")
    try:
        values = (nonce, account_id, survey_id, period, score, segment, channel, stamp)
        inserted = conn.execute(INSERT, values).fetchone()
        if inserted is None:
            stored = conn.execute(
                "SELECT id, score, segment FROM response WHERE nonce = ?", (nonce,)
            ).fetchone()
            conn.execute("COMMIT")
            if stored[1] != score:
                return problem(409, "token_already_used")
            return JSONResponse({"id": stored[0], "segment": stored[2]}, headers=NO_STORE)
        step = conn.execute(CONSUME, (stamp, survey_id, account_id, period, budget))
        if step.rowcount != 1:
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(REJECT, (account_id, period))
            conn.execute("COMMIT")
            return problem(402, "budget_exhausted")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return JSONResponse({"id": inserted[0], "segment": segment}, status_code=201, headers=NO_STORE)


def read_submission(body: bytes) -> tuple[int, str, str, int] | Response:
    """The survey, nonce, channel and score a POST's body names, or the
    problem to answer instead."""
    if len(body) > BODY_LIMIT:
        return problem(413, "payload_too_large")
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return problem(400, "invalid_json")
    if not isinstance(data, dict) or not isinstance(data.get("display_token"), str):
        return problem(400, "invalid_json")
    try:
        payload = TOKENS.loads(data["display_token"], max_age=MAX_AGE)
    except SignatureExpired:
        return problem(410, "token_expired")
    except BadSignature:
        return problem(400, "invalid_token")
    match payload, data.get("score"):
        case [int(survey_id), str(nonce), int(channel)], int(score) if 0 <= channel < 2:
            return survey_id, nonce, CHANNELS[channel], score
        case _:
            return problem(422, "validation_error")


async def submit(request: Request) -> Response:
    args = read_submission(await request.body())
    if isinstance(args, Response):
        return args
    if THREADPOOL:
        return await run_in_threadpool(record, *args)
    return record(*args)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/responses", submit, methods=["POST"]), Route("/healthz", healthz)])
