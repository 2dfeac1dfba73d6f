"""Liveness and readiness for load balancers and operators, and the figures
of ``/metrics`` when they are on.

``/healthz`` answers 200 while the database answers and is at the newest
migration. ``/readyz`` also asks the rate limits' Redis when one is
configured: a worker that cannot reach it still serves (limits fall back to
memory), so a balancer may keep it, but an operator sees why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import migrations
from app.platform import metrics
from app.web.context import Context

NO_STORE = {"Cache-Control": "no-store"}


def _database(ctx: Context) -> str:
    try:
        return migrations.state(ctx.engine)
    except DBAPIError:
        return "unreachable"


def healthz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    state = _database(ctx)
    if state != "ok":
        return JSONResponse({"status": "error", "database": state}, 503, headers=NO_STORE)
    return JSONResponse({"status": "ok", "database": "ok"}, headers=NO_STORE)


def _redis(request: Request) -> str | None:
    """None without Redis; else whether the limiter's storage answers."""
    ctx: Context = request.app.state.ctx
    if not ctx.settings.rate_limit_storage_url.startswith(("redis", "rediss")):
        return None
    storage: Any = getattr(request.app.state.limiter, "_storage", None)
    try:
        return "ok" if storage is not None and storage.check() else "unreachable"
    except Exception:  # any client error means the same to an operator
        return "unreachable"


async def readyz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    body: dict[str, str] = {"database": await run_in_threadpool(_database, ctx)}
    redis = await run_in_threadpool(_redis, request)
    if redis is not None:
        body["redis"] = redis
    ready = all(state == "ok" for state in body.values())
    return JSONResponse(
        {"status": "ok" if ready else "error", **body}, 200 if ready else 503, headers=NO_STORE
    )


def metrics_page(request: Request) -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type, headers=NO_STORE)


def routes(*, metrics_on: bool = False) -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
    ]
    if metrics_on:
        found.append(Route("/metrics", metrics_page, methods=["GET"]))
    return found
