"""Link surveys through the ASGI client: a GET never counts, the form's POST
counts once, comments attach for free, closed surveys store nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from app.web import http
from tests.conftest import SECRET, Clock, count_responses, seed, set_budget, usage_row

PERIOD = "2026-05"
TOKEN = re.compile(r'name="display_token" value="([^"]+)"')
FORM = "<form"


def _token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "the page has no display token"
    return unescape(found.group(1))


def _checked(html: str) -> list[str]:
    return re.findall(r'value="(\d+)"[^>]*\schecked', html)


def _open(client: TestClient, link_key: str, query: str = "", **headers: str) -> str:
    page = client.get(f"/s/{link_key}{query}", headers=headers)
    assert page.status_code == 200, page.text
    return _token(page.text)


def _send(client: TestClient, link_key: str, token: str, score: object) -> httpx.Response:
    return client.post(
        f"/s/{link_key}",
        data={"display_token": token, "score": str(score)},
        follow_redirects=False,
    )


def _comments(engine: Engine) -> list[str | None]:
    with db.read(engine) as conn:
        return list(conn.execute(text("SELECT comment FROM response")).scalars())


# -- showing ---------------------------------------------------------------


def test_get_with_score_preselects_and_stores_nothing(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    page = client.get(f"/s/{shop.link_key}?score=9")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert _checked(page.text) == ["9"]
    assert page.text.count('type="radio"') == 11
    assert "How likely are you to recommend us" in page.text
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)


def test_unusable_preselection_is_ignored(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, kind="csat")
    for query in ("?score=0", "?score=6", "?score=abc", "?score=-1", "?score=%EF%BC%93"):
        page = client.get(f"/s/{shop.link_key}{query}")
        assert page.status_code == 200, query
        assert _checked(page.text) == [], query
    assert client.get(f"/s/{shop.link_key}?score=5").text.count('type="radio"') == 5


def test_each_render_has_a_fresh_token(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    tokens = {_open(client, shop.link_key) for _ in range(3)}
    assert len(tokens) == 3


def test_opening_the_link_records_last_contact(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    _open(client, shop.link_key)
    with db.read(engine) as conn:
        row = conn.execute(text("SELECT survey_id, channel FROM contact")).one()
    assert (row.survey_id, row.channel) == (shop.survey_id, "link")


# -- answering -------------------------------------------------------------


def test_post_counts_once_and_shows_thanks(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _open(client, shop.link_key, "?score=9")
    sent = _send(client, shop.link_key, token, 9)
    assert sent.status_code == 303
    thanks_url = sent.headers["location"]
    assert thanks_url.startswith(f"/s/{shop.link_key}/thanks?t=")
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)

    thanks = client.get(thanks_url)
    assert thanks.status_code == 200
    assert "Thank you for your feedback!" in thanks.text
    assert "What do you like most?" in thanks.text  # the promoter follow-up
    assert "<textarea" in thanks.text

    again = _send(client, shop.link_key, token, 9)
    assert again.status_code == 303
    assert again.headers["location"] == thanks_url
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_the_last_survey_counted_by_link_hides_the_widget_at_once(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    assert client.get(f"/api/v1/widget/{shop.embed_key}").json()["show"] is True  # now cached
    token = _open(client, shop.link_key)
    assert _send(client, shop.link_key, token, 9).status_code == 303
    hidden = client.get(f"/api/v1/widget/{shop.embed_key}").json()
    assert hidden == {"show": False, "reason": "budget_exhausted"}


def test_detractor_sees_its_own_follow_up(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    sent = _send(client, shop.link_key, _open(client, shop.link_key), 3)
    thanks = client.get(sent.headers["location"])
    assert "What should we improve?" in thanks.text


def test_other_score_on_a_used_token_changes_nothing_after_half_an_hour(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    token = _open(client, shop.link_key)
    assert _send(client, shop.link_key, token, 9).status_code == 303
    clock.now += timedelta(minutes=31)
    other = _send(client, shop.link_key, token, 2)
    assert other.status_code == 409
    assert "Your score 9 was saved more than 30 minutes ago and is kept." in other.text
    with db.read(engine) as conn:
        assert conn.execute(text("SELECT score FROM response")).scalar_one() == 9
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_comment_attaches_without_counting(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _open(client, shop.link_key)
    thanks_url = _send(client, shop.link_key, token, 4).headers["location"]
    comment_form = client.get(thanks_url).text
    assert _token(comment_form) == token
    sent = client.post(
        f"/s/{shop.link_key}/comment",
        data={"display_token": token, "comment": "  Delivery took\x07 two weeks.  "},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == thanks_url
    assert _comments(engine) == ["Delivery took two weeks."]
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)
    after = client.get(thanks_url)
    assert "Your comment was added" in after.text
    assert "<textarea" not in after.text


def test_comment_needs_text_and_a_stored_answer(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    unanswered = _open(client, shop.link_key)
    early = client.post(
        f"/s/{shop.link_key}/comment",
        data={"display_token": unanswered, "comment": "hello"},
        follow_redirects=False,
    )
    assert early.status_code == 303
    assert early.headers["location"] == f"/s/{shop.link_key}"
    assert (
        client.get(f"/s/{shop.link_key}/thanks?t={unanswered}", follow_redirects=False).headers[
            "location"
        ]
        == f"/s/{shop.link_key}"
    )
    assert count_responses(engine) == 0

    _send(client, shop.link_key, unanswered, 8)
    for comment, message in (
        ("   ", "Please write a comment"),
        ("x" * 2001, "at most 2000 characters"),
    ):
        refused = client.post(
            f"/s/{shop.link_key}/comment", data={"display_token": unanswered, "comment": comment}
        )
        assert refused.status_code == 422
        assert message in refused.text
    assert _comments(engine) == [None]
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_review_link_offered_to_promoters_by_default_to_everyone_or_nobody(
    client: TestClient, engine: Engine
) -> None:
    review = "https://reviews.example/acme"
    link = re.compile(r'href="http://127.0.0.1:8000(/r/[^"]+)"')

    def thanks(link_key: str, score: int) -> str:
        sent = _send(client, link_key, _open(client, link_key), score)
        return client.get(sent.headers["location"]).text

    promoters = seed(engine, review_url=review)
    assert link.search(thanks(promoters.link_key, 10))
    assert not link.search(thanks(promoters.link_key, 8))
    everyone = seed(engine, review_url=review, review_audience="all")
    found = link.search(thanks(everyone.link_key, 1))
    assert found
    # The link counts its visit, then leads to the review address.
    followed = client.get(unescape(found.group(1)), follow_redirects=False)
    assert followed.status_code == 303
    assert followed.headers["location"] == review
    nobody = seed(engine, review_url=review, review_audience="none")
    page = thanks(nobody.link_key, 10)
    assert review not in page
    assert not link.search(page)


# -- closed surveys --------------------------------------------------------


def test_exhausted_budget_shows_no_form_and_stores_nothing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    first, second = _open(client, shop.link_key), _open(client, shop.link_key)
    assert _send(client, shop.link_key, first, 10).status_code == 303

    page = client.get(f"/s/{shop.link_key}?score=10")
    assert page.status_code == 200
    assert "not collecting responses" in page.text
    assert FORM not in page.text

    client.cookies.clear()  # another visitor's browser
    refused = _send(client, shop.link_key, second, 10)
    assert refused.status_code == 402
    assert "Your answer was not recorded" in refused.text
    assert FORM not in refused.text
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 1)


def test_inactive_survey_shows_no_form_and_stores_nothing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    token = _open(client, shop.link_key)
    with db.write(engine) as conn:
        conn.execute(text("UPDATE survey SET active = false WHERE id = :i"), {"i": shop.survey_id})
    page = client.get(f"/s/{shop.link_key}")
    assert page.status_code == 200
    assert "This survey has ended" in page.text
    assert FORM not in page.text
    refused = _send(client, shop.link_key, token, 7)
    assert refused.status_code == 410
    assert FORM not in refused.text
    assert count_responses(engine) == 0
    assert usage_row(engine, shop.account_id, PERIOD) == (0, 0)


# -- tokens and bad input --------------------------------------------------


class _TwoDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return super().get_timestamp() - 2 * 86400


def _signed_two_days_ago(token: str) -> str:
    """The same display, as if the page had been rendered two days ago (the
    default DISPLAY_TOKEN_MAX_AGE is one day). itsdangerous checks the age
    against the real time, so the token is re-signed with an older stamp."""
    current = URLSafeTimedSerializer(SECRET, salt="display")
    older = URLSafeTimedSerializer(SECRET, salt="display", signer=_TwoDaysAgo)
    return str(older.dumps(current.loads(token)))


def test_expired_token_offers_a_fresh_form(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    stale = _signed_two_days_ago(_open(client, shop.link_key))
    again = _send(client, shop.link_key, stale, 6)
    assert again.status_code == 410
    assert "open for a long time" in again.text
    assert _checked(again.text) == ["6"]
    fresh = _token(again.text)
    assert fresh != stale
    assert count_responses(engine) == 0

    assert _send(client, shop.link_key, fresh, 6).status_code == 303
    assert count_responses(engine) == 1
    assert usage_row(engine, shop.account_id, PERIOD) == (1, 0)


def test_expired_token_on_a_closed_survey_offers_no_form(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    stale = _signed_two_days_ago(_open(client, shop.link_key))
    set_budget(engine, "free", 0)
    page = _send(client, shop.link_key, stale, 6)
    assert page.status_code == 410
    assert "not collecting responses" in page.text
    assert FORM not in page.text
    assert count_responses(engine) == 0


def test_forged_key_is_a_readable_404(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    for path in (
        "/s/forged",
        f"/s/{shop.link_key}x",
        f"/s/{shop.embed_key}",  # signed for the widget, not for links
        "/s/forged/thanks?t=abc",
    ):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Survey not found" in page.text
        assert page.headers["content-type"].startswith("text/html")
    assert client.post("/s/forged", data={"display_token": "x", "score": "1"}).status_code == 404


def test_bad_scores_are_422_pages(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _open(client, shop.link_key)
    for score in ("11", "-1", "abc", "", "9.5", "99999999999999999999"):
        page = _send(client, shop.link_key, token, score)
        assert page.status_code == 422, score
        assert "Please choose a score." in page.text
        assert _token(page.text) == token
    missing = client.post(f"/s/{shop.link_key}", data={"display_token": token})
    assert missing.status_code == 422
    assert count_responses(engine) == 0
    assert _send(client, shop.link_key, token, 10).status_code == 303


def test_tokens_of_other_surveys_and_channels_are_refused(
    client: TestClient, engine: Engine
) -> None:
    shop, other = seed(engine), seed(engine)
    foreign = _open(client, other.link_key)
    widget = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    for token in (foreign, widget, "not-a-token", ""):
        page = _send(client, shop.link_key, token, 9)
        assert page.status_code == 400, token
        assert "This form cannot be sent" in page.text
        comment = client.post(
            f"/s/{shop.link_key}/comment", data={"display_token": token, "comment": "hi"}
        )
        assert comment.status_code == 400
        assert client.get(f"/s/{shop.link_key}/thanks?t={token}").status_code == 400
    assert count_responses(engine) == 0


def test_malformed_bodies_are_4xx_pages(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    token = _open(client, shop.link_key)
    as_json = client.post(f"/s/{shop.link_key}", json={"display_token": token, "score": 9})
    assert as_json.status_code == 415
    too_big = client.post(
        f"/s/{shop.link_key}", data={"display_token": token, "score": "9", "x": "y" * 40_000}
    )
    assert too_big.status_code == 413
    not_utf8 = client.post(
        f"/s/{shop.link_key}",
        content=b"score=%FF%FE&display_token=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 400
    for answer in (as_json, too_big, not_utf8):
        assert answer.headers["content-type"].startswith("text/html")
    assert count_responses(engine) == 0


# -- headers and language --------------------------------------------------


def test_pages_carry_a_strict_csp_and_no_inline_code(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, review_url="https://reviews.example/acme")
    form = client.get(f"/s/{shop.link_key}")
    thanks = client.get(_send(client, shop.link_key, _token(form.text), 9).headers["location"])
    missing = client.get("/s/forged")
    for page in (form, thanks, missing):
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "style-src 'self'" in policy
        assert "form-action 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        # Scripts only from files, which the policy allows from this origin alone.
        assert "script-src 'self'" in policy
        assert re.findall(r"<script[^>]*>", page.text) in (
            [],
            [f'<script src="{http.asset_url("survey.js")}" defer>'],
        )
        assert "<style" not in page.text
        assert " style=" not in page.text
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', form.text)
    assert stylesheet
    css = client.get(stylesheet.group(1))
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]


def test_german_for_german_visitors(client: TestClient, engine: Engine) -> None:
    shop = seed(engine)
    page = client.get(
        f"/s/{shop.link_key}", headers={"accept-language": "fr, de-AT;q=0.8, en;q=0.5"}
    )
    assert '<html lang="de">' in page.text
    assert "Wie wahrscheinlich ist es" in page.text
    assert "Absenden" in page.text
    thanks_url = client.post(
        f"/s/{shop.link_key}",
        data={"display_token": _token(page.text), "score": "2"},
        headers={"accept-language": "de"},
        follow_redirects=False,
    ).headers["location"]
    thanks = client.get(thanks_url, headers={"accept-language": "de-DE"})
    assert "Vielen Dank für Ihr Feedback!" in thanks.text
    assert "Was sollten wir verbessern?" in thanks.text
    assert "Kommentar senden" in thanks.text
    missing = client.get("/s/forged", headers={"accept-language": "de"})
    assert "Umfrage nicht gefunden" in missing.text

    english = client.get(f"/s/{shop.link_key}", headers={"accept-language": "en-GB,de;q=0.9"})
    assert '<html lang="en">' in english.text


def test_survey_language_wins_over_the_browser(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, language="de")
    page = client.get(f"/s/{shop.link_key}", headers={"accept-language": "en-US"})
    assert '<html lang="de">' in page.text
    assert "Äußerst wahrscheinlich" in page.text


def test_submissions_are_rate_limited_per_address(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine)
    limited = settings.replace(rate_limit_enabled=True, rate_limit_responses="2/minute")
    with TestClient(build_app(limited, clock=clock, engine=engine)) as client:
        for _ in range(4):  # showing the form is never limited
            token = _open(client, shop.link_key)
        assert _send(client, shop.link_key, token, 9).status_code == 303
        assert _send(client, shop.link_key, token, 9).status_code == 303
        refused = _send(client, shop.link_key, token, 9)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"].startswith("text/html")
    assert count_responses(engine) == 1


def test_link_pages_go_compressed_to_browsers_that_accept_it(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    plain = client.get(f"/s/{shop.link_key}", headers={"Accept-Encoding": "identity"})
    packed = client.get(f"/s/{shop.link_key}", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    # The same page but for its fresh display token.
    assert TOKEN.sub("", packed.text) == TOKEN.sub("", plain.text)
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
