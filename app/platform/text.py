"""Cleaning text people type or import before it is stored or shown."""

from __future__ import annotations

import unicodedata

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
