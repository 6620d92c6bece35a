"""What-if: the top of the board under changed weights, computed without writing anything.

Uses the components the last recompute stored (breadth, revenue exposure) and recomputes only what
the edited weights change: strategic fit when theme weights change, revenue at stake when the
revenue reference changes, the effort factor when the effort reference changes, then the value
and total with the scoring formulas of DESIGN section 3.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from requests_app.models import OPEN_STATUSES

from .models import RequestScore, ScoringPolicy, StrategicTheme, ThemeAlignment

TOP = 25


def strategic_fit(alignments: Iterable[tuple[float, int]]) -> float:
    """S = 100 · Σ w·a / (3 · Σ w) over active themes (pairs of weight and strength 0-3)."""
    pairs = list(alignments)
    total_weight = sum(w for w, _ in pairs)
    if total_weight <= 0:
        return 0.0
    return 100.0 * sum(w * a for w, a in pairs) / (3.0 * total_weight)


def combine_value(strategic: float, breadth: float, revenue: float, weights) -> float:
    w_s, w_c, w_r = weights
    total = w_s + w_c + w_r
    if total <= 0:
        return 0.0
    return (w_s * strategic + w_c * breadth + w_r * revenue) / total


def effort_factor(effort: int | None, effort_ref: float) -> float:
    if not effort:
        return 1.0
    return max(0.5, min(2.0, math.sqrt(effort_ref / effort)))


def revenue_score(exposure: float, revenue_ref: float) -> float:
    return 100.0 * (1.0 - math.exp(-max(0.0, exposure) / revenue_ref))


@dataclass
class Row:
    pk: int
    title: str
    before_total: float
    after_total: float
    before_rank: int = 0
    after_rank: int = 0

    @property
    def move(self) -> int:
        """Positive when the request climbs."""
        return self.before_rank - self.after_rank

    @property
    def enters(self) -> bool:
        return self.before_rank > TOP >= self.after_rank

    @property
    def leaves(self) -> bool:
        return self.after_rank > TOP >= self.before_rank


def whatif_preview(
    *, policy: ScoringPolicy, changes: dict, theme_weights: dict[int, int], top: int = TOP
) -> dict:
    """Top ``top`` open requests by total now and under ``changes`` (policy fields) and
    ``theme_weights`` (theme id → weight). Reads only; writes nothing.

    Returns ``{"rows": [...after top, with before ranks], "leaving": [...], "changed": bool}``.
    Requests without a score row are not ranked (they have no components yet).
    """
    weights = (
        changes.get("weight_strategic", policy.weight_strategic),
        changes.get("weight_breadth", policy.weight_breadth),
        changes.get("weight_revenue", policy.weight_revenue),
    )
    revenue_ref = changes.get("revenue_ref", policy.revenue_ref)
    effort_ref = changes.get("effort_ref", policy.effort_ref)
    themes = list(StrategicTheme.objects.filter(active=True).values_list("pk", "weight"))
    themes_changed = any(theme_weights.get(pk, w) != w for pk, w in themes)

    scores = RequestScore.objects.filter(request__status__in=OPEN_STATUSES).values_list(
        "request_id",
        "request__title",
        "request__effort",
        "total",
        "strategic_fit",
        "customer_breadth",
        "revenue_at_stake",
        "revenue_exposure",
        "effort_factor",
    )
    fits: dict[int, float] = {}
    if themes_changed:
        new_weights = {pk: theme_weights.get(pk, w) for pk, w in themes}
        strengths: dict[int, dict[int, int]] = defaultdict(dict)
        aligned = ThemeAlignment.objects.filter(
            theme_id__in=new_weights, strength__gte=1, request__status__in=OPEN_STATUSES
        ).values_list("request_id", "theme_id", "strength")
        for request_id, theme_id, strength in aligned:
            strengths[request_id][theme_id] = strength
        for request_id, by_theme in strengths.items():
            fits[request_id] = strategic_fit(
                (w, by_theme.get(pk, 0)) for pk, w in new_weights.items()
            )

    rows: list[Row] = []
    for pk, title, effort, total, fit, breadth, revenue, exposure, factor in scores.iterator(
        chunk_size=5000
    ):
        new_fit = fits.get(pk, 0.0) if themes_changed else fit
        new_revenue = (
            revenue_score(exposure, revenue_ref) if revenue_ref != policy.revenue_ref else revenue
        )
        new_factor = (
            effort_factor(effort, effort_ref) if effort_ref != policy.effort_ref else factor
        )
        after = combine_value(new_fit, breadth, new_revenue, weights) * new_factor
        rows.append(Row(pk=pk, title=title, before_total=total, after_total=after))

    for rank, row in enumerate(sorted(rows, key=lambda r: (-r.before_total, -r.pk)), start=1):
        row.before_rank = rank
    ordered_after = sorted(rows, key=lambda r: (-r.after_total, -r.pk))
    for rank, row in enumerate(ordered_after, start=1):
        row.after_rank = rank
    leaving = sorted((r for r in rows if r.leaves), key=lambda r: r.before_rank)
    return {
        "rows": ordered_after[:top],
        "leaving": leaving,
        "top": top,
        "changed": any(r.move for r in ordered_after[:top]) or bool(leaving),
        "ranked": len(rows),
    }
