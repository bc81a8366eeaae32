"""Charts drawn on the server as SVG: a line chart with axes (dates and values) and a sparkline.

No JavaScript: the same markup shows in the console, in a PDF (weasyprint) and on a
phone (the viewBox scales; the text is sized for a phone-width screen). Every label
is escaped. The functions take plain lists and return Markup.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from markupsafe import Markup, escape

PALETTE = ("#1f5fbf", "#c2410c", "#15803d", "#7c3aed", "#b45309", "#0e7490", "#be185d", "#4b5563")
MUTED = "#5a6372"
GRID = "#e3e6ea"

# Geometry of a chart in viewBox units: narrow, so that 13-unit text stays readable on a 360 px screen.
WIDTH, HEIGHT = 340, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 12, 28
FONT = 13
MAX_X_LABELS = 5
DOTS_UP_TO = 40  # points get a dot when there are few enough of them


@dataclass
class Line:
    label: str
    values: list
    color: str = PALETTE[0]
    dashed: bool = False


@dataclass
class Chart:
    svg: Markup
    legend: list[Line] = field(default_factory=list)


def line_chart(x_labels: list[str], lines: list[Line], *, title: str) -> Chart:
    """One line per series over the buckets (`x_labels`, one per value); y from 0 (or below) to a round top."""
    count = len(x_labels)
    values = [float(v) for line in lines for v in line.values if v is not None]
    low, high = min([0.0, *values]), max([0.0, *values])
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w / 2 if count == 1 else index * plot_w / (count - 1))

    def y(value) -> float:
        return TOP + plot_h - (float(value) - low) * plot_h / ((high - low) or 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" '
             f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="{FONT}">',
             f"<title>{escape(title)}</title>"]
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{GRID if tick else MUTED}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + FONT / 3:.1f}" text-anchor="end" fill="{MUTED}">'
                     f"{escape(short_number(tick))}</text>")
    for index in label_positions(count):
        anchor = "start" if count > 1 and index == 0 else "end" if count > 1 and index == count - 1 else "middle"
        parts.append(f'<line x1="{x(index):.1f}" x2="{x(index):.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
                     f'stroke="{MUTED}"/>')
        parts.append(f'<text x="{x(index):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" fill="{MUTED}">'
                     f"{escape(x_labels[index])}</text>")
    for line in lines:
        points = [(x(i), y(v)) for i, v in enumerate(line.values[:count]) if v is not None]
        if not points:
            continue
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="2"'
                     f' stroke-linejoin="round"{dash}><title>{escape(line.label)}</title></polyline>')
        if len(points) <= DOTS_UP_TO and not line.dashed:
            parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{line.color}"/>' for px, py in points)
    parts.append("</svg>")
    # Safe: every text in the drawing is escaped, the rest are numbers and PALETTE colours.
    return Chart(Markup("".join(parts)), lines)  # nosec B704


def sparkline(values: list, *, label: str, color: str = PALETTE[0]) -> Markup:
    """A small line without axes for a trend at a glance; `label` is read out (the figures are beside it)."""
    width, height, pad = 120, 32, 3
    numbers = [float(v) for v in values] or [0.0]
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1

    def point(i: int, v: float) -> tuple[float, float]:
        px = pad + (width - 2 * pad) * (i / (len(numbers) - 1) if len(numbers) > 1 else 0.5)
        return px, height - pad - (v - low) * (height - 2 * pad) / span

    points = [point(i, v) for i, v in enumerate(numbers)]
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    last_x, last_y = points[-1]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="sparkline" '
           f'role="img" aria-label="{escape(label)}" preserveAspectRatio="none">'
           f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" '
           f'stroke-linejoin="round" vector-effect="non-scaling-stroke"/>'
           f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="{color}"/></svg>')
    # Safe: the label is escaped, the rest are numbers and a PALETTE colour.
    return Markup(svg)  # nosec B704


def nice_ticks(low: float, high: float, wanted: int = 4) -> list[float]:
    """Round values from at most `low` to at least `high`, 1, 2 or 5 times a power of ten apart."""
    if high <= low:
        high = low + 1
    raw = (high - low) / wanted
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1) if high - low >= 1 else step
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def short_number(value: float | int | Decimal) -> str:
    """1,200 -> 1.2k, 3,400,000 -> 3.4M; small numbers as they are."""
    number = float(value)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            text = f"{number / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{number:.2f}".rstrip("0").rstrip(".") if number != int(number) else str(int(number))


def label_positions(count: int) -> list[int]:
    """Which of `count` buckets get an x-axis label: the first, the last and evenly spaced ones between."""
    if count <= MAX_X_LABELS:
        return list(range(count))
    step = (count - 1) / (MAX_X_LABELS - 1)
    return sorted({round(i * step) for i in range(MAX_X_LABELS)})
