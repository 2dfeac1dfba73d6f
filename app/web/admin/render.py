"""What the admin's page modules share: the context, the admin's language,
templates with their helpers, flash notices and redirects."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.accounts.preferences import Admin
from app.budget import rule as budget
from app.inbox import items as inbox
from app.platform import i18n
from app.web import http
from app.web.admin import csrf
from app.web.context import Context
from app.web.problem import Problem


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def redirect(path: str, status: int = 303) -> Response:
    return RedirectResponse(path, status_code=status)


def current_period(request: Request) -> str:
    context = ctx(request)
    return budget.period_of(context.clock(), context.zone)


def no_such_survey() -> Problem:
    # Another account's survey answers exactly like one that does not exist.
    return Problem(404, "no_such_survey", "There is no such survey in your account.")


def forget_widget_configs(request: Request) -> None:
    """After a write to a survey or the tariff: this worker's widget configs
    show it at once, other workers' within their cache's second."""
    ctx(request).cache.clear()


def language(request: Request, admin: Admin | None) -> str:
    if admin is not None and admin.language in i18n.LANGUAGES:
        return admin.language
    accept = request.headers.get("accept-language")
    return http.negotiate(accept, i18n.LANGUAGES) or i18n.DEFAULT


def formatter(request: Request, admin: Admin | None) -> i18n.Formatter:
    return i18n.Formatter(language(request, admin), ctx(request).zone)


def flash(request: Request, key: str, **params: Any) -> None:
    """A notice for the next page this browser sees (after a redirect)."""
    request.session["flash"] = [key, {name: str(value) for name, value in params.items()}]


def render(
    request: Request,
    admin: Admin | None,
    template: str,
    *,
    status: int = 200,
    nav: str = "",
    **context: Any,
) -> Response:
    lang = language(request, admin)
    translate = i18n.translator(lang)
    flashed = request.session.pop("flash", None)
    notice = None
    if isinstance(flashed, list) and len(flashed) == 2:
        notice = translate(str(flashed[0]), **dict(flashed[1]))
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        f"admin/{template}",
        {
            "lang": lang,
            "_": translate,
            "fmt": i18n.Formatter(lang, ctx(request).zone),
            "admin": admin,
            "csrf_token": csrf.token(request.session),
            "notice": notice,
            "nav": nav,
            # The menu's open count, on every page an admin sees.
            "inbox_open": inbox.open_count(ctx(request).engine, admin.account_id)
            if admin is not None
            else 0,
            "asset": http.asset_url,
            **context,
        },
        status_code=status,
    )
    return response
