"""The three kinds of survey: their score scales and the segments a score falls in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    low: int
    high: int
    # (segment, highest score in it) from the bottom of the scale up.
    bands: tuple[tuple[str, int], ...]

    @property
    def scores(self) -> range:
        return range(self.low, self.high + 1)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.bands)

    def segment_of(self, score: int) -> str:
        if not self.low <= score <= self.high:
            raise ValueError(f"scores run from {self.low} to {self.high}")
        return next(name for name, top in self.bands if score <= top)

    def ranges(self) -> list[str]:
        """Each segment's scores as text, e.g. 0-6, 7-8 and 9-10 (with en dashes)."""
        texts, low = [], self.low
        for _name, top in self.bands:
            texts.append(str(low) if low == top else f"{low}\u2013{top}")
            low = top + 1
        return texts

    def parse(self, value: str | None) -> int | None:
        """A whole number on this scale written as text (a form field, a query
        parameter), else None."""
        text = (value or "").strip()
        if not text.isascii() or not text.isdigit() or len(text) > 2:
            return None
        number = int(text)
        return number if self.low <= number <= self.high else None


SCALES: dict[str, Scale] = {
    "nps": Scale(0, 10, (("detractor", 6), ("passive", 8), ("promoter", 10))),
    "csat": Scale(1, 5, (("negative", 2), ("neutral", 3), ("positive", 5))),
    "ces": Scale(1, 7, (("high-effort", 3), ("neutral", 4), ("low-effort", 7))),
}
KINDS = tuple(SCALES)


def scale(kind: str) -> Scale:
    return SCALES[kind]


def segments(kind: str) -> tuple[str, ...]:
    return SCALES[kind].segments


def segment_of(kind: str, score: int) -> str:
    return SCALES[kind].segment_of(score)


# The bottom segment of each kind, which the inbox and the alerts call detractors.
DETRACTORS = ("detractor", "negative", "high-effort")
