"""Score rows written directly, so board tests do not depend on the scoring engine's maths."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from strategy.models import RequestScore
from tests.factories import FeatureRequestFactory


def scored(
    title: str = "",
    *,
    total: float = 50,
    fit: float = 50,
    breadth: float = 50,
    revenue: float = 50,
    request=None,
    stale: bool = False,
    single_deal: bool = False,
    accounts: int = 1,
    pipeline: int = 100_000,
    explanation: dict | None = None,
    **request_fields,
):
    if request is None:
        if title:
            request_fields["title"] = title
        request = FeatureRequestFactory(**request_fields)
    RequestScore.objects.update_or_create(
        request=request,
        defaults={
            "total": total,
            "value": total,
            "strategic_fit": fit,
            "customer_breadth": breadth,
            "revenue_at_stake": revenue,
            "effort_factor": 1.0,
            "accounts_count": accounts,
            "customers_count": accounts,
            "open_pipeline": Decimal(pipeline),
            "flag_single_deal": single_deal,
            "flags": ["single_deal"] if single_deal else [],
            "explanation": explanation or {},
            "policy_version": 1,
            "computed_at": timezone.now(),
            "stale": stale,
        },
    )
    return request


EXPLANATION = {
    "policy_version": 3,
    "computed_at": "2026-11-27T10:00:00+00:00",
    "value": 41.0,
    "total": 41.0,
    "flags": ["single_deal"],
    "flag_reasons": {"single_deal": "Acme renewal supplies 100% of the revenue at stake."},
    "components": {
        "strategic_fit": {
            "score": 6,
            "weight": 0.45,
            "contribution": 2.7,
            "summary": "No theme above weak.",
            "themes": [
                {"id": 1, "name": "Enterprise readiness", "weight": 30, "strength": 1, "share": 1.0}
            ],
        },
        "customer_breadth": {
            "score": 2,
            "weight": 0.35,
            "contribution": 0.7,
            "summary": "1 of 412 customers, 0.3% of ARR.",
            "customers": 1,
            "customers_total": 412,
            "reach": 0.0024,
            "arr": 120000,
            "arr_total": 40000000,
            "arr_share": 0.003,
            "accounts": [{"id": 7, "name": "Acme Corp", "arr": 120000, "share": 1.0}],
        },
        "revenue_at_stake": {
            "score": 88,
            "weight": 0.2,
            "contribution": 17.6,
            "summary": "Acme renewal supplies 100%.",
            "exposure": 900000,
            "open_pipeline": 1200000,
            "deals": [
                {
                    "id": 3,
                    "name": "Acme renewal",
                    "account": "Acme Corp",
                    "amount": 1200000,
                    "stage": "negotiation",
                    "probability": 75,
                    "close_date": "2026-12-15",
                    "importance": "blocker",
                    "urgency": 1.0,
                    "weighted": 900000,
                    "share": 1.0,
                }
            ],
        },
        "effort": {"effort": None, "factor": 1.0, "summary": "Effort not estimated yet: ×1.00."},
    },
}
