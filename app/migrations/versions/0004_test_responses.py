"""answers given through a survey's test key

Revision ID: 0004
Revises: 0003

The owner's test answers get a table of their own beside ``response``: no
figure, trend or export reads it, and nothing in it is ever counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("page_url", sa.String(length=2048), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce"),
    )
    with op.batch_alter_table("test_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_response_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            "ix_test_response_survey_created", ["survey_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("test_response", schema=None) as batch_op:
        batch_op.drop_index("ix_test_response_survey_created")
        batch_op.drop_index(batch_op.f("ix_test_response_account_id"))

    op.drop_table("test_response")
