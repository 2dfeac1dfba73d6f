# ruff: noqa: RUF001  (the page writes a dash for a missing external id)
"""The admin's "Refused" tab through the ASGI client, on SQLite and PostgreSQL:
the records refused this month with address, external id, reason, source and
time, in the admin's language; its CSV download; paging; another account's
refusals never shown; the list kept only for the month, and erased."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, bindparam, text
from starlette.testclient import TestClient

from app import worker
from app.cli import main as cli
from app.platform import db
from app.platform.models import UTCDateTime
from app.platform.settings import Settings
from tests.admin_helpers import login, post_form
from tests.conftest import SECRET, Clock, seed, set_budget
from tests.smtp_server import SmtpServer
from tests.test_admin_records import count, upload, visible
from tests.test_inbox import rows, sender
from tests.test_records_api import Api, _problem

OWNER = "owner@shop.example"
OTHER = "other@competitor.example"


@pytest.fixture
def api(client: TestClient, engine: Engine) -> Api:
    shop = Api(client, engine, email=OWNER)
    set_budget(engine, "free", 1)
    return shop


def listed(page: str) -> list[str]:
    """Each row of the refused list as its visible text."""
    return [visible(row) for row in re.findall(r'<tr id="refused-\d+">(.*?)</tr>', page, re.S)]


def _refuse_one_of_each(api: Api, client: TestClient) -> None:
    """Ann accepted (the budget's one); then a refusal of each reason and source."""
    assert api.record(email="ann@example.com", external_id="o-1").status_code == 202
    _problem(api.record(email="bob@example.com", external_id="o-2"), 402, "budget_exhausted")
    _problem(api.record(email="ANN@example.com", external_id="o-3"), 409, "recently_surveyed")
    login(client, OWNER)
    manual = post_form(
        client,
        "/admin/records/new",
        "/admin/records/new",
        {"survey_id": str(api.shop.survey_id), "email": "cleo@example.com"},
    )
    assert manual.status_code == 303
    sent = upload(client, api.shop.survey_id, b"email;external_id\ndan@example.com;row-7\n")
    assert sent.status_code == 303


def test_the_refused_tab_lists_this_months_refusals(api: Api, client: TestClient) -> None:
    _refuse_one_of_each(api, client)

    page = client.get("/admin/records/refused")

    assert page.status_code == 200
    assert '<a href="/admin/records/refused" aria-current="page">Refused</a>' in page.text
    assert "4 records refused this month" in visible(page.text)
    assert "Records refused in May 2026" in page.text
    assert listed(page.text) == [
        "14 May 2026, 12:00 UTC dan@example.com row-7 the budget was used up CSV upload",
        "14 May 2026, 12:00 UTC cleo@example.com – the budget was used up By hand",
        "14 May 2026, 12:00 UTC ANN@example.com o-3 invited within the minimum interval API",
        "14 May 2026, 12:00 UTC bob@example.com o-2 the budget was used up API",
    ]
    # Nothing of the refusals is a record to send: Ann's one invitation stays alone.
    assert count(api.engine, "invitation") == 1

    post_form(client, "/admin/account", "/admin/account/language", {"language": "de"})
    german = client.get("/admin/records/refused").text
    assert ">Abgelehnt</a>" in german
    assert "innerhalb des Mindestabstands eingeladen" in german
    assert "das Budget war aufgebraucht" in german and "Von Hand" in german


def test_the_csv_holds_every_refusal_neutralised_in_the_admins_language(
    api: Api, client: TestClient
) -> None:
    assert api.record(email="ann@example.com").status_code == 202
    _problem(api.record(email="=1+1@example.com", external_id="-2+3"), 402, "budget_exhausted")
    _problem(api.record(email="ann@example.com", external_id="o;@x"), 409, "recently_surveyed")
    login(client, OWNER)
    post_form(client, "/admin/account", "/admin/account/language", {"language": "de"})

    download = client.get("/admin/records/refused.csv")

    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="refused-records-2026-05.csv"' in download.headers["content-disposition"]
    assert download.text.startswith(
        '\ufeff"refused_at","email","external_id","reason","source"\r\n'
    )
    table = list(csv.reader(io.StringIO(download.text.removeprefix("\ufeff"))))
    assert table[1:] == [
        [
            "2026-05-14T12:00:00+00:00",
            "'=1+1@example.com",
            "'-2+3",
            "das Budget war aufgebraucht",
            "API",
        ],
        [
            "2026-05-14T12:00:00+00:00",
            "ann@example.com",
            "o;'@x",  # a formula start after a cut is neutralised too
            "innerhalb des Mindestabstands eingeladen",
            "API",
        ],
    ]


def test_another_accounts_refusals_are_never_shown(
    api: Api, client: TestClient, engine: Engine
) -> None:
    rival = Api(client, engine, email=OTHER)
    set_budget(engine, "free", 0)
    _problem(api.record(email="mine@example.com"), 402, "budget_exhausted")
    _problem(rival.record(email="theirs@example.com"), 402, "budget_exhausted")

    login(client, OWNER)
    page = client.get("/admin/records/refused").text
    download = client.get("/admin/records/refused.csv").text

    assert "mine@example.com" in page and "mine@example.com" in download
    assert "theirs@example.com" not in page and "theirs@example.com" not in download
    assert "1 record refused this month" in visible(page)


def test_the_list_is_paged_and_an_empty_month_says_so(
    api: Api, client: TestClient, engine: Engine
) -> None:
    set_budget(engine, "free", 0)
    answer = api.batch(api.people(120))
    assert answer.status_code == 200
    assert {item["code"] for item in answer.json()["results"]} == {"budget_exhausted"}
    login(client, OWNER)

    first = client.get("/admin/records/refused").text
    last = client.get("/admin/records/refused?page=3").text
    beyond = client.get("/admin/records/refused?page=99").text

    assert "120 records refused this month" in visible(first)
    assert len(listed(first)) == 50 and "person119@example.com" in listed(first)[0]
    assert "Page 1 of 3" in visible(first) and 'href="?page=2" rel="next"' in first
    assert len(listed(last)) == 20 and "person0@example.com" in listed(last)[-1]
    assert listed(beyond) == listed(last)
    assert len(client.get("/admin/records/refused.csv").text.splitlines()) == 121

    seed(engine, email=OTHER)
    client.cookies.clear()
    login(client, OTHER)
    empty = client.get("/admin/records/refused").text
    assert "No record was refused this month." in empty
    assert "refused.csv" not in empty


def test_the_list_ends_with_the_month(
    api: Api, client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    set_budget(engine, "free", 0)
    _problem(api.record(email="may@example.com"), 402, "budget_exhausted")
    login(client, OWNER)
    assert "may@example.com" in client.get("/admin/records/refused").text

    clock.now = datetime(2026, 6, 1, 0, 5, tzinfo=UTC)
    # Not shown in June even before the worker has passed...
    assert "may@example.com" not in client.get("/admin/records/refused").text
    assert count(engine, "refused_record") == 1
    # ...and gone once it has.
    worker.run_pass(sender(engine, smtp_server, clock))
    assert count(engine, "refused_record") == 0


def test_erase_and_retention_delete_the_listed_refusals(
    api: Api,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_budget(engine, "free", 0)
    for address in ("ann@bücher.de", "bob@example.com"):
        _problem(api.record(email=address), 402, "budget_exhausted")
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", SECRET)

    def run(command: str) -> dict[str, object]:
        assert cli(shlex.split(command)) == 0
        return dict(json.loads(capsys.readouterr().out))

    erased = run(f"erase --account {api.shop.account_id} --email ANN@xn--bcher-kva.de")
    assert erased["refused_records"] == 1
    assert rows(engine, "SELECT email FROM refused_record") == [("bob@example.com",)]

    # Retention runs by the real clock: the refusal is made older than a month before it.
    old = text("UPDATE refused_record SET refused_at = :t").bindparams(
        bindparam("t", type_=UTCDateTime())
    )
    with db.write(engine) as conn:
        conn.execute(old, {"t": datetime(2020, 1, 1, tzinfo=UTC)})
    assert run("retention --months 1")["refused_records"] == 1
    assert count(engine, "refused_record") == 0
