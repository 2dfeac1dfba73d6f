"""An e-mail invitation's pages: answering it at /s/{invitation key} and
unsubscribing at /u/{invitation key}.

They use the link survey's templates and look, and speak the invitation's
language whatever the browser asks for. The survey pages share the link
survey's path: their routes match only a genuine invitation key, so every
other key goes on to the link survey's routes, whose 404 page answers a
forged one.

A GET changes nothing, since mail scanners follow every link, score links
included: the score is stored by the form's POST, which the page's script
sends by itself when the page was opened with a score (a click on a score in
the e-mail is the answer), and the person sends without script. Another
score within ``score_changes.WINDOW`` of the first changes the answer; later
the first stands (409). Answering counts nothing,
the invitation was counted when its record was accepted. The unsubscribe
POST is RFC 8058's one-click: a mail provider sends it with the body
``List-Unsubscribe=One-Click`` and without cookies, so it needs nothing but
the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from app.answers import follow_ups as answers
from app.answers import responses, score_changes
from app.invitations import answers as invitation_answers
from app.invitations import record_status
from app.invitations.answers import Invited
from app.platform import i18n, text, urls
from app.platform.signing import Display, ExpiredToken, InvalidToken
from app.surveys import questions
from app.surveys import texts as survey_texts
from app.surveys.model import Survey
from app.web import http
from app.web.context import Context
from app.web.problem import Problem

CHANNEL = invitation_answers.CHANNEL
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    # The address holds the recipient's key: it never travels in a Referer.
    "Referrer-Policy": "no-referrer",
}
FORM_LIMIT = 32 * 1024
# Each page's words: the link survey's, and the invitation's own on top.
SECTIONS = ("link.", "invitation.", "unsubscribe.")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class InvitationRoute(Route):
    """A route of the survey path that matches only a genuine invitation key,
    whose invitation id it adds to the path parameters."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        ctx: Context = scope["app"].state.ctx
        try:
            invitation_id = ctx.signer.read_invitation_key(child["path_params"]["key"])
        except InvalidToken:
            return Match.NONE, {}
        child["path_params"] = {**child["path_params"], "invitation_id": invitation_id}
        return match, child


def routes(submit_limit: Decorator | None = None) -> list[BaseRoute]:
    """Listed before the link survey's routes. ``submit_limit`` throttles the
    answers and comments as it does the link survey's."""
    limited = submit_limit or (lambda endpoint: endpoint)
    return [
        InvitationRoute("/s/{key}", show_survey, methods=["GET"]),
        InvitationRoute("/s/{key}", limited(submit_score), methods=["POST"]),
        InvitationRoute("/s/{key}/thanks", show_thanks, methods=["GET"]),
        InvitationRoute("/s/{key}/comment", limited(submit_comment), methods=["POST"]),
        Route("/u/{key}", show_unsubscribe, methods=["GET"]),
        Route("/u/{key}", unsubscribe, methods=["POST"]),
    ]


class Notice(Problem):
    """A refusal or message shown as a page in the invitation's language;
    ``title`` and ``text`` name words of the page's sections."""

    def __init__(
        self, lang: str, status: int, title: str, text: str, *, link: tuple[str, str] | None = None
    ) -> None:
        super().__init__(status, title, str(_words("en").get(text, text)))
        self.lang, self.title, self.text, self.link = lang, title, text, link


def on_notice(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Notice)
    return _render(
        request, "message.html", exc.lang, exc.status, title=exc.title, text=exc.text, link=exc.link
    )


HANDLERS: dict[Any, Any] = {Notice: on_notice}


# -- answering -----------------------------------------------------------------


async def show_survey(request: Request) -> Response:
    visit = await _visit(request)
    _refuse_if_closed(visit, 200)
    selected = visit.survey.scale.parse(request.query_params.get("score"))
    if visit.invited.status == "answered":
        return await run_in_threadpool(_answered_page, visit, selected)
    return _survey_form(visit, selected=selected, autosave=selected is not None)


def _answered_page(visit: Visit, selected: int | None) -> Response:
    """The answer's page; another score link within the window opens the
    form, whose script changes the answer to that score."""
    earlier = _earlier(visit)
    token = earlier[0] if earlier else ""
    if visit.survey.anonymous and not token:  # its answer cannot be found from the invitation
        raise Notice(visit.lang, 200, "already_title", "already_text")
    nonce = earlier[1].nonce if earlier else None
    found = invitation_answers.stored(visit.ctx.engine, visit.invited.id, nonce)
    if found is None:
        raise Notice(visit.lang, 200, "already_title", "already_text")
    if selected is None or selected == found.score:
        return _thanks_page(visit, token, selected is None)
    if found.changeable(visit.now):
        return _survey_form(visit, selected=selected, autosave=True)
    return _thanks_page(visit, token, False, too_late=True)


async def submit_score(request: Request) -> Response:
    visit = await _visit(request)
    fields = await _read_form(visit)
    return await visit.ctx.writes.run(_record_score, visit, fields, account=visit.survey.account_id)


async def show_thanks(request: Request) -> Response:
    visit = await _visit(request)
    token = request.query_params.get("t", "")
    again = request.query_params.get("again") == "1"
    return await run_in_threadpool(_thanks_page, visit, token, again)


async def submit_comment(request: Request) -> Response:
    visit = await _visit(request)
    fields, raw = await _read_follow_up(visit)
    return await visit.ctx.writes.run(
        _record_comment, visit, fields, raw, account=visit.survey.account_id
    )


def _record_score(visit: Visit, fields: dict[str, str]) -> Response:
    _refuse_if_closed(visit, 410)
    token = fields.get("display_token", "")
    display = _own_display(visit, token)
    survey = visit.survey
    if display is None:  # expired: answered again on a fresh form, the choice kept
        selected = survey.scale.parse(fields.get("score"))
        return _survey_form(visit, selected=selected, notice="expired", status=410)
    score = survey.scale.parse(fields.get("score"))
    if score is None:
        return _survey_form(visit, token=token, error="score_missing", status=422)
    ctx = visit.ctx
    earlier = _earlier(visit)
    try:
        invitation_answers.answer(
            ctx.engine,
            visit.invited.id,
            display,
            score,
            visit.lang,
            visit.now,
            ctx.zone,
            earlier=earlier[1] if earlier else None,
        )
    except invitation_answers.Closed:
        raise Notice(visit.lang, 410, "ended_title", "ended_text") from None
    except invitation_answers.Inactive:
        raise Notice(visit.lang, 410, "inactive_title", "inactive_text") from None
    except invitation_answers.AnsweredBefore:
        raise Notice(visit.lang, 200, "already_title", "already_text") from None
    except responses.TokenAlreadyUsed:
        raise _bad_form(visit) from None
    except score_changes.TooLate:
        answered = _answering_token(visit, display, token, earlier)
        return _thanks_page(visit, answered, False, status=409, too_late=True)
    answered = _answering_token(visit, display, token, earlier)
    response = RedirectResponse(_thanks_url(visit, answered), status_code=303)
    if visit.survey.anonymous:  # only its display finds the answer again
        seconds = int(score_changes.WINDOW.total_seconds())
        http.remember_answer(visit.request, response, answered, seconds)
    return response


def _answering_token(
    visit: Visit, display: Display, token: str, earlier: tuple[str, Display] | None
) -> str:
    """The token whose display the stored answer was given with: for an
    anonymous survey the page's own or the one the browser answered with."""
    if not visit.survey.anonymous or earlier is None:
        return token
    own = invitation_answers.stored(visit.ctx.engine, visit.invited.id, display.nonce)
    return token if own is not None else earlier[0]


def _earlier(visit: Visit) -> tuple[str, Display] | None:
    """The display this browser answered an anonymous survey's invitation
    with, from its cookie; anything else in the cookie is ignored."""
    token = visit.request.cookies.get(http.ANSWERED_COOKIE, "")
    if not token or not visit.survey.anonymous:
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
    # Only an anonymous survey's answer needs its display to be found again.
    if display is None and visit.survey.anonymous:
        raise Notice(visit.lang, 410, "thanks_title", "comment_late")
    comment = text.clean_text(fields.get("comment", ""))
    again: dict[str, Any] = {"comment": comment, "picked": raw}
    if not visit.survey.active:  # said above the visitor's text, which stays
        return _thanks_page(visit, token, False, error="inactive_text", status=410, **again)
    if len(comment) > responses.COMMENT_MAX:
        return _thanks_page(visit, token, False, error="comment_too_long", status=422, **again)
    try:
        values = questions.validate(visit.survey.questions, raw)
    except questions.AnswerError as error:
        return _answers_refused(visit, token, error, again)
    if not comment and not values:
        missing = "follow_up_missing" if visit.survey.questions else "comment_missing"
        return _thanks_page(visit, token, False, error=missing, status=422, **again)
    nonce = display.nonce if display is not None else None
    try:
        invitation_answers.add_comment(
            visit.ctx.engine, visit.invited.id, nonce, comment or None, values, visit.now
        )
    except responses.ScoreRequired:
        return RedirectResponse(_survey_url(visit), status_code=303)
    except (responses.CommentAlreadyGiven, answers.AnswerAlreadyGiven):
        raise Notice(visit.lang, 409, "commented_title", "commented_text") from None
    except questions.AnswerError as error:  # a question not asked of the stored segment
        return _answers_refused(visit, token, error, again)
    return RedirectResponse(_thanks_url(visit, token), status_code=303)


def _answers_refused(
    visit: Visit, token: str, error: questions.AnswerError, again: dict[str, Any]
) -> Response:
    wrong = questions.refused_labels(visit.survey.questions, error, visit.lang)
    return _thanks_page(
        visit, token, False, error="answers_invalid", status=422, wrong=wrong, **again
    )


# -- the visit -------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    request: Request
    ctx: Context
    key: str
    invited: Invited
    now: datetime

    @property
    def survey(self) -> Survey:
        return self.invited.survey

    @property
    def lang(self) -> str:
        return self.invited.language


async def _visit(request: Request) -> Visit:
    return await run_in_threadpool(_find_visit, request)


def _find_visit(request: Request) -> Visit:
    ctx: Context = request.app.state.ctx
    invited = invitation_answers.find(ctx.engine, request.path_params["invitation_id"])
    if invited is None:
        # A genuine key whose invitation is gone with its survey.
        raise Notice(_browser_language(request), 410, "ended_title", "ended_text")
    return Visit(request, ctx, request.path_params["key"], invited, ctx.clock())


def _browser_language(request: Request) -> str:
    wanted = http.negotiate(request.headers.get("accept-language"), i18n.LANGUAGES)
    return survey_texts.choose_language("auto", wanted)


def _refuse_if_closed(visit: Visit, status: int) -> None:
    if visit.invited.status in ("cancelled", "failed"):
        raise Notice(visit.lang, status, "ended_title", "ended_text")
    if not visit.survey.active:
        raise Notice(visit.lang, status, "inactive_title", "inactive_text")


def _own_display(visit: Visit, token: str) -> Display | None:
    """The token's display if this invitation's survey page handed it out;
    None when it is genuine but expired; a 400 page for anything else."""
    try:
        display = visit.ctx.signer.read_display_token(token)
    except ExpiredToken:
        return None
    except InvalidToken:
        raise _bad_form(visit) from None
    if display.survey_id != visit.survey.id or display.test or display.channel != CHANNEL:
        raise _bad_form(visit)
    return display


async def _read_form(visit: Visit) -> dict[str, str]:
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


# -- the survey pages --------------------------------------------------------------


def _survey_url(visit: Visit) -> str:
    return urls.link_path(visit.key)


def _thanks_url(visit: Visit, token: str, *, again: bool = False) -> str:
    query = {"t": token, **({"again": "1"} if again else {})}
    return f"{_survey_url(visit)}/thanks?{urlencode(query)}"


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
        token=token or visit.ctx.signer.display_token(survey.id, CHANNEL),
        test=False,
        texts=survey_texts.texts_for(survey.kind, survey.texts, visit.lang),
        scores=list(survey.scale.scores),
        account_name=visit.invited.account_name,
        privacy=_words(visit.lang)["anonymous"] if survey.anonymous else None,
        selected=selected,
        autosave=autosave,
        notice=notice,
        error=error,
    )


def _thanks_page(
    visit: Visit,
    token: str,
    again: bool,
    *,
    error: str | None = None,
    status: int = 200,
    too_late: bool = False,
    **sent: Any,
) -> Response:
    """The answer's thank-you page; ``again`` says the invitation had been
    answered before and names the answer that was kept, ``too_late`` that
    another score came after the window."""
    display = _own_display(visit, token) if token else None
    survey = visit.survey
    if display is None and survey.anonymous:
        # Without its display an anonymous answer cannot be found: the
        # survey page says whether the invitation was answered.
        return RedirectResponse(_survey_url(visit), status_code=303)
    nonce = display.nonce if display is not None else None
    found = invitation_answers.stored(visit.ctx.engine, visit.invited.id, nonce)
    if found is None:
        return RedirectResponse(_survey_url(visit), status_code=303)
    texts = survey_texts.texts_for(survey.kind, survey.texts, visit.lang, thanked=True)
    words = _words(visit.lang)
    kept = words["answered_before"] if again else words["change_too_late"] if too_late else None
    return _render(
        visit.request,
        "thanks.html",
        visit.lang,
        status,
        action=f"{_survey_url(visit)}/comment",
        done=_thanks_url(visit, token),
        score=found.score,
        # A page without its own display (the invitation opened again)
        # gets a fresh one for the comment form.
        token=token if display is not None else visit.ctx.signer.display_token(survey.id, CHANNEL),
        thanks=texts["thanks"][found.segment],
        follow_up=texts["follow_up"][found.segment],
        commented=bool(found.comment) or bool(found.answered),
        note=kept.format(score=found.score) if kept else None,
        error=error,
        comment_max=responses.COMMENT_MAX,
        reward=found.reward,
        review_url=(
            visit.ctx.urls.review(survey.public_id) if survey.offers_review(found.segment) else None
        ),
        test=False,
        **questions.page_context(
            survey.questions, found.segment, visit.lang, survey.default_language, **sent
        ),
    )


# -- unsubscribing -----------------------------------------------------------------


async def show_unsubscribe(request: Request) -> Response:
    """The confirmation page; the address is unsubscribed only by its POST."""
    invited = await run_in_threadpool(_unsubscribing, request)
    return _unsubscribe_page(request, invited, done=invited.unsubscribed)


async def unsubscribe(request: Request) -> Response:
    """One-click (RFC 8058) or the page's button: whatever the body says, a
    POST to the key's address is the recipient's request. Idempotent."""
    invited = await run_in_threadpool(_unsubscribing, request)
    ctx: Context = request.app.state.ctx
    done = await ctx.writes.run(
        record_status.unsubscribe,
        ctx.engine,
        invited.id,
        ctx.clock(),
        account=invited.survey.account_id,
    )
    if done is None:  # gone since it was read
        raise Notice(invited.language, 404, "invalid_title", "invalid_text")
    return _unsubscribe_page(request, invited, done=True)


def _unsubscribing(request: Request) -> Invited:
    ctx: Context = request.app.state.ctx
    try:
        invitation_id = ctx.signer.read_invitation_key(request.path_params["key"])
    except InvalidToken:
        invitation_id = None
    invited = None
    if invitation_id is not None:
        invited = invitation_answers.find(ctx.engine, invitation_id)
    if invited is None:
        raise Notice(_browser_language(request), 404, "invalid_title", "invalid_text")
    return invited


def _unsubscribe_page(request: Request, invited: Invited, *, done: bool) -> Response:
    return _render(
        request,
        "unsubscribe.html",
        invited.language,
        200,
        action=request.url.path,
        account=invited.account_name,
        email=invited.email,
        done=done,
    )


# -- rendering ---------------------------------------------------------------------


@cache
def _words(lang: str) -> dict[str, str]:
    """The pages' words in ``lang``: the link survey's and these pages' own,
    whose names differ from the link survey's (a test keeps them apart)."""
    words: dict[str, str] = {}
    for prefix in SECTIONS:
        words.update(i18n.section(lang, prefix))
    return words


def _render(request: Request, template: str, lang: str, status: int, **context: Any) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        f"links/{template}",
        {
            "lang": lang,
            "t": _words(lang),
            "stylesheet": http.asset_url("survey.css"),
            "script": http.asset_url("survey.js"),
            **context,
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
    return response
