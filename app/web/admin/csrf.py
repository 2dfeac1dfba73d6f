"""Cross-site request forgery protection for the admin's forms.

A form may change something only when it comes from this site: the browser's
Sec-Fetch-Site and Origin headers must not name another site, and the form
must carry the token kept in this browser's session.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, MutableMapping
from typing import Any

from starlette.datastructures import URL, Headers
from starlette.types import Scope

from app.web.errors import Problem

Form = dict[str, str]
SESSION_KEY = "csrf"
FIELD = "csrf_token"
SAFE_SITES = {"same-origin", "none"}  # "none": typed in or bookmarked


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
