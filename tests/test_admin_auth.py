"""Admin login, sessions, CSRF and the security headers, through the ASGI client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.main import build_app
from app.platform.settings import Settings
from tests.admin_helpers import PASSWORD, csrf_from, login, post_form, text_of
from tests.conftest import SECRET, Clock, seed

EMAIL = "owner@shop.example"


@pytest.fixture
def client_for(settings: Settings, engine: Engine, clock: Clock) -> Iterator[object]:
    """A client on an app built from changed settings."""
    clients: list[TestClient] = []

    def make(**changes: object) -> TestClient:
        app = build_app(settings.replace(**changes), clock=clock, engine=engine)
        test_client = TestClient(app, base_url="http://testserver")
        clients.append(test_client.__enter__())
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)


def test_login_good_and_bad_answer_with_one_message(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    wrong_password = login(client, EMAIL, "not the password at all")
    unknown_email = login(client, "nobody@shop.example", PASSWORD)
    assert wrong_password.status_code == unknown_email.status_code == 400
    message = text_of(wrong_password.text, "login-error")
    assert message == text_of(unknown_email.text, "login-error")
    assert message == "The email or the password is not correct."
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 303

    good = login(client, EMAIL.upper())
    assert good.status_code == 303
    assert good.headers["location"] == "/admin/dashboard"
    page = client.get("/admin/dashboard")
    assert page.status_code == 200
    assert EMAIL in page.text


def test_logged_out_visitor_is_sent_to_login(client: TestClient) -> None:
    first = client.get("/admin", follow_redirects=False)
    assert first.status_code == 307
    assert first.headers["location"] == "/admin/"
    start = client.get("/admin/", follow_redirects=False)
    assert start.headers["location"] == "/admin/login"
    for path in ("/admin/dashboard", "/admin/surveys", "/admin/tariff", "/admin/surveys/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/admin/login"


def test_login_is_rate_limited(client_for: object, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    client = client_for(rate_limit_enabled=True, rate_limit_login="3/minute")  # type: ignore[operator]
    token = csrf_from(client.get("/admin/login").text)
    form = {"email": EMAIL, "password": "wrong password!", "csrf_token": token}
    statuses = [client.post("/admin/login", data=form).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    # Once limited, even the right password waits: guessing gains nothing.
    right = client.post("/admin/login", data={**form, "password": PASSWORD})
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) >= 1
    # Showing the login form is not limited.
    assert client.get("/admin/login").status_code == 200


def test_csrf_token_missing_or_wrong_is_403(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    token = csrf_from(client.get("/admin/login").text)
    no_token = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert no_token.status_code == 403
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 303

    assert login(client, EMAIL).status_code == 303
    for data in (
        {"code": "pro"},
        {"code": "pro", "csrf_token": token + "x"},
        {"code": "pro", "csrf_token": ""},
    ):
        refused = client.post("/admin/tariff", data=data, follow_redirects=False)
        assert refused.status_code == 403, data
        assert "reload" in refused.text
    # The old token from before the login no longer works either.
    stale = client.post("/admin/tariff", data={"code": "pro", "csrf_token": token})
    assert stale.status_code == 403
    assert "Free" in text_of(client.get("/admin/tariff").text, "current-tariff")

    ok = post_form(client, "/admin/tariff", "/admin/tariff", {"code": "pro"})
    assert ok.status_code == 303
    assert "Pro" in text_of(client.get("/admin/tariff").text, "current-tariff")


def test_cross_site_posts_are_403(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    assert login(client, EMAIL).status_code == 303
    token = csrf_from(client.get("/admin/tariff").text)
    form = {"code": "pro", "csrf_token": token}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ):
        answer = client.post("/admin/tariff", data=form, headers=headers, follow_redirects=False)
        assert answer.status_code == 403, headers
    assert "Free" in text_of(client.get("/admin/tariff").text, "current-tariff")
    same = client.post(
        "/admin/tariff",
        data=form,
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert same.status_code == 303


def _session_cookie(answer: object) -> str:
    cookies = [
        value
        for name, value in answer.headers.multi_items()  # type: ignore[attr-defined]
        if name == "set-cookie" and value.startswith("nps_beacon_admin=")
    ]
    assert len(cookies) == 1, cookies
    return cookies[0]


def test_session_cookie_flags(client: TestClient, client_for: object, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    cookie = _session_cookie(login(client, EMAIL)).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/admin" in cookie
    assert "secure" not in cookie

    secure_client = client_for(session_https_only=True)  # type: ignore[operator]
    secure = _session_cookie(secure_client.get("/admin/login")).lower()
    assert "secure" in secure
    assert "httponly" in secure
    assert "samesite=lax" in secure


def test_security_headers_on_admin_pages(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    pages = [client.get("/admin/login")]
    login(client, EMAIL)
    pages += [client.get("/admin/dashboard"), client.get("/admin/surveys/999999")]
    assert [page.status_code for page in pages] == [200, 200, 404]
    for page in pages:
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "script-src 'self'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["cache-control"] == "no-store"
        # No inline script or style anywhere, so the CSP can stay strict.
        assert "<script>" not in page.text
        assert " style=" not in page.text
        assert "<style" not in page.text


def test_logout_ends_the_session(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    assert client.get("/admin/dashboard").status_code == 200
    bye = post_form(client, "/admin/dashboard", "/admin/logout", {})
    assert bye.status_code == 303
    assert bye.headers["location"] == "/admin/login"
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 303


def test_change_password(client: TestClient, settings: Settings, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    with TestClient(client.app, base_url="http://testserver") as other:
        assert login(other, EMAIL).status_code == 303

        wrong = post_form(
            client,
            "/admin/account",
            "/admin/account/password",
            {
                "current_password": "not my password",
                "new_password": "a new long password",
                "repeat_password": "a new long password",
            },
        )
        assert wrong.status_code == 422
        assert text_of(wrong.text, "password-error") == "The current password is not correct."
        mismatch = post_form(
            client,
            "/admin/account",
            "/admin/account/password",
            {
                "current_password": PASSWORD,
                "new_password": "a new long password",
                "repeat_password": "another long password",
            },
        )
        assert mismatch.status_code == 422
        short = post_form(
            client,
            "/admin/account",
            "/admin/account/password",
            {"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
        )
        assert short.status_code == 422
        assert "at least 10" in text_of(short.text, "password-error")

        changed = post_form(
            client,
            "/admin/account",
            "/admin/account/password",
            {
                "current_password": PASSWORD,
                "new_password": "a new long password",
                "repeat_password": "a new long password",
            },
        )
        assert changed.status_code == 303
        # This session goes on; the one opened with the old password is over.
        assert client.get("/admin/dashboard").status_code == 200
        assert other.get("/admin/dashboard", follow_redirects=False).status_code == 303

    client.cookies.clear()
    assert login(client, EMAIL).status_code == 400
    assert login(client, EMAIL, "a new long password").status_code == 303


def test_several_admins_of_one_account(
    client: TestClient, settings: Settings, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "admin",
            "create",
            "--account",
            str(shop.account_id),
            "--email",
            "second@shop.example",
            "--password",
            "second admin password",
        ],
        env={**os.environ, "DATABASE_URL": settings.db_url, "SECRET_KEYS": SECRET},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(created.stdout)["account_id"] == shop.account_id
    for email, password in ((EMAIL, PASSWORD), ("second@shop.example", "second admin password")):
        client.cookies.clear()
        assert login(client, email, password).status_code == 303
        page = client.get(f"/admin/surveys/{shop.survey_id}")
        assert page.status_code == 200
        assert email in page.text


def test_oversized_forms_are_413_even_without_a_declared_length(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"email=" + b"x" * 1024

    answer = client.post(
        "/admin/login",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    big = client.post("/admin/login", data={"email": "x" * 70_000, "password": "p"})
    assert big.status_code == 413
