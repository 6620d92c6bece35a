"""The scoring benchmark behind ``manage.py bench_scoring`` (figures in docs/performance.md).

Synthetic data is recognisable by its markers (titles, names and CRM ids starting with
``BENCH_PREFIX``), so the benchmark can refuse a database holding anything else and ``--reset``
can remove exactly what it created.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import (
    STAGE_PROBABILITY,
    Account,
    Ask,
    AuditEvent,
    Deal,
    DealStage,
    Decision,
    Escalation,
    FeatureRequest,
    Importance,
    Notification,
    ProductArea,
    Segment,
)
from requests_app.services import deal_update
from triage.roles import PRODUCT

from . import scoring
from .board_snapshot import snapshots_forget
from .models import RequestScore, ScoreHistory, StrategicTheme, ThemeAlignment
from .services import policy_current, scores_vacuum

BENCH_PREFIX = "bench-"
BENCH_USER = "bench_product"


class BenchRefused(Exception):
    """The database holds data the benchmark did not create."""


# --- data ----------------------------------------------------------------------------------------


def foreign_data() -> list[str]:
    """What in the database was not created by the benchmark (empty when it is safe to run)."""
    checks = {
        "accounts": Account.objects.exclude(external_id__startswith=BENCH_PREFIX),
        "deals": Deal.objects.exclude(external_id__startswith=BENCH_PREFIX),
        "requests": FeatureRequest.objects.exclude(title__startswith=BENCH_PREFIX),
        "themes": StrategicTheme.objects.exclude(name__startswith=BENCH_PREFIX),
        "decisions": Decision.objects.all(),
        "escalations": Escalation.objects.all(),
    }
    return [f"{qs.count()} {name}" for name, qs in checks.items() if qs.exists()]


def bench_counts() -> dict[str, int]:
    return {
        "requests": FeatureRequest.objects.count(),
        "asks": Ask.objects.count(),
        "deals": Deal.objects.count(),
        "accounts": Account.objects.count(),
    }


def reset() -> None:
    """Delete the benchmark's own rows (and only those), fast: raw deletes, no signals."""
    with transaction.atomic():
        requests = FeatureRequest.objects.filter(title__startswith=BENCH_PREFIX)
        for qs in (
            ScoreHistory.objects.filter(request__in=requests),
            RequestScore.objects.filter(request__in=requests),
            ThemeAlignment.objects.filter(request__in=requests),
            Ask.objects.filter(request__in=requests),
            Notification.objects.filter(request__in=requests),
        ):
            qs._raw_delete(qs.db)
        FeatureRequest.objects.filter(title__startswith=BENCH_PREFIX).update(merged_into=None)
        for qs in (
            requests,
            Deal.objects.filter(external_id__startswith=BENCH_PREFIX),
            Account.objects.filter(external_id__startswith=BENCH_PREFIX),
            StrategicTheme.objects.filter(name__startswith=BENCH_PREFIX),
            AuditEvent.objects.filter(object_repr__startswith=BENCH_PREFIX),
        ):
            qs._raw_delete(qs.db)


def generate(*, requests: int, asks: int, deals: int, accounts: int, seed: int = 7) -> None:
    """Bulk-insert a believable synthetic company (no signals, no per-row saves): 60% of accounts
    are customers with ARR; deals spread over stages and close dates from 60 days overdue to 500
    days out; asks skewed so that some requests are broad and most are narrow, two in five linked
    to a deal of the asking account; about 1.5 theme alignments per request."""
    rng = random.Random(seed)
    today = timezone.localdate()
    now = timezone.now()
    batch = 5000
    stages = list(DealStage.values)
    importances = list(Importance.values)

    Account.objects.bulk_create(
        [
            Account(
                name=f"{BENCH_PREFIX}account {i}",
                segment=rng.choice(Segment.values),
                is_customer=rng.random() < 0.6,
                arr=Decimal(rng.randrange(5_000, 500_000)),
                external_id=f"{BENCH_PREFIX}a{i}",
            )
            for i in range(accounts)
        ],
        batch_size=batch,
    )
    account_ids = list(
        Account.objects.filter(external_id__startswith=BENCH_PREFIX)
        .order_by("pk")
        .values_list("pk", "is_customer")
    )
    # Prospects carry no ARR.
    Account.objects.filter(external_id__startswith=BENCH_PREFIX, is_customer=False).update(arr=0)
    deal_rows = []
    for i in range(deals):
        stage = rng.choices(stages, weights=[3, 3, 3, 2, 2, 2])[0]
        deal_rows.append(
            Deal(
                account_id=rng.choice(account_ids)[0],
                name=f"{BENCH_PREFIX}deal {i}",
                amount=Decimal(rng.randrange(5_000, 1_500_000)),
                stage=stage,
                probability=STAGE_PROBABILITY[stage],
                close_date=today + dt.timedelta(days=rng.randrange(-60, 500)),
                external_id=f"{BENCH_PREFIX}d{i}",
            )
        )
    Deal.objects.bulk_create(deal_rows, batch_size=batch)
    deals_by_account: dict[int, list[int]] = {}
    for pk, account_id in Deal.objects.filter(external_id__startswith=BENCH_PREFIX).values_list(
        "pk", "account_id"
    ):
        deals_by_account.setdefault(account_id, []).append(pk)

    StrategicTheme.objects.bulk_create(
        [
            StrategicTheme(name=f"{BENCH_PREFIX}theme {i}", weight=rng.randrange(5, 40))
            for i in range(10)
        ]
    )
    theme_ids = list(
        StrategicTheme.objects.filter(name__startswith=BENCH_PREFIX).values_list("pk", flat=True)
    )

    areas = ProductArea.values
    for start in range(0, requests, batch):
        FeatureRequest.objects.bulk_create(
            [
                FeatureRequest(
                    title=f"{BENCH_PREFIX}request {i}: {rng.choice(areas)} improvement {i % 977}",
                    problem="Synthetic benchmark request.",
                    product_area=rng.choice(areas),
                    effort=rng.choice([None, 1, 2, 3, 5, 8, 13, 20]),
                    created_at=now,
                )
                for i in range(start, min(requests, start + batch))
            ],
            batch_size=batch,
        )
    request_ids = list(
        FeatureRequest.objects.filter(title__startswith=BENCH_PREFIX)
        .order_by("pk")
        .values_list("pk", flat=True)
    )

    # Skewed demand: a few requests gather many asks.
    weights = [1.0 / (1 + (i % 1000)) ** 0.6 for i in range(len(request_ids))]
    picks = rng.choices(request_ids, weights=weights, k=asks)
    rows = []
    for request_id in picks:
        account_id = rng.choice(account_ids)[0]
        account_deals = deals_by_account.get(account_id)
        deal_id = rng.choice(account_deals) if account_deals and rng.random() < 0.4 else None
        rows.append(
            Ask(
                request_id=request_id,
                account_id=account_id,
                deal_id=deal_id,
                importance=rng.choice(importances),
            )
        )
        if len(rows) == batch:
            Ask.objects.bulk_create(rows, batch_size=batch)
            rows = []
    Ask.objects.bulk_create(rows, batch_size=batch)

    alignments = []
    for request_id in request_ids:
        for theme_id in rng.sample(theme_ids, rng.choice([0, 1, 1, 2, 2, 3])):
            alignments.append(
                ThemeAlignment(request_id=request_id, theme_id=theme_id, strength=rng.randint(1, 3))
            )
    ThemeAlignment.objects.bulk_create(alignments, batch_size=batch)
    analyze()


# --- measurements --------------------------------------------------------------------------------


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def naive_per_row(sample: int, seed: int = 11) -> tuple[float, int]:
    """Score ``sample`` requests the naive way: load each request's inputs through the ORM, compute
    with the same pure function, ``save()`` its score row and a history row one by one. Returns the
    seconds per request and the sample size."""
    rng = random.Random(seed)
    ids = list(FeatureRequest.objects.values_list("pk", flat=True))
    chosen = rng.sample(ids, min(sample, len(ids)))
    params = scoring.PolicyParams.from_policy(policy_current())
    start = time.perf_counter()
    # What every request shares is read once, as a reasonable hand-written loop would.
    customers = Account.objects.filter(is_customer=True)
    ctx = scoring.Context(
        params=params,
        today=timezone.localdate(),
        themes=[
            scoring.Theme(id=t.pk, name=t.name, weight=t.weight, active=t.active)
            for t in StrategicTheme.objects.all()
        ],
        customers_total=customers.count(),
        arr_total=float(customers.aggregate(arr=Sum("arr"))["arr"] or 0),
        computed_at=timezone.now(),
    )
    for pk in chosen:
        with transaction.atomic():
            fr = FeatureRequest.objects.get(pk=pk)
            inputs = scoring.RequestInputs(id=pk, effort=fr.effort, status=fr.status)
            seen = set()
            for ask in Ask.objects.filter(request=fr).select_related("account", "deal__account"):
                inputs.asks_count += 1
                if ask.account_id not in seen:
                    seen.add(ask.account_id)
                    inputs.accounts.append(
                        scoring.AccountAsk(
                            id=ask.account_id,
                            name=ask.account.name,
                            is_customer=ask.account.is_customer,
                            arr=float(ask.account.arr),
                        )
                    )
                if ask.deal:
                    inputs.deal_asks.append(
                        scoring.DealAsk(
                            deal_id=ask.deal_id,
                            importance=ask.importance,
                            amount=float(ask.deal.amount),
                            stage=ask.deal.stage,
                            probability=ask.deal.probability,
                            close_date=ask.deal.close_date,
                            name=ask.deal.name,
                            account=ask.deal.account.name,
                        )
                    )
            for alignment in ThemeAlignment.objects.filter(request=fr):
                inputs.alignments[alignment.theme_id] = alignment.strength
            inputs.escalated = Escalation.objects.filter(request=fr, status="open").exists()
            result = scoring.score_request(inputs, ctx)
            score, _ = RequestScore.objects.get_or_create(request=fr)
            for name in (
                "total",
                "value",
                "strategic_fit",
                "customer_breadth",
                "revenue_at_stake",
                "effort_factor",
                "revenue_exposure",
                "accounts_count",
                "customers_count",
                "flags",
                "explanation",
            ):
                setattr(score, name, getattr(result, name))
            score.open_pipeline = round(result.open_pipeline, 2)
            score.stale = False
            score.computed_at = ctx.computed_at
            score.policy_version = params.version
            score.save()
    elapsed = time.perf_counter() - start
    return elapsed / len(chosen), len(chosen)


SQL_FLOOR = """
WITH p AS (
    SELECT * FROM strategy_scoringpolicy ORDER BY version DESC LIMIT 1
), base AS (
    SELECT count(*) AS n, coalesce(sum(arr), 0)::float8 AS arr
    FROM requests_app_account WHERE is_customer
), tw AS (
    SELECT coalesce(sum(weight), 0)::float8 AS w FROM strategy_strategictheme WHERE active
), s AS (
    SELECT a.request_id, sum(t.weight * a.strength)::float8 AS ws
    FROM strategy_themealignment a
    JOIN strategy_strategictheme t ON t.id = a.theme_id AND t.active
    GROUP BY a.request_id
), n AS (
    SELECT request_id, count(*) AS asks, count(DISTINCT account_id) AS accounts
    FROM requests_app_ask GROUP BY request_id
), c AS (
    SELECT x.request_id, count(*) AS customers, sum(ac.arr)::float8 AS arr
    FROM (SELECT DISTINCT request_id, account_id FROM requests_app_ask) x
    JOIN requests_app_account ac ON ac.id = x.account_id AND ac.is_customer
    GROUP BY x.request_id
), dd AS (
    SELECT k.request_id, k.deal_id, max(CASE k.importance
        WHEN 'nice_to_have' THEN p.importance_nice_to_have
        WHEN 'critical' THEN p.importance_critical
        WHEN 'blocker' THEN p.importance_blocker
        ELSE p.importance_important END) AS mult
    FROM requests_app_ask k, p
    WHERE k.deal_id IS NOT NULL
    GROUP BY k.request_id, k.deal_id
), dw AS (
    SELECT dd.request_id, d.amount::float8 AS amount,
        d.amount::float8 * d.probability / 100.0 * dd.mult * (CASE
            WHEN d.close_date IS NULL THEN p.urgency_floor
            WHEN d.close_date - current_date <= p.urgency_near_days THEN 1.0
            WHEN d.close_date - current_date >= p.urgency_far_days THEN p.urgency_floor
            ELSE 1.0 - (1.0 - p.urgency_floor) * (d.close_date - current_date - p.urgency_near_days)
                / (p.urgency_far_days - p.urgency_near_days)::float8
        END) AS w
    FROM dd JOIN requests_app_deal d ON d.id = dd.deal_id, p
    WHERE d.stage NOT IN ('closed_won', 'closed_lost')
), r AS (
    SELECT request_id, sum(w) AS x, max(w) AS top, sum(amount) AS pipeline
    FROM dw GROUP BY request_id
), e AS (
    SELECT DISTINCT request_id FROM requests_app_escalation WHERE status = 'open'
), comp AS (
    SELECT fr.id AS rid, fr.status, fr.effort,
        CASE WHEN tw.w > 0 THEN 100.0 * coalesce(s.ws, 0) / (3.0 * tw.w) ELSE 0 END AS sf,
        100.0 * (1 - exp(-(
            0.5 * (CASE WHEN base.n > 0 THEN coalesce(c.customers, 0)::float8 / base.n ELSE 0 END)
          + 0.5 * (CASE WHEN base.arr > 0 THEN coalesce(c.arr, 0) / base.arr ELSE 0 END)
        ) / p.breadth_ref)) AS cb,
        coalesce(r.x, 0) AS x, coalesce(r.top, 0) AS top, coalesce(r.pipeline, 0) AS pipeline,
        coalesce(n.asks, 0) AS asks, coalesce(n.accounts, 0) AS accounts,
        coalesce(c.customers, 0) AS customers, e.request_id IS NOT NULL AS escalated,
        CASE WHEN fr.effort IS NULL OR fr.effort <= 0 THEN 1.0
             ELSE least(2.0, greatest(0.5, sqrt(p.effort_ref / fr.effort))) END AS ef,
        p.*
    FROM requests_app_featurerequest fr
    CROSS JOIN base CROSS JOIN tw CROSS JOIN p
    LEFT JOIN s ON s.request_id = fr.id
    LEFT JOIN n ON n.request_id = fr.id
    LEFT JOIN c ON c.request_id = fr.id
    LEFT JOIN r ON r.request_id = fr.id
    LEFT JOIN e ON e.request_id = fr.id
), v AS (
    SELECT comp.*, 100.0 * (1 - exp(-x / revenue_ref)) AS rs FROM comp
), f AS (
    SELECT v.*,
        (weight_strategic * sf + weight_breadth * cb + weight_revenue * rs)
            / (weight_strategic + weight_breadth + weight_revenue) AS val,
        (x > 0 AND top >= single_deal_share * x AND cb < single_deal_max_breadth
            AND sf < single_deal_max_fit) AS single_deal,
        (asks = 0 AND sf >= strategic_no_demand_min_fit) AS no_demand
    FROM v
)
INSERT INTO strategy_requestscore (
    request_id, total, value, strategic_fit, customer_breadth, revenue_at_stake, effort_factor,
    revenue_exposure, open_pipeline, accounts_count, customers_count, flags, flag_single_deal,
    flag_strategic_no_demand, flag_escalated, explanation, policy_version, computed_at, stale,
    stale_cause, rice, wsjf
)
SELECT rid,
    CASE WHEN status = 'merged' THEN 0 ELSE val * ef END,
    CASE WHEN status = 'merged' THEN 0 ELSE val END,
    CASE WHEN status = 'merged' THEN 0 ELSE sf END,
    CASE WHEN status = 'merged' THEN 0 ELSE cb END,
    CASE WHEN status = 'merged' THEN 0 ELSE rs END,
    CASE WHEN status = 'merged' THEN 1 ELSE ef END,
    x, round(pipeline::numeric, 2), accounts, customers,
    to_jsonb(array_remove(ARRAY[
        CASE WHEN single_deal THEN 'single_deal' END,
        CASE WHEN no_demand THEN 'strategic_no_demand' END,
        CASE WHEN escalated THEN 'escalated' END], NULL)),
    single_deal, no_demand, escalated, '{}'::jsonb, version, now(), false, '', NULL, NULL
FROM f
ON CONFLICT (request_id) DO UPDATE SET
    total = EXCLUDED.total, value = EXCLUDED.value, strategic_fit = EXCLUDED.strategic_fit,
    customer_breadth = EXCLUDED.customer_breadth, revenue_at_stake = EXCLUDED.revenue_at_stake,
    effort_factor = EXCLUDED.effort_factor, revenue_exposure = EXCLUDED.revenue_exposure,
    open_pipeline = EXCLUDED.open_pipeline, accounts_count = EXCLUDED.accounts_count,
    customers_count = EXCLUDED.customers_count, flags = EXCLUDED.flags,
    flag_single_deal = EXCLUDED.flag_single_deal,
    flag_strategic_no_demand = EXCLUDED.flag_strategic_no_demand,
    flag_escalated = EXCLUDED.flag_escalated, explanation = EXCLUDED.explanation,
    policy_version = EXCLUDED.policy_version, computed_at = EXCLUDED.computed_at,
    stale = EXCLUDED.stale, stale_cause = EXCLUDED.stale_cause
"""


def sql_floor_same_rows() -> float | None:
    """The floor: the same rows (scores, flags and explanations) computed and upserted by one
    ``INSERT … SELECT … ON CONFLICT`` over every request, with no batching, row locks or history.
    On PostgreSQL the engine's statement is exactly that, so this is it run once over everything."""
    if connection.vendor != "postgresql":
        return None
    from . import scoring_sql
    from .services import _Run

    ids = list(FeatureRequest.objects.order_by("pk").values_list("pk", flat=True))
    ctx = _Run(cause="").ctx
    with transaction.atomic():
        start = time.perf_counter()
        scoring_sql.upsert_scores(ids, ctx, top_n=scoring.TOP_N)
    elapsed = time.perf_counter() - start
    analyze()
    return elapsed


def sql_floor() -> float | None:
    """The numbers alone (components, totals, flags; explanation left empty) by one statement, for
    reference: what the explanations cost on top (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return None
    with transaction.atomic(), connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(SQL_FLOOR)
    elapsed = time.perf_counter() - start
    analyze()
    return elapsed


def analyze() -> None:
    """Refresh planner statistics after bulk changes, as autovacuum would in time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def vacuum_scores() -> None:
    """Reclaim the dead row versions left by the previous full rewrite, as the nightly refresh
    does after its recompute; back-to-back rewrites would otherwise measure table bloat."""
    scores_vacuum()


def totals() -> dict[int, float]:
    return dict(RequestScore.objects.values_list("request_id", "total"))


def worker_available(timeout: float = 3.0) -> bool:
    from triage.celery import app

    if not settings.REDIS_URL or app.conf.task_always_eager:
        return False
    try:
        return app.send_task("triage.ping", args=["bench"]).get(timeout=timeout) == "bench"
    except Exception:  # noqa: BLE001 - no worker or no broker: the figure is reported as null
        return False


def deal_change_to_score(trials: int = 7, timeout: float = 30.0) -> list[float]:
    """Change a linked deal's amount through the service, commit, and wait until every request it
    is linked to has a fresh score computed after the change. Returns the seconds of each trial."""
    deal_ids = list(
        Ask.objects.filter(deal__isnull=False, deal__stage__in=["proposal", "negotiation"])
        .values_list("deal_id", flat=True)
        .distinct()[:trials]
    )
    durations = []
    for deal_id in deal_ids:
        deal = Deal.objects.get(pk=deal_id)
        linked = set(Ask.objects.filter(deal=deal).values_list("request_id", flat=True))
        start_at = timezone.now()
        start = time.perf_counter()
        with transaction.atomic():
            deal_update(actor=None, deal=deal, amount=deal.amount + Decimal(10_000))
        while True:
            fresh = RequestScore.objects.filter(
                request_id__in=linked, stale=False, computed_at__gte=start_at
            ).count()
            if fresh == len(linked):
                durations.append(time.perf_counter() - start)
                break
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"deal {deal_id}: scores not fresh after {timeout:.0f} s")
            time.sleep(0.01)
    return durations


def board_first_page(runs: int = 7, *, cold: bool = False) -> tuple[float | None, int | None]:
    """Median server time and query count of the board's first page for a product user.

    ``cold``: every view first drops this process's lens snapshot, as after a change to the data,
    so the time includes rebuilding it; otherwise the snapshot is current (nothing changed since
    the previous view)."""
    try:
        url = reverse("strategy:board")
    except Exception:  # noqa: BLE001 - no board page yet
        return None, None
    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    user.groups.add(Group.objects.get_or_create(name=PRODUCT)[0])
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    client.get(url, secure=True)  # warm-up: templates, caches, connection
    times = []
    queries = None
    for _ in range(runs):
        if cold:
            snapshots_forget()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, secure=True)
            times.append(time.perf_counter() - start)
        if response.status_code != 200:
            return None, None
        queries = len(captured)
    return statistics.median(times) * 1000, queries


def duplicate_suggest_p95(runs: int = 40) -> float | None:
    try:
        from requests_app.selectors import duplicate_suggestions
    except ImportError:
        return None
    titles = list(
        FeatureRequest.objects.filter(title__startswith=BENCH_PREFIX).values_list(
            "title", flat=True
        )[:runs]
    )
    times = []
    for title in titles:
        text = title.split(":", 1)[-1]
        start = time.perf_counter()
        list(duplicate_suggestions(text=text))
        times.append(time.perf_counter() - start)
    if not times:
        return None
    times.sort()
    return times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))] * 1000


def remove_bench_user() -> None:
    get_user_model().objects.filter(username=BENCH_USER).delete()


def _backend_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine only)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(work) -> float | None:
    """CPU seconds ``work`` costs this process plus its database backend, whatever else the
    machine is doing: on a busy machine it shows what the work would cost a quiet one."""
    if connection.vendor != "postgresql":
        return None
    backend, process = _backend_cpu(), time.process_time()
    work()
    after = _backend_cpu()
    if backend is None or after is None:
        return None
    return (after - backend) + (time.process_time() - process)


def full_recompute_one_connection() -> None:
    """The full recompute, its batches run one after the other on this connection."""
    from .services import BATCH_SIZE, _recompute_batch, _Run

    ids = list(FeatureRequest.objects.order_by("pk").values_list("pk", flat=True))
    run = _Run(cause="Benchmark")
    for start in range(0, len(ids), BATCH_SIZE):
        _recompute_batch(ids[start : start + BATCH_SIZE], run)
