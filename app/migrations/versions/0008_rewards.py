"""rewards and the review link's counts

Revision ID: 0008
Revises: 0006

Surveys gain a reward per segment (none, a fixed code or a pool of unique
codes) and offer the review link to promoters by default. ``coupon`` holds
the pools' codes, each handed out at most once, to one response.
``review_count`` counts per survey and day how often the review link was
offered and followed, and nothing about who.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.platform.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey") as batch_op:
        batch_op.add_column(
            sa.Column("rewards", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    op.create_table(
        "coupon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=True),
        sa.Column("handed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.ForeignKeyConstraint(
            ["response_id"], ["response.id"], name="fk_coupon_response", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("response_id"),
    )
    op.create_index("ix_coupon_account_id", "coupon", ["account_id"])
    op.create_index("ux_coupon_code", "coupon", ["survey_id", "segment", "code"], unique=True)
    op.create_index(
        "ix_coupon_free",
        "coupon",
        ["survey_id", "segment", "id"],
        sqlite_where=sa.text("handed_at IS NULL"),
        postgresql_where=sa.text("handed_at IS NULL"),
    )
    op.create_table(
        "review_count",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("followed", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("survey_id", "day"),
    )
    op.create_index("ix_review_count_account_id", "review_count", ["account_id"])


def downgrade() -> None:
    op.drop_table("review_count")
    op.drop_table("coupon")
    with op.batch_alter_table("survey") as batch_op:
        batch_op.drop_column("rewards")
