# ruff: noqa: RUF001  (typographic dashes and minus signs are wanted here)
"""The server's words in English and German, one catalogue per language
(``en.py``, ``de.py``), and how numbers and dates are written in each. Plain
dictionaries and functions: no web imports.

A message is a string with ``{name}`` parameters, or a (one, other) pair that
is chosen by the ``count`` parameter. The widget keeps its own small table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from app.platform.i18n import de, en

LANGUAGES = ("en", "de")
DEFAULT = "en"

Message = str | tuple[str, str]
EN: dict[str, Message] = en.MESSAGES
DE: dict[str, Message] = de.MESSAGES
CATALOGS: dict[str, dict[str, Message]] = {"en": EN, "de": DE}


def translate(language: str, key: str, /, **params: Any) -> str:
    """The message for ``key`` in ``language`` (English, then the key itself, as fallbacks)."""
    message = CATALOGS.get(language, EN).get(key) or EN.get(key) or key
    if isinstance(message, tuple):
        one, other = message
        message = one if str(params.get("count")) == "1" else other
    return message.format(**params) if params else message


def lookup(language: str, key: str) -> str | None:
    """The plain message for ``key`` in ``language`` itself, without falling
    back to English: None when that catalogue has none."""
    message = CATALOGS.get(language, {}).get(key)
    return message if isinstance(message, str) else None


def translator(language: str) -> Callable[..., str]:
    def lookup(key: str, /, **params: Any) -> str:
        return translate(language, key, **params)

    return lookup


@cache
def section(language: str, prefix: str) -> dict[str, str]:
    """The plain messages under ``prefix`` (e.g. ``link.``) with the prefix
    taken off, English filling any gap: a page's whole table at once (made
    once; callers only read it)."""
    words = {key: value for key, value in EN.items() if key.startswith(prefix)}
    words.update(
        (key, value) for key, value in CATALOGS.get(language, EN).items() if key.startswith(prefix)
    )
    return {key[len(prefix) :]: value for key, value in words.items() if isinstance(value, str)}


class Formatter:
    """Numbers, dates and times as people of ``language`` write them, times
    in the billing time zone."""

    def __init__(self, language: str, zone: ZoneInfo) -> None:
        self.language = language
        self.zone = zone

    def number(self, value: int) -> str:
        text = f"{value:,}"
        return text.replace(",", ".") if self.language == "de" else text

    def decimal(self, value: float, places: int = 1) -> str:
        # Half up, as people round (3.25 -> 3.3), not to the nearest even digit.
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
        text = f"{rounded:,.{places}f}"
        if self.language == "de":
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def percent(self, share: float) -> str:
        value = round(share * 100)
        return f"{value} %" if self.language == "de" else f"{value}%"

    def signed(self, value: int | None) -> str:
        if value is None:
            return "–"
        return f"+{value}" if value > 0 else ("0" if value == 0 else f"\u2212{-value}")

    def value(self, kind: str, value: float | None) -> str:
        """A day's figure: whole NPS points, or an average with one decimal."""
        if value is None:
            return "–"
        return self.signed(round(value)) if kind == "nps" else self.decimal(value)

    def date(self, day: date) -> str:
        month = translate(self.language, f"month.{day.month}")
        if self.language == "de":
            return f"{day.day}. {month} {day.year}"
        return f"{day.day} {month} {day.year}"

    def datetime(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{self.date(local.date())}, {local:%H:%M} {local.tzname()}"

    def period(self, period: str) -> str:
        year, month = (int(part) for part in period.split("-"))
        return f"{translate(self.language, f'month.{month}')} {year}"
