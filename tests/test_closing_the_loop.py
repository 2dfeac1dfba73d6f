"""The parts of closing the loop working together: a detractor's follow-up
answers reach the inbox item, the detractor alert and the webhook events;
every change of an inbox item is an ``inbox.updated`` event in the outbox."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import worker
from app.platform import db
from app.webhooks import endpoints as webhooks
from tests.admin_helpers import csrf_from, login
from tests.conftest import Clock, expire_caches, seed
from tests.smtp_server import SmtpServer
from tests.test_follow_up_questions import QUESTIONS
from tests.test_inbox import EMAIL, T0, body_text, inbox_messages, sender, set_alerts


def _events(engine: Engine) -> list[tuple[str, dict[str, object]]]:
    with db.read(engine) as conn:
        found = conn.execute(text("SELECT event_type, body FROM webhook_message ORDER BY id"))
        return [(row[0], json.loads(row[1])["data"]) for row in found]


def test_a_detractors_answers_reach_the_inbox_the_alert_and_the_webhooks(
    client: TestClient, engine: Engine, clock: Clock, smtp_server: SmtpServer
) -> None:
    shop = seed(engine, email=EMAIL)
    webhooks.create(
        engine,
        shop.account_id,
        "http://127.0.0.1:9/hooks",
        ["response.created", "response.updated", "inbox.updated"],
        T0,
        production=False,
    )
    login(client, EMAIL)
    assert set_alerts(client, shop.survey_id, "support@shop.example").status_code == 303
    # The helper's form leaves the question editor out: the questions come after.
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE survey SET questions = :q WHERE id = :s"),
            {"q": json.dumps(QUESTIONS), "s": shop.survey_id},
        )
    expire_caches(client)
    clock.now = T0 + timedelta(seconds=5)

    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    scored = client.post("/api/v1/responses", json={"display_token": token, "score": 3})
    assert scored.status_code == 201
    item = scored.json()["id"]
    later = {"display_token": token, "answers": {"qwhy": ["odel", "opri"], "qagain": "ono"}}
    attached = client.post("/api/v1/responses", json=later)
    assert attached.status_code == 200, attached.text

    created, updated = _events(engine)
    assert created[0] == "response.created" and created[1]["answers"] == {}
    assert updated[0] == "response.updated"
    assert updated[1]["answers"] == {"qwhy": ["odel", "opri"], "qagain": "ono"}
    # Sent again, the same answers change nothing and emit nothing.
    assert client.post("/api/v1/responses", json=later).status_code == 200
    assert len(_events(engine)) == 2

    page = client.get(f"/admin/inbox/{item}").text
    assert "<dt>What went wrong?</dt><dd>Delivery, Price</dd>" in page
    assert "<dt>Will you order again?</dt><dd>No</dd>" in page

    clock.now = T0 + timedelta(seconds=30)
    assert worker.run_pass(sender(engine, smtp_server, clock)).inbox == 1
    alert = body_text(inbox_messages(smtp_server)[0])
    assert "What went wrong?: Delivery, Price" in alert
    assert "Will you order again?: No" in alert

    saved = client.post(
        f"/admin/inbox/{item}/state",
        data={"csrf_token": csrf_from(page), "status": "done", "assignee": ""},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    kind, data = _events(engine)[-1]
    assert kind == "inbox.updated"
    assert data == {"response_id": item, "status": "done", "assignee_id": None}
