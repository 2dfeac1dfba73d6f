"""Scales, segments, survey texts, and recording a response under the budget rule."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Boolean, Connection, Engine, RowMapping, bindparam, insert, text
from sqlalchemy.exc import OperationalError

from app import budget, db
from app.models import UTCDateTime, contact_table, survey_table
from app.signing import Display

KINDS = ("nps", "csat", "ces")
LANGUAGES = ("en", "de")
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
# (segment, highest score in it) from the bottom of each scale up.
SEGMENTS: dict[str, tuple[tuple[str, int], ...]] = {
    "nps": (("detractor", 6), ("passive", 8), ("promoter", 10)),
    "csat": (("negative", 2), ("neutral", 3), ("positive", 5)),
    "ces": (("high-effort", 3), ("neutral", 4), ("low-effort", 7)),
}
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
REVIEW_AUDIENCES = ("all", "none")
COMMENT_MAX = 2000

log = logging.getLogger("nps_beacon")


def segment_of(kind: str, score: int) -> str:
    low, high = SCALES[kind]
    if not low <= score <= high:
        raise ValueError(f"{kind} scores run from {low} to {high}")
    return next(name for name, top in SEGMENTS[kind] if score <= top)


def segments(kind: str) -> tuple[str, ...]:
    return tuple(name for name, _ in SEGMENTS[kind])


_FOLLOW_UP = {
    "en": {
        "low": "We are sorry to hear that. What should we improve?",
        "mid": "Thank you! What would make it even better?",
        "high": "Thank you! What do you like most?",
    },
    "de": {
        "low": "Das tut uns leid. Was sollten wir verbessern?",
        "mid": "Danke! Was würde es noch besser machen?",
        "high": "Danke! Was gefällt Ihnen am besten?",
    },
}

DEFAULT_TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "nps": {
        "en": {
            "question": "How likely are you to recommend us to a friend or colleague?",
            "low_label": "Not at all likely",
            "high_label": "Extremely likely",
        },
        "de": {
            "question": "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder "
            "Kollegen empfehlen?",
            "low_label": "Unwahrscheinlich",
            "high_label": "Äußerst wahrscheinlich",
        },
    },
    "csat": {
        "en": {
            "question": "How satisfied are you with your experience?",
            "low_label": "Very dissatisfied",
            "high_label": "Very satisfied",
        },
        "de": {
            "question": "Wie zufrieden sind Sie mit Ihrem Erlebnis?",
            "low_label": "Sehr unzufrieden",
            "high_label": "Sehr zufrieden",
        },
    },
    "ces": {
        "en": {
            "question": "How easy was it to get what you needed?",
            "low_label": "Very difficult",
            "high_label": "Very easy",
        },
        "de": {
            "question": "Wie einfach war es, das Gewünschte zu erledigen?",
            "low_label": "Sehr schwierig",
            "high_label": "Sehr einfach",
        },
    },
}


def texts_for(kind: str, texts: dict[str, Any], language: str) -> dict[str, Any]:
    """The survey's texts in ``language``, each missing one taken from the defaults."""
    own = texts.get(language) or {}
    defaults = DEFAULT_TEXTS[kind][language]
    follow = _FOLLOW_UP[language]
    names = segments(kind)
    default_follow = dict(zip(names, (follow["low"], follow["mid"], follow["high"]), strict=True))
    own_follow = own.get("follow_up") or {}
    return {
        "question": own.get("question") or defaults["question"],
        "low_label": own.get("low_label") or defaults["low_label"],
        "high_label": own.get("high_label") or defaults["high_label"],
        "follow_up": {name: own_follow.get(name) or default_follow[name] for name in names},
    }


def choose_language(survey_language: str, wanted: str | None) -> str:
    """The survey's fixed language, else the visitor's if supported, else English."""
    if survey_language in LANGUAGES:
        return survey_language
    primary = (wanted or "").split("-")[0].lower()
    return primary if primary in LANGUAGES else "en"


# Bidirectional overrides can disguise a comment when an admin reads it.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(text: str) -> str:
    """Drop control characters (keeping line breaks and tabs) and outer blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    ).strip()


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class SurveyError(ValueError):
    """Settings a survey cannot be saved with; the text is for people."""


def normalize_origin(value: str) -> str:
    """``https://Shop.example/path`` -> ``https://shop.example``."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SurveyError(f"not an origin like https://shop.example: {value!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _clean_entry(entry: dict[str, Any] | None) -> dict[str, Any]:
    """One language's texts: non-blank strings and a follow-up per segment."""
    clean: dict[str, Any] = {}
    for key, value in (entry or {}).items():
        if key == "follow_up" and isinstance(value, dict):
            follow = {k: v.strip() for k, v in value.items() if isinstance(v, str) and v.strip()}
            if follow:
                clean[key] = follow
        elif isinstance(value, str) and value.strip():
            clean[key] = value.strip()
    return clean


def create_survey(
    conn: Connection,
    account_id: int,
    *,
    name: str,
    kind: str,
    language: str = "auto",
    texts: dict[str, Any] | None = None,
    allowed_origins: list[str] | None = None,
    **options: Any,
) -> tuple[int, str]:
    """Insert a survey; returns (id, public id)."""
    if kind not in KINDS:
        raise SurveyError(f"kind must be one of {', '.join(KINDS)}")
    if language not in (*LANGUAGES, "auto"):
        raise SurveyError("language must be de, en or auto")
    clean_texts = {
        lang: _clean_entry(entry) for lang, entry in (texts or {}).items() if lang in LANGUAGES
    }
    public_id = new_public_id()
    survey_id = conn.execute(
        insert(survey_table)
        .values(
            account_id=account_id,
            public_id=public_id,
            name=name.strip() or kind.upper(),
            kind=kind,
            language=language,
            texts=clean_texts,
            allowed_origins=[normalize_origin(origin) for origin in allowed_origins or []],
            **options,
        )
        .returning(survey_table.c.id)
    ).scalar_one()
    return int(survey_id), public_id


def snippet(
    public_url: str, embed_key: str, integrity: str | None = None, digest: str | None = None
) -> str:
    """The tag an owner pastes into their pages."""
    if integrity and digest:
        return (
            f'<script src="{public_url}/widget.{digest}.js" data-survey="{embed_key}" '
            f'integrity="{integrity}" crossorigin="anonymous" async></script>'
        )
    return f'<script src="{public_url}/widget.js" data-survey="{embed_key}" async></script>'


# -- reading surveys -------------------------------------------------------

# Core columns for the admin's own queries.
SURVEY_COLUMNS = tuple(
    survey_table.c[name]
    for name in (
        "id",
        "account_id",
        "public_id",
        "name",
        "kind",
        "language",
        "texts",
        "allowed_origins",
        "active",
        "delay_ms",
        "recontact_days",
        "sample_rate",
        "color",
        "position",
        "review_url",
        "review_audience",
    )
)
_SURVEY_SELECT = (
    "SELECT s.id, s.account_id, s.public_id, s.name, s.kind, s.language, s.texts,"
    " s.allowed_origins, s.active, s.delay_ms, s.recontact_days, s.sample_rate, s.color,"
    " s.position, s.review_url, s.review_audience"
)
_TYPES = {"texts": JSON, "allowed_origins": JSON, "active": Boolean}
_BY_PUBLIC_ID = text(f"{_SURVEY_SELECT} FROM survey s WHERE s.public_id = :public_id").columns(
    **_TYPES
)
_BY_ID = text(f"{_SURVEY_SELECT} FROM survey s WHERE s.id = :survey_id").columns(**_TYPES)
# The whole work of the widget config read: the survey, the budget in force
# and this period's usage, in one indexed query.
_WITH_BUDGET = text(
    f"{_SURVEY_SELECT}, {budget.limit_sql('s.account_id')} AS budget_limit,"
    " (SELECT u.used FROM usage u WHERE u.account_id = s.account_id AND u.period = :period)"
    " AS budget_used FROM survey s WHERE s.public_id = :public_id"
).columns(**_TYPES)


def find_survey(
    conn: Connection, *, public_id: str | None = None, survey_id: int | None = None
) -> RowMapping | None:
    if public_id is not None:
        return conn.execute(_BY_PUBLIC_ID, {"public_id": public_id}).mappings().first()
    return conn.execute(_BY_ID, {"survey_id": survey_id}).mappings().first()


def find_survey_with_budget(conn: Connection, public_id: str, period: str) -> RowMapping | None:
    """The survey plus ``budget_limit`` and ``budget_used`` (None before the
    period's first count) for ``period``."""
    params = {"public_id": public_id, "period": period}
    return conn.execute(_WITH_BUDGET, params).mappings().first()


def origin_allowed(allowed: list[str], origin: str | None) -> bool:
    """Empty means any origin; a request without Origin is server-to-server."""
    if not allowed or origin is None:
        return True
    return origin.rstrip("/").lower() in {item.rstrip("/").lower() for item in allowed}


# -- recording -------------------------------------------------------------


class BudgetExhausted(Exception):
    pass


class TokenAlreadyUsed(Exception):
    pass


class ScoreRequired(Exception):
    """A comment arrived for a display that has no stored score yet."""


@dataclass(frozen=True)
class Submission:
    display: Display
    score: int | None
    comment: str | None = None
    page_url: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class Recorded:
    id: int
    score: int
    segment: str
    created: bool


def record_response(
    engine: Engine, survey: RowMapping, submission: Submission, now: datetime, zone: ZoneInfo
) -> Recorded:
    """Store a submission and count it, in one transaction.

    The response row is inserted first, keyed by the token's nonce; then the
    usage counter takes one guarded step. If the budget is exhausted the whole
    transaction rolls back and the refusal is counted on its own.
    """
    period = budget.period_of(now, zone)
    kind, account_id = survey["kind"], survey["account_id"]
    try:
        with db.counting(engine) as conn:
            if submission.score is not None:
                segment = segment_of(kind, submission.score)
                new_id = _insert_response(conn, survey, submission, segment, period, now)
                if new_id is not None:
                    if not budget.consume(conn, account_id, period, now, survey["id"]):
                        raise BudgetExhausted
                    return Recorded(new_id, submission.score, segment, True)
            return _replay(conn, submission)
    except BudgetExhausted:
        with db.counting(engine) as conn:
            budget.record_rejection(conn, account_id, period)
        raise


_INSERT_RESPONSE = text(
    "INSERT INTO response (nonce, account_id, survey_id, period, score, segment, comment,"
    " channel, page_url, locale, created_at) VALUES (:nonce, :account_id, :survey_id, :period,"
    " :score, :segment, :comment, :channel, :page_url, :locale, :created_at)"
    " ON CONFLICT (nonce) DO NOTHING RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))
_STORED = text("SELECT id, score, segment, comment FROM response WHERE nonce = :nonce")
_ATTACH_COMMENT = text("UPDATE response SET comment = :comment WHERE id = :id")


def _insert_response(
    conn: db.Executor,
    survey: RowMapping,
    submission: Submission,
    segment: str,
    period: str,
    now: datetime,
) -> int | None:
    """The new response's id, or None when this display's nonce is stored already."""
    params = {
        "nonce": submission.display.nonce,
        "account_id": survey["account_id"],
        "survey_id": survey["id"],
        "period": period,
        "score": submission.score,
        "segment": segment,
        "comment": submission.comment,
        "channel": submission.display.channel,
        "page_url": submission.page_url,
        "locale": submission.locale,
        "created_at": now,
    }
    return conn.execute(_INSERT_RESPONSE, params).scalar_one_or_none()


def _replay(conn: db.Executor, submission: Submission) -> Recorded:
    """The token was used before: same score returns the stored response, a
    comment attaches to it, a different score is a conflict."""
    stored = conn.execute(_STORED, {"nonce": submission.display.nonce}).first()
    if stored is None:
        raise ScoreRequired
    stored_id, score, segment, comment = stored
    if submission.score is not None and submission.score != score:
        raise TokenAlreadyUsed
    if submission.comment and submission.comment != comment:
        conn.execute(_ATTACH_COMMENT, {"comment": submission.comment, "id": stored_id})
    return Recorded(stored_id, score, segment, False)


# -- last contact ----------------------------------------------------------


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
        self, engine: Engine, survey: RowMapping, origin: str | None, channel: str, now: datetime
    ) -> None:
        if self.due(survey["id"]):
            self.write(engine, survey, origin, channel, now)

    def write(
        self, engine: Engine, survey: RowMapping, origin: str | None, channel: str, now: datetime
    ) -> None:
        values = {"seen_at": now, "origin": (origin or "")[:255] or None, "channel": channel}
        try:
            with db.write(engine) as conn:
                conn.execute(
                    db.insert(conn, contact_table)
                    .values(survey_id=survey["id"], account_id=survey["account_id"], **values)
                    .on_conflict_do_update(index_elements=[contact_table.c.survey_id], set_=values)
                )
        except OperationalError as exc:
            # Bookkeeping: a busy or unavailable database must not fail the page
            # view that happened to be due; the next one after the interval writes.
            log.warning("last contact not recorded: %s", type(exc).__name__)
