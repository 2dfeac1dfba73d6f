"""Liveness and database reachability for load balancers and operators."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import db
from app.context import Context


def healthz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        with db.read(ctx.engine) as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError:
        return JSONResponse(
            {"status": "error", "database": "unreachable"},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz, methods=["GET", "HEAD"])]
