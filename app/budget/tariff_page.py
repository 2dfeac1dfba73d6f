"""What the admin's tariff page reads and writes: the tariffs on offer, the one
in force and the next, a change's preview, pausing; one transaction per call,
scoped to one account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from app.budget import channels
from app.budget import rule as budget
from app.budget import tariffs as tariff_rules
from app.platform import db
from app.platform.models import tariff_table


@dataclass(frozen=True)
class Tariff:
    code: str
    name: str
    budget: int


def offered_tariffs(conn: Connection) -> list[Tariff]:
    rows = conn.execute(
        select(tariff_table.c.code, tariff_table.c.name, tariff_table.c.monthly_budget).order_by(
            tariff_table.c.monthly_budget, tariff_table.c.code
        )
    )
    return [Tariff(row.code, row.name, row.monthly_budget) for row in rows]


@dataclass(frozen=True)
class TariffPage:
    period: str
    state: tariff_rules.TariffState
    current: Tariff | None
    pending: Tariff | None
    usage: budget.UsageState
    tariffs: list[Tariff]
    use: channels.ChannelUse  # what ``usage.used`` went to, as the dashboard says


def tariff_page(engine: Engine, account_id: int, period: str) -> TariffPage:
    with db.read(engine) as conn:
        state = tariff_rules.tariff_state(conn, account_id, period)
        usage = budget.usage_state(conn, account_id, period)
        tariffs = offered_tariffs(conn)
        use = channels.channel_use(conn, account_id, period)
    by_code = {item.code: item for item in tariffs}
    return TariffPage(
        period,
        state,
        by_code.get(state.code),
        by_code.get(state.pending_code or ""),
        usage,
        tariffs,
        use,
    )


def paused_until(engine: Engine, account_id: int, period: str, zone: ZoneInfo) -> date | None:
    """While ``period``'s budget is used up, the day the account's surveys
    ask again (the next period's first); None while there is room. The
    widget and link pages close by the same comparison (``Offer``)."""
    with db.read(engine) as conn:
        usage = budget.usage_state(conn, account_id, period)
    if usage.remaining > 0:
        return None
    return budget.period_start(budget.next_period(period), zone).date()


@dataclass(frozen=True)
class TariffChange:
    name: str
    before: tariff_rules.TariffState
    after: tariff_rules.TariffState


def change_tariff(engine: Engine, account_id: int, code: str, period: str) -> TariffChange:
    """Upgrade at once or schedule a downgrade (see ``budget.change_tariff``);
    raises ``budget.UnknownTariff``."""
    with db.write(engine) as conn:
        before = tariff_rules.tariff_state(conn, account_id, period)
        after = tariff_rules.change_tariff(conn, account_id, code, period)
        names = {item.code: item.name for item in offered_tariffs(conn)}
    return TariffChange(names.get(code, code), before, after)


@dataclass(frozen=True)
class TariffPreview:
    """What the confirmation page says before a tariff changes: from which
    day the chosen tariff's budget applies, and what it replaces."""

    current: Tariff
    chosen: Tariff
    at_once: bool
    starts: date
    dropped: Tariff | None  # a scheduled downgrade that an upgrade drops

    @property
    def unchanged(self) -> bool:
        return self.chosen.code == self.current.code


def tariff_preview(
    engine: Engine, account_id: int, code: str, period: str, zone: ZoneInfo
) -> TariffPreview:
    """Raises ``budget.UnknownTariff``."""
    with db.read(engine) as conn:
        plan = tariff_rules.plan_change(conn, account_id, code, period)
        by_code = {item.code: item for item in offered_tariffs(conn)}
    current = plan.current
    pending = by_code.get(current.pending_code or "")
    return TariffPreview(
        by_code.get(current.code, Tariff(current.code, current.code, current.budget)),
        by_code[code],
        plan.at_once,
        budget.period_start(plan.applies_from, zone).date(),
        pending if plan.at_once and pending is not None and pending.code != code else None,
    )


def cancel_pending(engine: Engine, account_id: int) -> None:
    with db.write(engine) as conn:
        tariff_rules.cancel_pending(conn, account_id)
