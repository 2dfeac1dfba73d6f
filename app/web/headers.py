"""Security headers on every answer and the Host check, kept in this one place.

``SecurityHeaders`` wraps the whole application, Starlette's
ServerErrorMiddleware included (see ``app.main``), so 500s, the router's
404/405s, static files, redirects and the Host check's 400 carry the headers
as pages do. It also keeps the client's Host header out of redirects.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import URL
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform import metrics, urls
from app.web.errors import REQUEST_ID, route_template

access_log = logging.getLogger("nps_beacon.access")
# A proxy's id is kept when it looks like one; anything else is replaced, so
# a client cannot write arbitrary text into the logs.
REQUEST_ID_FORMAT = re.compile(r"[A-Za-z0-9._:-]{8,64}")

ADMIN_PREFIX = urls.ADMIN
# Answer whatever the Host: load balancers probe by address or internal name.
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# The survey editor's preview page is the one admin page that may be framed,
# and only by the admin's own pages; it runs /widget.js and posts nowhere.
PREVIEW_PATH = re.compile(r"^/admin/surveys/(?:new|[0-9]+)/preview$")
PREVIEW_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
Headers = tuple[tuple[bytes, bytes], ...]

# Everywhere, unless the answer brings its own value.
DEFAULT_HEADERS: Headers = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)
# Under /admin these replace whatever the answer had: every admin answer,
# error pages and redirects included, gets one strict policy and is never cached.
ADMIN_HEADERS: Headers = (
    (b"content-security-policy", ADMIN_CSP.encode()),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
)


PREVIEW_HEADERS: Headers = (
    (b"content-security-policy", PREVIEW_CSP.encode()),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
)


_ADMIN_NAMES = frozenset(name for name, _ in ADMIN_HEADERS)


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def secured(headers: Iterable[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """``headers`` with the security headers that ``path`` calls for."""
    if is_admin_path(path):
        replaced = _ADMIN_NAMES
        kept = [(name, value) for name, value in headers if name.lower() not in replaced]
        return kept + list(PREVIEW_HEADERS if PREVIEW_PATH.match(path) else ADMIN_HEADERS)
    # Every answer passes here: the common case stays a scan and an append.
    kept = list(headers)
    present = {name.lower() for name, _ in kept}
    kept.extend((name, value) for name, value in DEFAULT_HEADERS if name not in present)
    return kept


def relative_location(location: bytes, own_origin: tuple[str, str]) -> bytes:
    """A redirect to this server as a path: Starlette builds the trailing-slash
    redirect (and ``url_for``) from the request's Host header, which the client
    chooses, so an absolute one could send a visitor to another site."""
    parts = urlsplit(location.decode("latin-1"))
    if (parts.scheme.lower(), parts.netloc.lower()) != own_origin:
        return location
    # One leading slash: "//host/..." would name another site again.
    path = "/" + parts.path.lstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{path}{query}{fragment}".encode("latin-1")


def _own_origin(scope: Scope) -> tuple[str, str]:
    """The scheme and host an absolute URL built from this request starts with."""
    url = URL(scope=scope)
    return url.scheme.lower(), url.netloc.lower()


def request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if REQUEST_ID_FORMAT.fullmatch(given):
                return given
            break
    return secrets.token_hex(8)


class SecurityHeaders:
    """Also gives every answer its request id (``X-Request-ID``), and, with
    ``LOG_FORMAT=json``, writes one log line per request; with ``METRICS=on``
    it counts and times every answer by route."""

    def __init__(
        self, app: ASGIApp, *, log_requests: bool = False, count_requests: bool = False
    ) -> None:
        self.app = app
        self.log_requests = log_requests
        self.count_requests = count_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        rid = request_id(scope)
        REQUEST_ID.set(rid)
        header = (b"x-request-id", rid.encode())
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = secured(message.get("headers", ()), path)
                headers.append(header)
                if 300 <= message["status"] < 400:
                    origin = _own_origin(scope)
                    headers = [
                        (name, relative_location(value, origin) if name == b"location" else value)
                        for name, value in headers
                    ]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.log_requests or self.count_requests:
                self._observe(scope, rid, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = route_template(scope)
        if self.log_requests:
            access_log.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
        if self.count_requests:
            metrics.request(scope["method"], route, status, seconds)
            state = scope["app"].state
            # slowapi's own flag for "storage unreachable, counting in memory".
            metrics.rate_limits_in_memory(bool(getattr(state.limiter, "_storage_dead", False)))
            pool = state.ctx.engine.pool
            size = getattr(pool, "size", None)
            metrics.pool(pool.checkedout(), size() if callable(size) else 0)


class HostCheck:
    """Starlette's TrustedHostMiddleware (a plain 400 for a Host not listed),
    except for the health check."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
        else:
            await self.checked(scope, receive, send)
