"""The /demo shop page in a real chromium: the widget loads under the page's
CSP and asks its question; the shop page itself has no accessibility violations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from app import demo
from tests.browser.conftest import run_axe, screenshot
from tests.conftest import count_responses, seed

pytestmark = [pytest.mark.browser, pytest.mark.server]

WATCH_CSP = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def test_demo_shop_shows_the_widget(
    live_server: Callable[..., str], engine: Engine, page: Any
) -> None:
    seed(engine, email=demo.EMAIL)
    base = live_server()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.add_init_script(WATCH_CSP)
    # axe measures contrast as rendered; without motion the card is never half faded in.
    page.emulate_media(reduced_motion="reduce")

    for size, name in (
        ({"width": 1280, "height": 800}, "desktop"),
        ({"width": 375, "height": 740}, "375"),
    ):
        page.set_viewport_size(size)
        page.goto(f"{base}/demo")
        page.locator("nps-beacon fieldset").wait_for()
        # axe measures contrast as rendered: let the card's entrance finish first.
        page.wait_for_function("document.getAnimations().every(a => a.playState === 'finished')")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Freshly roasted")
        found = run_axe(page)
        assert found == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in found]
        screenshot(page, f"demo-{name}")
        page.evaluate("localStorage.clear()")  # let the widget ask again at the next size

    assert page.evaluate("window.__violations") == []
    assert errors == []
    assert count_responses(engine) == 0  # showing the widget costs nothing
