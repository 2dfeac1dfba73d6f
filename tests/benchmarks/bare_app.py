"""Baseline (a): the cheapest JSON answer Starlette gives, served with the same
uvicorn settings as the project, so the widget config has a floor to compare to."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PAYLOAD = {"show": True, "survey": {"kind": "nps", "language": "en"}}


async def hello(request: Request) -> Response:
    return JSONResponse(PAYLOAD)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/json", hello), Route("/healthz", healthz)])
