"""Cross-site request forgery protection for the admin's forms, as ASGI
middleware in front of every route that takes a form.

A form may change something only when it comes from this site: the browser's
Sec-Fetch-Site and Origin headers must not name another site, and the form
must carry the token kept in this browser's session (so the session
middleware must run outside this one). The form is read once, size-capped,
and handed on in ``scope["state"]``; the body is replayed to the inner app
as it was received, so nothing behind finds it consumed.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, MutableMapping
from typing import Any

from starlette.datastructures import URL, Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web import http
from app.web.problem import Problem

Form = dict[str, str]
SESSION_KEY = "csrf"
FIELD = "csrf_token"
STATE_KEY = "checked_form"
FORM_LIMIT = 64 * 1024
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
SAFE_SITES = {"same-origin", "none"}  # "none": typed in or bookmarked


class CSRFMiddleware:
    """Refuses a form from another site or without the session's token (403),
    or larger than ``limit`` (413); lets safe methods through untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Iterable[str],
        limit: int = FORM_LIMIT,
        reads_form: bool = True,
    ) -> None:
        self.app = app
        self.origins = {origin_of(origin) for origin in origins}
        self.limit = limit
        # False for a multipart upload: its handler reads the (large) body
        # itself and must call ``check_token`` before it takes anything.
        self.reads_form = reads_form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        # Another site's request is refused before its body is read.
        check_site(scope, self.origins)
        if not self.reads_form:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        form = await http.read_form(Request(scope, recording), self.limit)
        check_token(scope.get("session", {}), form)
        scope.setdefault("state", {})[STATE_KEY] = form

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


def checked_form(request: Request) -> Form:
    """The form the middleware read and checked for this request."""
    form = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(form, dict):
        # A route that takes a form without the middleware in front: a bug.
        raise RuntimeError(f"{request.url.path} takes a form without the CSRF check")
    return form


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token(session: MutableMapping[str, Any]) -> str:
    """The session's token for the forms of a page, made on first use."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, str):
        value = session[SESSION_KEY] = new_token()
    return value


def origin_of(url: str) -> str:
    parts = URL(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_site(scope: Scope, origins: Iterable[str]) -> None:
    """Refuse a request another site's page made; ``origins`` are the site's
    public ones, besides the one the request itself was sent to."""
    headers = Headers(scope=scope)
    own = {*origins, origin_of(str(URL(scope=scope)))}
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if (site is not None and site not in SAFE_SITES) or (
        origin is not None and origin.lower() not in own
    ):
        raise Problem(403, "cross_site", "This form can only be sent from this site.")


def check_token(session: MutableMapping[str, Any], form: Form) -> None:
    expected = session.get(SESSION_KEY)
    sent = form.get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Problem(
            403,
            "csrf_failed",
            "The form was outdated or not sent from this site. Please go back, reload "
            "the page and try again.",
        )
