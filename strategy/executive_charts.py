"""Small server-rendered SVG charts. Each page shows a table with the same figures beside the
chart, so the SVG is labelled as an image with a one-line summary for screen readers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#3b5bdb", "#1a7f37", "#9a6700", "#c4312b", "#6e7781")
_ids = count(1)


def _svg(width: int, height: int, title: str, summary: str, body: str) -> SafeString:
    n = next(_ids)
    return mark_safe(  # noqa: S308 - every interpolated text is escaped above
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="chart-t{n} chart-d{n}" preserveAspectRatio="xMinYMin meet">'
        f'<title id="chart-t{n}">{escape(title)}</title>'
        f'<desc id="chart-d{n}">{escape(summary)}</desc>{body}</svg>'
    )


def bar_chart(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    width: int = 560,
    label_width: int = 150,
    bar_height: int = 22,
    gap: int = 8,
    color: str = PALETTE[0],
) -> SafeString:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value."""
    peak = max((float(v) for _, v in rows), default=0.0) or 1.0
    value_width = 90
    track = width - label_width - value_width
    parts = []
    for i, (label, value) in enumerate(rows):
        y = i * (bar_height + gap)
        length = max(0.0, float(value)) / peak * track
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'class="chart-label">{escape(short)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{track}" height="{bar_height}" '
            f'class="chart-track" rx="3"/>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{color}" rx="3"/>'
            f'<text x="{label_width + track + 8}" y="{y + bar_height * 0.7:.1f}" '
            f'class="chart-value">{escape(fmt(value))}</text>'
        )
    height = max(1, len(rows)) * (bar_height + gap)
    summary = "; ".join(f"{label}: {fmt(value)}" for label, value in rows) or "No data"
    return _svg(width, height, title, summary, "".join(parts))


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    series: Sequence[str],
    title: str,
    width: int = 560,
    label_width: int = 90,
    bar_height: int = 22,
    gap: int = 8,
) -> SafeString:
    """Horizontal stacked bars (one per row label, one segment per series) with a legend."""
    peak = max((sum(float(v) for v in values) for _, values in rows), default=0.0) or 1.0
    total_width = 50
    track = width - label_width - total_width
    legend_height = 26
    parts = []
    x = label_width
    for i, name in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{color}" rx="2"/>'
            f'<text x="{x + 18}" y="14" class="chart-label">{escape(name)}</text>'
        )
        x += 28 + 8 * len(name)
    for i, (label, values) in enumerate(rows):
        y = legend_height + i * (bar_height + gap)
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'class="chart-label">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{track}" height="{bar_height}" '
            f'class="chart-track" rx="3"/>'
        )
        offset = float(label_width)
        for j, value in enumerate(values):
            length = max(0.0, float(value)) / peak * track
            if length:
                parts.append(
                    f'<rect x="{offset:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"/>'
                )
            offset += length
        parts.append(
            f'<text x="{label_width + track + 8}" y="{y + bar_height * 0.7:.1f}" '
            f'class="chart-value">{sum(float(v) for v in values):,.0f}</text>'
        )
    height = legend_height + max(1, len(rows)) * (bar_height + gap)
    summary = (
        "; ".join(
            f"{label}: "
            + ", ".join(f"{s} {float(v):,.0f}" for s, v in zip(series, values, strict=True))
            for label, values in rows
        )
        or "No data"
    )
    return _svg(width, height, title, summary, "".join(parts))
