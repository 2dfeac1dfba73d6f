"""The public JSON API the widget (and anyone else) talks to."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.answers import follow_ups as answers
from app.answers import responses
from app.budget import rule as budget
from app.editor import preview
from app.invitations import record_in
from app.platform import text, urls
from app.platform.signing import Display, ExpiredToken, InvalidToken
from app.surveys import questions, scales
from app.surveys import texts as survey_texts
from app.surveys.cache import Missing
from app.surveys.model import Survey
from app.web import http
from app.web.context import Context
from app.web.problem import Problem

# Room for a comment and five follow-up answers in any script.
BODY_LIMIT = 32 * 1024
NO_STORE = {"Cache-Control": "no-store"}
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")
URL_MAX = 2048
# No control characters in a stored address (PostgreSQL refuses NUL outright).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def routes(widget_limit: Decorator, responses_limit: Decorator) -> list[BaseRoute]:
    return [
        Route("/widget/{embed_key}", widget_limit(widget_config), methods=["GET"]),
        Route("/responses", responses_limit(submit_response), methods=["POST"]),
    ]


def _hide(reason: str) -> JSONResponse:
    return JSONResponse({"show": False, "reason": reason}, headers=NO_STORE)


async def widget_config(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        key = ctx.signer.read_embed_key(request.path_params["embed_key"])
    except InvalidToken:
        return _preview_config(ctx, request.path_params["embed_key"])
    now = ctx.clock()
    period = budget.period_of(now, ctx.zone)
    # A cache hit answers without a database read or a thread hop.
    offer = ctx.cache.config(key.public_id, period)
    if isinstance(offer, Missing):
        offer = await run_in_threadpool(ctx.cache.load_config, ctx.engine, key.public_id, period)
    if offer is None:
        raise _unknown_survey()
    survey = offer.survey
    origin = request.headers.get("origin")
    reason = offer.closing_reason(origin, test=key.test)
    if reason == "origin_not_allowed" and origin is not None:
        # Not a healthy contact: kept apart, so the dashboard can warn instead.
        if ctx.contacts.due(survey.id, refused=True):
            await run_in_threadpool(ctx.contacts.write_refusal, ctx.engine, survey, origin, now)
    elif ctx.contacts.due(survey.id):
        # Browsers leave Origin off same-origin GETs; the Referer still names the page.
        seen_from = origin or _origin_of(request.headers.get("referer"))
        await run_in_threadpool(ctx.contacts.write, ctx.engine, survey, seen_from, "widget", now)
    if reason is not None:
        return _hide(reason)
    language = survey_texts.choose_language(survey.language, _lang(request.scope))
    token = ctx.signer.display_token(survey.id, "widget", test=key.test)
    # Everything but the token is the same for every view of this copy of
    # the survey: serialised once per copy and language, then spliced.
    return Response(
        b'{"show":true,"display_token":"%s",%s}'
        % (token.encode(), ctx.cache.rendered(survey, language, key.test, _rest_of_config)),
        media_type="application/json",
        headers=NO_STORE,
    )


def _preview_config(ctx: Context, key: str) -> Response:
    """The survey editor's preview: the config comes from the key alone, so
    no row is read or written and no contact is recorded. Its frame is
    sandboxed (``Origin: null``), which any origin list would refuse."""
    try:
        config, told = preview.widget_config(ctx.signer.read_preview_key(key))
    except (InvalidToken, ExpiredToken, preview.PreviewError):
        raise _unknown_survey() from None
    return JSONResponse(
        {"show": True, "display_token": ctx.signer.preview_token(told), **config},
        headers=NO_STORE,
    )


def _rest_of_config(survey: Survey, language: str, test: bool) -> bytes:
    """The config's members after the token, as JSON without its braces."""
    texts = survey_texts.texts_for(survey.kind, survey.texts, language)
    rest = {
        "survey": {
            "kind": survey.kind,
            "language": language,
            **texts,
            "questions": questions.localised(survey.questions, language, survey.default_language),
            "color": survey.color,
            "position": survey.position,
        },
        "rules": TEST_RULES if test else _rules(survey),
    }
    return json.dumps(rest, ensure_ascii=False, separators=(",", ":")).encode()[1:-1]


def _lang(scope: Any) -> str | None:
    """``?lang=`` without building QueryParams for the one parameter."""
    query: bytes = scope.get("query_string", b"")
    if b"lang=" not in query:
        return None
    return parse_qs(query.decode("latin-1")).get("lang", [None])[0]


# The owner testing their page is asked on every view, at once.
TEST_RULES = {"delay_ms": 0, "recontact_days": 0, "sample_rate": 1.0, "test": True}


def _rules(survey: Survey) -> dict[str, Any]:
    return {
        "delay_ms": survey.delay_ms,
        "recontact_days": survey.recontact_days,
        "sample_rate": survey.sample_rate,
    }


def _unknown_survey() -> Problem:
    return Problem(404, "unknown_survey", "No survey has this key.")


async def submit_response(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    data = await http.read_json(request, BODY_LIMIT)
    token = data.get("display_token")
    if not isinstance(token, str) or not token:
        raise _invalid([("display_token", "is required")])
    try:
        display = ctx.signer.read_display_token(token)
    except ExpiredToken:
        raise Problem(
            410, "token_expired", "This survey was shown too long ago; please load it again."
        ) from None
    except InvalidToken:
        return _preview_answer(ctx, token, data)
    if display.channel != "widget":
        # A link page's token answers on its page; each channel takes only its own.
        raise _invalid_token()
    # The account is known before the write queue, which gives it a share of its slots.
    survey = ctx.cache.cached_survey(display.survey_id)
    if isinstance(survey, Missing):
        survey = await run_in_threadpool(ctx.cache.survey, ctx.engine, display.survey_id)
    if survey is None:
        raise _unknown_survey()
    return await ctx.writes.run(
        _record,
        ctx,
        survey,
        request.headers.get("origin"),
        display,
        data,
        account=survey.account_id,
        inline_on=ctx.engine,
    )


def _preview_answer(ctx: Context, token: str, data: dict[str, Any]) -> Response:
    """A preview's answer is checked like any other and told what a visitor
    would be, but nothing is stored and no budget is touched."""
    try:
        told = ctx.signer.read_preview_token(token)
    except ExpiredToken:
        raise Problem(
            410, "token_expired", "This survey was shown too long ago; please load it again."
        ) from None
    except InvalidToken:
        raise _invalid_token() from None
    kind = told.get("k")
    if kind not in scales.KINDS:
        raise _invalid_token()
    scale = scales.scale(str(kind))
    score = record_in.whole_number(data.get("score"))
    if score is None:
        raise _invalid([("score", "is required")])
    if not isinstance(score, int) or isinstance(score, bool):
        raise _invalid([("score", "must be a whole number")])
    if not scale.low <= score <= scale.high:
        raise _invalid([("score", f"must be between {scale.low} and {scale.high}")])
    # The comment is checked as a visitor's would be; follow-up answers are
    # left unchecked, as a preview token does not carry the questions.
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise _invalid([("comment", "must be text")])
    if comment and len(text.clean_text(comment)) > responses.COMMENT_MAX:
        raise _invalid([("comment", f"must be at most {responses.COMMENT_MAX} characters")])
    try:
        answer = preview.answer(told, score)
    except preview.PreviewError:
        raise _invalid_token() from None
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


def _invalid_token() -> Problem:
    return Problem(400, "invalid_token", "The display token is not valid.")


def _record(
    ctx: Context, survey: Survey, origin: str | None, display: Display, data: dict[str, Any]
) -> Response:
    if not survey.allows(origin):
        raise Problem(
            403, "origin_not_allowed", "This survey does not accept answers from this site."
        )
    if not survey.active:
        raise Problem(410, "survey_inactive", "This survey is not collecting responses.")
    submission = responses.Submission(display=display, **_validate(survey, data))
    try:
        recorded = responses.record(
            ctx.engine, ctx.cache, survey, submission, ctx.clock(), ctx.zone
        )
    except responses.BudgetExhausted:
        raise Problem(
            402, "budget_exhausted", "This survey is not collecting feedback right now."
        ) from None
    except responses.TokenAlreadyUsed:
        raise Problem(
            409, "token_already_used", "This display was already answered with another score."
        ) from None
    except responses.CommentAlreadyGiven:
        raise Problem(
            409,
            "comment_already_given",
            "This answer has a comment already; the first one is kept.",
        ) from None
    except answers.AnswerAlreadyGiven:
        raise Problem(
            409,
            "answer_already_given",
            "A follow-up question of this answer was answered already; the first answer is kept.",
        ) from None
    except questions.AnswerError as error:  # a question not asked of the stored segment
        raise _invalid(error.errors) from None
    except responses.SurveyGone:
        raise _unknown_survey() from None
    except responses.ScoreRequired:
        raise _invalid([("score", "is required")]) from None
    answer: dict[str, Any] = {"id": recorded.id, "segment": recorded.segment}
    if recorded.reward is not None:
        answer["reward"] = recorded.reward
    if survey.offers_review(recorded.segment):
        answer["review_url"] = ctx.urls.review(survey.public_id, test=display.test)
    return JSONResponse(
        answer,
        status_code=201 if recorded.created else 200,
        headers=NO_STORE,
    )


def _invalid(errors: list[tuple[str, str]]) -> Problem:
    return Problem(
        422,
        "validation_error",
        "; ".join(f"{field} {message}" for field, message in errors),
        errors=[{"field": field, "message": message} for field, message in errors],
    )


def _validate(survey: Survey, data: dict[str, Any]) -> dict[str, Any]:
    errors: list[tuple[str, str]] = []
    score = record_in.whole_number(data.get("score"))
    if score is not None:
        low, high = survey.scale.low, survey.scale.high
        if not isinstance(score, int) or isinstance(score, bool):
            errors.append(("score", "must be a whole number"))
        elif not low <= score <= high:
            errors.append(("score", f"must be between {low} and {high}"))
    comment = data.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            errors.append(("comment", "must be text"))
        else:
            comment = text.clean_text(comment) or None
            if comment and len(comment) > responses.COMMENT_MAX:
                errors.append(("comment", f"must be at most {responses.COMMENT_MAX} characters"))
    try:
        # With a valid score its segment is known now; a later submission's is checked on storing.
        segment = survey.scale.segment_of(score) if score is not None and not errors else None
        answered = questions.validate(survey.questions, data.get("answers"), segment)
    except questions.AnswerError as error:
        errors.extend(error.errors)
    page_url = data.get("page_url")
    if page_url is not None and not _is_web_url(page_url):
        errors.append(("page_url", "must be an http or https address"))
    locale = data.get("locale")
    if locale is not None and not (isinstance(locale, str) and LOCALE.fullmatch(locale)):
        errors.append(("locale", "must be a language tag like de-DE"))
    if errors:
        raise _invalid(errors)
    return {
        "score": score,
        "comment": comment,
        # The widget sends origin and path; an API client's query is cut here.
        "page_url": urls.page_address(page_url or "") or None,
        "locale": locale or None,
        "answers": answered or None,
    }


def _origin_of(url: str | None) -> str | None:
    if not url or not _is_web_url(url):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _is_web_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > URL_MAX or CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
