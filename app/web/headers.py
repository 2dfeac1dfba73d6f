"""Security headers on every answer, kept in this one place.

``SecurityHeaders`` wraps the whole application, Starlette's
ServerErrorMiddleware included (see ``app.main``), so 500s, the router's
404/405s, static files and redirects carry the headers as pages do.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/admin"
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
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


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def secured(headers: Iterable[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """``headers`` with the security headers that ``path`` calls for."""
    forced = ADMIN_HEADERS if is_admin_path(path) else ()
    replaced = {name for name, _ in forced}
    kept = [(name, value) for name, value in headers if name.lower() not in replaced]
    present = {name.lower() for name, _ in kept} | replaced
    return (
        kept
        + list(forced)
        + [(name, value) for name, value in DEFAULT_HEADERS if name not in present]
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secured(message.get("headers", ()), path)
            await send(message)

        await self.app(scope, receive, send_with_headers)
