"""Rewards after an answer: a fixed coupon code or a pool of unique codes per
segment, and the review link's counts.

A pool code is handed out in the transaction that stores the response, by
one guarded statement: the next free code of the pool is claimed for the
response (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent answers
take different codes instead of waiting for each other; SQLite has one
writer at a time). A replay of the same display finds the code by its
response, so one token never gets two. Nothing is read when the segment
has no reward. Test answers never take a pool code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from app.platform import db, driver
from app.platform.models import UTCDateTime, coupon_table, review_count_table
from app.surveys.model import Survey

TYPES = ("none", "fixed", "pool")
CODE_MAX = 64
# Letters, digits and the separators coupon systems use; no blanks, quotes or
# angle brackets, which are more likely a pasting slip than part of a code.
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/+#:=]*$")
MAX_PER_UPLOAD = 10_000
MAX_POOL = 50_000
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
SHOWN_PROBLEMS = 5  # codes named in an error message


def reward_of(survey: Survey, segment: str) -> Mapping[str, Any] | None:
    """The segment's reward setting: ``{"type": "fixed", "code": ...}``,
    ``{"type": "pool"}``, or None."""
    found = survey.rewards.get(segment)
    if isinstance(found, Mapping) and found.get("type") in ("fixed", "pool"):
        return found
    return None


def has_pool(survey: Survey, segment: str) -> bool:
    found = reward_of(survey, segment)
    return found is not None and found["type"] == "pool"


def fixed_code(survey: Survey, segment: str) -> str | None:
    found = reward_of(survey, segment)
    if found is not None and found["type"] == "fixed":
        return str(found.get("code") or "") or None
    return None


def code_problem(code: str) -> str | None:
    """Why ``code`` is no coupon code (a message key), or None."""
    if not code:
        return "coupon.empty"
    if len(code) > CODE_MAX:
        return "coupon.too_long"
    if not CODE.match(code):
        return "coupon.bad_chars"
    return None


# -- handing out ---------------------------------------------------------------

_CLAIM = (
    "UPDATE coupon SET response_id = :response_id, handed_at = :now"
    " WHERE id = (SELECT id FROM coupon WHERE survey_id = :survey_id AND segment = :segment"
    " AND handed_at IS NULL ORDER BY id LIMIT 1{lock}) AND handed_at IS NULL RETURNING code"
)
CLAIM = {
    False: text(_CLAIM.format(lock="")).bindparams(bindparam("now", type_=UTCDateTime())),
    True: text(_CLAIM.format(lock=" FOR UPDATE SKIP LOCKED")).bindparams(
        bindparam("now", type_=UTCDateTime())
    ),
}
_HANDED = text("SELECT code FROM coupon WHERE response_id = :response_id")


def hand_out(
    conn: driver.Executor,
    postgres: bool,
    survey: Survey,
    segment: str,
    response_id: int,
    now: datetime,
) -> str | None:
    """The reward for a response just stored: the fixed code, the next free
    code of the pool (None when it is empty), or None without a reward."""
    found = reward_of(survey, segment)
    if found is None:
        return None
    if found["type"] == "fixed":
        return fixed_code(survey, segment)
    params = {
        "response_id": response_id,
        "now": now,
        "survey_id": survey.id,
        "segment": segment,
    }
    code: str | None = conn.execute(CLAIM[postgres], params).scalar_one_or_none()
    return code


def handed(conn: driver.Executor, survey: Survey, segment: str, response_id: int) -> str | None:
    """The reward a stored response got (for a replay or its thank-you page)."""
    found = reward_of(survey, segment)
    if found is None:
        return None
    if found["type"] == "fixed":
        return fixed_code(survey, segment)
    code: str | None = conn.execute(_HANDED, {"response_id": response_id}).scalar_one_or_none()
    return code


def for_test(survey: Survey, segment: str) -> str | None:
    """A test answer sees a fixed code; it never takes one of the pool."""
    return fixed_code(survey, segment)


# -- the review link's counts ----------------------------------------------------

_COUNT = (
    "INSERT INTO review_count (survey_id, day, account_id, shown, followed)"
    " VALUES (:survey_id, :day, :account_id, {shown}, {followed})"
    " ON CONFLICT (survey_id, day) DO UPDATE SET {column} = review_count.{column} + 1"
)
_SHOWN = text(_COUNT.format(shown=1, followed=0, column="shown"))
_FOLLOWED = text(_COUNT.format(shown=0, followed=1, column="followed"))


def _day(now: datetime, zone: ZoneInfo) -> str:
    return now.astimezone(zone).date().isoformat()


def count_shown(conn: driver.Executor, survey: Survey, now: datetime, zone: ZoneInfo) -> None:
    params = {"survey_id": survey.id, "day": _day(now, zone), "account_id": survey.account_id}
    conn.execute(_SHOWN, params)


def count_followed(engine: Engine, survey: Survey, now: datetime, zone: ZoneInfo) -> None:
    params = {"survey_id": survey.id, "day": _day(now, zone), "account_id": survey.account_id}
    with db.write(engine) as conn:
        conn.execute(_FOLLOWED, params)


@dataclass(frozen=True)
class ReviewFigures:
    shown: int
    followed: int


def review_figures(conn: Connection, account_id: int, survey_id: int, period: str) -> ReviewFigures:
    """How often the account's survey offered its review link in ``period``
    (``YYYY-MM``) and how often it was followed."""
    table = review_count_table
    row = conn.execute(
        select(
            func.coalesce(func.sum(table.c.shown), 0), func.coalesce(func.sum(table.c.followed), 0)
        ).where(
            table.c.account_id == account_id,
            table.c.survey_id == survey_id,
            table.c.day >= f"{period}-01",
            table.c.day <= f"{period}-31",
        )
    ).one()
    return ReviewFigures(int(row[0]), int(row[1]))


# -- pools ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    segment: str
    left: int
    handed: int


def pools(conn: Connection, account_id: int, survey_id: int) -> dict[str, Pool]:
    """Codes left and handed out per segment of the account's survey."""
    table = coupon_table
    rows = conn.execute(
        select(
            table.c.segment,
            func.count().filter(table.c.handed_at.is_(None)),
            func.count().filter(table.c.handed_at.is_not(None)),
        )
        .where(table.c.account_id == account_id, table.c.survey_id == survey_id)
        .group_by(table.c.segment)
    )
    return {row[0]: Pool(row[0], int(row[1]), int(row[2])) for row in rows}


@dataclass(frozen=True)
class EmptyPool:
    survey_id: int
    survey_name: str
    segment: str
    kind: str


def empty_pools(conn: Connection, account_id: int, surveys: Iterable[Survey]) -> list[EmptyPool]:
    """The active surveys' segments whose reward is a pool without a code left."""
    wanted = [
        (survey, segment)
        for survey in surveys
        if survey.active
        for segment in survey.scale.segments
        if has_pool(survey, segment)
    ]
    if not wanted:
        return []
    table = coupon_table
    left = {
        (row[0], row[1])
        for row in conn.execute(
            select(table.c.survey_id, table.c.segment)
            .where(
                table.c.account_id == account_id,
                table.c.handed_at.is_(None),
                table.c.survey_id.in_({survey.id for survey, _ in wanted}),
            )
            .group_by(table.c.survey_id, table.c.segment)
        )
    }
    return [
        EmptyPool(survey.id, survey.name, segment, survey.kind)
        for survey, segment in wanted
        if (survey.id, segment) not in left
    ]


class UploadRefused(ValueError):
    """An upload of codes that is taken whole or not at all; ``key`` and
    ``params`` say why, for the admin's language."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def parse_codes(lines: Iterable[str]) -> list[str]:
    """The codes of an upload, one per line, blank lines skipped; raises
    ``UploadRefused`` naming the first bad lines."""
    stripped = [line.strip() for line in lines]
    count = sum(1 for line in stripped if line)
    if count > MAX_PER_UPLOAD:
        raise UploadRefused("coupon.too_many", count=count, max=MAX_PER_UPLOAD)
    codes: list[str] = []
    bad: list[str] = []
    first_bad = ""
    seen: dict[str, int] = {}
    repeated: list[str] = []
    for number, code in enumerate(stripped, start=1):
        if not code:
            continue
        problem = code_problem(code)
        if problem is not None:
            first_bad = first_bad or problem
            if len(bad) < SHOWN_PROBLEMS:
                shown = code if len(code) <= 20 else f"{code[:20]}…"
                bad.append(f"{number}: {shown}")
            continue
        if code in seen:
            if len(repeated) < SHOWN_PROBLEMS:
                repeated.append(f"{seen[code]}/{number}: {code}")
            continue
        seen[code] = number
        codes.append(code)
    if bad:
        raise UploadRefused(first_bad, lines=", ".join(bad), max=CODE_MAX)
    if repeated:
        raise UploadRefused("coupon.duplicates", codes=", ".join(repeated))
    if not codes:
        raise UploadRefused("coupon.none")
    return codes


def add_codes(
    engine: Engine, account_id: int, survey: Survey, segment: str, codes: list[str], now: datetime
) -> int:
    """Add ``codes`` to the pool of the account's survey for ``segment``, all
    or none; raises ``UploadRefused`` for codes already in the pool or a pool
    that would grow past ``MAX_POOL``. Returns how many were added."""
    assert survey.account_id == account_id and segment in survey.scale.segments
    table = coupon_table
    where = (
        table.c.account_id == account_id,
        table.c.survey_id == survey.id,
        table.c.segment == segment,
    )
    try:
        with db.write(engine) as conn:
            size = conn.execute(select(func.count()).where(*where)).scalar_one()
            if size + len(codes) > MAX_POOL:
                raise UploadRefused("coupon.pool_full", max=MAX_POOL, size=size)
            taken: list[str] = []
            for start in range(0, len(codes), 500):
                chunk = codes[start : start + 500]
                taken += conn.execute(
                    select(table.c.code).where(*where, table.c.code.in_(chunk))
                ).scalars()
            if taken:
                raise UploadRefused(
                    "coupon.in_pool",
                    count=len(taken),
                    codes=", ".join(sorted(taken)[:SHOWN_PROBLEMS]),
                )
            conn.execute(
                insert(table),
                [
                    {
                        "account_id": account_id,
                        "survey_id": survey.id,
                        "segment": segment,
                        "code": code,
                        "created_at": now,
                    }
                    for code in codes
                ],
            )
    except IntegrityError:
        # Another upload of the same codes was committed in the meantime.
        raise UploadRefused("coupon.in_pool_race") from None
    return len(codes)


def clear_unused(engine: Engine, account_id: int, survey_id: int, segment: str) -> int:
    """Delete the codes of a pool that were never handed out."""
    table = coupon_table
    with db.write(engine) as conn:
        result = conn.execute(
            delete(table).where(
                table.c.account_id == account_id,
                table.c.survey_id == survey_id,
                table.c.segment == segment,
                table.c.handed_at.is_(None),
            )
        )
    return int(result.rowcount or 0)
