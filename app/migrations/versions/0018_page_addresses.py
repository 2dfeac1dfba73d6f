"""page addresses: stored pages keep origin and path only

Revision ID: 0018
Revises: 0011

A page address sent with an answer was stored as sent, query string and all,
and a query may name the visitor (``?email=...``). The service now keeps
scheme, host, port and path; this cuts the addresses stored before. There is
no way back: what was cut is gone.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("response", "test_response")
BATCH = 1000


def _cut(url: str) -> str | None:
    """As ``app.urls.page_address`` does, kept here as it was when written."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or None


def upgrade() -> None:
    conn = op.get_bind()
    for name in TABLES:
        table = sa.table(name, sa.column("id", sa.Integer), sa.column("page_url", sa.String))
        # Only an address with a query, a fragment or a user name changes.
        marked = sa.or_(*(table.c.page_url.contains(mark) for mark in ("?", "#", "@")))
        last = 0
        while True:
            rows = conn.execute(
                sa.select(table.c.id, table.c.page_url)
                .where(marked, table.c.id > last)
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            for row in rows:
                conn.execute(
                    sa.update(table).where(table.c.id == row.id).values(page_url=_cut(row.page_url))
                )
            last = rows[-1].id


def downgrade() -> None:
    pass  # the cut parts are not kept anywhere
