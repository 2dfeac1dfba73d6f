"""The shared web toolkit on raw ASGI messages: body caps that hold for
chunked bodies, form and JSON readers, language negotiation, and the header
middleware that wraps the whole application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from starlette.requests import Request

from app.web import http
from app.web.headers import SecurityHeaders
from app.web.problem import Problem
from tests.conftest import run_async

Message = dict[str, Any]


def _request(
    chunks: list[bytes], headers: dict[str, str] | None = None, path: str = "/api/v1/x"
) -> tuple[Request, list[int]]:
    """A request whose body arrives in ``chunks``; the list counts how many
    chunks were read, so a test can see that reading stopped early."""
    pending = list(chunks)
    read = [0]

    async def receive() -> Message:
        if not pending:
            return {"type": "http.request", "body": b"", "more_body": False}
        read[0] += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "query_string": b"",
    }
    return Request(scope, receive), read


def _run(awaitable: Coroutine[Any, Any, Any]) -> Any:
    return run_async(awaitable)


def test_body_within_the_cap_is_read_whole() -> None:
    request, _ = _request([b"ab", b"cd"])
    assert _run(http.read_body(request, 4)) == b"abcd"


def test_chunked_body_past_the_cap_is_413_without_reading_on() -> None:
    request, read = _request([b"x" * 10] * 100)  # no Content-Length, as when chunked
    with pytest.raises(Problem) as refused:
        _run(http.read_body(request, 25))
    assert refused.value.status == 413
    assert refused.value.code == "payload_too_large"
    assert read[0] == 3  # stopped at the chunk that passed the cap


def test_a_declared_length_past_the_cap_is_refused_before_reading() -> None:
    request, read = _request([b"x"], {"content-length": "5000"})
    with pytest.raises(Problem) as refused:
        _run(http.read_body(request, 100))
    assert refused.value.status == 413
    assert read[0] == 0


def test_form_reader() -> None:
    form = "application/x-www-form-urlencoded"
    request, _ = _request([b"a=1&b=caf%C3%A9&a=2&empty="], {"content-type": form})
    assert _run(http.read_form(request, 100)) == {"a": "2", "b": "café", "empty": ""}

    request, _ = _request([b'{"a": 1}'], {"content-type": "application/json"})
    with pytest.raises(Problem) as wrong_type:
        _run(http.read_form(request, 100))
    assert wrong_type.value.status == 415

    request, _ = _request([b"a=\xff\xfe"], {"content-type": form})
    with pytest.raises(Problem) as undecodable:
        _run(http.read_form(request, 100))
    assert (undecodable.value.status, undecodable.value.code) == (400, "bad_form")

    request, _ = _request([b"&".join(b"f%d=1" % n for n in range(9))], {"content-type": form})
    with pytest.raises(Problem):
        _run(http.read_form(request, 1000, max_fields=8))


@pytest.mark.parametrize(
    ("body", "media", "status", "code"),
    [
        (b'{"score": 9}', "application/json", None, None),
        (b'{"score": 9}', "text/plain;charset=UTF-8", None, None),
        (b'{"score": 9}', "application/xml", 415, "unsupported_media_type"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b"{nope", "application/json", 400, "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "invalid_json"),
    ],
)
def test_json_reader(body: bytes, media: str, status: int | None, code: str | None) -> None:
    request, _ = _request([body], {"content-type": media})
    if status is None:
        assert _run(http.read_json(request, 16 * 1024)) == {"score": 9}
        return
    with pytest.raises(Problem) as refused:
        _run(http.read_json(request, 16 * 1024))
    assert (refused.value.status, refused.value.code) == (status, code)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-FR, en;q=0.5, de;q=0.7", "de"),
        ("fr, it", None),
        ("en;q=nonsense, de;q=0.1", "de"),
        ("", None),
        (None, None),
    ],
)
def test_negotiate(header: str | None, expected: str | None) -> None:
    assert http.negotiate(header, ("en", "de")) == expected


def test_page_number() -> None:
    def page(value: str) -> int:
        request = Request({"type": "http", "query_string": f"page={value}".encode()})
        return http.page_number(request)

    assert [page(v) for v in ("3", "0", "-2", "x", "9" * 12)] == [3, 1, 1, 1, 1]


def test_asset_url_changes_with_the_content() -> None:
    url = http.asset_url("admin.css")
    assert url.startswith("/static/admin.css?v=") and len(url.split("=")[1]) == 10


# -- the header middleware on raw scopes -----------------------------------


def _answer(status: int, headers: list[tuple[bytes, bytes]]) -> Callable[..., Awaitable[None]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def _through_headers(inner: Callable[..., Awaitable[None]], path: str, host: str) -> Message:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", host.encode())],
        "server": ("127.0.0.1", 8000),
    }
    run_async(SecurityHeaders(inner)(scope, receive, send))
    return {k.decode(): v.decode() for k, v in sent[0]["headers"]}


def test_every_answer_gets_nosniff_and_a_referrer_policy() -> None:
    headers = _through_headers(_answer(404, []), "/nowhere", "example.org")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "content-security-policy" not in headers
    own = _through_headers(_answer(200, [(b"referrer-policy", b"no-referrer")]), "/s/k", "a.b")
    assert own["referrer-policy"] == "no-referrer"


def test_admin_answers_get_the_admin_policy_whatever_they_set() -> None:
    loose = [(b"content-security-policy", b"default-src *"), (b"cache-control", b"max-age=60")]
    headers = _through_headers(_answer(500, loose), "/admin/surveys", "example.org")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in _through_headers(_answer(200, []), "/administer", "x")


def test_redirects_to_the_requests_own_host_become_paths() -> None:
    redirect = _answer(307, [(b"location", b"http://evil.example//admin/?a=1")])
    headers = _through_headers(redirect, "/admin", "evil.example")
    assert headers["location"] == "/admin/?a=1"
    elsewhere = _answer(303, [(b"location", b"https://reviews.example/write")])
    assert _through_headers(elsewhere, "/s/k", "evil.example")["location"] == (
        "https://reviews.example/write"
    )
