"""Deleting a response or a survey through the admin: a confirmation page
first, budget never given back, another account's ids answer 404."""

from __future__ import annotations

import html
import re

from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.invitations import record_in
from app.platform import db
from app.platform.signing import Signer
from app.privacy import deletions
from tests.admin_helpers import login, post_form, text_of
from tests.conftest import SECRET, count_responses, seed, usage_row

EMAIL = "owner@shop.example"
PERIOD = "2026-05"
SIGNER = Signer((SECRET,), 3600)


def _answer(client: TestClient, key: str, score: int, comment: str) -> tuple[int, str]:
    """Answer with a comment; the response's id and its display token."""
    token = client.get(f"/api/v1/widget/{key}").json()["display_token"]
    body = {"display_token": token, "score": score, "comment": comment}
    answer = client.post("/api/v1/responses", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"]), token


def _rows(engine: Engine, table: str, survey_id: int) -> int:
    column = "id" if table == "survey" else "survey_id"
    with db.read(engine) as conn:
        return int(
            conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :s"), {"s": survey_id}
            ).scalar_one()
        )


def test_delete_one_response_after_confirming(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    kept, _ = _answer(client, shop.embed_key, 9, "keep me")
    gone, _ = _answer(client, shop.embed_key, 2, "delete me")
    login(client, EMAIL)
    results = f"/admin/surveys/{shop.survey_id}/results?period={PERIOD}"
    listing = client.get(results).text
    confirm = f"/admin/surveys/{shop.survey_id}/responses/{gone}/delete"
    assert f'href="{confirm}"' in listing

    page = client.get(confirm)
    assert page.status_code == 200
    words = html.unescape(page.text)
    assert "Delete this response?" in words
    assert "delete me" in words and "keep me" not in words
    assert "deleting does not give budget back" in words
    assert count_responses(engine) == 2  # showing the question deletes nothing

    done = post_form(client, confirm, confirm, {})
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    assert "The response was deleted." in after
    assert "delete me" not in after and "keep me" in after
    assert text_of(after, "responses") == "1 response"
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT id FROM response")).scalars().all() == [kept]
    # Counted is counted: the budget stays used.
    assert usage_row(engine, shop.account_id, PERIOD) == (2, 0)
    assert client.get(confirm).status_code == 404


def test_delete_a_survey_with_everything_on_it(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    other = seed(engine, email="other@competitor.example")
    _answer(client, shop.embed_key, 9, "one")
    _, open_token = _answer(client, shop.embed_key, 3, "two")
    _answer(client, SIGNER.test_embed_key(shop.public_id), 5, "a test")
    _answer(client, other.embed_key, 10, "theirs")
    # A display token handed out before the deletion, answered after it.
    late = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    login(client, EMAIL)
    survey_page = f"/admin/surveys/{shop.survey_id}"
    assert f'href="{survey_page}/delete"' in client.get(survey_page).text

    confirm = client.get(f"{survey_page}/delete")
    assert confirm.status_code == 200
    words = html.unescape(confirm.text)
    assert "Delete “Survey”?" in words
    assert text_of(confirm.text, "delete-text").startswith("The survey, its 2 responses and its")
    assert "deleting does not give budget back" in words
    for table in ("survey", "test_response", "contact"):
        assert _rows(engine, table, shop.survey_id) == 1, table

    done = post_form(client, f"{survey_page}/delete", f"{survey_page}/delete", {})
    assert done.status_code == 303
    listing = html.unescape(client.get(done.headers["location"]).text)
    assert "The survey “Survey” was deleted." in listing
    for table in ("survey", "response", "test_response", "contact"):
        assert _rows(engine, table, shop.survey_id) == 0, table
    # The other account keeps everything; this account's budget stays used.
    assert _rows(engine, "response", other.survey_id) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (2, 0)
    dashboard = html.unescape(client.get("/admin/dashboard").text)
    assert text_of(dashboard, "remaining") == "48"
    assert "In a survey that was deleted since" in dashboard

    # Its widget, its link, its test key and its open displays stop working.
    assert client.get(f"/api/v1/widget/{shop.embed_key}").status_code == 404
    assert client.get(f"/api/v1/widget/{SIGNER.test_embed_key(shop.public_id)}").status_code == 404
    assert client.get(f"/s/{shop.link_key}").status_code == 404
    for token in (late, open_token):
        answer = client.post("/api/v1/responses", json={"display_token": token, "score": 9})
        assert answer.status_code == 404
    assert client.get(survey_page).status_code == 404
    assert usage_row(engine, shop.account_id, PERIOD) == (2, 0)


def test_the_delete_buttons_need_the_csrf_token(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    response_id, _ = _answer(client, shop.embed_key, 9, "stays")
    login(client, EMAIL)
    base = f"/admin/surveys/{shop.survey_id}"
    for path in (f"{base}/delete", f"{base}/responses/{response_id}/delete"):
        refused = client.post(path, data={"csrf_token": "forged"})
        assert refused.status_code == 403, path
    assert _rows(engine, "survey", shop.survey_id) == 1
    assert count_responses(engine) == 1
    assert re.search(r"stays", client.get(f"{base}/results?period={PERIOD}").text)


def test_an_answer_racing_the_deletion_of_its_survey_is_a_404(
    client: TestClient, engine: Engine
) -> None:
    """A worker's cached copy of a survey may outlive the survey by a second:
    an answer arriving then is refused as for an unknown survey, never a 500."""
    shop = seed(engine)
    _answer(client, shop.embed_key, 9, "first")  # this worker now holds the survey
    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    assert deletions.delete_survey(engine, shop.account_id, shop.survey_id)
    late = client.post("/api/v1/responses", json={"display_token": token, "score": 3})
    assert late.status_code == 404
    assert late.json()["code"] == "unknown_survey"
    assert count_responses(engine) == 0


def test_a_survey_with_records_and_a_refused_origin_can_be_deleted(engine: Engine) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from app.invitations import records

    now = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
    shop = seed(engine, email=EMAIL, email_delay_days=3)
    source = records.Source("api", "Shop")
    for address in ("a@example.com", "b@example.com"):
        wanted = record_in.parse({"survey_id": shop.survey_id, "email": address}, now)
        assert records.accept(
            engine, shop.account_id, wanted, source, now, ZoneInfo("UTC")
        ).accepted
    with db.write(engine) as conn:
        # One was sent already: it stays counted; the other still waits.
        conn.execute(text("UPDATE invitation SET status = 'sent' WHERE id = 1"))
        conn.execute(
            text(
                "INSERT INTO refused_origin (survey_id, account_id, origin, refused_at)"
                " VALUES (:s, :a, 'https://elsewhere.example', :t)"
            ),
            {"s": shop.survey_id, "a": shop.account_id, "t": now.replace(tzinfo=None)},
        )

    assert deletions.delete_survey(engine, shop.account_id, shop.survey_id, now)

    for table in ("survey", "record", "invitation", "refused_origin"):
        assert _rows(engine, table, shop.survey_id) == 0, table
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM recipient")).scalar_one() == 2
