"""page addresses: stored pages keep origin and path only

Revision ID: 0014
Revises: 0013

A page address sent with an answer was stored as sent, query string and all,
and a query may name the visitor (``?email=...``); so was a widget's Origin
header, which only a forged request fills with more than an origin. The
service now keeps scheme, host, port and path; this cuts the addresses
stored before. There is no way back: what was cut is gone.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Each table with its key and the address column; a NOT NULL column keeps
# "null" (a page opened as a file) where nothing of an address is left.
ADDRESSES = (
    ("response", "id", "page_url", None),
    ("test_response", "id", "page_url", None),
    ("contact", "survey_id", "origin", None),
    ("refused_origin", "survey_id", "origin", "null"),
)
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
    for name, key, column, empty in ADDRESSES:
        _cut_all(sa.table(name, sa.column(key, sa.Integer), sa.column(column, sa.String)), empty)


def _cut_all(table: sa.TableClause, empty: str | None) -> None:
    conn = op.get_bind()
    key, address = table.c
    # Only an address with a query, a fragment or a user name changes.
    marked = sa.or_(*(address.contains(mark) for mark in ("?", "#", "@")))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(key, address).where(marked, key > last).order_by(key).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            conn.execute(
                sa.update(table).where(key == row[0]).values({address: _cut(row[1]) or empty})
            )
        last = rows[-1][0]


def downgrade() -> None:
    pass  # the cut parts are not kept anywhere
