"""Security headers on every answer, errors and redirects included, through
the ASGI client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from app.main import build_app
from app.settings import Settings
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
