"""Liveness and readiness for load balancers and operators: 200 only while
the database answers and is at the newest migration."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import migrations
from app.context import Context

NO_STORE = {"Cache-Control": "no-store"}


def healthz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        state = migrations.state(ctx.engine)
    except DBAPIError:
        state = "unreachable"
    if state != "ok":
        return JSONResponse({"status": "error", "database": state}, 503, headers=NO_STORE)
    return JSONResponse({"status": "ok", "database": "ok"}, headers=NO_STORE)


def routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz, methods=["GET", "HEAD"])]
