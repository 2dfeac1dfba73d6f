"""Follow-up questions on the link and e-mail thank-you pages, without
JavaScript: the segment's questions as fieldsets in the visitor's language,
answers stored with the comment in one transaction, errors shown on the page
with the visitor's choices kept, nothing half-stored."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.platform import db
from tests import test_invitations as mail
from tests import test_links as link
from tests.conftest import seed, usage_row
from tests.test_follow_up_questions import QUESTIONS

LEGEND = re.compile(r"<legend>([^<]+)</legend>")


def _answers(engine: Engine) -> dict[str, str]:
    with db.read(engine) as conn:
        return dict(conn.execute(text("SELECT question_id, value FROM answer")).all())  # type: ignore[arg-type]


def _comments(engine: Engine) -> list[str | None]:
    with db.read(engine) as conn:
        return list(conn.execute(text("SELECT comment FROM response")).scalars())


@pytest.fixture(params=["link", "email"])
def answered(request: pytest.FixtureRequest, client: TestClient, engine: Engine) -> Answered:
    """A detractor's answer on a link page or an e-mail invitation's page."""
    shop = seed(engine, questions=QUESTIONS)
    if request.param == "link":
        token = link._open(client, shop.link_key, **{"Accept-Language": "de"})
        thanks = link._send(client, shop.link_key, token, 2).headers["location"]
        key = shop.link_key
    else:
        _, key = mail._invite(engine, shop, language="de")
        thanks = mail._answer(client, key, 2)
    return Answered(shop.account_id, key, thanks, request.param)


class Answered:
    def __init__(self, account_id: int, key: str, thanks: str, channel: str) -> None:
        self.account_id, self.key, self.thanks, self.channel = account_id, key, thanks, channel


def test_the_segments_questions_in_the_visitors_language_and_stored_with_the_comment(
    client: TestClient, engine: Engine, answered: Answered
) -> None:
    page = client.get(answered.thanks, headers={"Accept-Language": "de"})
    assert page.status_code == 200
    html = unescape(page.text)
    # Only the detractors' questions; a label missing in German falls back.
    assert LEGEND.findall(html) == [
        "Was lief schief?",
        "Bestellen Sie wieder?",
        "Which did you use?",
    ]
    assert "What do you love?" not in html
    assert '<fieldset class="follow tags" aria-describedby="a-qwhy-max">' in html
    assert "Wählen Sie bis zu 2." in html
    assert '<input type="checkbox" name="a.qwhy" value="odel"><span>Lieferung</span>' in html
    assert '<input type="radio" name="a.qagain" value="ono"><span>Nein</span>' in html
    assert '<label class="follow-label" for="a-qmore">Sonst noch?</label>' in html
    assert 'name="comment" rows="5" maxlength="2000"\n' in page.text  # optional beside questions

    token = link._token(page.text)
    sent = client.post(
        f"/s/{answered.key}/comment",
        data={
            "display_token": token,
            "comment": "",
            "a.qwhy": ["opri", "odel"],
            "a.qagain": "ono",
            "a.qwhich": "",
            "a.qmore": "  Zu langsam ",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    assert _answers(engine) == {
        "qwhy": '["odel","opri"]',
        "qagain": '"ono"',
        "qmore": '"Zu langsam"',
    }
    assert _comments(engine) == [None]
    assert usage_row(engine, answered.account_id, "2026-05") == (1, 0)
    after = client.get(sent.headers["location"], headers={"Accept-Language": "de"})
    assert "Vielen Dank, Ihre Antworten wurden hinzugefügt." in after.text
    assert "<fieldset" not in after.text


def test_bad_answers_come_back_with_the_choices_kept_and_nothing_stored(
    client: TestClient, engine: Engine, answered: Answered
) -> None:
    token = link._token(client.get(answered.thanks).text)
    refused = client.post(
        f"/s/{answered.key}/comment",
        data={
            "display_token": token,
            "comment": "Slow",
            "a.qwhy": ["odel", "opri", "osup"],  # three of at most two
            "a.qagain": "oyes",
        },
        follow_redirects=False,
    )
    assert refused.status_code == 422
    html = unescape(refused.text)
    assert "could not be saved: “What went wrong?”." in html or (
        "nicht gespeichert werden: “Was lief schief?”." in html
    )
    assert 'role="alert"' in html
    assert 'value="oyes" checked' in html and 'value="osup" checked' in html
    assert ">Slow</textarea>" in html
    assert _answers(engine) == {}
    assert _comments(engine) == [None]  # the comment beside them was not kept either

    # A question for promoters only: refused once the stored segment is known.
    not_asked = client.post(
        f"/s/{answered.key}/comment",
        data={"display_token": token, "a.qagain": "oyes", "a.qlove": "Everything"},
        follow_redirects=False,
    )
    assert not_asked.status_code == 422
    assert "“What do you love?”" in unescape(not_asked.text)
    assert _answers(engine) == {}

    empty = client.post(
        f"/s/{answered.key}/comment",
        data={"display_token": token, "comment": " "},
        follow_redirects=False,
    )
    assert empty.status_code == 422
    assert "Please answer a question or write a comment" in empty.text or (
        "Bitte beantworten Sie eine Frage" in empty.text
    )


def test_the_first_answers_stand(client: TestClient, engine: Engine, answered: Answered) -> None:
    token = link._token(client.get(answered.thanks).text)
    first = client.post(
        f"/s/{answered.key}/comment",
        data={"display_token": token, "a.qagain": "ono"},
        follow_redirects=False,
    )
    assert first.status_code == 303
    other = client.post(
        f"/s/{answered.key}/comment",
        data={"display_token": token, "a.qagain": "oyes"},
        follow_redirects=False,
    )
    assert other.status_code == 409
    assert _answers(engine) == {"qagain": '"ono"'}
