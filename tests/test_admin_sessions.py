"""Admin sessions end on the server: a copy of the session cookie taken before
logout, "log out everywhere" or a password change opens nothing afterwards.
Against a real server with a replayed cookie, as someone who copied it would
send it; expiry and key rotation through the ASGI client."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from tests.admin_helpers import PASSWORD, csrf_from, login, post_form
from tests.conftest import Clock, Seeded, seed

EMAIL = "owner@shop.example"
COOKIE = "nps_beacon_admin"
NEW_PASSWORD = "a new long password"


def _replay(base: str, cookie: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request carrying a copied cookie and nothing else of a browser."""
    return httpx.request(
        method,
        f"{base}{path}",
        headers={"Cookie": f"{COOKIE}={cookie}"},
        follow_redirects=False,
        **kwargs,
    )


def _tariff(engine: Engine, account_id: int) -> str:
    with db.read(engine) as conn:
        return str(
            conn.execute(
                text("SELECT tariff_code FROM account WHERE id = :id"), {"id": account_id}
            ).scalar_one()
        )


@dataclass
class Browser:
    """A logged-in browser, a copy of its session cookie and its CSRF token."""

    http: httpx.Client
    cookie: str
    token: str


@pytest.fixture
def log_in() -> Iterator[Callable[[str], Browser]]:
    opened: list[httpx.Client] = []

    def open_browser(base: str) -> Browser:
        http = httpx.Client(base_url=base)
        opened.append(http)
        assert login(http, EMAIL).status_code == 303
        token = csrf_from(http.get("/admin/account").text)
        return Browser(http, http.cookies[COOKIE], token)

    yield open_browser
    for http in opened:
        http.close()


def _assert_works(base: str, cookie: str) -> None:
    assert _replay(base, cookie, "GET", "/admin/dashboard").status_code == 200


def _assert_locked_out(base: str, cookie: str, token: str, shop: Seeded, engine: Engine) -> None:
    """The copied cookie opens no page, no export and changes nothing."""
    page = _replay(base, cookie, "GET", "/admin/dashboard")
    assert (page.status_code, page.headers.get("location")) == (303, "/admin/login")
    export = _replay(base, cookie, "GET", f"/admin/surveys/{shop.survey_id}/export.csv")
    assert (export.status_code, export.headers.get("location")) == (303, "/admin/login")
    assert "text/csv" not in export.headers.get("content-type", "")
    change = _replay(
        base, cookie, "POST", "/admin/tariff", data={"code": "pro", "csrf_token": token}
    )
    assert (change.status_code, change.headers.get("location")) == (303, "/admin/login")
    assert _tariff(engine, shop.account_id) == "free"


@pytest.mark.server
def test_logout_ends_the_session_for_every_copy_of_the_cookie(
    live_server: Any, log_in: Callable[[str], Browser], engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    browser = log_in(base)
    _assert_works(base, browser.cookie)
    bye = browser.http.post("/admin/logout", data={"csrf_token": browser.token})
    assert (bye.status_code, bye.headers["location"]) == (303, "/admin/login")
    _assert_locked_out(base, browser.cookie, browser.token, shop, engine)

    # Logging in again opens a new session; the old copy stays dead.
    again = log_in(base)
    _assert_works(base, again.cookie)
    assert _replay(base, browser.cookie, "GET", "/admin/dashboard").status_code == 303


@pytest.mark.server
def test_log_out_everywhere_ends_every_session_of_the_admin(
    live_server: Any, log_in: Callable[[str], Browser], engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    other = seed(engine, email="owner@other.example")
    base = live_server()
    laptop, phone = log_in(base), log_in(base)
    with httpx.Client(base_url=base) as stranger:
        # Another admin's sessions are not this admin's to end.
        assert login(stranger, "owner@other.example").status_code == 303
        account = laptop.http.get("/admin/account").text
        assert 'action="/admin/logout-everywhere"' in account
        everywhere = laptop.http.post(
            "/admin/logout-everywhere", data={"csrf_token": csrf_from(account)}
        )
        assert (everywhere.status_code, everywhere.headers["location"]) == (303, "/admin/login")
        assert "You were logged out on every device." in laptop.http.get("/admin/login").text
        assert phone.http.get("/admin/dashboard").status_code == 303
        _assert_locked_out(base, laptop.cookie, laptop.token, shop, engine)
        _assert_locked_out(base, phone.cookie, phone.token, shop, engine)
        assert stranger.get("/admin/dashboard").status_code == 200
    assert _tariff(engine, other.account_id) == "free"


@pytest.mark.server
def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(
    live_server: Any, log_in: Callable[[str], Browser], engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    base = live_server()
    mine, other = log_in(base), log_in(base)
    changed = mine.http.post(
        "/admin/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "repeat_password": NEW_PASSWORD,
            "csrf_token": mine.token,
        },
    )
    assert (changed.status_code, changed.headers["location"]) == (303, "/admin/account")
    _assert_locked_out(base, other.cookie, other.token, shop, engine)
    # This browser goes on with a new session secret, so a copy of its cookie
    # from before the change is worthless as well.
    assert mine.http.get("/admin/dashboard").status_code == 200
    _assert_locked_out(base, mine.cookie, mine.token, shop, engine)
    renewed = mine.http.cookies[COOKIE]
    assert renewed != mine.cookie
    kept = _replay(
        base, renewed, "POST", "/admin/tariff", data={"code": "pro", "csrf_token": mine.token}
    )
    assert (kept.status_code, kept.headers["location"]) == (303, "/admin/tariff")
    assert _tariff(engine, shop.account_id) == "pro"


# -- through the ASGI client -----------------------------------------------


@pytest.fixture
def app_with_keys(settings: Settings, engine: Engine, clock: Clock) -> Iterator[Any]:
    """A client on an app signed with other SECRET_KEYS, same database."""
    clients: list[TestClient] = []

    def make(*keys: str) -> TestClient:
        app = build_app(settings.replace(secret_keys=keys), clock=clock, engine=engine)
        client = TestClient(app, base_url="http://testserver").__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _dashboard_status(client: TestClient, cookie: str) -> int:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    return client.get("/admin/dashboard", follow_redirects=False).status_code


def test_rotating_secret_keys_keeps_admins_logged_in(app_with_keys: Any, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    before = app_with_keys("old")
    assert login(before, EMAIL).status_code == 303
    old_cookie = before.cookies[COOKIE]

    rotated = app_with_keys("new", "old")
    assert _dashboard_status(rotated, old_cookie) == 200
    # What the rotated app signs anew is signed with the new key.
    rotated.cookies.clear()
    assert login(rotated, EMAIL).status_code == 303
    new_cookie = rotated.cookies[COOKIE]

    retired = app_with_keys("new")
    assert _dashboard_status(retired, old_cookie) == 303
    assert _dashboard_status(retired, new_cookie) == 200
    assert _dashboard_status(app_with_keys("other"), new_cookie) == 303


def _session_rows(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(text("SELECT * FROM admin_session ORDER BY id")).mappings())


def test_sessions_expire_on_the_server_after_twelve_hours(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    seed(engine, email=EMAIL)
    started = clock.now
    assert login(client, EMAIL).status_code == 303
    cookie = client.cookies[COOKIE]
    clock.now = started + timedelta(hours=12) - timedelta(seconds=1)
    assert _dashboard_status(client, cookie) == 200
    # The cookie still verifies (its own age is real time), the row has expired.
    clock.now = started + timedelta(hours=12)
    assert _dashboard_status(client, cookie) == 303
    (expired,) = _session_rows(engine)

    # The next login clears out expired rows, so the table does not grow forever.
    client.cookies.clear()
    assert login(client, EMAIL).status_code == 303
    (fresh,) = _session_rows(engine)
    assert fresh["token_hash"] != expired["token_hash"]
    assert client.get("/admin/dashboard").status_code == 200


def test_the_database_keeps_only_a_digest_of_the_session_secret(
    client: TestClient, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    assert login(client, EMAIL).status_code == 303
    payload = client.cookies[COOKIE].split(".", 1)[0]
    secret = json.loads(base64.b64decode(payload))["sid"]
    assert len(secret) >= 43  # 32 random bytes
    (row,) = _session_rows(engine)
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(value) for value in row.values()}


def test_logout_everywhere_is_a_protected_form(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    assert login(client, EMAIL).status_code == 303
    refused = client.post("/admin/logout-everywhere", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 200
    german = client.get("/admin/account", headers={"Accept-Language": "de"}).text
    assert "Überall abmelden" in german
    done = post_form(client, "/admin/account", "/admin/logout-everywhere", {})
    assert (done.status_code, done.headers["location"]) == (303, "/admin/login")
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 303
    assert _session_rows(engine) == []
