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

from sqlalchemy import Connection, Engine, delete, insert, select

from app.accounts import accounts
from app.accounts.preferences import Admin
from app.platform import db
from app.platform.models import admin_session_table, admin_table

MAX_AGE = 12 * 3600
SECRET_BYTES = 32


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def log_in(
    engine: Engine, email: str, password: str, now: datetime, *, replacing: str | None = None
) -> str | None:
    """A new session for the admin with these credentials, or None. The
    session ``replacing`` names (this browser's earlier one) ends with it:
    logging in again replaces a session rather than adding one."""
    with db.write(engine) as conn:
        found = accounts.authenticate(conn, email, password) if email and password else None
        if found is None:
            return None
        if replacing is not None:
            _end_session(conn, replacing)
        return _open_session(conn, found[0], now)


def _open_session(conn: Connection, admin_id: int, now: datetime) -> str:
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


def admin_of(engine: Engine, secret: str, now: datetime) -> Admin | None:
    """The admin whose live session has this secret, in one query."""
    with db.read(engine) as conn:
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


def end_session(engine: Engine, secret: str) -> None:
    with db.write(engine) as conn:
        _end_session(conn, secret)


def _end_session(conn: Connection, secret: str) -> None:
    conn.execute(
        delete(admin_session_table).where(admin_session_table.c.token_hash == _digest(secret))
    )


def end_all(engine: Engine, admin_id: int) -> int:
    """End every session of one admin, on every device; returns how many."""
    with db.write(engine) as conn:
        return _end_all(conn, admin_id)


def _end_all(conn: Connection, admin_id: int) -> int:
    result = conn.execute(
        delete(admin_session_table).where(admin_session_table.c.admin_id == admin_id)
    )
    return int(result.rowcount)


def change_password(
    engine: Engine, admin: Admin, current: str, new: str, now: datetime
) -> str | None:
    """Set a new password if ``current`` is the admin's password (else None)
    and end every session of the admin, the asking one included; returns the
    secret of a fresh session for the asking browser, so that a copy of its
    old cookie is worthless too."""
    with db.write(engine) as conn:
        if accounts.authenticate(conn, admin.email, current) is None:
            return None
        accounts.set_password(conn, admin.id, new)
        _end_all(conn, admin.id)
        return _open_session(conn, admin.id, now)


def reset_password(engine: Engine, email: str, password: str) -> tuple[int, int]:
    """The operator's reset for an admin who cannot log in: a new password,
    and every session of that admin ended, since whoever knew the old one may
    still be logged in. Returns (admin id, sessions ended); raises
    ``accounts.AccountError`` for an unknown email or a short password."""
    with db.write(engine) as conn:
        admin_id = conn.execute(
            select(admin_table.c.id).where(admin_table.c.email == email.strip().lower())
        ).scalar_one_or_none()
        if admin_id is None:
            raise accounts.AccountError(f"no admin with the email {email.strip()}")
        accounts.set_password(conn, admin_id, password)
        return int(admin_id), _end_all(conn, admin_id)


def prune(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        delete(admin_session_table).where(admin_session_table.c.expires_at <= now)
    )
    return int(result.rowcount)
