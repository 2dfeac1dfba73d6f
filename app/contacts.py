"""When a survey's widget or link last talked to the server: the "last data
sync" before an account's first record."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from app import db
from app.models import contact_table
from app.surveys import Survey

log = logging.getLogger("nps_beacon")


class ContactRecorder:
    """Writes "last data sync" at most once per ``interval`` seconds per survey
    and process, so the widget config GET stays a read on the hot path."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def due(self, survey_id: int) -> bool:
        moment = time.monotonic()
        with self._lock:
            last = self._last.get(survey_id)
            if last is not None and moment - last < self.interval:
                return False
            self._last[survey_id] = moment
            return True

    def record(
        self, engine: Engine, survey: Survey, origin: str | None, channel: str, now: datetime
    ) -> None:
        if self.due(survey.id):
            self.write(engine, survey, origin, channel, now)

    def write(
        self, engine: Engine, survey: Survey, origin: str | None, channel: str, now: datetime
    ) -> None:
        values = {"seen_at": now, "origin": (origin or "")[:255] or None, "channel": channel}
        try:
            with db.write(engine) as conn:
                conn.execute(
                    db.insert(conn, contact_table)
                    .values(survey_id=survey.id, account_id=survey.account_id, **values)
                    .on_conflict_do_update(index_elements=[contact_table.c.survey_id], set_=values)
                )
        except OperationalError as exc:
            # Bookkeeping: a busy or unavailable database must not fail the page
            # view that happened to be due; the next one after the interval writes.
            log.warning("last contact not recorded: %s", type(exc).__name__)
