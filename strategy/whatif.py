"""What-if: the top of the board under changed weights, computed without writing anything.

Uses the components the last recompute stored (breadth, revenue exposure) and recomputes, with
the scoring engine's own pure functions, only what the edited weights change: strategic fit when
theme weights change, revenue at stake when the revenue reference changes, the effort factor when
the effort reference changes, then the value and the total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from requests_app.models import OPEN_STATUSES

from .models import RequestScore, ScoringPolicy, StrategicTheme, ThemeAlignment
from .scoring import PolicyParams, combine_value, effort_factor, revenue_at_stake, strategic_fit

TOP = 25


@dataclass
class Row:
    pk: int
    title: str
    before_total: float
    after_total: float
    before_rank: int = 0
    after_rank: int = 0
    top: int = TOP

    @property
    def move(self) -> int:
        """Positive when the request climbs."""
        return self.before_rank - self.after_rank

    @property
    def enters(self) -> bool:
        return self.before_rank > self.top >= self.after_rank

    @property
    def leaves(self) -> bool:
        return self.after_rank > self.top >= self.before_rank


def whatif_preview(
    *, policy: ScoringPolicy, changes: dict, theme_weights: dict[int, int], top: int = TOP
) -> dict:
    """Top ``top`` open requests by total now and under ``changes`` (policy fields) and
    ``theme_weights`` (theme id → weight). Reads only; writes nothing.

    Returns ``{"rows": [...after top, with before ranks], "leaving": [...], "changed": bool}``.
    Requests without a score row are not ranked (they have no components yet).
    """
    current = PolicyParams.from_policy(policy)
    params = replace(current, **{k: float(v) for k, v in changes.items()})
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
            revenue_at_stake(exposure, params)
            if params.revenue_ref != current.revenue_ref
            else revenue
        )
        new_factor = (
            effort_factor(effort, params) if params.effort_ref != current.effort_ref else factor
        )
        after = combine_value(new_fit, breadth, new_revenue, params) * new_factor
        rows.append(Row(pk=pk, title=title, before_total=total, after_total=after, top=top))

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
