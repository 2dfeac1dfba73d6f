"""budget refusal: PostgreSQL's function that refuses a guarded step

Revision ID: 0011
Revises: 0010

On PostgreSQL an answer's transaction is sent as a pipeline: its last
statements, the guarded step of ``usage`` and the COMMIT, leave together, so
the account's usage row is locked for no round trip at all. The step cannot
then be answered with a rollback by the application; it refuses by raising
instead, through this function, and the queued COMMIT becomes a rollback.
SQLite needs nothing: its steps are read before the commit.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The SQLSTATE ``app.db.REFUSED``: class "NB" is no class PostgreSQL uses.
FUNCTION = """
CREATE FUNCTION budget_exhausted() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'budget exhausted' USING ERRCODE = 'NB402';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION budget_exhausted()")
