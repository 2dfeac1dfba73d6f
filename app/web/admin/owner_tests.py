"""A survey's test answers, given through its test key: listed apart from
the results, and cleared by the owner."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.answers import owner_tests
from app.platform import urls
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, no_such_survey, redirect, render


def _survey_id(request: Request) -> int:
    return int(request.path_params["survey_id"])


def test_answers(request: Request, admin: Admin) -> Response:
    found = owner_tests.for_survey(ctx(request).engine, admin.account_id, _survey_id(request))
    if found is None:
        raise no_such_survey()
    return render(
        request,
        admin,
        "test_answers.html",
        nav="surveys",
        survey=found.survey,
        tests=found,
        shown=owner_tests.SHOWN,
    )


def clear_test_answers(request: Request, admin: Admin, form: Form) -> Response:
    survey_id = _survey_id(request)
    count = owner_tests.clear(ctx(request).engine, admin.account_id, survey_id)
    if count is None:
        raise no_such_survey()
    flash(request, "tests.deleted", count=count)
    return redirect(urls.admin(f"surveys/{survey_id}/test-answers"))
