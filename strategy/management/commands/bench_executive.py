"""Time the executive pages' reads on a synthetic portfolio, then roll everything back.

    manage.py bench_executive --requests 100000 --asks 300000 --deals 20000 --escalations 500

Builds the data with bulk inserts inside one transaction, times the escalation queue (first page),
one escalation's case, the portfolio figures and the first audit page (best of ``--repeat`` runs,
with their query counts), and rolls the transaction back so the database is left as it was. The last
line printed is one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from requests_app.models import (
    Account,
    Ask,
    AuditEvent,
    Deal,
    DealStage,
    Escalation,
    EscalationOutcome,
    EscalationStatus,
    FeatureRequest,
    RequestStatus,
)
from strategy import executive_selectors as sel
from strategy.models import RequestScore, StrategicTheme, ThemeAlignment


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time the executive pages' reads on synthetic data (rolled back afterwards)."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=20_000)
        parser.add_argument("--asks", type=int, default=60_000)
        parser.add_argument("--deals", type=int, default=5_000)
        parser.add_argument("--accounts", type=int, default=1_000)
        parser.add_argument("--escalations", type=int, default=300)
        parser.add_argument("--themes", type=int, default=8)
        parser.add_argument("--repeat", type=int, default=3)

    def handle(self, *args, **opts):
        result: dict = {}
        try:
            with transaction.atomic():
                started = time.perf_counter()
                escalation_id = self._build(opts)
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("ANALYZE")  # fresh statistics, as a live database has
                result["build_s"] = round(time.perf_counter() - started, 2)
                result.update(self._measure(escalation_id, opts["repeat"]))
                raise _Rollback
        except _Rollback:
            pass
        result.update({k: opts[k] for k in ("requests", "asks", "deals", "escalations")})
        result["database"] = connection.vendor
        self.stdout.write(json.dumps(result))

    def _build(self, opts) -> int:
        rng = random.Random(7)  # noqa: S311 - synthetic data, not security
        now = timezone.now()
        today = timezone.localdate()
        User = get_user_model()
        reps = User.objects.bulk_create(
            [User(username=f"bench-rep-{i}-{now.timestamp():.0f}") for i in range(20)]
        )
        accounts = Account.objects.bulk_create(
            [
                Account(name=f"Bench account {i}", is_customer=i % 3 != 0, arr=Decimal(50_000))
                for i in range(opts["accounts"])
            ],
            batch_size=2000,
        )
        stages = [s for s, _ in DealStage.choices]
        deals = Deal.objects.bulk_create(
            [
                Deal(
                    account=rng.choice(accounts),
                    name=f"Bench deal {i}",
                    amount=Decimal(rng.randrange(5_000, 1_500_000, 1000)),
                    stage=(stage := rng.choice(stages)),
                    probability=50 if stage not in ("closed_won", "closed_lost") else 0,
                    close_date=today + dt.timedelta(days=rng.randrange(-60, 400)),
                    owner=rng.choice(reps),
                )
                for i in range(opts["deals"])
            ],
            batch_size=2000,
        )
        statuses = [s for s, _ in RequestStatus.choices if s != RequestStatus.MERGED]
        requests = FeatureRequest.objects.bulk_create(
            [
                FeatureRequest(
                    title=f"Bench request {i}",
                    problem="Synthetic.",
                    product_area="reporting",
                    status=rng.choice(statuses),
                    effort=rng.choice([None, 1, 3, 5, 8, 13]),
                    created_by=rng.choice(reps),
                )
                for i in range(opts["requests"])
            ],
            batch_size=5000,
        )
        Ask.objects.bulk_create(
            [
                Ask(
                    request=rng.choice(requests),
                    account=(deal := rng.choice(deals)).account,
                    deal=deal if rng.random() < 0.7 else None,
                )
                for _ in range(opts["asks"])
            ],
            batch_size=5000,
        )
        RequestScore.objects.bulk_create(
            [
                RequestScore(
                    request=r,
                    total=rng.random() * 100,
                    flag_single_deal=rng.random() < 0.1,
                    stale=False,
                )
                for r in requests
            ],
            batch_size=5000,
        )
        themes = StrategicTheme.objects.bulk_create(
            [
                StrategicTheme(name=f"Bench theme {i} {now.timestamp():.0f}", weight=10 + i)
                for i in range(opts["themes"])
            ]
        )
        ThemeAlignment.objects.bulk_create(
            [
                ThemeAlignment(request=r, theme=t, strength=rng.randrange(0, 4))
                for r in requests[: len(requests) // 2]
                for t in rng.sample(themes, 2)
            ],
            batch_size=5000,
        )
        contested = [r for r in requests if r.status in (RequestStatus.DECLINED, "deferred")]
        escalations = []
        for i, r in enumerate(contested[: opts["escalations"]]):
            resolved = i % 3 == 0
            escalations.append(
                Escalation(
                    request=r,
                    raised_by=rng.choice(reps),
                    business_case="Synthetic.",
                    outcome_requested="Synthetic.",
                    due_at=now + dt.timedelta(days=rng.randrange(-10, 10)),
                    status=EscalationStatus.RESOLVED if resolved else EscalationStatus.OPEN,
                    outcome=rng.choice(EscalationOutcome.values) if resolved else "",
                    resolution_rationale="Synthetic." if resolved else "",
                    resolved_at=now - dt.timedelta(days=rng.randrange(0, 300))
                    if resolved
                    else None,
                )
            )
        escalations = Escalation.objects.bulk_create(escalations)
        through = Escalation.deals.through
        through.objects.bulk_create(
            [
                through(escalation_id=e.pk, deal_id=d.pk)
                for e in escalations
                for d in rng.sample(deals, 3)
            ]
        )
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(verb="bench.event", object_type="bench", object_id=str(i))
                for i in range(20_000)
            ],
            batch_size=5000,
        )
        open_ones = [e for e in escalations if e.status == EscalationStatus.OPEN]
        return open_ones[0].pk

    def _measure(self, escalation_id: int, repeat: int) -> dict:
        probes = {
            "queue_first_page": lambda: list(sel.escalation_queue(filters=sel.QueueFilters())[:50]),
            "escalation_case": lambda: sel.escalation_case(pk=escalation_id),
            "portfolio": sel.portfolio,
            "pipeline_by_status": sel.pipeline_by_status,
            "pipeline_by_theme": sel.pipeline_by_theme,
            "single_deal_share": sel.single_deal_share,
            "escalation_outcomes": sel.escalation_outcomes,
            "revenue_won": sel.revenue_won_on_shipped,
            "audit_first_page": lambda: (
                list(sel.audit_events(filters=sel.AuditFilters())[:50]),
                sel.audit_events(filters=sel.AuditFilters()).count(),
            ),
        }
        out = {}
        for name, probe in probes.items():
            best = None
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    probe()
                    elapsed = time.perf_counter() - started
                best = elapsed if best is None else min(best, elapsed)
            out[f"{name}_ms"] = round(best * 1000, 1)
            out[f"{name}_queries"] = len(queries)
        return out
