"""A widget refused on an origin its survey does not allow: the refusal is
kept apart from the healthy "last data sync", the dashboard warns about it,
and "Allow this origin" adds the origin, scoped to the admin's account and
behind the CSRF check."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Table, select, text
from starlette.testclient import TestClient

from app.platform import db
from app.platform.models import contact_table, refused_origin_table
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import Clock, seed

EMAIL = "owner@shop.example"
ALLOWED = "http://localhost:8090"
REFUSED = "http://127.0.0.1:8090"


def config(client: TestClient, embed_key: str, origin: str | None) -> Any:
    headers = {"Origin": origin} if origin else {}
    return client.get(f"/api/v1/widget/{embed_key}", headers=headers).json()


def rows(engine: Engine, table: Table) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(select(table)).mappings())


def allowed_origins(engine: Engine, survey_id: int) -> list[str]:
    with db.read(engine) as conn:
        row = conn.execute(
            text("SELECT allowed_origins FROM survey WHERE id = :id"), {"id": survey_id}
        ).scalar_one()
    return list(row if isinstance(row, list) else json.loads(row))


WARNING = re.compile(r'<div class="warn-box refusal"[^>]*>\s*<p><strong>(.*?)</strong>', re.S)


def warnings(page: str) -> list[str]:
    """The dashboard's refusal warnings, in order."""
    return [html.unescape(found) for found in WARNING.findall(page)]


def test_refusal_is_kept_apart_from_the_last_data_sync(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, origins=[ALLOWED], email=EMAIL)
    assert config(client, shop.embed_key, REFUSED) == {
        "show": False,
        "reason": "origin_not_allowed",
    }
    [refusal] = rows(engine, refused_origin_table)
    assert (refusal["survey_id"], refusal["account_id"], refusal["origin"]) == (
        shop.survey_id,
        shop.account_id,
        REFUSED,
    )
    assert rows(engine, contact_table) == []  # a refusal is no healthy contact

    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    assert text_of(page, "last-sync") == "No widget or link has contacted the server yet."
    assert warnings(page) == [
        "The widget of survey “Survey” was refused on http://127.0.0.1:8090 "
        "(last at 14 May 2026, 12:00 UTC): this origin is not allowed."
    ]
    assert 'name="origin" value="http://127.0.0.1:8090"' in page
    assert f'href="/admin/help/widget?survey={shop.survey_id}#origins"' in page

    # A healthy contact within the same minute is still recorded, and shown.
    assert config(client, shop.embed_key, ALLOWED)["show"] is True
    [contact] = rows(engine, contact_table)
    assert contact["origin"] == ALLOWED
    page = client.get("/admin/dashboard").text
    assert text_of(page, "last-sync") == "14 May 2026, 12:00 UTC"
    assert len(warnings(page)) == 1  # the refusal still stands beside it


def test_refusals_are_written_at_most_once_a_minute_per_survey(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, origins=[ALLOWED])
    first_at = clock.now
    config(client, shop.embed_key, REFUSED)
    clock.now += timedelta(seconds=20)
    for _ in range(5):
        config(client, shop.embed_key, "https://other.example")
    [refusal] = rows(engine, refused_origin_table)
    assert (refusal["origin"], refusal["refused_at"]) == (REFUSED, first_at)
    # Once the minute has passed, the next refusal overwrites the row.
    client.app.state.ctx.contacts.interval = 0  # type: ignore[attr-defined]
    config(client, shop.embed_key, "https://other.example")
    [refusal] = rows(engine, refused_origin_table)
    assert refusal["origin"] == "https://other.example"


def test_allow_this_origin_ends_the_refusal(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, origins=[ALLOWED], email=EMAIL)
    assert config(client, shop.embed_key, REFUSED)["show"] is False  # cached now
    login(client, EMAIL)

    answer = post_form(
        client,
        "/admin/dashboard",
        f"/admin/surveys/{shop.survey_id}/allowed-origins",
        {"origin": REFUSED},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/dashboard"
    assert allowed_origins(engine, shop.survey_id) == [ALLOWED, REFUSED]
    # The widget config cache was cleared: the next view from there is asked.
    assert config(client, shop.embed_key, REFUSED)["show"] is True
    page = client.get("/admin/dashboard").text
    assert warnings(page) == []
    assert (
        "http://127.0.0.1:8090 is now allowed for “Survey”. Reload that page to see the widget."
        in page
    )

    # Sent twice (a double click): the origin is listed once.
    again = post_form(
        client,
        "/admin/dashboard",
        f"/admin/surveys/{shop.survey_id}/allowed-origins",
        {"origin": REFUSED + "/"},
    )
    assert again.status_code == 303
    assert allowed_origins(engine, shop.survey_id) == [ALLOWED, REFUSED]


def test_allowing_on_a_survey_open_to_every_origin_restricts_nothing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    answer = post_form(
        client,
        "/admin/dashboard",
        f"/admin/surveys/{shop.survey_id}/allowed-origins",
        {"origin": REFUSED},
    )
    assert answer.status_code == 303
    assert allowed_origins(engine, shop.survey_id) == []
    assert config(client, shop.embed_key, "https://any.example")["show"] is True


def test_allow_origin_is_scoped_to_the_account_and_csrf_checked(
    client: TestClient, engine: Engine
) -> None:
    seed(engine, email=EMAIL)
    other = seed(engine, origins=[ALLOWED], email="other@competitor.example")
    config(client, other.embed_key, REFUSED)
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    assert warnings(page) == []  # another account's refusal is not shown here
    token = csrf_from(page)
    action = f"/admin/surveys/{other.survey_id}/allowed-origins"

    taken = client.post(action, data={"csrf_token": token, "origin": REFUSED})
    assert taken.status_code == 404
    assert "There is no such survey in your account." in taken.text
    for data in ({"origin": REFUSED}, {"origin": REFUSED, "csrf_token": token + "x"}):
        assert client.post(action, data=data).status_code == 403
    cross = client.post(
        action,
        data={"csrf_token": token, "origin": REFUSED},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert allowed_origins(engine, other.survey_id) == [ALLOWED]


def test_own_survey_without_the_token_is_403(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, origins=[ALLOWED], email=EMAIL)
    login(client, EMAIL)
    answer = client.post(
        f"/admin/surveys/{shop.survey_id}/allowed-origins", data={"origin": REFUSED}
    )
    assert answer.status_code == 403
    assert allowed_origins(engine, shop.survey_id) == [ALLOWED]


def test_a_page_opened_as_a_file_is_explained_not_offered(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, origins=[ALLOWED], email=EMAIL)
    config(client, shop.embed_key, "null")
    login(client, EMAIL)
    page = client.get("/admin/dashboard").text
    [warning] = warnings(page)
    assert "was refused on null" in warning
    assert "Open it through a web server instead" in page
    assert "allowed-origins" not in page

    # Sent by hand anyway: nothing changes, and the survey's form is the way on.
    answer = post_form(
        client,
        "/admin/dashboard",
        f"/admin/surveys/{shop.survey_id}/allowed-origins",
        {"origin": "null"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/surveys/{shop.survey_id}"
    assert "null could not be allowed" in client.get(answer.headers["location"]).text
    assert allowed_origins(engine, shop.survey_id) == [ALLOWED]


def test_old_refusals_and_switched_off_surveys_warn_no_more(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, origins=[ALLOWED], email=EMAIL)
    config(client, shop.embed_key, REFUSED)
    login(client, EMAIL)
    assert len(warnings(client.get("/admin/dashboard").text)) == 1

    clock.now += timedelta(days=31)
    assert warnings(client.get("/admin/dashboard").text) == []

    clock.now -= timedelta(days=31)
    post_form(
        client,
        f"/admin/surveys/{shop.survey_id}",
        f"/admin/surveys/{shop.survey_id}/active",
        {"active": "0"},
    )
    assert warnings(client.get("/admin/dashboard").text) == []


def test_german_dashboard_warning(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, origins=[ALLOWED], email=EMAIL)
    config(client, shop.embed_key, REFUSED)
    login(client, EMAIL)
    page = client.get("/admin/dashboard", headers={"Accept-Language": "de"}).text
    assert warnings(page) == [
        "Das Widget der Umfrage „Survey“ wurde auf http://127.0.0.1:8090 abgelehnt "
        "(zuletzt am 14. Mai 2026, 12:00 UTC): Diese Herkunft ist nicht erlaubt."
    ]
    assert "Diese Herkunft erlauben" in page


def test_a_full_list_sends_the_owner_to_the_survey_form(client: TestClient, engine: Engine) -> None:
    full = [f"https://shop{number}.example" for number in range(50)]
    shop = seed(engine, origins=full, email=EMAIL)
    login(client, EMAIL)
    answer = post_form(
        client,
        "/admin/dashboard",
        f"/admin/surveys/{shop.survey_id}/allowed-origins",
        {"origin": REFUSED},
    )
    assert answer.headers["location"] == f"/admin/surveys/{shop.survey_id}"
    assert "could not be allowed" in client.get(answer.headers["location"]).text
    assert allowed_origins(engine, shop.survey_id) == full
