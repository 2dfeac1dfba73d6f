"""Admin sessions as rows: the server decides whether a session is open.

The signed cookie carries a random secret; the database keeps only its
SHA-256. A session is open while its row exists and has not expired, so
deleting rows (logout, "log out everywhere", a password change) ends every
copy of a cookie at once, and a replayed cookie dies with its row's expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from app import accounts
from app.admin_store import Admin
from app.models import admin_session_table, admin_table

MAX_AGE = 12 * 3600
SECRET_BYTES = 32


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(conn: Connection, admin_id: int, now: datetime) -> str:
    """A new session for the admin; returns the secret for the cookie.
    Expired rows of every admin are dropped on the way, which keeps the
    table as small as the number of live sessions."""
    prune(conn, now)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    conn.execute(
        insert(admin_session_table).values(
            admin_id=admin_id,
            token_hash=_digest(secret),
            created_at=now,
            expires_at=now + timedelta(seconds=MAX_AGE),
        )
    )
    return secret


def admin_of(conn: Connection, secret: str, now: datetime) -> Admin | None:
    """The admin whose live session has this secret, in one query."""
    row = conn.execute(
        select(
            admin_table.c.id,
            admin_table.c.account_id,
            admin_table.c.email,
            admin_table.c.language,
        )
        .join(admin_session_table, admin_session_table.c.admin_id == admin_table.c.id)
        .where(
            admin_session_table.c.token_hash == _digest(secret),
            admin_session_table.c.expires_at > now,
        )
    ).first()
    if row is None:
        return None
    return Admin(row.id, row.account_id, row.email, row.language)


def end_session(conn: Connection, secret: str) -> None:
    conn.execute(
        delete(admin_session_table).where(admin_session_table.c.token_hash == _digest(secret))
    )


def end_all(conn: Connection, admin_id: int) -> int:
    """End every session of one admin, on every device; returns how many."""
    result = conn.execute(
        delete(admin_session_table).where(admin_session_table.c.admin_id == admin_id)
    )
    return int(result.rowcount)


def change_password(conn: Connection, admin_id: int, password: str, now: datetime) -> str:
    """Set a new password and end every session of the admin, the asking one
    included; returns the secret of a fresh session for the asking browser,
    so that a copy of its old cookie is worthless too."""
    accounts.set_password(conn, admin_id, password)
    end_all(conn, admin_id)
    return open_session(conn, admin_id, now)


def prune(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        delete(admin_session_table).where(admin_session_table.c.expires_at <= now)
    )
    return int(result.rowcount)
