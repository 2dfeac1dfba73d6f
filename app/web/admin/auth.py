"""Who is logged in: the signed session cookie (with key rotation), the
session row behind it, login, logout and "log out everywhere".

The cookie exists only under /admin and carries the secret of a session row
(app/accounts/sessions.py), which every request checks: logout, "log out
everywhere" and a password change end sessions on the server.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

import itsdangerous
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from app.accounts import sessions as admin_sessions
from app.accounts.preferences import Admin
from app.platform import urls
from app.platform.settings import Settings
from app.web.admin import csrf
from app.web.admin.render import ctx, flash, redirect, render

SESSION_COOKIE = "nps_beacon_admin"

Page = Callable[[Request, Admin], Response]
FormPage = Callable[[Request, Admin, csrf.Form], Response]
Endpoint = Callable[[Request], Response]


def session_middleware(settings: Settings) -> Middleware:
    return Middleware(
        RotatingSessionMiddleware,
        secret_keys=derived_keys(settings, "admin-session"),
        session_cookie=SESSION_COOKIE,
        max_age=admin_sessions.MAX_AGE,
        path=urls.ADMIN,
        same_site="lax",
        https_only=settings.session_https_only,
    )


def derived_keys(settings: Settings, purpose: str) -> list[str]:
    """One key per purpose from each secret, first key first, so a value made
    for one purpose is worthless for another."""
    return [
        hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()
        for key in settings.secret_keys
    ]


class RotatingSessionMiddleware(SessionMiddleware):
    """Starlette's signed session cookie, signed with the key derived from the
    first of SECRET_KEYS and verified with those of all of them: rotating the
    keys keeps admins logged in for as long as their key is still listed."""

    def __init__(self, app: ASGIApp, /, *, secret_keys: Sequence[str], **options: Any) -> None:
        super().__init__(app, secret_key=secret_keys[0], **options)
        # itsdangerous signs with the last key of the list and verifies with all.
        self.signer = itsdangerous.TimestampSigner(list(reversed(secret_keys)))


def session_secret(request: Request) -> str | None:
    secret = request.session.get("sid")
    return secret if isinstance(secret, str) else None


def current_admin(request: Request) -> Admin | None:
    """The admin of this session, if its row is still there and has not
    expired; a cookie whose session has ended is dropped from the browser."""
    secret = session_secret(request)
    if secret is None:
        return None
    context = ctx(request)
    admin = admin_sessions.admin_of(context.engine, secret, context.clock())
    if admin is None:
        request.session.clear()
    else:
        # Error pages have no admin at hand: they read the language here.
        request.session["lang"] = admin.language or ""
    return admin


# Plain functions, which Starlette runs in the thread pool (database, argon2).


def admin_page(handler: Page) -> Endpoint:
    """A page for a logged-in admin; others are sent to the login."""

    @wraps(handler)
    def endpoint(request: Request) -> Response:
        admin = current_admin(request)
        return handler(request, admin) if admin else redirect(urls.admin("login"))

    return endpoint


def admin_form(handler: FormPage) -> Endpoint:
    """A form a logged-in admin sends, which ``csrf.CSRFMiddleware`` checked."""

    @wraps(handler)
    def endpoint(request: Request) -> Response:
        form = csrf.checked_form(request)
        admin = current_admin(request)
        return handler(request, admin, form) if admin else redirect(urls.admin("login"))

    return endpoint


# -- login and logout ------------------------------------------------------


def start(request: Request) -> Response:
    logged_in = session_secret(request) is not None
    return redirect(urls.admin("dashboard") if logged_in else urls.admin("login"))


def login_form(request: Request) -> Response:
    if current_admin(request) is not None:
        return redirect(urls.admin("dashboard"))
    return render(request, None, "login.html", email="", error=None)


def login_submit(request: Request) -> Response:
    form = csrf.checked_form(request)
    email, password = form.get("email", "")[:254], form.get("password", "")[:1024]
    context = ctx(request)
    secret = admin_sessions.log_in(
        context.engine, email, password, context.clock(), replacing=session_secret(request)
    )
    if secret is None:
        # One message whether the email is unknown or the password wrong.
        return render(request, None, "login.html", status=400, email=email, error="login.failed")
    # A fresh session (and CSRF token) at login: nothing planted before carries over.
    request.session.clear()
    request.session.update({"sid": secret, csrf.SESSION_KEY: csrf.new_token()})
    return redirect(urls.admin("dashboard"))


def logout(request: Request, admin: Admin, form: csrf.Form) -> Response:
    secret = session_secret(request)
    if secret is not None:
        admin_sessions.end_session(ctx(request).engine, secret)
    request.session.clear()
    return redirect(urls.admin("login"))


def logout_everywhere(request: Request, admin: Admin, form: csrf.Form) -> Response:
    admin_sessions.end_all(ctx(request).engine, admin.id)
    request.session.clear()
    flash(request, "sessions.ended_everywhere")
    return redirect(urls.admin("login"))
