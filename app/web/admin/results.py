"""A survey's results of one month (figures, daily trend, comments) and
their CSV export."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.accounts.preferences import Admin
from app.platform import urls
from app.results import charts, dashboard
from app.results import export as csv_export
from app.web import http
from app.web.admin.render import ctx, current_period, language, no_such_survey, render
from app.web.problem import Problem


def results(request: Request, admin: Admin) -> Response:
    context = ctx(request)
    survey_id = int(request.path_params["survey_id"])
    current = current_period(request)
    period = http.period_param(request, current)
    found = dashboard.results(
        context.engine,
        admin.account_id,
        survey_id,
        period,
        segment=request.query_params.get("segment") or None,
        page=http.page_number(request),
        zone=context.zone,
        language=language(request, admin),
    )
    if found is None:
        raise no_such_survey()
    kind, segment = found.survey.kind, found.segment

    def page_url(number: int) -> str:
        query = {"period": period, "page": number, **({"segment": segment} if segment else {})}
        return f"?{urlencode(query)}"

    return render(
        request,
        admin,
        "results.html",
        nav="surveys",
        survey=found.survey,
        kind=kind,
        period=period,
        periods=sorted({*found.periods, current, period}, reverse=True),
        summary=found.summary,
        split=charts.split_bar(found.summary.segments),
        chart=charts.trend_chart(kind, found.trend),
        comments=found.comments,
        review=found.review,
        follow_ups=found.follow_ups,
        answers=found.answers,
        segment=segment,
        segments=found.survey.scale.segments,
        page_url=page_url,
        export_action=urls.admin(f"surveys/{survey_id}/export.csv"),
        export_months=csv_export.MAX_MONTHS,
    )


def export(request: Request, admin: Admin) -> Response:
    """The months ``from`` to ``to``; ``period`` (one month) as before."""
    survey_id = int(request.path_params["survey_id"])
    current = current_period(request)
    period = http.period_param(request, current)
    query = request.query_params
    first = http.period_param(request, current, "from") if "from" in query else period
    last = http.period_param(request, current, "to") if "to" in query else period
    try:
        found = csv_export.export(ctx(request).engine, admin.account_id, survey_id, first, last)
    except csv_export.BadRange as exc:
        raise Problem(400, "invalid_range", str(exc)) from None
    except csv_export.NotFound:
        raise no_such_survey() from None
    return StreamingResponse(
        found.chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )
