"""Answers to follow-up questions: attached to a stored response in the
transaction that stores or finds it, read back with their labels.

They count nothing. The first answer to a question stands, like the comment:
the same answer sent again is a replay, another one is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, text

from app.platform import driver
from app.platform.i18n import LANGUAGES
from app.platform.models import UTCDateTime, survey_table
from app.platform.models import answer_table as answer
from app.platform.models import response_table as response
from app.surveys import questions
from app.surveys.model import Survey
from app.surveys.questions import Value


class AnswerAlreadyGiven(Exception):
    """A question of this response was answered differently before; the first answer stands."""


_STORED = text("SELECT question_id, value FROM answer WHERE response_id = :response_id")
_INSERT = text(
    "INSERT INTO answer (response_id, survey_id, question_id, value, created_at)"
    " VALUES (:response_id, :survey_id, :question_id, :value, :created_at)"
    " ON CONFLICT (response_id, question_id) DO NOTHING RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))
_ONE = text(
    "SELECT value FROM answer WHERE response_id = :response_id AND question_id = :question_id"
)


def encode(value: Value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decode(stored: str) -> Value:
    value = json.loads(stored)
    return value if isinstance(value, str) else [str(item) for item in value]


def attach(
    conn: driver.Executor,
    response_id: int,
    survey_id: int,
    values: Mapping[str, Value],
    now: datetime,
) -> bool:
    """Store ``values`` (validated already) for the response in the caller's
    transaction, which may be the counting one (plain text statements run on
    either kind of connection). Raises ``AnswerAlreadyGiven`` when a question
    has another answer stored; the caller's transaction then rolls back whole.
    True when an answer was stored that was not there before."""
    if not values:
        return False
    # Only the first answer of each question stands.
    stored = {
        row[0]: decode(row[1]) for row in conn.execute(_STORED, {"response_id": response_id}).all()
    }
    added = False
    for question_id, value in values.items():
        if question_id in stored:
            if stored[question_id] != value:
                raise AnswerAlreadyGiven
            continue
        params = {
            "response_id": response_id,
            "survey_id": survey_id,
            "question_id": question_id,
            "value": encode(value),
            "created_at": now,
        }
        if conn.execute(_INSERT, params).first() is None:
            # Another request stored this question's answer first: only the same one is a replay.
            first = conn.execute(
                _ONE, {"response_id": response_id, "question_id": question_id}
            ).first()
            if first is None or decode(first[0]) != value:
                raise AnswerAlreadyGiven
        else:
            added = True
    return added


def given(conn: Connection, response_id: int) -> set[str]:
    """The ids of the questions the response has answers to."""
    return set(
        conn.execute(select(answer.c.question_id).where(answer.c.response_id == response_id))
        .scalars()
        .all()
    )


@dataclass(frozen=True)
class Answered:
    """One answer as people read it, in one language of its survey's."""

    question_id: str
    kind: str
    question: str  # the question's label
    text: str | None = None  # a free-text answer
    choices: tuple[str, ...] = ()  # the chosen options' labels

    @property
    def display(self) -> str:
        """The answer on one line: the text, or the choices joined."""
        return self.text if self.text is not None else ", ".join(self.choices)


def answers_for(
    conn: Connection, response_ids: Iterable[int], language: str | None = None
) -> dict[int, list[Answered]]:
    """Each response's answers, in the order of its survey's questions, with
    the question's label and the chosen options' labels (or the text) in
    ``language`` where the survey has labels in it, else in the survey's
    default language (an admin reads them in the admin's language). Responses
    without answers are left out. An answer to a question or option since
    removed shows its id."""
    wanted = sorted(set(response_ids))
    if not wanted:
        return {}
    found: dict[int, list[tuple[int, Answered]]] = {}
    rows = conn.execute(
        select(
            answer.c.response_id,
            answer.c.question_id,
            answer.c.value,
            survey_table.c.id.label("survey_id"),
            survey_table.c.language,
            survey_table.c.questions,
        )
        .join(response, response.c.id == answer.c.response_id)
        .join(survey_table, survey_table.c.id == response.c.survey_id)
        .where(answer.c.response_id.in_(wanted))
        .order_by(answer.c.response_id, answer.c.id)
    ).all()
    parsed: dict[int, tuple[questions.Question, ...]] = {}
    for row in rows:
        # Surveys repeat across rows; their questions are parsed once.
        if row.survey_id not in parsed:
            parsed[row.survey_id] = questions.parse(row.questions)
        asked = parsed[row.survey_id]
        default = row.language if row.language in LANGUAGES else "en"
        at = next((i for i, q in enumerate(asked) if q.id == row.question_id), len(asked))
        question = asked[at] if at < len(asked) else None
        value = decode(row.value)
        found.setdefault(row.response_id, []).append(
            (at, _answered(question, row.question_id, value, language or default, default))
        )
    return {
        response_id: [item for _, item in sorted(listed, key=lambda pair: pair[0])]
        for response_id, listed in found.items()
    }


def _answered(
    question: questions.Question | None,
    question_id: str,
    value: Value,
    language: str,
    default: str,
) -> Answered:
    if question is None:
        kind = "text" if isinstance(value, str) else "multiple"
        label = question_id
    else:
        kind, label = question.kind, question.label(language, default)
    if isinstance(value, str) and kind == "text":
        return Answered(question_id, kind, label, text=value)
    picked = [value] if isinstance(value, str) else list(value)
    labels = []
    for option_id in picked:
        option = question.option(option_id) if question is not None else None
        labels.append(option.label(language, default) if option is not None else option_id)
    return Answered(question_id, kind, label, choices=tuple(labels))


# -- a month's answers, for the results page ---------------------------------------

LATEST_TEXTS = 10


@dataclass(frozen=True)
class QuestionSummary:
    """How one question was answered in a month: each option's count (for
    the choice kinds) or the latest texts, and how many answered it."""

    question: str
    kind: str
    answered: int
    counts: tuple[tuple[str, int], ...] = ()
    texts: tuple[str, ...] = ()


def summary(
    conn: Connection, account_id: int, survey: Survey, period: str, language: str | None = None
) -> list[QuestionSummary]:
    """The survey's questions as answered in ``period``, labelled in
    ``language`` where the survey has it, else in its default language;
    questions since removed are left out."""
    if not survey.questions:
        return []
    rows = conn.execute(
        select(answer.c.question_id, answer.c.value)
        .join(response, response.c.id == answer.c.response_id)
        .where(
            response.c.account_id == account_id,
            response.c.survey_id == survey.id,
            response.c.period == period,
        )
        .order_by(answer.c.id.desc())
    ).all()
    by_question: dict[str, list[Value]] = {}
    for question_id, stored in rows:
        by_question.setdefault(question_id, []).append(decode(stored))
    default = survey.default_language
    wanted = language or default
    found = []
    for question in survey.questions:
        values = by_question.get(question.id, [])
        if question.kind == "text":
            texts = tuple(v for v in values if isinstance(v, str))[:LATEST_TEXTS]
            found.append(
                QuestionSummary(question.label(wanted, default), "text", len(values), texts=texts)
            )
            continue
        tally = {option.id: 0 for option in question.options}
        for value in values:
            for option_id in [value] if isinstance(value, str) else value:
                if option_id in tally:
                    tally[option_id] += 1
        counts = tuple(
            (option.label(wanted, default), tally[option.id]) for option in question.options
        )
        label = question.label(wanted, default)
        found.append(QuestionSummary(label, question.kind, len(values), counts))
    return found
