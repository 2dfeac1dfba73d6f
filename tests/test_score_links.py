"""A score link's click is the answer: through the ASGI client, what the page's
script sends on opening. GETs and HEADs (mail scanners) store nothing; a
second score within 30 minutes changes the first, counted once, with what
hangs on the segment (follow-up answers, a pool code, detractor alerts,
``response.updated``) following it; later it is 409. Link surveys and
e-mail invitations alike, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.inbox import alerts
from app.platform import db
from app.webhooks import lanes
from tests import test_invitations as mail
from tests import test_links as link
from tests.conftest import Clock, Seeded, count_responses, seed, usage_row
from tests.smtp_server import SmtpServer
from tests.test_follow_up_questions import QUESTIONS
from tests.test_rewards import _add_codes
from tests.test_webhooks import _endpoint, _sender
from tests.webhook_receiver import Receiver

PERIOD = "2026-05"
SCANNERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0) SafeLinks",
    "Barracuda Sentinel (EE)",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "curl/8.5.0",
)


class Page:
    """One survey page of a link survey or an invitation, as a browser meets it."""

    def __init__(self, client: TestClient, engine: Engine, shop: Seeded, channel: str) -> None:
        self.client, self.engine, self.channel = client, engine, channel
        if channel == "link":
            self.key = shop.link_key
            self.invitation_id: int | None = None
        else:
            self.invitation_id, self.key = mail._invite(engine, shop)

    def open(self, score: int | None = None) -> str:
        query = "" if score is None else f"?score={score}"
        page = self.client.get(f"/s/{self.key}{query}")
        assert page.status_code == 200, page.text
        return page.text

    def form(self, score: int) -> str:
        """The page a click on ``score`` in the e-mail opens: the score chosen,
        for the page's script to send at once; its display token."""
        page = self.open(score)
        assert "data-autosave" in page and link._checked(page) == [str(score)]
        return link._token(page)

    def send(self, token: str, score: int) -> httpx.Response:
        return self.client.post(
            f"/s/{self.key}",
            data={"display_token": token, "score": str(score)},
            follow_redirects=False,
        )

    def click(self, score: int) -> httpx.Response:
        return self.send(self.form(score), score)

    def stored(self) -> list[tuple[Any, ...]]:
        with db.read(self.engine) as conn:
            rows = conn.execute(text("SELECT score, segment, channel FROM response ORDER BY id"))
            return [tuple(row) for row in rows]

    def status(self) -> object:
        if self.invitation_id is None:
            return None
        return mail._status(self.engine, self.invitation_id)


@pytest.fixture(params=["link", "email"])
def survey_page(request: pytest.FixtureRequest, client: TestClient, engine: Engine) -> Callable:
    def make(**options: Any) -> tuple[Seeded, Page]:
        shop = seed(engine, **options)
        return shop, Page(client, engine, shop, request.param)

    return make


def test_gets_and_heads_of_every_score_link_store_nothing(
    client: TestClient, engine: Engine, survey_page: Callable
) -> None:
    shop, page = survey_page()
    before = page.status()
    for agent in SCANNERS:
        for score in (None, *range(11)):
            query = "" if score is None else f"?score={score}"
            headers = {"User-Agent": agent}
            got = client.get(f"/s/{page.key}{query}", headers=headers)
            head = client.head(f"/s/{page.key}{query}", headers=headers)
            assert (got.status_code, head.status_code) == (200, 200)
            assert head.content == b""
    assert count_responses(engine) == 0
    assert page.status() == before  # the invitation is still not answered
    assert usage_row(engine, shop.account_id, PERIOD) == ((1, 0) if page.invitation_id else (0, 0))


def test_a_second_click_within_half_an_hour_changes_the_score_counted_once(
    client: TestClient, engine: Engine, survey_page: Callable
) -> None:
    shop, page = survey_page()
    first = page.click(0)
    assert first.status_code == 303
    assert page.stored() == [(0, "detractor", page.channel)]
    assert page.status() in (None, "answered")
    used = usage_row(engine, shop.account_id, PERIOD)
    assert used == (1, 0)
    saved = client.get(first.headers["location"])
    assert "Your score 0 is saved — anything to add?" in saved.text

    second = page.click(9)  # another page, another display token

    assert second.status_code == 303
    assert page.stored() == [(9, "promoter", page.channel)]
    assert usage_row(engine, shop.account_id, PERIOD) == used  # counted once
    changed = client.get(second.headers["location"])
    assert "Your score 9 is saved — anything to add?" in changed.text
    assert "What do you like most?" in changed.text  # the promoter's follow-up
    # The same score again is a replay; an invitation's page shows the answer at once.
    if page.invitation_id is None:
        assert page.click(9).status_code == 303
    else:
        assert "Your score 9 is saved — anything to add?" in page.open(9)
    assert page.send(link._token(page.open()), 9).status_code == 303
    assert page.stored() == [(9, "promoter", page.channel)]
    assert usage_row(engine, shop.account_id, PERIOD) == used


def test_a_different_score_after_half_an_hour_is_409_the_same_a_replay(
    client: TestClient, engine: Engine, survey_page: Callable
) -> None:
    shop, page = survey_page()
    assert page.click(3).status_code == 303
    # Pages opened in time, sent too late: one with another score, one plain.
    opened = page.form(8), link._token(page.open())
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE response SET created_at = :then"),
            {"then": mail.NOW - timedelta(minutes=31)},
        )

    late = page.send(opened[0], 8)
    replay = page.send(opened[1], 3)

    assert late.status_code == 409
    assert "Your score 3 was saved more than 30 minutes ago and is kept." in late.text
    assert replay.status_code == 303
    assert page.stored() == [(3, "detractor", page.channel)]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_the_change_carries_the_segments_follow_ups_and_rewards_along(
    client: TestClient, engine: Engine, survey_page: Callable
) -> None:
    shop, page = survey_page(
        questions=QUESTIONS, rewards={"detractor": {"type": "pool"}, "promoter": {"type": "pool"}}
    )
    _add_codes(engine, shop, "detractor", "SORRY-1")
    _add_codes(engine, shop, "promoter", "THANKS-1", "THANKS-2")
    thanks = page.click(2).headers["location"]
    sent = client.post(
        thanks.split("/thanks?")[0] + "/comment",
        data={
            "display_token": link._token(client.get(thanks).text),
            "comment": "Late again.",
            "a.qwhy": "odel",
            "a.qagain": "ono",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303

    changed = page.click(10)

    assert changed.status_code == 303
    with db.read(engine) as conn:
        answers = dict(conn.execute(text("SELECT question_id, value FROM answer")).all())
        comment = conn.execute(text("SELECT comment FROM response")).scalar_one()
        coupons = conn.execute(text("SELECT code FROM coupon WHERE response_id IS NOT NULL")).all()
    # "What went wrong?" is asked of detractors only: its answer goes; the rest stays.
    assert answers == {"qagain": '"ono"'}
    assert comment == "Late again."
    # The code the visitor has seen stays theirs, and no second one is handed out.
    assert [row[0] for row in coupons] == ["SORRY-1"]


def test_alerts_and_webhooks_follow_the_changed_segment(
    client: TestClient,
    engine: Engine,
    clock: Clock,
    receiver: Receiver,
    smtp_server: SmtpServer,
    survey_page: Callable,
) -> None:
    shop, page = survey_page(alert_emails=["owner@shop.example"], alert_since=mail.NOW)
    _endpoint(engine, shop.account_id, receiver.url, ("response.created", "response.updated"))
    zone = ZoneInfo("UTC")

    def queue() -> list[tuple[Any, ...]]:
        with db.write(engine) as conn:
            alerts.queue_alerts(conn, clock.now, zone)
            return [tuple(r) for r in conn.execute(text("SELECT status FROM inbox_mail")).all()]

    assert page.click(0).status_code == 303
    assert queue() == []  # the alert waits for a comment
    clock.now += alerts.COMMENT_WAIT + timedelta(minutes=1)
    assert queue() == [("scheduled",)]
    assert page.click(9).status_code == 303
    assert queue() == []  # not sent yet: the promoter is alerted of nothing
    clock.now += timedelta(minutes=10)
    queue()  # the survey's mark has passed the response's creation by now
    assert page.click(1).status_code == 303
    assert queue() == [("scheduled",)]  # a detractor again: alerted all the same

    lanes.run_pass(_sender(engine, clock, smtp_server))
    events = sorted(
        (r.json["type"], r.json["data"]["score"], str(r.json["data"].get("previous")))
        for r in receiver.requests
    )
    assert events == [
        ("response.created", 0, "None"),
        ("response.updated", 1, str({"score": 9, "segment": "promoter"})),
        ("response.updated", 9, str({"score": 0, "segment": "detractor"})),
    ]
    ids = {r.json["data"]["id"] for r in receiver.requests}
    assert len(ids) == 1  # one response throughout


def test_an_anonymous_invitation_is_changed_only_from_the_browser_that_answered(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, anonymous=True)
    page = Page(client, engine, shop, "email")
    first = page.click(0)
    assert first.status_code == 303
    # The display it answered with, kept for the half hour, for this invitation's pages alone.
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("answered=") and f"Path=/s/{page.key};" in cookie
    assert all(part in cookie for part in ("HttpOnly", "Max-Age=1800", "SameSite=lax"))

    assert page.click(9).status_code == 303
    assert page.stored() == [(9, "promoter", "email")]
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT invitation_id FROM response")).scalar_one() is None

    client.cookies.clear()  # another browser: the answer cannot be found from the invitation
    other = client.get(f"/s/{page.key}?score=2")
    assert "You have already answered" in other.text
    assert page.stored() == [(9, "promoter", "email")]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)
