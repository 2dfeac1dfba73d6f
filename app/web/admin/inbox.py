"""The inbox: responses that need action, filtered and counted per status;
one item with its status, assignee and notes, what happened before for an
e-mail response, and a reply by e-mail. Items are named by their response's
id; another account's answers 404 like one that does not exist."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.inbox import changes
from app.inbox import items as inbox
from app.invitations import views as record_views
from app.platform import urls
from app.surveys import scales
from app.web import http
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, language, redirect, render
from app.web.problem import Problem

SEGMENTS = tuple(dict.fromkeys(name for kind in scales.KINDS for name in scales.segments(kind)))


def _number(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def inbox_page(request: Request, admin: Admin) -> Response:
    context = ctx(request)
    query = request.query_params
    surveys = record_views.survey_choices(context.engine, admin.account_id)
    admins = inbox.admin_choices(context.engine, admin.account_id)
    # Values that are not among the choices are dropped, as if not given.
    status = query.get("status", "")
    status = status if status in inbox.STATUSES else ""
    assignee_text = query.get("assignee", "")
    assignee: int | str | None = None
    if assignee_text == "none":
        assignee = "none"
    elif _number(assignee_text) in {choice.id for choice in admins}:
        assignee = _number(assignee_text)
    survey_id = _number(query.get("survey", ""))
    survey_id = survey_id if survey_id in {choice.id for choice in surveys} else None
    segment = query.get("segment", "")
    segment = segment if segment in SEGMENTS else ""
    filters = inbox.Filters(status or None, assignee, survey_id, segment or None)
    found = inbox.list_items(
        context.engine, admin.account_id, filters, page=http.page_number(request)
    )
    chosen: dict[str, str | int] = {}
    if assignee is not None:
        chosen["assignee"] = assignee
    if survey_id is not None:
        chosen["survey"] = survey_id
    if segment:
        chosen["segment"] = segment

    def url(**changes: Any) -> str:
        values = {**chosen, **({"status": status} if status else {}), **changes}
        values = {key: value for key, value in values.items() if value not in ("", None)}
        return f"/admin/inbox?{urlencode(values)}" if values else "/admin/inbox"

    return render(
        request,
        admin,
        "inbox.html",
        nav="inbox",
        found=found,
        filters=filters,
        chosen_status=status,
        assignee=assignee,
        survey_id=survey_id,
        segment=segment,
        surveys=surveys,
        admins=admins,
        segments=SEGMENTS,
        statuses=inbox.STATUSES,
        url=url,
    )


def _item(request: Request, admin: Admin) -> inbox.Item:
    found = inbox.find_item(
        ctx(request).engine,
        admin.account_id,
        int(request.path_params["response_id"]),
        language(request, admin),
    )
    if found is None:
        raise Problem(404, "no_such_item", "There is no such inbox item in your account.")
    return found


def _item_page(
    request: Request,
    admin: Admin,
    item: inbox.Item,
    *,
    status: int = 200,
    error: tuple[str, str, dict[str, Any]] | None = None,
    fields: dict[str, str] | None = None,
) -> Response:
    context = ctx(request)
    subject = changes.reply_subject(
        changes.account_name(context.engine, admin.account_id),
        item.recipient_language or language(request, admin),
    )
    return render(
        request,
        admin,
        "inbox_item.html",
        status=status,
        nav="inbox",
        item=item,
        statuses=inbox.STATUSES,
        # (form, message key, parameters): which form the error belongs to.
        error=error,
        fields={"subject": subject, "reply": "", "note": "", **(fields or {})},
        limits={
            "note": changes.NOTE_MAX,
            "subject": changes.SUBJECT_MAX,
            "reply": changes.REPLY_MAX,
        },
        back=urls.admin("inbox"),
    )


def item_page(request: Request, admin: Admin) -> Response:
    return _item_page(request, admin, _item(request, admin))


def _response_id(request: Request) -> int:
    return int(request.path_params["response_id"])


def _gone() -> Problem:
    return Problem(404, "no_such_item", "There is no such inbox item in your account.")


def update_item(request: Request, admin: Admin, form: Form) -> Response:
    context = ctx(request)
    response_id = _response_id(request)
    try:
        changed = changes.update_item(
            context.engine,
            admin.account_id,
            response_id,
            context.clock(),
            status=form.get("status", ""),
            assignee=form.get("assignee", ""),
        )
    except inbox.InboxError as exc:
        return _item_page(
            request, admin, _item(request, admin), status=422, error=("state", exc.key, exc.params)
        )
    if not changed:
        raise _gone()
    flash(request, "inbox.saved")
    return redirect(urls.admin(f"inbox/{response_id}"))


def add_note(request: Request, admin: Admin, form: Form) -> Response:
    context = ctx(request)
    response_id = _response_id(request)
    body = form.get("note", "")
    try:
        added = changes.add_note(
            context.engine, admin.account_id, admin.id, response_id, body, context.clock()
        )
    except inbox.InboxError as exc:
        return _item_page(
            request,
            admin,
            _item(request, admin),
            status=422,
            error=("note", exc.key, exc.params),
            fields={"note": body},
        )
    if not added:
        raise _gone()
    flash(request, "inbox.note_added")
    return redirect(urls.admin(f"inbox/{response_id}"))


def send_reply(request: Request, admin: Admin, form: Form) -> Response:
    context = ctx(request)
    response_id = _response_id(request)
    subject, body = form.get("subject", ""), form.get("reply", "")
    try:
        queued = changes.queue_reply(
            context.engine,
            admin.account_id,
            admin.id,
            response_id,
            subject=subject,
            body=body,
            now=context.clock(),
        )
    except inbox.InboxError as exc:
        return _item_page(
            request,
            admin,
            _item(request, admin),
            status=422,
            error=("reply", exc.key, exc.params),
            fields={"subject": subject, "reply": body},
        )
    if not queued:
        raise _gone()
    flash(request, "inbox.reply_queued")
    return redirect(urls.admin(f"inbox/{response_id}"))
