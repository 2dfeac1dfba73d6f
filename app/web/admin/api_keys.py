"""The account's API keys: the list, creating one, and revoking one after a
confirmation.

A new key's secret is shown once, in the answer to the POST that made it:
a redirect would have to carry it in its address or in the session cookie,
and either keeps it around. The answer is never cached (every admin answer
is ``no-store``) and no later page can show the secret again.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from app.accounts import api_keys
from app.accounts.preferences import Admin
from app.invitations import views as record_views
from app.platform import urls
from app.web.admin.csrf import Form
from app.web.admin.render import ctx, flash, redirect, render
from app.web.problem import Problem

NAME_FIELD_MAX = 1000  # what is read of the name field; the key's limit is api_keys.NAME_MAX


def api_keys_page(request: Request, admin: Admin) -> Response:
    return _page(request, admin)


def _page(
    request: Request, admin: Admin, *, name: str = "", error: str | None = None, status: int = 200
) -> Response:
    keys = api_keys.list_for_account(ctx(request).engine, admin.account_id)
    return render(
        request,
        admin,
        "api_keys.html",
        status=status,
        nav="email",
        tab="api_keys",
        keys=keys,
        name=name,
        error=error,
        name_max=api_keys.NAME_MAX,
    )


def create_key(request: Request, admin: Admin, form: Form) -> Response:
    context = ctx(request)
    name = form.get("name", "")[:NAME_FIELD_MAX]
    try:
        key, secret = api_keys.issue(context.engine, admin.account_id, name, context.clock())
    except api_keys.ApiKeyError as error:
        return _page(request, admin, name=name, error=f"api_keys.{error.code}", status=422)
    choices = record_views.survey_choices(context.engine, admin.account_id)
    response = render(
        request,
        admin,
        "api_key_created.html",
        nav="email",
        tab="api_keys",
        key=key,
        secret=secret,
        curl=_curl(context.settings.public_url, secret, record_views.first_survey_id(choices)),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _curl(public_url: str, secret: str, survey_id: int | None) -> str:
    """A first request with the new key, ready to paste into a terminal."""
    record = {
        "survey_id": survey_id or 1,
        "email": "jane@example.com",
        "name": "Jane Doe",
        "event": "order",
        "external_id": "order-1001",
    }
    return (
        f"curl -X POST {public_url}/api/v1/records \\\n"
        f'  -H "Authorization: Bearer {secret}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{json.dumps(record)}'"
    )


def _key(request: Request, admin: Admin) -> api_keys.ApiKey:
    key_id = int(request.path_params["key_id"])
    found = api_keys.find(ctx(request).engine, admin.account_id, key_id)
    if found is None:
        # Another account's key answers exactly like one that does not exist.
        raise Problem(404, "no_such_api_key", "There is no such API key in your account.")
    return found


def confirm_revoke(request: Request, admin: Admin) -> Response:
    key = _key(request, admin)
    return render(
        request,
        admin,
        "api_key_revoke.html",
        nav="email",
        tab="api_keys",
        key=key,
        back=urls.admin("api-keys"),
    )


def revoke_key(request: Request, admin: Admin, form: Form) -> Response:
    key = _key(request, admin)
    context = ctx(request)
    if api_keys.revoke(context.engine, admin.account_id, key.id, context.clock()):
        flash(request, "api_keys.revoked", name=key.name)
    else:
        flash(request, "api_keys.already_revoked", name=key.name)
    return redirect(urls.admin("api-keys"))
