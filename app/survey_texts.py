"""What a survey says to visitors: its own texts per language, with each
missing one taken from the kind's defaults."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from app.scales import segments

LANGUAGES = ("en", "de")

_FOLLOW_UP = {
    "en": {
        "low": "We are sorry to hear that. What should we improve?",
        "mid": "Thank you! What would make it even better?",
        "high": "Thank you! What do you like most?",
    },
    "de": {
        "low": "Das tut uns leid. Was sollten wir verbessern?",
        "mid": "Danke! Was würde es noch besser machen?",
        "high": "Danke! Was gefällt Ihnen am besten?",
    },
}

DEFAULT_TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "nps": {
        "en": {
            "question": "How likely are you to recommend us to a friend or colleague?",
            "low_label": "Not at all likely",
            "high_label": "Extremely likely",
        },
        "de": {
            "question": "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder "
            "Kollegen empfehlen?",
            "low_label": "Unwahrscheinlich",
            "high_label": "Äußerst wahrscheinlich",
        },
    },
    "csat": {
        "en": {
            "question": "How satisfied are you with your experience?",
            "low_label": "Very dissatisfied",
            "high_label": "Very satisfied",
        },
        "de": {
            "question": "Wie zufrieden sind Sie mit Ihrem Erlebnis?",
            "low_label": "Sehr unzufrieden",
            "high_label": "Sehr zufrieden",
        },
    },
    "ces": {
        "en": {
            "question": "How easy was it to get what you needed?",
            "low_label": "Very difficult",
            "high_label": "Very easy",
        },
        "de": {
            "question": "Wie einfach war es, das Gewünschte zu erledigen?",
            "low_label": "Sehr schwierig",
            "high_label": "Sehr einfach",
        },
    },
}


def texts_for(kind: str, texts: Mapping[str, Any], language: str) -> dict[str, Any]:
    """The survey's texts in ``language``, each missing one taken from the defaults."""
    own = texts.get(language) or {}
    defaults = DEFAULT_TEXTS[kind][language]
    follow = _FOLLOW_UP[language]
    names = segments(kind)
    default_follow = dict(zip(names, (follow["low"], follow["mid"], follow["high"]), strict=True))
    own_follow = own.get("follow_up") or {}
    return {
        "question": own.get("question") or defaults["question"],
        "low_label": own.get("low_label") or defaults["low_label"],
        "high_label": own.get("high_label") or defaults["high_label"],
        "follow_up": {name: own_follow.get(name) or default_follow[name] for name in names},
    }


def choose_language(survey_language: str, wanted: str | None) -> str:
    """The survey's fixed language, else the visitor's if supported, else English."""
    if survey_language in LANGUAGES:
        return survey_language
    primary = (wanted or "").split("-")[0].lower()
    return primary if primary in LANGUAGES else "en"


# Bidirectional overrides can disguise a comment when an admin reads it.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(text: str) -> str:
    """Drop control characters (keeping line breaks and tabs) and outer blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    ).strip()
