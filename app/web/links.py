"""Link surveys: /s/{link_key} pages that work without JavaScript.

A GET only shows the form (mail scanners follow links, so it never counts);
the form's POST counts once through the same budget rule as the API, then
redirects to a thank-you page where a comment can be attached for free.
Opened with ``?score=N``, the page's script sends that POST by itself (a
click on a score is the answer), and the form stays for browsers without
script. The browser keeps the display it answered with in a cookie for
``score_changes.WINDOW``: another score from it changes that answer instead
of counting a second one. Every answer but the form and the thank-you page
is a :class:`Notice`, a problem shown as a page in the visitor's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.answers import follow_ups as answers
from app.answers import responses, score_changes
from app.budget import rule as budget
from app.platform import i18n, text, urls
from app.platform.signing import Display, ExpiredToken, InvalidToken, SurveyKey
from app.surveys import questions
from app.surveys import texts as survey_texts
from app.surveys.model import Offer, Survey
from app.web import http
from app.web.context import Context
from app.web.problem import Problem

CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    # Every render carries a fresh display token: never serve one from a cache.
    "Cache-Control": "no-store",
    "Vary": "Accept-Language",
    "X-Robots-Tag": "noindex",
}
# A 2,000 character comment percent-encoded as UTF-8 stays well below this.
FORM_LIMIT = 32 * 1024

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def routes(submit_limit: Decorator | None = None) -> list[BaseRoute]:
    """``submit_limit`` throttles the POSTs per client address like the API's
    submissions, so a link is no unthrottled way to spend an account's budget."""
    limited = submit_limit or (lambda endpoint: endpoint)
    return [
        Route("/s/{link_key}", show_survey, methods=["GET"]),
        Route("/s/{link_key}", limited(submit_score), methods=["POST"]),
        Route("/s/{link_key}/thanks", show_thanks, methods=["GET"]),
        Route("/s/{link_key}/comment", limited(submit_comment), methods=["POST"]),
    ]


class Notice(Problem):
    """A link page's refusal or message, shown as a page in the visitor's
    language (``on_notice``) rather than as problem+json."""

    def __init__(
        self, lang: str, status: int, title: str, text: str, *, link: tuple[str, str] | None = None
    ) -> None:
        super().__init__(status, title, i18n.translate("en", f"link.{text}"))
        self.lang, self.title, self.text, self.link = lang, title, text, link


def on_notice(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Notice)
    return _render(
        request, "message.html", exc.lang, exc.status, title=exc.title, text=exc.text, link=exc.link
    )


HANDLERS: dict[Any, Any] = {Notice: on_notice}


# -- handlers --------------------------------------------------------------


async def show_survey(request: Request) -> Response:
    visit = await _visit(request)
    _refuse_if_closed(visit, "closed_text", 200)
    selected = visit.survey.scale.parse(request.query_params.get("score"))
    return _survey_form(visit, selected=selected, autosave=selected is not None)


async def submit_score(request: Request) -> Response:
    visit = await _visit(request)
    fields = await _read_form(visit)
    return await visit.ctx.writes.run(_record_score, visit, fields, account=visit.survey.account_id)


async def show_thanks(request: Request) -> Response:
    visit = await _visit(request)
    token = request.query_params.get("t", "")
    display = _own_display(visit, token)
    if display is None:
        raise Notice(visit.lang, 200, "thanks_title", "comment_late")
    return await run_in_threadpool(_thanks_page, visit, token, display)


async def submit_comment(request: Request) -> Response:
    visit = await _visit(request)
    fields, raw = await _read_follow_up(visit)
    return await visit.ctx.writes.run(
        _record_comment, visit, fields, raw, account=visit.survey.account_id
    )


# -- recording -------------------------------------------------------------


def _record_score(visit: Visit, fields: dict[str, str]) -> Response:
    token = fields.get("display_token", "")
    display = _own_display(visit, token)
    survey = visit.survey
    if display is None:
        # Expired: the visitor answers again on a fresh form, their choice
        # kept, unless the survey stopped collecting in the meantime.
        _refuse_if_closed(visit, "closed_text", 410)
        selected = survey.scale.parse(fields.get("score"))
        return _survey_form(visit, selected=selected, notice="expired", status=410)
    if not survey.active:
        raise Notice(visit.lang, 410, "inactive_title", "inactive_text")
    score = survey.scale.parse(fields.get("score"))
    if score is None:
        return _survey_form(visit, token=token, error="score_missing", status=422)
    earlier = _earlier(visit)
    submission = responses.Submission(
        display=display,
        score=score,
        locale=visit.lang,
        changeable=True,
        earlier=earlier[1] if earlier else None,
    )
    try:
        recorded = _count(visit, submission)
    except responses.BudgetExhausted:
        raise Notice(visit.lang, 402, "closed_title", "refused_text") from None
    except responses.TokenAlreadyUsed:
        back = (_thanks_url(visit, token), "back_to_thanks")
        raise Notice(visit.lang, 409, "already_title", "already_text", link=back) from None
    except score_changes.TooLate:
        # The answer given first stands (the browser's earlier one, when it
        # is stored, else this page's own); its page says so.
        engine = visit.ctx.engine
        if earlier and responses.stored_response(engine, survey, earlier[1]) is not None:
            return _thanks_page(visit, earlier[0], earlier[1], status=409, too_late=True)
        return _thanks_page(visit, token, display, status=409, too_late=True)
    answered = earlier[0] if earlier and recorded.earlier else token
    response = RedirectResponse(_thanks_url(visit, answered), status_code=303)
    seconds = int(score_changes.WINDOW.total_seconds())
    http.remember_answer(visit.request, response, answered, seconds)
    return response


def _earlier(visit: Visit) -> tuple[str, Display] | None:
    """The display this browser answered the survey with before, if any;
    anything else in the cookie is ignored."""
    token = visit.request.cookies.get(http.ANSWERED_COOKIE, "")
    if not token:
        return None
    try:
        display = _own_display(visit, token)
    except Notice:
        return None
    return (token, display) if display is not None else None


def _record_comment(visit: Visit, fields: dict[str, str], raw: dict[str, Any]) -> Response:
    """The comment and the follow-up answers, in one transaction; either may be left out."""
    token = fields.get("display_token", "")
    display = _own_display(visit, token)
    if display is None:
        raise Notice(visit.lang, 410, "thanks_title", "comment_late")
    comment = text.clean_text(fields.get("comment", ""))
    again: dict[str, Any] = {"comment": comment, "picked": raw}
    if not visit.survey.active:  # said above the visitor's text, which stays
        return _thanks_page(visit, token, display, error="inactive_text", status=410, **again)
    if len(comment) > responses.COMMENT_MAX:
        return _thanks_page(visit, token, display, error="comment_too_long", status=422, **again)
    try:
        values = questions.validate(visit.survey.questions, raw)
    except questions.AnswerError as error:
        return _answers_refused(visit, token, display, error, again)
    if not comment and not values:
        missing = "follow_up_missing" if visit.survey.questions else "comment_missing"
        return _thanks_page(visit, token, display, error=missing, status=422, **again)
    # Without a score the submission only attaches: it counts nothing.
    submission = responses.Submission(
        display=display, score=None, comment=comment or None, answers=values
    )
    try:
        _count(visit, submission)
    except responses.ScoreRequired:
        return RedirectResponse(_survey_url(visit), status_code=303)
    except (responses.CommentAlreadyGiven, answers.AnswerAlreadyGiven):
        raise Notice(visit.lang, 409, "commented_title", "commented_text") from None
    except questions.AnswerError as error:  # a question not asked of the stored segment
        return _answers_refused(visit, token, display, error, again)
    return RedirectResponse(_thanks_url(visit, token), status_code=303)


def _answers_refused(
    visit: Visit,
    token: str,
    display: Display,
    error: questions.AnswerError,
    again: dict[str, Any],
) -> Response:
    wrong = questions.refused_labels(visit.survey.questions, error, visit.lang)
    return _thanks_page(
        visit, token, display, error="answers_invalid", status=422, wrong=wrong, **again
    )


def _count(visit: Visit, submission: responses.Submission) -> responses.Recorded:
    ctx = visit.ctx
    try:
        return responses.record(
            ctx.engine, ctx.cache, visit.survey, submission, visit.now, ctx.zone
        )
    except responses.SurveyGone:
        raise Notice(visit.lang, 404, "missing_title", "missing_text") from None


# -- the visit: survey, language, time -------------------------------------


@dataclass(frozen=True)
class Visit:
    request: Request
    ctx: Context
    link_key: str
    offer: Offer
    lang: str
    now: datetime
    test: bool = False

    @property
    def survey(self) -> Survey:
        return self.offer.survey


async def _visit(request: Request) -> Visit:
    """The survey behind the link key; a forged or unknown key is a readable 404."""
    return await run_in_threadpool(_find_visit, request)


def _find_visit(request: Request) -> Visit:
    ctx: Context = request.app.state.ctx
    link_key = request.path_params["link_key"]
    now = ctx.clock()
    wanted = http.negotiate(request.headers.get("accept-language"), i18n.LANGUAGES)
    try:
        key: SurveyKey | None = ctx.signer.read_link_key(link_key)
    except InvalidToken:
        key = None
    offer = None
    if key is not None:
        offer = ctx.cache.load_config(ctx.engine, key.public_id, budget.period_of(now, ctx.zone))
    if key is None or offer is None:
        lang = survey_texts.choose_language("auto", wanted)
        raise Notice(lang, 404, "missing_title", "missing_text")
    visit = Visit(
        request,
        ctx,
        link_key,
        offer,
        survey_texts.choose_language(offer.survey.language, wanted),
        now,
        key.test,
    )
    ctx.contacts.record(ctx.engine, offer.survey, request.headers.get("origin"), "link", now)
    return visit


def _own_display(visit: Visit, token: str) -> Display | None:
    """The token's display if this link survey handed it out; None when it is
    genuine but expired; a 400 page for anything else (another survey's, the
    widget's, forged)."""
    try:
        display = visit.ctx.signer.read_display_token(token)
    except ExpiredToken:
        return None
    except InvalidToken:
        raise _bad_form(visit) from None
    wrong_survey = display.survey_id != visit.survey.id or display.test != visit.test
    if wrong_survey or display.channel != "link":
        raise _bad_form(visit)
    return display


def _refuse_if_closed(visit: Visit, text: str, status: int) -> None:
    reason = visit.offer.closing_reason(test=visit.test)
    if reason == "inactive":
        raise Notice(visit.lang, status, "inactive_title", "inactive_text")
    if reason is not None:
        raise Notice(visit.lang, status, "closed_title", text)


async def _read_form(visit: Visit) -> dict[str, str]:
    """The browser's urlencoded form, size-capped; a refusal is shown in the
    visitor's language with a way back to the survey."""
    try:
        return await http.read_form(visit.request, FORM_LIMIT, max_fields=8)
    except Problem as problem:
        text = "too_large_text" if problem.status == 413 else "bad_form_text"
        back = (_survey_url(visit), "open_survey")
        raise Notice(visit.lang, problem.status, "bad_form_title", text, link=back) from None


async def _read_follow_up(visit: Visit) -> tuple[dict[str, str], dict[str, Any]]:
    """The thank-you page's form: its last value per name, and the follow-up
    answers with every value of a question (checkboxes repeat a name)."""
    limit = 4 + questions.MAX_QUESTIONS * questions.MAX_OPTIONS
    try:
        form = await http.read_form_lists(visit.request, FORM_LIMIT, max_fields=limit)
    except Problem as problem:
        text = "too_large_text" if problem.status == 413 else "bad_form_text"
        back = (_survey_url(visit), "open_survey")
        raise Notice(visit.lang, problem.status, "bad_form_title", text, link=back) from None
    return {name: values[-1] for name, values in form.items()}, questions.from_form(form)


def _bad_form(visit: Visit) -> Notice:
    back = (_survey_url(visit), "open_survey")
    return Notice(visit.lang, 400, "bad_form_title", "bad_form_text", link=back)


# -- pages -----------------------------------------------------------------


def _survey_url(visit: Visit) -> str:
    return urls.link_path(visit.link_key)


def _thanks_url(visit: Visit, token: str) -> str:
    return f"{urls.link_path(visit.link_key)}/thanks?{urlencode({'t': token})}"


def _survey_form(
    visit: Visit,
    *,
    selected: int | None = None,
    token: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    autosave: bool = False,
) -> Response:
    survey = visit.survey
    return _render(
        visit.request,
        "survey.html",
        visit.lang,
        status,
        action=_survey_url(visit),
        token=token or visit.ctx.signer.display_token(survey.id, "link", test=visit.test),
        test=visit.test,
        texts=survey_texts.texts_for(survey.kind, survey.texts, visit.lang),
        scores=list(survey.scale.scores),
        account_name=visit.offer.account_name,
        selected=selected,
        autosave=autosave,
        notice=notice,
        error=error,
    )


def _thanks_page(
    visit: Visit,
    token: str,
    display: Display,
    *,
    error: str | None = None,
    status: int = 200,
    too_late: bool = False,
    **again: Any,
) -> Response:
    stored = responses.stored_response(visit.ctx.engine, visit.survey, display)
    if stored is None:  # nothing answered with this token yet: back to the question
        return RedirectResponse(_survey_url(visit), status_code=303)
    survey = visit.survey
    # The page's heading thanks; the follow-up question need not thank again.
    texts = survey_texts.texts_for(survey.kind, survey.texts, visit.lang, thanked=True)
    return _render(
        visit.request,
        "thanks.html",
        visit.lang,
        status,
        action=f"{_survey_url(visit)}/comment",
        done=_thanks_url(visit, token),
        token=token,
        score=stored.score,
        note=i18n.translate(visit.lang, "link.change_too_late", score=stored.score)
        if too_late
        else None,
        thanks=texts["thanks"][stored.segment],
        follow_up=texts["follow_up"][stored.segment],
        commented=bool(stored.comment) or bool(stored.answered),
        error=error,
        comment_max=responses.COMMENT_MAX,
        reward=stored.reward,
        review_url=(
            visit.ctx.urls.review(survey.public_id, test=visit.test)
            if survey.offers_review(stored.segment)
            else None
        ),
        test=visit.test,
        **questions.page_context(
            survey.questions, stored.segment, visit.lang, survey.default_language, **again
        ),
    )


def _render(request: Request, template: str, lang: str, status: int, **context: Any) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        f"links/{template}",
        {
            "lang": lang,
            "t": i18n.section(lang, "link."),
            "stylesheet": http.asset_url("survey.css"),
            "script": http.asset_url("survey.js"),
            **context,
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
    return response
