"""The records API: integrations (a shop, a CRM, a helpdesk) send records with
an API key, one at a time or in batches, and look up what became of them.

Keys belong on servers. The API's CORS policy allows no ``Authorization``
header, so a browser on another site cannot send one; integrations call from
their back ends, where CORS does not apply.

Rate limits (``Windows``): a valid key counts in its own window; a request
with a missing, unknown or revoked key counts against its client address, and
an address past that limit is answered 429 before any key is looked up.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from limits import RateLimitItem, WindowStats, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from slowapi import Limiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.accounts import api_keys
from app.accounts.api_keys import ApiKey
from app.invitations import record_in, record_status, records
from app.invitations.record_in import InvalidRecord, RecordIn
from app.invitations.records import Outcome, Source
from app.platform import metrics
from app.web import http
from app.web.context import Context
from app.web.errors import route_template
from app.web.problem import Problem

# A record at its field limits (properties up to 4 KiB) fits in 16 KiB.
RECORD_BODY_LIMIT = 16 * 1024
# Room for a full batch of records with sizeable properties; a bigger body is
# refused before it is held, and the answer says to split it.
BATCH_BODY_LIMIT = 8 * 1024 * 1024
NO_STORE = {"Cache-Control": "no-store"}

# A key's windows: records and batches in one, status lookups in another, so
# polling never eats the sending allowance.
POSTS, LOOKUPS = "records", "record_status"
FAILURES = "api_key_failures"

log = logging.getLogger("nps_beacon")
T = TypeVar("T")
Handler = Callable[[Request, Context, ApiKey], Awaitable[Response]]


def routes(windows: Windows) -> list[BaseRoute]:
    return [
        Route("/records", windows.guard(POSTS, create_record), methods=["POST"]),
        Route("/records/batch", windows.guard(POSTS, create_batch), methods=["POST"]),
        # Digits only: `/records/batch` is no id, so a GET to it is a 405 naming POST.
        Route("/records/{record_id:int}", windows.guard(LOOKUPS, show_record), methods=["GET"]),
    ]


# -- keys ------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _window_name(token: str) -> str:
    """A key's window, named by a hash so the secret never reaches the
    limiter's storage or its log lines."""
    return hashlib.sha256(b"rate-limit:" + token.encode()).hexdigest()[:32]


def _address(request: Request) -> str:
    # As uvicorn's proxy-header handling left it: X-Forwarded-For counts only
    # from a peer listed in FORWARDED_ALLOW_IPS.
    return request.client.host if request.client else "unknown"


class Windows:
    """The records API's rate limits, counted in the limiter's storage (shared
    by the workers with Redis), moving windows like every other limit."""

    def __init__(self, limiter: Limiter, per_key: str, failures: str) -> None:
        self._limiter = limiter
        self._per_key: RateLimitItem = parse(per_key)
        self._failures: RateLimitItem = parse(failures)
        # Used while the shared storage fails, as the limiter itself does.
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        self._away = False

    def guard(self, scope: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` called with the request's valid key, or a 401/429 problem."""

        async def endpoint(request: Request) -> Response:
            ctx: Context = request.app.state.ctx
            key = await self._authenticate(request, ctx, scope)
            return await handler(request, ctx, key)

        endpoint.__name__ = handler.__name__
        return endpoint

    async def _authenticate(self, request: Request, ctx: Context, scope: str) -> ApiKey:
        token = _bearer(request)
        window = _window_name(token) if token is not None else None
        address = _address(request)
        if self._limiter.enabled:
            self._before_lookup(request, scope, window, address)
        if token is None:
            self._failed(address)
            raise Problem(
                401,
                "invalid_api_key",
                "Send an API key as 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = await run_in_threadpool(api_keys.authenticate, ctx.engine, token, ctx.clock())
        if key is None:
            self._failed(address)
            raise Problem(
                401,
                "invalid_api_key",
                "This API key is not valid: it is unknown or was revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if self._limiter.enabled and window is not None:
            self._count(request, scope, window)
        return key

    def _before_lookup(
        self, request: Request, scope: str, window: str | None, address: str
    ) -> None:
        """429 without a database query: the key's window is full, or the
        address has failed too often and the key was not valid moments ago
        (a key's window holds only requests it was valid for)."""
        own = self._stats(self._per_key, scope, window) if window is not None else None
        if own is not None and own.remaining <= 0:
            raise self._too_many(request, _KEY_FULL, own)
        failures = self._stats(self._failures, FAILURES, address)
        if failures.remaining > 0 or (window is not None and self._recently_valid(window)):
            return
        raise self._too_many(request, _FAILURES_FULL, failures)

    def _recently_valid(self, window: str) -> bool:
        full = self._per_key.amount
        return any(self._stats(self._per_key, s, window).remaining < full for s in (POSTS, LOOKUPS))

    def _failed(self, address: str) -> None:
        if self._limiter.enabled:
            self._use(lambda limiter: limiter.hit(self._failures, FAILURES, address))

    def _count(self, request: Request, scope: str, window: str) -> None:
        if not self._use(lambda limiter: limiter.hit(self._per_key, scope, window)):
            raise self._too_many(request, _KEY_FULL, self._stats(self._per_key, scope, window))

    def _stats(self, item: RateLimitItem, *names: str) -> WindowStats:
        return self._use(lambda limiter: limiter.get_window_stats(item, *names))

    def _use(self, count: Callable[[RateLimiter], T]) -> T:
        try:
            counted = count(self._limiter.limiter)
        except Exception as exc:  # the storage's own errors, whatever its kind
            if not self._away:  # once per outage, not once per request
                log.warning("API key limits counted in memory: %s", type(exc).__name__)
            self._away = True
            return count(self._fallback)
        self._away = False
        return counted

    @staticmethod
    def _too_many(request: Request, detail: str, stats: WindowStats) -> Problem:
        metrics.rate_limited(route_template(request.scope))
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Problem(429, "rate_limited", detail, headers={"Retry-After": str(retry_after)})


_KEY_FULL = "Too many requests with this API key. Please wait and try again."
_FAILURES_FULL = (
    "Too many requests with invalid API keys from your address. Please wait and try again."
)


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


async def create_record(request: Request, ctx: Context, key: ApiKey) -> Response:
    data = await _read_json(request, RECORD_BODY_LIMIT)
    return await ctx.writes.run(_take_one, ctx, key, data, account=key.account_id)


async def create_batch(request: Request, ctx: Context, key: ApiKey) -> Response:
    data = await _read_json(request, BATCH_BODY_LIMIT)
    items = _batch_items(data)
    # One write slot for the whole batch, taken once: a batch never stops
    # half-way because the queue was busy between two of its records.
    return await ctx.writes.run(_take_batch, ctx, key, items, account=key.account_id)


async def show_record(request: Request, ctx: Context, key: ApiKey) -> Response:
    record_id: int = request.path_params["record_id"]
    if not 0 < record_id <= record_in.ID_MAX:  # 32-bit in the database: a larger one is no row
        raise _no_record()
    found = await run_in_threadpool(
        record_status.find_status, ctx.engine, key.account_id, record_id
    )
    if found is None:
        raise _no_record()
    body: dict[str, Any] = {
        "id": found.id,
        "status": found.status,
        "send_at": _timestamp(found.send_at),
    }
    if found.external_id is not None:
        body["external_id"] = found.external_id
    if found.sent_at is not None:
        body["sent_at"] = _timestamp(found.sent_at)
    if found.code is not None:
        body["code"] = found.code
    if found.answer is not None:
        body["response"] = {
            "score": found.answer.score,
            "segment": found.answer.segment,
            "comment": found.answer.comment,
            "answered_at": _timestamp(found.answer.answered_at),
        }
    return JSONResponse(body, headers=NO_STORE)


def _no_record() -> Problem:
    return Problem(404, "record_not_found", "This account has no record with this id.")


# -- one record --------------------------------------------------------------


def _take_one(ctx: Context, key: ApiKey, data: dict[str, Any]) -> Response:
    now = ctx.clock()
    source = Source("api", key.name)
    records.note_arrival(ctx.engine, key.account_id, source, now)
    try:
        wanted = record_in.parse(data, now)
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
        wanted: RecordIn = record_in.parse(raw, now)
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
