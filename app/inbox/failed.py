"""The inbox's e-mail that failed for good, shown to the account's admins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Engine,
    select,
)

from app.platform import db
from app.platform.models import inbox_mail_table as mail
from app.platform.models import response_table as response


@dataclass(frozen=True)
class FailedMail:
    """A reply or a detractor alert that the mail server refused or that
    found no way through for a day. The admin must hear of it: a reply's
    note alone says "replied", an alert's addresses may hold a typo."""

    to_email: str
    subject: str
    error: str | None
    created_at: datetime


FAILED = (mail.c.to_email, mail.c.subject, mail.c.last_error, mail.c.created_at)


def failed_mails(rows: Iterable[Any]) -> list[FailedMail]:
    return [FailedMail(r.to_email, r.subject, r.last_error, r.created_at) for r in rows]


FAILED_ALERTS_SHOWN = 5


def failed_alerts(
    engine: Engine, account_id: int, survey_id: int, addresses: Sequence[str]
) -> list[FailedMail]:
    """The survey's latest alerts to ``addresses`` (those it alerts now)
    that failed for good, newest first, so the form that holds the addresses
    can say which ones do not work. A mended address stops being named."""
    if not addresses:
        return []
    with db.read(engine) as conn:
        rows = conn.execute(
            select(*FAILED)
            .select_from(mail.join(response, response.c.id == mail.c.response_id))
            .where(
                mail.c.account_id == account_id,
                mail.c.kind == "alert",
                mail.c.status == "failed",
                mail.c.to_email.in_(addresses),
                response.c.account_id == account_id,
                response.c.survey_id == survey_id,
            )
            .order_by(mail.c.created_at.desc(), mail.c.id.desc())
            .limit(FAILED_ALERTS_SHOWN)
        )
        return failed_mails(rows)
