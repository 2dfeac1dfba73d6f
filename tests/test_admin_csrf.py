"""The admin's CSRF middleware on raw ASGI scopes: no app, no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from app.platform.settings import Settings
from app.web import admin
from app.web.admin.csrf import STATE_KEY, CSRFMiddleware
from app.web.problem import Problem
from tests.conftest import run_async

TOKEN = "the-session-token"
PUBLIC = "https://feedback.example"
LIMIT = 1024
FORM = b"code=pro&csrf_token=" + TOKEN.encode()


def scope(
    method: str = "POST",
    headers: Sequence[tuple[str, str]] = (),
    session: dict[str, Any] | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> Scope:
    raw = [("host", "testserver"), ("content-type", content_type), *headers]
    return {
        "type": "http",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "path": "/admin/tariff",
        "root_path": "",
        "query_string": b"",
        "http_version": "1.1",
        "headers": [(name.encode(), value.encode()) for name, value in raw],
        "session": {"csrf": TOKEN} if session is None else session,
    }


@dataclass
class Outcome:
    status: int
    reached: bool = False
    form: dict[str, str] | None = None
    body: bytes = b""
    reads: int = 0


@dataclass
class Inner:
    """The app behind the middleware: notes the form and reads the body."""

    outcome: Outcome
    read_body: bool = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.outcome.reached = True
        self.outcome.form = scope.get("state", {}).get(STATE_KEY)
        if self.read_body:
            self.outcome.body = await Request(scope, receive).body()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Client:
    chunks: Sequence[bytes]
    sent: list[Message] = field(default_factory=list)
    reads: int = 0

    async def receive(self) -> Message:
        self.reads += 1
        index = self.reads - 1
        if index >= len(self.chunks):
            return {"type": "http.disconnect"}
        more = index < len(self.chunks) - 1
        return {"type": "http.request", "body": self.chunks[index], "more_body": more}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def run(scope: Scope, *chunks: bytes, read_body: bool = True) -> Outcome:
    outcome = Outcome(0)
    middleware = CSRFMiddleware(Inner(outcome, read_body), origins=[PUBLIC], limit=LIMIT)
    client = Client(chunks or (b"",))
    try:
        run_async(middleware(scope, client.receive, client.send))
        outcome.status = client.sent[0]["status"]
    except Problem as problem:
        outcome.status = problem.status
    outcome.reads = client.reads
    return outcome


def with_length(body: bytes) -> tuple[str, str]:
    return ("content-length", str(len(body)))


def test_a_same_origin_form_with_the_token_passes_and_keeps_its_body() -> None:
    headers = [("origin", "http://testserver"), ("sec-fetch-site", "same-origin")]
    outcome = run(scope(headers=headers), FORM[:7], FORM[7:])
    assert outcome.status == 204
    assert outcome.form == {"code": "pro", "csrf_token": TOKEN}
    # The app behind reads the body as it was sent, not an empty or hung stream.
    assert outcome.body == FORM


def test_the_public_origin_counts_as_this_site() -> None:
    # Behind a proxy the request names another host than the public address.
    outcome = run(scope(headers=[("origin", PUBLIC.upper())]), FORM)
    assert outcome.status == 204


@pytest.mark.parametrize(
    "body",
    [b"code=pro", b"code=pro&csrf_token=", b"code=pro&csrf_token=" + TOKEN.encode() + b"x"],
)
def test_a_missing_or_wrong_token_is_403(body: bytes) -> None:
    outcome = run(scope(), body)
    assert (outcome.status, outcome.reached) == (403, False)


def test_a_session_without_a_token_refuses_every_form() -> None:
    assert run(scope(session={}), FORM).status == 403
    no_session = scope()
    del no_session["session"]
    assert run(no_session, FORM).status == 403


@pytest.mark.parametrize(
    "headers",
    [
        [("sec-fetch-site", "cross-site")],
        [("sec-fetch-site", "same-site")],
        [("origin", "https://evil.example")],
        [("origin", "null")],
        [("origin", "http://testserver"), ("sec-fetch-site", "cross-site")],
    ],
)
def test_another_sites_request_is_403_before_its_body_is_read(
    headers: list[tuple[str, str]],
) -> None:
    outcome = run(scope(headers=headers), FORM)
    assert (outcome.status, outcome.reached, outcome.reads) == (403, False, 0)


def test_a_typed_in_address_is_this_site() -> None:
    assert run(scope(headers=[("sec-fetch-site", "none")]), FORM).status == 204


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_pass_untouched(method: str) -> None:
    untouched = scope(method, headers=[("origin", "https://evil.example")], session={})
    outcome = run(untouched, b"anything", read_body=False)
    assert (outcome.status, outcome.form, outcome.reads) == (204, None, 0)


def test_other_unsafe_methods_are_checked_too() -> None:
    assert run(scope("DELETE"), b"").status == 403
    assert run(scope("PUT"), FORM).status == 204


def test_a_declared_oversize_body_is_413_unread() -> None:
    big = FORM + b"&pad=" + b"x" * LIMIT
    outcome = run(scope(headers=[with_length(big)]), big)
    assert (outcome.status, outcome.reads) == (413, 0)


def test_a_chunked_body_without_a_length_is_capped_too() -> None:
    chunk = b"pad=" + b"x" * 300
    outcome = run(scope(), *([chunk] * 10))
    assert (outcome.status, outcome.reached) == (413, False)
    # Refused as soon as the cap is passed, not after the whole body.
    assert outcome.reads == 4


def test_a_body_that_is_not_a_web_form_is_refused() -> None:
    assert run(scope(content_type="application/json"), b'{"csrf_token": "x"}').status == 415
    assert run(scope(), b"csrf_token=\xff").status == 400


def test_every_admin_route_that_takes_a_form_is_behind_the_check() -> None:
    table = admin.routes(Settings(secret_keys=("key",)), lambda endpoint: endpoint)
    mount = next(route for route in table if isinstance(route, Mount))
    routes = [route for route in mount.routes if isinstance(route, Route)]
    forms = [route for route in routes if "POST" in (route.methods or ())]
    assert len(forms) >= 10  # login, logout, surveys, tariff, account, ...
    for route in routes:
        assert isinstance(route.app, CSRFMiddleware) == (route in forms), route.path
