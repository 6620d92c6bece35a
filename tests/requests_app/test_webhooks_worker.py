"""Outbound webhooks through the real broker and a real worker process, retry included."""

from __future__ import annotations

import os
import time

import pytest

from requests_app.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from tests.factories import FeatureRequestFactory

from .test_webhooks import Receiver

pytestmark = pytest.mark.integration

# The worker process is started once per session with this environment: short backoff so a
# retry is observable within the test (read at collection, before any worker starts).
os.environ.setdefault("WEBHOOK_RETRY_BASE_SECONDS", "0.5")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.mark.django_db(transaction=True)
def test_worker_retries_with_backoff_until_delivered(celery_worker_process, receiver):
    receiver.statuses = [502]
    WebhookSubscription.objects.create(
        url=receiver.url, secret="s" * 32, events=["request.created"]
    )
    FeatureRequestFactory()
    deadline = time.monotonic() + 30
    delivery = None
    while time.monotonic() < deadline:
        delivery = WebhookDelivery.objects.first()
        if delivery and delivery.status == DeliveryStatus.DELIVERED:
            break
        time.sleep(0.2)
    assert delivery is not None and delivery.status == DeliveryStatus.DELIVERED
    tries = list(delivery.tries.order_by("number"))
    assert [t.status_code for t in tries] == [502, 200]
    assert (tries[1].created_at - tries[0].created_at).total_seconds() >= 0.4
    assert len(receiver.requests) == 2
