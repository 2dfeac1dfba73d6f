"""Billing periods in the billing time zone, and tariff changes against the budget rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.budget import rule as budget
from app.cli import main as cli
from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from tests.conftest import Clock, count_responses, expire_caches, seed, set_budget, usage_row

BERLIN = ZoneInfo("Europe/Berlin")


def _post(client: TestClient, token: str, score: int = 9) -> int:
    answer = client.post("/api/v1/responses", json={"display_token": token, "score": score})
    return answer.status_code


def _submit(client: TestClient, embed_key: str, score: int = 9) -> int:
    body = client.get(f"/api/v1/widget/{embed_key}").json()
    if not body["show"]:
        return -1
    return client.post(
        "/api/v1/responses", json={"display_token": body["display_token"], "score": score}
    ).status_code


def test_submissions_either_side_of_midnight_fall_into_different_months(
    settings: Settings, engine: Engine
) -> None:
    shop = seed(engine)
    clock = Clock(datetime(2026, 5, 31, 23, 59, 59, tzinfo=BERLIN))
    berlin = settings.replace(billing_timezone="Europe/Berlin")
    with TestClient(build_app(berlin, clock=clock, engine=engine)) as client:
        assert _submit(client, shop.embed_key) == 201
        clock.now = datetime(2026, 6, 1, 0, 0, 0, tzinfo=BERLIN)
        assert _submit(client, shop.embed_key) == 201
    assert usage_row(engine, shop.account_id, "2026-05") == (1, 0)
    assert usage_row(engine, shop.account_id, "2026-06") == (1, 0)
    with db.read(engine) as conn:
        periods = conn.execute(text("SELECT period FROM response ORDER BY id")).scalars().all()
    assert periods == ["2026-05", "2026-06"]


def test_period_is_computed_in_the_billing_time_zone() -> None:
    instant = datetime(2026, 5, 31, 22, 30, tzinfo=UTC)  # already June in Berlin
    assert budget.period_of(instant, ZoneInfo("UTC")) == "2026-05"
    assert budget.period_of(instant, BERLIN) == "2026-06"
    assert budget.next_period("2026-12") == "2027-01"
    assert budget.period_start("2026-03", BERLIN) == datetime(2026, 3, 1, tzinfo=BERLIN)


def test_a_new_month_brings_a_fresh_budget(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    assert _submit(client, shop.embed_key) == 201
    assert _submit(client, shop.embed_key) == -1  # hidden: exhausted
    clock.now = datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC)
    assert _submit(client, shop.embed_key) == 201
    assert usage_row(engine, shop.account_id, "2026-05") == (1, 0)
    assert usage_row(engine, shop.account_id, "2026-06") == (1, 0)


def test_limit_zero_refuses_everything(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 0)
    assert client.get(f"/api/v1/widget/{shop.embed_key}").json()["reason"] == "budget_exhausted"
    from app.platform.signing import Signer
    from tests.conftest import SECRET

    token = Signer((SECRET,), 60).display_token(shop.survey_id, "widget")
    answer = client.post("/api/v1/responses", json={"display_token": token, "score": 5})
    assert answer.status_code == 402
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, "2026-05") == (0, 1)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert cli(list(args)) == 0
    return dict(json.loads(capsys.readouterr().out))


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", settings.secret_keys[0])


def test_upgrade_raises_the_limit_at_once(
    cli_env: None, engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(datetime.now(UTC))
    period = budget.period_of(clock.now, settings.zone)
    shop = seed(engine)
    set_budget(engine, "free", 2)
    with TestClient(build_app(settings, clock=clock, engine=engine)) as client:
        spare = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
        assert [_submit(client, shop.embed_key) for _ in range(3)] == [201, 201, -1]
        assert _post(client, spare) == 402
        state = _cli(
            capsys, "account", "tariff", "--account", str(shop.account_id), "--tariff", "basic"
        )
        assert state["tariff"] == "basic"
        assert state["pending_tariff"] is None
        # The very next submission counts against the new limit...
        assert _post(client, spare) == 201
        # ...and the widget asks again once the config cache's second is over.
        expire_caches(client)
        assert _submit(client, shop.embed_key) == 201
    assert usage_row(engine, shop.account_id, period) == (4, 1)


def test_downgrade_applies_from_the_next_period_only(
    cli_env: None, engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(datetime.now(UTC))
    period = budget.period_of(clock.now, settings.zone)
    shop = seed(engine, tariff="basic")
    set_budget(engine, "free", 1)
    state = _cli(capsys, "account", "tariff", "--account", str(shop.account_id), "--tariff", "free")
    assert state == {
        "account_id": shop.account_id,
        "tariff": "basic",
        "budget": 500,
        "pending_tariff": "free",
        "pending_from": budget.next_period(period),
    }
    with TestClient(build_app(settings, clock=clock, engine=engine)) as client:
        # Still on basic this period: more than free's single survey.
        assert [_submit(client, shop.embed_key) for _ in range(3)] == [201, 201, 201]
        clock.now = budget.period_start(budget.next_period(period), settings.zone)
        assert [_submit(client, shop.embed_key) for _ in range(2)] == [201, -1]
    assert usage_row(engine, shop.account_id, period) == (3, 0)
    assert usage_row(engine, shop.account_id, budget.next_period(period)) == (1, 0)


def test_a_pending_downgrade_can_be_cancelled_and_an_upgrade_replaces_it(
    cli_env: None, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine, tariff="pro")
    account = str(shop.account_id)
    assert (
        _cli(capsys, "account", "tariff", "--account", account, "--tariff", "basic")[
            "pending_tariff"
        ]
        == "basic"
    )
    cancelled = _cli(capsys, "account", "tariff", "--account", account, "--cancel-pending")
    assert (cancelled["tariff"], cancelled["pending_tariff"]) == ("pro", None)
    _cli(capsys, "account", "tariff", "--account", account, "--tariff", "free")
    upgraded = _cli(capsys, "account", "tariff", "--account", account, "--tariff", "business")
    assert (upgraded["tariff"], upgraded["pending_tariff"]) == ("business", None)


def test_unknown_tariff_or_account_is_a_clear_error(
    cli_env: None, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine)
    assert cli(["account", "tariff", "--account", str(shop.account_id), "--tariff", "gold"]) == 2
    assert "unknown tariff 'gold'" in capsys.readouterr().err
    assert cli(["account", "tariff", "--account", "999", "--tariff", "pro"]) == 2
    assert "no account with id 999" in capsys.readouterr().err
