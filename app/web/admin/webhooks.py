"""The account's webhook endpoints: the list and a new one, one endpoint's
settings with its delivery log, a test event, a new secret, deleting one.

A secret is shown once, in the answer to the POST that made it (creating or
rotating), as with API keys: a redirect would have to carry it. Every query
names the logged-in account, so another account's endpoint is a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.platform import urls
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, redirect, render
from app.web.problem import Problem
from app.webhooks import endpoints as webhooks
from app.webhooks import targets

URL_FIELD_MAX = 4096  # what is read of the URL field; the limit is webhooks.URL_MAX


def _wanted(form: Form) -> list[str]:
    return [event for event in webhooks.EVENTS if form.get(f"event.{event}")]


def webhooks_page(request: Request, admin: Admin) -> Response:
    return _list(request, admin)


def _list(
    request: Request,
    admin: Admin,
    *,
    url: str = "",
    events: tuple[str, ...] = ("response.created",),
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        admin,
        "webhooks.html",
        status=status,
        nav="account",
        tab="webhooks",
        endpoints=webhooks.list_for_account(ctx(request).engine, admin.account_id),
        events=webhooks.EVENTS,
        chosen=events,
        url=url,
        error=error,
        production=ctx(request).settings.production,
    )


def create_endpoint(request: Request, admin: Admin, form: Form) -> Response:
    context = ctx(request)
    url = form.get("url", "")[:URL_FIELD_MAX]
    wanted = _wanted(form)
    try:
        endpoint, secret = webhooks.create(
            context.engine,
            admin.account_id,
            url,
            wanted,
            context.clock(),
            context.settings.production,
        )
    except targets.TargetRefused as refused:
        return _list(
            request,
            admin,
            url=url,
            events=tuple(wanted),
            error=f"webhooks.error.{refused.code}",
            status=422,
        )
    return _secret_page(request, admin, endpoint, secret, rotated=False)


def _secret_page(
    request: Request, admin: Admin, endpoint: webhooks.Endpoint, secret: str, *, rotated: bool
) -> Response:
    response = render(
        request,
        admin,
        "webhook_secret.html",
        nav="account",
        tab="webhooks",
        endpoint=endpoint,
        secret=secret,
        rotated=rotated,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _endpoint(request: Request, admin: Admin) -> webhooks.Endpoint:
    found = webhooks.find(
        ctx(request).engine, admin.account_id, int(request.path_params["endpoint_id"])
    )
    if found is None:
        # Another account's endpoint answers exactly like one that does not exist.
        raise Problem(404, "no_such_webhook", "There is no such webhook endpoint in your account.")
    return found


def endpoint_page(request: Request, admin: Admin) -> Response:
    return _detail(request, admin, _endpoint(request, admin))


def _detail(
    request: Request,
    admin: Admin,
    endpoint: webhooks.Endpoint,
    *,
    url: str | None = None,
    events: tuple[str, ...] | None = None,
    active: bool | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    log, waiting = webhooks.delivery_log(ctx(request).engine, admin.account_id, endpoint.id)
    return render(
        request,
        admin,
        "webhook.html",
        status=status,
        nav="account",
        tab="webhooks",
        endpoint=endpoint,
        events=webhooks.EVENTS,
        url=endpoint.url if url is None else url,
        chosen=endpoint.events if events is None else events,
        active=endpoint.active if active is None else active,
        error=error,
        log=log,
        waiting=waiting,
        production=ctx(request).settings.production,
    )


def save_endpoint(request: Request, admin: Admin, form: Form) -> Response:
    endpoint = _endpoint(request, admin)
    context = ctx(request)
    url = form.get("url", "")[:URL_FIELD_MAX]
    wanted = _wanted(form)
    active = form.get("active") == "1"
    try:
        webhooks.update_endpoint(
            context.engine,
            admin.account_id,
            endpoint.id,
            url,
            wanted,
            active,
            context.settings.production,
        )
    except targets.TargetRefused as refused:
        return _detail(
            request,
            admin,
            endpoint,
            url=url,
            events=tuple(wanted),
            active=active,
            error=f"webhooks.error.{refused.code}",
            status=422,
        )
    flash(request, "webhooks.saved")
    return redirect(urls.admin(f"webhooks/{endpoint.id}"))


def send_test(request: Request, admin: Admin, form: Form) -> Response:
    endpoint = _endpoint(request, admin)
    context = ctx(request)
    webhooks.send_test(context.engine, admin.account_id, endpoint.id, context.clock())
    flash(request, "webhooks.test_queued")
    return redirect(urls.admin(f"webhooks/{endpoint.id}"))


def rotate_secret(request: Request, admin: Admin, form: Form) -> Response:
    endpoint = _endpoint(request, admin)
    context = ctx(request)
    secret = webhooks.rotate(context.engine, admin.account_id, endpoint.id, context.clock())
    if secret is None:
        raise Problem(404, "no_such_webhook", "There is no such webhook endpoint in your account.")
    return _secret_page(request, admin, endpoint, secret, rotated=True)


def confirm_delete(request: Request, admin: Admin) -> Response:
    endpoint = _endpoint(request, admin)
    return render(
        request, admin, "webhook_delete.html", nav="account", tab="webhooks", endpoint=endpoint
    )


def delete_endpoint(request: Request, admin: Admin, form: Form) -> Response:
    endpoint = _endpoint(request, admin)
    webhooks.remove(ctx(request).engine, admin.account_id, endpoint.id)
    flash(request, "webhooks.deleted", url=endpoint.url)
    return redirect(urls.admin("webhooks"))
