"""sender names: the account's sender display name, an admin's own name, and
the names a queued inbox message is written with

Revision ID: 0013
Revises: 0012

The address of every message stays ``MAIL_FROM``; only its display name is
the account's (invitations) or the replying admin's (inbox replies). A reply
keeps the names it was written with, so a later rename does not change what
is already queued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(sa.Column("sender_name", sa.String(length=100), nullable=True))
    with op.batch_alter_table("admin_user") as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
    with op.batch_alter_table("inbox_mail") as batch_op:
        batch_op.add_column(sa.Column("from_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("to_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_mail") as batch_op:
        batch_op.drop_column("to_name")
        batch_op.drop_column("from_name")
    with op.batch_alter_table("admin_user") as batch_op:
        batch_op.drop_column("name")
    with op.batch_alter_table("account") as batch_op:
        batch_op.drop_column("sender_name")
