"""Records an admin hands in: a CSV file of them, or one recipient through
the manual form. Both take the API's path, ``records.parse`` then
``records.accept``, one record at a time under the budget rule, so an upload
that meets the end of the budget accepts the first rows and refuses the rest.

An upload is checked whole first (``record_csv.check``): a file that cannot
be read as records stores nothing. Then its rows are streamed, never held
together, and what became of them is kept as a ``record_upload`` row: counts
per outcome and the refused rows with their line numbers and reasons.

A reason is stored as a code (``unsubscribed``, ``row.malformed``...) or, for
a value records.parse refused, as ``field:<name>:<message>``; ``describe``
words it in the admin's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, insert, select

from app.invitations import record_csv, record_in, records
from app.platform import db, i18n
from app.platform.models import record_upload_table as upload_table
from app.platform.models import survey_table as survey
from app.surveys import model as surveys

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
SHOWN_REFUSED = 100
FILENAME_MAX = 200
REASON_MAX = 300
RECENT_UPLOADS = 10
# The counts an upload's result shows, in this order; ``survey_unavailable``
# only when the survey was switched off or deleted during the upload.
OUTCOMES = (
    "scheduled",
    "budget_exhausted",
    "recently_surveyed",
    "unsubscribed",
    "invalid",
    "replayed",
    "survey_unavailable",
)
_REASON_KEYS = {
    **{code: f"intake.reason.{code}" for code in records.REFUSALS},
    **{f"row.{problem}": f"csv.row.{problem}" for problem in record_csv.PROBLEMS},
    "survey_unavailable": "intake.reason.survey_unavailable",
}
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")


def describe(language: str, reason: str) -> str:
    """A stored reason in ``language``."""
    key = _REASON_KEYS.get(reason)
    if key is not None:
        return i18n.translate(language, key)
    if reason.startswith("field:"):
        _, name, message = reason.split(":", 2)
        return i18n.translate(language, "intake.reason.field", field=name, message=message)
    return reason


def _field_reason(error: record_in.InvalidRecord) -> str:
    text = "; ".join(f"field:{item.field}:{item.message}" for item in error.errors[:1])
    return text[:REASON_MAX]


def clean_filename(name: str | None) -> str:
    """The file's own name, without a path or control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = " ".join(_UNSAFE_IN_NAME.sub("", base).split())
    return base[:FILENAME_MAX] or "upload.csv"


# -- the upload ---------------------------------------------------------------


class UploadRefused(Exception):
    """The upload as a whole cannot be taken; nothing was stored. ``key`` and
    ``params`` give the message (``csv.<code>`` or ``intake.<code>``)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(i18n.translate("en", key, **params))
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Refusal:
    line: int
    email: str
    reason: str


def take_upload(
    engine: Engine,
    account_id: int,
    survey_id: int,
    file: BinaryIO,
    filename: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    max_rows: int = MAX_ROWS,
) -> int:
    """Take every row of the file for the account's survey and keep the
    result; its id. Raises ``UploadRefused`` for a file or survey that
    cannot be taken at all, before anything is stored."""
    with db.read(engine) as conn:
        chosen = surveys.get_for_account(conn, account_id, survey_id)
    if chosen is None:
        raise UploadRefused("intake.no_such_survey")
    if not chosen.active:
        raise UploadRefused("intake.survey_inactive", survey=chosen.name)
    try:
        layout = record_csv.check(file, max_rows=max_rows)
    except record_csv.CsvRefused as problem:
        raise UploadRefused(problem.key, **problem.params) from None
    name = clean_filename(filename)
    source = records.Source("csv", name)
    records.note_arrival(engine, account_id, source, now)
    counts = dict.fromkeys(OUTCOMES, 0)
    refused: list[list[Any]] = []
    taken = _outcomes(engine, account_id, survey_id, file, layout, source, now, zone)
    for line, email, outcome in taken:
        counts[outcome if outcome in counts else "invalid"] += 1
        if outcome not in ("scheduled", "replayed"):
            refused.append([line, email[: record_in.EMAIL_MAX], outcome])
    with db.write(engine) as conn:
        upload_id = conn.execute(
            insert(upload_table)
            .values(
                account_id=account_id,
                survey_id=survey_id,
                filename=name,
                outcomes=counts,
                refused=refused,
                created_at=now,
            )
            .returning(upload_table.c.id)
        ).scalar_one()
    return int(upload_id)


def _outcomes(
    engine: Engine,
    account_id: int,
    survey_id: int,
    file: BinaryIO,
    layout: record_csv.CsvLayout,
    source: records.Source,
    now: datetime,
    zone: ZoneInfo,
) -> Iterator[tuple[int, str, str]]:
    """(line, email, outcome) per row, taken as it is read: ``scheduled``,
    ``replayed``, a refusal code, or a reason the row was invalid."""
    for row in record_csv.rows(file, layout):
        email = row.values.get("email", "")
        if row.problem is not None:
            yield row.line, email, f"row.{row.problem}"
            continue
        try:
            wanted = record_in.parse({**row.record(), "survey_id": survey_id}, now)
        except record_in.InvalidRecord as error:
            yield row.line, email, _field_reason(error)
            continue
        try:
            outcome = records.accept(engine, account_id, wanted, source, now, zone)
        except (records.UnknownSurvey, records.SurveyInactive):
            yield row.line, email, "survey_unavailable"
            continue
        if outcome.replay:
            yield row.line, email, "replayed"
        else:
            yield row.line, email, outcome.code or "scheduled"


@dataclass(frozen=True)
class Upload:
    id: int
    survey_id: int | None
    survey_name: str | None
    filename: str
    created_at: datetime
    outcomes: dict[str, int]
    refused: list[Refusal]  # the first SHOWN_REFUSED of them
    refused_total: int

    @property
    def rows(self) -> int:
        return sum(self.outcomes.values())

    @property
    def shown_outcomes(self) -> list[tuple[str, int]]:
        return [
            (code, self.outcomes.get(code, 0))
            for code in OUTCOMES
            if code != "survey_unavailable" or self.outcomes.get(code)
        ]


def _query(account_id: int) -> Select[Any]:
    return (
        select(
            upload_table.c.id,
            upload_table.c.survey_id,
            survey.c.name.label("survey_name"),
            upload_table.c.filename,
            upload_table.c.created_at,
            upload_table.c.outcomes,
        )
        .select_from(upload_table.outerjoin(survey, survey.c.id == upload_table.c.survey_id))
        .where(upload_table.c.account_id == account_id)
    )


def _counts(raw: Mapping[str, Any]) -> dict[str, int]:
    return {code: int(raw.get(code) or 0) for code in OUTCOMES}


def get_upload(engine: Engine, account_id: int, upload_id: int) -> Upload | None:
    """The account's upload with its first refused rows; None for another
    account's, as for none at all."""
    with db.read(engine) as conn:
        row = conn.execute(
            _query(account_id)
            .add_columns(upload_table.c.refused)
            .where(upload_table.c.id == upload_id)
        ).first()
    if row is None:
        return None
    refused = list(row.refused or [])
    return Upload(
        row.id,
        row.survey_id,
        row.survey_name,
        row.filename,
        row.created_at,
        _counts(row.outcomes or {}),
        [
            Refusal(int(line), str(email), str(reason))
            for line, email, reason in refused[:SHOWN_REFUSED]
        ],
        len(refused),
    )


def refused_rows(engine: Engine, account_id: int, upload_id: int) -> list[Refusal] | None:
    """Every refused row of the account's upload, for the download."""
    with db.read(engine) as conn:
        refused = conn.execute(
            select(upload_table.c.refused).where(
                upload_table.c.id == upload_id, upload_table.c.account_id == account_id
            )
        ).first()
    if refused is None:
        return None
    return [Refusal(int(line), str(email), str(reason)) for line, email, reason in refused[0] or []]


def recent_uploads(engine: Engine, account_id: int, limit: int = RECENT_UPLOADS) -> list[Upload]:
    """The account's latest uploads, newest first, without their rows."""
    with db.read(engine) as conn:
        rows = conn.execute(
            _query(account_id)
            .order_by(upload_table.c.created_at.desc(), upload_table.c.id.desc())
            .limit(limit)
        ).all()
    return [
        Upload(
            row.id,
            row.survey_id,
            row.survey_name,
            row.filename,
            row.created_at,
            _counts(row.outcomes or {}),
            [],
            sum(
                value
                for code, value in _counts(row.outcomes or {}).items()
                if code not in ("scheduled", "replayed")
            ),
        )
        for row in rows
    ]


# -- one recipient by hand -------------------------------------------------------

MANUAL_FIELDS = ("survey_id", "email", "name", "language", "event_at")
Error = tuple[str, dict[str, Any]]
_FIELD_ERRORS = {
    "email": "intake.error.email",
    "name": "intake.error.name",
    "language": "error.choice",
    "event_at": "intake.error.event_at",
    "survey_id": "intake.error.survey",
}


@dataclass
class ManualEntry:
    """The manual form: what was typed, and per field what is wrong; or,
    once taken, the outcome."""

    fields: dict[str, str]
    errors: dict[str, Error] = field(default_factory=dict)
    outcome: records.Outcome | None = None


def blank_entry(survey_id: int | None = None) -> ManualEntry:
    fields = dict.fromkeys(MANUAL_FIELDS, "")
    fields["survey_id"] = "" if survey_id is None else str(survey_id)
    return ManualEntry(fields)


def _local_moment(value: str, zone: ZoneInfo) -> str:
    """A time the admin typed (``YYYY-MM-DDTHH:MM`` or a date) means the
    billing time zone's clock; anything else goes to records.parse as typed,
    which says what is wrong with it."""
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def take_manual(
    engine: Engine,
    account_id: int,
    raw: Mapping[str, str],
    admin_email: str,
    now: datetime,
    zone: ZoneInfo,
) -> ManualEntry:
    """Take one record from the admin's form as the API would."""
    entry = ManualEntry({name: str(raw.get(name, ""))[:1000] for name in MANUAL_FIELDS})
    given = {name: value.strip() for name, value in entry.fields.items() if value.strip()}
    if "event_at" in given:
        given["event_at"] = _local_moment(given["event_at"], zone)
    if given.get("language") not in (None, *i18n.LANGUAGES):
        entry.errors["language"] = ("error.choice", {})
    try:
        wanted = record_in.parse(given, now)
    except record_in.InvalidRecord as error:
        for item in error.errors:
            entry.errors.setdefault(item.field, (_FIELD_ERRORS.get(item.field, "error.choice"), {}))
        return entry
    if entry.errors:
        return entry
    source = records.Source("manual", admin_email)
    try:
        entry.outcome = records.accept(engine, account_id, wanted, source, now, zone)
    except records.UnknownSurvey:
        entry.errors["survey_id"] = ("intake.error.survey", {})
        return entry
    except records.SurveyInactive:
        entry.errors["survey_id"] = ("intake.error.survey_inactive", {})
        return entry
    records.note_arrival(engine, account_id, source, now)
    return entry
