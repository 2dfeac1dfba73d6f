"""The dashboard: the month's budget, the last contact and feedback, the
forecast and the account's NPS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.results import charts
from app.results import dashboard as figures_of
from app.web.admin.render import ctx, render


def dashboard(request: Request, admin: Admin) -> Response:
    context = ctx(request)
    figures = figures_of.dashboard(context.engine, admin.account_id, context.clock(), context.zone)
    return render(
        request,
        admin,
        "dashboard.html",
        nav="dashboard",
        split=charts.split_bar(figures.nps.segments),
        **vars(figures),
    )
