"""The invitation e-mail's HTML as a mail client shows it: in chromium with
scripts off and the network cut, at desktop and phone width."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.invitations.messages import invitation_message
from tests.browser.conftest import run_axe
from tests.test_mail import BASE, KEY, score_url, survey

pytestmark = pytest.mark.browser

SHOTS = {"desktop": {"width": 800, "height": 900}, "phone": {"width": 360, "height": 800}}


def _html(language: str = "en", kind: str = "nps") -> str:
    message = invitation_message(
        survey=survey(kind),
        language=language,
        to="ana@example.com",
        name="Ana Lima",
        sender="nps-beacon <noreply@feedback.example.com>",
        account_name="Corner Shop",
        score_url=score_url,
        unsubscribe_url=f"{BASE}/u/{KEY}",
        message_id="<invitation-42@feedback.example.com>",
    )
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def mail_view(browser: Any) -> Iterator[Any]:
    """A tab like a mail client's: no scripts, no network."""
    context = browser.new_context(java_script_enabled=False)
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    tab = context.new_page()
    tab.requests = requests
    yield tab
    context.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_score_is_a_visible_button_in_one_row(mail_view: Any, width: str) -> None:
    viewport = SHOTS[width]
    mail_view.set_viewport_size(viewport)
    mail_view.set_content(_html())
    links = mail_view.locator('a[href*="?score="]')
    assert links.count() == 11
    boxes = []
    for score in range(11):
        link = mail_view.locator(f'a[href="{score_url(score)}"]')
        assert link.is_visible()
        assert link.inner_text() == str(score)
        boxes.append(link.bounding_box())
    # One row, left to right, each wide enough to tap and inside the screen.
    assert len({round(box["y"]) for box in boxes}) == 1
    assert [box["x"] for box in boxes] == sorted(box["x"] for box in boxes)
    assert all(box["width"] >= 24 and box["height"] >= 40 for box in boxes)
    assert boxes[-1]["x"] + boxes[-1]["width"] <= viewport["width"]
    assert mail_view.get_by_text("Not at all likely").is_visible()
    assert mail_view.get_by_text("Extremely likely").is_visible()
    assert mail_view.get_by_role("link", name="Unsubscribe").is_visible()
    assert mail_view.requests == []  # nothing remote to load
    # For a person to look at: /tmp/invitation.png and /tmp/invitation-phone.png.
    name = "invitation.png" if width == "desktop" else f"invitation-{width}.png"
    mail_view.screenshot(path=str(Path(tempfile.gettempdir()) / name), full_page=True)


def test_the_invitation_is_accessible(page: Any) -> None:
    page.set_content(_html(language="de"))
    # An e-mail is not a page: the mail client gives the landmarks and the
    # page's heading, so the rules about a whole document don't apply.
    page_rules = {"region", "landmark-one-main", "page-has-heading-one"}
    violations = [v for v in run_axe(page) if v["id"] not in page_rules]
    assert violations == []
