"""Tariffs: the ones on offer, an account's in force and the next, and changing
it (upgrades at once, downgrades from the next period)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from app.budget.rule import UnknownAccount, code_in_force, next_period
from app.platform.db import insert as insert_for
from app.platform.models import account_table as account
from app.platform.models import tariff_table as tariff

DEFAULT_TARIFFS = (
    ("free", "Free", 50),
    ("basic", "Basic", 500),
    ("pro", "Pro", 5_000),
    ("business", "Business", 50_000),
)


class UnknownTariff(LookupError):
    def __str__(self) -> str:
        return f"unknown tariff {self.args[0]!r}"


def list_tariffs(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(tariff).order_by(tariff.c.monthly_budget, tariff.c.code))
    return [dict(row) for row in rows.mappings()]


def set_tariff(conn: Connection, code: str, budget: int, name: str | None) -> dict[str, Any]:
    """Create the tariff or change its budget (and its name, when given)."""
    statement = (
        insert_for(conn, tariff)
        .values(code=code, name=name or code.title(), monthly_budget=budget)
        .on_conflict_do_update(
            index_elements=[tariff.c.code],
            set_={"monthly_budget": budget, **({"name": name} if name else {})},
        )
        .returning(*tariff.c)
    )
    return dict(conn.execute(statement).mappings().one())


@dataclass(frozen=True)
class TariffState:
    code: str
    budget: int
    pending_code: str | None
    pending_from: str | None


def tariff_state(conn: Connection, account_id: int, period: str) -> TariffState:
    """The tariff in force for ``period`` and any downgrade still waiting."""
    row = conn.execute(
        select(
            account.c.pending_tariff_code,
            account.c.pending_from,
            code_in_force(period).label("code"),
            tariff.c.monthly_budget,
        )
        .select_from(account.join(tariff, tariff.c.code == code_in_force(period)))
        .where(account.c.id == account_id)
    ).first()
    if row is None:
        raise UnknownAccount(account_id)
    waiting = row.pending_from is not None and row.pending_from > period
    return TariffState(
        row.code,
        row.monthly_budget,
        row.pending_tariff_code if waiting else None,
        row.pending_from if waiting else None,
    )


def _settle(conn: Connection, account_id: int, period: str) -> None:
    """Make a downgrade whose period has begun the account's tariff."""
    conn.execute(
        update(account)
        .where(account.c.id == account_id, account.c.pending_from <= period)
        .values(
            tariff_code=account.c.pending_tariff_code, pending_tariff_code=None, pending_from=None
        )
    )


@dataclass(frozen=True)
class TariffPlan:
    """What choosing a tariff in ``period`` would do: the tariff in force, the
    chosen one, and the period from which the chosen one's budget applies."""

    period: str
    current: TariffState
    code: str
    budget: int
    applies_from: str

    @property
    def at_once(self) -> bool:
        return self.applies_from == self.period


def plan_change(conn: Connection, account_id: int, code: str, period: str) -> TariffPlan:
    """The rule, read without writing: upgrades (a budget at least as big) and
    the current tariff itself apply at once, downgrades from the next period."""
    budget = conn.execute(
        select(tariff.c.monthly_budget).where(tariff.c.code == code)
    ).scalar_one_or_none()
    if budget is None:
        raise UnknownTariff(code)
    current = tariff_state(conn, account_id, period)
    at_once = code == current.code or budget >= current.budget
    return TariffPlan(period, current, code, budget, period if at_once else next_period(period))


def change_tariff(conn: Connection, account_id: int, code: str, period: str) -> TariffState:
    """Apply ``plan_change``: at once (dropping any pending downgrade), or as
    a downgrade waiting for the next period."""
    _settle(conn, account_id, period)
    plan = plan_change(conn, account_id, code, period)
    if plan.at_once:
        values = {"tariff_code": code, "pending_tariff_code": None, "pending_from": None}
    else:
        values = {"pending_tariff_code": code, "pending_from": plan.applies_from}
    conn.execute(update(account).where(account.c.id == account_id).values(**values))
    return tariff_state(conn, account_id, period)


def cancel_pending(conn: Connection, account_id: int) -> None:
    conn.execute(
        update(account)
        .where(account.c.id == account_id)
        .values(pending_tariff_code=None, pending_from=None)
    )
