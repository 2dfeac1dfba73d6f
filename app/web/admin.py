"""The admin settings pages under /admin.

Server-rendered pages behind an email + password login. The session cookie
exists only under /admin and carries the secret of a session row
(app/admin_sessions.py), which every request checks: logout, "log out
everywhere" and a password change end sessions on the server. Every form
carries a CSRF token from the session, and every POST must come from this
site (Origin / Sec-Fetch-Site). Every survey is looked up together with the
logged-in account, so another account's survey id answers 404 like one that
does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import itsdangerous
from sqlalchemy import RowMapping
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from app import (
    accounts,
    admin_sessions,
    admin_store,
    budget,
    charts,
    csv_export,
    db,
    i18n,
    stats,
    survey_form,
    surveys,
)
from app.admin_store import Admin
from app.context import Context
from app.settings import Settings
from app.web.errors import Problem

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
Form = dict[str, str]
Handler = Callable[[Request, Admin, Form | None], Response]

PREFIX = "/admin"
SESSION_COOKIE = "nps_beacon_admin"
SESSION_MAX_AGE = admin_sessions.MAX_AGE
FORM_LIMIT = 64 * 1024
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
FIRST_PERIOD = "2000-01"
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


def routes(settings: Settings, login_limit: Decorator) -> list[BaseRoute]:
    session = Middleware(
        RotatingSessionMiddleware,
        secret_keys=_derived_keys(settings, "admin-session"),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        path=PREFIX,
        same_site="lax",
        https_only=settings.session_https_only,
    )
    pages = [
        Route("/", start, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login_limit(login_submit), methods=["POST"]),
        Route("/logout", admin_page(logout), methods=["POST"]),
        Route("/logout-everywhere", admin_page(logout_everywhere), methods=["POST"]),
        Route("/dashboard", admin_page(dashboard), methods=["GET"]),
        Route("/surveys", admin_page(survey_list), methods=["GET"]),
        Route("/surveys/new", admin_page(survey_new), methods=["GET", "POST"]),
        Route("/surveys/{survey_id:int}", admin_page(survey_edit), methods=["GET", "POST"]),
        Route("/surveys/{survey_id:int}/active", admin_page(survey_active), methods=["POST"]),
        Route("/surveys/{survey_id:int}/results", admin_page(results), methods=["GET"]),
        Route("/surveys/{survey_id:int}/export.csv", admin_page(export), methods=["GET"]),
        Route("/tariff", admin_page(tariff_page), methods=["GET", "POST"]),
        Route("/tariff/cancel", admin_page(tariff_cancel), methods=["POST"]),
        Route("/account", admin_page(account_page), methods=["GET"]),
        Route("/account/password", admin_page(change_password), methods=["POST"]),
        Route("/account/language", admin_page(change_language), methods=["POST"]),
    ]
    return [
        Route(PREFIX, lambda request: _redirect(f"{PREFIX}/", 307), methods=["GET"]),
        Mount(PREFIX, routes=pages, middleware=[session]),
    ]


def _derived_keys(settings: Settings, purpose: str) -> list[str]:
    """One key per purpose from each secret, first key first, so a value made
    for one purpose is worthless for another."""
    return [
        hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()
        for key in settings.secret_keys
    ]


class RotatingSessionMiddleware(SessionMiddleware):
    """Starlette's signed session cookie, signed with the key derived from the
    first of SECRET_KEYS and verified with those of all of them: rotating the
    keys keeps admins logged in for as long as their key is still listed."""

    def __init__(self, app: ASGIApp, /, *, secret_keys: Sequence[str], **options: Any) -> None:
        super().__init__(app, secret_key=secret_keys[0], **options)
        # itsdangerous signs with the last key of the list and verifies with all.
        self.signer = itsdangerous.TimestampSigner(list(reversed(secret_keys)))


# -- session, CSRF, the logged-in admin ------------------------------------


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _redirect(path: str, status: int = 303) -> Response:
    return RedirectResponse(path, status_code=status)


def _csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _own_origins(request: Request) -> set[str]:
    public = urlsplit(_ctx(request).settings.public_url)
    return {
        f"{request.url.scheme}://{request.url.netloc}".lower(),
        f"{public.scheme}://{public.netloc}".lower(),
    }


def _check_post(request: Request, form: Form) -> None:
    """Refuse a POST from another site, then one without this session's token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        raise Problem(403, "cross_site", "This form can only be sent from this site.")
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() not in _own_origins(request):
        raise Problem(403, "cross_site", "This form can only be sent from this site.")
    expected = request.session.get("csrf")
    sent = form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Problem(
            403,
            "csrf_failed",
            "The form was outdated or not sent from this site. Please go back, reload "
            "the page and try again.",
        )


async def _read_form(request: Request) -> Form:
    """The urlencoded form, read with a cap that also holds for a chunked body
    (which declares no length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        raise _form_too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > FORM_LIMIT:
            raise _form_too_large()
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad_form", "The form could not be read.") from None


def _form_too_large() -> Problem:
    return Problem(413, "payload_too_large", "The form is too large.")


def _session_secret(request: Request) -> str | None:
    secret = request.session.get("sid")
    return secret if isinstance(secret, str) else None


def _current_admin(request: Request) -> Admin | None:
    """The admin of this session, if its row is still there and has not
    expired; a cookie whose session has ended is dropped from the browser."""
    secret = _session_secret(request)
    if secret is None:
        return None
    ctx = _ctx(request)
    with db.read(ctx.engine) as conn:
        admin = admin_sessions.admin_of(conn, secret, ctx.clock())
    if admin is None:
        request.session.clear()
    return admin


def admin_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint for a logged-in admin: POSTs pass the site and CSRF checks
    first; the handler runs in the thread pool (database, argon2)."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await _read_form(request)
            _check_post(request, form)
        return await run_in_threadpool(_serve, handler, request, form)

    return endpoint


def _serve(handler: Handler, request: Request, form: Form | None) -> Response:
    admin = _current_admin(request)
    if admin is None:
        return _redirect(f"{PREFIX}/login")
    response = handler(request, admin, form)
    if form is not None:
        # A change to surveys or the tariff reaches this worker's widget
        # configs at once (other workers within the cache's second).
        _ctx(request).cache.clear()
    return response


# -- rendering -------------------------------------------------------------


def _language(request: Request, admin: Admin | None) -> str:
    if admin is not None and admin.language in i18n.LANGUAGES:
        return admin.language
    return i18n.negotiate(request.headers.get("accept-language"))


def _flash(request: Request, key: str, **params: Any) -> None:
    request.session["flash"] = [key, {k: str(v) for k, v in params.items()}]


_ASSET_VERSIONS: dict[str, str] = {}


def _asset(name: str) -> str:
    """A static file's address with a content hash, so a change is fetched anew."""
    if name not in _ASSET_VERSIONS:
        path = STATIC_DIR / name
        body = path.read_bytes() if path.is_file() else b""
        _ASSET_VERSIONS[name] = hashlib.sha256(body).hexdigest()[:10]
    return f"/static/{name}?v={_ASSET_VERSIONS[name]}"


def _render(
    request: Request,
    admin: Admin | None,
    template: str,
    *,
    status: int = 200,
    nav: str = "",
    **context: Any,
) -> Response:
    lang = _language(request, admin)
    ctx = _ctx(request)
    translate = i18n.translator(lang)
    flash = request.session.pop("flash", None)
    notice = None
    if isinstance(flash, list) and len(flash) == 2:
        notice = translate(str(flash[0]), **dict(flash[1]))
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        f"admin/{template}",
        {
            "lang": lang,
            "_": translate,
            "fmt": i18n.Formatter(lang, ctx.zone),
            "admin": admin,
            "csrf_token": _csrf_token(request),
            "notice": notice,
            "nav": nav,
            "asset": _asset,
            **context,
        },
        status_code=status,
    )
    return response


def _period_param(request: Request, current: str) -> str:
    """The ``period`` query parameter, within the months data can fall in: from
    2000-01 (no older data) to the end of next year. Beyond those, day
    arithmetic leaves the calendar (year 0 or 10000) and would end in a 500."""
    value = request.query_params.get("period", current)
    if not PERIOD.match(value):
        raise Problem(400, "invalid_period", "The period must look like 2026-05.")
    # Both ends are YYYY-MM strings, so text comparison orders them as months.
    last = f"{int(current[:4]) + 1:04d}-12"
    if not FIRST_PERIOD <= value <= last:
        raise Problem(
            400,
            "invalid_period",
            f"There is no data for {value}. Choose a month from {FIRST_PERIOD} to {last}.",
        )
    return value


def _page_param(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return int(value) if value.isdigit() and len(value) < 7 else 1


def _survey_or_404(conn: Any, admin: Admin, survey_id: int) -> RowMapping:
    survey = admin_store.get_survey(conn, admin.account_id, survey_id)
    if survey is None:
        raise Problem(404, "not_found", "There is no such survey in your account.")
    return survey


def _now_period(request: Request) -> tuple[datetime, str]:
    ctx = _ctx(request)
    now = ctx.clock()
    return now, budget.period_of(now, ctx.zone)


# -- login and logout ------------------------------------------------------


def start(request: Request) -> Response:
    logged_in = _session_secret(request) is not None
    return _redirect(f"{PREFIX}/dashboard" if logged_in else f"{PREFIX}/login")


def login_form(request: Request) -> Response:
    if _current_admin(request) is not None:
        return _redirect(f"{PREFIX}/dashboard")
    return _render(request, None, "login.html", email="", error=None)


async def login_submit(request: Request) -> Response:
    form = await _read_form(request)
    _check_post(request, form)
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: Form) -> Response:
    email, password = form.get("email", "")[:254], form.get("password", "")[:1024]
    ctx = _ctx(request)
    with db.write(ctx.engine) as conn:
        found = accounts.authenticate(conn, email, password) if email and password else None
        secret = None
        if found is not None:
            previous = _session_secret(request)
            if previous is not None:
                # Logging in again replaces this browser's session, not adds one.
                admin_sessions.end_session(conn, previous)
            secret = admin_sessions.open_session(conn, found[0], ctx.clock())
    if secret is None:
        # One message whether the email is unknown or the password wrong.
        return _render(request, None, "login.html", status=400, email=email, error="login.failed")
    # A fresh session (and CSRF token) at login: nothing planted before carries over.
    request.session.clear()
    request.session.update(sid=secret, csrf=secrets.token_urlsafe(32))
    return _redirect(f"{PREFIX}/dashboard")


def logout(request: Request, admin: Admin, form: Form | None) -> Response:
    secret = _session_secret(request)
    if secret is not None:
        with db.write(_ctx(request).engine) as conn:
            admin_sessions.end_session(conn, secret)
    request.session.clear()
    return _redirect(f"{PREFIX}/login")


def logout_everywhere(request: Request, admin: Admin, form: Form | None) -> Response:
    with db.write(_ctx(request).engine) as conn:
        admin_sessions.end_all(conn, admin.id)
    request.session.clear()
    _flash(request, "sessions.ended_everywhere")
    return _redirect(f"{PREFIX}/login")


# -- dashboard -------------------------------------------------------------


def dashboard(request: Request, admin: Admin, form: Form | None) -> Response:
    ctx = _ctx(request)
    now, period = _now_period(request)
    account = admin.account_id
    with db.read(ctx.engine) as conn:
        usage = budget.usage_state(conn, account, period)
        tariff = budget.tariff_state(conn, account, period)
        tariffs = {item.code: item for item in admin_store.list_tariffs(conn)}
        contact = stats.last_contact(conn, account)
        accepted = stats.last_accepted(conn, account, period)
        forecast = budget.forecast(conn, account, period, now, ctx.zone)
        nps = stats.account_nps(conn, account, period)
        has_surveys = bool(admin_store.list_surveys(conn, account))
    return _render(
        request,
        admin,
        "dashboard.html",
        nav="dashboard",
        period=period,
        usage=usage,
        tariff=tariffs.get(tariff.code),
        resets_at=budget.period_start(budget.next_period(period), ctx.zone),
        contact=contact,
        accepted=accepted,
        forecast=forecast,
        suggested=tariffs.get(forecast.suggested_tariff or ""),
        nps=nps,
        split=_split(nps),
        has_surveys=has_surveys,
    )


@dataclass(frozen=True)
class Share:
    segment: str
    count: int
    percent: int
    x: float
    width: float


def _split(summary: stats.Summary) -> list[Share]:
    """Segment shares as whole percents and as parts of a 100-unit bar."""
    total = summary.responses
    shares, x = [], 0.0
    for segment, count in summary.segments.items():
        width = 100 * count / total if total else 0.0
        shares.append(Share(segment, count, round(width), round(x, 3), round(width, 3)))
        x += width
    return shares


# -- surveys ---------------------------------------------------------------


def survey_list(request: Request, admin: Admin, form: Form | None) -> Response:
    with db.read(_ctx(request).engine) as conn:
        rows = admin_store.list_surveys(conn, admin.account_id)
    return _render(request, admin, "surveys.html", nav="surveys", surveys=rows)


def survey_new(request: Request, admin: Admin, form: Form | None) -> Response:
    if form is None:
        kind = request.query_params.get("kind", "nps")
        blank = survey_form.blank(kind if kind in surveys.KINDS else "nps")
        return _survey_form_page(request, admin, blank, None)
    parsed = survey_form.parse(form)
    if not parsed.valid:
        return _survey_form_page(request, admin, parsed, None, status=422)
    with db.write(_ctx(request).engine) as conn:
        survey_id = admin_store.create_survey(conn, admin.account_id, parsed.values)
    _flash(request, "survey.created")
    return _redirect(f"{PREFIX}/surveys/{survey_id}")


def survey_edit(request: Request, admin: Admin, form: Form | None) -> Response:
    survey_id = int(request.path_params["survey_id"])
    engine = _ctx(request).engine
    with db.read(engine) as conn:
        survey = _survey_or_404(conn, admin, survey_id)
    if form is None:
        return _survey_form_page(request, admin, survey_form.from_survey(survey), survey)
    parsed = survey_form.parse(form, kind=survey["kind"])
    if not parsed.valid:
        return _survey_form_page(request, admin, parsed, survey, status=422)
    with db.write(engine) as conn:
        if not admin_store.update_survey(conn, admin.account_id, survey_id, parsed.values):
            raise Problem(404, "not_found", "There is no such survey in your account.")
    _flash(request, "survey.saved")
    return _redirect(f"{PREFIX}/surveys/{survey_id}")


def survey_active(request: Request, admin: Admin, form: Form | None) -> Response:
    survey_id = int(request.path_params["survey_id"])
    active = (form or {}).get("active") == "1"
    with db.write(_ctx(request).engine) as conn:
        if not admin_store.set_active(conn, admin.account_id, survey_id, active):
            raise Problem(404, "not_found", "There is no such survey in your account.")
    _flash(request, "survey.activated" if active else "survey.deactivated")
    return _redirect(f"{PREFIX}/surveys/{survey_id}")


def _survey_form_page(
    request: Request,
    admin: Admin,
    form: survey_form.SurveyForm,
    survey: RowMapping | None,
    *,
    status: int = 200,
) -> Response:
    kind = survey["kind"] if survey is not None else form.fields["kind"]
    kind = kind if kind in surveys.KINDS else "nps"
    return _render(
        request,
        admin,
        "survey_form.html",
        status=status,
        nav="surveys",
        form=form,
        survey=survey,
        kind=kind,
        kinds=surveys.KINDS,
        languages=surveys.LANGUAGES,
        segments=surveys.segments(kind),
        ranges={item: survey_form.score_ranges(item) for item in surveys.KINDS},
        positions=surveys.POSITIONS,
        audiences=surveys.REVIEW_AUDIENCES,
        defaults={lang: surveys.texts_for(kind, {}, lang) for lang in surveys.LANGUAGES},
        embed=_embed(request, survey) if survey is not None else None,
    )


@dataclass(frozen=True)
class Embed:
    snippet: str
    sri_snippet: str | None
    link_url: str


def _embed(request: Request, survey: RowMapping) -> Embed:
    ctx = _ctx(request)
    public_url = ctx.settings.public_url
    embed_key = ctx.signer.embed_key(survey["public_id"])
    widget = getattr(request.app.state, "widget", None)
    sri = None
    if widget is not None:
        sri = surveys.snippet(public_url, embed_key, widget.integrity, widget.digest)
    return Embed(
        surveys.snippet(public_url, embed_key),
        sri,
        f"{public_url}/s/{ctx.signer.link_key(survey['public_id'])}",
    )


# -- results and export ----------------------------------------------------


def results(request: Request, admin: Admin, form: Form | None) -> Response:
    ctx = _ctx(request)
    survey_id = int(request.path_params["survey_id"])
    _now, current = _now_period(request)
    period = _period_param(request, current)
    page = _page_param(request)
    with db.read(ctx.engine) as conn:
        survey = _survey_or_404(conn, admin, survey_id)
        kind = survey["kind"]
        segment = request.query_params.get("segment") or None
        if segment not in surveys.segments(kind):
            segment = None
        summary = stats.survey_summary(conn, admin.account_id, survey_id, period)
        trend = stats.daily_trend(conn, admin.account_id, survey_id, period, ctx.zone)
        comment_page = stats.comments(conn, admin.account_id, survey_id, period, segment, page)
        periods = stats.list_periods(conn, admin.account_id)
    if summary is None:  # pragma: no cover - the survey was checked above
        raise Problem(404, "not_found", "There is no such survey in your account.")
    choices = sorted({*periods, current, period}, reverse=True)

    def page_url(number: int) -> str:
        query = {"period": period, "page": number, **({"segment": segment} if segment else {})}
        return f"?{urlencode(query)}"

    return _render(
        request,
        admin,
        "results.html",
        nav="surveys",
        survey=survey,
        kind=kind,
        period=period,
        periods=choices,
        summary=summary,
        split=_split(summary),
        chart=charts.trend_chart(kind, trend),
        comments=comment_page,
        segment=segment,
        segments=surveys.segments(kind),
        page_url=page_url,
        export_url=f"{PREFIX}/surveys/{survey_id}/export.csv?{urlencode({'period': period})}",
    )


def export(request: Request, admin: Admin, form: Form | None) -> Response:
    ctx = _ctx(request)
    survey_id = int(request.path_params["survey_id"])
    _now, current = _now_period(request)
    period = _period_param(request, current)
    try:
        chunks = csv_export.export_csv(ctx.engine, admin.account_id, survey_id, period)
    except csv_export.NotFound:
        raise Problem(404, "not_found", "There is no such survey in your account.") from None
    filename = f"survey-{survey_id}-{period}.csv"
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- tariff ----------------------------------------------------------------


def tariff_page(request: Request, admin: Admin, form: Form | None) -> Response:
    engine = _ctx(request).engine
    _now, period = _now_period(request)
    if form is not None:
        return _change_tariff(request, admin, form.get("code", ""), period)
    with db.read(engine) as conn:
        state = budget.tariff_state(conn, admin.account_id, period)
        usage = budget.usage_state(conn, admin.account_id, period)
        tariffs = admin_store.list_tariffs(conn)
    by_code = {item.code: item for item in tariffs}
    return _render(
        request,
        admin,
        "tariff.html",
        nav="tariff",
        period=period,
        state=state,
        current=by_code.get(state.code),
        pending=by_code.get(state.pending_code or ""),
        usage=usage,
        tariffs=tariffs,
    )


def _change_tariff(request: Request, admin: Admin, code: str, period: str) -> Response:
    with db.write(_ctx(request).engine) as conn:
        before = budget.tariff_state(conn, admin.account_id, period)
        try:
            after = budget.change_tariff(conn, admin.account_id, code, period)
        except budget.UnknownTariff:
            raise Problem(400, "unknown_tariff", "There is no such tariff.") from None
        names = {item.code: item.name for item in admin_store.list_tariffs(conn)}
    name = names.get(code, code)
    if after.pending_code == code and after.pending_from:
        fmt = i18n.Formatter(_language(request, admin), _ctx(request).zone)
        _flash(
            request,
            "tariff.downgrade_scheduled",
            tariff=name,
            period=fmt.period(after.pending_from),
        )
    elif after.code != before.code:
        _flash(request, "tariff.upgraded", tariff=name)
    else:
        _flash(request, "tariff.unchanged", tariff=name)
    return _redirect(f"{PREFIX}/tariff")


def tariff_cancel(request: Request, admin: Admin, form: Form | None) -> Response:
    with db.write(_ctx(request).engine) as conn:
        budget.cancel_pending(conn, admin.account_id)
    _flash(request, "tariff.cancelled")
    return _redirect(f"{PREFIX}/tariff")


# -- the admin's own account -----------------------------------------------


def account_page(request: Request, admin: Admin, form: Form | None) -> Response:
    return _account_page(request, admin)


def _account_page(
    request: Request, admin: Admin, *, error: str | None = None, status: int = 200
) -> Response:
    return _render(
        request,
        admin,
        "account.html",
        status=status,
        nav="account",
        error=error,
        languages=i18n.LANGUAGES,
        password_min=accounts.PASSWORD_MIN,
    )


def change_password(request: Request, admin: Admin, form: Form | None) -> Response:
    form = form or {}
    current, new = form.get("current_password", ""), form.get("new_password", "")
    if new != form.get("repeat_password", ""):
        return _account_page(request, admin, error="password.mismatch", status=422)
    if len(new) < accounts.PASSWORD_MIN or len(new) > 1024:
        return _account_page(request, admin, error="password.too_short", status=422)
    ctx = _ctx(request)
    with db.write(ctx.engine) as conn:
        if accounts.authenticate(conn, admin.email, current[:1024]) is None:
            return _account_page(request, admin, error="password.wrong", status=422)
        secret = admin_sessions.change_password(conn, admin.id, new, ctx.clock())
    # This browser stays logged in under a new secret; every other session,
    # and any copy of this one's old cookie, has ended.
    request.session["sid"] = secret
    _flash(request, "password.changed")
    return _redirect(f"{PREFIX}/account")


def change_language(request: Request, admin: Admin, form: Form | None) -> Response:
    language = (form or {}).get("language", "")
    if language not in (*i18n.LANGUAGES, ""):
        raise Problem(400, "invalid_language", "Unsupported language.")
    with db.write(_ctx(request).engine) as conn:
        admin_store.set_language(conn, admin.id, language or None)
    _flash(request, "language.saved")
    return _redirect(f"{PREFIX}/account")
