"""The timeline chart as plain shapes: panels of lines, phase bands and event markers.

Pure geometry for an inline SVG; the template draws it. Times are seconds after t0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.reporting.buckets import Point

WIDTH = 960
LEFT = 64
RIGHT = 16
PANEL_HEIGHT = 110
PANEL_GAP = 26
TOP = 34
BOTTOM = 70
LABEL_ROWS = 4
CHAR_W = 6.0


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Panel:
    title: str
    top: float
    height: float
    points: str
    color: str
    y_ticks: tuple[Tick, ...]
    area: bool = False


@dataclass(frozen=True)
class Band:
    x0: float
    x1: float
    label: str
    shade: str


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    color: str
    row: int
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    panels: tuple[Panel, ...]
    bands: tuple[Band, ...]
    markers: tuple[Marker, ...]
    x_ticks: tuple[Tick, ...]


def nice_step(span: float, target: int = 6) -> float:
    if span <= 0:
        return 1.0
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * magnitude >= raw:
            return float(m * magnitude)
    return float(10 * magnitude)


def ticks(lo: float, hi: float, scale: Callable[[float], float], fmt: Callable[[float], str]) -> tuple[Tick, ...]:
    step = nice_step(hi - lo)
    first = math.ceil(lo / step) * step
    found = []
    value = first
    while value <= hi + 1e-9:
        found.append(Tick(round(scale(value), 1), fmt(value)))
        value += step
    return tuple(found)


PHASE_SHADES = {"baseline": "#eef3f8", "detect": "#fdf1e2", "recover": "#fde8e8", "operator": "#fde8e8",
                "verify": "#e9f6ec", "drain": "#f2f2f2", "no load: nothing judged": "#d0d5dd"}
MARKER_COLORS = {"fault injected": "#b42318", "alarm": "#c4320a", "rollback": "#1d4ed8", "rollback done": "#1d4ed8",
                 "swap": "#6b21a8", "recovered": "#067647", "gate aborted": "#c4320a", "db step": "#1d4ed8",
                 "load lost": "#344054", "rollback failed": "#b42318"}


def place_labels(marks: Sequence[tuple[float, str]], right: float = WIDTH - RIGHT) -> tuple[Marker, ...]:
    """Give each marker's label the first row where it does not overlap the one before;
    a label that would run off the right edge is drawn to the left of its line."""
    row_end = [-1e9] * LABEL_ROWS
    placed = []
    for i, (pos, label) in enumerate(marks):
        width = len(label) * CHAR_W + 6
        flip = pos + width > right
        start = pos - width if flip else pos
        row = next((r for r in range(LABEL_ROWS) if row_end[r] < start), i % LABEL_ROWS)
        row_end[row] = start + width
        placed.append(Marker(pos, label, MARKER_COLORS.get(label, "#344054"), row, "end" if flip else "start"))
    return tuple(placed)


def build_chart(
    points: Sequence[Point],
    t_offset: float,
    phases: Sequence[tuple[str, float, float]],
    events: Sequence[tuple[str, float]],
) -> Chart:
    """`points` are buckets with t from their origin; `t_offset` moves them to t0 time.

    `phases` are (name, start, end) and `events` (label, t), both in seconds after t0.
    """
    times = [p.t + t_offset for p in points] or [0.0, 1.0]
    x_lo = min([times[0]] + [s for _, s, _ in phases] + [t for _, t in events])
    x_hi = max([times[-1]] + [e for _, _, e in phases] + [t for _, t in events])
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    plot_left, plot_right = float(LEFT), float(WIDTH - RIGHT)

    def x(t: float) -> float:
        return plot_left + (t - x_lo) / (x_hi - x_lo) * (plot_right - plot_left)

    rps = [p.requests_per_s for p in points]
    errors = [(p.error_rate or 0.0) * 100 for p in points]
    p95 = [p.p95_ms or 0.0 for p in points]
    specs = [
        ("requests/s", rps, "#1f4e79", False, lambda v: f"{v:g}"),
        ("error rate %", errors, "#b42318", True, lambda v: f"{v:g}%"),
        ("p95 latency ms", p95, "#7a5af8", False, lambda v: f"{v:g}"),
    ]
    panels = []
    for i, (title, values, color, area, fmt) in enumerate(specs):
        top = TOP + i * (PANEL_HEIGHT + PANEL_GAP)
        y_max = 100.0 if title.startswith("error") else max(max(values, default=0.0) * 1.1, 1.0)

        def y(v: float, top: float = top, y_max: float = y_max) -> float:
            return top + PANEL_HEIGHT - (v / y_max) * PANEL_HEIGHT

        line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=False))
        if area and times:
            line = f"{x(times[0]):.1f},{y(0):.1f} {line} {x(times[-1]):.1f},{y(0):.1f}"
        panels.append(Panel(title, top, PANEL_HEIGHT, line, color, ticks(0, y_max, y, fmt), area))
    bottom = TOP + 3 * PANEL_HEIGHT + 2 * PANEL_GAP
    bands = tuple(Band(round(x(s), 1), round(x(e), 1), name, PHASE_SHADES.get(name, "#f5f5f5"))
                  for name, s, e in phases if e > s)
    markers = place_labels([(round(x(t), 1), label) for label, t in sorted(events, key=lambda e: e[1])], plot_right)
    x_ticks = ticks(x_lo, x_hi, x, lambda v: f"{v:g}s")
    return Chart(WIDTH, int(bottom + BOTTOM), plot_left, plot_right, tuple(panels), bands, markers, x_ticks)
