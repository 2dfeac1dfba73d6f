"""The admin pages through the ASGI client: figures after real submissions,
tenant isolation, the survey form, tariffs against the budget rule, the CSV
export and the German UI."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.routing import Mount
from starlette.testclient import TestClient

from app.platform import db, i18n
from app.platform.signing import Signer
from app.results import charts, stats
from app.surveys import model as surveys
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import SECRET, Clock, expire_caches, seed, set_budget, usage_row

EMAIL = "owner@shop.example"
TEMPLATES = Path(__file__).resolve().parents[1] / "app" / "templates" / "admin"


def submit(
    client: TestClient,
    embed_key: str,
    score: int,
    comment: str | None = None,
    origin: str | None = None,
) -> int:
    """Show the widget and answer it, as a visitor's browser does."""
    headers = {"Origin": origin} if origin else {}
    config = client.get(f"/api/v1/widget/{embed_key}", headers=headers).json()
    if not config["show"]:
        return 0
    body: dict[str, Any] = {"display_token": config["display_token"], "score": score}
    if comment is not None:
        body["comment"] = comment
    return client.post("/api/v1/responses", json=body, headers=headers).status_code


def answer_once(client: TestClient, embed_key: str, score: int, comment: str) -> int:
    """Show the widget and answer it with a comment; the stored response's id."""
    token = client.get(f"/api/v1/widget/{embed_key}").json()["display_token"]
    body = {"display_token": token, "score": score, "comment": comment}
    answer = client.post("/api/v1/responses", json=body)
    assert answer.status_code == 201
    return int(answer.json()["id"])


def trial_key(public_id: str) -> str:
    return Signer((SECRET,), 3600).test_embed_key(public_id)


def add_survey(engine: Engine, account_id: int, kind: str, name: str) -> tuple[int, str]:
    with db.write(engine) as conn:
        survey_id, public_id = surveys.create_survey(conn, account_id, name=name, kind=kind)
    return survey_id, Signer((SECRET,), 3600).embed_key(public_id)


def survey_row(engine: Engine, survey_id: int) -> Any:
    with db.read(engine) as conn:
        return (
            conn.execute(text("SELECT * FROM survey WHERE id = :id"), {"id": survey_id})
            .mappings()
            .one()
        )


# -- dashboard -------------------------------------------------------------


def test_dashboard_figures_after_real_submissions(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL)
    set_budget(engine, "free", 4)
    login(client, EMAIL)
    empty = client.get("/admin/dashboard").text
    assert text_of(empty, "remaining") == "4"
    assert text_of(empty, "last-accepted") == "No feedback accepted yet."
    assert text_of(empty, "last-sync") == "No widget or link has contacted the server yet."

    clock.now = datetime(2026, 5, 10, 9, 30, tzinfo=UTC)
    assert submit(client, shop.embed_key, 10, origin="https://shop.example") == 201
    clock.now = datetime(2026, 5, 12, 16, 5, tzinfo=UTC)
    assert submit(client, shop.embed_key, 9) == 201
    assert submit(client, shop.embed_key, 3) == 201
    page = client.get("/admin/dashboard").text
    assert text_of(page, "remaining") == "1"
    # 3 in 11.7 days: the last one goes in about 3.9 days.
    assert text_of(page, "forecast") == "At the current pace the budget runs out on 16 May 2026."
    assert 'value="3"' in page and 'max="4"' in page  # the meter: used / limit
    assert "3 of 4 used:" in page and text_of(page, "use-widget") == "3 widget answers"
    assert "The budget resets on 1 June 2026, 00:00 UTC." in page
    assert text_of(page, "last-accepted") == "12 May 2026, 16:05 UTC"
    assert "Survey “Survey”" in page
    assert text_of(page, "last-sync") == "10 May 2026, 09:30 UTC"
    assert "https://shop.example" in page
    # NPS of 10, 9, 3: two promoters, one detractor of three answers -> +33.
    assert text_of(page, "nps") == "+33"
    assert "3 responses" in page
    assert "Promoter: <strong>2</strong> (67%)" in page
    assert "Detractor: <strong>1</strong> (33%)" in page
    assert text_of(page, "refused") == "0"

    clock.now = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
    assert submit(client, shop.embed_key, 8) == 201
    assert submit(client, shop.embed_key, 8) == 0  # the widget hides once the budget is used up
    # A display token fetched before the budget ran out is refused and counted.
    set_budget(engine, "free", 5)
    expire_caches(client)
    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    set_budget(engine, "free", 4)
    refused = client.post("/api/v1/responses", json={"display_token": token, "score": 9})
    assert refused.status_code == 402
    page = client.get("/admin/dashboard").text
    assert text_of(page, "remaining") == "0"
    assert text_of(page, "refused") == "1"
    assert text_of(page, "last-accepted") == "14 May 2026, 12:00 UTC"
    # Exhausted on 14 May; 5 wanted in 13.5 days is about 11 a month: Basic fits.
    assert text_of(page, "forecast") == "The budget ran out on 14 May 2026."
    assert "A tariff that would fit: Basic (500 surveys a month)." in page
    assert usage_row(engine, shop.account_id, "2026-05") == (4, 1)


# -- tenant isolation ------------------------------------------------------

ID_ROUTES = {
    ("GET", "/surveys/{survey_id:int}"),
    ("GET", "/surveys/{survey_id:int}/preview"),
    ("POST", "/surveys/{survey_id:int}"),
    ("POST", "/surveys/{survey_id:int}/active"),
    ("POST", "/surveys/{survey_id:int}/allowed-origins"),
    ("GET", "/surveys/{survey_id:int}/results"),
    ("GET", "/surveys/{survey_id:int}/export.csv"),
    ("GET", "/surveys/{survey_id:int}/delete"),
    ("POST", "/surveys/{survey_id:int}/delete"),
    ("GET", "/surveys/{survey_id:int}/test-answers"),
    ("POST", "/surveys/{survey_id:int}/test-answers/delete"),
    ("GET", "/surveys/{survey_id:int}/rewards"),
    ("POST", "/surveys/{survey_id:int}/rewards/codes"),
    ("POST", "/surveys/{survey_id:int}/rewards/clear"),
    ("GET", "/surveys/{survey_id:int}/responses/{response_id:int}/delete"),
    ("POST", "/surveys/{survey_id:int}/responses/{response_id:int}/delete"),
    # records, uploads and API keys: tests/test_admin_records.py
    ("GET", "/records/{record_id:int}/cancel"),
    ("POST", "/records/{record_id:int}/cancel"),
    ("GET", "/records/uploads/{upload_id:int}"),
    ("GET", "/records/uploads/{upload_id:int}/refused.csv"),
    ("GET", "/api-keys/{key_id:int}/revoke"),
    ("POST", "/api-keys/{key_id:int}/revoke"),
    # the inbox: tests/test_inbox.py
    ("GET", "/inbox/{response_id:int}"),
    ("POST", "/inbox/{response_id:int}/state"),
    ("POST", "/inbox/{response_id:int}/notes"),
    ("POST", "/inbox/{response_id:int}/reply"),
    # webhooks: tests/test_webhooks_admin.py
    ("GET", "/webhooks/{endpoint_id:int}"),
    ("POST", "/webhooks/{endpoint_id:int}"),
    ("POST", "/webhooks/{endpoint_id:int}/test"),
    ("POST", "/webhooks/{endpoint_id:int}/rotate"),
    ("GET", "/webhooks/{endpoint_id:int}/delete"),
    ("POST", "/webhooks/{endpoint_id:int}/delete"),
}


def _admin_id_routes(client: TestClient) -> set[tuple[str, str]]:
    mount = next(
        route
        for route in client.app.routes
        if isinstance(route, Mount) and route.path == "/admin"  # type: ignore[attr-defined]
    )
    found = set()
    for route in mount.routes:
        path = getattr(route, "path", "")
        if "{" in path:
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, path))
    return found


def test_every_route_with_an_id_hides_other_accounts(client: TestClient, engine: Engine) -> None:
    own = seed(engine, email=EMAIL)
    other = seed(engine, email="other@competitor.example")
    theirs = answer_once(client, other.embed_key, 10, comment="theirs")
    their_test = answer_once(client, trial_key(other.public_id), 3, comment="a test")
    # The list below must name every admin route that takes an id.
    assert _admin_id_routes(client) == ID_ROUTES
    login(client, EMAIL)
    token = csrf_from(client.get("/admin/surveys").text)
    base = f"/admin/surveys/{other.survey_id}"
    their_response = f"{base}/responses/{theirs}/delete"
    # Their response under this account's survey id is no more found.
    crossed = f"/admin/surveys/{own.survey_id}/responses/{theirs}/delete"
    answers = {
        "edit form": client.get(base),
        "preview": client.get(f"{base}/preview", params={"en_question": "Taken over?"}),
        "save": client.post(
            base,
            data={
                "csrf_token": token,
                "name": "Taken over",
                "language": "auto",
                "color": "#000000",
            },
        ),
        "deactivate": client.post(f"{base}/active", data={"csrf_token": token, "active": "0"}),
        "allow origin": client.post(
            f"{base}/allowed-origins", data={"csrf_token": token, "origin": "https://x.example"}
        ),
        "results": client.get(f"{base}/results"),
        "export": client.get(f"{base}/export.csv"),
        "confirm deletion": client.get(f"{base}/delete"),
        "delete": client.post(f"{base}/delete", data={"csrf_token": token}),
        "test answers": client.get(f"{base}/test-answers"),
        "clear test answers": client.post(
            f"{base}/test-answers/delete", data={"csrf_token": token}
        ),
        "rewards": client.get(f"{base}/rewards"),
        "add codes": client.post(
            f"{base}/rewards/codes",
            data={"csrf_token": token, "segment": "promoter", "codes": "TAKEN-1"},
            files={"file": ("codes.txt", b"TAKEN-2\n", "text/plain")},
        ),
        "clear codes": client.post(
            f"{base}/rewards/clear", data={"csrf_token": token, "segment": "promoter"}
        ),
    }
    for name, answer in answers.items():
        assert answer.status_code == 404, name
        assert "There is no such survey in your account." in answer.text, name
    for path in (their_response, crossed):
        for answer in (client.get(path), client.post(path, data={"csrf_token": token})):
            assert answer.status_code == 404, path
            assert "There is no such response in your account." in answer.text
    with db.read(engine) as conn:
        kept = conn.execute(text("SELECT id FROM response")).scalars().all()
        kept_tests = conn.execute(text("SELECT id FROM test_response")).scalars().all()
    assert (kept, kept_tests) == ([theirs], [their_test])
    # A survey id that exists nowhere looks exactly the same.
    assert client.get("/admin/surveys/987654").status_code == 404
    row = survey_row(engine, other.survey_id)
    assert (row["name"], bool(row["active"])) == ("Survey", True)
    assert f"/admin/surveys/{other.survey_id}" not in client.get("/admin/surveys").text
    # The other account's answers count on neither this dashboard nor its budget.
    dashboard = client.get("/admin/dashboard").text
    assert text_of(dashboard, "remaining") == "50"
    assert text_of(dashboard, "last-accepted") == "No feedback accepted yet."
    assert text_of(dashboard, "nps") == "No NPS responses this month yet."


# -- surveys ---------------------------------------------------------------


def _survey_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Checkout CSAT",
        "kind": "csat",
        "language": "auto",
        "en_question": "How was checkout?",
        "de_question": "Wie war der Bezahlvorgang?",
        "en_follow_0": "What went wrong?",
        "de_follow_2": "Was hat Ihnen gefallen?",
        "review_url": "https://reviews.example/shop",
        "review_audience": "all",
        "origins": "https://Shop.example/\nhttps://shop.example\n\nhttp://localhost:8080",
        "recontact_days": "30",
        "sample_percent": "50",
        "delay_seconds": "2.5",
        "color": "#AA3300",
        "position": "bottom-left",
    }
    form.update(changes)
    return form


def test_create_survey_with_validation_errors_then_valid(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    bad = post_form(
        client,
        "/admin/surveys/new",
        "/admin/surveys/new",
        _survey_form(
            name="   ",
            kind="stars",
            origins="https://shop.example\nftp://files.example",
            recontact_days="abc",
            sample_percent="0",
            delay_seconds="9" * 40,
            color="red",
            position="middle",
            review_url="javascript:alert(1)",
            en_question="x" * 301,
        ),
    )
    assert bad.status_code == 422
    page = html.unescape(bad.text)
    # Each message in the summary names its field.
    for message in (
        "Name: Please fill this in.",
        "Kind: Please choose one of the options.",
        "Allowed origins: Not an origin like https://shop.example: ftp://files.example",
        "Ask again after (days): Please enter a whole number from 0 to 3650.",
        "Share of visitors asked (%): Please enter a number from 1 to 100.",
        "Delay before showing (seconds): Please enter a number from 0 to 600.",
        "Colour: Please choose a colour like #1f5fbf.",
        "Review link: Please enter a web address starting with https:// or http://.",
        "Question (English): This has 301 characters; please use at most 300.",
        "Position on the page: Please choose one of the options.",
    ):
        assert f"{message}</a></li>" in page, message
    assert "Please correct 10 fields." in page
    assert 'aria-invalid="true"' in bad.text
    # What was typed stays in the form.
    assert "ftp://files.example" in page
    with db.read(engine) as conn:
        count = conn.execute(text("SELECT count(*) FROM survey")).scalar_one()
    assert count == 1

    good = post_form(client, "/admin/surveys/new", "/admin/surveys/new", _survey_form())
    assert good.status_code == 303
    survey_id = int(good.headers["location"].rsplit("/", 1)[1])
    row = survey_row(engine, survey_id)
    assert row["kind"] == "csat"
    assert row["account_id"] == shop.account_id
    stored = {
        key: row[key] for key in ("recontact_days", "sample_rate", "delay_ms", "color", "position")
    }
    assert stored == {
        "recontact_days": 30,
        "sample_rate": 0.5,
        "delay_ms": 2500,
        "color": "#aa3300",
        "position": "bottom-left",
    }
    page = client.get(good.headers["location"]).text
    assert "The survey was created." in page
    assert "https://shop.example\nhttp://localhost:8080" in page  # normalised, deduplicated
    # The snippet on the page works against the real API with its texts.
    snippet = html.unescape(text_of(page, "snippet"))
    embed_key = re.search(r'data-survey="([^"]+)"', snippet).group(1)  # type: ignore[union-attr]
    config = client.get(f"/api/v1/widget/{embed_key}?lang=en").json()
    assert config["show"] is True
    assert config["survey"]["question"] == "How was checkout?"
    assert config["survey"]["follow_up"]["negative"] == "What went wrong?"
    assert config["rules"] == {"delay_ms": 2500, "recontact_days": 30, "sample_rate": 0.5}
    german = client.get(f"/api/v1/widget/{embed_key}?lang=de").json()["survey"]
    assert german["follow_up"]["positive"] == "Was hat Ihnen gefallen?"
    link = text_of(page, "link-url")
    assert link.startswith("http://127.0.0.1:8000/s/")
    assert client.get(link.removeprefix("http://127.0.0.1:8000")).status_code == 200


def test_edit_and_deactivate_survey(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    page = f"/admin/surveys/{shop.survey_id}"
    form_page = client.get(page).text
    assert 'value="Survey"' in form_page
    invalid = post_form(client, page, page, _survey_form(color="#12345", kind="nps"))
    assert invalid.status_code == 422
    assert "Please choose a colour like #1f5fbf." in invalid.text
    assert survey_row(engine, shop.survey_id)["name"] == "Survey"

    saved = post_form(client, page, page, _survey_form(name="Homepage NPS", en_follow_2="Why?"))
    assert saved.status_code == 303
    row = survey_row(engine, shop.survey_id)
    assert row["name"] == "Homepage NPS"
    assert row["kind"] == "nps"  # the posted kind is ignored when editing
    config = client.get(
        f"/api/v1/widget/{shop.embed_key}?lang=en", headers={"Origin": "https://shop.example"}
    ).json()
    assert config["survey"]["follow_up"]["promoter"] == "Why?"
    assert "Follow-up: Promoters, 9\u201310" in client.get(page).text

    off = post_form(client, page, f"{page}/active", {"active": "0"})
    assert off.status_code == 303
    assert "The survey was deactivated." in client.get(page).text
    hidden = client.get(
        f"/api/v1/widget/{shop.embed_key}", headers={"Origin": "https://shop.example"}
    )
    assert hidden.json() == {"show": False, "reason": "inactive"}
    listing = client.get("/admin/surveys").text
    assert "Inactive" in listing
    post_form(client, page, f"{page}/active", {"active": "1"})
    shown = client.get(
        f"/api/v1/widget/{shop.embed_key}", headers={"Origin": "https://shop.example"}
    )
    assert shown.json()["show"] is True


# -- results and export ----------------------------------------------------


def test_results_figures_against_hand_computed_values(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL, tariff="basic")
    csat_id, csat_key = add_survey(engine, shop.account_id, "csat", "CSAT")
    ces_id, ces_key = add_survey(engine, shop.account_id, "ces", "CES")
    for score in (10, 9, 8, 7, 6, 0, 10):
        assert submit(client, shop.embed_key, score) == 201
    for score in (5, 4, 3, 1):
        assert submit(client, csat_key, score) == 201
    for score in (7, 5, 1):
        assert submit(client, ces_key, score) == 201
    login(client, EMAIL)

    nps = client.get(f"/admin/surveys/{shop.survey_id}/results").text
    # 3 promoters, 2 passives, 2 detractors of 7: (3 - 2) / 7 = 14.3 -> +14.
    assert text_of(nps, "figure") == "+14"
    assert text_of(nps, "responses") == "7 responses"
    assert "Passive: <strong>2</strong> (29%)" in nps

    csat = client.get(f"/admin/surveys/{csat_id}/results").text
    assert text_of(csat, "figure") == "3.3"  # (5 + 4 + 3 + 1) / 4 = 3.25
    assert text_of(csat, "positive-share") == "50% answered 4 or 5"
    ces = client.get(f"/admin/surveys/{ces_id}/results").text
    assert text_of(ces, "figure") == "4.3"  # (7 + 5 + 1) / 3 = 4.33

    # The chart has a bar per day of May; the 14th has all seven answers.
    assert nps.count('class="bar"') == 31
    assert "14 May 2026: 7 responses, NPS +14" in nps

    # Another month has no answers but is still a valid page.
    june = client.get(f"/admin/surveys/{shop.survey_id}/results?period=2026-06").text
    assert text_of(june, "responses") == "0 responses"
    bad = client.get(f"/admin/surveys/{shop.survey_id}/results?period=May")
    assert bad.status_code == 400
    assert "The period must look like 2026-05." in bad.text


def test_periods_outside_the_data_are_a_readable_400(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    base = f"/admin/surveys/{shop.survey_id}"
    # The clock stands in May 2026: months from 2000-01 up to the end of 2027 can hold data.
    for period in ("9999-12", "0000-01", "1999-12", "2028-01"):
        for path in (f"{base}/results", f"{base}/export.csv"):
            answer = client.get(path, params={"period": period}, headers={"Accept": "text/html"})
            assert answer.status_code == 400, (path, period)
            assert answer.headers["content-type"].startswith("text/html"), (path, period)
            assert "Choose a month from 2000-01 to 2027-12." in answer.text, (path, period)
            assert answer.headers["cache-control"] == "no-store"
    for period in ("2000-01", "2027-12"):
        assert client.get(f"{base}/results", params={"period": period}).status_code == 200
        export = client.get(f"{base}/export.csv", params={"period": period})
        assert export.status_code == 200
        assert export.text.startswith('\ufeff"id",')


def test_comments_filter_and_pages(client: TestClient, engine: Engine, clock: Clock) -> None:
    shop = seed(engine, email=EMAIL, tariff="basic")
    for number in range(28):
        clock.now = datetime(2026, 5, 1 + number % 28, 10, number, tzinfo=UTC)
        score = 10 if number % 2 else 2
        assert submit(client, shop.embed_key, score, comment=f"note {number:02d}") == 201
    assert submit(client, shop.embed_key, 8) == 201  # without a comment
    login(client, EMAIL)
    url = f"/admin/surveys/{shop.survey_id}/results?period=2026-05"
    first = client.get(url).text
    assert 'Comments <span class="sub">(28)</span>' in first
    assert first.count('class="comment"') == 25
    assert "note 27" in first and "note 02" not in first  # newest first
    assert "Page 1 of 2" in first
    second = client.get(url + "&page=2").text
    assert second.count('class="comment"') == 3
    assert "note 00" in second

    detractors = client.get(url + "&segment=detractor").text
    assert "(14)" in detractors
    assert "note 01" not in detractors and "note 00" in detractors
    assert 'aria-current="page">Detractors' in detractors


def test_csv_export_neutralises_formulas_and_starts_with_bom(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    assert submit(client, shop.embed_key, 9, comment='=HYPERLINK("http://evil.example")') == 201
    assert submit(client, shop.embed_key, 4, comment="+1; -2, @me\nline two") == 201
    assert submit(client, shop.embed_key, 7, comment='plain, with "quotes"') == 201
    assert submit(client, shop.embed_key, 8, comment="<script>alert(1)</script>") == 201
    login(client, EMAIL)
    page = client.get(f"/admin/surveys/{shop.survey_id}/results").text
    # Comments are shown as text, never as markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    export_url = html.unescape(re.search(r'action="([^"]*export\.csv)"', page).group(1))  # type: ignore[union-attr]
    answer = client.get(export_url, params={"from": "2026-05", "to": "2026-05"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [row["score"] for row in rows] == ["9", "4", "7", "8"]
    assert rows[0]["comment"] == '\'=HYPERLINK("http://evil.example")'
    assert rows[1]["comment"] == "'+1; '-2, '@me\nline two"
    assert rows[2]["comment"] == 'plain, with "quotes"'
    assert [row["segment"] for row in rows] == ["promoter", "detractor", "passive", "passive"]


def test_csv_export_quotes_text_and_neutralises_formulas_inside_cells(
    client: TestClient, engine: Engine
) -> None:
    # A spreadsheet whose list separator is ";" (German Excel) splits an
    # unquoted cell at its semicolons; every piece must stay text.
    shop = seed(engine, email=EMAIL)
    hostile = ["ok;=1+1;x", "\uff1d1+1", "fine, -2+3", "two lines\n@SUM(A1)"]
    for comment in hostile:
        assert submit(client, shop.embed_key, 3, comment=comment) == 201
    login(client, EMAIL)
    answer = client.get(f"/admin/surveys/{shop.survey_id}/export.csv", params={"period": "2026-05"})
    assert answer.status_code == 200
    raw = answer.content
    assert raw.startswith(b'\xef\xbb\xbf"id","created_at","survey","kind",')
    rows = raw.decode("utf-8-sig").split("\r\n")
    # Numbers stay unquoted, so they are read as numbers; text is quoted.
    assert re.match(r'\d+,"2026-05-\d\dT[^"]+","Survey","nps","2026-05",3,"detractor",', rows[1])
    assert ',"ok;\'=1+1;x","widget",' in rows[1]
    assert ',"\'\uff1d1+1","widget",' in rows[2]
    assert ',"fine, \'-2+3","widget",' in rows[3]
    assert ',"two lines\n\'@SUM(A1)","widget",' in rows[4]


# -- tariffs ---------------------------------------------------------------


def _current_tariff(client: TestClient) -> str:
    return text_of(client.get("/admin/tariff").text, "current-tariff")


def test_upgrade_now_and_downgrade_next_period(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, email=EMAIL)
    set_budget(engine, "free", 2)
    set_budget(engine, "basic", 4)
    login(client, EMAIL)
    assert [submit(client, shop.embed_key, 9) for _ in range(3)] == [201, 201, 0]

    up = post_form(client, "/admin/tariff", "/admin/tariff", {"code": "basic"})
    assert up.status_code == 303
    assert "You are on Basic now." in client.get("/admin/tariff").text
    assert _current_tariff(client).startswith("Basic")
    assert submit(client, shop.embed_key, 9) == 201  # the bigger budget counts at once

    down = post_form(client, "/admin/tariff", "/admin/tariff", {"code": "free"})
    assert down.status_code == 303
    page = client.get("/admin/tariff").text
    assert "Free applies from June 2026." in page
    assert text_of(page, "pending").startswith("Changes to Free from June 2026.")
    assert _current_tariff(client).startswith("Basic")  # May keeps the bigger budget
    assert submit(client, shop.embed_key, 9) == 201
    assert usage_row(engine, shop.account_id, "2026-05") == (4, 0)

    post_form(client, "/admin/tariff", "/admin/tariff/cancel", {})
    assert 'id="pending"' not in client.get("/admin/tariff").text
    post_form(client, "/admin/tariff", "/admin/tariff", {"code": "free"})

    clock.now = datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC)
    # Weeks later the session of 14 May has expired on the server.
    assert client.get("/admin/tariff", follow_redirects=False).status_code == 303
    login(client, EMAIL)
    assert _current_tariff(client).startswith("Free")
    assert 'id="pending"' not in client.get("/admin/tariff").text
    assert [submit(client, shop.embed_key, 9) for _ in range(3)] == [201, 201, 0]
    assert text_of(client.get("/admin/dashboard").text, "remaining") == "0"
    unknown = post_form(client, "/admin/tariff", "/admin/tariff", {"code": "platinum"})
    assert unknown.status_code == 400


def test_only_changes_to_surveys_or_the_tariff_drop_the_widget_configs(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    app: Any = client.app
    drops: list[str] = []
    monkeypatch.setattr(app.state.ctx.cache, "clear", lambda: drops.append("drop"))
    survey = f"/admin/surveys/{shop.survey_id}"
    forms = [
        ("/admin/account", "/admin/account/language", {"language": "de"}, False),
        ("/admin/account", "/admin/account/password", {"current_password": "wrong"}, False),
        ("/admin/surveys/new", "/admin/surveys/new", _survey_form(), True),
        (survey, survey, _survey_form(name="Renamed"), True),
        (survey, f"{survey}/active", {"active": "0"}, True),
        ("/admin/tariff", "/admin/tariff", {"code": "pro"}, True),
        ("/admin/tariff", "/admin/tariff/cancel", {}, True),
    ]
    for page, action, data, drops_configs in forms:
        answer = post_form(client, page, action, data)
        assert answer.status_code in {303, 422}, action
        assert len(drops) == drops_configs, action
        drops.clear()


# -- language --------------------------------------------------------------


def test_german_ui_from_browser_or_setting(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    assert submit(client, shop.embed_key, 10) == 201
    german = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    assert "Anmelden" in client.get("/admin/login", headers=german).text
    token = csrf_from(client.get("/admin/login").text)
    failed = client.post(
        "/admin/login",
        data={"email": EMAIL, "password": "falsches passwort", "csrf_token": token},
        headers=german,
    )
    assert "Die E-Mail-Adresse oder das Passwort ist nicht korrekt." in failed.text
    login(client, EMAIL)
    page = client.get("/admin/dashboard", headers=german).text
    assert '<html lang="de">' in page
    assert "Verbleibendes Budget" in page
    assert "Das Budget wird am 1. Juni 2026, 00:00 UTC erneuert." in page
    assert "1 von 50 verbraucht:" in page and text_of(page, "use-widget") == "1 Widget-Antwort"
    english = client.get("/admin/dashboard", headers={"Accept-Language": "en-GB"}).text
    assert "Remaining budget" in english

    # The admin's own setting wins over the browser.
    post_form(client, "/admin/account", "/admin/account/language", {"language": "de"})
    page = client.get("/admin/dashboard", headers={"Accept-Language": "en"}).text
    assert "Verbleibendes Budget" in page
    step = client.get("/admin/surveys/new").text
    assert "Neue Umfrage" in step and "Welche Art von Umfrage?" in step
    form = html.unescape(client.get("/admin/surveys/new?kind=nps").text)
    assert "Folgefrage: Kritiker, 0\u20136" in form
    assert "Erlaubte Herkünfte" in form and "Origin" not in form
    post_form(client, "/admin/account", "/admin/account/language", {"language": ""})
    assert "Remaining budget" in client.get("/admin/dashboard").text


def test_bad_admin_input_is_never_a_500(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    base = f"/admin/surveys/{shop.survey_id}"
    for path in (
        f"{base}/results?page=-1&segment=nonsense",
        f"{base}/results?page=99999999999",
        f"{base}/results?page=abc",
        "/admin/surveys/new?kind=<b>",
        "/admin/surveys/abc",
    ):
        answer = client.get(path)
        assert answer.status_code in {200, 404}, path
    assert client.get(f"{base}/export.csv?period=2026-13").status_code == 400
    weird = post_form(
        client, base, base, _survey_form(sample_percent="nan", delay_seconds="inf", origins="\x00")
    )
    assert weird.status_code == 422
    bad_language = post_form(
        client, "/admin/account", "/admin/account/language", {"language": "fr"}
    )
    assert bad_language.status_code == 400


def test_both_languages_have_every_message() -> None:
    assert set(i18n.EN) == set(i18n.DE)
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"_\('([a-z0-9_.-]+)'[,)]", template.read_text()))
    assert used, "no messages found in the templates"
    assert used <= set(i18n.EN), used - set(i18n.EN)


def test_trend_chart_geometry() -> None:
    days = [
        stats.Day(date(2026, 5, 1), 4, 50.0),
        stats.Day(date(2026, 5, 2), 0, None),
        stats.Day(date(2026, 5, 3), 2, -100.0),
        stats.Day(date(2026, 5, 4), 1, 100.0),
    ]
    chart = charts.trend_chart("nps", days)
    assert chart.max_count == 5  # the axis rounds 4 up to 5
    heights = [bar.height for bar in chart.bars]
    assert heights[1] == 0 and heights[0] == 2 * heights[2] == 4 * heights[3]
    # A day without answers breaks the line: one lone dot, then a segment of two.
    assert len(chart.dots) == 3
    assert len(chart.lines) == 1 and chart.lines[0].count(",") == 2
    top, bottom = chart.plot_top, chart.plot_bottom
    assert [y for _x, y in chart.dots] == [
        bottom - (bottom - top) * 0.75,
        bottom,
        top,
    ]
    assert [tick.label for tick in chart.value_ticks] == ["-100", "0", "+100"]
