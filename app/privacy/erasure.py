"""Privacy operations: erasing one person's data from an account, and the
retention period after which comments and recipients' data go.

Deleting never gives budget back: what was counted was sent or answered.
An address that unsubscribed keeps its suppression row, reduced to the
address's key (``addresses.email_key``), because forgetting it would let the next record
e-mail the person who asked for silence."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select, update

from app.platform import db
from app.platform.addresses import email_key
from app.platform.models import (
    answer_table,
    inbox_mail_table,
    inbox_note_table,
    invitation_table,
    recipient_table,
    record_table,
    record_upload_table,
    refused_record_table,
    response_table,
    test_response_table,
    webhook_message_table,
)

invitation = invitation_table
recipient = recipient_table
record = record_table
response = response_table
upload = record_upload_table

log = logging.getLogger("nps_beacon")
RETENTION_EVERY = 3600.0  # seconds between the worker's retention passes

# Invitations still to be sent are left alone by retention; they are days old.
FINAL_STATUSES = ("sent", "answered", "failed", "cancelled")


@dataclass(frozen=True)
class Erased:
    responses: int = 0  # with their follow-up answers and inbox notes
    invitations: int = 0
    records: int = 0
    uploaded_rows: int = 0
    messages: int = 0  # replies from the inbox to the address
    refused_records: int = 0  # the period's refusals listed for the admin
    suppressed: bool = False  # the address stays on the suppression list only
    outbox_files: int = 0  # the development outbox's messages naming the address

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def erase(engine: Engine, account_id: int, email: str, outbox: Path) -> Erased:
    """``erase_recipient``, then what lies beside the tables: SQLite's
    write-ahead log, which still holds the deleted rows' old pages, is
    emptied into the file (where ``secure_delete`` left zeros), and the
    messages in the development ``outbox`` that name the address are removed
    (whichever account sent them: a file does not say)."""
    erased = erase_recipient(engine, account_id, email)
    if not db.empty_log(engine):
        log.warning("the database log was busy; the erased rows leave it at its next checkpoint")
    return replace(erased, outbox_files=remove_from_outbox(outbox, email))


def erase_recipient(engine: Engine, account_id: int, email: str) -> Erased:
    """Everything the account holds about one address, in one transaction:
    its answers, invitations, records, refused upload rows and listed
    refusals. The address
    is compared by its key: every spelling of the mailbox goes."""
    key = email_key(email)
    with db.write(engine) as conn:
        uploaded = _scrub_uploads(conn, account_id, key)
        messages = _delete_messages(conn, account_id, key)
        refusals = conn.execute(
            delete(refused_record_table).where(
                refused_record_table.c.account_id == account_id,
                refused_record_table.c.email_key == key,
            )
        ).rowcount
        found = conn.execute(
            select(recipient.c.id, recipient.c.unsubscribed_at).where(
                recipient.c.account_id == account_id, recipient.c.email_key == key
            )
        ).first()
        if found is None:
            return Erased(uploaded_rows=uploaded, messages=messages, refused_records=refusals)
        invitations = select(invitation.c.id).where(invitation.c.recipient_id == found.id)
        # Their follow-up answers, inbox items and notes go with them (ON DELETE CASCADE).
        answers = conn.execute(
            delete(response).where(response.c.invitation_id.in_(invitations))
        ).rowcount
        sent = conn.execute(delete(invitation).where(invitation.c.recipient_id == found.id))
        records = conn.execute(delete(record).where(record.c.recipient_id == found.id))
        suppressed = found.unsubscribed_at is not None
        if suppressed:
            conn.execute(
                update(recipient)
                .where(recipient.c.id == found.id)
                .values(email=key, name=None, language=None, properties={})
            )
        else:
            conn.execute(delete(recipient).where(recipient.c.id == found.id))
    return Erased(
        answers, sent.rowcount, records.rowcount, uploaded, messages, refusals, suppressed
    )


def _delete_messages(conn: Connection, account_id: int, key: str) -> int:
    """The inbox's mail to the mailbox. Its addresses are as written, and
    IDNA is no SQL function: the account's are compared here."""
    rows = conn.execute(
        select(inbox_mail_table.c.id, inbox_mail_table.c.to_email).where(
            inbox_mail_table.c.account_id == account_id
        )
    ).all()
    ids = [row.id for row in rows if email_key(row.to_email) == key]
    for chunk in _chunks(ids, 500):
        conn.execute(delete(inbox_mail_table).where(inbox_mail_table.c.id.in_(chunk)))
    return len(ids)


def _scrub_uploads(conn: Connection, account_id: int, key: str) -> int:
    removed = 0
    rows = conn.execute(
        select(upload.c.id, upload.c.refused).where(upload.c.account_id == account_id)
    ).all()
    for row in rows:
        kept = [entry for entry in row.refused or [] if email_key(str(entry[1])) != key]
        if len(kept) != len(row.refused or []):
            removed += len(row.refused) - len(kept)
            conn.execute(update(upload).where(upload.c.id == row.id).values(refused=kept))
    return removed


@dataclass(frozen=True)
class Retained:
    comments: int = 0
    invitations: int = 0
    records: int = 0
    recipients: int = 0
    uploads: int = 0
    refused_records: int = 0
    notes: int = 0  # inbox notes and the records of replies, with their comments

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def months_before(now: datetime, months: int) -> datetime:
    # A month is taken as 30.44 days: a retention period needs no calendar.
    return now - timedelta(days=round(months * 30.44))


def apply_retention(engine: Engine, months: int, now: datetime) -> Retained:
    """Comments and recipients' data older than ``months``: comments are
    cleared (scores stay for the figures) and the inbox's notes, replies and
    alerts about them deleted, finished invitations and their records
    deleted, answers unlinked from them, recipients with nothing left
    deleted unless they unsubscribed, refused upload rows emptied, sent
    webhook messages (which carry comments and notes) deleted."""
    if months <= 0:
        return Retained()
    cutoff = months_before(now, months)
    with db.write(engine) as conn:
        comments = conn.execute(
            update(response)
            .where(response.c.created_at < cutoff, response.c.comment.is_not(None))
            .values(comment=None)
        ).rowcount
        conn.execute(
            update(test_response_table)
            .where(test_response_table.c.created_at < cutoff)
            .values(comment=None)
        )
        # Free-text follow-up answers are comments too (stored as JSON strings);
        # the chosen options stay for the figures.
        comments += conn.execute(
            delete(answer_table).where(
                answer_table.c.created_at < cutoff, answer_table.c.value.like('"%')
            )
        ).rowcount
        notes = _forget_the_inbox(conn, cutoff)
        old = select(invitation.c.id).where(
            invitation.c.created_at < cutoff, invitation.c.status.in_(FINAL_STATUSES)
        )
        old_records = select(invitation.c.record_id).where(invitation.c.id.in_(old))
        conn.execute(
            update(response).where(response.c.invitation_id.in_(old)).values(invitation_id=None)
        )
        # Invitations point at their records: note the records, delete invitations first.
        record_ids = [row[0] for row in conn.execute(old_records)]
        invitations = conn.execute(delete(invitation).where(invitation.c.id.in_(old))).rowcount
        records = 0
        for chunk in _chunks(record_ids, 500):
            records += conn.execute(delete(record).where(record.c.id.in_(chunk))).rowcount
        # Refused records have no invitation; they lapse by their own age.
        records += conn.execute(
            delete(record).where(
                record.c.received_at < cutoff,
                ~select(invitation.c.id).where(invitation.c.record_id == record.c.id).exists(),
            )
        ).rowcount
        recipients = conn.execute(
            delete(recipient).where(
                recipient.c.created_at < cutoff,
                recipient.c.unsubscribed_at.is_(None),
                ~select(record.c.id).where(record.c.recipient_id == recipient.c.id).exists(),
                ~select(invitation.c.id)
                .where(invitation.c.recipient_id == recipient.c.id)
                .exists(),
            )
        ).rowcount
        uploads = conn.execute(
            update(upload).where(upload.c.created_at < cutoff).values(refused=[])
        ).rowcount
        # The list of refused records holds the current period only; a
        # retention shorter than a month still has the last word.
        refusals = conn.execute(
            delete(refused_record_table).where(refused_record_table.c.refused_at < cutoff)
        ).rowcount
    return Retained(comments, invitations, records, recipients, uploads, refusals, notes)


def _forget_the_inbox(conn: Connection, cutoff: datetime) -> int:
    """What the inbox and the webhooks hold about answers past the period:
    notes and replies go with the comment they are about, whenever they were
    written; mail and webhook messages once sent (or given up), by their own
    age or their answer's. Returns the notes deleted."""
    old = select(response.c.id).where(response.c.created_at < cutoff)
    notes = conn.execute(
        delete(inbox_note_table).where(inbox_note_table.c.response_id.in_(old))
    ).rowcount
    # Replies and alerts the inbox sent, with their text and addresses.
    mail = inbox_mail_table.c
    conn.execute(
        delete(inbox_mail_table).where(
            mail.status != "scheduled", or_(mail.created_at < cutoff, mail.response_id.in_(old))
        )
    )
    sent = webhook_message_table.c
    conn.execute(
        delete(webhook_message_table).where(sent.created_at < cutoff, sent.status != "pending")
    )
    return int(notes)


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[at : at + size] for at in range(0, len(values), size)]


def keep_retention(
    engine: Engine,
    months: int,
    stop: threading.Event,
    *,
    every: float = RETENTION_EVERY,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> threading.Thread | None:
    """The worker's thread applying the retention period now and then every
    ``every`` seconds until ``stop``; None when no period is set. A failed
    pass is logged and tried again at the next."""
    if months <= 0:
        return None

    def run() -> None:
        while not stop.is_set():
            try:
                done = apply_retention(engine, months, clock())
                if any(done.as_dict().values()):
                    log.info("retention of %d months applied: %s", months, done.as_dict())
            except Exception:
                log.exception("retention pass failed; trying again later")
            stop.wait(every)

    thread = threading.Thread(target=run, name="retention", daemon=True)
    thread.start()
    return thread


# -- the development outbox -------------------------------------------------------

# What may stand right before an address's local part, or right after its
# domain, inside a longer address ("joann@" is not "ann@").
_LOCAL_CHARS = r"\w.!#$%&'*+/=?^`{|}~-"


def remove_from_outbox(directory: Path, email: str) -> int:
    """Delete the ``.eml`` files in ``directory`` that name ``email`` in a
    header or a text part, compared case-insensitively and with the domain
    in either its Unicode or its ASCII (IDNA) form; how many went."""
    if not directory.is_dir():
        return 0
    forms = _address_forms(email)
    if not forms:
        return 0
    named = re.compile(
        f"(?<![{_LOCAL_CHARS}])(?:{'|'.join(map(re.escape, forms))})(?![\\w-]|\\.[\\w-])"
    )
    removed = 0
    for path in directory.glob("*.eml"):
        if named.search(_message_text(path.read_bytes())):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _address_forms(email: str) -> set[str]:
    """``email`` folded as messages are searched: NFC, case-folded, the
    domain both as written (Unicode) and as its IDNA A-label."""
    local, at, domain = _fold(email.strip()).rpartition("@")
    if not at or not local or not domain:
        return set()
    forms = {f"{local}@{domain}"}
    for convert in (_to_ascii, _to_unicode):
        other = convert(domain)
        if other:
            forms.add(f"{local}@{_fold(other)}")
    return forms


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _to_ascii(domain: str) -> str | None:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _to_unicode(domain: str) -> str | None:
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return None


def _message_text(raw: bytes) -> str:
    """The file as a reader sees it, folded: headers decoded, each text part
    decoded from its transfer encoding, and the raw text besides."""
    pieces = [raw.decode("utf-8", "replace")]
    try:
        message = message_from_bytes(raw, policy=policy.default)
        pieces += [str(value) for value in message.values()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                pieces.append(str(part.get_content()))
    except (LookupError, ValueError, TypeError, AttributeError):
        return _fold(pieces[0])  # a file no parser reads: its raw text is all there is
    return _fold("\n".join(pieces))
