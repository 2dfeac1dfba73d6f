"""What a survey says to visitors: its own texts per language, with each
missing one taken from the kind's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from app.platform.i18n import LANGUAGES, translate
from app.surveys.scales import segments


def texts_for(
    kind: str, texts: Mapping[str, Any], language: str, *, thanked: bool = False
) -> dict[str, Any]:
    """The survey's texts in ``language``, each missing one taken from the
    defaults; ``thanked`` picks default follow-ups for a page that has thanked
    the visitor already."""
    own = texts.get(language) or {}
    defaults = _defaults(kind, language, thanked)
    own_follow = own.get("follow_up") or {}
    own_thanks = own.get("thanks") or {}
    return {
        "question": own.get("question") or defaults["question"],
        "low_label": own.get("low_label") or defaults["low_label"],
        "high_label": own.get("high_label") or defaults["high_label"],
        "follow_up": {
            name: own_follow.get(name) or text for name, text in defaults["follow_up"].items()
        },
        "thanks": {name: own_thanks.get(name) or text for name, text in defaults["thanks"].items()},
    }


@cache
def _defaults(kind: str, language: str, thanked: bool = False) -> dict[str, Any]:
    """A kind's default texts from the catalogue, looked up once: the widget
    config asks for them on every view."""
    # The follow-ups run from the bottom of the scale up: low, middle, high.
    bands = list(zip(segments(kind), ("low", "mid", "high"), strict=True))
    after = ".after_thanks" if thanked else ""
    return {
        **{
            key: translate(language, f"survey.{kind}.{key}")
            for key in ("question", "low_label", "high_label")
        },
        "follow_up": {
            name: translate(language, f"survey.follow_up.{band}{after}") for name, band in bands
        },
        "thanks": {name: translate(language, f"survey.thanks.{band}") for name, band in bands},
    }


def choose_language(survey_language: str, wanted: str | None) -> str:
    """The survey's fixed language, else the visitor's if supported, else English."""
    if survey_language in LANGUAGES:
        return survey_language
    primary = (wanted or "").split("-")[0].lower()
    return primary if primary in LANGUAGES else "en"
