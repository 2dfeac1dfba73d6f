"""Deleting a response or a survey: a confirmation page, then the POST that
deletes. Counted answers stay counted, which both pages say."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.platform import urls
from app.privacy import deletions
from app.web.admin.csrf import Form
from app.web.admin.render import (
    ctx,
    flash,
    forget_widget_configs,
    no_such_survey,
    redirect,
    render,
)
from app.web.problem import Problem


def _ids(request: Request) -> tuple[int, int]:
    return int(request.path_params["survey_id"]), int(request.path_params.get("response_id", 0))


def _no_such_response() -> Problem:
    # Another account's response answers exactly like one that does not exist.
    return Problem(404, "not_found", "There is no such response in your account.")


def _response(request: Request, admin: Admin) -> deletions.StoredResponse:
    survey_id, response_id = _ids(request)
    found = deletions.find_response(ctx(request).engine, admin.account_id, survey_id, response_id)
    if found is None:
        raise _no_such_response()
    return found


def confirm_delete_response(request: Request, admin: Admin) -> Response:
    found = _response(request, admin)
    return render(
        request,
        admin,
        "delete_response.html",
        nav="surveys",
        survey=found.survey,
        response=found,
        segments=found.survey.scale.segments,
        back=urls.admin(f"surveys/{found.survey.id}/results", period=found.period),
    )


def delete_response(request: Request, admin: Admin, form: Form) -> Response:
    found = _response(request, admin)
    survey_id, response_id = _ids(request)
    if not deletions.delete_response(ctx(request).engine, admin.account_id, survey_id, response_id):
        raise _no_such_response()
    flash(request, "response.deleted")
    return redirect(urls.admin(f"surveys/{survey_id}/results", period=found.period))


def confirm_delete_survey(request: Request, admin: Admin) -> Response:
    survey_id, _ = _ids(request)
    found = deletions.survey_contents(ctx(request).engine, admin.account_id, survey_id)
    if found is None:
        raise no_such_survey()
    return render(
        request,
        admin,
        "delete_survey.html",
        nav="surveys",
        survey=found.survey,
        contents=found,
        back=urls.admin(f"surveys/{survey_id}"),
    )


def delete_survey(request: Request, admin: Admin, form: Form) -> Response:
    survey_id, _ = _ids(request)
    engine = ctx(request).engine
    found = deletions.survey_contents(engine, admin.account_id, survey_id)
    if found is None or not deletions.delete_survey(engine, admin.account_id, survey_id):
        raise no_such_survey()
    # This worker's widget configs and links answer 404 at once.
    forget_widget_configs(request)
    flash(request, "survey.deleted", name=found.survey.name)
    return redirect(urls.admin("surveys"))
