"""Answering an e-mail invitation and unsubscribing, through the ASGI client:
a GET stores nothing, the POST stores one answer that counts nothing more,
anonymous answers keep no link to the recipient, one-click unsubscribes."""

from __future__ import annotations

import csv
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.invitations import answers as invitation_answers
from app.invitations import record_in, record_status, records
from app.invitations.records import Source
from app.platform import db, i18n
from app.platform.signing import Display, Signer
from app.web import invitations, links
from tests import invariants
from tests.admin_helpers import login
from tests.conftest import SECRET, Clock, Seeded, count_responses, seed, set_budget, usage_row

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
PERIOD = "2026-05"
UTC_ZONE = ZoneInfo("UTC")
SIGNER = Signer((SECRET,), 3600)
TOKEN = re.compile(r'name="display_token" value="([^"]+)"')
OWNER = "owner@example.com"


def _invite(
    engine: Engine, shop: Seeded, email: str = "ann@example.com", **fields: object
) -> tuple[int, str]:
    """An accepted record's invitation: (id, key)."""
    wanted = record_in.parse({"survey_id": shop.survey_id, "email": email, **fields}, NOW)
    outcome = records.accept(engine, shop.account_id, wanted, Source("api", "Shop"), NOW, UTC_ZONE)
    assert outcome.accepted, outcome
    invitation_id = _scalar(engine, "SELECT id FROM invitation WHERE record_id = :r", r=outcome.id)
    assert isinstance(invitation_id, int)
    return invitation_id, SIGNER.invitation_key(invitation_id)


def _scalar(engine: Engine, sql: str, **params: object) -> object:
    with db.read(engine) as conn:
        return conn.execute(text(sql), params).scalar()


def _status(engine: Engine, invitation_id: int) -> object:
    return _scalar(engine, "SELECT status FROM invitation WHERE id = :i", i=invitation_id)


def _invariant(engine: Engine, account_id: int, period: str = PERIOD) -> tuple[int, int]:
    with db.read(engine) as conn:
        return invariants.usage_invariant(conn, account_id, period)


def _token(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "the page has no display token"
    return unescape(found.group(1))


def _checked(page: str) -> list[str]:
    return re.findall(r'value="(\d+)"[^>]*\schecked', page)


def _open(client: TestClient, key: str, query: str = "") -> str:
    page = client.get(f"/s/{key}{query}")
    assert page.status_code == 200, page.text
    return _token(page.text)


def _send(client: TestClient, key: str, token: str, score: object) -> httpx.Response:
    return client.post(
        f"/s/{key}", data={"display_token": token, "score": str(score)}, follow_redirects=False
    )


def _answer(client: TestClient, key: str, score: int) -> str:
    """Open the invitation's page and send ``score``: the thank-you page's address."""
    sent = _send(client, key, _open(client, key, f"?score={score}"), score)
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


def _responses(engine: Engine) -> list[tuple[object, ...]]:
    with db.read(engine) as conn:
        rows = conn.execute(
            text("SELECT score, channel, invitation_id, comment, period FROM response ORDER BY id")
        )
        return [tuple(row) for row in rows]


# -- the survey page -------------------------------------------------------------


def test_the_score_link_preselects_in_the_recipients_language_and_stores_nothing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)  # the survey's language is automatic: it speaks German too
    _, key = _invite(engine, shop, language="de-AT")

    page = client.get(f"/s/{key}?score=9", headers={"Accept-Language": "en"})

    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "Shop fragt:" in page.text
    assert _checked(page.text) == ["9"]
    assert page.text.count('type="radio"') == 11
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["content-security-policy"] == links.CSP
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "anonym" not in page.text
    # A scanner following every score link stores nothing.
    for score in range(11):
        assert client.get(f"/s/{key}?score={score}").status_code == 200
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_a_survey_of_one_language_speaks_it_to_every_recipient(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, language="en")
    _, key = _invite(engine, shop, language="de")
    page = client.get(f"/s/{key}", headers={"Accept-Language": "de"})
    assert '<html lang="en">' in page.text
    assert "How likely are you to recommend us" in page.text


# -- answering -------------------------------------------------------------------


def test_the_post_stores_one_email_answer_that_counts_nothing_more(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    invitation_id, key = _invite(engine, shop)
    assert _invariant(engine, shop.account_id) == (1, 1)

    thanks_url = _answer(client, key, 9)

    assert thanks_url.startswith(f"/s/{key}/thanks?t=")
    assert _responses(engine) == [(9, "email", invitation_id, None, PERIOD)]
    assert _status(engine, invitation_id) == "answered"
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)
    assert _invariant(engine, shop.account_id) == (1, 1)
    thanks = client.get(thanks_url)
    assert thanks.status_code == 200
    assert "Thank you for your feedback!" in thanks.text
    assert "What do you like most?" in thanks.text
    assert "You had answered already" not in thanks.text


def test_an_email_answer_is_the_dashboards_last_feedback_but_not_the_day_the_budget_ran_out(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=OWNER)
    set_budget(engine, "free", 1)
    _, key = _invite(engine, shop)  # the one unit: used up on 14 May
    clock.now = NOW + timedelta(days=3)
    _answer(client, key, 9)

    login(client, OWNER)
    dashboard = unescape(client.get("/admin/dashboard").text)
    feedback = dashboard.split("Last accepted feedback", 1)[1].split("</section>", 1)[0]
    assert "17 May 2026" in feedback and "Survey" in feedback
    assert "The budget ran out on 14 May 2026." in dashboard


def test_a_second_answer_changes_the_first_for_half_an_hour_then_it_stands(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    invitation_id, key = _invite(engine, shop)
    first_token = _open(client, key)
    second_token = _open(client, key)  # another tab, opened before the first answer
    assert _send(client, key, first_token, 9).status_code == 303

    # The same form sent twice is a replay; the other tab changes the score.
    again = _send(client, key, first_token, 9)
    other = _send(client, key, second_token, 2)
    assert again.status_code == other.status_code == 303
    changed = client.get(other.headers["location"])
    assert "Your score 2 is saved — anything to add?" in changed.text
    assert "What should we improve?" in changed.text  # the detractor's follow-up now
    assert _responses(engine) == [(2, "email", invitation_id, None, PERIOD)]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)

    # The mail's link opened again: a form for the new score, nothing stored by the GET.
    reopened = client.get(f"/s/{key}?score=3")
    assert _checked(reopened.text) == ["3"] and "data-autosave" in reopened.text
    assert _responses(engine) == [(2, "email", invitation_id, None, PERIOD)]

    clock.now = NOW + timedelta(minutes=31)
    late = _send(client, key, _open(client, key), 9)
    reopened = client.get(f"/s/{key}?score=3")
    assert late.status_code == 409
    for page in (late, reopened):
        assert "Your score 2 was saved more than 30 minutes ago and is kept." in page.text
        assert "What should we improve?" in page.text
        assert 'type="radio"' not in page.text
    assert _responses(engine) == [(2, "email", invitation_id, None, PERIOD)]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_the_answer_is_taken_while_the_budget_is_exhausted(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    invitation_id, key = _invite(engine, shop)  # takes the last unit
    # The link survey stops asking; the invitation, counted already, does not.
    assert "not collecting responses" in client.get(f"/s/{shop.link_key}").text

    _answer(client, key, 4)

    assert _responses(engine) == [(4, "email", invitation_id, None, PERIOD)]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)
    assert _invariant(engine, shop.account_id) == (1, 1)


def test_the_comment_attaches_to_the_same_answer_for_free(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    invitation_id, key = _invite(engine, shop)
    thanks_url = _answer(client, key, 3)
    token = _token(client.get(thanks_url).text)

    empty = client.post(f"/s/{key}/comment", data={"display_token": token, "comment": " "})
    assert empty.status_code == 422 and "Please write a comment" in empty.text
    sent = client.post(
        f"/s/{key}/comment",
        data={"display_token": token, "comment": "  The parcel came late.\r\n "},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "Your comment was added." in client.get(sent.headers["location"]).text
    second = client.post(f"/s/{key}/comment", data={"display_token": token, "comment": "More."})
    assert second.status_code == 409
    assert "Your first comment was kept" in second.text

    assert _responses(engine) == [(3, "email", invitation_id, "The parcel came late.", PERIOD)]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_an_answer_in_a_later_month_lists_that_month(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    _, key = _invite(engine, shop)
    clock.now = NOW + timedelta(days=30)  # June
    _answer(client, key, 10)
    assert [row[4] for row in _responses(engine)] == ["2026-06"]
    assert usage_row(engine, shop.account_id, "2026-06") == (0, 0)
    periods = _scalar(engine, "SELECT count(*) FROM usage WHERE period = '2026-06'")
    assert periods == 1
    assert _invariant(engine, shop.account_id, "2026-06") == (0, 0)
    assert _invariant(engine, shop.account_id) == (1, 1)


class _TwoDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return super().get_timestamp() - 2 * 86400


def _stale(token: str) -> str:
    """The same display as if its page had been shown two days ago (tokens
    last a day; itsdangerous checks the age against the real time)."""
    current = URLSafeTimedSerializer(SECRET, salt="display")
    older = URLSafeTimedSerializer(SECRET, salt="display", signer=_TwoDaysAgo)
    return str(older.dumps(current.loads(token)))


def test_an_expired_form_is_shown_again_with_the_choice_kept(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    invitation_id, key = _invite(engine, shop)

    late = _send(client, key, _stale(_open(client, key)), 7)

    assert late.status_code == 410
    assert _checked(late.text) == ["7"]
    assert "open for a long time" in late.text
    assert count_responses(engine) == 0
    assert _send(client, key, _token(late.text), 7).status_code == 303
    assert _status(engine, invitation_id) == "answered"


@pytest.mark.parametrize("anonymous", [False, True])
def test_a_comment_from_a_page_left_open(
    client: TestClient, engine: Engine, anonymous: bool
) -> None:
    """The invitation finds its answer, but an anonymous survey's answer is
    found only through its display, which expired."""
    shop = seed(engine, anonymous=anonymous)
    _, key = _invite(engine, shop)
    token = _token(client.get(_answer(client, key, 9)).text)

    sent = client.post(f"/s/{key}/comment", data={"display_token": _stale(token), "comment": "Hi"})

    if anonymous:
        assert sent.status_code == 410 and "The time for adding a comment has passed" in sent.text
        assert _responses(engine)[0][3] is None
    else:
        assert sent.status_code == 200 and "Your comment was added." in sent.text
        assert _responses(engine)[0][3] == "Hi"


def test_tokens_answer_only_their_own_channel_survey_and_invitation(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    other_survey = seed(engine)
    first_id, first_key = _invite(engine, shop, "a@example.com")
    second_id, second_key = _invite(engine, shop, "b@example.com")
    email_token = _open(client, first_key)
    link_token = _token(client.get(f"/s/{shop.link_key}").text)
    foreign = SIGNER.display_token(other_survey.survey_id, "email")

    for token in (link_token, foreign, "forged"):
        refused = _send(client, first_key, token, 9)
        assert refused.status_code == 400 and "This form cannot be sent" in refused.text
    # An invitation's token answers neither the link survey nor the widget API.
    assert _send(client, shop.link_key, email_token, 9).status_code == 400
    api = client.post("/api/v1/responses", json={"display_token": email_token, "score": 9})
    assert api.status_code == 400
    assert count_responses(engine) == 0

    assert _send(client, first_key, email_token, 9).status_code == 303
    # The same display cannot answer a second invitation.
    reused = _send(client, second_key, email_token, 9)
    assert reused.status_code == 400
    assert _status(engine, second_id) == "scheduled"
    assert [row[2] for row in _responses(engine)] == [first_id]


def test_answers_racing_for_one_invitation_store_one(engine: Engine) -> None:
    shop = seed(engine)
    invitation_id, _ = _invite(engine, shop)

    def answer(i: int) -> bool:
        display = Display(shop.survey_id, f"race-{i}", "email")
        found = invitation_answers.answer(
            engine, invitation_id, display, i % 11, "en", NOW, UTC_ZONE
        )
        return found.created

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(answer, range(8)))

    assert created.count(True) == 1
    assert count_responses(engine) == 1
    assert _invariant(engine, shop.account_id) == (1, 1)


# -- closed and forged -------------------------------------------------------------


def test_a_cancelled_or_failed_invitation_shows_the_closed_page(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email_delay_days=3)
    cancelled_id, cancelled_key = _invite(engine, shop, "a@example.com")
    failed_id, failed_key = _invite(engine, shop, "b@example.com")
    token = _open(client, cancelled_key)
    record_id = _scalar(engine, "SELECT record_id FROM invitation WHERE id = :i", i=cancelled_id)
    assert isinstance(record_id, int)
    assert record_status.cancel(engine, shop.account_id, record_id, NOW)
    with db.write(engine) as conn:
        assert record_status.end_unsent(conn, failed_id, "failed", NOW, "550 no such user")

    for key in (cancelled_key, failed_key):
        page = client.get(f"/s/{key}?score=9")
        assert page.status_code == 200
        assert "This survey is closed" in page.text
        assert "display_token" not in page.text
    late = _send(client, cancelled_key, token, 9)
    assert late.status_code == 410 and "This survey is closed" in late.text
    assert count_responses(engine) == 0
    assert _status(engine, cancelled_id) == "cancelled"
    assert _invariant(engine, shop.account_id) == (0, 0)


def test_an_invitation_gone_with_its_survey_and_an_inactive_survey(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    gone_id, gone_key = _invite(engine, shop, "a@example.com")
    _, key = _invite(engine, shop, "b@example.com")
    token = _open(client, key)
    with db.write(engine) as conn:
        conn.execute(text("DELETE FROM invitation WHERE id = :i"), {"i": gone_id})
        conn.execute(text("UPDATE survey SET active = false"))

    gone = client.get(f"/s/{gone_key}")
    assert gone.status_code == 410 and "This survey is closed" in gone.text
    assert "This survey has ended" in client.get(f"/s/{key}").text
    refused = _send(client, key, token, 9)
    assert refused.status_code == 410 and "This survey has ended" in refused.text
    assert count_responses(engine) == 0


def test_forged_keys_are_a_readable_404(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    invitation_id, _ = _invite(engine, shop)
    strangers = Signer(("another-secret",), 3600).invitation_key(invitation_id)

    for key in (strangers, "forged", shop.link_key):
        for method in ("GET", "POST"):
            page = client.request(method, f"/u/{key}", headers={"Accept-Language": "de"})
            assert page.status_code == 404, (key, method)
            assert page.headers["content-type"].startswith("text/html")
            assert "Link ungültig" in page.text
    for path in (f"/s/{strangers}", f"/s/{strangers}/thanks", "/s/forged/comment"):
        page = client.request("POST" if "comment" in path else "GET", path)
        assert page.status_code == 404 and "Survey not found" in page.text, path
    assert _scalar(engine, "SELECT unsubscribed_at FROM recipient") is None


# -- anonymous surveys and what the owner sees ---------------------------------------


def _results_and_export(client: TestClient, shop: Seeded) -> tuple[str, list[dict[str, str]]]:
    base = f"/admin/surveys/{shop.survey_id}"
    page = client.get(f"{base}/results", params={"period": PERIOD})
    assert page.status_code == 200
    export = client.get(f"{base}/export.csv", params={"period": PERIOD})
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    return page.text, rows


def _answer_with_comment(client: TestClient, key: str, score: int, comment: str) -> None:
    thanks = client.get(_answer(client, key, score))
    sent = client.post(
        f"/s/{key}/comment", data={"display_token": _token(thanks.text), "comment": comment}
    )
    assert sent.status_code == 200 and "Your comment was added." in sent.text


def test_the_owner_sees_who_answered_an_invitation(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=OWNER)
    _, key = _invite(engine, shop, "Ann@Example.com")
    _answer_with_comment(client, key, 10, "Lovely beans.")
    link_token = _token(client.get(f"/s/{shop.link_key}").text)
    client.post(f"/s/{shop.link_key}", data={"display_token": link_token, "score": "6"})
    client.post(
        f"/s/{shop.link_key}/comment", data={"display_token": link_token, "comment": "Slow."}
    )
    login(client, OWNER)

    page, rows = _results_and_export(client, shop)

    assert "Ann@Example.com" in page
    assert "E-mail" in page
    assert [(row["channel"], row["recipient_email"]) for row in rows] == [
        ("email", "Ann@Example.com"),
        ("link", ""),
    ]


def test_an_anonymous_survey_keeps_no_link_to_the_recipient(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=OWNER, anonymous=True)
    invitation_id, key = _invite(engine, shop, "ann@example.com")

    assert "Your answer is anonymous" in client.get(f"/s/{key}").text
    _answer_with_comment(client, key, 8, "Good enough.")

    assert _responses(engine) == [(8, "email", None, "Good enough.", PERIOD)]
    assert _status(engine, invitation_id) == "answered"
    assert _invariant(engine, shop.account_id) == (1, 1)
    # The invitation is answered: in another browser, another page load stores
    # nothing and shows no answer (only the answering browser's cookie finds it).
    client.cookies.clear()
    again = client.get(f"/s/{key}?score=1")
    assert again.status_code == 200 and "You have already answered" in again.text
    second = _send(client, key, SIGNER.display_token(shop.survey_id, "email"), 1)
    assert second.status_code == 200 and "You have already answered" in second.text
    assert count_responses(engine) == 1

    login(client, OWNER)
    page, rows = _results_and_export(client, shop)
    assert "ann@example.com" not in page.lower()
    assert "Good enough." in page
    assert [(row["channel"], row["recipient_email"]) for row in rows] == [("email", "")]


def _item_and_export(
    client: TestClient, engine: Engine, shop: Seeded
) -> tuple[str, dict[str, str]]:
    """The inbox item of the newest answer and its row of the CSV export."""
    response_id = _scalar(engine, "SELECT max(id) FROM response")
    item = client.get(f"/admin/inbox/{response_id}")
    assert item.status_code == 200
    _, rows = _results_and_export(client, shop)
    [row] = rows
    return item.text, row


def test_the_inbox_item_and_the_export_show_the_answered_records_reference(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=OWNER)
    properties = {"plan": "pro", "items": 3}
    _, key = _invite(
        engine, shop, external_id="order-1001", event="purchase", properties=properties
    )
    _answer_with_comment(client, key, 3, "The parcel came late.")
    login(client, OWNER)

    item, row = _item_and_export(client, engine, shop)

    reference = item.split('id="item-reference">', 1)[1].split("</dd>", 1)[0]
    visible = " ".join(unescape(re.sub(r"<[^>]+>", " ", reference)).split())
    assert visible == "order-1001 · purchase items : 3 plan : pro"
    assert (row["recipient_email"], row["external_id"], row["event"]) == (
        "ann@example.com",
        "order-1001",
        "purchase",
    )
    assert json.loads(row["properties"]) == properties


def test_an_anonymous_surveys_item_and_export_show_no_reference(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=OWNER, anonymous=True)
    _, key = _invite(engine, shop, external_id="order-1001", event="purchase", properties={"a": 1})
    _answer_with_comment(client, key, 3, "The parcel came late.")
    login(client, OWNER)

    item, row = _item_and_export(client, engine, shop)

    assert "The parcel came late." in item
    assert "item-reference" not in item and "order-1001" not in item and "purchase" not in item
    assert row["comment"] == "The parcel came late."
    assert (row["recipient_email"], row["external_id"], row["event"], row["properties"]) == (
        "",
        "",
        "",
        "",
    )


def test_a_survey_made_anonymous_later_shows_no_address_either(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=OWNER)
    _, key = _invite(engine, shop, "ann@example.com")
    _answer_with_comment(client, key, 9, "Fine.")
    with db.write(engine) as conn:
        conn.execute(text("UPDATE survey SET anonymous = true"))
    login(client, OWNER)
    page, rows = _results_and_export(client, shop)
    assert "ann@example.com" not in page
    assert rows[0]["recipient_email"] == ""


# -- unsubscribing -------------------------------------------------------------------


def test_the_unsubscribe_page_changes_nothing_and_one_click_suppresses(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email_delay_days=5)
    invitation_id, key = _invite(engine, shop, "ann@example.com", language="de")
    assert _invariant(engine, shop.account_id) == (1, 1)

    page = client.get(f"/u/{key}")
    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "Von den Umfragen von Shop abmelden?" in page.text
    assert "ann@example.com" in page.text
    assert re.search(rf'<form[^>]*method="post" action="/u/{re.escape(key)}"', page.text)
    assert page.headers["referrer-policy"] == "no-referrer"
    assert _scalar(engine, "SELECT unsubscribed_at FROM recipient") is None
    assert _status(engine, invitation_id) == "scheduled"

    # RFC 8058: the mail provider's POST, without the page, cookies or a token.
    assert not client.cookies
    one_click = client.post(
        f"/u/{key}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert one_click.status_code == 200
    assert "Sie sind abgemeldet" in one_click.text
    assert _scalar(engine, "SELECT unsubscribed_at FROM recipient") is not None
    assert _status(engine, invitation_id) == "cancelled"  # still scheduled: given back
    assert _invariant(engine, shop.account_id) == (0, 0)
    # Idempotent, as multipart form data too (RFC 8058 prefers it).
    repeat = client.post(f"/u/{key}", files={"List-Unsubscribe": (None, "One-Click")})
    assert repeat.status_code == 200 and "Sie sind abgemeldet" in repeat.text
    assert "Sie sind abgemeldet" in client.get(f"/u/{key}").text
    assert _invariant(engine, shop.account_id) == (0, 0)

    later = records.accept(
        engine,
        shop.account_id,
        record_in.parse({"survey_id": shop.survey_id, "email": "ANN@example.com"}, NOW),
        Source("api", "Shop"),
        NOW,
        UTC_ZONE,
    )
    assert later.code == "unsubscribed"


def test_a_sent_invitation_stays_answerable_after_unsubscribing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    invitation_id, key = _invite(engine, shop)
    with db.write(engine) as conn:
        conn.execute(text("UPDATE invitation SET status = 'sent', sent_at = :t"), {"t": NOW})
    assert client.post(f"/u/{key}").status_code == 200
    assert _invariant(engine, shop.account_id) == (1, 1)  # sent: it stays counted
    _answer(client, key, 9)
    assert _status(engine, invitation_id) == "answered"


def test_the_pages_words_are_apart_from_the_link_surveys() -> None:
    """The invitation pages read the link survey's words with their own on top:
    no name of theirs may hide one of the link survey's."""
    for lang in i18n.LANGUAGES:
        sections = [i18n.section(lang, prefix) for prefix in invitations.SECTIONS]
        names = [name for words in sections for name in words]
        assert len(names) == len(set(names)), lang


@pytest.mark.parametrize("score", ["11", "-1", "x", ""])
def test_a_score_outside_the_scale_asks_again(
    client: TestClient, engine: Engine, score: str
) -> None:
    shop = seed(engine)
    invitation_id, key = _invite(engine, shop)
    page = _send(client, key, _open(client, key), score)
    assert page.status_code == 422 and "Please choose a score." in page.text
    assert _status(engine, invitation_id) == "scheduled"
