"""The account's name and sender name, and an admin's own name: edited on the
account page, and written into the From and To of invitations and inbox
replies as a real SMTP server receives them."""

from __future__ import annotations

from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app import worker
from app.accounts import accounts
from app.invitations import record_in, records
from app.invitations.records import Source
from app.platform import db
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import Clock, seed
from tests.smtp_server import SmtpServer
from tests.test_inbox import (
    EMAIL,
    MAIL_FROM,
    OTHER,
    T0,
    UTC_ZONE,
    inbox_messages,
    invite_and_answer,
    rows,
    sender,
)

ACCOUNT = "/admin/account"
NAMES = "/admin/account/names"
SHOP_NAME = "Bücherstube Müller"


def names(account: str = "Shop", sender_name: str = "", admin: str = "") -> dict[str, str]:
    return {"account_name": account, "sender_name": sender_name, "admin_name": admin}


def saved(engine: Engine, account_id: int) -> tuple[str, str | None]:
    ((name, sender_name),) = rows(
        engine, "SELECT name, sender_name FROM account WHERE id = :a", a=account_id
    )
    return name, sender_name


def raw_header(data: bytes, name: str) -> str:
    """A header as it went over the wire, unfolded."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ")
    start = f"{name.lower()}:"
    (line,) = [item for item in unfolded.split("\r\n") if item.lower().startswith(start)]
    return line.split(":", 1)[1].strip()


def address_of(message: EmailMessage, header: str) -> Address:
    (address,) = message[header].addresses
    return address


def test_the_account_page_saves_the_names_and_refuses_what_no_header_takes(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    other = seed(engine, email=OTHER)
    login(client, EMAIL)
    page = client.get(ACCOUNT).text
    assert 'id="account_name"' in page and 'value="Shop"' in page
    assert "noreply@localhost" in text_of(page, "sender_name-hint")

    done = post_form(client, ACCOUNT, NAMES, names(SHOP_NAME, f" {SHOP_NAME} ", "Jörg Weiß"))
    assert done.status_code == 303
    page = client.get(ACCOUNT).text
    assert f'value="{SHOP_NAME}"' in page and 'value="Jörg Weiß"' in page
    assert saved(engine, shop.account_id) == (SHOP_NAME, SHOP_NAME)
    # Only the logged-in admin's account changed.
    assert saved(engine, other.account_id) == ("Shop", None)

    bad = {
        "sender_name": ("Shop\r\nBcc: victim@example.com", "Please use one line"),
        "admin_name": ("Jörg\u2028Weiß", "Please use one line"),
        "account_name": ("", "Please fill this in."),
    }
    for field, (value, said) in bad.items():
        refused = post_form(client, ACCOUNT, NAMES, {**names(SHOP_NAME), field: value})
        assert refused.status_code == 422, field
        assert text_of(refused.text, f"{field}-error").startswith(said)
        assert 'aria-invalid="true"' in refused.text
    long = post_form(client, ACCOUNT, NAMES, names(SHOP_NAME, "x" * 101))
    assert long.status_code == 422
    assert text_of(long.text, "sender_name-error") == (
        "This has 101 characters; please use at most 100."
    )
    assert saved(engine, shop.account_id) == (SHOP_NAME, SHOP_NAME)

    # Without the form's token the change is refused, as every admin form's.
    forged = client.post(NAMES, data=names("Forged"), follow_redirects=False)
    assert forged.status_code == 403
    assert saved(engine, shop.account_id) == (SHOP_NAME, SHOP_NAME)
    # An empty sender name falls back to the account's name.
    assert post_form(client, ACCOUNT, NAMES, names("Corner Shop")).status_code == 303
    assert saved(engine, shop.account_id) == ("Corner Shop", None)


def test_an_invitation_comes_from_the_sender_name_at_the_mail_from_address(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    post_form(client, ACCOUNT, NAMES, names("Shop", SHOP_NAME))
    for email, name in (("ann@example.com", "Änne Schäfer"), ("bob@example.com", None)):
        wanted = record_in.parse({"survey_id": shop.survey_id, "email": email, "name": name}, T0)
        assert records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), T0, UTC_ZONE)
    clock.now = T0 + timedelta(minutes=1)
    assert worker.run_pass(sender(engine, smtp_server, clock)).sent == 2

    first, second = smtp_server.received
    assert first.mail_from == "feedback@shop.example"  # the envelope: MAIL_FROM's address
    # Non-ASCII names go over the wire as RFC 2047 encoded words, 7-bit clean.
    assert raw_header(first.data, "From") == (
        "=?utf-8?q?B=C3=BCcherstube_M=C3=BCller?= <feedback@shop.example>"
    )
    assert address_of(first.message, "From") == Address(SHOP_NAME, "feedback", "shop.example")
    assert address_of(first.message, "To") == Address("Änne Schäfer", "ann", "example.com")
    assert str(second.message["From"]) == f"{SHOP_NAME} <feedback@shop.example>"

    # Without a sender name, the account's name; the address never changes.
    post_form(client, ACCOUNT, NAMES, names("Corner Shop"))
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": "cy@example.com"}, T0)
    assert records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), T0, UTC_ZONE)
    assert worker.run_pass(sender(engine, smtp_server, clock)).sent == 1
    assert str(smtp_server.received[-1].message["From"]) == "Corner Shop <feedback@shop.example>"
    assert MAIL_FROM.endswith("<feedback@shop.example>")


def test_an_inbox_reply_comes_from_the_admins_name_to_the_customers_name(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    with db.write(engine) as conn:
        accounts.set_min_interval(conn, shop.account_id, 0)
    wanted = record_in.parse(
        {"survey_id": shop.survey_id, "email": "anna@example.com", "name": "Anna Schäfer"}, T0
    )
    assert records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), T0, UTC_ZONE)
    clock.now = T0
    item = invite_and_answer(client, engine, shop, "anna@example.com", 2, "Late", clock.now)
    login(client, EMAIL)
    post_form(client, ACCOUNT, NAMES, names("Shop", SHOP_NAME, "Jörg Weiß"))

    def reply(subject: str) -> None:
        token = csrf_from(client.get(f"/admin/inbox/{item}").text)
        sent = client.post(
            f"/admin/inbox/{item}/reply",
            data={"csrf_token": token, "subject": subject, "reply": "Sorry, Anna."},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text

    reply("From Jörg")
    # The admin's name cleared: the account's sender name signs the next reply.
    post_form(client, ACCOUNT, NAMES, names("Shop", SHOP_NAME, ""))
    reply("From the shop")
    clock.now = T0 + timedelta(minutes=1)
    assert worker.run_pass(sender(engine, smtp_server, clock)).inbox == 2

    by_subject = {str(m["Subject"]): m for m in inbox_messages(smtp_server)}
    personal, shop_reply = by_subject["From Jörg"], by_subject["From the shop"]
    raw = next(r.data for r in smtp_server.received if r.message["Subject"] == "From Jörg")
    assert raw_header(raw, "From") == "=?utf-8?q?J=C3=B6rg_Wei=C3=9F?= <feedback@shop.example>"
    assert raw_header(raw, "To") == "Anna =?utf-8?q?Sch=C3=A4fer?= <anna@example.com>"
    assert address_of(personal, "From") == Address("Jörg Weiß", "feedback", "shop.example")
    assert address_of(personal, "To") == Address("Anna Schäfer", "anna", "example.com")
    assert address_of(personal, "Reply-To").addr_spec == EMAIL
    assert address_of(shop_reply, "From") == Address(SHOP_NAME, "feedback", "shop.example")
    assert address_of(shop_reply, "To").display_name == "Anna Schäfer"
