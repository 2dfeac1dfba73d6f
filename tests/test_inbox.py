"""The inbox through the admin's pages (ASGI client) on real databases: which
responses it lists, filters and counts, status, assignee and notes with their
errors, tenant isolation, what happened before for an e-mail response, and
replies and detractor alerts delivered to a real SMTP server by the worker's
passes, once per response however many workers run."""

from __future__ import annotations

import html
import re
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text, update
from starlette.testclient import TestClient

from app.accounts import accounts
from app.inbox import items as inbox
from app.inbox import mail as inbox_mail
from app.inbox.alerts import COMMENT_WAIT
from app.invitations import record_in, records
from app.invitations.records import Source
from app.platform import db
from app.platform.db import create_db_engine
from app.platform.mail import SmtpTransport, parse_smtp_url
from app.platform.models import survey_table
from app.platform.outbox import Sender
from app.platform.settings import Settings
from app.platform.signing import Signer
from app.platform.urls import Urls
from app.surveys import model as surveys
from app.worker import run_pass
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import SECRET, Clock, Seeded, seed
from tests.smtp_server import SmtpServer

EMAIL = "owner@shop.example"
COLLEAGUE = "support@shop.example"
OTHER = "owner@competitor.example"
T0 = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
PUBLIC = "https://feedback.example"
MAIL_FROM = "Shop feedback <feedback@shop.example>"
SIGNER = Signer((SECRET,), 3600)


def answer(client: TestClient, embed_key: str, score: int, comment: str | None = None) -> int:
    """Show the widget and answer it, as a visitor does; the response's id."""
    token = client.get(f"/api/v1/widget/{embed_key}").json()["display_token"]
    body: dict[str, Any] = {"display_token": token, "score": score}
    if comment is not None:
        body["comment"] = comment
    sent = client.post("/api/v1/responses", json=body)
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


def add_admin(engine: Engine, account_id: int, email: str) -> int:
    with db.write(engine) as conn:
        return accounts.create_admin(conn, account_id, email, "correct horse battery")


def add_survey(engine: Engine, account_id: int, name: str, **options: Any) -> tuple[int, str]:
    with db.write(engine) as conn:
        survey_id, public_id = surveys.create_survey(
            conn, account_id, name=name, kind="nps", **options
        )
    return survey_id, SIGNER.embed_key(public_id)


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(text(sql), params).all())


def open_count(page: str) -> str:
    """The menu's count of open items."""
    found = re.search(r'id="inbox-open-count">.*?</span>([^<]+)</span>', page)
    assert found, "no open count in the menu"
    return found.group(1)


def listed(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="item-(\d+)"', page)]


def sender(engine: Engine, server: SmtpServer, clock: Clock) -> Sender:
    return Sender(
        engine=engine,
        transport=SmtpTransport(parse_smtp_url(server.url()), timeout=10),
        urls=Urls(PUBLIC, SIGNER),
        mail_from=MAIL_FROM,
        zone=UTC_ZONE,
        clock=clock,
    )


def inbox_messages(server: SmtpServer) -> list[EmailMessage]:
    messages = [item.message for item in server.received]
    return [m for m in messages if str(m["Message-ID"]).startswith("<inbox-")]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


# -- the list ------------------------------------------------------------------------


def test_the_inbox_lists_detractors_and_comments_with_counts_and_filters(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    colleague = add_admin(engine, shop.account_id, COLLEAGUE)
    detractor = answer(client, shop.embed_key, 3)
    praised = answer(client, shop.embed_key, 9, "Fast delivery")
    answer(client, shop.embed_key, 8)  # a passive without a comment needs nothing
    answer(client, shop.embed_key, 10)
    angry = answer(client, shop.embed_key, 0, "Never again")
    every_id, every_key = add_survey(engine, shop.account_id, "Support", inbox_rule="all")
    promoter = answer(client, every_key, 10)
    _quiet_id, quiet_key = add_survey(engine, shop.account_id, "Quiet", inbox_rule="none")
    answer(client, quiet_key, 1, "not listed: this survey's rule is none")
    only_id, only_key = add_survey(engine, shop.account_id, "Strict", inbox_rule="detractors")
    answer(client, only_key, 9, "not listed: detractors only")
    strict = answer(client, only_key, 6)

    login(client, EMAIL)
    page = client.get("/admin/inbox").text
    assert listed(page) == [strict, promoter, angry, praised, detractor]
    assert text_of(page, "inbox-total") == "5 items"
    assert text_of(page, "count-open") == "Open 5"
    assert open_count(page) == "5"  # in the menu, on every page
    assert open_count(client.get("/admin/surveys").text) == "5"
    assert "Never again" in page and "not listed" not in page

    by_segment = client.get("/admin/inbox", params={"segment": "detractor"}).text
    assert listed(by_segment) == [strict, angry, detractor]
    assert listed(client.get("/admin/inbox", params={"survey": every_id}).text) == [promoter]
    assert listed(client.get("/admin/inbox", params={"survey": only_id}).text) == [strict]

    # Work on two items: one in progress for the colleague, one done.
    token = csrf_from(page)
    for item, status, assignee in ((angry, "in_progress", str(colleague)), (praised, "done", "")):
        changed = client.post(
            f"/admin/inbox/{item}/state",
            data={"csrf_token": token, "status": status, "assignee": assignee},
            follow_redirects=False,
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == f"/admin/inbox/{item}"
    page = client.get("/admin/inbox").text
    assert [text_of(page, f"count-{name}") for name in inbox.STATUSES] == [
        "Open 3",
        "In progress 1",
        "Done 1",
    ]
    assert open_count(page) == "3"
    assert listed(client.get("/admin/inbox", params={"status": "done"}).text) == [praised]
    mine = client.get("/admin/inbox", params={"assignee": colleague}).text
    assert listed(mine) == [angry]
    unassigned = client.get("/admin/inbox", params={"assignee": "none", "status": "open"}).text
    assert listed(unassigned) == [strict, promoter, detractor]
    # Counts follow the other filters: detractors only.
    counted = client.get("/admin/inbox", params={"segment": "detractor"}).text
    assert text_of(counted, "count-open") == "Open 2"
    assert text_of(counted, "count-in_progress") == "In progress 1"
    # Values that are no choice are dropped, never a 500.
    odd = client.get(
        "/admin/inbox",
        params={"status": "lost", "assignee": "999999", "survey": "x", "segment": "<b>"},
    )
    assert odd.status_code == 200 and len(listed(odd.text)) == 5

    # Paged, newest first.
    first = inbox.list_items(engine, shop.account_id, inbox.Filters(), page=1, per_page=2)
    last = inbox.list_items(engine, shop.account_id, inbox.Filters(), page=3, per_page=2)
    assert (first.pages, first.total) == (3, 5)
    assert [row.id for row in first.items] == [strict, promoter]
    assert [row.id for row in last.items] == [detractor]


def test_changes_need_the_csrf_token_and_bad_input_gets_a_clear_error(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    other = seed(engine, email=OTHER)
    stranger = add_admin(engine, other.account_id, "stranger@competitor.example")
    item = answer(client, shop.embed_key, 2, "Slow")
    login(client, EMAIL)
    page = client.get(f"/admin/inbox/{item}").text
    assert text_of(page, "item-comment") == "Slow"
    token = csrf_from(page)

    forged = client.post(f"/admin/inbox/{item}/state", data={"status": "done", "assignee": ""})
    assert forged.status_code == 403
    unknown = client.post(
        f"/admin/inbox/{item}/state",
        data={"csrf_token": token, "status": "archived", "assignee": ""},
    )
    assert unknown.status_code == 422
    assert "Please choose open, in progress or done." in unknown.text
    theirs = client.post(
        f"/admin/inbox/{item}/state",
        data={"csrf_token": token, "status": "done", "assignee": str(stranger)},
    )
    assert theirs.status_code == 422
    assert "Please choose one of this account&#39;s admins, or nobody." in theirs.text
    garbled = client.post(
        f"/admin/inbox/{item}/state",
        data={"csrf_token": token, "status": "done", "assignee": "1; DROP TABLE"},
    )
    assert garbled.status_code == 422
    empty = client.post(f"/admin/inbox/{item}/notes", data={"csrf_token": token, "note": "  "})
    assert empty.status_code == 422 and "Please fill this in." in empty.text
    long = client.post(f"/admin/inbox/{item}/notes", data={"csrf_token": token, "note": "x" * 2001})
    assert long.status_code == 422
    assert re.search(r"This has 2,?001 characters; please use at most 2,?000\.", long.text)
    assert rows(engine, "SELECT * FROM inbox_item") == []  # nothing half-stored
    assert rows(engine, "SELECT * FROM inbox_note") == []

    saved = client.post(
        f"/admin/inbox/{item}/notes",
        data={"csrf_token": token, "note": "Called her back.\nShe wants a refund."},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(f"/admin/inbox/{item}").text
    assert "The note was added." in page
    assert "Called her back.\nShe wants a refund." in page
    assert f"{EMAIL} · 14 May 2026, 12:00 UTC" in page
    # The note made the state row; the item is still open and unassigned.
    assert [tuple(r) for r in rows(engine, "SELECT status, assignee_id FROM inbox_item")] == [
        ("open", None)
    ]


def test_another_accounts_items_answer_404(client: TestClient, engine: Engine) -> None:
    seed(engine, email=EMAIL)
    other = seed(engine, email=OTHER)
    theirs = answer(client, other.embed_key, 1, "Their detractor")
    login(client, EMAIL)
    token = csrf_from(client.get("/admin/inbox").text)
    assert theirs not in listed(client.get("/admin/inbox").text)
    answers = [
        client.get(f"/admin/inbox/{theirs}"),
        client.get("/admin/inbox/999999"),
        client.post(
            f"/admin/inbox/{theirs}/state",
            data={"csrf_token": token, "status": "done", "assignee": ""},
        ),
        client.post(f"/admin/inbox/{theirs}/notes", data={"csrf_token": token, "note": "mine"}),
        client.post(
            f"/admin/inbox/{theirs}/reply",
            data={"csrf_token": token, "subject": "Hi", "reply": "Hello"},
        ),
    ]
    assert [item.status_code for item in answers] == [404] * 5
    assert "There is no such inbox item in your account." in answers[0].text
    assert rows(engine, "SELECT * FROM inbox_item") == []
    assert rows(engine, "SELECT * FROM inbox_note") == []
    assert rows(engine, "SELECT * FROM inbox_mail") == []


# -- e-mail responses: what happened before, and a reply ---------------------------


def invite_and_answer(
    client: TestClient,
    engine: Engine,
    shop: Seeded,
    email: str,
    score: int,
    comment: str | None,
    when: datetime,
    survey_id: int | None = None,
) -> int:
    """An accepted record's invitation, answered on its page; the response's id."""
    wanted = record_in.parse({"survey_id": survey_id or shop.survey_id, "email": email}, when)
    outcome = records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), when, UTC_ZONE)
    assert outcome.accepted, outcome
    (invitation_id,) = rows(engine, "SELECT id FROM invitation WHERE record_id = :r", r=outcome.id)[
        0
    ]
    key = SIGNER.invitation_key(invitation_id)
    page = client.get(f"/s/{key}?score={score}").text
    token = re.search(r'name="display_token" value="([^"]+)"', page)
    assert token
    sent = client.post(
        f"/s/{key}",
        data={"display_token": token.group(1), "score": str(score)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    if comment is not None:
        commented = client.post(
            f"/s/{key}/comment", data={"display_token": token.group(1), "comment": comment}
        )
        assert commented.status_code in (200, 303), commented.text
    # The newest: an anonymous survey's answer keeps no link to its invitation.
    (response_id,) = rows(engine, "SELECT max(id) FROM response")[0]
    return int(response_id)


def test_an_email_response_shows_what_happened_before_and_takes_a_reply(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    with db.write(engine) as conn:
        accounts.set_min_interval(conn, shop.account_id, 0)
    support_id, _ = add_survey(engine, shop.account_id, "Support case")
    clock.now = T0 - timedelta(days=20)
    earlier = invite_and_answer(
        client, engine, shop, "ann@example.com", 9, "Helpful staff", clock.now, support_id
    )
    # Another recipient's answer is not Ann's history.
    invite_and_answer(client, engine, shop, "bob@example.com", 1, "Bob's", clock.now)
    clock.now = T0
    item = invite_and_answer(
        client, engine, shop, "Ann@Example.com", 2, "The parcel broke", clock.now
    )
    assert earlier != item

    login(client, EMAIL)
    page = client.get(f"/admin/inbox/{item}").text
    assert text_of(page, "item-email") == "ann@example.com"
    history = re.search(r'<ol class="history" id="history">(.*?)</ol>', page, re.S)
    assert history, "no history beside the item"
    assert "Support case" in history.group(1) and "Helpful staff" in history.group(1)
    assert ">9<" in history.group(1)
    assert "Bob" not in history.group(1)
    # The reply form comes with the subject prefilled.
    assert 'value="Your feedback to Shop"' in page
    token = csrf_from(page)

    missing = client.post(
        f"/admin/inbox/{item}/reply", data={"csrf_token": token, "subject": "Hi", "reply": ""}
    )
    assert missing.status_code == 422 and "Please fill this in." in missing.text
    smtp_server.answer_next("RCPT", 451)  # the first try fails for now, like an invitation's
    sent = client.post(
        f"/admin/inbox/{item}/reply",
        data={
            "csrf_token": token,
            "subject": "About your parcel",
            "reply": "Dear Ann,\nwe are sending a new one today.",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = client.get(f"/admin/inbox/{item}").text
    assert "The reply is on its way and was noted on the item." in page
    assert "Replied by e-mail" in page and "About your parcel" in page
    assert text_of(page, "reply-pending") == "1 reply is on its way."

    worker = sender(engine, smtp_server, clock)
    assert run_pass(worker).inbox == 0
    assert inbox_messages(smtp_server) == []
    clock.now = T0 + timedelta(minutes=2)
    assert run_pass(worker).inbox == 1
    (message,) = inbox_messages(smtp_server)
    assert message["To"] == "ann@example.com"
    assert message["Reply-To"] == EMAIL
    assert message["Subject"] == "About your parcel"
    assert "Auto-Submitted" not in message
    assert "we are sending a new one today." in body_text(message)
    assert run_pass(worker).inbox == 0  # sent once
    assert "reply-pending" not in client.get(f"/admin/inbox/{item}").text


def test_a_reply_the_mail_server_refused_is_said_on_the_item(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    clock.now = T0
    item = invite_and_answer(client, engine, shop, "ann@example.com", 2, "Broken", clock.now)
    login(client, EMAIL)
    token = csrf_from(client.get(f"/admin/inbox/{item}").text)
    reply = {"csrf_token": token, "subject": "About your parcel", "reply": "Dear Ann, sorry."}
    assert client.post(f"/admin/inbox/{item}/reply", data=reply).status_code == 200
    assert "reply-failed" not in client.get(f"/admin/inbox/{item}").text

    smtp_server.answer_next("RCPT", 550, text="5.1.1 No such mailbox")
    assert run_pass(sender(engine, smtp_server, clock)).inbox == 0
    page = client.get(f"/admin/inbox/{item}").text
    assert "reply-pending" not in page
    assert text_of(page, "reply-failed") == (
        "The reply “About your parcel” of 14 May 2026, 12:00 UTC could not be sent to"
        " ann@example.com. The mail server said: 550 5.1.1 No such mailbox"
    )


def test_no_reply_where_there_is_no_address(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    private_id, _ = add_survey(engine, shop.account_id, "Private", anonymous=True)
    widget_item = answer(client, shop.embed_key, 1, "From the widget")
    anonymous_item = invite_and_answer(
        client, engine, shop, "ann@example.com", 0, "Secret", T0, private_id
    )
    login(client, EMAIL)
    for item in (widget_item, anonymous_item):
        page = client.get(f"/admin/inbox/{item}").text
        assert "Reply by e-mail" not in page and 'id="history"' not in page
        assert "ann@example.com" not in page
        refused = client.post(
            f"/admin/inbox/{item}/reply",
            data={"csrf_token": csrf_from(page), "subject": "Hi", "reply": "Hello"},
        )
        assert refused.status_code == 422
        assert "This response has no address to reply to" in refused.text
    assert rows(engine, "SELECT * FROM inbox_mail") == []


# -- detractor alerts ----------------------------------------------------------------


def set_alerts(client: TestClient, survey_id: int, addresses: str) -> Any:
    form = client.get(f"/admin/surveys/{survey_id}").text
    # As a browser sends the form: a checkbox only when it is checked.
    inputs = re.findall(r"<input[^>]*>", form)
    chosen = [tag for tag in inputs if 'type="checkbox"' not in tag or " checked" in tag]
    fields = dict(
        found
        for tag in chosen
        for found in re.findall(r'name="([a-z_0-9]+)"[^>]*value="([^"]*)"', tag)
    )
    data = {
        **{name: value for name, value in fields.items() if name != "csrf_token"},
        "name": "Survey",
        "language": "auto",
        "color": "#1f5fbf",
        "position": "bottom-right",
        "review_audience": "all",
        "inbox_rule": "detractors_text",
        "alert_emails": addresses,
    }
    return post_form(client, f"/admin/surveys/{survey_id}", f"/admin/surveys/{survey_id}", data)


def test_a_detractor_alert_goes_out_once_with_score_comment_and_link(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    before = answer(client, shop.embed_key, 1, "Before alerts were on")
    clock.now = T0 + timedelta(seconds=1)
    login(client, EMAIL)
    wrong = set_alerts(client, shop.survey_id, "support@shop.example\nnot an address")
    assert wrong.status_code == 422
    assert "“not” is not an e-mail address like name@example.com." in wrong.text
    saved = set_alerts(client, shop.survey_id, "support@shop.example, lead@shop.example")
    assert saved.status_code == 303, saved.text
    form = client.get(f"/admin/surveys/{shop.survey_id}").text
    assert "support@shop.example\nlead@shop.example</textarea>" in form

    clock.now = T0 + timedelta(seconds=5)
    detractor = answer(client, shop.embed_key, 4, "The app crashes at checkout")
    answer(client, shop.embed_key, 9, "A promoter: no alert")
    worker = sender(engine, smtp_server, clock)
    clock.now = T0 + timedelta(seconds=20)
    assert run_pass(worker).inbox == 2
    alerts = inbox_messages(smtp_server)
    assert sorted(m["To"] for m in alerts) == ["lead@shop.example", "support@shop.example"]
    message = alerts[0]
    assert message["Subject"] == "Detractor: 4 in “Survey”"
    text_body = body_text(message)
    assert "Score: 4 of 10" in text_body
    assert "Comment: The app crashes at checkout" in text_body
    assert f"{PUBLIC}/admin/inbox/{detractor}" in text_body
    assert "Before alerts were on" not in text_body
    assert before not in {int(m) for m in re.findall(r"/admin/inbox/(\d+)", text_body)}
    # Later passes send nothing again, even after the mark has moved on.
    clock.now = T0 + timedelta(minutes=30)
    assert run_pass(worker).inbox == 0
    late = answer(client, shop.embed_key, 0)
    # No comment yet: the alert waits for it, then goes out without one.
    assert run_pass(worker).inbox == 0
    clock.now += COMMENT_WAIT
    assert run_pass(worker).inbox == 2
    assert f"/admin/inbox/{late}" in body_text(inbox_messages(smtp_server)[-1])
    assert "No comment." in body_text(inbox_messages(smtp_server)[-1])

    # Alerts switched off: a detractor alerts nobody.
    assert set_alerts(client, shop.survey_id, "").status_code == 303
    answer(client, shop.embed_key, 2)
    assert run_pass(worker).inbox == 0
    assert len(inbox_messages(smtp_server)) == 4


def _invitation_scored(
    client: TestClient, engine: Engine, shop: Seeded, score: int, now: datetime, **fields: Any
) -> tuple[str, str]:
    """A record's invitation answered with ``score`` and nothing else yet: its
    key and the display token its comment goes with."""
    wanted = record_in.parse({"survey_id": shop.survey_id, **fields}, now)
    outcome = records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), now, UTC_ZONE)
    assert outcome.accepted, outcome
    (invitation_id,) = rows(engine, "SELECT id FROM invitation WHERE record_id = :r", r=outcome.id)[
        0
    ]
    key = SIGNER.invitation_key(invitation_id)
    page = client.get(f"/s/{key}?score={score}").text
    token = re.search(r'name="display_token" value="([^"]+)"', page)
    assert token
    thanks = client.post(f"/s/{key}", data={"display_token": token.group(1), "score": str(score)})
    assert thanks.status_code == 200, thanks.text
    later = re.search(r'name="display_token" value="([^"]+)"', thanks.text)
    assert later
    return key, later.group(1)


def test_a_detractor_alert_waits_for_the_comment_and_names_the_customer_and_order(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    assert set_alerts(client, shop.survey_id, "support@shop.example").status_code == 303
    worker = sender(engine, smtp_server, clock)
    clock.now = T0 + timedelta(seconds=5)
    key, token = _invitation_scored(
        client,
        engine,
        shop,
        2,
        clock.now,
        email="ann@example.com",
        name="Ann Example",
        external_id="order-1001",
        event="purchase",
    )

    # The score alone: the alert waits for the comment that usually follows.
    clock.now += timedelta(seconds=30)
    assert run_pass(worker).inbox == 0
    clock.now += timedelta(minutes=2)
    added = client.post(
        f"/s/{key}/comment", data={"display_token": token, "comment": "The parcel came late."}
    )
    assert added.status_code == 200
    clock.now += timedelta(seconds=5)
    assert run_pass(worker).inbox == 1

    [alert] = inbox_messages(smtp_server)
    text_body = body_text(alert)
    assert "Comment: The parcel came late." in text_body
    assert "No comment" not in text_body
    assert "Customer: Ann Example <ann@example.com>" in text_body
    assert "Reference: order-1001 · purchase" in text_body
    # Once sent, never again, however long the worker keeps looking.
    clock.now += COMMENT_WAIT * 3
    assert run_pass(worker).inbox == 0
    assert len(inbox_messages(smtp_server)) == 1


def test_without_a_comment_the_alert_goes_after_the_wait_and_an_anonymous_one_names_nobody(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL, anonymous=True)
    login(client, EMAIL)
    assert set_alerts(client, shop.survey_id, "support@shop.example").status_code == 303
    worker = sender(engine, smtp_server, clock)
    clock.now = T0 + timedelta(seconds=5)
    answered_at = clock.now
    _invitation_scored(
        client,
        engine,
        shop,
        1,
        clock.now,
        email="ann@example.com",
        name="Ann Example",
        external_id="order-1001",
        event="purchase",
    )

    clock.now = answered_at + COMMENT_WAIT - timedelta(seconds=10)
    assert run_pass(worker).inbox == 0
    clock.now = answered_at + COMMENT_WAIT
    assert run_pass(worker).inbox == 1

    [alert] = inbox_messages(smtp_server)
    text_body = body_text(alert)
    assert "Score: 1 of 10" in text_body and "No comment." in text_body
    assert "Customer" not in text_body and "Reference" not in text_body
    assert "ann@" not in alert.as_string() and "Ann Example" not in alert.as_string()
    assert "order-1001" not in alert.as_string() and "purchase" not in alert.as_string()


def test_follow_up_answers_without_a_comment_send_the_alert_at_once(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    why = {
        "id": "qwhy",
        "kind": "tags",
        "labels": {"en": "What went wrong?"},
        "options": [{"id": "odel", "labels": {"en": "Delivery"}}],
        "segments": ["detractor"],
    }
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    assert set_alerts(client, shop.survey_id, "support@shop.example").status_code == 303
    with db.write(engine) as conn:  # the question, as the form's editor would save it
        conn.execute(update(survey_table).values(questions=[why]))
    worker = sender(engine, smtp_server, clock)
    clock.now = T0 + timedelta(seconds=5)
    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    scored = client.post("/api/v1/responses", json={"display_token": token, "score": 3})
    assert scored.status_code == 201
    assert run_pass(worker).inbox == 0

    clock.now += timedelta(seconds=40)
    followed = client.post(
        "/api/v1/responses", json={"display_token": token, "answers": {"qwhy": ["odel"]}}
    )
    assert followed.status_code == 200, followed.text
    assert run_pass(worker).inbox == 1
    text_body = body_text(inbox_messages(smtp_server)[0])
    assert "What went wrong?: Delivery" in text_body and "No comment." in text_body
    # A widget answer has no customer to name.
    assert "Customer" not in text_body


def test_alerts_the_mail_server_refused_are_said_beside_the_alert_addresses(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    clock.now = T0
    login(client, EMAIL)
    saved = set_alerts(client, shop.survey_id, "typo@shop.exmaple, support@shop.example")
    assert saved.status_code == 303
    assert "alerts-failed" not in client.get(f"/admin/surveys/{shop.survey_id}").text

    clock.now = T0 + timedelta(seconds=5)
    answer(client, shop.embed_key, 2, "Late again")
    smtp_server.answer_next("RCPT", 550, text="5.1.2 Bad destination domain")
    clock.now = T0 + timedelta(seconds=20)
    assert run_pass(sender(engine, smtp_server, clock)).inbox == 1
    form = client.get(f"/admin/surveys/{shop.survey_id}").text
    box = form.split('id="alerts-failed"', 1)[1].split(">", 1)[1].split("</div>", 1)[0]
    assert " ".join(html.unescape(re.sub(r"<[^>]+>", " ", box)).split()) == (
        "These detractor alerts could not be sent. Check the addresses:"
        " to typo@shop.exmaple, 14 May 2026, 12:00 UTC."
        " The mail server said: 550 5.1.2 Bad destination domain"
    )
    # Once the address is mended, the page stops naming it.
    assert set_alerts(client, shop.survey_id, "typo@shop.example").status_code == 303
    assert "alerts-failed" not in client.get(f"/admin/surveys/{shop.survey_id}").text
    # Another account's survey page knows nothing of it.
    other = seed(engine, email="other@shop.example")
    login(client, "other@shop.example")
    assert "alerts-failed" not in client.get(f"/admin/surveys/{other.survey_id}").text


def test_one_alert_per_response_with_two_workers(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    smtp_server: SmtpServer,
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    assert set_alerts(client, shop.survey_id, "support@shop.example").status_code == 303
    clock.now = T0 + timedelta(seconds=1)
    detractors = {answer(client, shop.embed_key, score % 7) for score in range(12)}
    clock.now += COMMENT_WAIT  # none of them commented

    # Two workers, each with its own engine as two processes would have.
    engines = [create_db_engine(settings.db_url) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(own: Engine) -> None:
        try:
            start.wait()
            for _ in range(3):
                inbox_mail.run_pass(sender(own, smtp_server, clock))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for own in engines:
        own.dispose()
    assert errors == []
    linked = [
        int(re.findall(r"/admin/inbox/(\d+)", body_text(m))[0]) for m in inbox_messages(smtp_server)
    ]
    assert sorted(linked) == sorted(detractors)
    assert rows(engine, "SELECT count(*) FROM inbox_mail WHERE status = 'sent'")[0][0] == 12


def test_a_new_survey_with_alert_addresses_alerts_from_its_first_answer(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    seed(engine, email=EMAIL)
    login(client, EMAIL)
    created = post_form(
        client,
        "/admin/surveys/new?kind=nps",
        "/admin/surveys/new",
        {
            "name": "Fresh",
            "kind": "nps",
            "language": "auto",
            "color": "#1f5fbf",
            "position": "bottom-right",
            "review_audience": "all",
            "recontact_days": "90",
            "sample_percent": "100",
            "delay_seconds": "0",
            "inbox_rule": "detractors",
            "alert_emails": "care@shop.example",
        },
    )
    assert created.status_code == 303, created.text
    survey_id = int(created.headers["location"].rsplit("/", 1)[1])
    (public_id,) = rows(engine, "SELECT public_id FROM survey WHERE id = :i", i=survey_id)[0]
    item = answer(client, SIGNER.embed_key(public_id), 5)
    clock.now += COMMENT_WAIT  # no comment came
    assert run_pass(sender(engine, smtp_server, clock)).inbox == 1
    assert f"/admin/inbox/{item}" in body_text(inbox_messages(smtp_server)[0])
    assert rows(engine, "SELECT inbox_rule FROM survey WHERE id = :i", i=survey_id)[0][0] == (
        "detractors"
    )


@pytest.mark.parametrize("rule", ["sometimes", "<script>"])
def test_an_unknown_inbox_rule_is_refused(client: TestClient, engine: Engine, rule: str) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    form = client.get(f"/admin/surveys/{shop.survey_id}").text
    assert 'name="inbox_rule"' in form
    refused = post_form(
        client,
        f"/admin/surveys/{shop.survey_id}",
        f"/admin/surveys/{shop.survey_id}",
        {"name": "Survey", "language": "auto", "color": "#1f5fbf", "inbox_rule": rule},
    )
    assert refused.status_code == 422
    assert "Please choose one of the options." in refused.text


def test_deleting_a_response_or_survey_takes_its_item_and_notes_along(
    client: TestClient, engine: Engine
) -> None:
    from app.privacy import deletions

    shop = seed(engine, email=EMAIL)
    first = answer(client, shop.embed_key, 1, "One")
    second = answer(client, shop.embed_key, 2, "Two")
    login(client, EMAIL)
    token = csrf_from(client.get("/admin/inbox").text)
    for item in (first, second):
        client.post(
            f"/admin/inbox/{item}/state",
            data={"csrf_token": token, "status": "in_progress", "assignee": ""},
        )
        client.post(f"/admin/inbox/{item}/notes", data={"csrf_token": token, "note": "Seen"})
    assert deletions.delete_response(engine, shop.account_id, shop.survey_id, first)
    assert [r[0] for r in rows(engine, "SELECT response_id FROM inbox_note")] == [second]
    assert deletions.delete_survey(engine, shop.account_id, shop.survey_id, T0)
    assert rows(engine, "SELECT * FROM inbox_item") == []
    assert rows(engine, "SELECT * FROM inbox_note") == []
    assert client.get(f"/admin/inbox/{second}").status_code == 404
