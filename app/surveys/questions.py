"""Follow-up questions: what a survey asks after the score, typed.

A survey keeps its questions in one JSON column (``survey.questions``), read
with the survey itself, so the widget config costs no second query. Each
question has a stable id, a kind, labels per survey language, optionally the
segments it is shown to, and for the choice kinds options with stable ids.
This module owns their shape: cleaning what an admin saves, the localised
view visitors get, and validating a visitor's answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.platform.text import clean_text

KINDS = ("text", "single", "multiple", "tags")
CHOICE_KINDS = ("single", "multiple", "tags")
MAX_QUESTIONS = 5
MAX_OPTIONS = 10
MAX_PICKS = 10  # the most a tags question may allow to be picked
DEFAULT_PICKS = 3
LABEL_MAX = 200
OPTION_MAX = 80
TEXT_MAX = 1000  # one free-text answer
ID_MAX = 16


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    labels: Mapping[str, str]

    def label(self, language: str, fallback: str = "en") -> str:
        return _pick(self.labels, language, fallback) or self.id


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: str
    labels: Mapping[str, str]
    options: tuple[Option, ...] = ()
    segments: tuple[str, ...] = ()  # empty: shown to every segment
    max_picks: int = DEFAULT_PICKS  # tags only

    def label(self, language: str, fallback: str = "en") -> str:
        return _pick(self.labels, language, fallback) or self.id

    def option(self, option_id: str) -> Option | None:
        return next((option for option in self.options if option.id == option_id), None)

    def shown_to(self, segment: str) -> bool:
        return not self.segments or segment in self.segments

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "labels": dict(self.labels)}
        if self.kind in CHOICE_KINDS:
            data["options"] = [{"id": o.id, "labels": dict(o.labels)} for o in self.options]
        if self.segments:
            data["segments"] = list(self.segments)
        if self.kind == "tags":
            data["max_picks"] = self.max_picks
        return data


def _pick(labels: Mapping[str, str], language: str, fallback: str) -> str:
    """The label in ``language``, else the fallback's, else any."""
    return labels.get(language) or labels.get(fallback) or next(iter(labels.values()), "")


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(4)


def parse(raw: Any) -> tuple[Question, ...]:
    """The stored JSON as questions; anything malformed is skipped, so a hand
    edited row can never break the widget config."""
    questions: list[Question] = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            continue
        options = tuple(
            Option(str(o["id"]), _labels(o.get("labels")))
            for o in item.get("options") or ()
            if isinstance(o, dict) and o.get("id")
        )
        picks = item.get("max_picks")
        questions.append(
            Question(
                str(item.get("id") or ""),
                item["kind"],
                _labels(item.get("labels")),
                options,
                tuple(s for s in item.get("segments") or () if isinstance(s, str)),
                picks if isinstance(picks, int) and picks > 0 else DEFAULT_PICKS,
            )
        )
    return tuple(questions)


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and v}


def to_json(questions: Iterable[Question]) -> list[dict[str, Any]]:
    return [question.as_json() for question in questions]


# -- what visitors get ---------------------------------------------------------


def localised(
    questions: Sequence[Question], language: str, fallback: str = "en"
) -> list[dict[str, Any]]:
    """The widget config's ``survey.questions``, labels in ``language``."""
    shown: list[dict[str, Any]] = []
    for question in questions:
        item: dict[str, Any] = {
            "id": question.id,
            "kind": question.kind,
            "label": question.label(language, fallback),
        }
        if question.kind in CHOICE_KINDS:
            item["options"] = [
                {"id": o.id, "label": o.label(language, fallback)} for o in question.options
            ]
        if question.segments:
            item["segments"] = list(question.segments)
        if question.kind == "tags":
            item["max"] = question.max_picks
        shown.append(item)
    return shown


def for_segment(questions: Sequence[Question], segment: str) -> list[Question]:
    return [question for question in questions if question.shown_to(segment)]


# -- a visitor's answers -----------------------------------------------------------


class _FormValues(list[str]):
    """A page form's values for one name: a list, whatever the kind."""


FORM_PREFIX = "a."  # a page's form names each question's controls ``a.{id}``


def from_form(form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A page form's answers in the API's shape, for ``validate``: the
    choice kinds' values as lists, text and single choice as the last value
    (only ``validate`` knows the kind: it takes a form's last value for text
    and a single choice). Empty values are dropped."""
    raw: dict[str, Any] = {}
    for name, values in form.items():
        if name.startswith(FORM_PREFIX):
            kept = [value for value in values if value.strip()]
            if kept:
                raw[name[len(FORM_PREFIX) :]] = _FormValues(kept)
    return raw


Value = str | list[str]
Answers = Mapping[str, Value]


class AnswerError(ValueError):
    """Answers that cannot be stored; each error names its field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f} {m}" for f, m in errors))
        self.errors = errors


@dataclass
class _Errors:
    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, question_id: str, message: str) -> None:
        self.found.append((f"answers.{question_id[: ID_MAX * 2]}", message))


def validate(
    questions: Sequence[Question], raw: Any, segment: str | None = None
) -> dict[str, Value]:
    """Clean answers ``{question id: text | option id | [option ids]}``:
    unknown questions and options, wrong types, too many picks, text too
    long, and (when ``segment`` is known) questions not shown to it are
    refused. Empty answers are dropped. Raises ``AnswerError``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise AnswerError([("answers", "must be an object of question ids")])
    if len(raw) > MAX_QUESTIONS:  # no survey asks more; a flood gets one error, not one each
        raise AnswerError([("answers", f"may answer at most {MAX_QUESTIONS} questions")])
    errors = _Errors()
    by_id = {question.id: question for question in questions}
    clean: dict[str, Value] = {}
    for question_id, value in raw.items():
        question = by_id.get(question_id)
        if question is None:
            errors.add(question_id, "is not a question of this survey")
            continue
        if segment is not None and not question.shown_to(segment):
            errors.add(question_id, f"is not asked of {segment}s")
            continue
        cleaned = _value(question, value, errors)
        if cleaned:
            clean[question_id] = cleaned
    if errors.found:
        raise AnswerError(errors.found)
    return clean


def _value(question: Question, value: Any, errors: _Errors) -> Value | None:
    qid = question.id
    if question.kind in ("text", "single") and isinstance(value, _FormValues):
        value = value[-1]
    if question.kind == "text":
        if not isinstance(value, str):
            errors.add(qid, "must be text")
            return None
        text = clean_text(value)
        if len(text) > TEXT_MAX:
            errors.add(qid, f"must be at most {TEXT_MAX} characters")
            return None
        return text or None
    if question.kind == "single":
        if not isinstance(value, str):
            errors.add(qid, "must be one option id")
            return None
        if question.option(value) is None:
            errors.add(qid, f"has no option {value[: ID_MAX * 2]!r}")
            return None
        return value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors.add(qid, "must be a list of option ids")
        return None
    picked = list(dict.fromkeys(value))  # a repeat counts once
    unknown = [item for item in picked if question.option(item) is None]
    if unknown:
        errors.add(qid, f"has no option {unknown[0][: ID_MAX * 2]!r}")
        return None
    cap = question.max_picks if question.kind == "tags" else MAX_OPTIONS
    if len(picked) > cap:
        errors.add(qid, f"allows at most {cap} picks")
        return None
    # Kept in the order the admin listed the options.
    return [option.id for option in question.options if option.id in picked] or None


# -- the survey pages' form ------------------------------------------------------


def page_context(
    asked: Sequence[Question],
    segment: str,
    lang: str,
    fallback: str = "en",
    *,
    comment: str = "",
    picked: Mapping[str, Any] | None = None,
    wrong: str = "",
) -> dict[str, Any]:
    """What a thank-you page's form needs for the segment's questions, with
    what the visitor sent when the form comes back with an error."""
    return {
        "questions": localised(for_segment(asked, segment), lang, fallback),
        "picked": dict(picked or {}),
        "comment": comment,
        "wrong": wrong,
        "text_max": TEXT_MAX,
    }


def refused_labels(asked: Sequence[Question], error: AnswerError, lang: str) -> str:
    """The questions whose answers were refused, by their labels, for people."""
    labels = {question.id: question.label(lang) for question in asked}
    ids = [field.removeprefix("answers.") for field, _ in error.errors]
    return ", ".join(f"“{labels[qid]}”" for qid in ids if qid in labels)
