"""The records API: integrations (a shop, a CRM, a helpdesk) send records with
an API key, one at a time or in batches, and look up what became of them.

Keys belong on servers. The API's CORS policy allows no ``Authorization``
header, so a browser on another site cannot send one; integrations call from
their back ends, where CORS does not apply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import api_keys, records
from app.api_keys import ApiKey
from app.context import Context
from app.records import InvalidRecord, Outcome, RecordIn, Source
from app.web import http
from app.web.errors import Problem

# A record at its field limits (properties up to 4 KiB) fits in 16 KiB.
RECORD_BODY_LIMIT = 16 * 1024
# Room for a full batch of records with sizeable properties; a bigger body is
# refused before it is held, and the answer says to split it.
BATCH_BODY_LIMIT = 8 * 1024 * 1024
NO_STORE = {"Cache-Control": "no-store"}

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def routes(posts_limit: Decorator, lookups_limit: Decorator) -> list[BaseRoute]:
    return [
        Route("/records", posts_limit(create_record), methods=["POST"]),
        Route("/records/batch", posts_limit(create_batch), methods=["POST"]),
        # Digits only: `/records/batch` is no id, so a GET to it is a 405 naming POST.
        Route("/records/{record_id:int}", lookups_limit(show_record), methods=["GET"]),
    ]


# -- keys ------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def limit_key(request: Request) -> str:
    """The rate-limit window a request counts in: its API key's, named by a
    hash so the secret never reaches the limiter's storage or its log lines;
    without a key, the client's address."""
    token = _bearer(request)
    if token is not None:
        return "key:" + hashlib.sha256(b"rate-limit:" + token.encode()).hexdigest()[:32]
    return "address:" + (request.client.host if request.client else "unknown")


async def _authenticate(request: Request, ctx: Context) -> ApiKey:
    token = _bearer(request)
    if token is None:
        raise Problem(
            401,
            "invalid_api_key",
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = await run_in_threadpool(api_keys.authenticate, ctx.engine, token, ctx.clock())
    if key is None:
        raise Problem(
            401,
            "invalid_api_key",
            "This API key is not valid: it is unknown or was revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return key


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    # Only application/json: the widget's text/plain exception exists to avoid
    # a browser's preflight, and browsers do not call this API.
    if http.media_type(request) != "application/json":
        raise Problem(
            415,
            "unsupported_media_type",
            "Send records as JSON, with Content-Type: application/json.",
        )
    return await http.read_json(request, limit)


# -- handlers --------------------------------------------------------------


async def create_record(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    key = await _authenticate(request, ctx)
    data = await _read_json(request, RECORD_BODY_LIMIT)
    return await ctx.writes.run(_take_one, ctx, key, data)


async def create_batch(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    key = await _authenticate(request, ctx)
    data = await _read_json(request, BATCH_BODY_LIMIT)
    items = _batch_items(data)
    # One write slot for the whole batch, taken once: a batch never stops
    # half-way because the queue was busy between two of its records.
    return await ctx.writes.run(_take_batch, ctx, key, items)


async def show_record(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    key = await _authenticate(request, ctx)
    record_id: int = request.path_params["record_id"]
    if not 0 < record_id <= records.ID_MAX:  # 32-bit in the database: a larger one is no row
        raise _no_record()
    found = await run_in_threadpool(records.find_status, ctx.engine, key.account_id, record_id)
    if found is None:
        raise _no_record()
    body: dict[str, Any] = {
        "id": found.id,
        "status": found.status,
        "send_at": _timestamp(found.send_at),
    }
    if found.sent_at is not None:
        body["sent_at"] = _timestamp(found.sent_at)
    if found.code is not None:
        body["code"] = found.code
    return JSONResponse(body, headers=NO_STORE)


def _no_record() -> Problem:
    return Problem(404, "record_not_found", "This account has no record with this id.")


# -- one record --------------------------------------------------------------


def _take_one(ctx: Context, key: ApiKey, data: dict[str, Any]) -> Response:
    now = ctx.clock()
    source = Source("api", key.name)
    records.note_arrival(ctx.engine, key.account_id, source, now)
    try:
        wanted = records.parse(data, now)
    except InvalidRecord as invalid:
        raise _invalid(invalid) from None
    try:
        outcome = records.accept(ctx.engine, key.account_id, wanted, source, now, ctx.zone)
    except records.UnknownSurvey:
        raise Problem(404, "survey_not_found", _REFUSALS["survey_not_found"]) from None
    except records.SurveyInactive:
        raise Problem(409, "survey_inactive", _REFUSALS["survey_inactive"]) from None
    if outcome.code is not None:
        extra: dict[str, Any] = {"id": outcome.id} if outcome.id is not None else {}
        status = 402 if outcome.code == "budget_exhausted" else 409
        raise Problem(status, outcome.code, _REFUSALS[outcome.code], **extra)
    assert outcome.id is not None
    return JSONResponse(
        {"id": outcome.id, "status": "scheduled", "send_at": _timestamp(outcome.send_at)},
        status_code=200 if outcome.replay else 202,
        headers={**NO_STORE, "Location": f"/api/v1/records/{outcome.id}"},
    )


# Why a record was refused, for the integration's logs.
_REFUSALS = {
    "budget_exhausted": "The account's survey budget for this month is used up: the record was "
    "refused and is not kept for a later month.",
    "unsubscribed": "This recipient unsubscribed from the account's surveys; nothing is sent.",
    "recently_surveyed": "This recipient was invited within the account's minimum interval; "
    "nothing is sent and nothing counts.",
    "survey_not_found": "This account has no survey with this survey_id.",
    "survey_inactive": "This survey is switched off and takes no records.",
}


def _invalid(invalid: InvalidRecord) -> Problem:
    return Problem(
        422,
        "validation_error",
        "; ".join(f"{error.field}: {error.message}" for error in invalid.errors),
        errors=_errors(invalid),
    )


def _errors(invalid: InvalidRecord) -> list[dict[str, str]]:
    return [{"field": error.field, "message": error.message} for error in invalid.errors]


# -- batches ---------------------------------------------------------------


def _batch_items(data: dict[str, Any]) -> list[Any]:
    """The batch's records, or 422 before anything is taken."""
    items = data.get("records")
    unknown = sorted(name for name in data if name != "records")
    if unknown:
        _refuse_batch(unknown[0], 'unknown field; a batch is {"records": [...]}')
    if not isinstance(items, list):
        _refuse_batch("records", "required: a list of records")
    assert isinstance(items, list)
    if len(items) > records.BATCH_MAX:
        _refuse_batch(
            "records",
            f"at most {records.BATCH_MAX:,} records per batch, got {len(items):,}; "
            "split the list, nothing was taken",
        )
    return items


def _refuse_batch(field: str, message: str) -> None:
    raise Problem(
        422,
        "validation_error",
        f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )


def _take_batch(ctx: Context, key: ApiKey, items: list[Any]) -> Response:
    now = ctx.clock()
    source = Source("api", key.name)
    records.note_arrival(ctx.engine, key.account_id, source, now)
    # In order and each in a transaction of its own: when the budget runs out
    # part-way, the records before are kept and the ones after refused.
    results = [_batch_result(ctx, key, index, raw, source, now) for index, raw in enumerate(items)]
    return JSONResponse({"results": results}, headers=NO_STORE)


def _batch_result(
    ctx: Context, key: ApiKey, index: int, raw: object, source: Source, now: datetime
) -> dict[str, Any]:
    try:
        wanted: RecordIn = records.parse(raw, now)
    except InvalidRecord as invalid:
        return {
            "index": index,
            "status": "invalid",
            "code": "validation_error",
            "errors": _errors(invalid),
        }
    try:
        outcome = records.accept(ctx.engine, key.account_id, wanted, source, now, ctx.zone)
    except records.UnknownSurvey:
        return {"index": index, "status": "refused", "code": "survey_not_found"}
    except records.SurveyInactive:
        return {"index": index, "status": "refused", "code": "survey_inactive"}
    return _result(index, outcome)


def _result(index: int, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"index": index}
    if outcome.code is None:
        result.update(status="scheduled", id=outcome.id, send_at=_timestamp(outcome.send_at))
    else:
        result.update(status="refused", code=outcome.code)
        if outcome.id is not None:
            result["id"] = outcome.id
    if outcome.replay:
        result["replay"] = True
    return result


def _timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC to the second, e.g. 2026-05-14T12:00:00Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
