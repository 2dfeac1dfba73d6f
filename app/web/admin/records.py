"""The account's records: the recent ones with what became of each, filtered
by status and survey; cancelling a scheduled invitation after a confirmation
(its count goes back to the budget); the records refused this period, listed
and as CSV; and the form for one recipient."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.accounts import preferences
from app.accounts.preferences import Admin
from app.invitations import intake as record_intake
from app.invitations import record_status
from app.invitations import views as record_views
from app.platform import urls
from app.web import http
from app.web.admin.csrf import Form
from app.web.admin.render import (
    ctx,
    current_period,
    flash,
    formatter,
    language,
    redirect,
    render,
)
from app.web.problem import Problem


def _survey_param(request: Request, choices: list[record_views.SurveyChoice]) -> int | None:
    value = request.query_params.get("survey", "")
    known = {choice.id for choice in choices}
    return int(value) if value.isdigit() and len(value) < 10 and int(value) in known else None


def records_page(request: Request, admin: Admin) -> Response:
    context = ctx(request)
    choices = record_views.survey_choices(context.engine, admin.account_id)
    status = request.query_params.get("status", "")
    status = status if status in record_views.STATUSES else ""
    survey_id = _survey_param(request, choices)
    found = record_views.list_records(
        context.engine,
        admin.account_id,
        context.clock(),
        status=status or None,
        survey_id=survey_id,
        page=http.page_number(request),
    )

    def page_url(number: int) -> str:
        query: dict[str, str | int] = {"page": number}
        if status:
            query["status"] = status
        if survey_id is not None:
            query["survey"] = survey_id
        return f"?{urlencode(query)}"

    return render(
        request,
        admin,
        "records.html",
        nav="email",
        tab="records",
        found=found,
        choices=choices,
        statuses=record_views.STATUSES,
        chosen_status=status,
        survey_id=survey_id,
        filtered=bool(status or survey_id),
        page_url=page_url,
    )


# -- the period's refused records ------------------------------------------------


def refused_page(request: Request, admin: Admin) -> Response:
    found = record_views.list_refused(
        ctx(request).engine,
        admin.account_id,
        current_period(request),
        page=http.page_number(request),
    )
    return render(
        request,
        admin,
        "records_refused.html",
        nav="email",
        tab="refused",
        found=found,
        page_url=lambda number: f"?{urlencode({'page': number})}",
    )


def refused_download(request: Request, admin: Admin) -> Response:
    period = current_period(request)
    chunks = record_views.refused_csv(
        ctx(request).engine, admin.account_id, period, language(request, admin)
    )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="refused-records-{period}.csv"'},
    )


def _record(request: Request, admin: Admin) -> record_views.RecordRow:
    context = ctx(request)
    record_id = int(request.path_params["record_id"])
    found = record_views.find_record(context.engine, admin.account_id, record_id, context.clock())
    if found is None:
        # Another account's record answers exactly like one that does not exist.
        raise Problem(404, "no_such_record", "There is no such record in your account.")
    return found


def confirm_cancel(request: Request, admin: Admin) -> Response:
    return render(
        request,
        admin,
        "record_cancel.html",
        nav="email",
        tab="records",
        record=_record(request, admin),
        back=urls.admin("records"),
    )


def cancel(request: Request, admin: Admin, form: Form) -> Response:
    found = _record(request, admin)
    context = ctx(request)
    if record_status.cancel(context.engine, admin.account_id, found.id, context.clock()):
        flash(request, "records.cancelled", email=found.email)
    else:
        flash(request, "records.not_cancelled", email=found.email)
    return redirect(urls.admin("records"))


# -- one recipient by hand --------------------------------------------------------


def new_record_form(request: Request, admin: Admin) -> Response:
    choices = record_views.survey_choices(ctx(request).engine, admin.account_id)
    chosen = _survey_param(request, choices) or record_views.first_survey_id(choices)
    return _form_page(request, admin, record_intake.blank_entry(chosen), choices)


def _form_page(
    request: Request,
    admin: Admin,
    entry: record_intake.ManualEntry,
    choices: list[record_views.SurveyChoice],
    *,
    status: int = 200,
) -> Response:
    return render(
        request,
        admin,
        "record_new.html",
        status=status,
        nav="email",
        tab="new",
        entry=entry,
        choices=choices,
    )


def create_record(request: Request, admin: Admin, form: Form) -> Response:
    context = ctx(request)
    entry = record_intake.take_manual(
        context.engine, admin.account_id, form, admin.email, context.clock(), context.zone
    )
    outcome = entry.outcome
    if outcome is None:
        choices = record_views.survey_choices(context.engine, admin.account_id)
        return _form_page(request, admin, entry, choices, status=422)
    email = entry.fields["email"].strip()
    if outcome.accepted and outcome.send_at is not None:
        when = formatter(request, admin).datetime(outcome.send_at)
        flash(request, "records.manual.scheduled", email=email, when=when)
    elif outcome.code == "recently_surveyed":
        days = preferences.account_settings(context.engine, admin.account_id).min_interval_days
        flash(request, "records.manual.recently_surveyed", email=email, count=days)
    else:
        flash(request, f"records.manual.{outcome.code}", email=email)
    return redirect(urls.admin("records"))
