"""Queries behind the admin pages. Every read and write of a survey is scoped
to the account of the admin who asks, so one tenant never sees another's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, select, update

from app import surveys
from app.models import admin_table, survey_table, tariff_table

ADMIN_LANGUAGES = ("en", "de")


@dataclass(frozen=True)
class Admin:
    id: int
    account_id: int
    email: str
    language: str | None


def set_language(conn: Connection, admin_id: int, language: str | None) -> None:
    if language is not None and language not in ADMIN_LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    conn.execute(update(admin_table).where(admin_table.c.id == admin_id).values(language=language))


@dataclass(frozen=True)
class Tariff:
    code: str
    name: str
    budget: int


def list_tariffs(conn: Connection) -> list[Tariff]:
    rows = conn.execute(
        select(tariff_table.c.code, tariff_table.c.name, tariff_table.c.monthly_budget).order_by(
            tariff_table.c.monthly_budget, tariff_table.c.code
        )
    )
    return [Tariff(row.code, row.name, row.monthly_budget) for row in rows]


# -- surveys ---------------------------------------------------------------


def list_surveys(conn: Connection, account_id: int) -> list[RowMapping]:
    query = (
        select(*surveys.SURVEY_COLUMNS)
        .where(survey_table.c.account_id == account_id)
        .order_by(survey_table.c.active.desc(), survey_table.c.name, survey_table.c.id)
    )
    return list(conn.execute(query).mappings())


def get_survey(conn: Connection, account_id: int, survey_id: int) -> RowMapping | None:
    """The survey only if it belongs to ``account_id``; None looks the same
    as a survey that does not exist at all."""
    query = select(*surveys.SURVEY_COLUMNS).where(
        survey_table.c.id == survey_id, survey_table.c.account_id == account_id
    )
    return conn.execute(query).mappings().first()


def create_survey(conn: Connection, account_id: int, values: dict[str, Any]) -> int:
    survey_id, _public_id = surveys.create_survey(conn, account_id, **values)
    return survey_id


def update_survey(
    conn: Connection, account_id: int, survey_id: int, values: dict[str, Any]
) -> bool:
    """Save edited settings; the kind never changes once answers may exist."""
    values = {key: value for key, value in values.items() if key != "kind"}
    result = conn.execute(
        update(survey_table)
        .where(survey_table.c.id == survey_id, survey_table.c.account_id == account_id)
        .values(**values)
    )
    return result.rowcount == 1


def set_active(conn: Connection, account_id: int, survey_id: int, active: bool) -> bool:
    result = conn.execute(
        update(survey_table)
        .where(survey_table.c.id == survey_id, survey_table.c.account_id == account_id)
        .values(active=active)
    )
    return result.rowcount == 1
