"""Hand-written SVG charts for the HTML report: no chart library, no network, nothing to install.

Each function is pure: plain values in, an SVG string out. Every text that comes from data is
escaped here, so a country named `<script>` renders as text. The report's small script adds
hover read-outs on top, using the data-* attributes written here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

PALETTE = ("#4e79a7", "#e15759", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac")
STATE_COLORS = {"SUCCEEDED": "#59a14f", "FAILED": "#e15759", "TIMEOUT": "#f28e2b", "STOPPED": "#bab0ac"}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^n steps)."""
    if high <= low:
        high = low + 1
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high - step * 1e-9:  # the last tick covers `high`, so nothing draws above the axis
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def compact_number(value: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M (axis labels)."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    if magnitude and magnitude < 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:g}"


def _date_ticks(first: date, last: date, max_ticks: int = 8) -> list[date]:
    """Month starts (every k months) between first and last."""
    months = (last.year - first.year) * 12 + last.month - first.month
    every = next(k for k in (1, 2, 3, 4, 6, 12, 24) if months / k <= max_ticks)
    ticks = []
    year, month = first.year, first.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        tick = date(year, month, 1)
        if tick > last:
            break
        if (month - 1) % every == 0:
            ticks.append(tick)
    return ticks or [first]


def line_chart(
    series: Mapping[str, Sequence[tuple[date, float | None]]],
    *,
    chart_id: str,
    title: str,
    width: int = 640,
    height: int = 300,
    y_label: str = "",
) -> str:
    """Multi-series time chart; one <path> per series (gaps where a value is None, a dot for a value alone)."""
    left, right, top, bottom = 58, 16, 34, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [(d, v) for values in series.values() for d, v in values if v is not None]
    header = f'<svg class="chart line-chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" role="img"'
    if not points:
        return (
            f'{header} aria-label="{escape(title)}"><text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
            f'class="empty">No data yet</text></svg>'
        )
    first = min(d for d, _ in points)
    last = max(d for d, _ in points)
    span_days = max((last - first).days, 1)
    top_value = max(max(v for _, v in points), 0.0)
    y_ticks = nice_ticks(0.0, top_value or 1.0)
    y_max = y_ticks[-1] or 1.0

    def x_of(day: date) -> float:
        return left + (day - first).days / span_days * plot_w

    def y_of(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    parts = [f'{header} aria-label="{escape(title)}" data-first="{first.isoformat()}" data-span="{span_days}">']
    parts.append(f'<text class="chart-title" x="{left}" y="20">{escape(title)}</text>')
    for tick in y_ticks:
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{compact_number(tick)}</text>'
        )
    for tick_day in _date_ticks(first, last):
        x = x_of(tick_day)
        label = tick_day.strftime("%b %Y") if tick_day.month == 1 or tick_day == first else tick_day.strftime("%b")
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 17}" text-anchor="middle">{label}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    if y_label:
        parts.append(
            f'<text class="axis-label" transform="translate(14 {top + plot_h / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
    legend_x = left
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        commands: list[str] = []
        dots: list[str] = []
        pen_down = False
        for index, (day, value) in enumerate(values):
            if value is None:
                pen_down = False
                continue
            x, y = x_of(day), y_of(value)
            commands.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            # A value with no neighbour draws no line (sparse report days): a dot shows it.
            if not pen_down and (index + 1 == len(values) or values[index + 1][1] is None):
                dots.append(f'<circle class="series-dot" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
            pen_down = True
        data = json.dumps([[d.isoformat(), None if v is None else round(v, 2)] for d, v in values])
        parts.append(
            f'<path class="series" d="{" ".join(commands)}" stroke="{color}" data-name="{escape(name)}" '
            f"data-values='{escape(data, quote=True)}'/>"
        )
        parts.extend(dots)
        legend_y = height - 12
        parts.append(f'<rect x="{legend_x}" y="{legend_y - 9}" width="12" height="4" rx="1" fill="{color}"/>')
        parts.append(f'<text class="legend" x="{legend_x + 16}" y="{legend_y - 4}">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    parts.append(
        f'<g class="hover" visibility="hidden"><line class="hover-line" x1="0" x2="0" y1="{top}" '
        f'y2="{top + plot_h}"/></g>'
    )
    parts.append(
        f'<rect class="hover-target" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="transparent" '
        f'data-left="{left}" data-width="{plot_w}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    items: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    width: int = 640,
    value_format: str = "{:,.0f}",
    color: str = PALETTE[0],
    empty_text: str = "Nothing to show",
) -> str:
    """Horizontal bars, largest first (quarantine reasons and the like)."""
    bar_h, gap, top, label_w = 22, 8, 34, 230
    height = top + max(len(items), 1) * (bar_h + gap) + 10
    header = f'<svg class="chart bar-chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" role="img"'
    parts = [
        f'{header} aria-label="{escape(title)}">',
        f'<text class="chart-title" x="0" y="20">{escape(title)}</text>',
    ]
    if not items:
        parts.append(
            f'<text class="empty" x="{width / 2}" y="{top + 16}" text-anchor="middle">{escape(empty_text)}</text>'
        )
        return "".join(parts) + "</svg>"
    top_value = max(v for _, v in items) or 1.0
    plot_w = width - label_w - 90
    for index, (label, value) in enumerate(items):
        y = top + index * (bar_h + gap)
        bar_w = max(value / top_value * plot_w, 1.5)
        shown = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text class="bar-label" x="{label_w - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(shown)}</text>"
        )
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y}" width="{bar_w:.1f}" height="{bar_h}" rx="3" fill="{color}" '
            f'data-label="{escape(label)}" data-value="{value}"/>'
        )
        parts.append(
            f'<text class="bar-value" x="{label_w + bar_w + 6:.1f}" y="{y + bar_h / 2 + 4}">'
            f"{escape(value_format.format(value))}</text>"
        )
    return "".join(parts) + "</svg>"


def column_chart(
    items: Sequence[tuple[str, float, str]],
    *,
    chart_id: str,
    title: str,
    width: int = 640,
    height: int = 240,
    value_format: str = "{:,.1f}",
    y_max: float | None = None,
    threshold: float | None = None,
    threshold_label: str = "",
) -> str:
    """Vertical bars, one per (label, value, color), in the given order (runs, oldest first)."""
    left, right, top, bottom = 52, 12, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    header = f'<svg class="chart column-chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" role="img"'
    parts = [
        f'{header} aria-label="{escape(title)}">',
        f'<text class="chart-title" x="{left}" y="20">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">No runs yet</text>')
        return "".join(parts) + "</svg>"
    ticks = nice_ticks(0.0, y_max if y_max is not None else max(v for _, v, _ in items) or 1.0, 4)
    top_value = ticks[-1] or 1.0
    for tick in ticks:
        y = top + plot_h - tick / top_value * plot_h
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{compact_number(tick)}</text>'
        )
    slot = plot_w / len(items)
    bar_w = min(max(slot * 0.7, 2.0), 48.0)
    label_every = max(1, math.ceil(len(items) / 12))
    for index, (label, value, color) in enumerate(items):
        x = left + index * slot + (slot - bar_w) / 2
        bar_h = max(value / top_value * plot_h, 1.0)
        y = top + plot_h - bar_h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" rx="2" fill="{color}" '
            f'data-label="{escape(label)}" data-value="{value}"><title>{escape(label)}: '
            f"{escape(value_format.format(value))}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    if threshold is not None:
        y = top + plot_h - threshold / top_value * plot_h
        parts.append(f'<line class="threshold" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="threshold-label" x="{left + plot_w}" y="{top - 6}" text-anchor="end">'
            f"{escape(threshold_label)}</text>"
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    return "".join(parts) + "</svg>"


def spark_bar(value: float, maximum: float, color: str = PALETTE[0], width: int = 90) -> str:
    """A tiny inline bar for table cells."""
    fraction = 0.0 if maximum <= 0 else max(min(value / maximum, 1.0), 0.0)
    return (
        f'<svg class="spark" width="{width}" height="10" viewBox="0 0 {width} 10" aria-hidden="true">'
        f'<rect x="0" y="1" width="{width}" height="8" rx="2" fill="#eef1f5"/>'
        f'<rect x="0" y="1" width="{fraction * width:.1f}" height="8" rx="2" fill="{color}"/></svg>'
    )
