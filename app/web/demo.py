"""The /demo shop page that embeds the widget (development only).

``nps-beacon demo`` seeds a demo account; this page shows its first survey's
widget on a small made-up shop, so a fresh checkout shows the product working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app import db, surveys
from app.context import Context
from app.models import admin_table, survey_table
from app.settings import Settings
from app.web.errors import Problem

# The admin the demo command creates (app/cli.py); a test keeps the two equal.
DEMO_EMAIL = "demo@example.com"

PRODUCTS = (
    ("beans", "House blend coffee, 500 g", "12.90"),
    ("tea", "Green sencha tea, 100 g", "8.50"),
    ("mug", "Stoneware mug", "16.00"),
)


def routes(settings: Settings) -> list[BaseRoute]:
    if settings.production:
        return []
    return [Route("/demo", demo_shop, methods=["GET"])]


def demo_shop(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    public_ids = _demo_surveys(ctx)
    if not public_ids:
        raise Problem(
            404, "no_demo", "There is no demo account; start the server with `nps-beacon demo`."
        )
    public_id = public_ids[0]
    public_url = ctx.settings.public_url
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "demo/shop.html",
        {
            "snippet": surveys.snippet(public_url, ctx.signer.embed_key(public_id)),
            "link_url": request.url_for(
                "link_survey", link_key=ctx.signer.link_key(public_id)
            ).path,
            "products": PRODUCTS,
            "stylesheet": request.url_for("static", path="demo.css").path,
        },
        headers={"Content-Security-Policy": _policy(public_url), "Cache-Control": "no-store"},
    )
    return response


def _demo_surveys(ctx: Context) -> list[Any]:
    with db.read(ctx.engine) as conn:
        return list(
            conn.execute(
                select(survey_table.c.public_id)
                .join(admin_table, admin_table.c.account_id == survey_table.c.account_id)
                .where(admin_table.c.email == DEMO_EMAIL)
                .order_by(survey_table.c.id)
            ).scalars()
        )


def _policy(public_url: str) -> str:
    """Strict, but the widget may load and talk to the server it came from,
    which PUBLIC_URL names (it may differ from the address this page was opened at)."""
    parts = urlsplit(public_url)
    server = f"'self' {parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
    return (
        f"default-src 'none'; script-src {server}; connect-src {server}; style-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
