"""What-if: the top of the board under changed weights, computed without writing anything.

Uses the components the last recompute stored (breadth, revenue exposure) and recomputes, with
the scoring engine's own pure functions, only what the edited weights change: strategic fit when
theme weights change, revenue at stake when the revenue reference changes, the effort factor when
the effort reference changes, then the value and the total.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, replace

from django.db.models import Exists, OuterRef

from requests_app.models import OPEN_STATUSES, FeatureRequest, RequestStatus

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

    # Open requests: an anti-join on the few closed statuses, not a join with every request.
    closed = FeatureRequest.objects.filter(
        pk=OuterRef("request_id"), status__in=set(RequestStatus.values) - set(OPEN_STATUSES)
    )
    scores = (
        RequestScore.objects.filter(~Exists(closed))
        .order_by()
        .values_list(
            "request_id",
            "total",
            "strategic_fit",
            "customer_breadth",
            "revenue_at_stake",
            "revenue_exposure",
            "effort_factor",
        )
    )
    fits: dict[int, float] = {}
    if themes_changed:
        new_weights = {pk: theme_weights.get(pk, w) for pk, w in themes}
        strengths: dict[int, dict[int, int]] = defaultdict(dict)
        aligned = (
            ThemeAlignment.objects.filter(theme_id__in=new_weights, strength__gte=1)
            .filter(~Exists(closed))
            .values_list("request_id", "theme_id", "strength")
        )
        for request_id, theme_id, strength in aligned:
            strengths[request_id][theme_id] = strength
        for request_id, by_theme in strengths.items():
            fits[request_id] = strategic_fit(
                (w, by_theme.get(pk, 0)) for pk, w in new_weights.items()
            )
    revenue_changed = params.revenue_ref != current.revenue_ref
    effort_changed = params.effort_ref != current.effort_ref
    efforts = (
        dict(FeatureRequest.objects.filter(effort__isnull=False).values_list("pk", "effort"))
        if effort_changed
        else {}
    )

    before: dict[int, float] = {}
    after: dict[int, float] = {}
    for pk, total, fit, breadth, revenue, exposure, factor in scores:
        new_fit = fits.get(pk, 0.0) if themes_changed else fit
        new_revenue = revenue_at_stake(exposure, params) if revenue_changed else revenue
        new_factor = effort_factor(efforts.get(pk), params) if effort_changed else factor
        before[pk] = total
        after[pk] = combine_value(new_fit, breadth, new_revenue, params) * new_factor

    # Ranks order by total, then newest id first. Plain tuples sort in C, without a key function.
    before_sorted = sorted((-total, -pk) for pk, total in before.items())
    after_sorted = sorted((-total, -pk) for pk, total in after.items())
    after_top = [-pk for _, pk in after_sorted[:top]]
    last_kept = after_sorted[top - 1] if len(after_sorted) > top else None
    leaving_ids = [
        -neg_pk
        for _, neg_pk in before_sorted[:top]
        if last_kept is not None and (-after[-neg_pk], neg_pk) > last_kept
    ]

    def before_rank(pk: int) -> int:
        return bisect.bisect_left(before_sorted, (-before[pk], -pk)) + 1

    def after_rank(pk: int) -> int:
        return bisect.bisect_left(after_sorted, (-after[pk], -pk)) + 1

    titles = dict(
        FeatureRequest.objects.filter(pk__in=[*after_top, *leaving_ids]).values_list("pk", "title")
    )

    def row(pk: int) -> Row:
        return Row(
            pk=pk,
            title=titles.get(pk, ""),
            before_total=before[pk],
            after_total=after[pk],
            before_rank=before_rank(pk),
            after_rank=after_rank(pk),
            top=top,
        )

    rows = [row(pk) for pk in after_top]
    leaving = [row(pk) for pk in leaving_ids]
    return {
        "rows": rows,
        "leaving": leaving,
        "top": top,
        "changed": any(r.move for r in rows) or bool(leaving),
        "ranked": len(before),
    }
