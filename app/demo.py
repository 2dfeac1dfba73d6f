"""The demo account that `nps-beacon demo` seeds and the /demo shop page shows."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from app.accounts import accounts
from app.invitations import record_in, records
from app.platform import db
from app.platform.models import admin_table, invitation_table, survey_table
from app.surveys import model as surveys

EMAIL = "demo@example.com"
# The demo's one e-mail record: its external id makes seeding it again a replay.
RECORD_ID = "demo-invitation"
RECIPIENT = "customer@example.com"


@dataclass(frozen=True)
class Demo:
    account_id: int
    public_id: str | None  # the demo survey, unless the owner deleted it
    password: str | None  # only known where it was written when seeded
    invitation_id: int | None = None  # the demo record's e-mail invitation


def seed(engine: Engine, var_dir: Path, zone: ZoneInfo | None = None) -> Demo:
    """Create the demo account, its admin and an NPS survey, unless they exist,
    and one e-mail record for the survey, so that the sender has an
    invitation to write to the outbox; the admin's generated password is kept
    in ``var_dir/demo_password``."""
    password_file = var_dir / "demo_password"
    with db.write(engine) as conn:
        account_id = conn.execute(
            select(admin_table.c.account_id).where(admin_table.c.email == EMAIL)
        ).scalar_one_or_none()
        if account_id is None:
            password = secrets.token_urlsafe(12)
            account_id = accounts.create_account(conn, "Demo Shop", "free")
            accounts.create_admin(conn, account_id, EMAIL, password)
            surveys.create_survey(conn, account_id, name="Shop NPS", kind="nps")
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password)
            password_file.chmod(0o600)
    public_ids = survey_ids(engine)
    return Demo(
        account_id,
        public_ids[0] if public_ids else None,
        password_file.read_text().strip() if password_file.exists() else None,
        _invite(engine, account_id, zone or ZoneInfo("UTC")),
    )


def _invite(engine: Engine, account_id: int, zone: ZoneInfo) -> int | None:
    """The demo record's invitation, accepted once like any record (so it
    counts); None when the survey is gone, switched off or out of budget."""
    with db.read(engine) as conn:
        survey_id = conn.execute(
            select(survey_table.c.id)
            .where(survey_table.c.account_id == account_id)
            .order_by(survey_table.c.id)
        ).scalar()
    if survey_id is None:
        return None
    now = datetime.now(UTC)
    wanted = record_in.RecordIn(survey_id, RECIPIENT, name="Demo Customer", external_id=RECORD_ID)
    source = records.Source("manual", EMAIL)
    try:
        outcome = records.accept(engine, account_id, wanted, source, now, zone)
    except (records.SurveyInactive, records.UnknownSurvey):
        return None
    if outcome.id is None:
        return None
    if not outcome.replay:
        records.note_arrival(engine, account_id, source, now)
    with db.read(engine) as conn:
        found = conn.execute(
            select(invitation_table.c.id).where(invitation_table.c.record_id == outcome.id)
        ).scalar()
    return int(found) if found is not None else None


def survey_ids(engine: Engine) -> list[str]:
    """The public ids of the demo account's surveys, oldest first."""
    with db.read(engine) as conn:
        return list(
            conn.execute(
                select(survey_table.c.public_id)
                .join(admin_table, admin_table.c.account_id == survey_table.c.account_id)
                .where(admin_table.c.email == EMAIL)
                .order_by(survey_table.c.id)
            ).scalars()
        )
