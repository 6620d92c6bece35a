"""Redis stopped during writes, and a worker killed in the middle of a recompute.

Each test runs its own redis-server (127.0.0.1:6391/6392) as the broker and cache, and its own
worker processes, and stops them all at the end.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from requests_app import services as request_services
from requests_app.models import Importance, ProductArea
from strategy.models import RequestScore, StrategicTheme, ThemeAlignment
from strategy.services import scores_recompute
from strategy.synthetic import synthetic_data_build
from strategy.tasks import scores_recompute_stale_task, scores_sweep_task
from tests.conftest import require_real_services
from tests.factories import AccountFactory, DealFactory
from triage.celery import app as celery_app
from triage.roles import ALL_ROLES

from .services import Worker, private_redis, wait_for, workers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COMPARED = [
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
    "policy_version",
]


@contextmanager
def broker_and_cache(settings, url: str):
    """Point this process's Celery producer and Django cache at ``url``."""
    previous = celery_app.conf.broker_url

    def reset_pools():
        # Pools are keyed by URL: forgetting the app's cached ones makes the next publish
        # connect to the new URL (closing them would close the shared pool of the old URL).
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    celery_app.conf.broker_url = url
    reset_pools()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "faults",
        }
    }
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous
        reset_pools()


def _scores(ids=None) -> dict[int, tuple]:
    rows = RequestScore.objects.order_by("request_id")
    if ids is not None:
        rows = rows.filter(request_id__in=ids)
    return {row[0]: row[1:] for row in rows.values_list("request_id", *COMPARED)}


@pytest.fixture
def roles():
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)


def test_writes_succeed_while_redis_is_down_and_the_sweep_repairs_the_scores(
    settings, roles, sales_user, product_user
):
    require_real_services()
    account = AccountFactory(name="Acme Freight", arr=Decimal("400000"))
    other = AccountFactory(name="Borealis Foods", arr=Decimal("250000"))
    AccountFactory.create_batch(8)  # the rest of the customer base
    deal = DealFactory(account=account, name="Acme renewal", amount=Decimal("80000"))
    theme = StrategicTheme.objects.create(name="Enterprise readiness", weight=40)
    request = request_services.request_submit(
        actor=sales_user,
        title="Route planning export",
        problem="Dispatchers re-key every route by hand.",
        product_area=ProductArea.INTEGRATIONS,
        account=account,
        deal=deal,
        importance=Importance.CRITICAL,
    )
    ThemeAlignment.objects.create(request=request, theme=theme, strength=2)
    scores_recompute()
    # A worker of an earlier test may be recomputing the same rows (row locks are skipped, not
    # waited for): wait until the score is fresh before breaking the broker.
    wait_for(
        lambda: not RequestScore.objects.get(request=request).stale,
        timeout=30,
        message="the score never became fresh before the broker was stopped",
    )
    before = RequestScore.objects.get(request=request)

    with (
        private_redis(6391) as redis,
        broker_and_cache(settings, redis.url),
        workers(Worker(name="sweeper", broker_url=redis.url)) as (worker,),
    ):
        worker.wait_ready()
        redis.shutdown_nosave()

        started = time.monotonic()
        request_services.deal_update(actor=sales_user, deal=deal, amount=Decimal("900000"))
        request_services.ask_add(
            actor=sales_user, request=request, account=other, importance=Importance.BLOCKER
        )
        assert time.monotonic() - started < 15, "writes waited too long on the dead broker"
        deal.refresh_from_db()
        assert deal.amount == Decimal("900000")
        assert request.asks.count() == 2
        stale = RequestScore.objects.get(request=request)
        assert stale.stale
        assert stale.total == before.total  # nothing recomputed it

        redis.start()
        scores_sweep_task.delay()
        wait_for(
            lambda: not RequestScore.objects.get(request=request).stale,
            timeout=60,
            message=f"the sweep did not repair the score; worker log:\n{worker.log()[-3000:]}",
        )
    repaired = _scores([request.pk])
    assert repaired[request.pk][0] != before.total
    scores_recompute(request_ids=[request.pk])  # the same inputs computed here agree
    assert _scores([request.pk]) == repaired


def test_a_worker_killed_mid_recompute_leaves_the_work_to_another_with_the_same_result(
    settings, roles
):
    require_real_services()
    synthetic_data_build(requests=30_000)
    scores_recompute()
    undisturbed = _scores()
    assert len(undisturbed) == 30_000
    RequestScore.objects.update(
        stale=True, total=0, value=0, strategic_fit=0, customer_breadth=0, revenue_at_stake=0
    )

    with private_redis(6392) as redis, broker_and_cache(settings, redis.url):
        first = Worker(name="first", broker_url=redis.url, CELERY_VISIBILITY_TIMEOUT="3")
        second = Worker(name="second", broker_url=redis.url, CELERY_VISIBILITY_TIMEOUT="3")
        with workers(first):
            first.wait_ready()
            scores_recompute_stale_task.delay()
            done = wait_for(
                lambda: RequestScore.objects.filter(stale=False).count(),
                timeout=60,
                interval=0.05,
                message=f"the first worker never committed a batch:\n{first.log()[-3000:]}",
            )
            first.kill()
        remaining = RequestScore.objects.filter(stale=True).count()
        assert done < 30_000 and remaining > 0, "the recompute finished before the kill"
        with workers(second):
            second.wait_ready()
            wait_for(
                lambda: not RequestScore.objects.filter(stale=True).exists(),
                timeout=120,
                interval=0.5,
                message=f"nobody finished the recompute:\n{second.log()[-3000:]}",
            )
            assert "strategy.scores_recompute_stale" in second.log()
    assert _scores() == undisturbed
