"""Synthetic data at scale for load tests: accounts, deals, requests, asks, themes, alignments.

Shapes follow DESIGN section 7 (per 100,000 requests: 300,000 asks, 20,000 deals, 5,000
accounts). Written with ``bulk_create`` (no signals fire), so scores are computed afterwards in one
set-wise pass.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from requests_app.models import (
    STAGE_PROBABILITY,
    Account,
    Ask,
    Deal,
    DealStage,
    FeatureRequest,
    Importance,
    ProductArea,
    RequestStatus,
    Segment,
)

from .models import StrategicTheme, ThemeAlignment

PREFIX = "synthetic:"
BATCH = 5000
WORDS = [
    "export",
    "audit",
    "SSO",
    "invoice",
    "dashboard",
    "webhook",
    "approval",
    "mobile",
    "offline",
    "report",
    "budget",
    "roles",
    "sandbox",
    "archive",
    "calendar",
    "search",
    "tagging",
    "templates",
    "reminders",
    "forecast",
    "import",
    "sync",
]


def synthetic_data_build(*, requests: int, seed: int = 20261127) -> dict[str, int]:
    """Add ``requests`` synthetic requests (and the accounts, deals, asks, themes and alignments
    that go with them, in DESIGN's proportions). Deterministic for a given seed and database.

    Edge cases: ``requests`` < 20 still creates at least one account and one deal; the themes are
    found by name, so running twice adds a second batch of requests but no second set of themes.
    Returns the counts created per table.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    today = timezone.localdate()
    run = FeatureRequest.objects.count()
    with transaction.atomic():
        themes = [
            StrategicTheme.objects.get_or_create(
                name=f"Synthetic theme {i + 1}", defaults={"weight": 10 + 15 * i}
            )[0]
            for i in range(6)
        ]
        n_accounts = max(1, requests // 20)
        accounts = Account.objects.bulk_create(
            (
                Account(
                    name=f"Synthetic {run + i} {rng.choice(WORDS).title()} Inc",
                    segment=rng.choice(list(Segment.values)),
                    is_customer=rng.random() < 0.7,
                    arr=Decimal(rng.randrange(5_000, 2_000_000)),
                    external_id=f"{PREFIX}{run}:{i}",
                )
                for i in range(n_accounts)
            ),
            batch_size=BATCH,
        )
        for account in accounts:
            if not account.is_customer:
                account.arr = Decimal(0)
        Account.objects.bulk_update(
            [a for a in accounts if not a.is_customer], ["arr"], batch_size=BATCH
        )
        stages = list(DealStage.values)
        deals = Deal.objects.bulk_create(
            (
                Deal(
                    account=(account := rng.choice(accounts)),
                    name=f"{account.name} expansion {i}",
                    amount=Decimal(rng.randrange(2_000, 900_000)),
                    stage=(stage := rng.choice(stages)),
                    probability=STAGE_PROBABILITY[stage],
                    close_date=today + dt.timedelta(days=rng.randrange(-30, 500)),
                    external_id=f"{PREFIX}{run}:deal:{i}",
                )
                for i in range(max(1, requests // 5))
            ),
            batch_size=BATCH,
        )
        deals_by_account: dict[int, list[Deal]] = {}
        for deal in deals:
            deals_by_account.setdefault(deal.account_id, []).append(deal)
        statuses = [
            RequestStatus.NEW,
            RequestStatus.UNDER_REVIEW,
            RequestStatus.UNDER_REVIEW,
            RequestStatus.ACCEPTED,
            RequestStatus.DECLINED,
            RequestStatus.DEFERRED,
            RequestStatus.SHIPPED,
        ]
        feature_requests = FeatureRequest.objects.bulk_create(
            (
                FeatureRequest(
                    title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{run + i}",
                    problem="Customers work around this by hand every week.",
                    product_area=rng.choice(list(ProductArea.values)),
                    status=rng.choice(statuses),
                    effort=rng.choice([None, 1, 2, 3, 5, 8, 13, 20]),
                )
                for i in range(requests)
            ),
            batch_size=BATCH,
        )
        importances = list(Importance.values)
        asks = []
        for index in range(requests * 3):
            account = rng.choice(accounts)
            options = deals_by_account.get(account.pk)
            asks.append(
                Ask(
                    request=feature_requests[index % requests]
                    if index < requests
                    else rng.choice(feature_requests),
                    account=account,
                    deal=rng.choice(options) if options and rng.random() < 0.4 else None,
                    importance=rng.choice(importances),
                )
            )
            if len(asks) >= BATCH:
                Ask.objects.bulk_create(asks)
                asks = []
        Ask.objects.bulk_create(asks)
        alignments = [
            ThemeAlignment(request=request, theme=theme, strength=rng.randint(1, 3))
            for request in feature_requests
            for theme in rng.sample(themes, rng.randint(0, 3))
        ]
        ThemeAlignment.objects.bulk_create(alignments, batch_size=BATCH)
    return {
        "accounts": len(accounts),
        "deals": len(deals),
        "requests": len(feature_requests),
        "asks": requests * 3,
        "alignments": len(alignments),
    }
