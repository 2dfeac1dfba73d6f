"""What request handlers share: settings, the engine, the signer and the clock.

Built once by ``main.build_app`` and kept on ``app.state.ctx``; a plain object
so that handlers stay typed and tests can inject a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, RowMapping

from app import db, migrations
from app.cache import SurveyCache
from app.settings import Settings
from app.signing import Signer
from app.surveys import ContactRecorder, Recorded, Submission, record_response

Clock = Callable[[], datetime]


@dataclass
class Context:
    settings: Settings
    engine: Engine
    signer: Signer
    clock: Clock
    contacts: ContactRecorder = field(default_factory=ContactRecorder)
    cache: SurveyCache = field(default_factory=SurveyCache)
    schema_head: str = field(default_factory=migrations.head)

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def record_response(
        self, survey: RowMapping, submission: Submission, now: datetime
    ) -> Recorded:
        """Count a submission under the budget rule. Counted, refused or
        replayed, this worker's widget configs then read the budget afresh."""
        try:
            return record_response(self.engine, survey, submission, now, self.zone)
        finally:
            self.cache.forget_budget(survey["account_id"])

    def database_state(self) -> str:
        """ "ok" when the database is at the newest migration, "not_migrated"
        when it is not (a new, restored or foreign file). A database that
        cannot be reached raises SQLAlchemy's DBAPIError."""
        if db.schema_revisions(self.engine) == {self.schema_head}:
            return "ok"
        return "not_migrated"
