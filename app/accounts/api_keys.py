"""API keys: the secrets integrations send records with.

A key is shown once, when it is created. Only its SHA-256 is stored (a key is
32 random bytes, so a fast hash is enough: nothing to guess by brute force),
with its first characters so an admin can tell keys apart. Revoked keys stay
listed, with when they were revoked, and open nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from app.platform import db
from app.platform.models import api_key_table as api_key

PREFIX = "nbk_"
NAME_MAX = 80
# "Last used" is written at most this often per key, so a busy integration
# does not turn every request into an extra write.
LAST_USED_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKey:
    id: int
    account_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKeyError(ValueError):
    """A name a key cannot be created with; the text is for people, ``code``
    (``name_required`` or ``name_too_long``) for pages in other languages."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: object) -> ApiKey:
    return ApiKey(**{name: getattr(row, name) for name in ApiKey.__dataclass_fields__})


_COLUMNS = [api_key.c[name] for name in ApiKey.__dataclass_fields__]


def create(conn: Connection, account_id: int, name: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key for the account: the stored key and the secret, which is
    never available again."""
    name = " ".join(name.split())
    if not name:
        raise ApiKeyError("a key needs a name, e.g. the shop or CRM that uses it", "name_required")
    if len(name) > NAME_MAX:
        raise ApiKeyError(f"a key's name has at most {NAME_MAX} characters", "name_too_long")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        insert(api_key)
        .values(
            account_id=account_id,
            name=name,
            prefix=secret[: len(PREFIX) + 6],
            key_hash=_digest(secret),
            created_at=now,
        )
        .returning(*_COLUMNS)
    ).one()
    return _key(row), secret


def authenticate(engine: Engine, secret: str, now: datetime) -> ApiKey | None:
    """The active key whose secret this is, or None. Notes its use."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    with db.read(engine) as conn:
        row = conn.execute(select(*_COLUMNS).where(api_key.c.key_hash == _digest(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    found = _key(row)
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_STEP:
        with db.write(engine) as conn:
            conn.execute(update(api_key).where(api_key.c.id == found.id).values(last_used_at=now))
    return found


def list_for_account(engine: Engine, account_id: int) -> list[ApiKey]:
    """The account's keys, active ones first, newest first."""
    with db.read(engine) as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(api_key.c.account_id == account_id)
            .order_by(api_key.c.revoked_at.is_not(None), api_key.c.created_at.desc(), api_key.c.id)
        )
        return [_key(row) for row in rows]


def revoke(engine: Engine, account_id: int, key_id: int, now: datetime) -> bool:
    """Revoke the account's key; False when it has no such active key."""
    with db.write(engine) as conn:
        result = conn.execute(
            update(api_key)
            .where(
                api_key.c.id == key_id,
                api_key.c.account_id == account_id,
                api_key.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
    return result.rowcount == 1


def issue(engine: Engine, account_id: int, name: str, now: datetime) -> tuple[ApiKey, str]:
    """``create`` in a transaction of its own; raises ``ApiKeyError``."""
    with db.write(engine) as conn:
        return create(conn, account_id, name, now)


def find(engine: Engine, account_id: int, key_id: int) -> ApiKey | None:
    """The account's key; None for another account's, as for none at all."""
    with db.read(engine) as conn:
        row = conn.execute(
            select(*_COLUMNS).where(api_key.c.id == key_id, api_key.c.account_id == account_id)
        ).first()
    return None if row is None else _key(row)
