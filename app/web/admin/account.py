"""The admin's own account: the password, the language of the pages and the
name the admin's replies are signed with; and the account's name, the display
name of its messages and its minimum interval between two e-mail invitations
of one recipient."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts import accounts, preferences
from app.accounts import sessions as admin_sessions
from app.accounts.preferences import Admin
from app.platform import compose, i18n, urls
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, language, redirect, render
from app.web.problem import Problem

PASSWORD_MAX = 1024
NAME_FIELDS = ("account_name", "sender_name", "admin_name")
NAME_INPUT_MAX = 2000  # read no further: far over any name's limit, still counted in the error


def account_page(request: Request, admin: Admin) -> Response:
    return _page(request, admin)


def _page(
    request: Request,
    admin: Admin,
    *,
    error: str | None = None,
    interval_error: bool = False,
    interval: str | None = None,
    names: dict[str, str] | None = None,
    name_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings = preferences.account_settings(ctx(request).engine, admin.account_id, admin.id)
    if names is None:
        names = {
            "account_name": settings.name,
            "sender_name": settings.sender_name or "",
            "admin_name": settings.admin_name or "",
        }
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
        names=names,
        name_errors=name_errors or {},
        name_limits={
            "account_name": accounts.ACCOUNT_NAME_MAX,
            "sender_name": accounts.SENDER_NAME_MAX,
            "admin_name": accounts.SENDER_NAME_MAX,
        },
        # Messages go out from MAIL_FROM's address; only the name is the account's.
        sender_address=compose.from_address(ctx(request).settings.mail_from).addr_spec,
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
    preferences.set_language(ctx(request).engine, admin.id, language or None)
    flash(request, "language.saved")
    return redirect(urls.admin("account"))


def change_min_interval(request: Request, admin: Admin, form: Form) -> Response:
    value = form.get("min_interval_days", "").strip()[:20]
    days = int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else -1
    try:
        preferences.set_min_interval(ctx(request).engine, admin.account_id, days)
    except accounts.AccountError:
        return _page(request, admin, interval_error=True, interval=value, status=422)
    flash(request, "min_interval.saved" if days else "min_interval.off", count=days)
    return redirect(urls.admin("account"))


def change_names(request: Request, admin: Admin, form: Form) -> Response:
    """The account's name and sender name and the admin's own name, saved
    together once all three are fit for a header."""
    names = {key: form.get(key, "")[:NAME_INPUT_MAX] for key in NAME_FIELDS}
    limits = {"account_name": accounts.ACCOUNT_NAME_MAX}
    errors: dict[str, str] = {}
    for key, value in names.items():
        limit = limits.get(key, accounts.SENDER_NAME_MAX)
        try:
            accounts.clean_name(value, limit, required=key == "account_name")
        except accounts.NameRefused as refused:
            errors[key] = i18n.translate(language(request, admin), refused.key, **refused.params)
    if errors:
        return _page(request, admin, names=names, name_errors=errors, status=422)
    engine = ctx(request).engine
    preferences.set_names(engine, admin.account_id, names["account_name"], names["sender_name"])
    preferences.set_admin_name(engine, admin.account_id, admin.id, names["admin_name"])
    flash(request, "names.saved")
    return redirect(urls.admin("account"))
