"""The survey read model, the one closing decision, scales, and the hot
path's per-process cache, against a real database."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest
from sqlalchemy import Engine, text

from app.platform import db
from app.surveys import model as surveys
from app.surveys import scales
from app.surveys.cache import MISSING, SurveyCache
from app.surveys.model import Offer, Survey
from tests.conftest import seed, set_budget

PERIOD = "2026-05"


def _offer(engine: Engine, public_id: str) -> Offer:
    with db.read(engine) as conn:
        offer = surveys.find_offer(conn, public_id, PERIOD)
    assert offer is not None
    return offer


def test_a_survey_is_read_typed_and_frozen(engine: Engine) -> None:
    shop = seed(engine, kind="csat", origins=["https://Shop.example/path"], sample_rate=0.5)
    with db.read(engine) as conn:
        survey = surveys.find(conn, shop.survey_id)
        assert surveys.find(conn, shop.survey_id + 1000) is None
    assert isinstance(survey, Survey)
    assert (survey.id, survey.account_id, survey.public_id) == (
        shop.survey_id,
        shop.account_id,
        shop.public_id,
    )
    assert survey.kind == "csat" and survey.active is True and survey.sample_rate == 0.5
    assert survey.allowed_origins == ("https://shop.example",)
    assert survey.scale.scores == range(1, 6)
    with pytest.raises(FrozenInstanceError):
        survey.active = False  # type: ignore[misc]


def test_origins(engine: Engine) -> None:
    with db.read(engine) as conn:
        survey = surveys.find(conn, seed(engine, origins=["https://shop.example"]).survey_id)
    assert survey is not None
    assert survey.allows("https://SHOP.example/")
    assert survey.allows(None)  # server to server
    assert not survey.allows("https://evil.example")
    assert replace(survey, allowed_origins=()).allows("https://anywhere.example")


def test_closing_reason_in_order_of_precedence(engine: Engine) -> None:
    shop = seed(engine, origins=["https://shop.example"])
    offer = _offer(engine, shop.public_id)
    assert (offer.limit, offer.used) == (50, 0)
    assert offer.closing_reason("https://shop.example") is None
    assert offer.closing_reason("https://evil.example") == "origin_not_allowed"
    full = replace(offer, used=50)
    assert full.closing_reason("https://shop.example") == "budget_exhausted"
    assert full.closing_reason("https://evil.example") == "origin_not_allowed"
    stopped = replace(full, survey=replace(offer.survey, active=False))
    assert stopped.closing_reason("https://evil.example") == "inactive"


def test_an_offer_reads_the_budget_in_force_and_its_use(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 0)
    assert _offer(engine, shop.public_id).closing_reason() == "budget_exhausted"
    set_budget(engine, "free", 3)
    with db.write(engine) as conn:
        conn.execute(
            text("INSERT INTO usage (account_id, period, used, rejected) VALUES (:a, :p, 3, 0)"),
            {"a": shop.account_id, "p": PERIOD},
        )
    offer = _offer(engine, shop.public_id)
    assert (offer.limit, offer.used) == (3, 3)
    assert offer.closing_reason() == "budget_exhausted"
    with db.read(engine) as conn:
        assert surveys.find_offer(conn, shop.public_id, "2026-06") == replace(offer, used=0)


def test_surveys_of_one_account_only(engine: Engine) -> None:
    mine, theirs = seed(engine), seed(engine)
    with db.read(engine) as conn:
        assert [s.id for s in surveys.list_for_account(conn, mine.account_id)] == [mine.survey_id]
        assert surveys.get_for_account(conn, mine.account_id, theirs.survey_id) is None
        assert surveys.get_for_account(conn, mine.account_id, mine.survey_id) is not None


@pytest.mark.parametrize(
    ("kind", "segments", "ranges"),
    [
        ("nps", ("detractor", "passive", "promoter"), ["0\u20136", "7\u20138", "9\u201310"]),
        ("csat", ("negative", "neutral", "positive"), ["1\u20132", "3", "4\u20135"]),
        ("ces", ("high-effort", "neutral", "low-effort"), ["1\u20133", "4", "5\u20137"]),
    ],
)
def test_scales(kind: str, segments: tuple[str, ...], ranges: list[str]) -> None:
    scale = scales.scale(kind)
    assert scale.segments == segments
    assert scale.ranges() == ranges
    assert [scale.segment_of(score) for score in (scale.low, scale.high)] == [
        segments[0],
        segments[-1],
    ]
    with pytest.raises(ValueError):
        scale.segment_of(scale.high + 1)
    assert scale.parse(f" {scale.high} ") == scale.high
    for text_value in (str(scale.high + 1), "-1", "٣", "7.0", "", None, "9" * 3):
        assert scale.parse(text_value) is None


# -- the cache -------------------------------------------------------------


class Ticking:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_keeps_an_offer_for_its_ttl_then_reads_again(engine: Engine) -> None:
    shop = seed(engine)
    clock = Ticking()
    cache = SurveyCache(ttl=1.0, clock=clock)
    assert cache.config(shop.public_id, PERIOD) is MISSING
    loaded = cache.load_config(engine, shop.public_id, PERIOD)
    assert cache.config(shop.public_id, PERIOD) == loaded
    set_budget(engine, "free", 0)
    assert cache.config(shop.public_id, PERIOD) == loaded  # within the second: the copy
    clock.now = 1.5
    assert cache.config(shop.public_id, PERIOD) is MISSING
    assert cache.load_config(engine, shop.public_id, PERIOD).limit == 0  # type: ignore[union-attr]


def test_cache_forgets_an_accounts_budget_at_once(engine: Engine) -> None:
    mine, theirs = seed(engine), seed(engine)
    cache = SurveyCache(ttl=60.0, clock=Ticking())
    cache.load_config(engine, mine.public_id, PERIOD)
    cache.load_config(engine, theirs.public_id, PERIOD)
    cache.forget_budget(mine.account_id)
    assert cache.config(mine.public_id, PERIOD) is MISSING
    assert isinstance(cache.config(theirs.public_id, PERIOD), Offer)


def test_cache_remembers_unknown_keys_and_stays_bounded(engine: Engine) -> None:
    cache = SurveyCache(ttl=60.0, max_entries=3, clock=Ticking())
    assert cache.load_config(engine, "no-such-survey", PERIOD) is None
    assert cache.config("no-such-survey", PERIOD) is None  # a known miss, not MISSING
    for n in range(5):
        cache.load_config(engine, f"unknown-{n}", PERIOD)
    assert len(cache._configs) <= 3


def test_cache_renders_each_copy_of_a_survey_once(engine: Engine) -> None:
    shop = seed(engine)
    clock = Ticking()
    cache = SurveyCache(ttl=1.0, clock=clock)
    made: list[tuple[int, str, bool]] = []

    def render(survey: Survey, language: str, test: bool) -> bytes:
        made.append((survey.id, language, test))
        return f"{survey.id}:{language}:{test}".encode()

    first = cache.load_config(engine, shop.public_id, PERIOD)
    assert first is not None
    for _ in range(3):
        assert (
            cache.rendered(first.survey, "en", False, render)
            == f"{shop.survey_id}:en:False".encode()
        )
    cache.rendered(first.survey, "de", False, render)
    cache.rendered(first.survey, "en", True, render)
    assert len(made) == 3  # once per language and kind of key
    clock.now = 1.5  # the survey is read again: a new copy, rendered again
    again = cache.load_config(engine, shop.public_id, PERIOD)
    assert again is not None
    cache.rendered(again.survey, "en", False, render)
    assert len(made) == 4
    cache.clear()
    cache.rendered(again.survey, "en", False, render)
    assert len(made) == 5


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("https://Shop.example:443/checkout", "https://shop.example"),
        ("HTTP://shop.example:80", "http://shop.example"),
        ("http://localhost:8090/", "http://localhost:8090"),
        ("https://shop.example:8443", "https://shop.example:8443"),
    ],
)
def test_origins_are_stored_as_browsers_send_them(written: str, stored: str) -> None:
    assert surveys.normalize_origin(written) == stored
