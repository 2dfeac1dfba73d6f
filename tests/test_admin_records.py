# ruff: noqa: RUF001  (the pages write typographic apostrophes and dashes)
"""The admin's e-mail pages through the ASGI client, on SQLite and PostgreSQL:
API keys shown once and revoked, the records list with its filters and
cancelling, the CSV upload (mixed rows, whole-file refusals, size), the
manual form, the survey's e-mail settings and the account's minimum interval.
Other accounts' keys, records and uploads answer 404."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.accounts import api_keys
from app.invitations import record_in, record_status, records
from app.platform import db, i18n
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import Clock, Seeded, seed, set_budget, usage_row

EMAIL = "owner@shop.example"
OTHER = "other@competitor.example"
PERIOD = "2026-05"


@pytest.fixture
def shop(engine: Engine) -> Seeded:
    return seed(engine, email=EMAIL)


@pytest.fixture
def owner(client: TestClient, shop: Seeded) -> TestClient:
    assert login(client, EMAIL).status_code == 303
    return client


def take(engine: Engine, clock: Clock, seeded: Seeded, email: str, **extra: Any) -> records.Outcome:
    """A record as an integration sends it through the API."""
    wanted = record_in.parse({"survey_id": seeded.survey_id, "email": email, **extra}, clock())
    return records.accept(
        engine, seeded.account_id, wanted, records.Source("api", "Shop"), clock(), UTC
    )


def count(engine: Engine, table: str) -> int:
    with db.read(engine) as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def flash_of(client: TestClient, answer: Any) -> str:
    """The notice the page after a POST's redirect shows."""
    assert answer.status_code == 303, answer.text[:500]
    page = client.get(answer.headers["location"]).text
    match = re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S)
    assert match, "no notice on the page after the redirect"
    return html.unescape(match.group(1))


def visible(page: str) -> str:
    """A page's text without tags, blanks collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# -- API keys -------------------------------------------------------------------


def test_a_key_is_shown_once_and_only_its_hash_is_kept(
    owner: TestClient, engine: Engine, clock: Clock
) -> None:
    bodies: list[str] = []

    def get(path: str) -> str:
        answer = owner.get(path)
        assert answer.status_code == 200
        bodies.append(answer.text)
        return answer.text

    listing = get("/admin/api-keys")
    created = owner.post(
        "/admin/api-keys",
        data={"name": "  Shop   backend ", "csrf_token": csrf_from(listing)},
        follow_redirects=False,
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    bodies.append(created.text)
    secret = text_of(created.text, "secret")
    assert secret.startswith("nbk_") and len(secret) > 40
    # A copy button for the key and a curl example that uses it.
    assert 'data-copy="secret"' in created.text
    curl = text_of(created.text, "curl")
    assert f"Authorization: Bearer {secret}" in curl
    assert "/api/v1/records" in curl and f'"survey_id": {_survey_id(engine)}' in curl
    assert "shown only this once" in created.text
    # Nothing afterwards shows it again.
    listed = get("/admin/api-keys")
    assert "Shop backend" in listed and secret[:10] in listed
    for path in ("/admin/dashboard", "/admin/records", "/admin/account", "/admin/records/upload"):
        get(path)
    assert sum(secret in body for body in bodies) == 1
    assert secret[:20] not in listed
    with db.read(engine) as conn:
        row = conn.execute(text("SELECT * FROM api_key")).mappings().one()
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row.values())
    assert api_keys.authenticate(engine, secret, clock()) is not None


def _survey_id(engine: Engine) -> int:
    with db.read(engine) as conn:
        return int(conn.execute(text("SELECT min(id) FROM survey")).scalar_one())


def test_a_revoked_key_opens_nothing(owner: TestClient, engine: Engine, clock: Clock) -> None:
    listing = owner.get("/admin/api-keys").text
    created = owner.post("/admin/api-keys", data={"name": "CRM", "csrf_token": csrf_from(listing)})
    secret = text_of(created.text, "secret")
    key_id = _key_ids(engine)[0]
    confirm = owner.get(f"/admin/api-keys/{key_id}/revoke")
    assert confirm.status_code == 200
    assert "Revoke the key “CRM”?" in html.unescape(confirm.text)
    # The confirmation page's form does the revoking.
    answer = post_form(
        owner, f"/admin/api-keys/{key_id}/revoke", f"/admin/api-keys/{key_id}/revoke", {}
    )
    assert flash_of(owner, answer) == "The key “CRM” was revoked."
    assert api_keys.authenticate(engine, secret, clock()) is None
    listed = owner.get("/admin/api-keys").text
    assert "Revoked 14 May 2026, 12:00 UTC" in listed
    assert f"/admin/api-keys/{key_id}/revoke" not in listed
    again = post_form(owner, "/admin/api-keys", f"/admin/api-keys/{key_id}/revoke", {})
    assert flash_of(owner, again) == "The key “CRM” was revoked already."


def _key_ids(engine: Engine) -> list[int]:
    with db.read(engine) as conn:
        return list(conn.execute(text("SELECT id FROM api_key ORDER BY id")).scalars())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "Please give the key a name, e.g. the shop or CRM that uses it."),
        ("x" * 81, "A key’s name has at most 80 characters."),
    ],
)
def test_a_key_needs_a_short_name(
    owner: TestClient, engine: Engine, name: str, message: str
) -> None:
    answer = post_form(owner, "/admin/api-keys", "/admin/api-keys", {"name": name})
    assert answer.status_code == 422
    assert text_of(answer.text, "key-name-error") == message
    assert count(engine, "api_key") == 0


def test_another_account_can_neither_see_nor_revoke_a_key(
    owner: TestClient, engine: Engine, clock: Clock
) -> None:
    other = seed(engine, email=OTHER)
    with db.write(engine) as conn:
        theirs, secret = api_keys.create(conn, other.account_id, "Their shop", clock())
    listed = owner.get("/admin/api-keys").text
    assert "Their shop" not in listed and theirs.prefix not in listed
    token = csrf_from(listed)
    path = f"/admin/api-keys/{theirs.id}/revoke"
    for answer in (owner.get(path), owner.post(path, data={"csrf_token": token})):
        assert answer.status_code == 404
        assert "There is no such API key in your account." in answer.text
    assert api_keys.authenticate(engine, secret, clock()) is not None


# -- records ----------------------------------------------------------------------


def test_the_records_page_lists_and_filters(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    second = _second_survey(engine, shop.account_id, "Support")
    scheduled = take(engine, clock, shop, "ann@example.com", name="Ann")
    unsubscribed = take(engine, clock, shop, "ben@example.com")
    _unsubscribe(engine, clock, unsubscribed.id)
    refused = take(engine, clock, shop, "ben@example.com")
    assert refused.code == "unsubscribed"
    again = take(engine, clock, shop, "ann@example.com")
    assert again.code == "recently_surveyed"
    other_survey = take(engine, clock, second, "cleo@example.com")
    # Another account's records are never listed.
    stranger = seed(engine, email=OTHER)
    take(engine, clock, stranger, "stranger@example.com")

    page = owner.get("/admin/records").text
    assert text_of(page, "record-count") == "5 records"
    assert "stranger@example.com" not in page
    row = _row(page, scheduled.id)
    assert "ann@example.com" in row and "Ann" in row and "Scheduled" in row
    assert "14 May 2026, 12:00 UTC" in row and "API Shop" in row
    assert "Cancel" in row
    assert "Refused unsubscribed from your surveys" in _row(page, refused.id)
    assert "Refused invited within the minimum interval" in _row(page, again.id)
    assert "Cancelled" in _row(page, unsubscribed.id)
    assert "Cancel" not in _row(page, refused.id)

    only_refused = owner.get("/admin/records?status=refused").text
    assert text_of(only_refused, "record-count") == "2 records"
    assert _ids(only_refused) == {refused.id, again.id}
    only_scheduled = owner.get("/admin/records?status=scheduled").text
    assert _ids(only_scheduled) == {scheduled.id, other_survey.id}
    by_survey = owner.get(f"/admin/records?survey={second.survey_id}").text
    assert _ids(by_survey) == {other_survey.id}
    both = owner.get(f"/admin/records?status=scheduled&survey={shop.survey_id}").text
    assert _ids(both) == {scheduled.id}
    assert "No records match this filter." in owner.get("/admin/records?status=failed").text
    # Nonsense in the query shows everything rather than failing.
    odd = owner.get("/admin/records?status=%00&survey=abc&page=-3")
    assert odd.status_code == 200 and text_of(odd.text, "record-count") == "5 records"
    # Another account's survey id filters nothing in.
    theirs = owner.get(f"/admin/records?survey={stranger.survey_id}").text
    assert text_of(theirs, "record-count") == "5 records"


def test_the_records_list_shows_each_records_reference_event_and_properties(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    ordered = take(
        engine,
        clock,
        shop,
        "ann@example.com",
        external_id="order-1001",
        event="purchase",
        properties={"plan": "pro", "country": "DE", "repeat": True},
    )
    bare = take(engine, clock, shop, "ben@example.com")

    page = owner.get("/admin/records")

    assert page.status_code == 200
    assert "Reference" in page.text
    row = _row(page.text, ordered.id)
    assert "order-1001 · purchase" in row
    assert "country : DE plan : pro repeat : true" in row
    assert "–" in _row(page.text, bare.id) and "order-1001" not in _row(page.text, bare.id)
    # Markup in a property is shown as text, never run.
    take(engine, clock, shop, "cleo@example.com", properties={"note": "<b>x</b>"})
    assert "&lt;b&gt;x&lt;/b&gt;" in owner.get("/admin/records").text


def _second_survey(engine: Engine, account_id: int, name: str) -> Seeded:
    from app.surveys import model as surveys

    with db.write(engine) as conn:
        survey_id, public_id = surveys.create_survey(conn, account_id, name=name, kind="nps")
    return Seeded(account_id, survey_id, public_id, "", "")


def _unsubscribe(engine: Engine, clock: Clock, record_id: int | None) -> None:
    with db.read(engine) as conn:
        invitation_id = conn.execute(
            text("SELECT id FROM invitation WHERE record_id = :r"), {"r": record_id}
        ).scalar_one()
    assert record_status.unsubscribe(engine, invitation_id, clock()) is not None


def _row(page: str, record_id: int | None) -> str:
    match = re.search(rf'<tr id="record-{record_id}">(.*?)</tr>', page, re.S)
    assert match, f"record {record_id} is not listed"
    return visible(match.group(1))


def _ids(page: str) -> set[int]:
    return {int(found) for found in re.findall(r'<tr id="record-(\d+)">', page)}


def test_the_records_page_is_paged(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    set_budget(engine, "free", 100)
    taken = [take(engine, clock, shop, f"person{n}@example.com").id for n in range(53)]
    first = owner.get("/admin/records").text
    assert text_of(first, "record-count") == "53 records"
    assert len(_ids(first)) == 50 and "Page 1 of 2" in first
    second = owner.get("/admin/records?page=2").text
    assert _ids(second) == set(taken[:3])
    assert 'href="?page=1"' in second
    beyond = owner.get("/admin/records?page=9").text
    assert _ids(beyond) == set(taken[:3])


def test_cancelling_gives_the_count_back(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    outcome = take(engine, clock, shop, "ann@example.com")
    assert usage_row(engine, shop.account_id, PERIOD)[0] == 1
    path = f"/admin/records/{outcome.id}/cancel"
    confirm = owner.get(path).text
    assert "Its count goes back to the budget of May 2026." in confirm
    answer = post_form(owner, path, path, {})
    assert flash_of(owner, answer) == (
        "The invitation to ann@example.com was cancelled; its count went back to the budget."
    )
    assert usage_row(engine, shop.account_id, PERIOD)[0] == 0
    assert "Cancelled" in _row(owner.get("/admin/records").text, outcome.id)
    # Once more: nothing is given back twice.
    assert "can no longer be cancelled" in text_of(owner.get(path).text, "not-cancellable")
    again = post_form(owner, "/admin/records", path, {})
    assert "could not be cancelled" in flash_of(owner, again)
    assert usage_row(engine, shop.account_id, PERIOD)[0] == 0
    # The address may be invited again at once: a cancelled invitation does not count.
    assert take(engine, clock, shop, "ann@example.com").accepted


def test_another_accounts_record_cannot_be_cancelled(
    owner: TestClient, engine: Engine, clock: Clock
) -> None:
    other = seed(engine, email=OTHER)
    theirs = take(engine, clock, other, "their@example.com")
    token = csrf_from(owner.get("/admin/records").text)
    path = f"/admin/records/{theirs.id}/cancel"
    for answer in (owner.get(path), owner.post(path, data={"csrf_token": token})):
        assert answer.status_code == 404
        assert "There is no such record in your account." in answer.text
    assert usage_row(engine, other.account_id, PERIOD)[0] == 1
    assert owner.get("/admin/records/987654/cancel").status_code == 404


# -- CSV upload ---------------------------------------------------------------------


def upload(
    client: TestClient, survey_id: int | str, content: bytes, filename: str = "people.csv"
) -> Any:
    token = csrf_from(client.get("/admin/records/upload").text)
    return client.post(
        "/admin/records/upload",
        data={"csrf_token": token, "survey_id": str(survey_id)},
        files={"file": (filename, content, "text/csv")},
        follow_redirects=False,
    )


MIXED = (
    "\ufeffE-Mail;Name;Language;event_at;external_id;Plan\r\n"
    "ann@example.com;Ann;de;2026-05-10;order-1;pro\r\n"  # 2: scheduled
    "not-an-address;Bob;en;;order-2;basic\r\n"  # 3: invalid
    "cleo@example.com;Cleo;;;order-3;\r\n"  # 4: scheduled
    "ann@example.com;Ann again;;;order-4;\r\n"  # 5: recently surveyed
    'dan@example.com;"Dan "quoted";;;order-5;\r\n'  # 6: malformed
    "cleo@example.com;Cleo;;;order-3;\r\n"  # 7: replayed (order-3 again)
    "ben@example.com;Ben;;;order-6;\r\n"  # 8: unsubscribed
    "\r\n"
    "eve@example.com;Eve;;2030-01-01;order-7;\r\n"  # 10: invalid, too far ahead
    "fay@example.com;Fay;;;order-8;\r\n"  # 11: scheduled, the budget's last unit
    "gus@example.com;Gus;;;order-9;\r\n"  # 12: budget exhausted
).encode()


def test_an_upload_of_mixed_rows_counts_each_outcome(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    set_budget(engine, "free", 3)
    # Ben unsubscribed before; his invitation was given back, so all 3 are left.
    _unsubscribe(engine, clock, take(engine, clock, shop, "ben@example.com").id)
    assert usage_row(engine, shop.account_id, PERIOD)[0] == 0
    sent = upload(owner, shop.survey_id, MIXED, filename="C:\\exports\\May customers.csv")
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert re.fullmatch(r"/admin/records/uploads/\d+", location)
    page = owner.get(location).text
    counts = {
        code: int(text_of(page, f"count-{code}"))
        for code in (
            "scheduled",
            "budget_exhausted",
            "recently_surveyed",
            "unsubscribed",
            "invalid",
            "replayed",
        )
    }
    assert counts == {
        "scheduled": 3,
        "budget_exhausted": 1,
        "recently_surveyed": 1,
        "unsubscribed": 1,
        "invalid": 3,
        "replayed": 1,
    }
    assert "count-survey_unavailable" not in page
    assert "May customers.csv for “Survey”" in html.unescape(text_of(page, "upload-summary"))
    refused = re.search(r'<table class="list" id="refused-rows">(.*?)</table>', page, re.S)
    assert refused
    lines = [visible(row) for row in re.findall(r"<tr><td.*?</tr>", refused.group(1), re.S)]
    assert [line.split()[0] for line in lines] == ["3", "5", "6", "8", "10", "12"]
    assert lines[0].startswith("3 not-an-address Column email: not an e-mail address")
    assert lines[1] == "5 ann@example.com The recipient was invited within the minimum interval."
    # A row that could not be read has no address to show.
    assert lines[2].startswith("6 – The row's quotes do not pair up")
    assert lines[3] == "8 ben@example.com The recipient has unsubscribed from your surveys."
    assert lines[4] == "10 eve@example.com Column event_at: more than a year ahead"
    assert lines[5] == (
        "12 gus@example.com The budget was used up: the record was refused and not kept."
    )
    with db.read(engine) as conn:
        used, rejected_email = conn.execute(
            text("SELECT used, rejected_email FROM usage WHERE account_id = :a"),
            {"a": shop.account_id},
        ).one()
        sync = conn.execute(text("SELECT source, source_name FROM record_sync")).one()
        recipient = conn.execute(
            text("SELECT name, language, properties FROM recipient WHERE email = 'ann@example.com'")
        ).one()
    assert (used, rejected_email) == (3, 1)
    assert tuple(sync) == ("csv", "May customers.csv")
    # What the later row tells about Ann replaces what was known; her language stays.
    assert (recipient.name, recipient.language) == ("Ann again", "de")
    assert "pro" in str(recipient.properties)
    listed = owner.get("/admin/records?status=scheduled").text
    assert "CSV upload May customers.csv" in visible(listed)

    # All refused rows as a CSV download, in the admin's language.
    download = owner.get(f"{location}/refused.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert download.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert table[0] == ["line", "email", "reason"]
    assert [row[0] for row in table[1:]] == ["3", "5", "6", "8", "10", "12"]
    assert table[4] == ["8", "ben@example.com", "The recipient has unsubscribed from your surveys."]
    # The upload is listed on the form's page.
    form = owner.get("/admin/records/upload").text
    assert location in form and "May customers.csv" in form


def test_the_result_page_shows_the_first_hundred_and_the_download_all(
    owner: TestClient, engine: Engine, shop: Seeded
) -> None:
    content = "email\n" + "".join(f"broken-{n}\n" for n in range(130))
    sent = upload(owner, shop.survey_id, content.encode())
    page = owner.get(sent.headers["location"]).text
    assert text_of(page, "count-invalid") == "130"
    assert len(re.findall(r"<tr><td class=\"num\">", page)) == 100
    assert "The first 100 of 130 are shown; the download holds all of them." in page
    download = owner.get(sent.headers["location"] + "/refused.csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(download)))
    assert len(rows) == 131 and rows[-1][:2] == ["131", "broken-129"]


def test_refused_rows_download_quotes_text_and_neutralises_formulas_inside_cells(
    owner: TestClient, shop: Seeded
) -> None:
    # Read with ";" as the list separator, an unquoted "bad;=2+2;y" would be
    # three cells, the second a formula.
    content = "email,name\r\nbad;=2+2;y,X\r\n\uff1d3+3,Y\r\n".encode()
    sent = upload(owner, shop.survey_id, content)
    raw = owner.get(sent.headers["location"] + "/refused.csv").content
    lines = raw.decode("utf-8-sig").split("\r\n")
    assert lines[0] == '"line","email","reason"'
    assert lines[1].startswith('2,"bad;\'=2+2;y","Column email: ')
    assert lines[2].startswith('3,"\'\uff1d3+3","Column email: ')
    assert b"bad;=2+2" not in raw


def test_german_admins_read_the_result_in_german(
    owner: TestClient, engine: Engine, shop: Seeded
) -> None:
    post_form(owner, "/admin/account", "/admin/account/language", {"language": "de"})
    sent = upload(owner, shop.survey_id, b"email;name\nnobody;X\nok@example.com;Y\n")
    page = owner.get(sent.headers["location"]).text
    assert "Nicht angenommene Zeilen" in page
    assert "Spalte email: not an e-mail address" in page
    assert text_of(page, "count-scheduled") == "1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"mail_address;name\nann@example.com;Ann\n",
            "The header on line 1 has no column named email.",
        ),
        (
            "email;name\nann@example.com;Ann\nj\u00fcrgen@example.com;J\u00fcrgen\n".encode(
                "latin-1"
            ),
            "Line 3 is not UTF-8 text.",
        ),
        (
            ("email\n" + "".join(f"p{n}@example.com\n" for n in range(10_001))).encode(),
            "The file has more than 10000 rows.",
        ),
        (
            b"email\tname\nann@example.com\tAnn\n",
            "The columns of the header on line 1 are not separated by semicolons or commas.",
        ),
        (b"", "The file holds no records"),
    ],
    ids=["missing-email-column", "latin-1", "too-many-rows", "tab-delimited", "empty"],
)
def test_a_file_refused_as_a_whole_stores_nothing(
    owner: TestClient, engine: Engine, shop: Seeded, content: bytes, message: str
) -> None:
    answer = upload(owner, shop.survey_id, content, filename="export.csv")
    assert answer.status_code == 422
    assert "The file was not taken; nothing was stored." in answer.text
    assert message in html.unescape(text_of(answer.text, "upload-message"))
    for table in ("record", "recipient", "invitation", "record_upload", "record_sync"):
        assert count(engine, table) == 0, table
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)


def test_a_file_over_the_limit_gets_a_readable_page(
    owner: TestClient, engine: Engine, shop: Seeded
) -> None:
    line = b"someone.with.a.long.address@example.com;" + b"x" * 200 + b"\n"
    content = b"email;note\n" + line * (5 * 1024 * 1024 // len(line) + 10)
    answer = upload(owner, shop.survey_id, content)
    assert answer.status_code == 413
    assert "The file is larger than 5 MB." in text_of(answer.text, "upload-message")
    assert count(engine, "record") == count(engine, "record_upload") == 0


def test_an_upload_needs_a_survey_a_file_and_an_active_survey(
    owner: TestClient, engine: Engine, shop: Seeded
) -> None:
    good = b"email\nann@example.com\n"
    no_survey = upload(owner, "", good)
    assert no_survey.status_code == 422
    assert "Please choose the survey" in no_survey.text
    token = csrf_from(owner.get("/admin/records/upload").text)
    no_file = owner.post(
        "/admin/records/upload", data={"csrf_token": token, "survey_id": str(shop.survey_id)}
    )
    assert no_file.status_code == 422 and "Please choose a CSV file" in no_file.text
    other = seed(engine, email=OTHER)
    theirs = upload(owner, other.survey_id, good)
    assert theirs.status_code == 422 and "There is no such survey" in theirs.text
    post_form(
        owner, f"/admin/surveys/{shop.survey_id}", f"/admin/surveys/{shop.survey_id}/active", {}
    )
    inactive = upload(owner, shop.survey_id, good)
    assert inactive.status_code == 422
    assert "is switched off and sends no invitations" in html.unescape(inactive.text)
    assert count(engine, "record") == count(engine, "record_upload") == 0


def test_an_upload_needs_the_forms_token_and_this_site(
    owner: TestClient, engine: Engine, shop: Seeded
) -> None:
    files = {"file": ("people.csv", b"email\nann@example.com\n", "text/csv")}
    data = {"survey_id": str(shop.survey_id)}
    no_token = owner.post("/admin/records/upload", data=data, files=files)
    assert no_token.status_code == 403
    token = csrf_from(owner.get("/admin/records/upload").text)
    cross_site = owner.post(
        "/admin/records/upload",
        data={**data, "csrf_token": token},
        files=files,
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403
    assert count(engine, "record") == 0


def test_uploads_of_another_account_are_not_found(
    owner: TestClient, client: TestClient, engine: Engine, shop: Seeded
) -> None:
    sent = upload(owner, shop.survey_id, b"email\nnobody\n")
    location = sent.headers["location"]
    owner.post("/admin/logout", data={"csrf_token": csrf_from(owner.get("/admin/records").text)})
    seed(engine, email=OTHER)
    login(client, OTHER)
    for path in (location, f"{location}/refused.csv"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "There is no such upload in your account." in answer.text
    assert location not in client.get("/admin/records/upload").text


# -- the manual form ---------------------------------------------------------------


def test_the_manual_form_takes_one_recipient(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    form = owner.get("/admin/records/new").text
    assert f'<option value="{shop.survey_id}" selected>' in form
    answer = post_form(
        owner,
        "/admin/records/new",
        "/admin/records/new",
        {
            "survey_id": str(shop.survey_id),
            "email": " Ann@Example.com ",
            "name": "Ann",
            "language": "de",
            "event_at": "2026-05-15T09:30",
        },
    )
    assert flash_of(owner, answer) == (
        "Accepted: the invitation to Ann@Example.com is scheduled for 15 May 2026, 09:30 UTC."
    )
    with db.read(engine) as conn:
        row = conn.execute(text("SELECT source, source_name, outcome FROM record")).one()
    assert tuple(row) == ("manual", EMAIL, "accepted")
    assert usage_row(engine, shop.account_id, PERIOD)[0] == 1
    again = post_form(
        owner,
        "/admin/records/new",
        "/admin/records/new",
        {"survey_id": str(shop.survey_id), "email": "ann@example.com"},
    )
    assert flash_of(owner, again) == (
        "Not accepted: ann@example.com was invited within the last 182 days, the minimum "
        "interval of your account. Nothing was counted."
    )


def test_the_manual_form_says_what_is_wrong(
    owner: TestClient, engine: Engine, shop: Seeded
) -> None:
    answer = post_form(
        owner,
        "/admin/records/new",
        "/admin/records/new",
        {
            "survey_id": str(shop.survey_id),
            "email": "ann@",
            "name": "Ann\r\nBcc: x@example.com",
            "language": "fr",
            "event_at": "2031-01-01T00:00",
        },
    )
    assert answer.status_code == 422
    assert text_of(answer.text, "email-error") == (
        "Please enter an e-mail address like name@example.com."
    )
    assert text_of(answer.text, "event_at-error").startswith("Please enter a date and time")
    assert "name-error" in answer.text and "language-error" in answer.text
    assert 'value="ann@"' in answer.text  # what was typed stays
    assert count(engine, "record") == 0
    post_form(
        owner, f"/admin/surveys/{shop.survey_id}", f"/admin/surveys/{shop.survey_id}/active", {}
    )
    inactive = post_form(
        owner,
        "/admin/records/new",
        "/admin/records/new",
        {"survey_id": str(shop.survey_id), "email": "ann@example.com"},
    )
    assert inactive.status_code == 422
    assert "This survey is switched off" in text_of(inactive.text, "survey_id-error")
    assert count(engine, "record") == 0


def test_manual_refusals_are_explained_in_the_admins_language(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    set_budget(engine, "free", 1)
    _unsubscribe(engine, clock, take(engine, clock, shop, "ben@example.com").id)
    take(engine, clock, shop, "cleo@example.com")  # the last unit
    post_form(owner, "/admin/account", "/admin/account/language", {"language": "de"})
    unsubscribed = post_form(
        owner,
        "/admin/records/new",
        "/admin/records/new",
        {"survey_id": str(shop.survey_id), "email": "ben@example.com"},
    )
    assert flash_of(owner, unsubscribed) == (
        "Nicht angenommen: ben@example.com hat Ihre Umfragen abbestellt. Es wurde nichts gezählt."
    )
    exhausted = post_form(
        owner,
        "/admin/records/new",
        "/admin/records/new",
        {"survey_id": str(shop.survey_id), "email": "dan@example.com"},
    )
    assert flash_of(owner, exhausted).startswith(
        "Nicht angenommen: Das Budget dieses Monats ist aufgebraucht."
    )


# -- the survey's e-mail settings and the minimum interval ---------------------------


def _survey_fields(**changes: str) -> dict[str, str]:
    form = {
        "name": "Checkout",
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


def test_the_survey_form_saves_the_email_settings(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    path = f"/admin/surveys/{shop.survey_id}"
    page = owner.get(path).text
    assert 'id="email_delay_days"' in page and 'id="anonymous"' in page
    assert 'id="de_email_subject"' in page and 'id="en_email_intro"' in page
    assert "Responses to its e-mails keep no link to the recipient" in page
    # The placeholders are what an invitation of this account says by default.
    assert 'placeholder="Shop would like your opinion"' in page
    german_subject = i18n.translate("de", "email.subject", account="Shop")
    assert f'placeholder="{html.escape(german_subject)}"' in page
    answer = post_form(
        owner,
        path,
        path,
        _survey_fields(
            email_delay_days="3",
            anonymous="1",
            en_email_subject="How was   your order?",
            en_email_intro="Thank you for ordering.\r\n\r\nOne click is enough.",
            de_email_subject="Wie war Ihre Bestellung?",
        ),
    )
    assert answer.status_code == 303
    with db.read(engine) as conn:
        row = conn.execute(
            text("SELECT email_delay_days, anonymous, texts FROM survey WHERE id = :i"),
            {"i": shop.survey_id},
        ).one()
    texts = row.texts if isinstance(row.texts, dict) else json.loads(row.texts)
    assert (row.email_delay_days, bool(row.anonymous)) == (3, True)
    assert texts["en"]["email_subject"] == "How was your order?"
    assert texts["en"]["email_intro"] == "Thank you for ordering.\n\nOne click is enough."
    assert texts["de"] == {"email_subject": "Wie war Ihre Bestellung?"}
    shown = owner.get(path).text
    assert 'value="3"' in shown and 'id="anonymous" name="anonymous" value="1" checked' in shown
    assert "Thank you for ordering.\n\nOne click is enough.</textarea>" in shown
    # The delay is what records.accept schedules with: 3 days after the event.
    outcome = take(engine, clock, shop, "ann@example.com", event_at="2026-05-14T12:00:00Z")
    assert outcome.send_at is not None and outcome.send_at.isoformat() == (
        "2026-05-17T12:00:00+00:00"
    )
    # Unticked, the box turns anonymity off again.
    post_form(owner, path, path, _survey_fields(email_delay_days="0"))
    with db.read(engine) as conn:
        anonymous = conn.execute(
            text("SELECT anonymous FROM survey WHERE id = :i"), {"i": shop.survey_id}
        ).scalar_one()
    assert not anonymous


@pytest.mark.parametrize("delay", ["366", "-1", "2.5", "abc"])
def test_the_email_delay_is_whole_days_up_to_a_year(
    owner: TestClient, engine: Engine, shop: Seeded, delay: str
) -> None:
    path = f"/admin/surveys/{shop.survey_id}"
    answer = post_form(owner, path, path, _survey_fields(email_delay_days=delay))
    assert answer.status_code == 422
    assert text_of(answer.text, "email_delay_days-error") == (
        "Please enter a whole number from 0 to 365."
    )
    long = post_form(owner, path, path, _survey_fields(en_email_subject="x" * 151))
    assert long.status_code == 422
    assert "en_email_subject-error" in long.text


def test_the_minimum_interval_is_saved_and_used(
    owner: TestClient, engine: Engine, clock: Clock, shop: Seeded
) -> None:
    page = owner.get("/admin/account").text
    assert 'id="min_interval_days"' in page and 'value="182"' in page
    off = post_form(
        owner, "/admin/account", "/admin/account/min-interval", {"min_interval_days": "0"}
    )
    assert flash_of(owner, off).startswith("The minimum interval is off")
    assert take(engine, clock, shop, "ann@example.com").accepted
    assert take(engine, clock, shop, "ann@example.com").accepted
    thirty = post_form(
        owner, "/admin/account", "/admin/account/min-interval", {"min_interval_days": "30"}
    )
    assert flash_of(owner, thirty) == "Recipients are now invited at most once in 30 days."
    assert 'value="30"' in owner.get("/admin/account").text
    assert take(engine, clock, shop, "ann@example.com").code == "recently_surveyed"
    for bad in ("-1", "3651", "abc", "", "1e3"):
        answer = post_form(
            owner, "/admin/account", "/admin/account/min-interval", {"min_interval_days": bad}
        )
        assert answer.status_code == 422, bad
        assert text_of(answer.text, "min_interval_days-error") == (
            "Please enter a whole number from 0 to 3650."
        )
    with db.read(engine) as conn:
        days = conn.execute(
            text("SELECT min_interval_days FROM account WHERE id = :a"), {"a": shop.account_id}
        ).scalar_one()
    assert days == 30
    # The interval runs out (the admin's session has ended by then; the rule holds).
    clock.now = clock.now.replace(month=6, day=14)  # 31 days later
    assert take(engine, clock, shop, "ann@example.com").accepted


def test_the_email_pages_are_in_the_navigation(owner: TestClient) -> None:
    page = owner.get("/admin/records").text
    assert '<a href="/admin/records" aria-current="page">E-mail</a>' in page
    for path in ("/admin/records/upload", "/admin/records/new", "/admin/api-keys"):
        assert f'href="{path}"' in page
        assert owner.get(path).status_code == 200
