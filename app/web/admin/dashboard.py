"""The dashboard: the month's budget, the last contact and feedback, the
forecast and the account's NPS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app import admin_store, charts
from app.accounts.preferences import Admin
from app.web.admin.render import ctx, render


def dashboard(request: Request, admin: Admin) -> Response:
    context = ctx(request)
    figures = admin_store.dashboard(context.engine, admin.account_id, context.clock(), context.zone)
    return render(
        request,
        admin,
        "dashboard.html",
        nav="dashboard",
        split=charts.split_bar(figures.nps.segments),
        **vars(figures),
    )
