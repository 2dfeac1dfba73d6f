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
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from app.platform import metrics
from app.platform import settings as settings_module
from app.platform.db import create_db_engine
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.write_queue import WriteQueue
from app.web import (
    admin,
    assets,
    demo,
    errors,
    headers,
    health,
    invitations,
    links,
    openapi,
    records_api,
    reviews,
    widget_api,
)
from app.web.context import Clock, Context

TEMPLATES_DIR = Path(__file__).parent / "templates"


def client_address(request: Request) -> str:
    """The peer as uvicorn's proxy-header handling left it: X-Forwarded-For
    counts only when the peer is listed in FORWARDED_ALLOW_IPS."""
    return request.client.host if request.client else "unknown"


class Beacon(Starlette):
    """Starlette with the security headers outside everything, even the
    ServerErrorMiddleware that Starlette puts outside all user middleware:
    so a 500 carries them like any other answer."""

    def build_middleware_stack(self) -> ASGIApp:
        return headers.SecurityHeaders(
            super().build_middleware_stack(),
            log_requests=getattr(self.state, "log_requests", False),
            count_requests=metrics.enabled(),
        )


def _compressed(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Visitors' pages go gzip-compressed (often over a phone's connection);
    the widget's JSON API is left plain on its hot path."""
    for route in routes:
        if isinstance(route, Route):
            route.app = GZipMiddleware(route.app, compresslevel=6)
    return routes


def build_app(
    settings: Settings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> Starlette:
    settings = settings or settings_module.from_env()
    if settings.metrics:
        metrics.enable(settings.metrics_path)
    logging.getLogger("nps_beacon").setLevel(settings.log_level.upper())
    ctx = Context(
        settings=settings,
        engine=engine
        or create_db_engine(
            settings.db_url,
            write_wait=settings.database_lock_timeout,
            statement_timeout=settings.database_statement_timeout,
        ),
        signer=Signer(settings.secret_keys, settings.display_token_max_age),
        clock=clock or (lambda: datetime.now(UTC)),
        writes=WriteQueue(wait=settings.database_lock_timeout),
    )
    limiter = Limiter(
        key_func=client_address,
        strategy="moving-window",
        storage_uri=settings.rate_limit_storage_url,
        enabled=settings.rate_limit_enabled,
        key_style="endpoint",
        # Redis away must not turn every visitor's request into a 500: each
        # worker counts in memory meanwhile (the budget still protects the
        # owner) and goes back to the shared storage once it answers again.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )

    def limit(rate: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return limiter.limit(rate)

    # The API's submissions and a link's answer and comment count in one window
    # per client: a window per endpoint would multiply the allowance.
    submissions: Callable[[Callable[..., Any]], Callable[..., Any]] = limiter.shared_limit(
        settings.rate_limit_responses, scope="submissions"
    )

    # The records API counts per valid API key, and failed keys per address.
    records_windows = records_api.Windows(
        limiter, settings.rate_limit_records, settings.rate_limit_api_key_failures
    )

    # Content-Type is the only header browsers may add cross-origin. That keeps
    # Authorization out of reach of pages on other sites: the records API's
    # keys belong on servers, never in a browser.
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
        # First: every page view's config and every answer match here at once.
        Mount(
            "/api/v1",
            routes=[
                *widget_api.routes(limit(settings.rate_limit_widget), submissions),
                *records_api.routes(records_windows),
                *openapi.routes(
                    openapi.Limits(
                        response_body=widget_api.BODY_LIMIT,
                        record_body=records_api.RECORD_BODY_LIMIT,
                        batch_body=records_api.BATCH_BODY_LIMIT,
                        locale_pattern=widget_api.LOCALE.pattern,
                        url_max=widget_api.URL_MAX,
                        control_pattern=widget_api.CONTROL.pattern,
                    )
                ),
            ],
            middleware=[api_cors],
        ),
        *health.routes(metrics_on=settings.metrics),
        *assets.routes(widget),
        # Before the link survey's: these match only invitation keys on /s/.
        *_compressed(invitations.routes(submissions)),
        *_compressed(links.routes(submissions)),
        *reviews.routes(),
        *demo.routes(settings),
        *admin.routes(settings, limit(settings.rate_limit_login)),
        Mount(
            "/static",
            StaticFiles(directory=assets.STATIC_DIR, check_dir=False),
            name="static",
            middleware=[Middleware(GZipMiddleware, compresslevel=6)],
        ),
    ]
    app = Beacon(
        routes=routes,
        exception_handlers={**errors.HANDLERS, **links.HANDLERS, **invitations.HANDLERS},
        middleware=[Middleware(headers.HostCheck, allowed_hosts=settings.trusted_hosts)],
    )
    app.state.ctx = ctx
    app.state.log_requests = settings.log_format == "json"
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
