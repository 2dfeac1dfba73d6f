"""The migrations build exactly the schema the models describe, and the
newest one can be undone and redone."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from app import migrations
from app.accounts import accounts
from app.invitations import record_in, records
from app.platform import db
from app.platform.db import create_db_engine
from app.surveys import model as surveys
from tests.conftest import BACKENDS, PG_URL, seed


def _differences(engine: Engine) -> list[object]:
    """What `alembic revision --autogenerate` would write: nothing, if the
    migrations and the models agree."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert _differences(engine) == []


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, so undoing migrations disturbs no other test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    assert PG_URL
    server = create_db_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"nps_beacon_migrations_{os.getpid()}"
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def test_the_readiness_check_knows_the_newest_revision() -> None:
    script = ScriptDirectory(str(migrations.HERE))
    assert script.get_current_head() == migrations.HEAD


def test_the_newest_migration_goes_down_and_up_again(empty_database: str) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config(empty_database))
    head = script.get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    engine = create_db_engine(empty_database)
    try:
        migrations.upgrade(empty_database)
        migrations.downgrade(empty_database, head.down_revision)
        assert _revision(engine) == head.down_revision
        migrations.upgrade(empty_database)
        assert _revision(engine) == head.revision
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_mailbox_keys_are_rewritten_and_twins_merged_into_the_earliest(
    empty_database: str,
) -> None:
    """Recipients stored under the lower-cased address get the mailbox's key;
    two spellings of one mailbox become the earliest recipient, which keeps
    its address, gains the other's records and invitations and name, and
    stays unsubscribed if either was."""
    migrations.upgrade(empty_database, "0011")
    engine = create_db_engine(empty_database)
    try:
        with db.write(engine) as conn:
            account_id = accounts.create_account(conn, "Shop", "pro")
            accounts.set_min_interval(conn, account_id, 0)
            survey_id, _ = surveys.create_survey(conn, account_id, name="S", kind="nps")
        nfd = unicodedata.normalize("NFD", "cécile@ex.test")
        spellings = [
            ("ann@bücher.de", None),
            ("Ann@XN--BCHER-KVA.DE", "Ann"),
            (nfd, None),
            ("cécile@ex.test", None),
            ("bob@example.com", None),
        ]
        for minute, (address, name) in enumerate(spellings):
            when = datetime(2026, 5, 1, 12, minute, tzinfo=UTC)
            wanted = record_in.parse({"survey_id": survey_id, "email": address, "name": name}, when)
            outcome = records.accept(
                engine, account_id, wanted, records.Source("api", "S"), when, ZoneInfo("UTC")
            )
            assert outcome.accepted
            with db.write(engine) as conn:  # as the revision before wrote it
                conn.execute(
                    text("UPDATE recipient SET email_key = :k WHERE email = :e"),
                    {"k": address.lower(), "e": address},
                )
        with db.write(engine) as conn:
            conn.execute(
                text("UPDATE recipient SET unsubscribed_at = created_at WHERE email = :e"),
                {"e": "Ann@XN--BCHER-KVA.DE"},
            )

        migrations.upgrade(empty_database)

        with db.read(engine) as conn:
            kept = conn.execute(
                text(
                    "SELECT r.email, r.email_key, r.name, r.unsubscribed_at IS NOT NULL,"
                    " (SELECT count(*) FROM record WHERE recipient_id = r.id),"
                    " (SELECT count(*) FROM invitation WHERE recipient_id = r.id)"
                    " FROM recipient r ORDER BY r.id"
                )
            ).all()
        assert [tuple(row) for row in kept] == [
            ("ann@bücher.de", "ann@xn--bcher-kva.de", "Ann", True, 2, 2),
            (nfd, "cécile@ex.test", None, False, 2, 2),
            ("bob@example.com", "bob@example.com", None, False, 1, 1),
        ]
        assert _differences(engine) == []
    finally:
        engine.dispose()


STORED_PAGES = [
    ("https://shop.example/checkout/done?email=ann%40example.com&tel=0170", "q1"),
    ("https://ann:secret@shop.example:8443/account#orders", "q2"),
    ("https://shop.example/thanks", "q3"),
    (None, "q4"),
]


def test_page_addresses_stored_before_keep_origin_and_path_only(empty_database: str) -> None:
    """Addresses stored as sent, query strings and all, are cut by the
    migration that came with cutting them on arrival."""
    migrations.upgrade(empty_database, "0011")
    engine = create_db_engine(empty_database)
    try:
        shop = seed(engine)
        with engine.begin() as conn:
            for table in ("response", "test_response"):
                for page, nonce in STORED_PAGES:
                    period = ", period" if table == "response" else ""
                    conn.execute(
                        text(
                            f"INSERT INTO {table} (nonce, account_id, survey_id, score, segment,"
                            f" channel, page_url, created_at{period}) VALUES (:n, :a, :s, 9,"
                            f" 'promoter', 'widget', :p, :t{', :period' if period else ''})"
                        ),
                        {"n": f"{table}{nonce}", "a": shop.account_id, "s": shop.survey_id,
                         "p": page, "t": datetime.now(UTC), "period": "2026-05"},
                    )  # fmt: skip
            # Origin headers a forged request filled with a page's whole address.
            forged = {"a": shop.account_id, "s": shop.survey_id, "t": datetime.now(UTC),
                      "o": STORED_PAGES[0][0]}  # fmt: skip
            conn.execute(
                text("INSERT INTO contact (survey_id, account_id, seen_at, origin, channel)"
                     " VALUES (:s, :a, :t, :o, 'widget')"), forged,
            )  # fmt: skip
            conn.execute(
                text("INSERT INTO refused_origin (survey_id, account_id, origin, refused_at)"
                     " VALUES (:s, :a, :o, :t)"), forged,
            )  # fmt: skip

        migrations.upgrade(empty_database)

        with engine.connect() as conn:
            for table in ("response", "test_response"):
                pages = conn.execute(text(f"SELECT page_url FROM {table} ORDER BY id")).scalars()
                assert list(pages) == [
                    "https://shop.example/checkout/done",
                    "https://shop.example:8443/account",
                    "https://shop.example/thanks",
                    None,
                ]
            for table in ("contact", "refused_origin"):
                origin = conn.execute(text(f"SELECT origin FROM {table}")).scalar_one()
                assert origin == "https://shop.example/checkout/done"
    finally:
        engine.dispose()
