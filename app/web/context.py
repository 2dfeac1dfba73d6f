"""What request handlers share: settings, the engine, the signer, the clock,
and the per-process helpers built on them. Dependencies only: behaviour
lives in the domain modules.

Built once by ``main.build_app`` and kept on ``app.state.ctx``; a plain object
so that handlers stay typed and tests can inject a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.urls import Urls
from app.platform.write_queue import WriteQueue
from app.surveys.cache import SurveyCache
from app.surveys.contacts import ContactRecorder

Clock = Callable[[], datetime]


@dataclass
class Context:
    settings: Settings
    engine: Engine
    signer: Signer
    clock: Clock
    contacts: ContactRecorder = field(default_factory=ContactRecorder)
    cache: SurveyCache = field(default_factory=SurveyCache)
    writes: WriteQueue = field(default_factory=WriteQueue)

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    @property
    def urls(self) -> Urls:
        return Urls(self.settings.public_url, self.signer)
