"""e-mail surveys: API keys, recipients, records, invitations

Revision ID: 0006
Revises: 0005

The second counting rule: records reach an account from an integration, a CSV
upload or the admin's form; an accepted one gets an invitation that counts in
the period it was accepted in. Recipients are unique per account by address
in lower case and remember an unsubscription. ``usage`` gains the records the
exhausted budget refused, the highest budget alert sent and when something
was last counted; surveys gain the
e-mail delay and the anonymous flag; accounts the minimum interval.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.platform.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target])


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        _fk("account_id", "account.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_api_key_account_id", "api_key", ["account_id"])

    op.create_table(
        "recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        _fk("account_id", "account.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_recipient_account_email", "recipient", ["account_id", "email_key"], unique=True
    )

    op.create_table(
        "record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("event", sa.String(length=100), nullable=True),
        sa.Column("event_at", UTCDateTime(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        _fk("account_id", "account.id"),
        _fk("recipient_id", "recipient.id"),
        _fk("survey_id", "survey.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_record_account_external", "record", ["account_id", "external_id"], unique=True
    )
    op.create_index("ix_record_account_received", "record", ["account_id", "received_at"])
    op.create_index("ix_record_account_outcome", "record", ["account_id", "outcome", "received_at"])
    op.create_index("ix_record_recipient_id", "record", ["recipient_id"])
    op.create_index("ix_record_survey_id", "record", ["survey_id"])

    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("send_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("given_back_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("account_id", "account.id"),
        _fk("recipient_id", "recipient.id"),
        _fk("record_id", "record.id"),
        _fk("survey_id", "survey.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id"),
    )
    op.create_index("ix_invitation_due", "invitation", ["status", "next_attempt_at"])
    op.create_index("ix_invitation_recipient", "invitation", ["recipient_id", "created_at"])
    op.create_index(
        "ix_invitation_account_period", "invitation", ["account_id", "period", "status"]
    )
    op.create_index("ix_invitation_survey_id", "invitation", ["survey_id"])

    op.create_table(
        "record_sync",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("arrived_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        _fk("account_id", "account.id"),
        sa.PrimaryKeyConstraint("account_id"),
    )

    op.create_table(
        "record_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("refused", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("account_id", "account.id"),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_record_upload_account_id", "record_upload", ["account_id"])

    # New NOT NULL columns on tables with rows: a server default fills them.
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(
            sa.Column("min_interval_days", sa.Integer(), nullable=False, server_default="182")
        )
    with op.batch_alter_table("survey") as batch_op:
        batch_op.add_column(
            sa.Column("email_delay_days", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("usage") as batch_op:
        batch_op.add_column(
            sa.Column("rejected_email", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("alerted", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_counted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("response") as batch_op:
        batch_op.add_column(sa.Column("invitation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_response_invitation", "invitation", ["invitation_id"], ["id"]
        )
        batch_op.create_index("ux_response_invitation", ["invitation_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("response") as batch_op:
        batch_op.drop_index("ux_response_invitation")
        batch_op.drop_constraint("fk_response_invitation", type_="foreignkey")
        batch_op.drop_column("invitation_id")
    with op.batch_alter_table("usage") as batch_op:
        batch_op.drop_column("last_counted_at")
        batch_op.drop_column("alerted")
        batch_op.drop_column("rejected_email")
    with op.batch_alter_table("survey") as batch_op:
        batch_op.drop_column("anonymous")
        batch_op.drop_column("email_delay_days")
    with op.batch_alter_table("account") as batch_op:
        batch_op.drop_column("min_interval_days")
    for table in ("record_upload", "record_sync", "invitation", "record", "recipient", "api_key"):
        op.drop_table(table)
