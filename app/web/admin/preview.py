"""The survey editor's live preview: a page, framed (sandboxed) beside the
form, that runs the real widget script on the unsaved form's values.

The form's fields come in the query, so the frame reloads with a plain GET;
the page signs them into a preview key (``app.preview``) and the widget
fetches its config with that key like any other. Nothing is stored."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.editor import form as survey_form
from app.editor import preview
from app.editor import store as admin_store
from app.platform import i18n
from app.web.admin.render import ctx, language, no_such_survey, render


def new_survey_preview(request: Request, admin: Admin) -> Response:
    form = survey_form.parse(request.query_params)
    return _page(request, admin, form)


def survey_preview(request: Request, admin: Admin) -> Response:
    # Scoped to the account: another account's survey is "not found".
    survey = admin_store.get_survey(
        ctx(request).engine, admin.account_id, int(request.path_params["survey_id"])
    )
    if survey is None:
        raise no_such_survey()
    form = survey_form.parse(request.query_params, kind=survey.kind, asked=survey.questions)
    return _page(request, admin, form)


def _page(request: Request, admin: Admin, form: survey_form.SurveyForm) -> Response:
    # A survey in "auto" is previewed in the admin's own language.
    wanted = request.query_params.get("lang") or language(request, admin)
    if wanted not in i18n.LANGUAGES:
        wanted = language(request, admin)
    payload = preview.config(form, admin.account_id, wanted)
    stage = preview.stage(payload["survey"]["kind"], request.query_params.get("stage"))
    return render(
        request,
        admin,
        "preview.html",
        key=ctx(request).signer.preview_key(payload),
        stage=stage,
    )
