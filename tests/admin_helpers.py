"""Helpers for the admin page tests: log in and send forms as a browser would,
through the ASGI client or over the network to a real server."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

PASSWORD = "correct horse battery"  # the password tests.conftest.seed gives an admin
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(page: str) -> str:
    match = CSRF.search(page)
    assert match, "the page has no CSRF field"
    return html.unescape(match.group(1))


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> Any:
    token = csrf_from(client.get("/admin/login").text)
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> Any:
    """GET ``page`` for its CSRF token, then POST ``data`` to ``action``."""
    token = csrf_from(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (tags stripped)."""
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</', page, re.S)
    assert match, f"no element #{element_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()
