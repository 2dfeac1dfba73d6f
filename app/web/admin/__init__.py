"""The admin settings pages under /admin: one route table.

Server-rendered pages behind an email + password login (``auth``). Every form
carries a CSRF token from the session, and every POST must come from this
site (``csrf``). Every survey is looked up together with the logged-in
account, so another account's survey id answers 404 like one that does not
exist. The pages live in modules named after what they show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Mount, Route

from app.platform import urls
from app.platform.settings import Settings
from app.web.admin import (
    account,
    api_keys,
    auth,
    csrf,
    dashboard,
    deletions,
    help,
    inbox,
    owner_tests,
    preview,
    records,
    results,
    rewards,
    surveys,
    tariff,
    uploads,
    webhooks,
)
from app.web.admin.auth import admin_form, admin_page
from app.web.admin.render import redirect

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def routes(settings: Settings, login_limit: Decorator) -> list[BaseRoute]:
    def get(path: str, endpoint: Callable[..., Any]) -> Route:
        return Route(path, endpoint, methods=["GET"])

    # Every route that takes a form has the CSRF check in front of it. On the
    # routes rather than the mount, so that a POST to a page without forms
    # stays a 405.
    checked = Middleware(csrf.CSRFMiddleware, origins=[settings.public_url])

    def post(path: str, endpoint: Callable[..., Any]) -> Route:
        return Route(path, endpoint, methods=["POST"], middleware=[checked])

    # A file upload: the site is checked here, the token by the handler once
    # it has read the multipart body (see uploads).
    upload_checked = Middleware(
        csrf.CSRFMiddleware, origins=[settings.public_url], reads_form=False
    )

    survey = "/surveys/{survey_id:int}"
    response = f"{survey}/responses/{{response_id:int}}"
    record = "/records/{record_id:int}"
    upload = "/records/uploads/{upload_id:int}"
    api_key = "/api-keys/{key_id:int}"
    inbox_item = "/inbox/{response_id:int}"
    webhook = "/webhooks/{endpoint_id:int}"
    pages = [
        # logging in and out
        get("/", auth.start),
        get("/login", auth.login_form),
        post("/login", login_limit(auth.login_submit)),
        post("/logout", admin_form(auth.logout)),
        post("/logout-everywhere", admin_form(auth.logout_everywhere)),
        # the pages the navigation links to
        get("/dashboard", admin_page(dashboard.dashboard)),
        get("/surveys", admin_page(surveys.survey_list)),
        get("/tariff", admin_page(tariff.tariff_page)),
        get("/tariff/confirm", admin_page(tariff.confirm_page)),
        get("/account", admin_page(account.account_page)),
        get("/help/widget", admin_page(help.widget_help)),
        # one survey: its settings, then its results
        get("/surveys/new", admin_page(surveys.new_survey_form)),
        get("/surveys/new/preview", admin_page(preview.new_survey_preview)),
        post("/surveys/new", admin_form(surveys.create_survey)),
        get(survey, admin_page(surveys.edit_survey_form)),
        get(f"{survey}/preview", admin_page(preview.survey_preview)),
        post(survey, admin_form(surveys.save_survey)),
        post(f"{survey}/active", admin_form(surveys.set_active)),
        get(f"{survey}/delete", admin_page(deletions.confirm_delete_survey)),
        post(f"{survey}/delete", admin_form(deletions.delete_survey)),
        post(f"{survey}/allowed-origins", admin_form(surveys.allow_origin)),
        get(f"{survey}/results", admin_page(results.results)),
        get(f"{survey}/export.csv", admin_page(results.export)),
        get(f"{response}/delete", admin_page(deletions.confirm_delete_response)),
        post(f"{response}/delete", admin_form(deletions.delete_response)),
        # rewards: the pools of coupon codes per segment
        get(f"{survey}/rewards", admin_page(rewards.rewards_page)),
        Route(
            f"{survey}/rewards/codes",
            rewards.add_codes,
            methods=["POST"],
            middleware=[upload_checked],
        ),
        post(f"{survey}/rewards/clear", admin_form(rewards.clear_codes)),
        # answers given through the survey's test key
        get(f"{survey}/test-answers", admin_page(owner_tests.test_answers)),
        post(f"{survey}/test-answers/delete", admin_form(owner_tests.clear_test_answers)),
        # changes to the tariff and to the admin's own account
        post("/tariff", admin_form(tariff.change_tariff)),
        post("/tariff/cancel", admin_form(tariff.cancel_downgrade)),
        post("/account/password", admin_form(account.change_password)),
        post("/account/language", admin_form(account.change_language)),
        post("/account/min-interval", admin_form(account.change_min_interval)),
        post("/account/names", admin_form(account.change_names)),
        # e-mail surveys: the records, handing them in, and the integrations' keys
        get("/records", admin_page(records.records_page)),
        get(f"{record}/cancel", admin_page(records.confirm_cancel)),
        post(f"{record}/cancel", admin_form(records.cancel)),
        get("/records/refused", admin_page(records.refused_page)),
        get("/records/refused.csv", admin_page(records.refused_download)),
        get("/records/new", admin_page(records.new_record_form)),
        post("/records/new", admin_form(records.create_record)),
        get("/records/upload", admin_page(uploads.upload_form)),
        Route("/records/upload", uploads.upload, methods=["POST"], middleware=[upload_checked]),
        get(upload, admin_page(uploads.upload_result)),
        get(f"{upload}/refused.csv", admin_page(uploads.refused_download)),
        # the inbox: responses that need action
        get("/inbox", admin_page(inbox.inbox_page)),
        get(inbox_item, admin_page(inbox.item_page)),
        post(f"{inbox_item}/state", admin_form(inbox.update_item)),
        post(f"{inbox_item}/notes", admin_form(inbox.add_note)),
        post(f"{inbox_item}/reply", admin_form(inbox.send_reply)),
        get("/api-keys", admin_page(api_keys.api_keys_page)),
        post("/api-keys", admin_form(api_keys.create_key)),
        get(f"{api_key}/revoke", admin_page(api_keys.confirm_revoke)),
        post(f"{api_key}/revoke", admin_form(api_keys.revoke_key)),
        # webhooks, under the account
        get("/webhooks", admin_page(webhooks.webhooks_page)),
        post("/webhooks", admin_form(webhooks.create_endpoint)),
        get(webhook, admin_page(webhooks.endpoint_page)),
        post(webhook, admin_form(webhooks.save_endpoint)),
        post(f"{webhook}/test", admin_form(webhooks.send_test)),
        post(f"{webhook}/rotate", admin_form(webhooks.rotate_secret)),
        get(f"{webhook}/delete", admin_page(webhooks.confirm_delete)),
        post(f"{webhook}/delete", admin_form(webhooks.delete_endpoint)),
    ]
    return [
        # The service has no public home page: its root leads owners to the admin.
        Route("/", lambda request: redirect(urls.admin(), 307), methods=["GET", "HEAD"]),
        Route(urls.ADMIN, lambda request: redirect(urls.admin(), 307), methods=["GET"]),
        Mount(
            urls.ADMIN,
            routes=pages,
            # Pages and CSV exports are text that shrinks to a fifth; the
            # widget's API stays outside, where every microsecond counts.
            middleware=[
                auth.session_middleware(settings),
                Middleware(GZipMiddleware, compresslevel=6),
            ],
        ),
    ]
