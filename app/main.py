"""The application: one route table, built from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slowapi import Limiter
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import settings as settings_module
from app.context import Clock, Context
from app.db import create_db_engine
from app.settings import Settings
from app.signing import Signer
from app.web import admin, assets, demo, errors, health, links, widget_api

TEMPLATES_DIR = Path(__file__).parent / "templates"


def client_address(request: Request) -> str:
    """The peer as uvicorn's proxy-header handling left it: X-Forwarded-For
    counts only when the peer is listed in FORWARDED_ALLOW_IPS."""
    return request.client.host if request.client else "unknown"


class SecurityHeaders:
    """Headers every answer carries; pages add their own CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                names = {name.lower() for name, _ in headers}
                for name, value in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                ):
                    if name not in names:
                        headers.append((name, value))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(
    settings: Settings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> Starlette:
    settings = settings or settings_module.from_env()
    logging.getLogger("nps_beacon").setLevel(settings.log_level.upper())
    ctx = Context(
        settings=settings,
        engine=engine or create_db_engine(settings.db_url),
        signer=Signer(settings.secret_keys, settings.display_token_max_age),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    limiter = Limiter(
        key_func=client_address,
        strategy="moving-window",
        storage_uri=settings.rate_limit_storage_url,
        enabled=settings.rate_limit_enabled,
        key_style="endpoint",
    )

    def limit(rate: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return limiter.limit(rate)

    api_cors = Middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        max_age=86400,
    )
    widget = assets.widget_script()
    routes = [
        *health.routes(),
        *assets.routes(widget),
        Mount(
            "/api/v1",
            routes=widget_api.routes(
                limit(settings.rate_limit_widget), limit(settings.rate_limit_responses)
            ),
            middleware=[api_cors],
        ),
        *links.routes(limit(settings.rate_limit_responses)),
        *demo.routes(settings),
        *admin.routes(settings, limit(settings.rate_limit_login)),
        Mount("/static", StaticFiles(directory=assets.STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(
        routes=routes, exception_handlers=errors.HANDLERS, middleware=[Middleware(SecurityHeaders)]
    )
    app.state.ctx = ctx
    app.state.limiter = limiter
    app.state.widget = widget  # assets.Script | None: digest and SRI for the admin snippet
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    return app


def _lazy_app() -> Starlette:
    return build_app()


class _LazyApp:
    """``app`` for ``uvicorn app.main:app``: built on first use so that importing
    this module (tests, the CLI) never reads the environment."""

    _app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = _lazy_app()
        await self._app(scope, receive, send)


app = _LazyApp()
