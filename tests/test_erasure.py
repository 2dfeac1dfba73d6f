"""Privacy operations through the command line: `erase` takes one address's
data out of an account, `retention` clears what is older than its period."""

from __future__ import annotations

import json
import shlex
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, make_url, select, text
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from app.cli import main as cli
from app.invitations import record_in, records
from app.invitations.records import Source
from app.platform import db
from app.platform.mail import OutboxTransport
from app.platform.settings import Settings
from tests.admin_helpers import csrf_from, login
from tests.conftest import SECRET, seed
from tests.test_invitations import SIGNER, _answer

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
OWNER = "owner@shop.example"
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SECRET_KEYS", SECRET)


def _run(capsys: pytest.CaptureFixture[str], command: str) -> dict[str, object]:
    code = cli(shlex.split(command))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return dict(json.loads(captured.out))


def _invite(engine: Engine, account_id: int, survey_id: int, email: str, when: datetime) -> int:
    wanted = record_in.parse({"survey_id": survey_id, "email": email, "name": "Ann Smith"}, when)
    outcome = records.accept(engine, account_id, wanted, Source("api", "Shop"), when, UTC_ZONE)
    assert outcome.accepted, outcome
    return int(_all(engine, f"SELECT id FROM invitation WHERE record_id = {outcome.id}")[0][0])


def _all(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with db.read(engine) as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_erase_removes_one_address_everywhere_and_leaves_the_rest(
    engine: Engine, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine, tariff="pro")
    other = seed(engine, tariff="pro")
    ann = _invite(engine, shop.account_id, shop.survey_id, "Ann@Example.com", NOW)
    bob = _invite(engine, shop.account_id, shop.survey_id, "bob@example.com", NOW)
    # The same address in another account is that account's business.
    _invite(engine, other.account_id, other.survey_id, "ann@example.com", NOW)
    _answer(client, SIGNER.invitation_key(ann), 3)
    _answer(client, SIGNER.invitation_key(bob), 9)
    used_before = _all(engine, f"SELECT used FROM usage WHERE account_id = {shop.account_id}")
    with db.write(engine) as conn:
        # A reply the admin sent Ann from the inbox, and an internal note on her answer.
        conn.execute(
            text(
                "INSERT INTO inbox_mail (account_id, response_id, kind, to_email, subject, body,"
                " language, status, next_attempt_at, attempts, created_at) SELECT :a, id,"
                " 'reply', 'ann@example.com', 'Sorry', 'We are sorry, Ann.', 'en', 'sent',"
                " created_at, 1, created_at FROM response WHERE score = 3"
            ),
            {"a": shop.account_id},
        )
        conn.execute(
            text(
                "INSERT INTO inbox_note (account_id, response_id, kind, body, created_at)"
                " SELECT :a, id, 'note', 'Called Ann', created_at FROM response WHERE score = 3"
            ),
            {"a": shop.account_id},
        )

    erased = _run(capsys, f"erase --account {shop.account_id} --email ANN@example.com")

    assert erased == {
        "account_id": shop.account_id,
        "responses": 1,
        "invitations": 1,
        "records": 1,
        "uploaded_rows": 0,
        "messages": 1,
        "refused_records": 0,
        "suppressed": False,
        "outbox_files": 0,
    }
    assert _all(engine, "SELECT score FROM response ORDER BY id") == [(9,)]
    assert _all(engine, "SELECT count(*) FROM inbox_mail") == [(0,)]
    assert _all(engine, "SELECT count(*) FROM inbox_note") == [(0,)]
    emails = _all(engine, "SELECT account_id, email FROM recipient ORDER BY id")
    assert emails == [(shop.account_id, "bob@example.com"), (other.account_id, "ann@example.com")]
    assert len(_all(engine, "SELECT id FROM invitation")) == 2
    # What was counted was sent: erasing gives no budget back.
    assert _all(engine, f"SELECT used FROM usage WHERE account_id = {shop.account_id}") == (
        used_before
    )


def test_an_unsubscribed_address_stays_suppressed_with_nothing_else_kept(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine, tariff="pro")
    _invite(engine, shop.account_id, shop.survey_id, "ann@example.com", NOW)
    with db.write(engine) as conn:
        conn.execute(text("UPDATE recipient SET unsubscribed_at = created_at"))

    erased = _run(capsys, f"erase --account {shop.account_id} --email ann@example.com")

    assert erased["suppressed"] is True and erased["records"] == 1
    assert _all(engine, "SELECT email, name, unsubscribed_at IS NOT NULL FROM recipient") == [
        ("ann@example.com", None, True)
    ]
    # The next record for the address is still refused.
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": "ann@example.com"}, NOW)
    outcome = records.accept(engine, shop.account_id, wanted, Source("api", "S"), NOW, UTC_ZONE)
    assert outcome.code == "unsubscribed"


def test_erase_refuses_an_unknown_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["erase", "--account", "999", "--email", "a@example.com"]) == 2
    assert "no account" in capsys.readouterr().err


def test_retention_clears_old_comments_and_recipients_but_keeps_scores(
    engine: Engine, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine, tariff="pro")
    # The command runs on the real clock, so this test's times are set from it.
    today = datetime.now(UTC)
    old = _invite(engine, shop.account_id, shop.survey_id, "old@example.com", today)
    recent = _invite(engine, shop.account_id, shop.survey_id, "new@example.com", today)
    for invitation_id in (old, recent):
        page = _answer(client, SIGNER.invitation_key(invitation_id), 2)
        assert page
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE response SET comment = 'slow delivery', created_at = :t"), {"t": today}
        )
        # Seven months pass for the first invitation, its record and its answer.
        long_ago = today - timedelta(days=214)
        conn.execute(
            text("UPDATE invitation SET created_at = :t WHERE id = :i"), {"t": long_ago, "i": old}
        )
        conn.execute(
            text(
                "UPDATE record SET received_at = :t WHERE id = "
                "(SELECT record_id FROM invitation WHERE id = :i)"
            ),
            {"t": long_ago, "i": old},
        )
        conn.execute(
            text("UPDATE recipient SET created_at = :t WHERE email = 'old@example.com'"),
            {"t": long_ago},
        )
        conn.execute(
            text("UPDATE response SET created_at = :t WHERE invitation_id = :i"),
            {"t": long_ago, "i": old},
        )

    done = _run(capsys, "retention --months 6")

    assert done == {
        "months": 6,
        "comments": 1,
        "invitations": 1,
        "records": 1,
        "recipients": 1,
        "uploads": 0,
        "refused_records": 0,
        "notes": 0,
    }
    rows = _all(engine, "SELECT score, comment, invitation_id FROM response ORDER BY id")
    assert rows == [(2, None, None), (2, "slow delivery", recent)]
    assert _all(engine, "SELECT email FROM recipient") == [("new@example.com",)]
    # Nothing more is old enough the second time.
    again = _run(capsys, "retention --months 6")
    assert again["comments"] == again["invitations"] == again["recipients"] == 0


def test_retention_without_a_period_says_how_to_set_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(["retention"]) == 2
    assert "RETENTION_MONTHS" in capsys.readouterr().err


def test_the_worker_thread_applies_retention_until_stopped(engine: Engine) -> None:
    import threading

    from app.privacy import erasure

    shop = seed(engine, tariff="pro")
    today = datetime.now(UTC)
    _invite(engine, shop.account_id, shop.survey_id, "old@example.com", today)
    with db.write(engine) as conn:
        long_ago = today - timedelta(days=400)
        conn.execute(
            text("UPDATE invitation SET status = 'sent', created_at = :t"), {"t": long_ago}
        )
        conn.execute(text("UPDATE record SET received_at = :t"), {"t": long_ago})
        conn.execute(text("UPDATE recipient SET created_at = :t"), {"t": long_ago})

    stop = threading.Event()
    assert erasure.keep_retention(engine, 0, stop) is None
    thread = erasure.keep_retention(engine, 12, stop, every=0.05)
    assert thread is not None
    deadline = time.monotonic() + 10
    while _all(engine, "SELECT count(*) FROM recipient") != [(0,)]:
        assert time.monotonic() < deadline, "retention never ran"
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


# -- what lies beside the tables ---------------------------------------------------


def _sqlite_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as they lie on disk."""
    log = path.with_name(path.name + "-wal")
    return path.read_bytes() + (log.read_bytes() if log.exists() else b"")


def test_an_erased_address_leaves_no_bytes_in_the_sqlite_files(
    engine: Engine, settings: Settings, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    if not settings.db_url.startswith("sqlite"):
        pytest.skip("SQLite's own files")
    path = Path(str(make_url(settings.db_url).database))
    shop = seed(engine, tariff="pro")
    gone = "zelda.quist@example.com"
    wanted = record_in.parse(
        {
            "survey_id": shop.survey_id,
            "email": gone,
            "name": "Zelda Quist",
            "properties": {"note": "quince-jam-order"},
        },
        NOW,
    )
    outcome = records.accept(engine, shop.account_id, wanted, Source("api", "S"), NOW, UTC_ZONE)
    invitation_id = _all(engine, f"SELECT id FROM invitation WHERE record_id = {outcome.id}")[0][0]
    assert _answer(client, SIGNER.invitation_key(int(str(invitation_id))), 2)
    # The service keeps the file open, as a running server does.
    held = sqlite3.connect(path)
    try:
        # Some of it reached the file itself (SQLite checkpoints now and then),
        # some is in the log only.
        assert held.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0
        _invite(engine, shop.account_id, shop.survey_id, "bob@example.com", NOW)
        assert held.execute("SELECT count(*) FROM recipient").fetchone() == (2,)
        before = _sqlite_bytes(path)
        assert gone.encode() in before and b"Zelda Quist" in before  # the control

        _run(capsys, f"erase --account {shop.account_id} --email {gone}")

        after = _sqlite_bytes(path)
        for trace in (gone.encode(), b"Zelda Quist", b"quince-jam-order"):
            assert trace not in after, trace
        assert b"bob@example.com" in after
        assert held.execute("SELECT email FROM recipient").fetchall() == [("bob@example.com",)]
    finally:
        held.close()


def test_erase_removes_the_development_outboxs_messages_naming_the_address(
    engine: Engine,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(settings.var_dir.parent)  # var/ (the outbox) is relative to the directory
    monkeypatch.delenv("SMTP_URL", raising=False)
    shop = seed(engine, tariff="pro")
    for email in ("Ann.Lee@Example.com", "joann.lee@example.com", "bob@example.com"):
        _invite(engine, shop.account_id, shop.survey_id, email, NOW)
    assert _run(capsys, "worker --once")["sent"] == 3
    outbox = settings.var_dir / "outbox"
    # A message that names her only in its body, base64-encoded.
    note = EmailMessage()
    note["Message-ID"] = "<note-1@shop.example>"
    note["To"] = "owner@shop.example"
    note.set_content("A detractor: ann.lee@EXAMPLE.com \u2014 call back.", cte="base64")
    OutboxTransport(outbox).send_batch([note])
    assert len(list(outbox.glob("*.eml"))) == 4

    erased = _run(capsys, f"erase --account {shop.account_id} --email ANN.LEE@example.COM")

    left = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.iterdir()]
    assert sorted(message["To"].addresses[0].addr_spec for message in left) == [
        "bob@example.com",
        "joann.lee@example.com",
    ]
    assert erased["outbox_files"] == 2

    # A domain written in Unicode names the same mailbox as its ASCII form.
    idn = EmailMessage()
    idn["Message-ID"] = "<note-2@shop.example>"
    idn["To"] = "Una <una@xn--bcher-kva.de>"
    idn.set_content("Thank you.")
    OutboxTransport(outbox).send_batch([idn])
    erased = _run(capsys, f"erase --account {shop.account_id} --email UNA@B\u00fccher.de")
    assert erased["outbox_files"] == 1
    assert len(list(outbox.glob("*.eml"))) == 2


PHONE = "+49 170 5550123"
NOTE = f"Called Ann Smith on {PHONE}, she wants a refund"
REPLY = f"Dear Ann Smith, we will call you on {PHONE} about the refund."
QUERY = "?email=ann%40example.com&order=991"
PAGE = "https://shop.example/checkout/done"


def _everything(engine: Engine) -> str:
    """Every value of every table, as one text to search."""
    with db.read(engine) as conn:
        return "\n".join(
            repr(tuple(row))
            for table in SQLModel.metadata.sorted_tables
            for row in conn.execute(select(table))
        )


def _webhook_endpoint(engine: Engine, account_id: int) -> None:
    """An endpoint that wants every inbox change and answer: their texts go to its outbox."""
    with db.write(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_endpoint (account_id, url, events, secret, active,"
                " failed_in_a_row, created_at) VALUES (:a, 'https://hooks.example/in',"
                " ',inbox.updated,response.created,', 'whsec_test', :yes, 0, :t)"
            ),
            {"a": account_id, "yes": True, "t": datetime.now(UTC)},
        )


def test_retention_takes_notes_and_replies_with_the_comment_and_keeps_no_page_query(
    engine: Engine, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = seed(engine, tariff="pro", email=OWNER)
    _webhook_endpoint(engine, shop.account_id)
    # A widget answer and an owner's test answer, sent from a page whose address names Ann.
    for key in (SIGNER.embed_key(shop.public_id), SIGNER.test_embed_key(shop.public_id)):
        # A forged Origin header is a page address too, kept as the last contact.
        config = client.get(f"/api/v1/widget/{key}", headers={"Origin": PAGE + QUERY}).json()
        body = {"display_token": config["display_token"], "score": 3, "page_url": PAGE + QUERY}
        answer = client.post("/api/v1/responses", json={**body, "comment": "Too slow"})
        assert answer.status_code == 201, answer.text
    # An e-mail answer: a note on it, and a reply sent to Ann.
    invitation_id = _invite(engine, shop.account_id, shop.survey_id, "ann@example.com", NOW)
    _answer(client, SIGNER.invitation_key(invitation_id), 2)
    login(client, OWNER)
    items = [row[0] for row in _all(engine, "SELECT id FROM response ORDER BY id")]
    token = csrf_from(client.get(f"/admin/inbox/{items[0]}").text)
    for item in items:
        noted = client.post(f"/admin/inbox/{item}/notes", data={"csrf_token": token, "note": NOTE})
        assert noted.status_code in (200, 303), noted.text
    reply = {"csrf_token": token, "subject": "Your refund", "reply": REPLY}
    assert client.post(f"/admin/inbox/{items[1]}/reply", data=reply).status_code in (200, 303)
    assert PHONE in _everything(engine)
    assert _all(engine, "SELECT page_url FROM response") == [(PAGE,), (None,)]
    assert _all(engine, "SELECT page_url FROM test_response") == [(PAGE,)]
    # Sixty days pass; the reply and the webhook messages went out meanwhile.
    long_ago = datetime.now(UTC) - timedelta(days=60)
    with db.write(engine) as conn:
        for table in ("response", "test_response", "inbox_note", "inbox_mail", "webhook_message"):
            conn.execute(text(f"UPDATE {table} SET created_at = :t"), {"t": long_ago})
        conn.execute(text("UPDATE inbox_mail SET status = 'sent'"))
        conn.execute(text("UPDATE webhook_message SET status = 'delivered'"))

    done = _run(capsys, "retention --months 1")

    stored = _everything(engine)
    assert PHONE not in stored and "Ann Smith" not in stored
    assert "ann%40example.com" not in stored and "order=991" not in stored
    assert done["notes"] == 3  # two notes and the reply's record
    assert _all(engine, "SELECT count(*) FROM inbox_note") == [(0,)]
    # Scores stay for the figures.
    assert _all(engine, "SELECT score, comment FROM response ORDER BY id") == [(3, None), (2, None)]
