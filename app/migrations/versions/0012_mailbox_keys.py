"""mailbox keys: recipients compared by one key per mailbox

Revision ID: 0012
Revises: 0011

A recipient's ``email_key`` was the address in lower case, so the spellings
of one mailbox (``ann@bücher.de`` and ``ann@xn--bcher-kva.de``, composed and
decomposed accents) were different recipients: each dodged the other's
minimum interval and unsubscription. The keys are rewritten to
``app.addresses.email_key``. Recipients of one account whose new keys meet
are merged into the earliest (by creation, then id): its address stays the
one mail goes to, a name, language or properties it lacks come from the
others in order, their records and invitations move to it, and it is
unsubscribed if any of them was, since the earliest such moment. Undoing
writes the lower-cased addresses back and leaves merged recipients merged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.addresses import email_key
from app.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_RECIPIENTS = sa.text(
    "SELECT id, account_id, email, email_key, name, language, properties, unsubscribed_at"
    " FROM recipient ORDER BY account_id, created_at, id"
).columns(properties=sa.JSON, unsubscribed_at=UTCDateTime())


class _Mailbox:
    """The earliest recipient of one key and what its twins bring. (No
    dataclass: Alembic loads this file outside ``sys.modules``.)"""

    def __init__(self, row: Any, key: str) -> None:
        self.row, self.key = row, key
        self.twins: list[Any] = []

    def merged(self) -> dict[str, Any]:
        rows = [self.row, *self.twins]
        stops = [row.unsubscribed_at for row in rows if row.unsubscribed_at is not None]
        unsubscribed: datetime | None = min(stops) if stops else None
        return {
            "id": self.row.id,
            "key": self.key,
            "name": next((row.name for row in rows if row.name), None),
            "language": next((row.language for row in rows if row.language), None),
            "properties": next((row.properties for row in rows if row.properties), {}),
            "unsubscribed_at": unsubscribed,
        }


def upgrade() -> None:
    conn = op.get_bind()
    mailboxes: dict[tuple[int, str], _Mailbox] = {}
    for row in conn.execute(_RECIPIENTS):
        key = email_key(row.email)
        found = mailboxes.get((row.account_id, key))
        if found is None:
            mailboxes[(row.account_id, key)] = _Mailbox(row, key)
        else:
            found.twins.append(row)
    for mailbox in mailboxes.values():
        for twin in mailbox.twins:
            moved = {"kept": mailbox.row.id, "twin": twin.id}
            conn.execute(
                sa.text("UPDATE record SET recipient_id = :kept WHERE recipient_id = :twin"), moved
            )
            conn.execute(
                sa.text("UPDATE invitation SET recipient_id = :kept WHERE recipient_id = :twin"),
                moved,
            )
            conn.execute(sa.text("DELETE FROM recipient WHERE id = :twin"), moved)
    changed = [m for m in mailboxes.values() if m.twins or m.row.email_key != m.key]
    _rewrite(conn, [m.row.id for m in changed], lambda: [m.merged() for m in changed])


def _rewrite(
    conn: sa.Connection, ids: list[int], values: Callable[[], list[dict[str, Any]]]
) -> None:
    """Two steps, so a new key never meets an old one still in place: each
    row first takes a key no address has (no ``@``), then its own."""
    parked = sa.text("UPDATE recipient SET email_key = :parked WHERE id = :id")
    for row_id in ids:
        conn.execute(parked, {"parked": f"#{row_id}", "id": row_id})
    final = sa.text(
        "UPDATE recipient SET email_key = :key, name = :name, language = :language,"
        " properties = :properties, unsubscribed_at = :unsubscribed_at WHERE id = :id"
    ).bindparams(
        sa.bindparam("properties", type_=sa.JSON),
        sa.bindparam("unsubscribed_at", type_=UTCDateTime()),
    )
    for item in values():
        conn.execute(final, item)


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(_RECIPIENTS).all()
    changed = [row for row in rows if row.email_key != row.email.strip().lower()]
    _rewrite(
        conn,
        [row.id for row in changed],
        lambda: [
            {
                "id": row.id,
                "key": row.email.strip().lower(),
                "name": row.name,
                "language": row.language,
                "properties": row.properties,
                "unsubscribed_at": row.unsubscribed_at,
            }
            for row in changed
        ],
    )
