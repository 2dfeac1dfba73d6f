"""Surveys: the typed read model every path uses, the one decision whether a
survey is collecting, and creating and finding surveys."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import JSON, Boolean, Connection, RowMapping, insert, select, text, update

from app.budget import rule as budget
from app.platform.i18n import LANGUAGES
from app.platform.models import survey_table
from app.surveys import questions, scales
from app.surveys.questions import Question
from app.surveys.scales import Scale

POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
# Promoters first: the default for new surveys. Some review platforms (Google
# among them) forbid asking only happy customers; "all" is there for them.
REVIEW_AUDIENCES = ("promoters", "all", "none")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Survey:
    """One survey as it was read: what is asked, to whom, and how."""

    id: int
    account_id: int
    public_id: str
    name: str
    kind: str
    language: str
    texts: Mapping[str, Any]
    allowed_origins: tuple[str, ...]
    active: bool
    delay_ms: int
    recontact_days: int
    sample_rate: float
    color: str
    position: str
    review_url: str | None
    review_audience: str
    email_delay_days: int = 0
    anonymous: bool = False  # responses keep no link to the invitation's recipient
    inbox_rule: str = "detractors_text"  # which responses the inbox lists (app/inbox.py)
    alert_emails: tuple[str, ...] = ()  # who gets an e-mail for each detractor
    rewards: Mapping[str, Any] = field(default_factory=dict)  # see app.rewards
    questions: tuple[Question, ...] = ()  # follow-up questions after the score

    @classmethod
    def from_row(cls, row: RowMapping) -> Survey:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values.update(
            texts=row["texts"] or {},
            allowed_origins=tuple(row["allowed_origins"] or ()),
            active=bool(row["active"]),
            anonymous=bool(row["anonymous"]),
            alert_emails=tuple(row["alert_emails"] or ()),
            rewards=row["rewards"] or {},
            questions=questions.parse(row["questions"]),
        )
        return cls(**values)

    @property
    def scale(self) -> Scale:
        return scales.scale(self.kind)

    @property
    def default_language(self) -> str:
        """The language answers are reported in: the survey's own, else English."""
        return self.language if self.language in LANGUAGES else "en"

    @property
    def review_link(self) -> str | None:
        """The review address, if the survey has one that is a web address."""
        url = self.review_url
        if not url or self.review_audience == "none":
            return None
        return url if urlsplit(url).scheme in {"http", "https"} else None

    def offers_review(self, segment: str) -> bool:
        """Whether an answer in ``segment`` is offered the review link: the
        top segment (promoters) by default, everyone for platforms that
        forbid asking only happy customers, or nobody."""
        if self.review_link is None:
            return False
        return self.review_audience == "all" or segment == self.scale.segments[-1]

    def allows(self, origin: str | None) -> bool:
        """Empty means any origin; a request without Origin is server-to-server."""
        if not self.allowed_origins or origin is None:
            return True
        wanted = origin.rstrip("/").lower()
        return any(wanted == item.rstrip("/").lower() for item in self.allowed_origins)


@dataclass(frozen=True, slots=True)
class Offer:
    """A survey with its account's budget in a period, as a visitor meets it."""

    survey: Survey
    limit: int
    used: int
    account_name: str = ""  # whom the link page names as asking

    def closing_reason(self, origin: str | None = None, *, test: bool = False) -> str | None:
        """Why a visitor from ``origin`` is not asked now (inactive,
        origin_not_allowed, budget_exhausted), or None. Advisory: whether an
        answer counts is decided by the guarded increment alone. The owner's
        test is asked whatever the budget: its answers never count."""
        if not self.survey.active:
            return "inactive"
        if not self.survey.allows(origin):
            return "origin_not_allowed"
        if not test and self.used >= self.limit:
            return "budget_exhausted"
        return None


# -- reading ---------------------------------------------------------------

SURVEY_COLUMNS = tuple(survey_table.c[name] for name in Survey.__dataclass_fields__)
_SURVEY_SELECT = "SELECT " + ", ".join(f"s.{name}" for name in Survey.__dataclass_fields__)
_TYPES = {
    "texts": JSON,
    "allowed_origins": JSON,
    "active": Boolean,
    "anonymous": Boolean,
    "alert_emails": JSON,
    "rewards": JSON,
    "questions": JSON,
}
_BY_PUBLIC_ID = text(f"{_SURVEY_SELECT} FROM survey s WHERE s.public_id = :public_id").columns(
    **_TYPES
)
_BY_ID = text(f"{_SURVEY_SELECT} FROM survey s WHERE s.id = :survey_id").columns(**_TYPES)
# The whole work of the widget config read: the survey, the budget in force
# and this period's usage, in one indexed query.
_WITH_BUDGET = text(
    f"{_SURVEY_SELECT}, {budget.limit_sql('s.account_id')} AS budget_limit,"
    " (SELECT u.used FROM usage u WHERE u.account_id = s.account_id AND u.period = :period)"
    " AS budget_used, (SELECT a.name FROM account a WHERE a.id = s.account_id) AS account_name"
    " FROM survey s WHERE s.public_id = :public_id"
).columns(**_TYPES)


def find(conn: Connection, survey_id: int) -> Survey | None:
    row = conn.execute(_BY_ID, {"survey_id": survey_id}).mappings().first()
    return Survey.from_row(row) if row is not None else None


def find_offer(conn: Connection, public_id: str, period: str) -> Offer | None:
    """The survey with the budget in force for ``period``, its use so far and
    the account's name."""
    row = conn.execute(_WITH_BUDGET, {"public_id": public_id, "period": period}).mappings().first()
    if row is None:
        return None
    return Offer(
        Survey.from_row(row),
        row["budget_limit"] or 0,
        row["budget_used"] or 0,
        row["account_name"] or "",
    )


def list_for_account(conn: Connection, account_id: int) -> list[Survey]:
    query = (
        select(*SURVEY_COLUMNS)
        .where(survey_table.c.account_id == account_id)
        .order_by(survey_table.c.active.desc(), survey_table.c.name, survey_table.c.id)
    )
    return [Survey.from_row(row) for row in conn.execute(query).mappings()]


def get_for_account(conn: Connection, account_id: int, survey_id: int) -> Survey | None:
    """The survey only if it belongs to ``account_id``: another account's
    survey looks the same as one that does not exist."""
    query = select(*SURVEY_COLUMNS).where(
        survey_table.c.id == survey_id, survey_table.c.account_id == account_id
    )
    row = conn.execute(query).mappings().first()
    return Survey.from_row(row) if row is not None else None


# -- writing ---------------------------------------------------------------


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class SurveyError(ValueError):
    """Settings a survey cannot be saved with; the text is for people."""


def normalize_origin(value: str) -> str:
    """``https://Shop.example:443/path`` -> ``https://shop.example``: as a
    browser writes the page's Origin, which never names the scheme's default port."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise SurveyError(f"not an origin like https://shop.example: {value!r}")
    port = f":{parts.port}" if parts.port and parts.port != DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{parts.hostname}{port}"


def _clean_entry(entry: dict[str, Any] | None) -> dict[str, Any]:
    """One language's texts: non-blank strings, a follow-up and a thank-you per segment."""
    clean: dict[str, Any] = {}
    for key, value in (entry or {}).items():
        if key in ("follow_up", "thanks") and isinstance(value, dict):
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
    if kind not in scales.KINDS:
        raise SurveyError(f"kind must be one of {', '.join(scales.KINDS)}")
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


def allow_origin(
    conn: Connection, account_id: int, survey_id: int, origin: str, limit: int
) -> Survey | None:
    """Add ``origin`` to the allowed origins of the account's survey, which
    is returned as it was before; None when the account has no such survey.
    A survey that already allows the origin (or every origin) is left as it
    is. Raises ``SurveyError`` for a value that is not an origin, or when the
    survey lists ``limit`` origins already."""
    wanted = normalize_origin(origin)
    row = (
        conn.execute(
            select(*SURVEY_COLUMNS)
            .where(survey_table.c.id == survey_id, survey_table.c.account_id == account_id)
            .with_for_update()  # a concurrent save of the form must not lose this one
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    survey = Survey.from_row(row)
    if survey.allows(wanted):
        return survey
    if len(survey.allowed_origins) >= limit:
        raise SurveyError(f"at most {limit} origins")
    conn.execute(
        update(survey_table)
        .where(survey_table.c.id == survey_id, survey_table.c.account_id == account_id)
        .values(allowed_origins=[*survey.allowed_origins, wanted])
    )
    return survey
