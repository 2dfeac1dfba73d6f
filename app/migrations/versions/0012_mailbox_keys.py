"""mailbox keys and refused records: recipients compared by one key per
mailbox; the period's refused records kept for the admin's list

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

``refused_record`` keeps the records refused in the current period, only for
the admin's "Refused" list: the address as given and its key, the
``external_id``, the reason, the source and when.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.platform.addresses import email_key
from app.platform.models import UTCDateTime

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
    _rekey(op.get_bind())
    op.create_table(
        "refused_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("refused_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_refused_record_period", "refused_record", ["period", "account_id", "refused_at"]
    )
    op.create_index("ix_refused_record_email", "refused_record", ["email_key", "account_id"])


def _rekey(conn: sa.Connection) -> None:
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
    op.drop_index("ix_refused_record_email", table_name="refused_record")
    op.drop_index("ix_refused_record_period", table_name="refused_record")
    op.drop_table("refused_record")
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
