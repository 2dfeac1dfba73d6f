"""An admin's own settings and the account's: language, names in messages, the
minimum interval of e-mail invitations; one transaction per call, scoped to
one account."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from app.accounts import accounts
from app.platform import db, i18n
from app.platform.models import account_table, admin_table


@dataclass(frozen=True)
class Admin:
    id: int
    account_id: int
    email: str
    language: str | None


def set_language(engine: Engine, admin_id: int, language: str | None) -> None:
    if language is not None and language not in i18n.LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    with db.write(engine) as conn:
        conn.execute(
            update(admin_table).where(admin_table.c.id == admin_id).values(language=language)
        )


@dataclass(frozen=True)
class AccountSettings:
    name: str
    min_interval_days: int
    sender_name: str | None = None
    admin_name: str | None = None  # the asking admin's own


def account_settings(engine: Engine, account_id: int, admin_id: int = 0) -> AccountSettings:
    with db.read(engine) as conn:
        row = conn.execute(
            select(
                account_table.c.name,
                account_table.c.min_interval_days,
                account_table.c.sender_name,
            ).where(account_table.c.id == account_id)
        ).one()
        admin_name = conn.execute(
            select(admin_table.c.name).where(
                admin_table.c.id == admin_id, admin_table.c.account_id == account_id
            )
        ).scalar()
    return AccountSettings(row.name, row.min_interval_days, row.sender_name, admin_name)


def set_names(engine: Engine, account_id: int, name: str, sender_name: str) -> None:
    """Raises ``accounts.NameRefused``."""
    with db.write(engine) as conn:
        accounts.set_names(conn, account_id, name, sender_name)


def set_admin_name(engine: Engine, account_id: int, admin_id: int, name: str) -> None:
    """Raises ``accounts.NameRefused``."""
    with db.write(engine) as conn:
        accounts.set_admin_name(conn, account_id, admin_id, name)


def set_min_interval(engine: Engine, account_id: int, days: int) -> None:
    """Raises ``accounts.AccountError`` outside 0 to 3650 days."""
    with db.write(engine) as conn:
        accounts.set_min_interval(conn, account_id, days)
