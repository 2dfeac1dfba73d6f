"""follow-up questions and their answers

Revision ID: 0007
Revises: 0006

A survey gains its follow-up questions as one JSON list (read with the survey,
so the widget config stays one query); ``answer`` keeps a visitor's answer to
one of them, attached to the stored response, one per response and question.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.platform.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("questions", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"], ["response.id"], name="fk_answer_response", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.create_index(
            "ux_answer_response_question", ["response_id", "question_id"], unique=True
        )
        batch_op.create_index("ix_answer_survey", ["survey_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_survey")
        batch_op.drop_index("ux_answer_response_question")
    op.drop_table("answer")
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_column("questions")
