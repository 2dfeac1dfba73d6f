"""Follow-up questions through the widget API: the config lists them in the
page's language, answers attach to the stored response with the score or
later, bad answers are 422s naming the field, and nothing is half-stored."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.answers import follow_ups as answers
from app.platform import db
from app.privacy import deletions
from tests.conftest import count_responses, seed, usage_row

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "qwhy",
        "kind": "tags",
        "labels": {"en": "What went wrong?", "de": "Was lief schief?"},
        "options": [
            {"id": "odel", "labels": {"en": "Delivery", "de": "Lieferung"}},
            {"id": "opri", "labels": {"en": "Price", "de": "Preis"}},
            {"id": "osup", "labels": {"en": "Support", "de": "Support"}},
        ],
        "segments": ["detractor"],
        "max_picks": 2,
    },
    {
        "id": "qagain",
        "kind": "single",
        "labels": {"en": "Will you order again?", "de": "Bestellen Sie wieder?"},
        "options": [
            {"id": "oyes", "labels": {"en": "Yes", "de": "Ja"}},
            {"id": "ono", "labels": {"en": "No", "de": "Nein"}},
        ],
    },
    {
        "id": "qwhich",
        "kind": "multiple",
        "labels": {"en": "Which did you use?"},
        "options": [
            {"id": "oapp", "labels": {"en": "App"}},
            {"id": "oweb", "labels": {"en": "Website"}},
        ],
    },
    {"id": "qmore", "kind": "text", "labels": {"en": "Anything else?", "de": "Sonst noch?"}},
    {
        "id": "qlove",
        "kind": "text",
        "labels": {"en": "What do you love?"},
        "segments": ["promoter"],
    },
]


def _token(client: TestClient, embed_key: str, lang: str = "en") -> str:
    body = client.get(f"/api/v1/widget/{embed_key}?lang={lang}").json()
    return str(body["display_token"])


def _stored(engine: Engine) -> list[tuple[int, str, str]]:
    with db.read(engine) as conn:
        rows = conn.execute(
            text("SELECT response_id, question_id, value FROM answer ORDER BY id")
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_config_lists_questions_in_the_pages_language(client: TestClient, engine: Engine) -> None:
    s = seed(engine, questions=QUESTIONS)
    german = client.get(f"/api/v1/widget/{s.embed_key}?lang=de").json()["survey"]
    assert german["language"] == "de"
    assert german["questions"][0] == {
        "id": "qwhy",
        "kind": "tags",
        "label": "Was lief schief?",
        "options": [
            {"id": "odel", "label": "Lieferung"},
            {"id": "opri", "label": "Preis"},
            {"id": "osup", "label": "Support"},
        ],
        "segments": ["detractor"],
        "max": 2,
    }
    # A label missing in German falls back to the survey's default language.
    assert german["questions"][2]["label"] == "Which did you use?"
    assert german["questions"][3] == {"id": "qmore", "kind": "text", "label": "Sonst noch?"}
    plain = seed(engine)
    assert client.get(f"/api/v1/widget/{plain.embed_key}").json()["survey"]["questions"] == []


def test_answers_with_the_score_and_later_attach_and_count_nothing(
    client: TestClient, engine: Engine
) -> None:
    s = seed(engine, questions=QUESTIONS)
    token = _token(client, s.embed_key)
    sent = client.post(
        "/api/v1/responses",
        json={
            "display_token": token,
            "score": 3,
            "answers": {"qwhy": ["opri", "odel", "odel"], "qagain": "ono"},
        },
    )
    assert sent.status_code == 201, sent.text
    response_id = sent.json()["id"]
    later = client.post(
        "/api/v1/responses",
        json={"display_token": token, "answers": {"qmore": " Slow\x07 courier ", "qagain": "ono"}},
    )
    assert later.status_code == 200, later.text
    assert _stored(engine) == [
        (response_id, "qwhy", '["odel","opri"]'),  # the admin's order, a repeat once
        (response_id, "qagain", '"ono"'),
        (response_id, "qmore", '"Slow courier"'),
    ]
    assert usage_row(engine, s.account_id, "2026-05") == (1, 0)
    # The first answer stands: another one for the same question is a conflict.
    changed = client.post(
        "/api/v1/responses", json={"display_token": token, "answers": {"qagain": "oyes"}}
    )
    assert changed.status_code == 409
    assert changed.json()["code"] == "answer_already_given"
    with db.read(engine) as conn:
        found = answers.answers_for(conn, [response_id, 999])
    assert [(a.question, a.display) for a in found[response_id]] == [
        ("What went wrong?", "Delivery, Price"),
        ("Will you order again?", "No"),
        ("Anything else?", "Slow courier"),
    ]
    assert 999 not in found


BAD = [
    ({"qnope": "x"}, "answers.qnope", "is not a question of this survey"),
    ({"qagain": "omaybe"}, "answers.qagain", "has no option 'omaybe'"),
    ({"qagain": ["oyes"]}, "answers.qagain", "must be one option id"),
    ({"qwhy": "odel"}, "answers.qwhy", "must be a list of option ids"),
    ({"qwhy": ["odel", "opri", "osup"]}, "answers.qwhy", "allows at most 2 picks"),
    ({"qwhy": ["odel", 3]}, "answers.qwhy", "must be a list of option ids"),
    ({"qmore": "x" * 1001}, "answers.qmore", "must be at most 1000 characters"),
    ({"qmore": 5}, "answers.qmore", "must be text"),
    ({"qlove": "All of it"}, "answers.qlove", "is not asked of detractors"),
    (["qmore"], "answers", "must be an object of question ids"),
    ({f"q{n}": "x" for n in range(6)}, "answers", "may answer at most 5 questions"),
]


@pytest.mark.parametrize(("sent", "field", "message"), BAD)
def test_bad_answers_are_refused_naming_the_field_and_store_nothing(
    client: TestClient, engine: Engine, sent: Any, field: str, message: str
) -> None:
    s = seed(engine, questions=QUESTIONS)
    token = _token(client, s.embed_key)
    # Good answers beside the bad one: none of them is kept, nor the score.
    body = {"display_token": token, "score": 2, "answers": sent}
    if isinstance(sent, dict):
        body["answers"] = {"qagain": "oyes", **sent} if "qagain" not in sent else sent
    refused = client.post("/api/v1/responses", json=body)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {"field": field, "message": message} in problem["errors"]
    assert count_responses(engine) == 0
    assert _stored(engine) == []
    assert usage_row(engine, s.account_id, "2026-05") == (0, 0)


def test_a_later_answer_not_for_the_stored_segment_is_refused_whole(
    client: TestClient, engine: Engine
) -> None:
    s = seed(engine, questions=QUESTIONS)
    token = _token(client, s.embed_key)
    assert client.post("/api/v1/responses", json={"display_token": token, "score": 10}).is_success
    refused = client.post(
        "/api/v1/responses",
        json={"display_token": token, "answers": {"qagain": "oyes", "qwhy": ["odel"]}},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "answers.qwhy", "message": "is not asked of promoters"}
    ]
    assert _stored(engine) == []  # the good answer beside it was not kept either
    # Answers without any score first have nothing to attach to.
    other = _token(client, s.embed_key)
    early = client.post(
        "/api/v1/responses", json={"display_token": other, "answers": {"qagain": "oyes"}}
    )
    assert early.status_code == 422
    assert early.json()["errors"] == [{"field": "score", "message": "is required"}]


def test_another_surveys_question_is_unknown_here(client: TestClient, engine: Engine) -> None:
    seed(engine, questions=QUESTIONS)
    mine = seed(engine, questions=[{"id": "qown", "kind": "text", "labels": {"en": "Why?"}}])
    token = _token(client, mine.embed_key)
    refused = client.post(
        "/api/v1/responses",
        json={"display_token": token, "score": 5, "answers": {"qagain": "oyes"}},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "answers.qagain", "message": "is not a question of this survey"}
    ]


def test_deleting_a_response_or_its_survey_removes_its_answers(
    client: TestClient, engine: Engine
) -> None:
    s = seed(engine, questions=QUESTIONS)
    ids = []
    for _ in range(2):
        sent = client.post(
            "/api/v1/responses",
            json={
                "display_token": _token(client, s.embed_key),
                "score": 9,
                "answers": {"qlove": "Speed", "qagain": "oyes"},
            },
        )
        ids.append(sent.json()["id"])
    assert len(_stored(engine)) == 4
    assert deletions.delete_response(engine, s.account_id, s.survey_id, ids[0])
    assert {row[0] for row in _stored(engine)} == {ids[1]}
    assert deletions.delete_survey(engine, s.account_id, s.survey_id)
    assert _stored(engine) == []
