"""The /demo shop page: on with the demo account in development, off otherwise."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app import demo
from app.main import build_app
from app.platform import urls
from app.platform.settings import Settings
from tests.conftest import Clock, seed


def test_demo_embeds_the_demo_surveys_widget(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    seed(engine)  # another account's survey comes first and must not be shown
    shop = seed(engine, email=demo.EMAIL)
    seed(engine, email="owner@example.com")
    page = client.get("/demo")
    assert page.status_code == 200
    assert urls.snippet(settings.public_url, shop.embed_key) in page.text
    assert page.text.count("<script") == 1
    assert f'href="/s/{shop.link_key}"' in page.text
    policy = page.headers["content-security-policy"]
    assert f"script-src 'self' {settings.public_url}" in policy
    assert f"connect-src 'self' {settings.public_url}" in policy
    assert "unsafe-inline" not in policy
    assert " style=" not in page.text
    assert client.get("/static/demo.css").status_code == 200


def test_demo_is_off_without_a_demo_account(client: TestClient, engine: Engine) -> None:
    seed(engine, email="owner@example.com")
    assert client.get("/demo").status_code == 404


def test_demo_is_off_in_production(settings: Settings, engine: Engine, clock: Clock) -> None:
    seed(engine, email=demo.EMAIL)
    production = settings.replace(environment="production")
    app = build_app(production, clock=clock, engine=engine)
    # Production answers only PUBLIC_URL's host.
    with TestClient(app, base_url=production.public_url) as client:
        page = client.get("/demo")
    assert page.status_code == 404
    assert "<script" not in page.text
