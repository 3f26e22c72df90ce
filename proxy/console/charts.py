"""Chart geometry for the server-rendered SVG charts (no script, no third-party library).

The templates draw what these return: rectangles in a fixed viewBox, with each value kept
beside its bar so the number read from the chart is the number in the ledger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

WIDTH, BAR_H, GAP, LABEL_W = 640, 18, 6, 170
COLUMN_H = 160
COLORS = {"cloud": "#3b82f6", "onprem": "#16a34a", "blocked": "#dc2626"}
PALETTE = ("#3b82f6", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#64748b")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    y: int
    width: float
    text: str  # the value as shown beside the bar


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    height: int
    label_w: int = LABEL_W
    width: int = WIDTH


def bars(items: Sequence[tuple[str, float]], fmt: str = "{:,.0f}") -> BarChart:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    top = max((v for _, v in items), default=0) or 1
    span = WIDTH - LABEL_W - 90
    return BarChart([Bar(str(label), value, i * (BAR_H + GAP), max(value, 0) / top * span, fmt.format(value))
                     for i, (label, value) in enumerate(items)], max(len(items), 1) * (BAR_H + GAP))


@dataclass(frozen=True)
class Segment:
    series: str
    value: float
    x: float
    y: float
    height: float
    color: str


@dataclass(frozen=True)
class ColumnChart:
    columns: list[tuple[str, float, list[Segment]]]  # label, x, stacked segments
    legend: list[tuple[str, str]]
    column_w: float
    height: int = COLUMN_H + 40
    width: int = WIDTH


def stacked(labels: Sequence[str], series: dict[str, Sequence[float]]) -> ColumnChart:
    """Columns per label (a day), each stacking one segment per series (a route)."""
    n = max(len(labels), 1)
    slot = (WIDTH - 40) / n
    column_w = min(max(slot * 0.7, 2), 48)
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    colors = {name: COLORS.get(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(series)}
    columns = []
    for i, label in enumerate(labels):
        x, base, segments = 30 + i * slot, float(COLUMN_H), []
        for name, values in series.items():
            height = values[i] / top * (COLUMN_H - 10)
            base -= height
            if values[i]:
                segments.append(Segment(name, values[i], x, base, height, colors[name]))
        columns.append((label, x, segments))
    return ColumnChart(columns, list(colors.items()), column_w)
