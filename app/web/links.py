"""Link surveys: /s/{link_key} pages that work without JavaScript."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
