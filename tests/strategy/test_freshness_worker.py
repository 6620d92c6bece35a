"""Scores stay fresh through a real Celery worker on PostgreSQL + Redis (DESIGN section 4).

Each change is committed by the test, the recompute travels through Redis to the worker process,
and the test waits for the score rows to come back fresh. The others must not move.
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from requests_app import services as request_services
from requests_app.models import Deal
from strategy import services, tasks
from strategy.models import RequestScore, ScoreHistory, StrategicTheme
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    FeatureRequestFactory,
    ThemeFactory,
)
from triage.celery import app as celery_app
from triage.celery import ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLOSED_PORT_BROKER = "redis://127.0.0.1:6390/0"


def wait_until(predicate, *, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def snapshot() -> dict[int, tuple]:
    return {
        s.request_id: (s.total, s.computed_at, s.stale)
        for s in RequestScore.objects.order_by("request_id")
    }


def all_fresh() -> bool:
    return RequestScore.objects.exists() and not RequestScore.objects.filter(stale=True).exists()


def fresh_after(request, moment) -> bool:
    return RequestScore.objects.filter(
        request=request, stale=False, computed_at__gt=moment
    ).exists()


@pytest.fixture
def world(celery_worker_process, sales_user):
    cache.clear()
    enterprise = ThemeFactory(name="Enterprise", weight=30)
    acme = AccountFactory(name="Acme", arr=Decimal("300000"))
    globex = AccountFactory(name="Globex", arr=Decimal("200000"))
    acme_deal = DealFactory(account=acme, name="Acme renewal", amount=Decimal("100000"))
    globex_deal = DealFactory(account=globex, name="Globex upsell", amount=Decimal("60000"))
    sso = FeatureRequestFactory(title="SSO")
    export = FeatureRequestFactory(title="Export")
    idle = FeatureRequestFactory(title="Nobody asked")
    AskFactory(request=sso, account=acme, deal=acme_deal)
    AskFactory(request=export, account=globex, deal=globex_deal)
    AlignmentFactory(request=sso, theme=enterprise, strength=3)
    # Every write above committed and enqueued; the worker scores everything.
    wait_until(all_fresh, what="the worker to score the new requests")
    assert RequestScore.objects.count() == 3
    # The worker runs one task at a time, in order: once this answers, no recompute sent by the
    # writes above is still queued to blur what the test does next.
    assert ping.delay("drained").get(timeout=30) == "drained"
    return {
        "sso": sso,
        "export": export,
        "idle": idle,
        "acme": acme,
        "acme_deal": acme_deal,
        "enterprise": enterprise,
        "user": sales_user,
    }


def test_deal_change_reaches_only_linked_scores(world):
    before = snapshot()
    moment = timezone.now()
    request_services.deal_update(
        actor=world["user"], deal=world["acme_deal"], amount=Decimal("150000")
    )
    wait_until(lambda: fresh_after(world["sso"], moment), what="the SSO score")
    after = snapshot()
    sso = world["sso"].pk
    assert after[sso][0] > before[sso][0]
    for other in (world["export"].pk, world["idle"].pk):
        assert after[other] == before[other]  # not even recomputed
    cause = ScoreHistory.objects.filter(request_id=sso).order_by("pk").last().cause
    assert cause == "deal Acme renewal amount $100,000 → $150,000"


def test_ask_added_reaches_only_its_request(world):
    before = snapshot()
    moment = timezone.now()
    request_services.ask_add(
        actor=world["user"], request=world["idle"], account=world["acme"], importance="critical"
    )
    wait_until(lambda: fresh_after(world["idle"], moment), what="the idle request's score")
    after = snapshot()
    assert after[world["idle"].pk][0] > before[world["idle"].pk][0]
    assert after[world["sso"].pk] == before[world["sso"].pk]
    assert after[world["export"].pk] == before[world["export"].pk]


def test_theme_weight_change_rescores_aligned_requests(world):
    before = snapshot()
    moment = timezone.now()
    ThemeFactory(name="Platform", weight=30)  # halves SSO's fit: 30 of 60 active weight
    wait_until(
        lambda: all_fresh() and fresh_after(world["export"], moment), what="a full recompute"
    )
    after = snapshot()
    assert after[world["sso"].pk][0] < before[world["sso"].pk][0]
    # no alignment: recomputed, same total
    assert after[world["export"].pk][0] == pytest.approx(before[world["export"].pk][0])
    moment = timezone.now()
    theme = StrategicTheme.objects.get(name="Platform")
    theme.weight = 0
    theme.save()
    wait_until(lambda: fresh_after(world["sso"], moment), what="the SSO score")
    assert snapshot()[world["sso"].pk][0] == pytest.approx(before[world["sso"].pk][0])
    cause = ScoreHistory.objects.filter(request=world["sso"]).order_by("pk").last().cause
    assert cause == "theme Platform weight 30 → 0"


def test_policy_change_rescores_with_the_new_version(world):
    before = snapshot()
    moment = timezone.now()
    services.policy_update(actor=None, reason="Revenue counts double", revenue_ref=125_000)
    wait_until(lambda: all_fresh() and fresh_after(world["idle"], moment), what="a full recompute")
    after = snapshot()
    assert after[world["sso"].pk][0] > before[world["sso"].pk][0]
    assert after[world["export"].pk][0] > before[world["export"].pk][0]
    assert after[world["idle"].pk][0] == before[world["idle"].pk][0] == 0
    assert set(RequestScore.objects.values_list("policy_version", flat=True)) == {2}


@contextlib.contextmanager
def broker_down():
    """Point the app at a port where nothing listens. Connection pools are keyed by URL, so
    forgetting the app's cached pools makes the next publish connect to the new URL."""
    previous = celery_app.conf.broker_url

    def reset_pools():
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    celery_app.conf.broker_url = CLOSED_PORT_BROKER
    reset_pools()
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous
        reset_pools()


def test_broker_down_write_succeeds_scores_stay_stale_until_the_sweep(world):
    before = snapshot()
    with broker_down():
        assert tasks.scores_recompute_enqueue() is False
        deal = request_services.deal_update(
            actor=world["user"], deal=world["acme_deal"], amount=Decimal("400000")
        )
        assert Deal.objects.get(pk=deal.pk).amount == Decimal("400000")  # the write stands
        time.sleep(2)
        sso = RequestScore.objects.get(request=world["sso"])
        assert sso.stale  # never shown as fresh while it is not
        assert sso.total == before[world["sso"].pk][0]
        assert sso.stale_cause == "deal Acme renewal amount $100,000 → $400,000"
    # Broker back: the periodic sweep (beat sends it every minute) repairs through the worker.
    assert tasks.scores_sweep_task.delay().get(timeout=30) == 1
    sso = RequestScore.objects.get(request=world["sso"])
    assert not sso.stale and sso.total > before[world["sso"].pk][0]
    assert ScoreHistory.objects.filter(request=world["sso"]).order_by("pk").last().cause == (
        "deal Acme renewal amount $100,000 → $400,000"
    )
    assert snapshot()[world["export"].pk] == before[world["export"].pk]
