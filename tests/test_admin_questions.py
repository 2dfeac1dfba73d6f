"""The survey form's follow-up question editor through the ASGI client: five
fixed slots that work without JavaScript, saved in the admin's order with
option ids that survive edits, errors that say how to fix them, and the
results page and CSV export that show the answers."""

from __future__ import annotations

import html
import json

from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.platform import db
from app.surveys import model as surveys
from tests.admin_helpers import login, post_form
from tests.conftest import seed
from tests.test_follow_up_questions import QUESTIONS

EMAIL = "owner@shop.example"


def _form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Checkout",
        "kind": "nps",
        "language": "auto",
        "review_audience": "all",
        "recontact_days": "90",
        "sample_percent": "100",
        "delay_seconds": "0",
        "color": "#1f5fbf",
        "position": "bottom-right",
    }
    form.update(changes)
    return form


def _stored(engine: Engine, survey_id: int) -> list[dict[str, object]]:
    with db.read(engine) as conn:
        raw = conn.execute(
            text("SELECT questions FROM survey WHERE id = :i"), {"i": survey_id}
        ).scalar_one()
    return json.loads(raw) if isinstance(raw, str) else raw  # type: ignore[no-any-return]


def test_questions_are_saved_in_order_and_keep_their_ids(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    page = f"/admin/surveys/{shop.survey_id}"
    form = client.get(page).text
    for slot in range(5):
        assert f'<select id="q{slot}_kind" name="q{slot}_kind">' in form
    assert 'id="de_q4_options"' in form

    saved = post_form(
        client,
        page,
        page,
        _form(
            q0_kind="text",
            q0_order="2",
            en_q0_label="Anything else?",
            q0_seg_0="1",
            q0_seg_1="1",
            q0_seg_2="1",
            q2_kind="tags",
            q2_order="1",
            q2_max="2",
            en_q2_label="What went wrong?",
            de_q2_label="Was lief schief?",
            en_q2_options="Delivery\nPrice\n\nSupport\n",
            de_q2_options="Lieferung\nPreis\nSupport",
            q2_seg_0="1",
            # A slot that is not asked is dropped with whatever it says.
            q3_kind="",
            en_q3_label="Forgotten",
        ),
    )
    assert saved.status_code == 303, saved.text
    first = _stored(engine, shop.survey_id)
    assert [q["kind"] for q in first] == ["tags", "text"]
    tags = first[0]
    assert tags["labels"] == {"en": "What went wrong?", "de": "Was lief schief?"}
    assert tags["segments"] == ["detractor"]
    assert tags["max_picks"] == 2
    assert [o["labels"] for o in tags["options"]] == [  # type: ignore[union-attr]
        {"en": "Delivery", "de": "Lieferung"},
        {"en": "Price", "de": "Preis"},
        {"en": "Support", "de": "Support"},
    ]
    assert "segments" not in first[1]  # every group ticked: asked of all
    ids = {o["labels"]["en"]: o["id"] for o in tags["options"]}  # type: ignore[index, union-attr]

    # The form shows them in their order; moved, renamed and removed options keep ids.
    again = html.unescape(client.get(page).text)
    assert f'name="q0_id" value="{tags["id"]}"' in again
    assert "Delivery\nPrice\nSupport</textarea>" in again
    resaved = post_form(
        client,
        page,
        page,
        _form(
            q0_kind="tags",
            q0_id=str(tags["id"]),
            q0_max="2",
            en_q0_label="What went wrong?",
            en_q0_options="Shipping\nSupport\nPrice",  # one renamed in place, two moved
            de_q0_options="Versand\nSupport\nPreis",
            q0_seg_0="1",
        ),
    )
    assert resaved.status_code == 303, resaved.text
    second = _stored(engine, shop.survey_id)
    assert len(second) == 1 and second[0]["id"] == tags["id"]
    kept = {o["labels"]["en"]: o["id"] for o in second[0]["options"]}  # type: ignore[index, union-attr]
    assert kept["Support"] == ids["Support"] and kept["Price"] == ids["Price"]
    # "Shipping" stands where "Delivery" stood: an edited label, the same option.
    assert kept["Shipping"] == ids["Delivery"]
    with db.read(engine) as conn:
        survey = surveys.find(conn, shop.survey_id)
    assert survey is not None and survey.questions[0].option(ids["Delivery"]) is not None


def test_editor_errors_say_how_to_fix_them(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    page = f"/admin/surveys/{shop.survey_id}"
    refused = post_form(
        client,
        page,
        page,
        _form(
            q0_kind="single",
            en_q0_options="Yes",
            q0_seg_0="1",
            q1_kind="multiple",
            en_q1_label="Which?",
            en_q1_options="A\nB\nC",
            de_q1_options="A\nB",
            q2_kind="tags",
            en_q2_label="Tags",
            en_q2_options="x\nX",
            q2_max="11",
            q2_seg_1="1",
            q3_kind="text",
            en_q3_label="Why?",
            q4_kind="poll",
        ),
    )
    assert refused.status_code == 422
    body = html.unescape(refused.text)
    for message in (
        "Question 1: Question (English): Please write the question in at least one language,"
        " or set its type to “Not asked”.",
        "Question 1: Options (English): Please list at least two options, one per line.",
        "Question 2: Options (German): This language lists 2 options, another 3. Give each"
        " language the same options, one per line in the same order.",
        "Question 3: Options (English): “X” is listed twice; please list each option once.",
        "Question 3: Most tags a visitor may pick: Please enter a whole number from 1 to 10.",
        "Question 4: Asked of: Please tick at least one group to ask, or set the type to"
        " “Not asked”.",
        "Question 5: Type: Please choose one of the options.",
    ):
        assert message in body, message
    assert 'id="en_q0_label" name="en_q0_label" value="" aria-describedby="en_q0_label-error"' in (
        body
    )
    assert _stored(engine, shop.survey_id) == []  # nothing saved


def test_the_editor_in_german(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    page = client.get(f"/admin/surveys/{shop.survey_id}", headers={"Accept-Language": "de"})
    body = html.unescape(page.text)
    assert "Folgefragen" in body and "Nicht gefragt" in body and "Schlagwörter (Chips)" in body


def test_results_and_the_csv_export_show_the_answers(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL, questions=QUESTIONS)
    sent = [
        (2, "Late", {"qwhy": ["odel", "opri"], "qagain": "ono"}),
        (3, None, {"qwhy": ["odel"], "qmore": "=cmd|' /C calc'!A0"}),
        (10, "Great", {"qlove": "Speed", "qagain": "oyes"}),
    ]
    for score, comment, given in sent:
        token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
        body = {"display_token": token, "score": score, "answers": given}
        if comment:
            body["comment"] = comment
        assert client.post("/api/v1/responses", json=body).status_code == 201
    login(client, EMAIL)
    base = f"/admin/surveys/{shop.survey_id}"
    page = html.unescape(client.get(f"{base}/results?period=2026-05").text)
    panel = page.split('id="follow-ups-heading"', 1)[1].split("</section>", 1)[0]
    assert 'What went wrong? <span class="sub">(2 answers)</span>' in panel
    assert "<td>Delivery</td><td>2</td>" in panel and "<td>Support</td><td>0</td>" in panel
    assert "<td>No</td><td>1</td>" in panel and "<td>Yes</td><td>1</td>" in panel
    assert "<li>=cmd|' /C calc'!A0</li>" in panel
    comments = page.split('id="comments-heading"', 1)[1]
    assert "<dt>What went wrong?</dt><dd>Delivery, Price</dd>" in comments
    assert "<dt>What do you love?</dt><dd>Speed</dd>" in comments

    export = client.get(f"{base}/export.csv", params={"period": "2026-05"})
    assert export.status_code == 200
    lines = export.text.lstrip("\ufeff").splitlines()
    assert lines[0].endswith(
        ',"answer: What went wrong?","answer: Will you order again?",'
        '"answer: Which did you use?","answer: Anything else?","answer: What do you love?"'
    )
    assert lines[1].endswith(',"Delivery, Price","No","","",""')
    assert lines[2].endswith(',"Delivery","","","\'=cmd|\' /C calc\'!A0",""')  # no formula runs
    assert lines[3].endswith(',"","Yes","","","Speed"')
