"""inbox: the state of responses that need action, their notes, queued
replies and detractor alerts

Revision ID: 0009
Revises: 0006

A response needs action by its survey's ``inbox_rule``; nothing is written
when it arrives. ``inbox_item`` holds an item's state from its first change
(until then it is open and unassigned), ``inbox_note`` the internal notes
and replies, ``inbox_mail`` the replies and detractor alerts the worker sends
(``dedupe_key`` unique: one alert per response and address, however many
workers run). Surveys gain the rule, the alert addresses and the alerts'
high-water mark (``alert_since``; set while alerts are on).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.platform.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey") as batch_op:
        batch_op.add_column(
            sa.Column(
                "inbox_rule", sa.String(length=16), nullable=False, server_default="detractors_text"
            )
        )
        batch_op.add_column(
            sa.Column("alert_emails", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("alert_since", UTCDateTime(), nullable=True))

    op.create_table(
        "inbox_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["response_id"], ["response.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignee_id"], ["admin_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("response_id"),
    )
    op.create_index("ix_inbox_item_account_status", "inbox_item", ["account_id", "status"])

    op.create_table(
        "inbox_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["response_id"], ["response.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["admin_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbox_note_response", "inbox_note", ["response_id", "created_at"])

    op.create_table(
        "inbox_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("reply_to", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["response_id"], ["response.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_inbox_mail_due", "inbox_mail", ["status", "next_attempt_at"])
    op.create_index("ix_inbox_mail_response_id", "inbox_mail", ["response_id"])


def downgrade() -> None:
    for table in ("inbox_mail", "inbox_note", "inbox_item"):
        op.drop_table(table)
    with op.batch_alter_table("survey") as batch_op:
        batch_op.drop_column("alert_since")
        batch_op.drop_column("alert_emails")
        batch_op.drop_column("inbox_rule")
