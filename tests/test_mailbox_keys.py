"""One mailbox, however its address is spelled: the records API, one-click
unsubscribe, `nps-beacon erase` and the inbox's history compare the domain's
A-label and the local part NFC-normalised and case-folded."""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.accounts import accounts
from app.cli import main as cli
from app.platform import db
from app.platform.settings import Settings
from tests.admin_helpers import login
from tests.conftest import SECRET, Clock
from tests.test_inbox import EMAIL, T0, invite_and_answer, rows
from tests.test_invitations import SIGNER
from tests.test_records_api import Api, _count, _problem

NFC = unicodedata.normalize("NFC", "cécile@ex.test")
NFD = unicodedata.normalize("NFD", "cécile@ex.test")


@pytest.fixture
def api(client: TestClient, engine: Engine) -> Api:
    return Api(client, engine)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ann@bücher.de", "ann@xn--bcher-kva.de"),
        ("ann@xn--bcher-kva.de", "ANN@BÜCHER.DE"),
        (NFC, NFD),
        (NFD, "CÉCILE@EX.TEST"),
        ("dora@straße.de", "Dora@xn--strae-oqa.de"),
    ],
)
def test_a_second_spelling_of_one_mailbox_is_recently_surveyed(
    api: Api, engine: Engine, first: str, second: str
) -> None:
    assert NFC != NFD
    accepted = api.record(email=first)
    assert accepted.status_code == 202, accepted.text

    _problem(api.record(email=second), 409, "recently_surveyed")

    # One recipient, sent to as first given.
    assert rows(engine, "SELECT email FROM recipient") == [(first,)]
    assert _count(engine, "invitation") == 1


def test_a_domain_idna_refuses_is_a_clear_422(api: Api, engine: Engine) -> None:
    body = _problem(api.record(email="ann@bü_cher.de"), 422, "validation_error")
    assert "internationalised domain name" in json.dumps(body)
    assert _count(engine, "recipient") == 0
    # ASCII host names are taken as before, underscores and all.
    assert api.record(email="ann@mail_host.example").status_code == 202


def test_one_click_unsubscribe_suppresses_every_spelling(
    api: Api, client: TestClient, engine: Engine
) -> None:
    accepted = api.record(email="una@bücher.de")
    assert accepted.status_code == 202, accepted.text
    [(invitation_id,)] = rows(
        engine, "SELECT id FROM invitation WHERE record_id = :r", r=accepted.json()["id"]
    )

    one_click = client.post(
        f"/u/{SIGNER.invitation_key(invitation_id)}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200

    for spelling in ("una@xn--bcher-kva.de", "UNA@BÜCHER.de", "una@bu\u0308cher.de"):
        refused = _problem(api.record(email=spelling), 409, "unsubscribed")
        assert refused["id"]
    assert rows(engine, "SELECT count(*) FROM invitation WHERE status = 'scheduled'") == [(0,)]


def test_erase_takes_every_spelling_of_the_mailbox(
    api: Api,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert api.record(email="ann@bücher.de").status_code == 202
    assert api.record(email="bob@bücher.de").status_code == 202
    with db.write(engine) as conn:
        # A reply the admin sent, to the address as the inbox wrote it.
        conn.execute(
            text(
                "INSERT INTO inbox_mail (account_id, kind, to_email, subject, body, language,"
                " status, next_attempt_at, attempts, created_at) VALUES (:a, 'reply',"
                " 'Ann@XN--BCHER-KVA.DE', 'Sorry', 'Sorry, Ann.', 'en', 'sent',"
                " CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP)"
            ),
            {"a": api.shop.account_id},
        )
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", SECRET)

    code = cli(shlex.split(f"erase --account {api.shop.account_id} --email ANN@xn--bcher-kva.de"))

    out = capsys.readouterr()
    assert code == 0, out.err
    erased = json.loads(out.out)
    assert (erased["records"], erased["invitations"], erased["messages"]) == (1, 1, 1)
    assert rows(engine, "SELECT email FROM recipient") == [("bob@bücher.de",)]
    assert _count(engine, "inbox_mail") == 0


def test_the_inbox_history_joins_the_spellings_of_one_mailbox(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    from tests.conftest import seed

    shop = seed(engine, email=EMAIL)
    with db.write(engine) as conn:
        accounts.set_min_interval(conn, shop.account_id, 0)
    clock.now = T0 - timedelta(days=20)
    invite_and_answer(client, engine, shop, NFD, 9, "Lovely shoes", clock.now)
    clock.now = T0
    item = invite_and_answer(client, engine, shop, "Cécile@Ex.Test", 2, "Broken", clock.now)

    login(client, EMAIL)
    page = client.get(f"/admin/inbox/{item}").text
    history = re.search(r'<ol class="history" id="history">(.*?)</ol>', page, re.S)
    assert history, "no history beside the item"
    assert "Lovely shoes" in history.group(1)
