"""Errors as RFC 9457 problem+json for the API and readable pages for people."""

from __future__ import annotations

import logging
import math
import time
from http import HTTPStatus
from typing import Any

from slowapi.errors import RateLimitExceeded
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope

from app.platform import i18n, metrics, urls
from app.platform.logs import REQUEST_ID
from app.web.problem import PROBLEM_TYPE, Problem

log = logging.getLogger("nps_beacon")


def route_template(scope: Scope) -> str:
    """The matched route's path with its parameters as names (never the
    values: keys and tokens stay out of logs and metrics)."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    return mounted + str(getattr(route, "path", ""))


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    request_id = REQUEST_ID.get()
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "text/html" not in accept and "json" in accept


def _under_admin(path: str) -> bool:
    return path == urls.ADMIN or path.startswith(urls.ADMIN + "/")


def page_language(request: Request) -> str:
    """Under /admin the admin's own language (the admin pages keep it in the
    session), else the one the browser asks for."""
    if _under_admin(request.url.path):
        session = request.scope.get("session")
        chosen = session.get("lang") if isinstance(session, dict) else None
        if chosen in i18n.LANGUAGES:
            return str(chosen)
    # Imported here: ``http`` imports this module for Problem.
    from app.web import http

    accept = request.headers.get("accept-language")
    return http.negotiate(accept, i18n.LANGUAGES) or i18n.DEFAULT


def page_words(language: str, status: int, code: str, detail: str) -> tuple[str, str]:
    """A page's title (the catalogue's words for the status) and text. The
    problem's detail is English and may name specifics (a month, a limit), so
    English pages show it; other languages take the catalogue's words for the
    code, or a general request to go back and try again."""
    title = i18n.lookup(language, f"problem.status.{status}") or i18n.translate(
        language, "problem.status.other"
    )
    if language == "en":
        return title, detail
    return title, i18n.lookup(language, f"problem.{code}") or i18n.translate(
        language, "problem.other"
    )


def page(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    language = page_language(request)
    title, text = page_words(language, status, code, detail)
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return HTMLResponse(f"<h1>{title}</h1>", status_code=status, headers=headers)
    path = request.url.path
    if _under_admin(path):
        back: tuple[str, str] | None = (urls.admin(), "problem.back_admin")
    else:
        back = ("/", "problem.back_home") if path != "/" else None
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "lang": language,
            "title": title,
            "message": text,
            "back": back and (back[0], i18n.translate(language, back[1])),
        },
        status_code=status,
        headers=headers,
    )


def _respond(
    request: Request,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    if wants_json(request):
        return problem(status, code, detail, headers=headers, **extra)
    return page(request, status, code, detail, headers)


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _respond(request, exc.status, exc.code, exc.detail, exc.headers, **exc.extra)


_PLAIN_WORDS = {
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
}


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown routes), in the same problem format."""
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_")
    detail = exc.detail
    if detail == phrase:
        detail = _PLAIN_WORDS.get(exc.status_code, detail)
    return _respond(request, exc.status_code, code, detail, dict(exc.headers or {}))


async def on_database_error(request: Request, exc: Exception) -> Response:
    # The message may carry connection details: log the class, not the text.
    log.error("database unavailable: %s", type(exc).__name__)
    return _respond(
        request,
        503,
        "service_unavailable",
        "The service cannot reach its database right now. Please try again.",
        {"Retry-After": "5"},
    )


async def on_rate_limited(request: Request, exc: Exception) -> Response:
    metrics.rate_limited(route_template(request.scope))
    retry_after = 60
    current = getattr(request.state, "view_rate_limit", None)
    limiter = getattr(request.app.state, "limiter", None)
    if current is not None and limiter is not None:
        try:
            reset, _remaining = limiter.limiter.get_window_stats(current[0], *current[1])
            retry_after = max(1, math.ceil(reset - time.time()))
        except Exception:  # storage trouble: keep the conservative default
            log.warning("rate limit storage unavailable for Retry-After")
    # A limit may say whose window is full (an API key's); else it is the address's.
    custom = getattr(getattr(exc, "limit", None), "error_message", None)
    detail = "Too many requests from your address. Please wait and try again."
    if isinstance(custom, str):
        detail = custom
    return _respond(request, 429, "rate_limited", detail, {"Retry-After": str(retry_after)})


async def on_server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(request, 500, "internal_error", "Something went wrong on our side.")


HANDLERS: dict[Any, Any] = {
    Problem: on_problem,
    HTTPException: on_http_exception,
    # Unreachable, locked or restarting databases; a ProgrammingError is a bug (500).
    OperationalError: on_database_error,
    InterfaceError: on_database_error,
    RateLimitExceeded: on_rate_limited,
    Exception: on_server_error,
}
