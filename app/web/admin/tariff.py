"""The tariff page: the tariff in force, a downgrade waiting for next month,
and changing either."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.budget import tariff_page as tariffs
from app.budget.tariffs import UnknownTariff
from app.platform import urls
from app.web.admin.csrf import Form
from app.web.admin.render import (
    ctx,
    current_period,
    flash,
    forget_widget_configs,
    formatter,
    redirect,
    render,
)
from app.web.problem import Problem


def tariff_page(request: Request, admin: Admin) -> Response:
    page = tariffs.tariff_page(ctx(request).engine, admin.account_id, current_period(request))
    return render(request, admin, "tariff.html", nav="tariff", **vars(page))


def confirm_page(request: Request, admin: Admin) -> Response:
    """What a change would do and from when, before the POST applies it; a
    page of its own so that it works without JavaScript."""
    context = ctx(request)
    code = request.query_params.get("code", "")
    try:
        preview = tariffs.tariff_preview(
            context.engine, admin.account_id, code, current_period(request), context.zone
        )
    except UnknownTariff:
        raise _unknown() from None
    return render(request, admin, "tariff_confirm.html", nav="tariff", preview=preview)


def _unknown() -> Problem:
    return Problem(400, "unknown_tariff", "There is no such tariff.")


def change_tariff(request: Request, admin: Admin, form: Form) -> Response:
    code = form.get("code", "")
    engine = ctx(request).engine
    try:
        change = tariffs.change_tariff(engine, admin.account_id, code, current_period(request))
    except UnknownTariff:
        raise _unknown() from None
    forget_widget_configs(request)
    after = change.after
    if after.pending_code == code and after.pending_from:
        period = formatter(request, admin).period(after.pending_from)
        flash(request, "tariff.downgrade_scheduled", tariff=change.name, period=period)
    elif after.code != change.before.code:
        flash(request, "tariff.upgraded", tariff=change.name)
    else:
        flash(request, "tariff.unchanged", tariff=change.name)
    return redirect(urls.admin("tariff"))


def cancel_downgrade(request: Request, admin: Admin, form: Form) -> Response:
    tariffs.cancel_pending(ctx(request).engine, admin.account_id)
    forget_widget_configs(request)
    flash(request, "tariff.cancelled")
    return redirect(urls.admin("tariff"))
