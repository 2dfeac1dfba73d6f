"""A survey's rewards: the pools of coupon codes per segment (codes left and
handed out), adding codes from a textarea and/or a file, and clearing the
codes never handed out.

Adding codes is a multipart form (a file may come with it), so like the CSV
upload of records the CSRF middleware checks the site and this handler the
session's token. An upload is taken whole or not at all.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.answers import rewards
from app.editor import store as admin_store
from app.platform import urls
from app.surveys.model import Survey
from app.web.admin import auth, csrf
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, no_such_survey, redirect, render
from app.web.admin.uploads import Error, _capped, _drain, _TooLarge

MAX_BYTES = rewards.MAX_UPLOAD_BYTES
# A textarea and a file, each up to MAX_BYTES, and the small fields.
BODY_LIMIT = 2 * MAX_BYTES + 64 * 1024
# The textarea is shown again after an error only while it is this short.
KEEP_TEXT = 64 * 1024


def _survey(request: Request, admin: Admin) -> Survey:
    survey_id = int(request.path_params["survey_id"])
    survey = admin_store.get_survey(ctx(request).engine, admin.account_id, survey_id)
    if survey is None:
        raise no_such_survey()
    return survey


def rewards_page(request: Request, admin: Admin) -> Response:
    return _page(request, admin, _survey(request, admin))


def _page(
    request: Request,
    admin: Admin,
    survey: Survey,
    *,
    error: Error | None = None,
    segment: str | None = None,
    codes: str = "",
    status: int = 200,
) -> Response:
    segments = survey.scale.segments
    return render(
        request,
        admin,
        "rewards.html",
        status=status,
        nav="surveys",
        survey=survey,
        segments=segments,
        ranges=survey.scale.ranges(),
        settings={item: rewards.reward_of(survey, item) for item in segments},
        pools=admin_store.pools(ctx(request).engine, admin.account_id, survey.id),
        chosen=segment if segment in segments else _first_pool(survey),
        codes=codes if len(codes) <= KEEP_TEXT else "",
        error=error,
        max_codes=rewards.MAX_PER_UPLOAD,
        max_pool=rewards.MAX_POOL,
        max_megabytes=MAX_BYTES // (1024 * 1024),
        max_length=rewards.CODE_MAX,
    )


def _first_pool(survey: Survey) -> str:
    segments = survey.scale.segments
    return next((item for item in segments if rewards.has_pool(survey, item)), segments[-1])


async def add_codes(request: Request) -> Response:
    admin = await run_in_threadpool(auth.current_admin, request)
    if admin is None:
        return redirect(urls.admin("login"))
    survey = await run_in_threadpool(_survey, request, admin)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        await _drain(request)
        return await run_in_threadpool(_too_large, request, admin, survey)
    capped = Request(request.scope, _capped(request.receive, BODY_LIMIT))
    try:
        async with capped.form(max_files=1, max_fields=8, max_part_size=MAX_BYTES) as form:
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            csrf.check_token(request.session, fields)
            file = form.get("file")
            data = b""
            if isinstance(file, UploadFile) and (file.filename or file.size):
                data = await file.read(MAX_BYTES + 1)
            return await run_in_threadpool(_take, request, admin, survey, fields, data)
    except _TooLarge:
        await _drain(request)
        return await run_in_threadpool(_too_large, request, admin, survey)


def _too_large(request: Request, admin: Admin, survey: Survey) -> Response:
    error = ("coupon.too_large", {"max": MAX_BYTES // (1024 * 1024)})
    return _page(request, admin, survey, error=error, status=413)


def _take(
    request: Request, admin: Admin, survey: Survey, fields: dict[str, str], data: bytes
) -> Response:
    segment = fields.get("segment", "")
    typed = fields.get("codes", "")
    if segment not in survey.scale.segments:
        error: Error = ("error.choice", {})
        return _page(request, admin, survey, error=error, codes=typed, status=422)
    if len(data) > MAX_BYTES:
        return _too_large(request, admin, survey)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        error = ("coupon.encoding", {})
        return _page(request, admin, survey, error=error, segment=segment, codes=typed, status=422)
    context = ctx(request)
    try:
        codes = rewards.parse_codes([*typed.splitlines(), *text.splitlines()])
        added = rewards.add_codes(
            context.engine, admin.account_id, survey, segment, codes, context.clock()
        )
    except rewards.UploadRefused as refused:
        error = (refused.key, refused.params)
        return _page(request, admin, survey, error=error, segment=segment, codes=typed, status=422)
    flash(request, "coupon.added", count=added)
    return redirect(urls.admin(f"surveys/{survey.id}/rewards"))


def clear_codes(request: Request, admin: Admin, form: Form) -> Response:
    survey = _survey(request, admin)
    segment = form.get("segment", "")
    if segment not in survey.scale.segments:
        return _page(request, admin, survey, error=("error.choice", {}), status=422)
    removed = rewards.clear_unused(ctx(request).engine, admin.account_id, survey.id, segment)
    flash(request, "coupon.cleared", count=removed)
    return redirect(urls.admin(f"surveys/{survey.id}/rewards"))
