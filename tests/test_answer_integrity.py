"""A stored answer stays as the visitor gave it: its comment is not rewritten
by a replayed token, and a display token only works on the channel it was
handed out for. Driven against a real server."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape

import httpx
from sqlalchemy import Engine, text

from app.platform import db
from tests.conftest import count_responses, seed, usage_row

TOKEN = re.compile(r'name="display_token" value="([^"]+)"')


def _stored(engine: Engine) -> list[tuple[int, str | None, str]]:
    with db.read(engine) as conn:
        rows = conn.execute(text("SELECT score, comment, channel FROM response ORDER BY id"))
        return [(row.score, row.comment, row.channel) for row in rows]


def _link_token(base: str, link_key: str) -> str:
    page = httpx.get(f"{base}/s/{link_key}")
    assert page.status_code == 200, page.text
    found = TOKEN.search(page.text)
    assert found, "the link page has no display token"
    return unescape(found.group(1))


def test_api_comment_is_kept_once_given(live_server: Callable[..., str], engine: Engine) -> None:
    shop = seed(engine)
    base = live_server()
    token = httpx.get(f"{base}/api/v1/widget/{shop.embed_key}").json()["display_token"]
    api = f"{base}/api/v1/responses"
    assert httpx.post(api, json={"display_token": token, "score": 3}).status_code == 201
    first = httpx.post(api, json={"display_token": token, "comment": "Checkout was slow"})
    assert first.status_code == 200

    again = httpx.post(api, json={"display_token": token, "comment": "Checkout was slow"})
    assert again.status_code == 200
    other = httpx.post(api, json={"display_token": token, "comment": "Everything was great!"})
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "comment_already_given"
    with_score = httpx.post(api, json={"display_token": token, "score": 3, "comment": "Great!"})
    assert with_score.status_code == 409

    assert _stored(engine) == [(3, "Checkout was slow", "widget")]


def test_link_comment_is_kept_once_given(live_server: Callable[..., str], engine: Engine) -> None:
    shop = seed(engine)
    base = live_server()
    token = _link_token(base, shop.link_key)
    browser = httpx.Client(base_url=base, follow_redirects=True)
    sent = browser.post(f"/s/{shop.link_key}", data={"display_token": token, "score": "2"})
    assert sent.status_code == 200  # the thank-you page
    comment_url = f"/s/{shop.link_key}/comment"
    first = browser.post(comment_url, data={"display_token": token, "comment": "Parcel was late"})
    assert first.status_code == 200
    assert "Your comment was added" in first.text

    other = browser.post(comment_url, data={"display_token": token, "comment": "All fine, really"})
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("text/html")
    assert "first comment was kept" in other.text
    same = browser.post(comment_url, data={"display_token": token, "comment": "Parcel was late"})
    assert same.status_code == 200

    assert _stored(engine) == [(2, "Parcel was late", "link")]


def test_a_link_token_is_refused_by_the_api(
    live_server: Callable[..., str], engine: Engine
) -> None:
    shop = seed(engine)
    base = live_server()
    token = _link_token(base, shop.link_key)
    answer = httpx.post(f"{base}/api/v1/responses", json={"display_token": token, "score": 9})
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_token"
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, datetime.now(UTC).strftime("%Y-%m")) == (0, 0)

    # The same token still works where it was handed out.
    sent = httpx.post(
        f"{base}/s/{shop.link_key}",
        data={"display_token": token, "score": "9"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert _stored(engine) == [(9, None, "link")]


def test_a_widget_token_is_refused_by_the_link_form(
    live_server: Callable[..., str], engine: Engine
) -> None:
    shop = seed(engine)
    base = live_server()
    token = httpx.get(f"{base}/api/v1/widget/{shop.embed_key}").json()["display_token"]
    sent = httpx.post(f"{base}/s/{shop.link_key}", data={"display_token": token, "score": "9"})
    assert sent.status_code == 400
    assert count_responses(engine) == 0
