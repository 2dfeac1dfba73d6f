"""When a survey's widget or link last talked to the server: the "last data
sync" before an account's first record, and apart from it the origins a
widget was refused on because the survey does not allow them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.exc import OperationalError

from app.platform import db, urls
from app.platform.models import contact_table, refused_origin_table, survey_table
from app.surveys.model import Survey, SurveyError, normalize_origin

log = logging.getLogger("nps_beacon")


# How long a refusal is worth a warning: an origin last refused a month ago
# is an old test page, not a widget that is missing now.
REFUSAL_SHOWN = timedelta(days=30)


class ContactRecorder:
    """Writes "last data sync" and refusals each at most once per ``interval``
    seconds per survey and process, so the widget config GET stays a read on
    the hot path."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[tuple[int, bool], float] = {}
        self._lock = threading.Lock()

    def due(self, survey_id: int, *, refused: bool = False) -> bool:
        """Whether this contact (or refusal) of the survey is to be written;
        a refusal never holds back a healthy contact, nor the other way."""
        moment = time.monotonic()
        key = (survey_id, refused)
        with self._lock:
            last = self._last.get(key)
            if last is not None and moment - last < self.interval:
                return False
            self._last[key] = moment
            return True

    def record(
        self, engine: Engine, survey: Survey, origin: str | None, channel: str, now: datetime
    ) -> None:
        if self.due(survey.id):
            self.write(engine, survey, origin, channel, now)

    def write(
        self, engine: Engine, survey: Survey, origin: str | None, channel: str, now: datetime
    ) -> None:
        seen = urls.page_address(origin or "")[:255] or None  # an Origin header may be forged
        values = {"seen_at": now, "origin": seen, "channel": channel}
        _upsert(engine, contact_table, survey, values, "last contact")

    def write_refusal(self, engine: Engine, survey: Survey, origin: str, now: datetime) -> None:
        """The widget config was refused on ``origin``: not a healthy contact."""
        values = {"origin": (urls.page_address(origin) or "null")[:255], "refused_at": now}
        _upsert(engine, refused_origin_table, survey, values, "refused origin")


def _upsert(
    engine: Engine, table: Table, survey: Survey, values: Mapping[str, Any], what: str
) -> None:
    """The survey's one row in ``table``, inserted or overwritten."""
    try:
        with db.write(engine) as conn:
            conn.execute(
                db.insert(conn, table)
                .values(survey_id=survey.id, account_id=survey.account_id, **values)
                .on_conflict_do_update(index_elements=[table.c.survey_id], set_=dict(values))
            )
    except OperationalError as exc:
        # Bookkeeping: a busy or unavailable database must not fail the page
        # view that happened to be due; the next one after the interval writes.
        log.warning("%s not recorded: %s", what, type(exc).__name__)


@dataclass(frozen=True)
class Refusal:
    """A survey's widget was refused on ``origin``, last at ``at``."""

    survey_id: int
    survey_name: str
    origin: str
    at: datetime

    @property
    def can_be_allowed(self) -> bool:
        """A web origin can be allowed; the "null" of a page opened as a file
        or of a sandboxed frame cannot."""
        try:
            normalize_origin(self.origin)
        except SurveyError:
            return False
        return True


def refusals(conn: Connection, account_id: int, now: datetime) -> list[Refusal]:
    """The account's refusals of the last ``REFUSAL_SHOWN``, newest first."""
    rows = conn.execute(
        select(
            refused_origin_table.c.survey_id,
            survey_table.c.name,
            refused_origin_table.c.origin,
            refused_origin_table.c.refused_at,
        )
        .join(survey_table, survey_table.c.id == refused_origin_table.c.survey_id)
        .where(
            refused_origin_table.c.account_id == account_id,
            survey_table.c.account_id == account_id,
            refused_origin_table.c.refused_at >= now - REFUSAL_SHOWN,
        )
        .order_by(refused_origin_table.c.refused_at.desc(), refused_origin_table.c.survey_id)
    )
    return [Refusal(row.survey_id, row.name, row.origin, row.refused_at) for row in rows]
