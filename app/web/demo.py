"""The /demo shop page that embeds the widget (development only)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from app.settings import Settings


def routes(settings: Settings) -> list[BaseRoute]:
    return []
