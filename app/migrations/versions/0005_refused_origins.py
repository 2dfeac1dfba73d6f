"""origins a survey's widget was refused on

Revision ID: 0005
Revises: 0004

One row per survey with the latest origin its widget config was refused on
(the origin is not among the survey's allowed ones), so the dashboard can
warn about it instead of counting it as a healthy "last data sync".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_origin",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("survey_id"),
    )
    with op.batch_alter_table("refused_origin", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refused_origin_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refused_origin", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refused_origin_account_id"))

    op.drop_table("refused_origin")
