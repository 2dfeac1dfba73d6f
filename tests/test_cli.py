"""The nps-beacon command: JSON where it creates things, exit 2 on bad input."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.cli import main as cli
from app.platform.settings import Settings
from tests.conftest import count_responses
from tests.servers import free_port


@pytest.fixture(autouse=True)
def _env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", settings.secret_keys[0])
    monkeypatch.setenv("PUBLIC_URL", "https://feedback.example")


def _run(capsys: pytest.CaptureFixture[str], command: str) -> Any:
    """Run ``nps-beacon COMMAND`` (split like a shell would) and read its JSON."""
    code = cli(shlex.split(command))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _refused(capsys: pytest.CaptureFixture[str], command: str) -> str:
    assert cli(shlex.split(command)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _account(capsys: pytest.CaptureFixture[str]) -> int:
    made = _run(capsys, "account create --name A --email a@b.de --password 'long enough pw'")
    return int(made["account_id"])


def test_account_and_survey_creation_print_json_that_works(
    capsys: pytest.CaptureFixture[str], client: TestClient, engine: Engine
) -> None:
    account = _run(
        capsys,
        "account create --name Bakery --email Owner@Bakery.DE --password 'long enough secret'"
        " --tariff basic",
    )
    assert account["tariff"] == "basic"
    account_id = account["account_id"]
    _run(
        capsys,
        f"admin create --account {account_id} --email second@bakery.de"
        " --password 'another long secret'",
    )
    survey = _run(
        capsys,
        f"survey create --account {account_id} --kind csat --question 'Wie war Ihr Einkauf?'"
        " --language de --origin https://Bakery.de/ --origin http://localhost:3000",
    )
    assert set(survey) == {"survey_id", "embed_key", "link_url", "snippet"}
    assert survey["link_url"].startswith("https://feedback.example/s/")
    assert survey["snippet"] == (
        f'<script src="https://feedback.example/widget.js" data-survey="{survey["embed_key"]}"'
        " async></script>"
    )

    config = client.get(
        f"/api/v1/widget/{survey['embed_key']}", headers={"origin": "https://bakery.de"}
    ).json()
    assert config["show"] is True
    assert config["survey"]["question"] == "Wie war Ihr Einkauf?"
    assert config["survey"]["language"] == "de"
    answer = client.post(
        "/api/v1/responses",
        json={"display_token": config["display_token"], "score": 4},
        headers={"origin": "http://localhost:3000"},
    )
    assert answer.status_code == 201
    assert answer.json()["segment"] == "positive"
    assert count_responses(engine) == 1


def test_tariffs_can_be_listed_and_changed(capsys: pytest.CaptureFixture[str]) -> None:
    codes = [row["code"] for row in _run(capsys, "tariff list")]
    assert codes == ["free", "basic", "pro", "business"]
    assert _run(capsys, "tariff set --code free --budget 100") == {
        "code": "free",
        "name": "Free",
        "monthly_budget": 100,
    }
    agency = _run(capsys, "tariff set --code agency --name Agency --budget 20000")
    assert agency["name"] == "Agency"
    budgets = {row["code"]: row["monthly_budget"] for row in _run(capsys, "tariff list")}
    assert budgets["free"] == 100
    assert budgets["agency"] == 20000


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("account create --name X --email nope --password 'long enough pw'",
         "not an email address"),
        ("account create --name X --email a@b.de --password short", "at least 10 characters"),
        ("account create --name X --email a@b.de --password 'long enough pw' --tariff gold",
         "unknown tariff"),
        ("survey create --account 42 --kind nps --question Q", "no account with id 42"),
        ("tariff set --code free --budget -1", "0 or more"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], command: str, message: str
) -> None:
    assert message in _refused(capsys, command)


def test_a_second_admin_with_the_same_email_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    account_id = _account(capsys)
    err = _refused(
        capsys, f"admin create --account {account_id} --email A@B.de --password 'long enough pw'"
    )
    assert "exists already" in err


def test_bad_origin_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    account_id = _account(capsys)
    err = _refused(
        capsys,
        f"survey create --account {account_id} --kind nps --question Q --origin shop.example",
    )
    assert "not an origin" in err


def test_production_without_keys_refuses_to_serve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEYS")
    assert "SECRET_KEYS" in _refused(capsys, "serve")


@pytest.mark.server
def test_demo_seeds_once_prints_the_login_and_serves(tmp_path: Path) -> None:
    """`nps-beacon demo` as a new user runs it: in an empty directory, twice."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEYS", "PUBLIC_URL"}
    }
    outputs = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "demo", "--port", str(port)],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["database"] == "ok"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            out, _ = process.communicate(timeout=15)
        outputs.append(out.decode())
    assert (tmp_path / "var" / "nps-beacon.sqlite3").exists()
    for out in outputs:
        assert "demo@example.com" in out
        assert "/admin" in out
        assert "data-survey=" in out
    password = (tmp_path / "var" / "demo_password").read_text().strip()
    assert all(password in out for out in outputs)
    # An invitation a newcomer can open: sent to the outbox once, its path printed both times.
    paths = {
        line.split("e-mail:", 1)[1].strip()
        for out in outputs
        for line in out.splitlines()
        if "e-mail:" in line
    }
    outbox = tmp_path / "var" / "outbox"
    assert paths == {str(path) for path in outbox.iterdir()} and len(paths) == 1
    message = message_from_bytes(Path(paths.pop()).read_bytes(), policy=policy.default)
    assert "customer@example.com" in str(message["To"]) and message["List-Unsubscribe"]


def test_apikey_create_prints_a_key_that_is_stored_only_as_a_hash(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    account_id = _account(capsys)
    made = _run(capsys, f"apikey create --account {account_id} --name 'Shop sync'")
    assert set(made) == {"id", "account_id", "name", "key"}
    assert made["name"] == "Shop sync" and made["key"].startswith("nbk_")
    from app.accounts import api_keys
    from app.platform import db

    with db.read(engine) as conn:
        stored = conn.execute(text("SELECT key_hash, prefix FROM api_key")).one()
    assert made["key"] not in stored and made["key"].startswith(stored.prefix)
    found = api_keys.authenticate(engine, made["key"], datetime.now(UTC))
    assert found is not None and found.account_id == account_id
    assert "no account with id 999" in _refused(capsys, "apikey create --account 999 --name X")
    assert "needs a name" in _refused(capsys, f"apikey create --account {account_id} --name ' '")
