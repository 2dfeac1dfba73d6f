"""The account's surveys: the list, the form to create or edit one (with the
snippet and link to use it), switching one on or off, and allowing an origin
its widget was refused on."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from app.accounts import preferences
from app.accounts.preferences import Admin
from app.answers import rewards
from app.budget import tariff_page
from app.editor import form as survey_form
from app.editor import store as admin_store
from app.inbox import failed
from app.inbox import items as inbox
from app.platform import i18n, urls
from app.surveys import model as surveys
from app.surveys import questions, scales
from app.surveys import texts as survey_texts
from app.surveys.model import Survey
from app.web.admin.csrf import Form
from app.web.admin.render import (
    ctx,
    current_period,
    flash,
    forget_widget_configs,
    no_such_survey,
    redirect,
    render,
)


def survey_list(request: Request, admin: Admin) -> Response:
    context = ctx(request)
    period = current_period(request)
    rows = admin_store.survey_overview(context.engine, admin.account_id, period)
    snippets = {row.survey.id: context.urls.snippet(row.survey.public_id) for row in rows}
    return render(
        request,
        admin,
        "surveys.html",
        nav="surveys",
        rows=rows,
        snippets=snippets,
        period=period,
        paused_until=tariff_page.paused_until(
            context.engine, admin.account_id, period, context.zone
        ),
    )


def new_survey_form(request: Request, admin: Admin) -> Response:
    # The kind comes first, on a step of its own: the form's default texts
    # and score ranges depend on it, and must be right without JavaScript.
    kind = request.query_params.get("kind", "")
    if kind not in scales.KINDS:
        return render(
            request,
            admin,
            "survey_kind.html",
            nav="surveys",
            kinds=scales.KINDS,
            defaults={item: _defaults(item) for item in scales.KINDS},
        )
    return _form_page(request, admin, survey_form.blank(kind), None)


def _defaults(kind: str) -> dict[str, dict[str, object]]:
    return {lang: survey_texts.texts_for(kind, {}, lang) for lang in i18n.LANGUAGES}


def create_survey(request: Request, admin: Admin, form: Form) -> Response:
    parsed = survey_form.parse(form)
    if not parsed.valid:
        return _form_page(request, admin, parsed, None, status=422)
    context = ctx(request)
    survey_id = admin_store.create_survey(
        context.engine, admin.account_id, parsed.values, context.clock()
    )
    forget_widget_configs(request)
    flash(request, "survey.created")
    return redirect(urls.admin(f"surveys/{survey_id}") + _part(form))


def _survey_id(request: Request) -> int:
    return int(request.path_params["survey_id"])


def _survey(request: Request, admin: Admin) -> Survey:
    survey = admin_store.get_survey(ctx(request).engine, admin.account_id, _survey_id(request))
    if survey is None:
        raise no_such_survey()
    return survey


def edit_survey_form(request: Request, admin: Admin) -> Response:
    survey = _survey(request, admin)
    return _form_page(request, admin, survey_form.from_survey(survey), survey)


def save_survey(request: Request, admin: Admin, form: Form) -> Response:
    survey = _survey(request, admin)
    parsed = survey_form.parse(form, kind=survey.kind, asked=survey.questions)
    if not parsed.valid:
        return _form_page(request, admin, parsed, survey, status=422)
    survey_id = _survey_id(request)
    context = ctx(request)
    if not admin_store.update_survey(
        context.engine, admin.account_id, survey_id, parsed.values, context.clock()
    ):
        raise no_such_survey()
    forget_widget_configs(request)
    flash(request, "survey.saved")
    return redirect(urls.admin(f"surveys/{survey_id}") + _part(form))


def _part(form: Form) -> str:
    # Back to the part the admin saved from; the failed submit's page shows
    # the first faulty part instead (admin.js).
    return survey_form.part_fragment(form.get("part", ""))


def set_active(request: Request, admin: Admin, form: Form) -> Response:
    survey_id = _survey_id(request)
    active = form.get("active") == "1"
    if not admin_store.set_active(ctx(request).engine, admin.account_id, survey_id, active):
        raise no_such_survey()
    forget_widget_configs(request)
    flash(request, "survey.activated" if active else "survey.deactivated")
    return redirect(urls.admin(f"surveys/{survey_id}"))


def allow_origin(request: Request, admin: Admin, form: Form) -> Response:
    """The dashboard's "Allow this origin": the origin a widget was refused
    on joins the survey's allowed origins."""
    survey = _survey(request, admin)
    origin = form.get("origin", "")
    try:
        allowed = admin_store.allow_origin(ctx(request).engine, admin.account_id, survey.id, origin)
    except surveys.SurveyError:
        # A value no refusal leaves (the dashboard offers only real origins)
        # or a full list: the survey's form is where origins are edited.
        flash(request, "origin.not_added", value=origin[:80])
        return redirect(urls.admin(f"surveys/{survey.id}"))
    if allowed is None:
        raise no_such_survey()
    forget_widget_configs(request)
    flash(request, "origin.allowed", origin=surveys.normalize_origin(origin), survey=survey.name)
    return redirect(urls.admin("dashboard"))


def _form_page(
    request: Request,
    admin: Admin,
    form: survey_form.SurveyForm,
    survey: Survey | None,
    *,
    status: int = 200,
) -> Response:
    kind = survey.kind if survey is not None else form.fields["kind"]
    kind = kind if kind in scales.KINDS else "nps"
    return render(
        request,
        admin,
        "survey_form.html",
        status=status,
        nav="surveys",
        form=form,
        survey=survey,
        kind=kind,
        kinds=scales.KINDS,
        languages=i18n.LANGUAGES,
        segments={item: scales.segments(item) for item in scales.KINDS},
        ranges={item: survey_form.score_ranges(item) for item in scales.KINDS},
        positions=surveys.POSITIONS,
        audiences=surveys.REVIEW_AUDIENCES,
        inbox_rules=inbox.RULES,
        reward_types=rewards.TYPES,
        pools=admin_store.pools(ctx(request).engine, admin.account_id, survey.id)
        if survey is not None
        else {},
        failed_alerts=failed.failed_alerts(
            ctx(request).engine, admin.account_id, survey.id, survey.alert_emails
        )
        if survey is not None
        else [],
        # Every kind's defaults, so that the page can follow a change of kind.
        defaults={item: _defaults(item) for item in scales.KINDS},
        limits=survey_form.LIMITS,
        email_delay_max=survey_form.EMAIL_DELAY_MAX,
        email_defaults=survey_form.email_defaults(
            preferences.account_settings(ctx(request).engine, admin.account_id).name
        ),
        long_question=survey_form.LONG_QUESTION,
        question_slots=survey_form.QUESTION_SLOTS,
        question_kinds=questions.KINDS,
        question_limits={
            "label": questions.LABEL_MAX,
            "option": questions.OPTION_MAX,
            "options": questions.MAX_OPTIONS,
            "picks": questions.MAX_PICKS,
        },
        embed=_embed(request, survey) if survey is not None else None,
        paused_until=tariff_page.paused_until(
            ctx(request).engine, admin.account_id, current_period(request), ctx(request).zone
        )
        if survey is not None
        else None,
    )


@dataclass(frozen=True)
class Embed:
    snippet: str
    sri_snippet: str | None
    link_url: str
    test_snippet: str
    test_link_url: str


def _embed(request: Request, survey: Survey) -> Embed:
    links = ctx(request).urls
    widget = getattr(request.app.state, "widget", None)
    sri = links.snippet(survey.public_id, widget) if widget is not None else None
    return Embed(
        links.snippet(survey.public_id),
        sri,
        links.link(survey.public_id),
        links.test_snippet(survey.public_id),
        links.test_link(survey.public_id),
    )
