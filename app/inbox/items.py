"""The inbox: responses that need action, with a status, an assignee and
internal notes; what happened before for e-mail responses; replies by e-mail.

Which responses need action is a query over ``response`` by each survey's
``inbox_rule``, so answering writes nothing for the inbox. An item's state
row (``inbox_item``) is made on its first change; until then the item is
open and unassigned. Items are addressed by their response's id. Every
query is scoped to one account: another account's item reads as none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
)

from app.answers.follow_ups import Answered, answers_for
from app.inbox.failed import FAILED, FailedMail, failed_mails
from app.platform import db
from app.platform.models import admin_table as admin_user
from app.platform.models import inbox_item_table as item
from app.platform.models import inbox_mail_table as mail
from app.platform.models import inbox_note_table as note
from app.platform.models import invitation_table as invitation
from app.platform.models import recipient_table as recipient
from app.platform.models import record_table as record
from app.platform.models import response_table as response
from app.platform.models import survey_table as survey
from app.surveys.scales import DETRACTORS

# detractors_text: detractors and every response with a comment (the default).
RULES = ("detractors_text", "detractors", "all", "none")
STATUSES = ("open", "in_progress", "done")
PER_PAGE = 30
# The menu's open count stops here ("999+"): it is read on every admin page.
OPEN_COUNT_CAP = 1000
HISTORY_MAX = 20


class InboxError(ValueError):
    """A change that cannot be made; ``key`` names the message (app.platform.i18n)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# -- which responses need action -----------------------------------------------


def needs_action() -> ColumnElement[bool]:
    """The survey's rule, over ``response`` joined to ``survey``."""
    detractor = response.c.segment.in_(DETRACTORS)
    return or_(
        survey.c.inbox_rule == "all",
        and_(survey.c.inbox_rule.in_(("detractors", "detractors_text")), detractor),
        and_(survey.c.inbox_rule == "detractors_text", response.c.comment.is_not(None)),
    )


def _status() -> ColumnElement[str]:
    return func.coalesce(item.c.status, literal("open"))


def _base(account_id: int) -> Any:
    return response.join(survey, survey.c.id == response.c.survey_id).outerjoin(
        item, item.c.response_id == response.c.id
    ), and_(response.c.account_id == account_id, survey.c.account_id == account_id)


@dataclass(frozen=True)
class Filters:
    status: str | None = None  # one of STATUSES
    assignee: int | str | None = None  # an admin's id, or "none" for unassigned
    survey_id: int | None = None
    segment: str | None = None

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (self.status, self.assignee, self.survey_id, self.segment)
        )


def _filtered(filters: Filters, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [needs_action()]
    if with_status and filters.status is not None:
        conditions.append(_status() == filters.status)
    if filters.assignee == "none":
        conditions.append(item.c.assignee_id.is_(None))
    elif isinstance(filters.assignee, int):
        conditions.append(item.c.assignee_id == filters.assignee)
    if filters.survey_id is not None:
        conditions.append(response.c.survey_id == filters.survey_id)
    if filters.segment is not None:
        conditions.append(response.c.segment == filters.segment)
    return conditions


@dataclass(frozen=True)
class Row:
    id: int  # the response's id, which names the item
    created_at: datetime
    survey_id: int
    survey_name: str
    kind: str
    score: int
    segment: str
    comment: str | None
    channel: str
    status: str
    assignee: str | None  # the assignee's e-mail address
    email: str | None  # the recipient's, for e-mail responses of surveys not anonymous


@dataclass(frozen=True)
class Page:
    items: list[Row]
    page: int
    pages: int
    total: int
    counts: dict[str, int]  # per status, under the other filters


def _columns() -> Select[Any]:
    return select(
        response.c.id,
        response.c.created_at,
        response.c.survey_id,
        survey.c.name.label("survey_name"),
        survey.c.kind,
        survey.c.anonymous,
        response.c.score,
        response.c.segment,
        response.c.comment,
        response.c.channel,
        _status().label("status"),
        admin_user.c.email.label("assignee"),
        recipient.c.email.label("email"),
    )


def joined_items(account_id: int) -> tuple[Any, ColumnElement[bool]]:
    joined, scope = _base(account_id)
    joined = (
        joined.outerjoin(admin_user, admin_user.c.id == item.c.assignee_id)
        .outerjoin(invitation, invitation.c.id == response.c.invitation_id)
        .outerjoin(recipient, recipient.c.id == invitation.c.recipient_id)
    )
    return joined, scope


def _row(values: Any) -> Row:
    return Row(
        id=values.id,
        created_at=values.created_at,
        survey_id=values.survey_id,
        survey_name=values.survey_name,
        kind=values.kind,
        score=values.score,
        segment=values.segment,
        comment=values.comment,
        channel=values.channel,
        status=values.status,
        assignee=values.assignee,
        # An anonymous survey's responses have no invitation; checked anyway.
        email=None if values.anonymous else values.email,
    )


def list_items(
    engine: Engine, account_id: int, filters: Filters, page: int = 1, per_page: int = PER_PAGE
) -> Page:
    """One page of the account's items, newest first, and the counts per status."""
    joined, scope = joined_items(account_id)
    where = and_(scope, *_filtered(filters))
    base, base_scope = _base(account_id)
    with db.read(engine) as conn:
        # Grouped by the stored status: no row yet is open.
        counted = conn.execute(
            select(item.c.status, func.count())
            .select_from(base)
            .where(base_scope, *_filtered(filters, with_status=False))
            .group_by(item.c.status)
        ).all()
        counts = dict.fromkeys(STATUSES, 0)
        for stored, count in counted:
            counts[stored or "open"] += int(count)
        total = counts[filters.status] if filters.status else sum(counts.values())
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        rows = conn.execute(
            _columns()
            .select_from(joined)
            .where(where)
            .order_by(response.c.created_at.desc(), response.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return Page([_row(row) for row in rows], page, pages, total, counts)


def open_count(engine: Engine, account_id: int) -> int:
    """Open items, counted up to ``OPEN_COUNT_CAP``."""
    base, scope = _base(account_id)
    capped = (
        select(literal(1).label("one"))
        .select_from(base)
        .where(scope, needs_action(), _status() == "open")
        .limit(OPEN_COUNT_CAP)
        .subquery()
    )
    with db.read(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(capped)).scalar_one())


# -- one item ---------------------------------------------------------------------


@dataclass(frozen=True)
class AdminChoice:
    id: int
    email: str


@dataclass(frozen=True)
class Note:
    kind: str  # note, reply
    body: str
    author: str | None  # None once the author's login is gone
    created_at: datetime


@dataclass(frozen=True)
class Earlier:
    """One of the recipient's invitations in this account, with its answer."""

    invitation_id: int
    survey_name: str
    created_at: datetime
    sent_at: datetime | None
    status: str
    score: int | None
    segment: str | None
    comment: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class Item:
    row: Row
    page_url: str | None
    locale: str | None
    assignee_id: int | None
    recipient_name: str | None
    recipient_language: str | None
    notes: list[Note]
    history: list[Earlier]
    admins: list[AdminChoice]
    replies_pending: int  # replies queued, not yet sent
    answers: Sequence[Answered] = ()  # the follow-up answers, in the admin's language if can be
    replies_failed: Sequence[FailedMail] = ()
    # The answered record's own words (its integration's id, event, properties);
    # none for a survey that is anonymous.
    external_id: str | None = None
    event: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def can_reply(self) -> bool:
        return self.row.email is not None


def admins(conn: Connection, account_id: int) -> list[AdminChoice]:
    rows = conn.execute(
        select(admin_user.c.id, admin_user.c.email)
        .where(admin_user.c.account_id == account_id)
        .order_by(admin_user.c.email)
    )
    return [AdminChoice(row.id, row.email) for row in rows]


def admin_choices(engine: Engine, account_id: int) -> list[AdminChoice]:
    with db.read(engine) as conn:
        return admins(conn, account_id)


def find_item(
    engine: Engine, account_id: int, response_id: int, language: str | None = None
) -> Item | None:
    """The account's response as an item, whatever its survey's rule; None
    for another account's, as for none at all. Follow-up answers are
    labelled in ``language`` (the admin's) where the survey has it."""
    joined, scope = joined_items(account_id)
    with db.read(engine) as conn:
        values = conn.execute(
            _columns()
            .add_columns(
                response.c.page_url,
                response.c.locale,
                item.c.assignee_id,
                recipient.c.id.label("recipient_id"),
                recipient.c.name.label("recipient_name"),
                recipient.c.language.label("recipient_language"),
                invitation.c.id.label("invitation_id"),
                record.c.external_id,
                record.c.event,
                record.c.properties,
            )
            .select_from(joined.outerjoin(record, record.c.id == invitation.c.record_id))
            .where(scope, response.c.id == response_id)
        ).first()
        if values is None:
            return None
        row = _row(values)
        notes = [
            Note(n.kind, n.body, n.email, n.created_at)
            for n in conn.execute(
                select(note.c.kind, note.c.body, note.c.created_at, admin_user.c.email)
                .select_from(note.outerjoin(admin_user, admin_user.c.id == note.c.author_id))
                .where(note.c.account_id == account_id, note.c.response_id == response_id)
                .order_by(note.c.created_at, note.c.id)
            )
        ]
        history = (
            _history(conn, account_id, values.recipient_id, values.invitation_id)
            if row.email is not None
            else []
        )
        replies = (
            mail.c.account_id == account_id,
            mail.c.response_id == response_id,
            mail.c.kind == "reply",
        )
        pending = conn.execute(
            select(func.count()).where(*replies, mail.c.status == "scheduled")
        ).scalar_one()
        failed = failed_mails(
            conn.execute(
                select(*FAILED)
                .where(*replies, mail.c.status == "failed")
                .order_by(mail.c.created_at, mail.c.id)
            )
        )
        choices = admins(conn, account_id)
        given = answers_for(conn, [response_id], language).get(response_id, [])
    return Item(
        row=row,
        page_url=values.page_url,
        locale=values.locale,
        assignee_id=values.assignee_id,
        recipient_name=values.recipient_name if row.email else None,
        recipient_language=values.recipient_language if row.email else None,
        notes=notes,
        answers=given,
        history=history,
        admins=choices,
        replies_pending=int(pending),
        replies_failed=failed,
        external_id=values.external_id if row.email else None,
        event=values.event if row.email else None,
        properties=dict(values.properties or {}) if row.email else {},
    )


def _history(
    conn: Connection, account_id: int, recipient_id: int, current_invitation: int
) -> list[Earlier]:
    """The recipient's other invitations in this account, newest first, with
    their answers; an anonymous survey's answers keep no link and show none."""
    answered = response.alias("answered")
    rows = conn.execute(
        select(
            invitation.c.id,
            survey.c.name,
            invitation.c.created_at,
            invitation.c.sent_at,
            invitation.c.status,
            answered.c.score,
            answered.c.segment,
            answered.c.comment,
            answered.c.created_at.label("answered_at"),
        )
        .select_from(
            invitation.join(survey, survey.c.id == invitation.c.survey_id).outerjoin(
                answered,
                and_(
                    answered.c.invitation_id == invitation.c.id,
                    answered.c.account_id == account_id,
                ),
            )
        )
        .where(
            invitation.c.account_id == account_id,
            survey.c.account_id == account_id,
            invitation.c.recipient_id == recipient_id,
            invitation.c.id != current_invitation,
        )
        .order_by(invitation.c.created_at.desc(), invitation.c.id.desc())
        .limit(HISTORY_MAX)
    )
    return [
        Earlier(
            r.id,
            r.name,
            r.created_at,
            r.sent_at,
            r.status,
            r.score,
            r.segment,
            r.comment,
            r.answered_at,
        )
        for r in rows
    ]
