"""The dashboard's e-mail figures through the ASGI client with a logged-in
admin: the month's budget by channel, the records' "last data sync", the last
accepted record, the refusals by reason with the lapse note, and the forecast
that counts e-mails; each account sees only its own."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, insert, text, update
from starlette.testclient import TestClient

from app.answers import responses
from app.budget import rule as budget
from app.invitations import record_in, record_status, records
from app.invitations.records import Outcome, Source
from app.platform import db
from app.platform.models import invitation_table, response_table
from app.platform.signing import Signer
from app.surveys import model as surveys
from tests import invariants, query_plans
from tests.admin_helpers import login, text_of
from tests.conftest import SECRET, Clock, Seeded, seed, set_budget

UTC_ZONE = ZoneInfo("UTC")
MAY = "2026-05"
EMAIL = "owner@shop.example"
OTHER_EMAIL = "owner@other.example"
API = Source("api", "Shop backend")
CSV = Source("csv", "orders-may.csv")


def may(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=UTC)


@dataclass
class Month:
    """What ``fill_month`` made: the shop's two surveys and its refusals."""

    shop: Seeded
    orders_id: int


def take(
    engine: Engine, account_id: int, source: Source, when: datetime, **fields: object
) -> Outcome:
    wanted = record_in.parse(fields, when)
    return records.accept(engine, account_id, wanted, source, when, UTC_ZONE)


def arrive(
    engine: Engine, account_id: int, source: Source, when: datetime, rows: list[dict[str, object]]
) -> list[Outcome]:
    """One request or upload of records, as the API and the upload take them."""
    outcomes = [take(engine, account_id, source, when, **row) for row in rows]
    records.note_arrival(engine, account_id, source, when)
    return outcomes


def widget_answer(http: httpx.Client, embed_key: str, score: int) -> int:
    config = http.get(f"/api/v1/widget/{embed_key}", headers={"Origin": "https://shop.example"})
    body = {"display_token": config.json()["display_token"], "score": score}
    return http.post("/api/v1/responses", json=body).status_code


def link_answer(http: httpx.Client, link_key: str, score: int) -> int:
    page = http.get(f"/s/{link_key}").text
    found = re.search(r'name="display_token" value="([^"]+)"', page)
    assert found, "the link page has no form"
    form = {"display_token": html.unescape(found.group(1)), "score": str(score)}
    return http.post(f"/s/{link_key}", data=form, follow_redirects=False).status_code


def answer_invitation(engine: Engine, outcome: Outcome, when: datetime) -> None:
    """The recipient answers: the invitation was sent, the answer has channel
    ``email`` and counts nothing (as the invitation page stores it)."""
    with db.write(engine) as conn:
        row = conn.execute(
            update(invitation_table)
            .where(invitation_table.c.record_id == outcome.id)
            .values(status="answered", sent_at=when)
            .returning(
                invitation_table.c.id, invitation_table.c.account_id, invitation_table.c.survey_id
            )
        ).one()
        conn.execute(
            insert(response_table).values(
                nonce=f"invitation-{row.id}",
                account_id=row.account_id,
                survey_id=row.survey_id,
                period=budget.period_of(when, UTC_ZONE),
                score=10,
                segment="promoter",
                channel="email",
                invitation_id=row.id,
                created_at=when,
            )
        )


def fill_month(
    http: httpx.Client,
    engine: Engine,
    shop: Seeded,
    moment: Callable[[int], datetime],
    set_clock: Callable[[datetime], None] = lambda when: None,
) -> Month:
    """A budget of 7 used by 2 widget answers, 1 link answer and 4 e-mails
    (one answered, three still scheduled; a fifth cancelled and given back),
    two records for the two surveys refused for the interval and for an
    unsubscribe, then two records and one widget answer refused by the
    exhausted budget. ``moment(step)`` is when step 1 to 4 happens."""
    set_budget(engine, "free", 7)
    with db.write(engine) as conn:
        orders_id, _ = surveys.create_survey(conn, shop.account_id, name="Orders", kind="csat")

    set_clock(moment(1))
    assert widget_answer(http, shop.embed_key, 10) == 201
    assert widget_answer(http, shop.embed_key, 9) == 201
    assert link_answer(http, shop.link_key, 3) == 303
    late = http.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]

    ann, _bob, cat = arrive(
        engine,
        shop.account_id,
        API,
        moment(2),
        [
            {"survey_id": shop.survey_id, "email": address}
            for address in ("ann@example.com", "bob@example.com", "cat@example.com")
        ],
    )
    answer_invitation(engine, cat, moment(2))
    with db.read(engine) as conn:
        cat_invitation = conn.execute(
            text("SELECT id FROM invitation WHERE record_id = :id"), {"id": cat.id}
        ).scalar_one()
    assert record_status.unsubscribe(engine, cat_invitation, moment(2)) is not None
    assert ann.id is not None and record_status.cancel(engine, shop.account_id, ann.id, moment(2))

    upload = arrive(
        engine,
        shop.account_id,
        CSV,
        moment(3),
        [
            {"survey_id": orders_id, "email": "dan@example.com"},
            {"survey_id": orders_id, "email": "eve@example.com"},
            {"survey_id": orders_id, "email": "bob@example.com"},
            {"survey_id": orders_id, "email": "CAT@example.com"},
        ],
    )
    assert [outcome.code for outcome in upload] == [
        None,
        None,
        "recently_surveyed",
        "unsubscribed",
    ]

    refused = arrive(
        engine,
        shop.account_id,
        API,
        moment(4),
        [
            {"survey_id": shop.survey_id, "email": "fay@example.com"},
            {"survey_id": shop.survey_id, "email": "gus@example.com"},
        ],
    )
    assert [outcome.code for outcome in refused] == ["budget_exhausted"] * 2
    set_clock(moment(4))
    assert (
        http.post("/api/v1/responses", json={"display_token": late, "score": 8}).status_code == 402
    )
    return Month(shop, orders_id)


def another_account(engine: Engine) -> Seeded:
    """An account whose records arrive last of all, through a key of its own."""
    other = seed(engine, email=OTHER_EMAIL)
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE survey SET name = 'Theirs' WHERE id = :id"), {"id": other.survey_id}
        )
    arrive(
        engine,
        other.account_id,
        Source("api", "Intruder key"),
        may(13, 20),
        [{"survey_id": other.survey_id, "email": "zed@example.com"}],
    )
    return other


def test_the_dashboard_splits_the_budget_and_explains_the_records(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL)
    moments = {1: may(10, 9, 30), 2: may(11, 10), 3: may(12, 15, 45), 4: may(13, 8, 15)}

    def set_clock(when: datetime) -> None:
        clock.now = when

    fill_month(client, engine, shop, moments.__getitem__, set_clock)
    another_account(engine)
    clock.now = may(14, 12)
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text

    # The budget of 7: 4 e-mails (one answered, 3 scheduled; the cancelled
    # one given back, the answer to one counting nothing), 2 + 1 answers.
    assert text_of(page, "remaining") == "0"
    assert "7 of 7 used:" in page
    assert text_of(page, "use-email") == "4 e-mails"
    assert text_of(page, "use-scheduled") == "(3 still scheduled)"
    assert text_of(page, "use-widget") == "2 widget answers"
    assert text_of(page, "use-link") == "1 link answer"
    assert 'id="use-deleted"' not in page
    with db.read(engine) as conn:
        assert invariants.usage_invariant(conn, shop.account_id, MAY) == (7, 7)

    # Last data sync: the refused records' request, after the upload; the
    # widget's contact beside it.
    assert text_of(page, "last-sync") == "13 May 2026, 08:15 UTC"
    assert text_of(page, "sync-source") == "Records: API key “Shop backend”"
    contact = text_of(page, "last-contact")
    assert contact.startswith("Widget or link: 10 May 2026, 09:30 UTC")
    assert "Widget of “Survey”" in page and "https://shop.example" in page

    # Last accepted record: the upload's, for the other survey; the last
    # accepted feedback stays the answers'.
    assert text_of(page, "last-record") == "12 May 2026, 15:45 UTC"
    detail = page[
        page.index('id="last-record-detail"') : page.index(
            "</p>", page.index('id="last-record-detail"')
        )
    ]
    assert "Survey “Orders”" in detail and "CSV upload “orders-may.csv”" in detail
    assert text_of(page, "last-accepted") == "10 May 2026, 09:30 UTC"

    # Refusals by reason, the lapse said plainly, the way to a bigger tariff.
    assert text_of(page, "refused") == "5"
    assert text_of(page, "refused-answers") == "1"
    assert text_of(page, "refused-budget") == "2"
    assert text_of(page, "refused-recent") == "1"
    assert text_of(page, "refused-unsubscribed") == "1"
    lapsed = page[page.index('id="lapsed"') :]
    assert lapsed.startswith(
        'id="lapsed">The 2 records refused for want of budget have lapsed:'
        " they are not kept for next month."
    )
    assert '<a href="/admin/tariff">Change tariff</a>' in lapsed[: lapsed.index("</p>")]

    # The budget ran out with the upload's records, not with the last answer;
    # demand counts e-mails and refused records: 10 in 13.5 days, Basic fits.
    assert text_of(page, "forecast") == "The budget ran out on 12 May 2026."
    assert text_of(page, "forecast-basis") == (
        "The pace counts answers, e-mails sent or scheduled, and what the budget refused."
    )
    assert "A tariff that would fit: Basic" in page

    # Nothing of the other account's records.
    assert "Intruder key" not in page and "Theirs" not in page and "zed@" not in page

    german = client.get("/admin/dashboard", headers={"Accept-Language": "de"}).text
    assert "7 von 7 verbraucht:" in german
    assert text_of(german, "use-email") == "4 E-Mails"
    assert text_of(german, "use-scheduled") == "(3 noch geplant)"
    assert text_of(german, "use-link") == "1 Link-Antwort"
    assert text_of(german, "sync-source") == "Datensätze: API-Schlüssel „Shop backend“"
    assert text_of(german, "last-sync") == "13. Mai 2026, 08:15 UTC"
    assert "Die 2 mangels Budget abgelehnten Datensätze sind verfallen" in german


def test_each_account_sees_only_its_own_records(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL)
    moments = {1: may(10, 9, 30), 2: may(11, 10), 3: may(12, 15, 45), 4: may(13, 8, 15)}
    fill_month(client, engine, shop, moments.__getitem__)
    other = another_account(engine)
    clock.now = may(14, 12)
    login(client, OTHER_EMAIL)
    page = client.get("/admin/dashboard").text

    assert "1 of 7 used:" in page
    assert text_of(page, "use-email") == "1 e-mail"
    assert text_of(page, "use-scheduled") == "(1 still scheduled)"
    assert text_of(page, "use-widget") == "0 widget answers"
    assert text_of(page, "last-sync") == "13 May 2026, 20:00 UTC"
    assert text_of(page, "sync-source") == "Records: API key “Intruder key”"
    assert text_of(page, "last-contact") == "No widget or link has contacted the server yet."
    assert text_of(page, "last-record") == "13 May 2026, 20:00 UTC"
    assert "Survey “Theirs”" in page
    assert text_of(page, "refused") == "0"
    assert 'id="lapsed"' not in page
    for theirs in ("Shop backend", "orders-may.csv", "Orders", "https://shop.example"):
        assert theirs not in page
    with db.read(engine) as conn:
        assert invariants.usage_invariant(conn, other.account_id, MAY) == (1, 1)


def test_an_account_without_records_keeps_the_widget_sync_and_no_record_card(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL)
    clock.now = may(10, 9, 30)
    assert widget_answer(client, shop.embed_key, 9) == 201
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    assert text_of(page, "last-sync") == "10 May 2026, 09:30 UTC"
    assert 'id="last-record"' not in page and 'id="refused-budget"' not in page
    assert text_of(page, "use-email") == "0 e-mails"
    assert 'id="use-scheduled"' not in page

    # A record entered by hand: the sync and the record name who entered it.
    manual = Source("manual", EMAIL)
    arrive(
        engine,
        shop.account_id,
        manual,
        may(11, 8),
        [{"survey_id": shop.survey_id, "email": "a@example.com"}],
    )
    page = client.get("/admin/dashboard").text
    assert text_of(page, "sync-source") == f"Records: Entered by {EMAIL}"
    assert f"Entered by {EMAIL}" in page[page.index('id="last-record-detail"') :]
    assert text_of(page, "refused") == "0" and text_of(page, "refused-budget") == "0"


def test_deleted_answers_show_as_what_they_are(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    """Deleting an answer gives no budget back: the split says where the
    difference went instead of leaving it unexplained."""
    shop = seed(engine, email=EMAIL)
    clock.now = may(10, 9, 30)
    assert widget_answer(client, shop.embed_key, 9) == 201
    assert widget_answer(client, shop.embed_key, 4) == 201
    with db.write(engine) as conn:
        conn.execute(text("DELETE FROM response WHERE score = 4"))
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    assert text_of(page, "use-widget") == "1 widget answer"
    assert text_of(page, "use-deleted") == "1 answer deleted since"


# -- the forecast with e-mail ---------------------------------------------------


def test_the_forecast_counts_invitations_and_refused_records(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 5)
    signer = Signer((SECRET,), 3600)
    with db.read(engine) as conn:
        survey = surveys.find(conn, shop.survey_id)
    assert survey is not None
    for day in (1, 2):
        display = signer.read_display_token(signer.display_token(shop.survey_id, "widget"))
        responses.record_response(
            engine, survey, responses.Submission(display, 9, None), may(day, 12), UTC_ZONE
        )
    emails = [{"survey_id": shop.survey_id, "email": f"r{n}@example.com"} for n in range(6)]
    outcomes = arrive(engine, shop.account_id, API, may(8, 12), emails)
    assert [outcome.accepted for outcome in outcomes] == [True] * 3 + [False] * 3

    with db.read(engine) as conn:
        state = budget.usage_state(conn, shop.account_id, MAY)
        result = budget.forecast(conn, shop.account_id, MAY, may(11, 0), UTC_ZONE)
    assert (state.used, state.rejected, state.rejected_email) == (5, 0, 3)
    # The records used up the budget on 8 May (the last answer was on 2 May);
    # 5 counted and 3 refused in 10 days is 24.8 a month: Basic fits.
    assert result == budget.Forecast(date(2026, 5, 8), "basic")

    # A scheduled invitation cancelled gives its count back: the budget lasts
    # again at a pace of (4 + 3) in 10 days, 21.7 a month, 1 left.
    assert outcomes[0].id is not None
    assert record_status.cancel(engine, shop.account_id, outcomes[0].id, may(11, 0))
    with db.read(engine) as conn:
        again = budget.forecast(conn, shop.account_id, MAY, may(11, 0), UTC_ZONE)
    assert again == budget.Forecast(date(2026, 5, 12), "basic")


# -- index use ------------------------------------------------------------------


def test_the_email_figures_read_their_indexes(engine: Engine) -> None:
    shop = seed(engine)
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        plans = query_plans.explain_email(conn, shop.account_id, MAY, UTC_ZONE)
    assert "ix_invitation_account_period" in plans["invitations"]
    assert "ix_response_stats" in plans["answers"]
    assert "ix_record_account_" in plans["last_record"]
    assert "ix_record_account_outcome" in plans["refusals"]
    assert "ix_refused_record_period" in plans["refused_list"]
    assert "ix_refused_record_period" in plans["refused_count"]


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_given_back_invitation_is_not_an_email_of_the_month(
    client: TestClient, engine: Engine, clock: Clock, status: str
) -> None:
    shop = seed(engine, email=EMAIL)
    kept, lost = arrive(
        engine,
        shop.account_id,
        API,
        may(11, 10),
        [{"survey_id": shop.survey_id, "email": f"{name}@example.com"} for name in ("a", "b")],
    )
    with db.write(engine) as conn:
        invitation_id = conn.execute(
            text("SELECT id FROM invitation WHERE record_id = :id"), {"id": lost.id}
        ).scalar_one()
        assert record_status.end_unsent(conn, invitation_id, status, may(11, 11))
        conn.execute(
            text("UPDATE invitation SET status = 'sent' WHERE record_id = :id"), {"id": kept.id}
        )
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    assert "1 of 50 used:" in page
    assert text_of(page, "use-email") == "1 e-mail"
    assert 'id="use-scheduled"' not in page
