"""Uploading a CSV file of records: the form, the upload, its result page
and the refused rows as a CSV download.

The upload is a multipart form, which the CSRF middleware (made for small
urlencoded forms) does not read: it checks the site before the body is
read, and this handler the session's token before anything is taken.
Starlette spools the file to disk past 1 MB; the body is capped at
``MAX_UPLOAD_BYTES`` and a bigger one gets the form back with a message.
Taking the rows blocks (one transaction each), so it runs in the thread pool.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive

from app.accounts.preferences import Admin
from app.invitations import intake as record_intake
from app.invitations import views as record_views
from app.invitations.record_csv import refused_rows_csv
from app.platform import urls
from app.web.admin import auth, csrf
from app.web.admin.render import ctx, language, redirect, render
from app.web.problem import Problem

MAX_UPLOAD_BYTES = record_intake.MAX_UPLOAD_BYTES
# The multipart envelope and the small fields beside the file.
BODY_LIMIT = MAX_UPLOAD_BYTES + 64 * 1024
# How much of a too large body is read and dropped, so that the browser,
# still sending, gets to see the answer; past this the connection just ends.
DRAIN_LIMIT = 20 * MAX_UPLOAD_BYTES
Error = tuple[str, dict[str, Any]]


def upload_form(request: Request, admin: Admin) -> Response:
    return _form_page(request, admin)


def _form_page(
    request: Request,
    admin: Admin,
    *,
    survey_id: int | None = None,
    error: Error | None = None,
    status: int = 200,
) -> Response:
    engine = ctx(request).engine
    choices = record_views.survey_choices(engine, admin.account_id)
    if survey_id is None:
        value = request.query_params.get("survey", "")
        survey_id = int(value) if value.isdigit() and len(value) < 10 else None
    return render(
        request,
        admin,
        "upload.html",
        status=status,
        nav="email",
        tab="upload",
        choices=choices,
        chosen=survey_id or record_views.first_survey_id(choices),
        error=error,
        uploads=record_intake.recent_uploads(engine, admin.account_id),
        max_rows=record_intake.MAX_ROWS,
        max_megabytes=MAX_UPLOAD_BYTES // (1024 * 1024),
        max_bytes=MAX_UPLOAD_BYTES,
    )


class _TooLarge(Exception):
    """The body grew past BODY_LIMIT while it was read."""


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _TooLarge
        return message

    return capped


async def _drain(request: Request) -> None:
    """Read what is left of the body and drop it, up to DRAIN_LIMIT."""
    dropped = 0
    try:
        async for chunk in request.stream():
            dropped += len(chunk)
            if dropped > DRAIN_LIMIT:
                return
    except Exception:  # the client gave up: nobody reads the answer anyway
        return


async def upload(request: Request) -> Response:
    admin = await run_in_threadpool(auth.current_admin, request)
    if admin is None:
        return redirect(urls.admin("login"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        await _drain(request)
        return await run_in_threadpool(_too_large, request, admin)
    capped = Request(request.scope, _capped(request.receive, BODY_LIMIT))
    try:
        async with capped.form(max_files=1, max_fields=10, max_part_size=64 * 1024) as form:
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            csrf.check_token(request.session, fields)
            file = form.get("file")
            survey = fields.get("survey_id", "")
            survey_id = int(survey) if survey.isdigit() and len(survey) < 10 else None
            return await run_in_threadpool(_take, request, admin, survey_id, file)
    except _TooLarge:
        await _drain(request)
        return await run_in_threadpool(_too_large, request, admin)


def _too_large(request: Request, admin: Admin) -> Response:
    error = ("intake.too_large", {"max": MAX_UPLOAD_BYTES // (1024 * 1024)})
    return _form_page(request, admin, error=error, status=413)


def _take(
    request: Request, admin: Admin, survey_id: int | None, file: UploadFile | str | None
) -> Response:
    if survey_id is None:
        return _form_page(request, admin, error=("intake.choose_survey", {}), status=422)
    if not isinstance(file, UploadFile) or not (file.filename or file.size):
        return _form_page(
            request, admin, survey_id=survey_id, error=("intake.choose_file", {}), status=422
        )
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        return _too_large(request, admin)
    context = ctx(request)
    try:
        upload_id = record_intake.take_upload(
            context.engine,
            admin.account_id,
            survey_id,
            file.file,
            file.filename or "",
            context.clock(),
            context.zone,
        )
    except record_intake.UploadRefused as refused:
        error = (refused.key, refused.params)
        return _form_page(request, admin, survey_id=survey_id, error=error, status=422)
    return redirect(urls.admin(f"records/uploads/{upload_id}"))


def _no_such_upload() -> Problem:
    return Problem(404, "no_such_upload", "There is no such upload in your account.")


def upload_result(request: Request, admin: Admin) -> Response:
    upload_id = int(request.path_params["upload_id"])
    found = record_intake.get_upload(ctx(request).engine, admin.account_id, upload_id)
    if found is None:
        raise _no_such_upload()
    lang = language(request, admin)
    return render(
        request,
        admin,
        "upload_result.html",
        nav="email",
        tab="upload",
        upload=found,
        reasons={item.reason: record_intake.describe(lang, item.reason) for item in found.refused},
        shown_max=record_intake.SHOWN_REFUSED,
    )


def refused_download(request: Request, admin: Admin) -> Response:
    upload_id = int(request.path_params["upload_id"])
    found = record_intake.refused_rows(ctx(request).engine, admin.account_id, upload_id)
    if found is None:
        raise _no_such_upload()
    lang = language(request, admin)
    rows = ((item.line, item.email, record_intake.describe(lang, item.reason)) for item in found)
    return StreamingResponse(
        refused_rows_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="refused-rows-{upload_id}.csv"'},
    )
