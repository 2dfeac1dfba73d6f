"""The admin's own account: the password and the language of the pages; and
the account's minimum interval between two e-mail invitations of one recipient."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app import accounts, admin_sessions, admin_store, i18n, urls
from app.admin_store import Admin
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, redirect, render
from app.web.errors import Problem

PASSWORD_MAX = 1024


def account_page(request: Request, admin: Admin) -> Response:
    return _page(request, admin)


def _page(
    request: Request,
    admin: Admin,
    *,
    error: str | None = None,
    interval_error: bool = False,
    interval: str | None = None,
    status: int = 200,
) -> Response:
    settings = admin_store.account_settings(ctx(request).engine, admin.account_id)
    return render(
        request,
        admin,
        "account.html",
        status=status,
        nav="account",
        tab="settings",
        error=error,
        languages=i18n.LANGUAGES,
        password_min=accounts.PASSWORD_MIN,
        interval=str(settings.min_interval_days) if interval is None else interval,
        interval_error=interval_error,
        interval_max=accounts.MIN_INTERVAL_MAX,
        interval_default=accounts.MIN_INTERVAL_DEFAULT,
    )


def change_password(request: Request, admin: Admin, form: Form) -> Response:
    current, new = form.get("current_password", ""), form.get("new_password", "")
    if new != form.get("repeat_password", ""):
        return _page(request, admin, error="password.mismatch", status=422)
    if len(new) < accounts.PASSWORD_MIN or len(new) > PASSWORD_MAX:
        return _page(request, admin, error="password.too_short", status=422)
    context = ctx(request)
    secret = admin_sessions.change_password(
        context.engine, admin, current[:PASSWORD_MAX], new, context.clock()
    )
    if secret is None:
        return _page(request, admin, error="password.wrong", status=422)
    # This browser stays logged in under a new secret; every other session,
    # and any copy of this one's old cookie, has ended.
    request.session["sid"] = secret
    flash(request, "password.changed")
    return redirect(urls.admin("account"))


def change_language(request: Request, admin: Admin, form: Form) -> Response:
    language = form.get("language", "")
    if language not in (*i18n.LANGUAGES, ""):
        raise Problem(400, "invalid_language", "Unsupported language.")
    admin_store.set_language(ctx(request).engine, admin.id, language or None)
    flash(request, "language.saved")
    return redirect(urls.admin("account"))


def change_min_interval(request: Request, admin: Admin, form: Form) -> Response:
    value = form.get("min_interval_days", "").strip()[:20]
    days = int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else -1
    try:
        admin_store.set_min_interval(ctx(request).engine, admin.account_id, days)
    except accounts.AccountError:
        return _page(request, admin, interval_error=True, interval=value, status=422)
    flash(request, "min_interval.saved" if days else "min_interval.off", count=days)
    return redirect(urls.admin("account"))
