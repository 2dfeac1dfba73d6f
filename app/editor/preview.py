"""The survey editor's live preview: what the real widget is told about an
unsaved form, and what a preview answer is told back.

Nothing here reads or writes the database. The preview key (``signing``)
carries the whole config, so ``/api/v1/widget/{preview key}`` answers from
the key alone, and its display tokens carry only what the answer is told:
the segment's reward shown as ``PREVIEW`` and the typed review address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.answers import rewards
from app.editor import form as survey_form
from app.editor.form import SurveyForm
from app.surveys import model as surveys
from app.surveys import questions, scales
from app.surveys import texts as survey_texts

# Asked at once on every view, whatever the frame's browser remembers.
RULES = {"delay_ms": 0, "recontact_days": 0, "sample_rate": 1.0, "test": True, "preview": True}
# What the thanks shows instead of a real coupon code.
REWARD = "PREVIEW"
DEFAULT_COLOR = "#1f5fbf"  # the form's own default, while the field holds no colour


class PreviewError(ValueError):
    """A preview key or token that does not hold what a preview holds."""


@dataclass(frozen=True)
class Stage:
    """Where the preview starts: the question, or a segment's follow-up, or
    its thanks (``score`` is the score answered for the admin)."""

    segment: str | None = None
    score: int | None = None
    thanks: bool = False


def stage(kind: str, value: str | None) -> Stage:
    """The stage the editor's switch names: ``"2"`` is the third segment from
    the bottom's follow-up, ``"2:thanks"`` its thanks; anything else is the
    question. By position, so the switch need not follow a change of kind."""
    band, _, step = (value or "").partition(":")
    bands = scales.scale(kind).bands
    if not (band.isascii() and band.isdigit() and int(band) < len(bands)):
        return Stage()
    if step not in ("", "thanks"):
        return Stage()
    segment, top = bands[int(band)]
    return Stage(segment, top, thanks=step == "thanks")


def config(form: SurveyForm, account_id: int, wanted_language: str | None) -> dict[str, Any]:
    """The preview key's payload from a parsed (possibly invalid) form: the
    widget's ``survey`` object and what each segment's answer is told."""
    values = form.values
    kind = values["kind"]
    # Skips what is malformed: a half-written question never breaks the preview.
    asked = questions.parse(values["questions"])
    survey = surveys.Survey(
        id=0,
        account_id=account_id,
        public_id="",
        name=values["name"],
        kind=kind,
        language=values["language"],
        texts=values["texts"],
        allowed_origins=(),
        active=True,
        delay_ms=0,
        recontact_days=0,
        sample_rate=1.0,
        color=values["color"] if survey_form.COLOR.match(values["color"]) else DEFAULT_COLOR,
        position=values["position"] if values["position"] in surveys.POSITIONS else "bottom-right",
        review_url=values["review_url"],
        review_audience=values["review_audience"] or "promoters",
        rewards=values["rewards"],
        questions=asked,
    )
    language = survey_texts.choose_language(survey.language, wanted_language)
    answers: dict[str, dict[str, str]] = {}
    for segment in survey.scale.segments:
        told: dict[str, str] = {}
        if rewards.reward_of(survey, segment) is not None:
            told["reward"] = REWARD
        if survey.offers_review(segment) and survey.review_link:
            told["review_url"] = survey.review_link
        answers[segment] = told
    return {
        "a": account_id,
        "survey": {
            "kind": kind,
            "language": language,
            **survey_texts.texts_for(kind, survey.texts, language),
            "questions": questions.localised(asked, language, survey.default_language),
            "color": survey.color,
            "position": survey.position,
        },
        "answers": answers,
    }


def widget_config(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config's ``survey`` and ``rules``, and the payload of its display
    token, from a verified preview key's payload."""
    survey = payload.get("survey")
    answers = payload.get("answers")
    if not isinstance(survey, dict) or not isinstance(answers, dict):
        raise PreviewError
    if survey.get("kind") not in scales.KINDS:
        raise PreviewError
    return {"survey": survey, "rules": RULES}, {"k": survey["kind"], "answers": answers}


def answer(token: Mapping[str, Any], score: int) -> dict[str, Any]:
    """What a preview answer with ``score`` is told: id 0, its segment, and the
    segment's reward placeholder and review address. Nothing is stored."""
    kind = token.get("k")
    answers = token.get("answers")
    if kind not in scales.KINDS or not isinstance(answers, dict):
        raise PreviewError
    segment = scales.segment_of(str(kind), score)  # the caller checked the range
    told = answers.get(segment)
    return {"id": 0, "segment": segment, **(told if isinstance(told, dict) else {})}
