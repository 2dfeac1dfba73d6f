"""The review link offered after an answer: ``GET /r/{review key}`` counts
the visit and redirects to the survey's review address.

The key names only the survey, so the count is one number per survey and
day, never who followed it. A HEAD, a browser's prefetch and an owner's test
are redirected without being counted, and so is a client's second follow of
one survey's link within the hour, as long as rate limits are on.
"""

from __future__ import annotations

import logging

from limits import parse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.answers import rewards
from app.budget import rule as budget
from app.platform.signing import InvalidToken, SurveyKey
from app.surveys.model import Survey
from app.web.context import Context
from app.web.problem import Problem

HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
# What browsers send when they fetch a page before anyone asked for it.
PREFETCH = {"prefetch", "prerender", "preview"}
# The count is advisory: a reload or a script must not inflate it, yet the
# visitor is always led on to the review.
COUNTED_FOLLOWS = parse("1/hour")

log = logging.getLogger("nps_beacon.reviews")


def routes() -> list[BaseRoute]:
    # Starlette answers HEAD with the GET route; the handler tells them apart.
    return [Route("/r/{key}", follow_review, methods=["GET"])]


async def follow_review(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        key = ctx.signer.read_review_key(request.path_params["key"])
    except InvalidToken:
        raise _gone() from None
    survey = await run_in_threadpool(_survey, ctx, key)
    target = survey.review_link if survey is not None else None
    if survey is None or target is None:
        raise _gone()
    if (
        request.method == "GET"
        and not key.test
        and not _prefetch(request)
        and _first_follow(request, survey)
    ):
        await ctx.writes.run(
            rewards.count_followed,
            ctx.engine,
            survey,
            ctx.clock(),
            ctx.zone,
            account=survey.account_id,
        )
    return RedirectResponse(target, status_code=303, headers=HEADERS)


def _survey(ctx: Context, key: SurveyKey) -> Survey | None:
    period = budget.period_of(ctx.clock(), ctx.zone)
    offer = ctx.cache.load_config(ctx.engine, key.public_id, period)
    return offer.survey if offer is not None else None


def _prefetch(request: Request) -> bool:
    headers = request.headers
    purposes = (
        headers.get("sec-purpose", ""),
        headers.get("purpose", ""),
        headers.get("x-moz", ""),
    )
    return any(word in PREFETCH for value in purposes for word in value.lower().split(";"))


def _first_follow(request: Request, survey: Survey) -> bool:
    """Whether this client's follow of the survey's link is its first this
    hour, in the rate limits' storage (shared by the workers with Redis)."""
    limiter = request.app.state.limiter
    if not limiter.enabled:
        return True
    client = request.client.host if request.client else "unknown"
    try:
        first: bool = limiter.limiter.hit(COUNTED_FOLLOWS, "review", survey.public_id, client)
    except Exception as exc:  # the storage's own errors, whatever its kind
        log.warning("review follows counted without the rate-limit storage: %s", exc)
        return True
    return first


def _gone() -> Problem:
    return Problem(404, "no_review_link", "This review link is not offered any more.")
