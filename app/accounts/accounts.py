"""Accounts, their admins and passwords (argon2)."""

from __future__ import annotations

import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from app.platform.models import account_table, admin_table, tariff_table

PASSWORD_MIN = 10
# Days within which a recipient is not invited again (0 = off); the default
# is 26 weeks, the most is about ten years.
MIN_INTERVAL_DEFAULT = 182
MIN_INTERVAL_MAX = 3650
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The account's name is shown on every page and message; the sender name and
# an admin's name are display names in From, where a short one reads best.
ACCOUNT_NAME_MAX = 200
SENDER_NAME_MAX = 100

_hasher = PasswordHasher()
# Verifying against this when the email is unknown keeps both failures equally slow.
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(ValueError):
    """Input an account or admin cannot be created with; the text is for people."""


class NameRefused(AccountError):
    """A name that cannot be shown or put in a header: ``key`` and
    ``params`` say why in the admin's language."""

    def __init__(self, key: str, **params: int) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def clean_name(value: str, limit: int, *, required: bool) -> str | None:
    """A one-line name of at most ``limit`` characters, or None for an empty
    optional one. A line break or other control or format character is
    refused rather than dropped: in a header it could begin a header of its
    own, and what the admin typed should be what the recipient sees."""
    name = unicodedata.normalize("NFC", value.strip(" "))
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        raise NameRefused("name.one_line")
    name = " ".join(name.split())
    if not name:
        if required:
            raise NameRefused("error.required")
        return None
    if len(name) > limit:
        raise NameRefused("error.too_long", max=limit, count=len(name))
    return name


def hash_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"the password needs at least {PASSWORD_MIN} characters")
    return _hasher.hash(password)


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}")
    return email


def create_account(conn: Connection, name: str, tariff_code: str = "free") -> int:
    name = name.strip()
    if not name:
        raise AccountError("the account needs a name")
    known = conn.execute(
        select(tariff_table.c.code).where(tariff_table.c.code == tariff_code)
    ).first()
    if known is None:
        raise AccountError(f"unknown tariff {tariff_code!r}")
    return int(
        conn.execute(
            insert(account_table)
            .values(name=name, tariff_code=tariff_code)
            .returning(account_table.c.id)
        ).scalar_one()
    )


def exists(conn: Connection, account_id: int) -> bool:
    query = select(account_table.c.id).where(account_table.c.id == account_id)
    return conn.execute(query).first() is not None


def set_min_interval(conn: Connection, account_id: int, days: int) -> bool:
    """The account's minimum interval between two invitations of one
    recipient, in days (0 turns it off); False for no such account."""
    if not 0 <= days <= MIN_INTERVAL_MAX:
        raise AccountError(f"the minimum interval is 0 to {MIN_INTERVAL_MAX} days")
    result = conn.execute(
        update(account_table).where(account_table.c.id == account_id).values(min_interval_days=days)
    )
    return result.rowcount == 1


def set_names(conn: Connection, account_id: int, name: str, sender_name: str) -> None:
    """The account's name and its messages' sender name (empty: the account's
    name); raises ``NameRefused``."""
    values = {
        "name": clean_name(name, ACCOUNT_NAME_MAX, required=True),
        "sender_name": clean_name(sender_name, SENDER_NAME_MAX, required=False),
    }
    conn.execute(update(account_table).where(account_table.c.id == account_id).values(values))


def set_admin_name(conn: Connection, account_id: int, admin_id: int, name: str) -> None:
    """The name the admin's replies are signed with in From (empty: the
    account's sender name); raises ``NameRefused``."""
    conn.execute(
        update(admin_table)
        .where(admin_table.c.id == admin_id, admin_table.c.account_id == account_id)
        .values(name=clean_name(name, SENDER_NAME_MAX, required=False))
    )


def create_admin(conn: Connection, account_id: int, email: str, password: str) -> int:
    email = normalize_email(email)
    if (
        conn.execute(select(account_table.c.id).where(account_table.c.id == account_id)).first()
        is None
    ):
        raise AccountError(f"no account with id {account_id}")
    if conn.execute(select(admin_table.c.id).where(admin_table.c.email == email)).first():
        raise AccountError(f"an admin with the email {email} exists already")
    return int(
        conn.execute(
            insert(admin_table)
            .values(account_id=account_id, email=email, password_hash=hash_password(password))
            .returning(admin_table.c.id)
        ).scalar_one()
    )


def authenticate(conn: Connection, email: str, password: str) -> tuple[int, int] | None:
    """(admin id, account id) when the password matches; None otherwise, taking
    the same time whether the email is unknown or the password wrong."""
    row = conn.execute(
        select(admin_table.c.id, admin_table.c.account_id, admin_table.c.password_hash).where(
            admin_table.c.email == email.strip().lower()
        )
    ).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        set_password(conn, row.id, password)
    return row.id, row.account_id


def set_password(conn: Connection, admin_id: int, password: str) -> None:
    conn.execute(
        update(admin_table)
        .where(admin_table.c.id == admin_id)
        .values(password_hash=hash_password(password))
    )
