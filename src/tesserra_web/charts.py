"""Charts drawn by the server as inline SVG: only the geometry of figures a use case computed.

A chart is a list of marks (a bar or a point), each carrying the value it stands for (``value``, as the use
case answered it), the words a person reads for it (``text``) and where it sits in the picture. The template
``_chart.html`` draws them; colours come from console.css (light and dark themes), never from attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

WIDTH = 640
PLOT_TOP = 24
PLOT_HEIGHT = 180
LABEL_BAND = 36
"""Below the plot: the labels of the columns or points."""
ROW_HEIGHT = 32
ROW_LABEL = 56
"""Left of the rows: the label of each row."""
ROW_TEXT = 170
"""Right of the rows: the text of each row."""


@dataclass(frozen=True, slots=True)
class Datum:
    """One figure to draw: its label (a month, a currency), its value, and how a person reads it."""

    label: str
    value: float
    text: str
    short: str = ""
    """What a row's bar has written beside it (its ``text`` where this is empty)."""


@dataclass(frozen=True, slots=True)
class Mark:
    label: str
    value: float
    text: str
    x: float
    y: float
    width: float = 0.0
    height: float = 0.0
    short: str = ""

    @property
    def middle(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    desc: str
    kind: Literal["columns", "rows", "line"]
    marks: list[Mark]
    height: int
    axis: str = "Label"
    """What the marks' labels are (the first column of the chart's table)."""
    scale: str = ""
    """What the top of the plot stands for (columns and lines): the highest figure, as a person reads it."""
    width: int = WIDTH

    @property
    def top(self) -> float:
        return PLOT_TOP

    @property
    def baseline(self) -> float:
        return PLOT_TOP + PLOT_HEIGHT

    @property
    def points(self) -> str:
        """The line through the marks (a line chart's polyline)."""
        return " ".join(f"{m.x:.1f},{m.y:.1f}" for m in self.marks)


def _scale(data: Sequence[Datum]) -> float:
    top = max((d.value for d in data), default=0.0)
    return top if top > 0 else 1.0


Reading = Callable[[float], str]
"""How a person reads a value of the chart (the top of its scale)."""


def columns(id: str, title: str, desc: str, data: Sequence[Datum], axis: str, reading: Reading) -> Chart:
    """Vertical bars, one per datum, left to right; the tallest fills the plot."""
    top, slot = _scale(data), WIDTH / max(1, len(data))
    marks = []
    for i, d in enumerate(data):
        height = max(0.0, d.value) / top * PLOT_HEIGHT
        marks.append(
            Mark(
                d.label,
                d.value,
                d.text,
                x=i * slot + slot * 0.2,
                y=PLOT_TOP + PLOT_HEIGHT - height,
                width=slot * 0.6,
                height=height,
            )
        )
    return Chart(id, title, desc, "columns", marks, PLOT_TOP + PLOT_HEIGHT + LABEL_BAND, axis, reading(top))


def rows(id: str, title: str, desc: str, data: Sequence[Datum], axis: str) -> Chart:
    """Horizontal bars, one per datum, top to bottom; the longest fills the row."""
    top, room = _scale(data), WIDTH - ROW_LABEL - ROW_TEXT
    marks = [
        Mark(
            d.label,
            d.value,
            d.text,
            x=ROW_LABEL,
            y=PLOT_TOP + i * ROW_HEIGHT,
            short=d.short or d.text,
            width=max(0.0, d.value) / top * room,
            height=ROW_HEIGHT * 0.6,
        )
        for i, d in enumerate(data)
    ]
    return Chart(id, title, desc, "rows", marks, PLOT_TOP * 2 + max(1, len(data)) * ROW_HEIGHT, axis)


def line(id: str, title: str, desc: str, data: Sequence[Datum], axis: str, reading: Reading) -> Chart:
    """Points joined by a line, one per datum, left to right; the highest touches the top of the plot."""
    top, slot = _scale(data), WIDTH / max(1, len(data))
    marks = [
        Mark(
            d.label,
            d.value,
            d.text,
            x=i * slot + slot / 2,
            y=PLOT_TOP + PLOT_HEIGHT - max(0.0, d.value) / top * PLOT_HEIGHT,
        )
        for i, d in enumerate(data)
    ]
    return Chart(id, title, desc, "line", marks, PLOT_TOP + PLOT_HEIGHT + LABEL_BAND, axis, reading(top))
