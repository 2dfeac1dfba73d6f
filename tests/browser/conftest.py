"""Headless Debian chromium driven by Playwright.

Playwright's own browser download does not work everywhere, so the system
chromium is launched by path. Without it the tests skip on a laptop and fail
under CI=true.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "widget" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require(Path(CHROMIUM).exists(), "chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        require(False, "playwright is not installed")
        raise
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    yield tab
    context.close()


def run_axe(page: Any, selector: str | None = None) -> list[dict[str, Any]]:
    """axe-core's violations for the page (or the element at ``selector``).

    axe is evaluated through the devtools protocol, which a page's CSP does not
    govern, so pages are checked with their strict CSP still on."""
    require(AXE.exists(), "axe-core is not installed (make widget-deps)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    violations: list[dict[str, Any]] = page.evaluate(
        "async (selector) => (await axe.run(selector ? document.querySelector(selector)"
        " : document)).violations",
        selector,
    )
    return violations


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def show_form_part(page: Any, name: str) -> None:
    """Open a part of the survey form by its link, as an admin does (admin.js
    shows one part at a time)."""
    page.locator("#form-sections").get_by_role("link", name=name).click()
