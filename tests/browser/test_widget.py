"""The widget in a real browser, embedded in a page of another origin that
sends a strict Content Security Policy."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.platform import db, urls
from app.web import assets
from tests.browser.conftest import run_axe, screenshot
from tests.conftest import count_responses, seed, set_budget

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOP_PAGE = """<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>Order confirmed - Example Shop</title></head>
<body>
<header><a href="#main">Skip to content</a> <nav><a href="/">Home</a> <a href="/shop">Shop</a></nav>
</header>
<main id="main">
<h1>Thank you for your order</h1>
<p>Your order 1042 is on its way. We sent the receipt to your e-mail address.</p>
<p><a href="/orders/1042">Track your parcel</a></p>
</main>
{snippet}
</body>
</html>
"""

# Records every CSP violation on the host page before any of its scripts run.
WATCH_CSP = """
window.__globals = Object.keys(window);
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""

WIDGET = "nps-beacon"
RADIOS = "nps-beacon input[type=radio]"


def strict_csp(server: str) -> str:
    return (
        f"default-src 'none'; script-src {server}; connect-src {server}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@dataclass
class ShopSite:
    """A tiny web server on its own port: another origin than nps-beacon."""

    page: str = ""
    csp: str | None = None
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def shop() -> Iterator[Callable[..., str]]:
    site = ShopSite()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append(self.path)
            if self.path.split("?")[0] != "/":
                self.send_response(204)  # the favicon and the like: nothing, no noise
                self.end_headers()
                return
            body = site.page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if site.csp:
                self.send_header("Content-Security-Policy", site.csp)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    def serve(snippet: str = "", *, csp: str | None = None, lang: str = "en") -> str:
        site.page = SHOP_PAGE.format(snippet=snippet, lang=lang)
        site.csp = csp
        return origin

    try:
        yield serve
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def snippet(server: str, embed_key: str, extra: str = "") -> str:
    return f'<script src="{server}/widget.js" data-survey="{embed_key}"{extra} async></script>'


@dataclass
class Watched:
    console_errors: list[str]
    page_errors: list[str]
    posts: list[str]
    warnings: list[str] = field(default_factory=list)

    def only_network_logs(self) -> bool:
        """Chromium itself logs a failed or non-2xx load; the widget logs nothing."""
        return not self.page_errors and all(
            line.startswith("Failed to load resource") for line in self.console_errors
        )

    def violations(self, page: Any) -> list[str]:
        found: list[str] = page.evaluate("window.__violations")
        return found


def watch(page: Any) -> Watched:
    watched = Watched([], [], [])
    page.add_init_script(WATCH_CSP)
    page.on(
        "console",
        lambda message: message.type == "error" and watched.console_errors.append(message.text),
    )
    page.on(
        "console",
        lambda message: message.type == "warning" and watched.warnings.append(message.text),
    )
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    page.on(
        "request",
        lambda request: request.method == "POST" and watched.posts.append(request.post_data or ""),
    )
    return watched


def stored(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return list(
            conn.execute(
                text("SELECT score, segment, comment, channel, page_url, locale FROM response")
            )
        )


def used(engine: Engine, account_id: int) -> tuple[int, int]:
    """(used, rejected) over all periods: the live server runs on the real clock."""
    with db.read(engine) as conn:
        row = conn.execute(
            text(
                "SELECT coalesce(sum(used), 0), coalesce(sum(rejected), 0) FROM usage "
                "WHERE account_id = :a"
            ),
            {"a": account_id},
        ).one()
    return int(row[0]), int(row[1])


def focused_radio(page: Any) -> str | None:
    value: str | None = page.evaluate(
        """() => {
          const inner = document.activeElement && document.activeElement.shadowRoot
            && document.activeElement.shadowRoot.activeElement;
          return inner && inner.type === 'radio' ? inner.value : null;
        }"""
    )
    return value


def tab_to_scale(page: Any) -> str:
    for _ in range(15):
        page.keyboard.press("Tab")
        value = focused_radio(page)
        if value is not None:
            return value
    raise AssertionError("Tab never reached the score group")


def until_decided(page: Any, embed_key: str) -> None:
    """Wait until the widget has weighed its rules: it keeps a sample draw then."""
    page.wait_for_function(
        f"() => localStorage.getItem('npsBeacon:{embed_key}') !== null", polling=50
    )


def open_config(page: Any, url: str) -> dict[str, Any]:
    """Load the page and return the widget config the server answered."""
    with page.expect_response(lambda r: "/api/v1/widget/" in r.url) as config:
        page.goto(url)
    body: dict[str, Any] = config.value.json()
    return body


# -- the whole flow by keyboard ---------------------------------------------------------


def test_keyboard_answer_and_comment_under_strict_csp(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin])
    shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)

    page.goto(f"{origin}/?order=1042&email=someone%40example.com")
    page.locator("nps-beacon fieldset").wait_for()
    assert page.locator("nps-beacon legend").inner_text() == (
        "How likely are you to recommend us to a friend or colleague?"
    )

    assert tab_to_scale(page) == "0"
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    assert focused_radio(page) == "9"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    assert focused_radio(page) == "9"
    # Moving through the scale chooses nothing and sends nothing.
    assert page.locator(f"{RADIOS}:checked").count() == 0
    assert seen.posts == []

    page.keyboard.press("Space")
    comment = page.locator("nps-beacon textarea")
    comment.wait_for()
    assert (
        page.locator("nps-beacon form label")
        .inner_text()
        .startswith("Thank you! What do you like most?")
    )
    assert comment.evaluate("el => el.getRootNode().activeElement === el")
    page.keyboard.type("Quick checkout, friendly support")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.locator(
        "nps-beacon [role=status]", has_text="Thank you! We are glad you are happy."
    ).wait_for()

    rows = stored(engine)
    assert len(rows) == 1
    assert rows[0].score == 9
    assert rows[0].segment == "promoter"
    assert rows[0].comment == "Quick checkout, friendly support"
    assert rows[0].channel == "widget"
    assert rows[0].page_url == f"{origin}/"  # the query may hold personal data: never sent
    assert used(engine, survey.account_id) == (1, 0)
    # The score, then the comment with the same token and score: counted once.
    score_post, comment_post = (json.loads(body) for body in seen.posts)
    assert score_post["score"] == comment_post["score"] == 9
    assert score_post["display_token"] == comment_post["display_token"]
    assert "comment" not in score_post
    assert comment_post["comment"] == "Quick checkout, friendly support"

    assert seen.violations(page) == []
    assert seen.console_errors == []
    assert seen.page_errors == []
    assert page.context.cookies() == []
    added = page.evaluate("Object.keys(window).filter((k) => !window.__globals.includes(k))")
    assert set(added) - {"__globals", "__violations"} == {"npsBeacon"}


# -- a failed network and retries ---------------------------------------------------


@pytest.mark.parametrize("failure", ["network", "server"])
def test_retry_after_a_failure_stores_one_response(
    page: Any, engine: Engine, live_server: Any, shop: Any, failure: str
) -> None:
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin])
    shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)
    attempts: list[str] = []

    def fail_first(route: Any) -> None:
        """The first post fails; the widget must try again with the same body."""
        attempts.append(route.request.post_data or "")
        if len(attempts) > 1:
            route.continue_()
        elif failure == "network":
            route.abort("connectionreset")
        else:
            route.fulfill(
                status=503,
                headers={"Access-Control-Allow-Origin": "*"},
                content_type="application/problem+json",
                body='{"status": 503, "code": "unavailable"}',
            )

    page.route(f"{server}/api/v1/responses", fail_first)
    page.goto(origin)
    page.locator(RADIOS).nth(3).click()
    page.locator("nps-beacon textarea").wait_for()

    assert len(attempts) == 2
    assert attempts[0] == attempts[1]  # the same token and score, so at most one count
    rows = stored(engine)
    assert [(row.score, row.segment) for row in rows] == [(3, "detractor")]
    assert (
        page.locator("nps-beacon form label").inner_text().startswith("We are sorry to hear that.")
    )
    assert used(engine, survey.account_id) == (1, 0)
    assert seen.violations(page) == []
    assert seen.only_network_logs()


def test_budget_used_up_while_open_says_so_politely(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine)
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    set_budget(engine, "free", 0)  # another visitor took the last survey meanwhile

    page.locator(RADIOS).nth(8).click()
    page.locator(
        "nps-beacon [role=status]", has_text="We are not collecting feedback right now."
    ).wait_for()
    assert page.locator("nps-beacon textarea").count() == 0
    assert count_responses(engine) == 0
    assert used(engine, survey.account_id) == (0, 1)
    assert seen.only_network_logs()
    assert seen.violations(page) == []


def test_conflict_ends_quietly(page: Any, engine: Engine, live_server: Any, shop: Any) -> None:
    server = live_server()
    survey = seed(engine)
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)
    page.route(
        f"{server}/api/v1/responses",
        lambda route: route.fulfill(
            status=409,
            headers={"Access-Control-Allow-Origin": "*"},
            content_type="application/problem+json",
            body='{"status": 409, "code": "token_already_used"}',
        ),
    )
    page.goto(origin)
    page.locator(RADIOS).nth(5).click()
    page.locator(WIDGET).wait_for(state="detached")
    assert len(seen.posts) == 1  # a 4xx is final: no retry
    assert seen.only_network_logs()


def test_hashed_script_with_subresource_integrity(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine)
    script = assets.widget_script()
    assert script is not None
    tag = urls.snippet(server, survey.embed_key, script)
    origin = shop(tag, csp=strict_csp(server))
    seen = watch(page)

    page.goto(origin)
    page.locator(RADIOS).nth(10).click()
    page.locator("nps-beacon textarea").wait_for()
    assert [row.score for row in stored(engine)] == [10]
    assert seen.violations(page) == []
    assert seen.console_errors == []


# -- when the widget must stay away -------------------------------------------------


def test_exhausted_budget_hides_the_widget(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    origin = shop()
    survey = seed(engine, origins=[origin])
    set_budget(engine, "free", 0)
    shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)

    config = open_config(page, origin)
    assert config == {"show": False, "reason": "budget_exhausted"}
    # Even an explicit request to show it is declined.
    assert page.evaluate("window.npsBeacon.show()") is False
    assert seen.warnings == [f"nps-beacon: not shown on {origin}: budget_exhausted"]
    assert page.locator(WIDGET).count() == 0
    assert count_responses(engine) == 0
    assert used(engine, survey.account_id) == (0, 0)
    assert seen.violations(page) == []
    assert seen.console_errors == []
    assert seen.page_errors == []


def test_foreign_origin_gets_no_widget(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine, origins=["https://elsewhere.example"])
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)

    assert open_config(page, origin) == {"show": False, "reason": "origin_not_allowed"}
    assert page.evaluate("window.npsBeacon.show()") is False
    assert page.locator(WIDGET).count() == 0
    assert count_responses(engine) == 0
    assert seen.console_errors == []
    assert seen.page_errors == []


def test_refused_origin_is_explained_once_in_the_console(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    """The owner's usual mistake: the survey allows localhost, the page is
    opened as 127.0.0.1. The widget stays away and says why, as a warning."""
    server = live_server()
    origin = shop()
    localhost = origin.replace("127.0.0.1", "localhost")
    refused = seed(engine, origins=[localhost])
    shop(snippet(server, refused.embed_key), csp=strict_csp(server))
    seen = watch(page)

    assert open_config(page, origin)["reason"] == "origin_not_allowed"
    assert page.evaluate("window.npsBeacon.show()") is False
    assert page.evaluate("window.npsBeacon.show()") is False  # asking again says nothing more
    assert seen.warnings == [
        f"nps-beacon: this survey does not accept answers from {origin} "
        "(allowed origins are set in the survey's settings)"
    ]
    assert page.locator(WIDGET).count() == 0
    assert seen.console_errors == []
    assert seen.page_errors == []
    assert seen.violations(page) == []

    # The same page on an origin the survey allows: the card, and no warning.
    allowed = seed(engine, origins=[origin])
    shop(snippet(server, allowed.embed_key), csp=strict_csp(server))
    seen.warnings.clear()
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    assert seen.warnings == []
    assert seen.console_errors == []


def test_inactive_survey_is_explained_in_the_console(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine, active=False)
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    seen = watch(page)

    assert open_config(page, origin) == {"show": False, "reason": "inactive"}
    assert page.evaluate("window.npsBeacon.show()") is False
    assert seen.warnings == [f"nps-beacon: not shown on {origin}: inactive"]
    assert seen.console_errors == []


def test_zero_sample_rate_never_asks(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine, sample_rate=0.0)
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))

    assert open_config(page, origin)["show"] is True
    assert page.evaluate("window.npsBeacon.show()") is False
    assert page.locator(WIDGET).count() == 0
    # The draw is kept, so this visitor stays out of the sample on every page.
    memory = page.evaluate(f"JSON.parse(localStorage.getItem('npsBeacon:{survey.embed_key}'))")
    assert 0 <= memory["r"] < 1


# -- triggers, delay and recontact ------------------------------------------------------


def test_manual_trigger_then_escape_keeps_away(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine)
    extra = ' data-trigger="manual"'
    origin = shop(snippet(server, survey.embed_key, extra), csp=strict_csp(server))
    seen = watch(page)

    assert open_config(page, origin)["show"] is True
    # The rules are weighed, but a manual survey waits for the page to ask.
    until_decided(page, survey.embed_key)
    assert page.locator(WIDGET).count() == 0
    assert page.evaluate("window.npsBeacon.show()") is True
    assert page.evaluate("window.npsBeacon.show()") is True  # asking twice opens one card
    assert page.locator(WIDGET).count() == 1

    page.locator(RADIOS).first.focus()
    page.keyboard.press("Escape")
    assert page.locator(WIDGET).count() == 0

    # Dismissed: the next page does not ask again (recontact_days is 90).
    open_config(page, origin)
    assert page.evaluate("window.npsBeacon.show()") is False
    assert page.locator(WIDGET).count() == 0
    assert count_responses(engine) == 0
    assert seen.console_errors == []
    assert seen.page_errors == []


def test_delay_before_asking(page: Any, engine: Engine, live_server: Any, shop: Any) -> None:
    server = live_server()
    survey = seed(engine, delay_ms=20000)
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    page.clock.install()

    open_config(page, origin)
    until_decided(page, survey.embed_key)
    page.clock.run_for(15000)
    assert page.locator(WIDGET).count() == 0
    page.clock.run_for(6000)
    page.locator("nps-beacon fieldset").wait_for()


# -- accessibility and looks ------------------------------------------------------------


def test_open_widget_has_no_axe_violations(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine, color="#ffd43b", position="bottom-left")
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(reduced_motion="reduce")
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    card = page.locator("nps-beacon section")
    assert card.evaluate("el => getComputedStyle(el).animationName") == "none"
    # Black text on this yellow: the readable colour, not the survey's own.
    assert card.evaluate("el => getComputedStyle(el).color") == "rgb(0, 0, 0)"

    assert run_axe(page, WIDGET) == []
    radios = page.locator(RADIOS)
    assert radios.first.get_attribute("aria-describedby") == "lo"
    assert radios.last.get_attribute("aria-describedby") == "hi"
    box = page.locator("nps-beacon label").first.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    close = page.locator("nps-beacon button.x")
    assert close.get_attribute("aria-label") == "Close"
    close_box = close.bounding_box()
    assert close_box["width"] >= 44 and close_box["height"] >= 44

    radios.nth(7).focus()
    page.keyboard.press("Enter")  # Enter chooses, like Space and a click
    page.locator("nps-beacon textarea").wait_for()
    assert run_axe(page, WIDGET) == []


def test_screenshots_desktop_and_narrow(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine)
    origin = shop(snippet(server, survey.embed_key), csp=strict_csp(server))
    page.emulate_media(reduced_motion="reduce")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    page.locator(RADIOS).nth(9).focus()
    screenshot(page, "widget-desktop")
    page.locator(RADIOS).nth(9).click()
    page.locator("nps-beacon textarea").wait_for()
    page.keyboard.type("The parcel tracking")
    screenshot(page, "widget-desktop-follow-up")
    page.locator("nps-beacon .send").click()
    page.locator(
        "nps-beacon [role=status]", has_text="Thank you! We are glad you are happy."
    ).wait_for()
    screenshot(page, "widget-desktop-thanks")

    page.set_viewport_size({"width": 375, "height": 740})
    page.evaluate("localStorage.clear()")
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    screenshot(page, "widget-375")

    german = seed(engine, kind="ces", color="#2b8a3e", position="top-left")
    shop(snippet(server, german.embed_key), csp=strict_csp(server), lang="de-DE")
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    assert page.locator("nps-beacon button.x").get_attribute("aria-label") == "Schließen"
    assert page.locator(RADIOS).count() == 7
    card = page.locator("nps-beacon section").bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= 375
    screenshot(page, "widget-375-de")


# -- the owner's test snippet ----------------------------------------------------------


def test_owner_tests_the_widget_twice_and_nothing_counts(
    page: Any, engine: Engine, live_server: Any, shop: Any
) -> None:
    server = live_server()
    survey = seed(engine, email="owner@shop.example", kind="csat", recontact_days=90)
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{server}/admin/login")
    page.get_by_label("Email").fill("owner@shop.example")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/admin/dashboard")
    page.goto(f"{server}/admin/surveys/{survey.survey_id}")
    test_snippet = page.locator("#test-snippet").inner_text()
    assert page.get_by_role("heading", name="Try it yourself (for testing only)").is_visible()
    assert run_axe(page) == []
    page.locator("#test-heading").scroll_into_view_if_needed()
    screenshot(page, "admin-survey-test-snippet")
    test_key = test_snippet.split('data-survey="')[1].split('"')[0]
    assert test_key != survey.embed_key

    origin = shop(test_snippet, csp=strict_csp(server))
    seen = watch(page)
    # First view: answered by mouse, with a comment.
    page.goto(origin)
    page.locator(RADIOS).nth(4).click()
    page.locator("nps-beacon textarea").fill("Testing the checkout")
    page.locator("nps-beacon .send").click()
    page.locator(
        "nps-beacon [role=status]", has_text="Thank you! We are glad you are happy."
    ).wait_for()
    # Second view in the same browser: asked again at once, answered by keyboard.
    page.goto(origin)
    page.locator("nps-beacon fieldset").wait_for()
    assert tab_to_scale(page) == "1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.locator("nps-beacon textarea").wait_for()
    # A test leaves nothing in the browser that would keep the real widget away.
    assert page.evaluate(f"localStorage.getItem('npsBeacon:{test_key}')") is None

    with db.read(engine) as conn:
        tests = conn.execute(text("SELECT score, comment FROM test_response ORDER BY id")).all()
    assert [tuple(row) for row in tests] == [(5, "Testing the checkout"), (2, None)]
    assert count_responses(engine) == 0
    assert used(engine, survey.account_id) == (0, 0)
    assert seen.violations(page) == []
    assert seen.console_errors == []

    page.goto(f"{server}/admin/surveys/{survey.survey_id}/results")
    page.get_by_role("link", name="Test answers").click()
    rows = page.locator("#test-answers tbody tr")
    rows.nth(1).wait_for()  # the click navigates: count once the page is there
    assert rows.count() == 2
    assert run_axe(page) == []
    screenshot(page, "admin-test-answers")
    page.get_by_role("button", name="Delete test answers").click()
    page.get_by_text("2 test answers were deleted.").wait_for()
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM test_response")).scalar_one() == 0
