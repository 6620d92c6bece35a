"""Server-rendered SVG charts: plain geometry computed here, drawn by templates.

No ORM and no HTML: each function takes plain values and returns numbers and labels, so the
maths is testable and the templates stay declarative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MATRIX_W, MATRIX_H, MATRIX_PAD = 960, 520, 48


@dataclass(frozen=True)
class Bubble:
    pk: int
    title: str
    status: str
    status_label: str
    x: float
    y: float
    r: float
    fit: float
    revenue: float
    breadth: float


def matrix_chart(rows) -> dict:
    """Bubbles for requests: x = revenue at stake, y = strategic fit, radius from breadth.

    ``rows`` are requests with ``score`` (may be missing: plotted at 0, 0). Larger bubbles are
    drawn first so small ones stay clickable.
    """
    inner_w = MATRIX_W - 2 * MATRIX_PAD
    inner_h = MATRIX_H - 2 * MATRIX_PAD
    bubbles = []
    for row in rows:
        score = getattr(row, "score", None)
        fit = score.strategic_fit if score else 0.0
        revenue = score.revenue_at_stake if score else 0.0
        breadth = score.customer_breadth if score else 0.0
        bubbles.append(
            Bubble(
                pk=row.pk,
                title=row.title,
                status=row.status,
                status_label=row.get_status_display(),
                x=round(MATRIX_PAD + inner_w * _clamp(revenue) / 100, 1),
                y=round(MATRIX_H - MATRIX_PAD - inner_h * _clamp(fit) / 100, 1),
                r=round(4 + 1.6 * math.sqrt(_clamp(breadth)), 1),
                fit=fit,
                revenue=revenue,
                breadth=breadth,
            )
        )
    bubbles.sort(key=lambda b: -b.r)
    mid_x = MATRIX_PAD + inner_w / 2
    mid_y = MATRIX_PAD + inner_h / 2
    return {
        "width": MATRIX_W,
        "height": MATRIX_H,
        "pad": MATRIX_PAD,
        "left": MATRIX_PAD,
        "right": MATRIX_W - MATRIX_PAD,
        "top": MATRIX_PAD,
        "bottom": MATRIX_H - MATRIX_PAD,
        "mid_x": mid_x,
        "mid_y": mid_y,
        "bubbles": bubbles,
        "quadrants": {
            "high_high": sum(1 for b in bubbles if b.fit >= 50 and b.revenue >= 50),
            "high_fit": sum(1 for b in bubbles if b.fit >= 50 and b.revenue < 50),
            "high_revenue": sum(1 for b in bubbles if b.fit < 50 and b.revenue >= 50),
            "neither": sum(1 for b in bubbles if b.fit < 50 and b.revenue < 50),
        },
    }


def _clamp(value, low: float = 0.0, high: float = 100.0) -> float:
    return max(low, min(high, float(value or 0)))


WATERFALL_W, WATERFALL_ROW, WATERFALL_LABEL = 640, 30, 215


def waterfall(
    *,
    strategic: float,
    breadth: float,
    revenue: float,
    weights: tuple[float, float, float],
    effort_factor: float,
) -> dict:
    """Steps from 0 to the total: each component's weighted contribution, then the effort factor.

    Contributions are ``w_i · score_i / Σw`` (they add up to the value); the last step is
    ``value · (factor − 1)``, negative when the work is large.
    """
    total_w = sum(weights) or 1.0
    parts = [
        ("Strategic fit", strategic, weights[0]),
        ("Customer breadth", breadth, weights[1]),
        ("Revenue at stake", revenue, weights[2]),
    ]
    contributions = [(label, w * s / total_w, s, w) for label, s, w in parts]
    value = sum(c for _, c, _, _ in contributions)
    total = value * effort_factor
    scale_max = max(100.0, value, total)
    plot_w = WATERFALL_W - WATERFALL_LABEL - 50
    steps = []
    running = 0.0

    def x(v: float) -> float:
        return round(WATERFALL_LABEL + plot_w * v / scale_max, 1)

    for label, contribution, score, weight in contributions:
        start, running = running, running + contribution
        steps.append(
            {
                "label": label,
                "detail": f"{score:.0f} × {weight / total_w:.0%}",
                "delta": contribution,
                "x": x(start),
                "width": max(1.0, round(x(running) - x(start), 1)),
                "kind": "up",
            }
        )
    steps.append(
        {
            "label": "Value",
            "detail": "",
            "delta": value,
            "x": x(0),
            "width": max(1.0, x(value) - x(0)),
            "kind": "subtotal",
        }
    )
    effort_delta = total - value
    low, high = sorted((value, total))
    steps.append(
        {
            "label": "Effort",
            "detail": f"× {effort_factor:.2f}",
            "delta": effort_delta,
            "x": x(low),
            "width": max(1.0, round(x(high) - x(low), 1)),
            "kind": "down" if effort_delta < 0 else "up",
        }
    )
    steps.append(
        {
            "label": "Total",
            "detail": "",
            "delta": total,
            "x": x(0),
            "width": max(1.0, x(total) - x(0)),
            "kind": "total",
        }
    )
    for i, step in enumerate(steps):
        step["y"] = 8 + i * WATERFALL_ROW
        step["text_x"] = round(step["x"] + step["width"] + 6, 1)
    return {
        "width": WATERFALL_W,
        "height": 16 + len(steps) * WATERFALL_ROW,
        "label_x": WATERFALL_LABEL - 8,
        "steps": steps,
        "value": value,
        "total": total,
    }


HISTORY_W, HISTORY_H, HISTORY_PAD = 560, 140, 24


def history_line(points) -> dict | None:
    """A line of totals over time. ``points`` have ``total``, ``recorded_at`` and ``cause``.

    Returns None for fewer than one point. X is by order (evenly spaced) so bursts of changes
    stay readable; y is 0-100 (or the highest total when above).
    """
    points = list(points)
    if not points:
        return None
    top = max(100.0, *(p.total for p in points))
    inner_w = HISTORY_W - 2 * HISTORY_PAD
    inner_h = HISTORY_H - 2 * HISTORY_PAD
    step = inner_w / max(1, len(points) - 1)
    coords = []
    for i, p in enumerate(points):
        cx = HISTORY_PAD + (step * i if len(points) > 1 else inner_w / 2)
        cy = HISTORY_H - HISTORY_PAD - inner_h * max(0.0, p.total) / top
        coords.append({"x": round(cx, 1), "y": round(cy, 1), "point": p})
    return {
        "width": HISTORY_W,
        "height": HISTORY_H,
        "pad": HISTORY_PAD,
        "bottom": HISTORY_H - HISTORY_PAD,
        "top_y": HISTORY_PAD,
        "top_value": top,
        "points": coords,
        "polyline": " ".join(f"{c['x']},{c['y']}" for c in coords),
    }
