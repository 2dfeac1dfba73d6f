"""The admin settings pages under /admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute

from app.settings import Settings

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def routes(settings: Settings, login_limit: Decorator) -> list[BaseRoute]:
    return []
