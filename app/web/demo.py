"""The /demo shop page that embeds the widget (development only).

``nps-beacon demo`` seeds a demo account; this page shows its first survey's
widget on a small made-up shop, so a fresh checkout shows the product working.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app import demo
from app.platform import urls
from app.platform.settings import Settings
from app.web import http
from app.web.context import Context
from app.web.problem import Problem

PRODUCTS = (
    ("beans", "House blend coffee, 500 g", "12.90"),
    ("tea", "Green sencha tea, 100 g", "8.50"),
    ("mug", "Stoneware mug", "16.00"),
)


def routes(settings: Settings) -> list[BaseRoute]:
    if settings.production:
        return []
    return [Route("/demo", demo_shop, methods=["GET"])]


async def demo_shop(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    public_ids = await run_in_threadpool(demo.survey_ids, ctx.engine)
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
            "snippet": ctx.urls.snippet(public_id),
            "link_url": urls.link_path(ctx.signer.link_key(public_id)),
            "products": PRODUCTS,
            "stylesheet": http.asset_url("demo.css"),
        },
        headers={"Content-Security-Policy": _policy(public_url), "Cache-Control": "no-store"},
    )
    return response


def _policy(public_url: str) -> str:
    """Strict, but the widget may load and talk to the server it came from,
    which PUBLIC_URL names (it may differ from the address this page was opened at)."""
    parts = urlsplit(public_url)
    server = f"'self' {parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
    return (
        f"default-src 'none'; script-src {server}; connect-src {server}; style-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
