"""An e-mail invitation in a real chromium: a score link opened and saved by
the page itself (also with the tab closed at once), changed by a second
click, kept after half an hour, a comment added; the unsubscribe page and
its button. Screenshots go to /tmp/invite-*.png."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from app.invitations import record_in, records
from app.invitations.records import Source
from app.platform import db
from app.platform.signing import Signer
from tests.browser.conftest import run_axe, screenshot
from tests.conftest import SECRET, Seeded, seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# Beside the shared screenshots: the ones of this flow, looked at by hand.
SHOTS = Path(tempfile.gettempdir())


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"invite-{name}.png"), full_page=True)


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    return problems


def _invite(engine: Engine, shop: Seeded, email: str, **fields: object) -> tuple[int, str]:
    """An accepted record's invitation, on the real clock the live server uses."""
    now = datetime.now(UTC)
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": email, **fields}, now)
    outcome = records.accept(
        engine, shop.account_id, wanted, Source("api", "Shop"), now, ZoneInfo("UTC")
    )
    assert outcome.accepted
    with db.read(engine) as conn:
        invitation_id = conn.execute(
            text("SELECT id FROM invitation WHERE record_id = :r"), {"r": outcome.id}
        ).scalar_one()
    return int(invitation_id), Signer((SECRET,), 3600).invitation_key(int(invitation_id))


def _used(engine: Engine, account_id: int) -> int:
    with db.read(engine) as conn:
        return int(
            conn.execute(
                text("SELECT coalesce(sum(used), 0) FROM usage WHERE account_id = :a"),
                {"a": account_id},
            ).scalar_one()
        )


def _eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Whether ``check`` comes true within ``seconds`` (a generous bound on a loaded machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    with db.read(engine) as conn:
        rows = conn.execute(text("SELECT score, segment, channel FROM response ORDER BY id"))
        return [tuple(row) for row in rows]


def _back_date(engine: Engine, minutes: int) -> None:
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE response SET created_at = :then"),
            {"then": datetime.now(UTC) - timedelta(minutes=minutes)},
        )


def test_a_click_on_a_score_is_saved_then_a_comment(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop = seed(engine, review_url="https://reviews.example/shop")
    invitation_id, key = _invite(engine, shop, "ann@example.com")
    base = live_server()
    problems = _watch(page)
    page.set_viewport_size(PHONE)

    # The e-mail's link for 9: the page saves 9 by itself and offers the follow-up.
    page.goto(f"{base}/s/{key}?score=9")
    page.wait_for_url("**/thanks?t=*")
    page.get_by_text("Your score 9 is saved — anything to add?").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Thank you! We are glad you are happy."
    )
    assert page.get_by_role("link", name="Write a review").is_visible()
    assert _stored(engine) == [(9, "promoter", "email")]
    assert run_axe(page) == []
    _shot(page, "saved-375")
    screenshot(page, "invitation-score-saved-375")

    page.get_by_label("What do you like most?").fill("The beans arrived roasted that week.")
    page.get_by_role("button", name="Send comment").click()
    page.get_by_text("Your comment was added").wait_for()
    _shot(page, "commented-375")
    with db.read(engine) as conn:
        stored = conn.execute(
            text("SELECT score, channel, invitation_id, comment FROM response")
        ).one()
        status = conn.execute(text("SELECT status FROM invitation")).scalar_one()
    assert tuple(stored) == (9, "email", invitation_id, "The beans arrived roasted that week.")
    assert status == "answered"
    assert _used(engine, shop.account_id) == 1  # the invitation, counted when accepted

    # Another score link of the same e-mail, after half an hour: the answer is kept.
    _back_date(engine, 31)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{base}/s/{key}?score=2")
    assert page.get_by_text(
        "Your score 9 was saved more than 30 minutes ago and is kept."
    ).is_visible()
    assert page.query_selector("input[type=radio]") is None
    assert run_axe(page) == []
    _shot(page, "again-desktop")
    assert _stored(engine) == [(9, "promoter", "email")]
    assert problems == []


@pytest.mark.parametrize("channel", ["email", "link"])
def test_a_click_then_the_tab_closed_at_once_keeps_the_score_and_a_second_click_changes_it(
    live_server: Callable[..., str], engine: Engine, browser: Any, channel: str
) -> None:
    shop = seed(engine)
    if channel == "email":
        invitation_id, key = _invite(engine, shop, "ann@example.com")
    else:
        invitation_id, key = 0, Signer((SECRET,), 3600).link_key(shop.public_id)
    base = live_server()
    used = _used(engine, shop.account_id)
    context = browser.new_context(viewport=PHONE)
    try:
        # The click: the tab is closed as soon as its script has sent the score.
        tab = context.new_page()
        with tab.expect_request(lambda request: request.method == "POST"):
            tab.goto(f"{base}/s/{key}?score=9", wait_until="commit")
        tab.close()
        assert _eventually(lambda: _stored(engine) == [(9, "promoter", channel)])
        if channel == "email":
            assert mail_status(engine, invitation_id) == "answered"
        counted = _used(engine, shop.account_id)
        assert counted == (used if channel == "email" else 1)

        # A second click, on 3, within half an hour: the same response changes.
        tab = context.new_page()
        problems = _watch(tab)
        tab.goto(f"{base}/s/{key}?score=3")
        tab.wait_for_url("**/thanks?t=*")
        tab.get_by_text("Your score 3 is saved — anything to add?").wait_for()
        assert tab.get_by_label("We are sorry to hear that. What should we improve?").is_visible()
        assert _stored(engine) == [(3, "detractor", channel)]
        assert _used(engine, shop.account_id) == counted  # counted once
        assert run_axe(tab) == []
        assert problems == []
        cookies = context.cookies()
    finally:
        context.close()

    # Without script a page opened in time shows the form; sent after the half
    # hour, the first score stands. (The same browser: a link survey knows its
    # answer by the cookie it keeps for the half hour.)
    plain = browser.new_context(java_script_enabled=False, viewport=PHONE)
    plain.add_cookies(cookies)
    try:
        tab = plain.new_page()
        tab.goto(f"{base}/s/{key}?score=7")
        assert tab.is_checked("input[value='7']")
        assert _stored(engine) == [(3, "detractor", channel)]
        _back_date(engine, 31)
        tab.get_by_role("button", name="Send").click()
        tab.get_by_text("Your score 3 was saved more than 30 minutes ago and is kept.").wait_for()
    finally:
        plain.close()
    assert _stored(engine) == [(3, "detractor", channel)]
    assert _used(engine, shop.account_id) == counted


def mail_status(engine: Engine, invitation_id: int) -> object:
    with db.read(engine) as conn:
        return conn.execute(
            text("SELECT status FROM invitation WHERE id = :i"), {"i": invitation_id}
        ).scalar_one()


def test_unsubscribing_in_german(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop = seed(engine, email_delay_days=3)
    _, key = _invite(engine, shop, "jan@example.de", language="de")
    base = live_server()
    problems = _watch(page)
    page.set_viewport_size(PHONE)

    page.goto(f"{base}/u/{key}")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Von den Umfragen von Shop abmelden?"
    )
    assert page.get_by_text("jan@example.de", exact=False).is_visible()
    assert run_axe(page) == []
    _shot(page, "unsubscribe-375")
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT unsubscribed_at FROM recipient")).scalar() is None

    page.get_by_role("button", name="Abmelden").click()
    page.get_by_role("heading", name="Sie sind abgemeldet").wait_for()
    assert run_axe(page) == []
    _shot(page, "unsubscribed-375")
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT unsubscribed_at FROM recipient")).scalar() is not None
        assert conn.execute(text("SELECT status FROM invitation")).scalar() == "cancelled"
    assert _used(engine, shop.account_id) == 0  # never sent: given back

    page.goto(f"{base}/s/{key}")
    assert page.get_by_role("heading", level=1).inner_text() == "Diese Umfrage ist geschlossen"
    _shot(page, "closed-375")
    assert problems == []


def test_an_anonymous_survey_says_so(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    shop = seed(engine, kind="csat", anonymous=True)
    _, key = _invite(engine, shop, "eve@example.com")
    base = live_server()
    problems = _watch(page)
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/s/{key}")
    page.locator("input[value='4']").check()
    privacy = page.get_by_text("Your answer is anonymous")
    assert privacy.is_visible()
    # Below the button, apart from it.
    button = page.get_by_role("button", name="Send").bounding_box()
    note = privacy.bounding_box()
    assert button is not None and note is not None
    assert note["y"] >= button["y"] + button["height"] + 8
    assert run_axe(page) == []
    _shot(page, "anonymous-375")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/thanks?t=*")
    with db.read(engine) as conn:
        stored = conn.execute(text("SELECT score, invitation_id FROM response")).one()
    assert tuple(stored) == (4, None)
    assert problems == []
