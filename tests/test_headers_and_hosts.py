"""Security headers on every answer, errors and redirects included, through
the ASGI client."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from app.main import build_app
from app.platform.settings import Settings, SettingsError, from_env
from app.web import links
from tests.conftest import Clock, seed

ADMIN_ANSWERS = [
    ("GET", "/admin", 307),  # the redirect to /admin/
    ("GET", "/admin/", 303),
    ("GET", "/admin/login", 200),
    ("GET", "/admin/dashboard", 303),
    ("GET", "/admin/nope", 404),
    ("POST", "/admin/dashboard", 405),
    ("GET", "/admin/boom", 500),
]
OTHER_ANSWERS = [
    ("GET", "/healthz", 200),
    ("GET", "/nope", 404),
    ("POST", "/healthz", 405),
    ("GET", "/api/v1/nothing", 404),
    ("GET", "/static/nope.css", 404),
    ("GET", "/boom", 500),
]


def _boom(request: Request) -> Response:
    raise RuntimeError("a bug in a handler")


@pytest.fixture
def raising_client(settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    """The app with two routes that fail, so its 500s can be looked at."""
    app = build_app(settings, clock=clock, engine=engine)
    app.router.routes[:0] = [Route("/boom", _boom), Route("/admin/boom", _boom)]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "status"), OTHER_ANSWERS + ADMIN_ANSWERS)
def test_every_answer_carries_the_basic_headers(
    raising_client: TestClient, method: str, path: str, status: int
) -> None:
    answer = raising_client.request(method, path, follow_redirects=False)
    assert answer.status_code == status
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"]


@pytest.mark.parametrize(("method", "path", "status"), ADMIN_ANSWERS)
def test_every_admin_answer_carries_the_admin_headers(
    raising_client: TestClient, method: str, path: str, status: int
) -> None:
    answer = raising_client.request(method, path, follow_redirects=False)
    assert answer.status_code == status
    csp = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "same-origin"
    # Set once, not once by a page and again by the middleware.
    assert len(answer.headers.get_list("content-security-policy")) == 1


def test_pages_outside_admin_keep_their_own_policy(
    raising_client: TestClient, engine: Engine
) -> None:
    """Outside /admin the defaults only fill gaps: a link page keeps its CSP."""
    shop = seed(engine)
    page = raising_client.get(f"/s/{shop.link_key}")
    assert page.status_code == 200
    assert page.headers.get_list("content-security-policy") == [links.CSP]
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "x-frame-options" not in page.headers


# -- the Host header -------------------------------------------------------


def _client(settings: Settings, engine: Engine, clock: Clock, host: str) -> TestClient:
    return TestClient(build_app(settings, clock=clock, engine=engine), base_url=f"http://{host}")


def test_redirects_never_name_the_host_the_client_sent(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    with _client(settings, engine, clock, "evil.example") as client:
        slash = client.get("/admin/dashboard/", follow_redirects=False)
        assert slash.status_code == 307
        assert slash.headers["location"] == "/admin/dashboard"
        health = client.get("/healthz/?probe=1", follow_redirects=False)
        assert health.headers["location"] == "/healthz?probe=1"
        assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/"

        form = client.get(f"/s/{shop.link_key}").text
        token = re.search(r'name="display_token" value="([^"]+)"', form)
        assert token is not None
        sent = client.post(
            f"/s/{shop.link_key}",
            data={"display_token": html.unescape(token.group(1)), "score": "9"},
            follow_redirects=False,
        )
        assert sent.status_code == 303
        assert sent.headers["location"].startswith(f"/s/{shop.link_key}/thanks?")

        # Pages name no address built from the Host either (the error page's stylesheet).
        for page in (
            client.get("/nope", headers={"Accept": "text/html"}),
            client.get(f"/s/{shop.link_key}"),
        ):
            assert "evil.example" not in page.text


def test_production_refuses_hosts_other_than_public_url_and_allowed_hosts(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    production = settings.replace(
        environment="production",
        public_url="https://feedback.example.com",
        allowed_hosts=("feedback.internal",),
    )
    with _client(production, engine, clock, "evil.example") as evil:
        for path in ("/admin/login", "/api/v1/widget/x", "/s/x", "/admin/dashboard/"):
            refused = evil.get(path, follow_redirects=False)
            assert refused.status_code == 400, path
            assert refused.headers["x-content-type-options"] == "nosniff"
            assert refused.headers["referrer-policy"]
            assert "location" not in refused.headers
        admin = evil.get("/admin/login")
        assert admin.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in admin.headers["content-security-policy"]
        # Load balancers probe with internal names or bare addresses.
        assert evil.get("/healthz").status_code == 200
    for host in ("feedback.example.com", "FEEDBACK.example.com:443", "feedback.internal"):
        with _client(production, engine, clock, host) as good:
            assert good.get("/admin/login").status_code == 200, host

    anyone = production.replace(allowed_hosts=("*",))
    with _client(anyone, engine, clock, "evil.example") as client:
        assert client.get("/admin/login").status_code == 200


def test_development_allows_any_host_unless_allowed_hosts_is_set(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    with _client(settings, engine, clock, "192.168.1.20") as client:
        assert client.get("/admin/login").status_code == 200
    listed = settings.replace(allowed_hosts=("localhost",))
    with _client(listed, engine, clock, "192.168.1.20") as client:
        assert client.get("/admin/login").status_code == 400
    with _client(listed, engine, clock, "127.0.0.1:8000") as client:  # PUBLIC_URL's host
        assert client.get("/admin/login").status_code == 200


def test_allowed_hosts_setting() -> None:
    listed = from_env({"SECRET_KEYS": "k", "ALLOWED_HOSTS": " Shop.example, *.internal ,"})
    assert listed.allowed_hosts == ("shop.example", "*.internal")
    assert listed.trusted_hosts == ("127.0.0.1", "shop.example", "*.internal")
    assert from_env({"SECRET_KEYS": "k"}).trusted_hosts == ("*",)
    production = {
        "SECRET_KEYS": "k",
        "ENVIRONMENT": "production",
        "PUBLIC_URL": "https://Feedback.example.com:8443/",
    }
    assert from_env(production).trusted_hosts == ("feedback.example.com",)
    assert from_env({**production, "ALLOWED_HOSTS": "*"}).trusted_hosts == ("*",)
    for bad in ("shop.*.example", "https://shop.example", "shop.example:443", "*shop.example"):
        with pytest.raises(SettingsError, match="ALLOWED_HOSTS"):
            from_env({"SECRET_KEYS": "k", "ALLOWED_HOSTS": bad})
