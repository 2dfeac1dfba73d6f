"""Rewards, the thank-you per segment and the review link, through the widget
API, the link and e-mail pages and the admin, on a real database."""

from __future__ import annotations

import json
import re
from collections import Counter
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.main import build_app
from app.platform import db
from app.platform.settings import Settings
from app.platform.signing import Signer
from tests.admin_helpers import csrf_from, login, post_form, text_of
from tests.conftest import SECRET, Clock, Seeded, seed
from tests.test_concurrency import _fire, _run, _tokens, _workers
from tests.test_invitations import _answer as answer_invitation
from tests.test_invitations import _invite

EMAIL = "owner@example.com"
SIGNER = Signer((SECRET,), 3600)
POOL = {"promoter": {"type": "pool"}}
REVIEW = "https://reviews.example/shop"


def _add_codes(engine: Engine, shop: Seeded, segment: str, *codes: str) -> None:
    with db.write(engine) as conn:
        for code in codes:
            conn.execute(
                text(
                    "INSERT INTO coupon (account_id, survey_id, segment, code, created_at)"
                    " VALUES (:a, :s, :seg, :code, CURRENT_TIMESTAMP)"
                ),
                {"a": shop.account_id, "s": shop.survey_id, "seg": segment, "code": code},
            )


def _coupons(engine: Engine) -> list[tuple[Any, ...]]:
    with db.read(engine) as conn:
        rows = conn.execute(
            text("SELECT code, response_id, handed_at IS NOT NULL FROM coupon ORDER BY id")
        )
        return [tuple(row) for row in rows]


def _answer(client: TestClient, embed_key: str, score: int) -> tuple[str, httpx.Response]:
    token = client.get(f"/api/v1/widget/{embed_key}").json()["display_token"]
    return token, client.post("/api/v1/responses", json={"display_token": token, "score": score})


def _link_thanks(client: TestClient, link_key: str, score: int) -> str:
    page = client.get(f"/s/{link_key}").text
    token = unescape(re.search(r'name="display_token" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    sent = client.post(
        f"/s/{link_key}", data={"display_token": token, "score": str(score)}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    return client.get(sent.headers["location"]).text


# -- handing out codes ------------------------------------------------------------


@pytest.mark.server
def test_20_answers_at_once_share_a_pool_of_5_codes_one_each(
    live_server: Any, engine: Engine, settings: Any
) -> None:
    shop = seed(engine, rewards=POOL)
    codes = [f"SAVE-{n}" for n in range(5)]
    _add_codes(engine, shop, "promoter", *codes)
    base = live_server(workers=_workers(settings))
    tokens = _tokens(base, shop.embed_key, 20)

    answers = _run(_fire(base, [{"display_token": t, "score": 10} for t in tokens]))

    assert Counter(answer.status_code for answer in answers) == {201: 20}
    rewarded = {a.json()["id"]: a.json()["reward"] for a in answers if "reward" in a.json()}
    assert sorted(rewarded.values()) == codes  # five answers, five distinct codes
    assert sorted((code, rid) for code, rid, _ in _coupons(engine)) == sorted(
        (code, rid) for rid, code in rewarded.items()
    )
    # A replay of each token gets what it got the first time, and takes nothing more.
    replays = _run(_fire(base, [{"display_token": t, "score": 10} for t in tokens]))
    assert Counter(answer.status_code for answer in replays) == {200: 20}
    for first, again in zip(answers, replays, strict=True):
        assert again.json().get("reward") == first.json().get("reward")
    assert len(_coupons(engine)) == 5


def test_each_promoter_gets_the_next_code_until_the_pool_is_empty(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, rewards=POOL, email=EMAIL)
    _add_codes(engine, shop, "promoter", "FIRST", "SECOND")
    token, first = _answer(client, shop.embed_key, 10)
    assert (first.status_code, first.json()["reward"]) == (201, "FIRST")
    _, passive = _answer(client, shop.embed_key, 8)
    assert "reward" not in passive.json()  # no reward for the segment: nothing taken
    _, second = _answer(client, shop.embed_key, 9)
    assert second.json()["reward"] == "SECOND"
    _, third = _answer(client, shop.embed_key, 10)
    assert third.status_code == 201 and "reward" not in third.json()
    again = client.post("/api/v1/responses", json={"display_token": token, "score": 10})
    assert (again.status_code, again.json()["reward"]) == (200, "FIRST")
    # The admin sees that the pool ran out: on the dashboard and the survey's pages.
    login(client, EMAIL)
    dashboard = client.get("/admin/dashboard").text
    assert "The pool of reward codes for Promoters of “Survey” is empty" in dashboard
    form = client.get(f"/admin/surveys/{shop.survey_id}").text
    assert text_of(form, "reward_2-left") == "0 codes left in the pool"
    page = client.get(f"/admin/surveys/{shop.survey_id}/rewards").text
    assert re.search(
        r'id="pool-promoter">.*?<td class="num warn">0</td>\s*<td class="num">2', page, re.S
    )


def test_a_fixed_code_goes_to_every_answer_of_its_segment(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, rewards={"detractor": {"type": "fixed", "code": "SORRY10"}})
    for _ in range(2):
        _, unhappy = _answer(client, shop.embed_key, 3)
        assert unhappy.json()["reward"] == "SORRY10"
    _, happy = _answer(client, shop.embed_key, 10)
    assert "reward" not in happy.json()
    assert "SORRY10" in _link_thanks(client, shop.link_key, 0)
    assert _coupons(engine) == []


def test_test_answers_never_take_a_pool_code(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, rewards=POOL)
    _add_codes(engine, shop, "promoter", "ONLY-ONE")
    test_key = SIGNER.test_embed_key(shop.public_id)
    for _ in range(3):
        _, tried = _answer(client, test_key, 10)
        assert tried.status_code == 201 and "reward" not in tried.json()
    page = _link_thanks(client, SIGNER.test_link_key(shop.public_id), 10)
    assert "ONLY-ONE" not in page
    assert _coupons(engine) == [("ONLY-ONE", None, False)]
    _, real = _answer(client, shop.embed_key, 10)
    assert real.json()["reward"] == "ONLY-ONE"


def test_a_refused_answer_takes_no_code(client: TestClient, engine: Engine) -> None:
    from tests.conftest import set_budget

    shop = seed(engine, rewards=POOL)
    _add_codes(engine, shop, "promoter", "KEPT")
    token = client.get(f"/api/v1/widget/{shop.embed_key}").json()["display_token"]
    set_budget(engine, "free", 0)
    refused = client.post("/api/v1/responses", json={"display_token": token, "score": 10})
    assert refused.status_code == 402
    assert _coupons(engine) == [("KEPT", None, False)]


def test_link_and_email_thank_you_pages_show_the_code(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, rewards=POOL)
    _add_codes(engine, shop, "promoter", "LINK-1", "MAIL-1")
    page = _link_thanks(client, shop.link_key, 10)
    assert text_of(page, "reward-code") == "LINK-1"
    assert "As a thank-you, here is your code:" in page
    _, key = _invite(engine, shop)
    thanks = client.get(answer_invitation(client, key, 9)).text
    assert text_of(thanks, "reward-code") == "MAIL-1"
    # Opened again, the invitation's page shows the same code, and takes no other.
    assert text_of(client.get(f"/s/{key}").text, "reward-code") == "MAIL-1"
    assert [row[2] for row in _coupons(engine)] == [True, True]


def test_deleting_an_answer_keeps_its_code_handed_out_and_a_survey_goes_with_its_pool(
    client: TestClient, engine: Engine
) -> None:
    from app.privacy import deletions

    shop = seed(engine, rewards=POOL)
    _add_codes(engine, shop, "promoter", "SEEN", "FREE")
    _, got = _answer(client, shop.embed_key, 10)
    assert deletions.delete_response(engine, shop.account_id, shop.survey_id, got.json()["id"])
    assert _coupons(engine) == [("SEEN", None, True), ("FREE", None, False)]
    _, next_one = _answer(client, shop.embed_key, 10)
    assert next_one.json()["reward"] == "FREE"
    from datetime import UTC, datetime

    assert deletions.delete_survey(engine, shop.account_id, shop.survey_id, datetime.now(UTC))
    assert _coupons(engine) == []


# -- uploading codes --------------------------------------------------------------


def _upload(
    client: TestClient, survey_id: int, segment: str, codes: str = "", file: bytes | None = None
) -> httpx.Response:
    page = f"/admin/surveys/{survey_id}/rewards"
    token = csrf_from(client.get(page).text)
    files = {"file": ("codes.txt", file, "text/plain")} if file is not None else None
    return client.post(
        f"{page}/codes",
        data={"csrf_token": token, "segment": segment, "codes": codes},
        files=files,
        follow_redirects=False,
    )


def test_codes_are_added_from_the_textarea_and_a_file(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, rewards=POOL, email=EMAIL)
    login(client, EMAIL)
    added = _upload(
        client, shop.survey_id, "promoter", "A-1\r\n  A-2  \n\n", b"\xef\xbb\xbfB-1\nB-2\n"
    )
    assert added.status_code == 303
    page = client.get(added.headers["location"]).text
    assert "4 codes added." in page
    assert [row[0] for row in _coupons(engine)] == ["A-1", "A-2", "B-1", "B-2"]
    _, answer = _answer(client, shop.embed_key, 10)
    assert answer.json()["reward"] == "A-1"


@pytest.mark.parametrize(
    ("codes", "file", "message"),
    [
        ("X-1\nX-2\nX-1", None, "lists a code more than once (lines: code): 1/3: X-1"),
        (
            "OK-1\nbad code\n<b>",
            None,
            "starting with a letter or digit: 2: bad code, 3: &lt;b&gt;",
        ),
        ("A" * 65, None, "at most 64 characters long"),
        ("\n \n", None, "The upload holds no codes."),
        (
            "",
            "".join(f"CODE-{n}\n" for n in range(100_000)).encode(),
            "The upload holds 100000 codes; at most 10000",
        ),
        ("", b"\xff\xfe\x00bad", "The file is not UTF-8 text."),
    ],
)
def test_a_bad_upload_is_refused_whole_with_a_clear_message(
    client: TestClient, engine: Engine, codes: str, file: bytes | None, message: str
) -> None:
    shop = seed(engine, rewards=POOL, email=EMAIL)
    login(client, EMAIL)
    refused = _upload(client, shop.survey_id, "promoter", codes, file)
    assert refused.status_code == 422
    assert message in refused.text
    assert "No codes were added" in refused.text
    assert _coupons(engine) == []


def test_codes_already_in_the_pool_refuse_the_upload(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, rewards=POOL, email=EMAIL)
    _add_codes(engine, shop, "promoter", "OLD-1")
    login(client, EMAIL)
    refused = _upload(client, shop.survey_id, "promoter", "NEW-1\nOLD-1")
    assert refused.status_code == 422
    assert "1 of these codes is in the pool already: OLD-1" in refused.text
    assert [row[0] for row in _coupons(engine)] == ["OLD-1"]
    # The same code in another segment's pool is another code.
    assert _upload(client, shop.survey_id, "passive", "OLD-1").status_code == 303


def test_a_pool_holds_at_most_50000_codes(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.answers import rewards

    monkeypatch.setattr(rewards, "MAX_POOL", 3)
    shop = seed(engine, rewards=POOL, email=EMAIL)
    _add_codes(engine, shop, "promoter", "A", "B")
    login(client, EMAIL)
    refused = _upload(client, shop.survey_id, "promoter", "C\nD")
    assert refused.status_code == 422
    assert "A pool holds at most 3 codes and this one has 2 already." in refused.text
    assert len(_coupons(engine)) == 2


def test_unused_codes_are_deleted_and_handed_ones_kept(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, rewards=POOL, email=EMAIL)
    _add_codes(engine, shop, "promoter", "USED", "SPARE-1", "SPARE-2")
    _answer(client, shop.embed_key, 10)
    login(client, EMAIL)
    page = f"/admin/surveys/{shop.survey_id}/rewards"
    cleared = post_form(client, page, f"{page}/clear", {"segment": "promoter"})
    assert cleared.status_code == 303
    assert "2 unused codes deleted." in client.get(page).text
    assert [row[0] for row in _coupons(engine)] == ["USED"]


# -- thank-you per segment ----------------------------------------------------------


def test_each_segment_has_its_own_thank_you_on_link_and_email_pages(
    client: TestClient, engine: Engine
) -> None:
    texts = {
        "en": {
            "thanks": {"detractor": "Sorry, we will do better.", "promoter": "You made our day!"}
        },
        "de": {"thanks": {"promoter": "Sie haben uns den Tag gerettet!"}},
    }
    shop = seed(engine, texts=texts)
    heading = re.compile(r"<h1>([^<]+)</h1>")
    assert (
        heading.search(_link_thanks(client, shop.link_key, 2)).group(1)
        == "Sorry, we will do better."
    )  # type: ignore[union-attr]
    assert heading.search(_link_thanks(client, shop.link_key, 10)).group(1) == "You made our day!"  # type: ignore[union-attr]
    # Without a text of its own, a segment's default thanks.
    assert (
        heading.search(_link_thanks(client, shop.link_key, 7)).group(1)
        == "Thank you for your feedback!"
    )  # type: ignore[union-attr]
    _, key = _invite(engine, shop, language="de")
    page = client.get(answer_invitation(client, key, 10)).text
    assert heading.search(page).group(1) == "Sie haben uns den Tag gerettet!"  # type: ignore[union-attr]
    _, other = _invite(engine, shop, email="bob@example.com", language="de")
    page = client.get(answer_invitation(client, other, 0)).text
    assert heading.search(page).group(1) == "Vielen Dank für Ihre ehrliche Rückmeldung."  # type: ignore[union-attr]


def test_the_widget_config_carries_the_thank_you_per_segment_in_its_language(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, kind="csat", texts={"de": {"thanks": {"positive": "Danke schön!"}}})
    survey = client.get(f"/api/v1/widget/{shop.embed_key}?lang=de").json()["survey"]
    assert survey["thanks"] == {
        "negative": "Vielen Dank für Ihre ehrliche Rückmeldung.",
        "neutral": "Vielen Dank für Ihr Feedback!",
        "positive": "Danke schön!",
    }
    english = client.get(f"/api/v1/widget/{shop.embed_key}?lang=en").json()["survey"]
    assert english["thanks"]["positive"] == "Thank you! We are glad you are happy."


# -- the review link ---------------------------------------------------------------


def _review_counts(engine: Engine) -> list[tuple[Any, ...]]:
    with db.read(engine) as conn:
        rows = conn.execute(text("SELECT survey_id, day, shown, followed FROM review_count"))
        return [tuple(row) for row in rows]


def test_promoters_get_a_counting_review_link(client: TestClient, engine: Engine) -> None:
    shop = seed(engine, review_url=REVIEW, email=EMAIL)
    _, passive = _answer(client, shop.embed_key, 8)
    assert "review_url" not in passive.json()
    token, promoter = _answer(client, shop.embed_key, 10)
    review_url = promoter.json()["review_url"]
    assert review_url.startswith("http://127.0.0.1:8000/r/")
    again = client.post("/api/v1/responses", json={"display_token": token, "score": 10})
    assert again.json()["review_url"] == review_url  # the replay counts nothing more
    assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 1, 0)]

    path = review_url.removeprefix("http://127.0.0.1:8000")
    followed = client.get(path, follow_redirects=False)
    assert (followed.status_code, followed.headers["location"]) == (303, REVIEW)
    assert followed.headers["cache-control"] == "no-store"
    # A HEAD, a browser's prefetch and a link preview are led on but not counted.
    assert client.head(path, follow_redirects=False).status_code == 303
    assert (
        client.get(path, headers={"sec-purpose": "prefetch"}, follow_redirects=False).status_code
        == 303
    )
    assert (
        client.get(path, headers={"purpose": "prefetch"}, follow_redirects=False).status_code == 303
    )
    assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 1, 1)]
    # The owner's test is offered the link too, and nothing is counted for it.
    _, tried = _answer(client, SIGNER.test_embed_key(shop.public_id), 10)
    test_path = tried.json()["review_url"].removeprefix("http://127.0.0.1:8000")
    assert client.get(test_path, follow_redirects=False).status_code == 303
    assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 1, 1)]
    # The results page says how many were offered the link and how many followed it.
    login(client, EMAIL)
    results = client.get(f"/admin/surveys/{shop.survey_id}/results?period=2026-05").text
    assert "Offered this month: 1. Followed: 1. Offered to: Promoters only" in text_of(
        results, "review-counts"
    )


def test_a_clients_follows_count_once_an_hour_and_always_lead_on(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    shop = seed(engine, review_url=REVIEW, review_audience="all")
    path = f"/r/{SIGNER.review_key(shop.public_id)}"
    app = build_app(settings.replace(rate_limit_enabled=True), clock=clock, engine=engine)
    with TestClient(app) as client, TestClient(app, client=("203.0.113.9", 50000)) as other:
        followed = [client.get(path, follow_redirects=False) for _ in range(5)]
        assert {(a.status_code, a.headers["location"]) for a in followed} == {(303, REVIEW)}
        assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 0, 1)]
        # Another client is counted on its own.
        assert other.get(path, follow_redirects=False).status_code == 303
    assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 0, 2)]


def test_a_forged_or_switched_off_review_link_is_a_readable_404(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, review_url=REVIEW, review_audience="all")
    path = f"/r/{SIGNER.review_key(shop.public_id)}"
    assert client.get(path, follow_redirects=False).status_code == 303
    for forged in ("/r/forged", f"/r/{SIGNER.link_key(shop.public_id)}"):
        answer = client.get(forged, headers={"accept": "text/html"})
        assert answer.status_code == 404
        assert "This review link is not offered any more." in answer.text
    with db.write(engine) as conn:
        conn.execute(text("UPDATE survey SET review_audience = 'none'"))
    client.app.state.ctx.cache.clear()  # type: ignore[attr-defined]
    assert client.get(path, follow_redirects=False).status_code == 404
    assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 0, 1)]


def test_email_promoters_get_the_review_link_and_are_counted(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, review_url=REVIEW)
    _, key = _invite(engine, shop)
    page = client.get(answer_invitation(client, key, 10)).text
    link = re.search(r'href="http://127.0.0.1:8000(/r/[^"]+)"', page)
    assert link
    assert client.get(unescape(link.group(1)), follow_redirects=False).headers["location"] == REVIEW
    assert _review_counts(engine) == [(shop.survey_id, "2026-05-14", 1, 1)]


# -- the admin's form -------------------------------------------------------------


def _form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Checkout",
        "kind": "nps",
        "language": "auto",
        "review_url": REVIEW,
        "review_audience": "promoters",
        "recontact_days": "90",
        "sample_percent": "100",
        "delay_seconds": "0",
        "color": "#1f5fbf",
        "position": "bottom-right",
        "email_delay_days": "0",
    }
    return {**form, **changes}


def test_the_survey_form_sets_thanks_rewards_and_the_review_audience(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, email=EMAIL)
    login(client, EMAIL)
    new = client.get("/admin/surveys/new?kind=nps").text
    assert re.search(r'name="review_audience" value="promoters"[^>]*checked', new)
    assert "Google among them, forbid asking only happy customers" in new
    page = f"/admin/surveys/{shop.survey_id}"
    wrong = post_form(
        client, page, page, _form(reward_0="fixed", reward_code_0="not ok", reward_2="gift")
    )
    assert wrong.status_code == 422
    assert "Reward: Detractors, 0\u20136, fixed code: Codes may contain only letters" in wrong.text
    assert "Reward: Promoters, 9\u201310: Please choose one of the options." in wrong.text
    saved = post_form(
        client,
        page,
        page,
        _form(
            reward_0="fixed",
            reward_code_0="SORRY-5",
            reward_2="pool",
            en_thanks_2="You are the best!",
            de_thanks_0="Das tut uns leid.",
        ),
    )
    assert saved.status_code == 303
    with db.read(engine) as conn:
        row = conn.execute(text("SELECT texts, rewards, review_audience FROM survey")).one()
    stored_texts = row.texts if isinstance(row.texts, dict) else json.loads(row.texts)
    stored_rewards = row.rewards if isinstance(row.rewards, dict) else json.loads(row.rewards)
    assert stored_texts["en"]["thanks"] == {"promoter": "You are the best!"}
    assert stored_texts["de"]["thanks"] == {"detractor": "Das tut uns leid."}
    assert stored_rewards == {
        "detractor": {"type": "fixed", "code": "SORRY-5"},
        "promoter": {"type": "pool"},
    }
    assert row.review_audience == "promoters"
    edit = client.get(page).text
    assert 'value="SORRY-5"' in edit and "You are the best!" in edit
    assert re.search(r'<option value="pool" selected>', edit)


def test_an_upload_without_the_forms_token_or_too_large_takes_nothing(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine, rewards=POOL, email=EMAIL)
    login(client, EMAIL)
    action = f"/admin/surveys/{shop.survey_id}/rewards/codes"
    forged = client.post(action, data={"segment": "promoter", "codes": "FORGED-1"})
    assert forged.status_code == 403
    huge = b"A" * (2 * 1024 * 1024 + 1)
    too_large = _upload(client, shop.survey_id, "promoter", "", huge)
    assert too_large.status_code == 413
    assert "The upload is larger than 2 MB." in too_large.text
    unknown = _upload(client, shop.survey_id, "nobody", "CODE-1")
    assert unknown.status_code == 422
    assert _coupons(engine) == []
