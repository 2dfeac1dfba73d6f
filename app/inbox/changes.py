"""Changing an inbox item: its status and assignee, notes, and replies queued by
e-mail; every change scoped to one account and emitted as ``inbox.updated``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    select,
    update,
)

from app.inbox.items import STATUSES, InboxError, admins, joined_items
from app.platform import db, i18n
from app.platform.i18n import LANGUAGES
from app.platform.models import account_table
from app.platform.models import admin_table as admin_user
from app.platform.models import inbox_item_table as item
from app.platform.models import inbox_mail_table as mail
from app.platform.models import inbox_note_table as note
from app.platform.models import recipient_table as recipient
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey
from app.platform.text import clean_text
from app.webhooks import endpoints as webhooks

NOTE_MAX = 2000


SUBJECT_MAX = 150


REPLY_MAX = 5000


def _owned(conn: Connection, account_id: int, response_id: int) -> bool:
    found = conn.execute(
        select(response.c.id).where(
            response.c.id == response_id, response.c.account_id == account_id
        )
    ).first()
    return found is not None


def _ensure_item(conn: Connection, account_id: int, response_id: int, now: datetime) -> None:
    """The item's state row, made on its first change (two at once make one)."""
    conn.execute(
        db.insert(conn, item)
        .values(
            account_id=account_id,
            response_id=response_id,
            status="open",
            assignee_id=None,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[item.c.response_id])
    )


def _changed(
    conn: Connection, account_id: int, response_id: int, change: dict[str, Any], now: datetime
) -> None:
    """The one place every change of an item passes, in its transaction:
    ``inbox.updated`` is written to the webhook outbox with it."""
    webhooks.emit(conn, account_id, "inbox.updated", {"response_id": response_id, **change}, now)


def update_item(
    engine: Engine,
    account_id: int,
    response_id: int,
    now: datetime,
    *,
    status: str,
    assignee: str,
) -> bool:
    """Set the status and the assignee (an admin's id as text, "" for nobody).
    False for another account's item; InboxError for a status that is none or
    an admin of another account."""
    if status not in STATUSES:
        raise InboxError("inbox.error.status")
    assignee_id: int | None = None
    if assignee:
        if not (assignee.isascii() and assignee.isdigit() and len(assignee) < 10):
            raise InboxError("inbox.error.assignee")
        assignee_id = int(assignee)
    with db.write(engine) as conn:
        if not _owned(conn, account_id, response_id):
            return False
        if assignee_id is not None and assignee_id not in {
            choice.id for choice in admins(conn, account_id)
        }:
            raise InboxError("inbox.error.assignee")
        _ensure_item(conn, account_id, response_id, now)
        before = conn.execute(
            select(item.c.status, item.c.assignee_id).where(item.c.response_id == response_id)
        ).one()
        conn.execute(
            update(item)
            .where(item.c.response_id == response_id, item.c.account_id == account_id)
            .values(status=status, assignee_id=assignee_id, updated_at=now)
        )
        if (before.status, before.assignee_id) != (status, assignee_id):
            _changed(
                conn, account_id, response_id, {"status": status, "assignee_id": assignee_id}, now
            )
    return True


def _note_text(body: str, limit: int) -> str:
    text = "\n".join(line.rstrip() for line in clean_text(body).split("\n")).strip()
    if not text:
        raise InboxError("error.required")
    if len(text) > limit:
        raise InboxError("error.too_long", max=limit, count=len(text))
    return text


def add_note(
    engine: Engine, account_id: int, author_id: int, response_id: int, body: str, now: datetime
) -> bool:
    """An internal note by ``author_id``; False for another account's item."""
    text = _note_text(body, NOTE_MAX)
    with db.write(engine) as conn:
        if not _owned(conn, account_id, response_id):
            return False
        _ensure_item(conn, account_id, response_id, now)
        conn.execute(
            note.insert().values(
                account_id=account_id,
                response_id=response_id,
                author_id=author_id,
                kind="note",
                body=text,
                created_at=now,
            )
        )
        _changed(conn, account_id, response_id, {"note": text}, now)
    return True


def reply_subject(account_name: str, language: str) -> str:
    """What the reply form's subject says before the admin changes it."""
    return i18n.translate(language, "inbox.reply.subject_default", account=account_name)


def account_name(engine: Engine, account_id: int) -> str:
    with db.read(engine) as conn:
        return str(
            conn.execute(
                select(account_table.c.name).where(account_table.c.id == account_id)
            ).scalar_one()
        )


def queue_reply(
    engine: Engine,
    account_id: int,
    author_id: int,
    response_id: int,
    *,
    subject: str,
    body: str,
    now: datetime,
) -> bool:
    """Queue a reply to the respondent of an e-mail response (Reply-To the
    author) and record it on the item as a note, in one transaction. False
    for another account's item; InboxError when there is no one to reply to
    or the text is not fit to send."""
    one_line = " ".join(clean_text(subject).split())
    if not one_line:
        raise InboxError("error.required")
    if len(one_line) > SUBJECT_MAX:
        raise InboxError("error.too_long", max=SUBJECT_MAX, count=len(one_line))
    text = _note_text(body, REPLY_MAX)
    joined, scope = joined_items(account_id)
    with db.write(engine) as conn:
        found = conn.execute(
            select(
                survey.c.anonymous,
                recipient.c.email,
                recipient.c.name,
                recipient.c.language,
                account_table.c.name.label("account_name"),
                account_table.c.sender_name,
            )
            .select_from(joined.join(account_table, account_table.c.id == response.c.account_id))
            .where(scope, response.c.id == response_id)
        ).first()
        if found is None:
            return False
        if found.anonymous or not found.email:
            raise InboxError("inbox.error.no_address")
        author = conn.execute(
            select(admin_user.c.email, admin_user.c.language, admin_user.c.name).where(
                admin_user.c.id == author_id, admin_user.c.account_id == account_id
            )
        ).one()
        language = next(
            (lang for lang in (found.language, author.language) if lang in LANGUAGES),
            i18n.DEFAULT,
        )
        _ensure_item(conn, account_id, response_id, now)
        conn.execute(
            mail.insert().values(
                account_id=account_id,
                response_id=response_id,
                kind="reply",
                to_email=found.email,
                reply_to=author.email,
                # Who writes, as names go: the admin's own, else the account's sender.
                from_name=author.name or found.sender_name or found.account_name,
                to_name=found.name,
                subject=one_line,
                body=text,
                language=language,
                status="scheduled",
                next_attempt_at=now,
                attempts=0,
                created_at=now,
            )
        )
        conn.execute(
            note.insert().values(
                account_id=account_id,
                response_id=response_id,
                author_id=author_id,
                kind="reply",
                body=f"{one_line}\n\n{text}",
                created_at=now,
            )
        )
        _changed(conn, account_id, response_id, {"replied": True}, now)
    return True
