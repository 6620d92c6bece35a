"""An escalation's emails go through Redis to a real worker, after commit, once each."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from requests_app import services
from requests_app.models import Notification, RequestStatus
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    FeatureRequestFactory,
    UserFactory,
)
from triage.roles import EXECUTIVE, SALES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_escalation_emails_are_sent_by_the_worker_after_commit(celery_worker_process):
    rep = UserFactory(username="rep-int", roles=[SALES])
    executive = UserFactory(username="exec-int", roles=[EXECUTIVE])
    request = FeatureRequestFactory(created_by=rep, status=RequestStatus.DECLINED)
    account = AccountFactory()
    deal = DealFactory(account=account, amount=Decimal("500000"), owner=rep)
    AskFactory(request=request, account=account, deal=deal, created_by=rep)

    services.escalation_open(
        actor=rep,
        request=request,
        deals=[deal],
        business_case="Renewal at risk.",
        outcome_requested="Reconsider for Q1.",
    )
    notification = Notification.objects.get(recipient=executive, verb="escalation.opened")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        notification.refresh_from_db()
        if notification.emailed_at is not None:
            break
        time.sleep(0.2)
    assert notification.emailed_at is not None, "the worker did not send the email"
    assert not Notification.objects.filter(recipient=rep).exists()
