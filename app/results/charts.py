"""Geometry for the daily trend chart and the bar of segment shares, drawn as
SVG by the admin templates.

Everything is worked out here as plain numbers, so the template only places
elements (no inline styles: the page's CSP forbids them) and a test can check
the figures without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 12, 28
# The value axis of each kind: NPS runs -100..100, the others on their scale.
VALUE_RANGES: dict[str, tuple[float, float]] = {
    "nps": (-100.0, 100.0),
    "csat": (1.0, 5.0),
    "ces": (1.0, 7.0),
}


class DayFigures(Protocol):
    @property
    def day(self) -> date: ...

    @property
    def responses(self) -> int: ...

    @property
    def value(self) -> float | None: ...


@dataclass(frozen=True)
class Bar:
    day: date
    x: float
    y: float
    width: float
    height: float
    responses: int
    value: float | None


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    bars: list[Bar]
    lines: list[str]  # SVG polyline point lists; a day without answers breaks the line
    dots: list[tuple[float, float]]
    count_ticks: list[Tick]  # left axis: responses per day
    value_ticks: list[Tick]  # right axis: the kind's figure
    day_ticks: list[Tick]
    max_count: int


def _nice_ceiling(value: int) -> int:
    """A round axis top at or above ``value`` (1, 2, 5, 10, 20, 50 ...)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def trend_chart(kind: str, days: Sequence[DayFigures]) -> Chart:
    low, high = VALUE_RANGES[kind]
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    slot = plot_w / max(len(days), 1)
    top_count = _nice_ceiling(max((day.responses for day in days), default=0))

    def value_y(value: float) -> float:
        return round(bottom - (value - low) / (high - low) * plot_h, 2)

    bars: list[Bar] = []
    dots: list[tuple[float, float]] = []
    lines: list[str] = []
    current: list[str] = []
    for index, day in enumerate(days):
        x = LEFT + index * slot
        height = round(day.responses / top_count * plot_h, 2)
        bars.append(
            Bar(
                day.day,
                round(x + slot * 0.15, 2),
                round(bottom - height, 2),
                round(slot * 0.7, 2),
                height,
                day.responses,
                day.value,
            )
        )
        if day.value is None:
            if len(current) > 1:
                lines.append(" ".join(current))
            current = []
            continue
        point = (round(x + slot / 2, 2), value_y(day.value))
        dots.append(point)
        current.append(f"{point[0]},{point[1]}")
    if len(current) > 1:
        lines.append(" ".join(current))
    count_ticks = [
        Tick(round(bottom - share * plot_h, 2), str(round(top_count * share)))
        for share in (0, 0.5, 1)
        if top_count * share == int(top_count * share)
    ]
    value_ticks = [
        Tick(value_y(value), _value_label(kind, value)) for value in (low, (low + high) / 2, high)
    ]
    day_ticks = [
        Tick(round(LEFT + index * slot + slot / 2, 2), str(day.day.day))
        for index, day in enumerate(days)
        if day.day.day in (1, 8, 15, 22, 29)
    ]
    return Chart(
        WIDTH,
        HEIGHT,
        LEFT,
        WIDTH - RIGHT,
        TOP,
        bottom,
        bars,
        lines,
        dots,
        count_ticks,
        value_ticks,
        day_ticks,
        top_count,
    )


def _value_label(kind: str, value: float) -> str:
    if kind == "nps":
        return f"{value:+.0f}" if value else "0"
    return f"{value:g}"


@dataclass(frozen=True)
class Share:
    segment: str
    count: int
    percent: int
    x: float
    width: float


def split_bar(segments: Mapping[str, int]) -> list[Share]:
    """Each segment's share as a whole percent and as a part of a 100-unit bar."""
    total = sum(segments.values())
    shares, x = [], 0.0
    for segment, count in segments.items():
        width = 100 * count / total if total else 0.0
        shares.append(Share(segment, count, round(width), round(x, 3), round(width, 3)))
        x += width
    return shares
