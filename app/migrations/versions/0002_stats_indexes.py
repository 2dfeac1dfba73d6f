"""indexes for the admin figures

Revision ID: 0002
Revises: 0001

A covering index for the summaries and daily trends (account, survey, period,
then every column they aggregate), and two partial indexes that hold only the
commented responses in the order the results page lists them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COMMENTED = sa.text("comment IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.create_index(
            "ix_response_stats",
            ["account_id", "survey_id", "period", "segment", "score", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_response_comments",
            ["account_id", "survey_id", "period", "created_at", "id"],
            unique=False,
            sqlite_where=COMMENTED,
            postgresql_where=COMMENTED,
        )
        batch_op.create_index(
            "ix_response_comments_segment",
            ["account_id", "survey_id", "period", "segment", "created_at", "id"],
            unique=False,
            sqlite_where=COMMENTED,
            postgresql_where=COMMENTED,
        )


def downgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_index("ix_response_comments_segment")
        batch_op.drop_index("ix_response_comments")
        batch_op.drop_index("ix_response_stats")
