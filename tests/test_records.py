"""The second counting rule in the domain: records, invitations, giving back."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from app.answers.responses import Submission, record_response
from app.budget import rule as budget
from app.invitations import record_in, record_status, records
from app.invitations.record_in import InvalidRecord, RecordIn
from app.invitations.records import Outcome, Source
from app.platform import db
from app.platform.signing import Display
from app.surveys.model import get_for_account
from tests import invariants
from tests.conftest import seed, set_budget

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
PERIOD = "2026-05"
API = Source("api", "Shop")


def _take(engine: Engine, account_id: int, when: datetime = NOW, **fields: object) -> Outcome:
    wanted = record_in.parse(fields, when)
    return records.accept(engine, account_id, wanted, API, when, UTC_ZONE)


def _used(engine: Engine, account_id: int, period: str = PERIOD) -> tuple[int, int]:
    with db.read(engine) as conn:
        return invariants.usage_invariant(conn, account_id, period)


def _scalar(engine: Engine, sql: str, **params: object) -> object:
    with db.read(engine) as conn:
        return conn.execute(text(sql), params).scalar()


def test_an_accepted_record_counts_once_and_schedules_its_invitation(engine: Engine) -> None:
    shop = seed(engine, email_delay_days=3)

    outcome = _take(engine, shop.account_id, survey_id=shop.survey_id, email="Ann@Example.com")

    assert outcome.accepted and outcome.id is not None
    assert outcome.send_at == NOW + timedelta(days=3)
    assert _used(engine, shop.account_id) == (1, 1)
    state = record_status.find_status(engine, shop.account_id, outcome.id)
    assert record_status.find_status(engine, shop.account_id + 1, outcome.id) is None
    assert state is not None and state.status == "scheduled"


def test_event_at_in_the_past_is_sent_now_and_the_delay_counts_from_the_event(
    engine: Engine,
) -> None:
    shop = seed(engine, email_delay_days=2)
    old = _take(
        engine,
        shop.account_id,
        survey_id=shop.survey_id,
        email="a@example.com",
        event_at="2026-05-01T10:00:00Z",
    )
    recent = _take(
        engine,
        shop.account_id,
        survey_id=shop.survey_id,
        email="b@example.com",
        event_at="2026-05-14T06:00:00+02:00",
    )
    assert old.send_at == NOW
    assert recent.send_at == datetime(2026, 5, 16, 4, 0, tzinfo=UTC)


def test_the_exhausted_budget_refuses_records_and_keeps_nothing(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 1)
    first = _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com")
    refused = _take(
        engine, shop.account_id, survey_id=shop.survey_id, email="b@example.com", external_id="o-2"
    )

    assert first.accepted
    assert refused == Outcome(None, "budget_exhausted")
    assert _scalar(engine, "SELECT count(*) FROM record") == 1
    assert _scalar(engine, "SELECT count(*) FROM recipient") == 1
    assert _scalar(engine, "SELECT rejected_email FROM usage") == 1
    assert _scalar(engine, "SELECT rejected FROM usage") == 0
    # It lapsed: the same record once there is room again is a new one, not a replay.
    set_budget(engine, "free", 2)
    again = _take(
        engine, shop.account_id, survey_id=shop.survey_id, email="b@example.com", external_id="o-2"
    )
    assert again.accepted and not again.replay


def test_an_external_id_seen_before_returns_the_first_outcome(engine: Engine) -> None:
    shop = seed(engine)
    first = _take(
        engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com", external_id="42"
    )
    replay = _take(
        engine,
        shop.account_id,
        survey_id=shop.survey_id,
        email="other@example.com",
        external_id=42,
    )
    assert replay == Outcome(first.id, None, first.send_at, replay=True)
    assert _used(engine, shop.account_id) == (1, 1)
    # Another account's external ids are its own.
    other = seed(engine)
    assert _take(
        engine, other.account_id, survey_id=other.survey_id, email="a@example.com", external_id="42"
    ).accepted


def test_the_minimum_interval_refuses_a_recent_recipient_without_counting(engine: Engine) -> None:
    shop = seed(engine)
    _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com")

    again = _take(engine, shop.account_id, survey_id=shop.survey_id, email="A@EXAMPLE.com")
    later = _take(
        engine,
        shop.account_id,
        NOW + timedelta(weeks=27),
        survey_id=shop.survey_id,
        email="a@example.com",
    )

    assert again.code == "recently_surveyed" and again.id is not None
    assert later.accepted
    assert _used(engine, shop.account_id) == (1, 1)
    with db.write(engine) as conn:
        conn.execute(text("UPDATE account SET min_interval_days = 0"))
    assert _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com").accepted


def test_unsubscribed_recipients_are_refused_and_their_scheduled_invitations_given_back(
    engine: Engine,
) -> None:
    shop = seed(engine, email_delay_days=5)
    first = _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com")
    invitation_id = _scalar(engine, "SELECT id FROM invitation")
    assert isinstance(invitation_id, int)

    gone = record_status.unsubscribe(engine, invitation_id, NOW)

    assert gone is not None and gone.cancelled == 1 and gone.email == "a@example.com"
    assert _used(engine, shop.account_id) == (0, 0)
    refused = _take(engine, shop.account_id, survey_id=shop.survey_id, email="A@example.com")
    assert refused.code == "unsubscribed"
    state = record_status.find_status(engine, shop.account_id, first.id or 0)
    assert state is not None and state.status == "cancelled"


def test_cancelling_gives_the_count_back_and_the_interval_forgets_it(engine: Engine) -> None:
    shop = seed(engine)
    first = _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com")
    assert first.id is not None
    assert record_status.cancel(engine, shop.account_id + 1, first.id, NOW) is False  # not theirs
    assert record_status.cancel(engine, shop.account_id, first.id, NOW) is True
    assert record_status.cancel(engine, shop.account_id, first.id, NOW) is False  # once
    assert _used(engine, shop.account_id) == (0, 0)
    assert _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com").accepted


def test_unknown_and_inactive_surveys_and_bad_fields(engine: Engine) -> None:
    shop = seed(engine)
    other = seed(engine)
    with pytest.raises(records.UnknownSurvey):
        _take(engine, shop.account_id, survey_id=other.survey_id, email="a@example.com")
    with db.write(engine) as conn:
        conn.execute(
            text("UPDATE survey SET active = false WHERE id = :id"), {"id": shop.survey_id}
        )
    with pytest.raises(records.SurveyInactive):
        _take(engine, shop.account_id, survey_id=shop.survey_id, email="a@example.com")
    with pytest.raises(InvalidRecord) as caught:
        record_in.parse(
            {
                "survey_id": "x",
                "email": "not an address",
                "name": "Eve\r\nBcc: all@example.com",
                "event_at": "yesterday",
                "properties": {"big": "x" * 5000},
                "colour": "red",
            },
            NOW,
        )
    assert {e.field for e in caught.value.errors} == {
        "survey_id",
        "email",
        "name",
        "event_at",
        "properties",
        "colour",
    }
    assert _scalar(engine, "SELECT count(*) FROM record") == 0


def test_languages_are_read_leniently() -> None:
    def language(value: str) -> str | None:
        return record_in.parse(
            {"survey_id": 1, "email": "a@example.com", "language": value}, NOW
        ).language

    assert language("de-AT") == "de"
    assert language("EN") == "en"
    assert language("fr") is None
    with pytest.raises(InvalidRecord):
        language("deutsch!")


def test_with_4_left_8_records_at_once_accept_4(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 4)
    wanted = [
        RecordIn(shop.survey_id, f"person{i}@example.com", external_id=f"o{i}") for i in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(
                lambda r: records.accept(engine, shop.account_id, r, API, NOW, UTC_ZONE), wanted
            )
        )
    assert Counter(o.code for o in outcomes) == {None: 4, "budget_exhausted": 4}
    assert _used(engine, shop.account_id) == (4, 4)
    assert _scalar(engine, "SELECT rejected_email FROM usage") == 4


def test_two_records_for_one_address_at_once_give_one_invitation(engine: Engine) -> None:
    shop = seed(engine)
    for round_ in range(5):
        wanted = RecordIn(shop.survey_id, f"Same{round_}@example.com")
        twice = [wanted, RecordIn(shop.survey_id, wanted.email.lower())]
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(
                pool.map(
                    lambda r: records.accept(engine, shop.account_id, r, API, NOW, UTC_ZONE), twice
                )
            )
        assert sorted(str(o.code) for o in outcomes) == ["None", "recently_surveyed"]
    assert _scalar(engine, "SELECT count(*) FROM invitation") == 5
    assert _scalar(engine, "SELECT count(*) FROM recipient") == 5


def test_one_external_id_sent_at_once_is_one_record(engine: Engine) -> None:
    shop = seed(engine)
    wanted = [RecordIn(shop.survey_id, f"p{i}@example.com", external_id="same") for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(
            pool.map(
                lambda r: records.accept(engine, shop.account_id, r, API, NOW, UTC_ZONE), wanted
            )
        )
    assert len({o.id for o in outcomes}) == 1
    assert sum(not o.replay for o in outcomes) == 1
    assert _used(engine, shop.account_id) == (1, 1)


def test_email_and_widget_racing_for_the_last_units_never_overshoot(engine: Engine) -> None:
    shop = seed(engine)
    set_budget(engine, "free", 5)
    with db.read(engine) as conn:
        survey = get_for_account(conn, shop.account_id, shop.survey_id)
    assert survey is not None

    def widget(i: int) -> bool:
        display = Display(shop.survey_id, f"nonce-{i}", "widget")
        try:
            record_response(engine, survey, Submission(display, 9), NOW, UTC_ZONE)
        except Exception:
            return False
        return True

    def email(i: int) -> bool:
        wanted = RecordIn(shop.survey_id, f"r{i}@example.com")
        return records.accept(engine, shop.account_id, wanted, API, NOW, UTC_ZONE).accepted

    with ThreadPoolExecutor(12) as pool:
        results = [pool.submit(widget if i % 2 else email, i) for i in range(24)]
        accepted = sum(r.result() for r in results)

    assert accepted == 5
    assert _used(engine, shop.account_id) == (5, 5)


def test_the_usage_invariant_holds_through_every_way_of_giving_back(engine: Engine) -> None:
    shop = seed(engine)
    outcomes = [
        _take(engine, shop.account_id, survey_id=shop.survey_id, email=f"p{i}@example.com")
        for i in range(6)
    ]
    ids = [
        int(str(_scalar(engine, "SELECT id FROM invitation WHERE record_id = :r", r=o.id)))
        for o in outcomes
    ]
    record_status.cancel(engine, shop.account_id, outcomes[0].id or 0, NOW)
    record_status.unsubscribe(engine, ids[1], NOW)
    with db.write(engine) as conn:
        assert record_status.end_unsent(conn, ids[2], "failed", NOW, "550 no such user")
        assert not record_status.end_unsent(conn, ids[2], "failed", NOW, "again")
    with db.read(engine) as conn:
        survey = get_for_account(conn, shop.account_id, shop.survey_id)
    assert survey is not None
    record_response(
        engine, survey, Submission(Display(shop.survey_id, "n1", "link"), 7), NOW, UTC_ZONE
    )

    used, expected = _used(engine, shop.account_id)
    assert (used, expected) == (4, 4)
    with db.read(engine) as conn:
        state = budget.usage_state(conn, shop.account_id, PERIOD)
    assert state.remaining == 46


def test_note_arrival_keeps_the_latest_source(engine: Engine) -> None:
    shop = seed(engine)
    records.note_arrival(engine, shop.account_id, Source("csv", "march.csv"), NOW)
    records.note_arrival(engine, shop.account_id, API, NOW + timedelta(minutes=1))
    with db.read(engine) as conn:
        row = conn.execute(text("SELECT source, source_name, arrived_at FROM record_sync")).one()
    assert (row.source, row.source_name) == ("api", "Shop")
