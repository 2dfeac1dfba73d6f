"""Short-lived, per-process copies of what the public hot paths read.

The widget config GET is the busiest request and must stay cheap: for up to
``ttl`` seconds a worker reuses the survey row and the budget state it read,
instead of querying per request. Nothing here decides whether a submission
counts; that is always the guarded increment in the database. A worker that
counts or refuses a submission forgets its copy of that account's budget at
once; other workers see the change within ``ttl``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Engine

from app.platform import db
from app.surveys import model as surveys
from app.surveys.model import Offer, Survey


class Missing:
    """Not in the cache (or stale): read the database."""


MISSING: Final = Missing()


class SurveyCache:
    def __init__(
        self,
        ttl: float = 1.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._ticks = itertools.count(1)  # next() is atomic: safe across threads
        self._forgotten: dict[int, int] = {}  # account id -> tick of its last change
        self._configs: dict[tuple[str, str], tuple[float, int, Offer | None]] = {}
        self._surveys: dict[int, tuple[float, Survey | None]] = {}
        self._rendered: dict[tuple[int, str, bool], tuple[Survey, bytes]] = {}

    # -- the widget config: survey plus budget state -----------------------

    def config(self, public_id: str, period: str) -> Offer | Missing | None:
        """The cached offer (or None for no such survey), or MISSING."""
        entry = self._configs.get((public_id, period))
        if entry is None:
            return MISSING
        expires, tick, offer = entry
        if expires < self._clock():
            return MISSING
        if offer is not None and self._forgotten.get(offer.survey.account_id, 0) > tick:
            return MISSING
        return offer

    def load_config(self, engine: Engine, public_id: str, period: str) -> Offer | None:
        tick = next(self._ticks)  # taken before reading, so a change during the read wins
        with db.read(engine) as conn:
            offer = surveys.find_offer(conn, public_id, period)
        self._store(self._configs, (public_id, period), (self._clock() + self.ttl, tick, offer))
        return offer

    def forget_budget(self, account_id: int) -> None:
        """This account's usage changed: drop every copy of its budget state."""
        self._forgotten[account_id] = next(self._ticks)

    def clear(self) -> None:
        self._configs.clear()
        self._surveys.clear()
        self._rendered.clear()

    def rendered(
        self,
        survey: Survey,
        language: str,
        test: bool,
        render: Callable[[Survey, str, bool], bytes],
    ) -> bytes:
        """What ``render`` makes of this copy of the survey, made once per
        copy, language and kind of key: the same for every view of it. A
        survey read again is a new copy and is rendered again."""
        key = (survey.id, language, test)
        found = self._rendered.get(key)
        if found is not None and found[0] is survey:
            return found[1]
        made = render(survey, language, test)
        self._store(self._rendered, key, (survey, made))
        return made

    # -- a survey by id, for submissions ------------------------------------

    def cached_survey(self, survey_id: int) -> Survey | Missing | None:
        """The cached survey (or None for no such survey), or MISSING."""
        entry = self._surveys.get(survey_id)
        if entry is not None and entry[0] >= self._clock():
            return entry[1]
        return MISSING

    def survey(self, engine: Engine, survey_id: int) -> Survey | None:
        cached = self.cached_survey(survey_id)
        if not isinstance(cached, Missing):
            return cached
        with db.read(engine) as conn:
            survey = surveys.find(conn, survey_id)
        self._store(self._surveys, survey_id, (self._clock() + self.ttl, survey))
        return survey

    def _store(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= self.max_entries:
            table.clear()  # crude but bounded; entries live a second anyway
        table[key] = value
