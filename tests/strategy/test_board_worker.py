"""Product actions on the pages reach the scores through a real worker (PostgreSQL + Redis)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.urls import reverse

from strategy import services
from strategy.models import RequestScore
from tests.factories import AccountFactory, AskFactory, FeatureRequestFactory, ThemeFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_until(predicate, *, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_alignment_on_the_request_page_moves_the_score(celery_worker_process, client, users):
    theme = ThemeFactory(name="Enterprise", weight=40)
    request = FeatureRequestFactory(title="SAML single sign-on")
    AskFactory(request=request, account=AccountFactory(arr=Decimal("50000")))
    wait_until(
        lambda: RequestScore.objects.filter(request=request, stale=False).exists(),
        what="the first score",
    )
    before = RequestScore.objects.get(request=request)
    assert before.strategic_fit == 0 and not before.stale

    client.force_login(users["product"])
    response = client.post(
        reverse("strategy:request_alignments", args=[request.pk]), {f"theme_{theme.pk}": "3"}
    )
    assert response.status_code == 302
    wait_until(
        lambda: RequestScore.objects.filter(
            request=request, stale=False, strategic_fit=100
        ).exists(),
        what="the worker to rescore the request",
    )
    panel = client.get(reverse("strategy:request_score", args=[request.pk])).content.decode()
    after = RequestScore.objects.get(request=request)
    assert after.total > before.total
    assert f'data-testid="score-total">{after.total:.0f}<' in panel
    assert "hx-trigger" not in panel  # fresh: the panel stops polling
    assert "alignment with Enterprise set to Strong" in panel  # the history names the cause


def test_saving_weights_recomputes_through_workers_until_nothing_is_stale(
    celery_worker_process, client, users
):
    for i in range(5):
        AskFactory(request=FeatureRequestFactory(title=f"R{i}"))
    wait_until(
        lambda: not RequestScore.objects.filter(stale=True).exists(), what="the first scores"
    )
    policy = services.policy_current()
    client.force_login(users["product"])
    response = client.post(
        reverse("strategy:policy_save"),
        {
            "weight_strategic": policy.weight_strategic,
            "weight_breadth": policy.weight_breadth,
            "weight_revenue": 0.6,
            "revenue_ref": policy.revenue_ref,
            "effort_ref": policy.effort_ref,
            "reason": "Revenue matters more this year.",
        },
    )
    assert response.status_code == 302
    assert services.policy_current().version == policy.version + 1
    progress = reverse("strategy:recompute_progress")
    wait_until(
        lambda: "stale-count" not in client.get(progress).content.decode(),
        what="the progress indicator to reach zero",
    )
    assert "All scores are up to date." in client.get(progress).content.decode()
    assert set(RequestScore.objects.values_list("policy_version", flat=True)) == {
        policy.version + 1
    }
