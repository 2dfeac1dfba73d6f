"""The budget alerts: an account's admins told once per period when its usage
reaches 80 % and 100 % of the budget in force, each also a ``budget.threshold``
event."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, text

from app.budget import rule as budget
from app.platform import db
from app.platform.compose import admin_notice, checked_url, one_line
from app.platform.i18n import DEFAULT, LANGUAGES, Formatter, translator
from app.platform.models import account_table as account
from app.platform.models import admin_table as admin_user
from app.platform.outbox import Sender
from app.webhooks import endpoints as webhooks

log = logging.getLogger("nps_beacon.delivery")

ALERT_LEVELS = (80, 100)


# This period's usage rows that reached 80 % or 100 % of the budget in force
# and miss that level's alert; an account that has used nothing is not warned.
_CROSSED = text(
    "SELECT account_id, used, alerted, budget_limit FROM (SELECT u.account_id, u.used,"
    f" u.alerted, {budget.limit_sql('u.account_id')} AS budget_limit FROM usage u"
    " WHERE u.period = CAST(:period AS VARCHAR) AND u.used > 0 AND u.alerted < 100) crossed"
    " WHERE used * 100 >= budget_limit * 80"
    " AND alerted < CASE WHEN used >= budget_limit THEN 100 ELSE 80 END"
    # One order for every pass, so two passes at once never wait on each other in a circle.
    " ORDER BY account_id"
)


_RAISE = text(
    "UPDATE usage SET alerted = :level"
    " WHERE account_id = :account_id AND period = :period AND alerted < :level"
)


_LOWER = text(
    "UPDATE usage SET alerted = :previous"
    " WHERE account_id = :account_id AND period = :period AND alerted = :level"
)


@dataclass(frozen=True)
class Alert:
    account_id: int
    account_name: str
    period: str
    used: int
    limit: int
    level: int
    previous: int
    admins: tuple[tuple[int, str, str], ...]  # id, address, language


def level_of(used: int, limit: int) -> int:
    """The highest alert level ``used`` reached: 0, 80 or 100."""
    reached = [level for level in ALERT_LEVELS if used * 100 >= limit * level]
    return reached[-1] if reached else 0


def take_alerts(conn: Connection, period: str, now: datetime) -> list[Alert]:
    """Raise ``alerted`` for every account that crossed a level, in the
    caller's write transaction; the guarded UPDATE hands each alert to one
    pass only, however many run at once. Only the highest level crossed is
    taken: 80 % and 100 % at once is one 100 % alert."""
    alerts = []
    for row in conn.execute(_CROSSED, {"period": period}).all():
        level = level_of(row.used, row.budget_limit)
        if level <= row.alerted:
            continue
        params = {"level": level, "account_id": row.account_id, "period": period}
        if conn.execute(_RAISE, params).rowcount != 1:
            continue
        name = conn.execute(
            select(account.c.name).where(account.c.id == row.account_id)
        ).scalar_one()
        # In the transaction that takes the alert, for every account whatever
        # its channels. An alert whose mails all failed for now is taken again
        # later: its id, one per account, period and level, queues it once.
        webhooks.emit(
            conn,
            row.account_id,
            "budget.threshold",
            {
                "period": period,
                "level": level,
                "used": row.used,
                "limit": row.budget_limit,
            },
            now,
            msg_id=f"msg_budget_{row.account_id}_{period}_{level}",
        )
        admins = conn.execute(
            select(admin_user.c.id, admin_user.c.email, admin_user.c.language)
            .where(admin_user.c.account_id == row.account_id)
            .order_by(admin_user.c.id)
        ).all()
        alerts.append(
            Alert(
                row.account_id,
                name,
                period,
                row.used,
                row.budget_limit,
                level,
                row.alerted,
                tuple(
                    (a.id, a.email, a.language if a.language in LANGUAGES else DEFAULT)
                    for a in admins
                ),
            )
        )
    return alerts


def send_alerts(sender: Sender) -> int:
    """Send this period's due budget alerts to each admin of the account in
    their language; the number of messages sent. An alert whose every message
    failed for the time being is lowered again, so a later pass tries it once
    more."""
    period = budget.period_of(sender.clock(), sender.zone)
    with db.read(sender.engine) as conn:
        # Mostly there is nothing to say: then no write lock is taken.
        if conn.execute(_CROSSED, {"period": period}).first() is None:
            return 0
    with db.write(sender.engine) as conn:
        alerts = take_alerts(conn, period, sender.clock())
    if not alerts:
        return 0
    messages: list[EmailMessage] = []
    owners: list[Alert] = []
    for alert in alerts:
        for admin_id, address, language in alert.admins:
            try:
                messages.append(_alert_message(sender, alert, admin_id, address, language))
            except ValueError as exc:
                log.warning("budget alert to admin %s cannot be written: %s", admin_id, exc)
                continue
            owners.append(alert)
    deliveries = sender.transport.send_batch(messages)
    outcomes: dict[int, list[str]] = {alert.account_id: [] for alert in alerts}
    for alert, result in zip(owners, deliveries, strict=True):
        outcomes[alert.account_id].append(result.status)
    # Lowered only when every message of the alert failed for the time being:
    # a refused address would otherwise be tried again in every pass.
    unsent = [
        alert
        for alert in alerts
        if outcomes[alert.account_id]
        and all(status == "transient" for status in outcomes[alert.account_id])
    ]
    if unsent:
        with db.write(sender.engine) as conn:
            for alert in unsent:
                conn.execute(
                    _LOWER,
                    {
                        "previous": alert.previous,
                        "level": alert.level,
                        "account_id": alert.account_id,
                        "period": alert.period,
                    },
                )
    return sum(result.status == "sent" for result in deliveries)


def _alert_message(
    sender: Sender, alert: Alert, admin_id: int, address: str, language: str
) -> EmailMessage:
    return budget_alert_message(
        to=address,
        sender=sender.mail_from,
        language=language,
        account_name=alert.account_name,
        period=alert.period,
        used=alert.used,
        limit=alert.limit,
        level=alert.level,
        dashboard_url=sender.urls.admin_page("dashboard"),
        message_id=sender.urls.alert_message_id(
            alert.account_id, alert.period, alert.level, admin_id
        ),
    )


def budget_alert_message(
    *,
    to: str,
    sender: str,
    language: str,
    account_name: str,
    period: str,
    used: int,
    limit: int,
    level: int,
    dashboard_url: str,
    message_id: str,
) -> EmailMessage:
    """Tells an account's admin that ``period``'s usage crossed ``level``
    percent (80 or 100) and what happens once the budget is used up."""
    if level not in ALERT_LEVELS:
        raise ValueError(f"an alert is for 80 or 100 percent, not {level}")
    language = language if language in LANGUAGES else DEFAULT
    t = translator(language)
    formats = Formatter(language, ZoneInfo("UTC"))
    account = one_line(account_name)
    month = formats.period(period)
    year, number = (int(part) for part in period.split("-"))
    next_start = formats.date(date(year + number // 12, number % 12 + 1, 1))
    subject = t(
        f"email.budget.subject.{level}",
        account=account,
        period=month,
        percent=formats.percent(level / 100),
    )
    paragraphs = [
        t("email.budget.greeting"),
        t(
            "email.budget.used",
            account=account,
            used=formats.number(used),
            limit=formats.number(limit),
            period=month,
            percent=formats.percent(used / limit if limit else 1),
        ),
        t("email.budget.exhausted" if level == 100 else "email.budget.warning", next=next_start),
        t("email.budget.scheduled"),
    ]
    return admin_notice(
        to=to,
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        paragraphs=paragraphs,
        action=t("email.budget.action"),
        link=checked_url(dashboard_url),
        why=t("email.budget.why", account=account),
    )
