"""Link surveys: /s/{link_key} pages that work without JavaScript.

A GET only shows the form (mail scanners follow links, so it never counts);
the form's POST counts once through the same budget rule as the API, then
redirects to a thank-you page where a comment can be attached for free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import RowMapping, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app import budget, db, surveys
from app.context import Context
from app.models import response_table
from app.signing import Display, ExpiredToken, InvalidToken

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
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
FORM_TYPE = "application/x-www-form-urlencoded"
STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "survey.css"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "send": "Send",
        "score_missing": "Please choose a score.",
        "expired": "This page was open for a long time, so your answer was not sent yet. "
        "Please choose your answer again and send it.",
        "thanks_title": "Thank you for your feedback!",
        "comment_hint": "Optional. Please do not include personal details.",
        "send_comment": "Send comment",
        "comment_saved": "Your comment was added. Thank you!",
        "comment_missing": "Please write a comment before sending it.",
        "comment_too_long": "Please keep your comment to at most {limit} characters.",
        "comment_late": "The time for adding a comment has passed.",
        "review_intro": "Would you share your experience with others?",
        "review_link": "Write a review",
        "closed_title": "This survey is not collecting responses right now",
        "closed_text": "Thank you for stopping by. Please try again another time.",
        "refused_text": "Your answer was not recorded. Thank you for taking the time.",
        "inactive_title": "This survey has ended",
        "inactive_text": "It no longer collects responses. Thank you for stopping by.",
        "missing_title": "Survey not found",
        "missing_text": "This survey link is not valid. Please check that you opened "
        "the whole address.",
        "bad_form_title": "This form cannot be sent",
        "bad_form_text": "It does not belong to this survey or was changed on the way.",
        "open_survey": "Open the survey",
        "too_large_text": "What you sent is too long.",
        "already_title": "You have already answered",
        "already_text": "Your first answer was kept.",
        "back_to_thanks": "Back to the thank-you page",
    },
    "de": {
        "send": "Absenden",
        "score_missing": "Bitte wählen Sie einen Wert.",
        "expired": "Diese Seite war lange geöffnet, deshalb wurde Ihre Antwort noch nicht "
        "gesendet. Bitte wählen Sie Ihre Antwort erneut und senden Sie sie ab.",
        "thanks_title": "Vielen Dank für Ihr Feedback!",
        "comment_hint": "Freiwillig. Bitte geben Sie keine persönlichen Daten an.",
        "send_comment": "Kommentar senden",
        "comment_saved": "Ihr Kommentar wurde hinzugefügt. Vielen Dank!",
        "comment_missing": "Bitte schreiben Sie einen Kommentar, bevor Sie ihn senden.",
        "comment_too_long": "Bitte schreiben Sie höchstens {limit} Zeichen.",
        "comment_late": "Die Zeit für einen Kommentar ist abgelaufen.",
        "review_intro": "Möchten Sie Ihre Erfahrung mit anderen teilen?",
        "review_link": "Bewertung schreiben",
        "closed_title": "Diese Umfrage nimmt gerade keine Antworten an",
        "closed_text": "Danke für Ihren Besuch. Bitte versuchen Sie es ein andermal.",
        "refused_text": "Ihre Antwort wurde nicht gespeichert. Danke, dass Sie sich die "
        "Zeit genommen haben.",
        "inactive_title": "Diese Umfrage ist beendet",
        "inactive_text": "Sie nimmt keine Antworten mehr an. Danke für Ihren Besuch.",
        "missing_title": "Umfrage nicht gefunden",
        "missing_text": "Dieser Umfragelink ist ungültig. Bitte prüfen Sie, ob Sie die "
        "vollständige Adresse geöffnet haben.",
        "bad_form_title": "Dieses Formular kann nicht gesendet werden",
        "bad_form_text": "Es gehört nicht zu dieser Umfrage oder wurde unterwegs verändert.",
        "open_survey": "Zur Umfrage",
        "too_large_text": "Ihre Eingabe ist zu lang.",
        "already_title": "Sie haben bereits geantwortet",
        "already_text": "Ihre erste Antwort bleibt gespeichert.",
        "back_to_thanks": "Zurück zur Dankesseite",
    },
}


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def routes(submit_limit: Decorator | None = None) -> list[BaseRoute]:
    """``submit_limit`` throttles the POSTs per client address like the API's
    submissions, so a link is no unthrottled way to spend an account's budget."""
    limited = submit_limit or (lambda endpoint: endpoint)
    return [
        Route("/s/{link_key}", show_survey, methods=["GET"], name="link_survey"),
        Route("/s/{link_key}", limited(submit_score), methods=["POST"]),
        Route("/s/{link_key}/thanks", show_thanks, methods=["GET"], name="link_thanks"),
        Route(
            "/s/{link_key}/comment", limited(submit_comment), methods=["POST"], name="link_comment"
        ),
    ]


# -- handlers --------------------------------------------------------------


def show_survey(request: Request) -> Response:
    visit = _visit(request)
    if isinstance(visit, Response):
        return visit
    closed = _closed_page(visit, "closed_text", 200)
    if closed is not None:
        return closed
    wanted = _score(visit.survey, request.query_params.get("score"))
    return _survey_form(visit, selected=wanted)


async def submit_score(request: Request) -> Response:
    fields = await _read_form(request)
    ctx: Context = request.app.state.ctx
    return await ctx.writes.run(_record_score, request, fields)


def show_thanks(request: Request) -> Response:
    visit = _visit(request)
    if isinstance(visit, Response):
        return visit
    token = request.query_params.get("t", "")
    display = _own_display(visit, token)
    if isinstance(display, Response):
        return display
    return _thanks_page(visit, token, display)


async def submit_comment(request: Request) -> Response:
    fields = await _read_form(request)
    ctx: Context = request.app.state.ctx
    return await ctx.writes.run(_record_comment, request, fields)


# -- recording -------------------------------------------------------------


def _record_score(request: Request, fields: dict[str, str] | int) -> Response:
    visit = _visit(request)
    if isinstance(visit, Response):
        return visit
    if isinstance(fields, int):
        return _form_error(visit, fields)
    token = fields.get("display_token", "")
    display = _own_display(visit, token)
    if display is None:
        # Expired: the visitor answers again on a fresh form, their choice
        # kept, unless the survey stopped collecting in the meantime.
        return _closed_page(visit, "closed_text", 410) or _survey_form(
            visit, selected=_score(visit.survey, fields.get("score")), notice="expired", status=410
        )
    if isinstance(display, Response):
        return display
    if not visit.survey["active"]:
        return _message(visit, "inactive_title", "inactive_text", 410)
    score = _score(visit.survey, fields.get("score"))
    if score is None:
        return _survey_form(visit, token=token, error="score_missing", status=422)
    submission = surveys.Submission(display=display, score=score, locale=visit.lang)
    try:
        visit.ctx.record_response(visit.survey, submission, visit.now)
    except surveys.BudgetExhausted:
        return _message(visit, "closed_title", "refused_text", 402)
    except surveys.TokenAlreadyUsed:
        return _message(
            visit,
            "already_title",
            "already_text",
            409,
            link=(_thanks_url(visit, token), "back_to_thanks"),
        )
    return RedirectResponse(_thanks_url(visit, token), status_code=303)


def _record_comment(request: Request, fields: dict[str, str] | int) -> Response:
    visit = _visit(request)
    if isinstance(visit, Response):
        return visit
    if isinstance(fields, int):
        return _form_error(visit, fields)
    token = fields.get("display_token", "")
    display = _own_display(visit, token)
    if display is None:
        return _message(visit, "thanks_title", "comment_late", 410)
    if isinstance(display, Response):
        return display
    if not visit.survey["active"]:
        return _message(visit, "inactive_title", "inactive_text", 410)
    comment = surveys.clean_text(fields.get("comment", ""))
    if not comment:
        return _thanks_page(visit, token, display, error="comment_missing", status=422)
    if len(comment) > surveys.COMMENT_MAX:
        return _thanks_page(visit, token, display, error="comment_too_long", status=422)
    # Without a score the submission only attaches the comment: it counts nothing.
    submission = surveys.Submission(display=display, score=None, comment=comment)
    try:
        visit.ctx.record_response(visit.survey, submission, visit.now)
    except surveys.ScoreRequired:
        return RedirectResponse(_survey_url(visit), status_code=303)
    return RedirectResponse(_thanks_url(visit, token), status_code=303)


# -- the visit: survey, language, time -------------------------------------


@dataclass(frozen=True)
class Visit:
    request: Request
    ctx: Context
    link_key: str
    survey: RowMapping
    lang: str
    now: datetime

    @property
    def zone(self) -> ZoneInfo:
        return self.ctx.zone


def _visit(request: Request) -> Visit | Response:
    """The survey behind the link key, or the readable not-found page."""
    ctx: Context = request.app.state.ctx
    link_key = request.path_params["link_key"]
    now = ctx.clock()
    survey = None
    try:
        public_id = ctx.signer.survey_from_link_key(link_key)
    except InvalidToken:
        public_id = None
    if public_id is not None:
        with db.read(ctx.engine) as conn:
            survey = surveys.find_survey_with_budget(
                conn, public_id, budget.period_of(now, ctx.zone)
            )
    if survey is None:
        lang = surveys.choose_language("auto", preferred_language(request))
        return _render(
            request, "message.html", lang, 404, title="missing_title", text="missing_text"
        )
    lang = surveys.choose_language(survey["language"], preferred_language(request))
    ctx.contacts.record(ctx.engine, survey, request.headers.get("origin"), "link", now)
    return Visit(request, ctx, link_key, survey, lang, now)


def preferred_language(request: Request) -> str | None:
    """The supported language the visitor ranks highest in Accept-Language."""
    best, best_q = None, 0.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        primary = tag.split("-")[0].strip().lower()
        if primary in surveys.LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


def _own_display(visit: Visit, token: str) -> Display | Response | None:
    """The token's display if it was handed out by this link survey; None when
    it is genuine but expired; a 400 page for anything else."""
    try:
        display = visit.ctx.signer.read_display_token(token)
    except ExpiredToken:
        return None
    except InvalidToken:
        return _bad_form(visit)
    if display.survey_id != visit.survey["id"] or display.channel != "link":
        return _bad_form(visit)
    return display


def _closing_reason(survey: RowMapping) -> str | None:
    if not survey["active"]:
        return "inactive"
    limit, used = survey["budget_limit"], survey["budget_used"] or 0
    if limit is None or used >= limit:
        return "budget_exhausted"
    return None


def _score(survey: RowMapping, value: str | None) -> int | None:
    """A whole number on the survey's scale, else None."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 2:
        return None
    low, high = surveys.SCALES[survey["kind"]]
    number = int(text)
    return number if low <= number <= high else None


async def _read_form(request: Request) -> dict[str, str] | int:
    """The urlencoded form a browser sends, size-capped; else the error status,
    shown once the survey (and so the page's language) is known."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM_TYPE:
        return 415
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        return 413
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > FORM_LIMIT:
            return 413
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return 400
    return dict(pairs)


# -- pages -----------------------------------------------------------------


def _survey_url(visit: Visit) -> str:
    return visit.request.url_for("link_survey", link_key=visit.link_key).path


def _thanks_url(visit: Visit, token: str) -> str:
    path = visit.request.url_for("link_thanks", link_key=visit.link_key).path
    return f"{path}?{urlencode({'t': token})}"


def _survey_form(
    visit: Visit,
    *,
    selected: int | None = None,
    token: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    survey = visit.survey
    low, high = surveys.SCALES[survey["kind"]]
    return _render(
        visit.request,
        "survey.html",
        visit.lang,
        status,
        action=_survey_url(visit),
        token=token or visit.ctx.signer.display_token(survey["id"], "link"),
        texts=surveys.texts_for(survey["kind"], survey["texts"], visit.lang),
        scores=list(range(low, high + 1)),
        selected=selected,
        notice=notice,
        error=error,
    )


def _thanks_page(
    visit: Visit,
    token: str,
    display: Display | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    if display is None:
        return _message(visit, "thanks_title", "comment_late", 200)
    stored = _stored_response(visit, display)
    if stored is None:  # nothing answered with this token yet: back to the question
        return RedirectResponse(_survey_url(visit), status_code=303)
    survey = visit.survey
    texts = surveys.texts_for(survey["kind"], survey["texts"], visit.lang)
    return _render(
        visit.request,
        "thanks.html",
        visit.lang,
        status,
        action=visit.request.url_for("link_comment", link_key=visit.link_key).path,
        token=token,
        follow_up=texts["follow_up"][stored.segment],
        commented=bool(stored.comment),
        error=error,
        comment_max=surveys.COMMENT_MAX,
        review_url=_review_url(survey),
    )


def _stored_response(visit: Visit, display: Display) -> Any:
    with db.read(visit.ctx.engine) as conn:
        return conn.execute(
            select(response_table.c.segment, response_table.c.comment).where(
                response_table.c.nonce == display.nonce,
                response_table.c.survey_id == visit.survey["id"],
            )
        ).first()


def _review_url(survey: RowMapping) -> str | None:
    """Offered to every respondent, never only to happy ones (review platforms
    forbid that gating); only web addresses become links."""
    url = survey["review_url"]
    if not url or survey["review_audience"] != "all":
        return None
    return url if urlsplit(url).scheme in {"http", "https"} else None


def _closed_page(visit: Visit, text: str, status: int) -> Response | None:
    reason = _closing_reason(visit.survey)
    if reason == "inactive":
        return _message(visit, "inactive_title", "inactive_text", status)
    if reason == "budget_exhausted":
        return _message(visit, "closed_title", text, status)
    return None


def _form_error(visit: Visit, status: int) -> Response:
    text = "too_large_text" if status == 413 else "bad_form_text"
    return _message(visit, "bad_form_title", text, status, link=(_survey_url(visit), "open_survey"))


def _bad_form(visit: Visit) -> Response:
    return _message(
        visit, "bad_form_title", "bad_form_text", 400, link=(_survey_url(visit), "open_survey")
    )


def _message(
    visit: Visit, title: str, text: str, status: int, *, link: tuple[str, str] | None = None
) -> Response:
    return _render(
        visit.request, "message.html", visit.lang, status, title=title, text=text, link=link
    )


def _render(request: Request, template: str, lang: str, status: int, **context: Any) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        f"links/{template}",
        {
            "lang": lang,
            "t": TEXTS[lang],
            "stylesheet": f"{request.url_for('static', path='survey.css').path}?v={_version()}",
            **context,
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
    return response


_VERSION: list[str] = []


def _version() -> str:
    """A content hash in the stylesheet's address, so a changed file is fetched anew."""
    if not _VERSION:
        body = STYLESHEET.read_bytes() if STYLESHEET.is_file() else b""
        _VERSION.append(hashlib.sha256(body).hexdigest()[:10])
    return _VERSION[0]
