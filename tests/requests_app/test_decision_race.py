"""Two managers deciding the same request at the same moment: exactly one decision is kept."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from requests_app import services
from requests_app.models import Decision, FeatureRequest
from tests.factories import FeatureRequestFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs concurrent writers (PostgreSQL)"),
]


def test_simultaneous_decisions_one_wins_the_other_conflicts():
    request = FeatureRequestFactory()
    managers = [UserFactory(username=f"pm{i}") for i in range(2)]
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(user, kind):
        try:
            start.wait(timeout=10)
            fr = FeatureRequest.objects.get(pk=request.pk)
            services.decision_record(
                actor=user,
                request=fr,
                kind=kind,
                rationale=f"{user.username} says {kind}",
                target_quarter="2027-Q1",
                expected_version=1,
            )
            outcomes[user.username] = "saved"
        except services.ConflictError:
            outcomes[user.username] = "conflict"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(managers[0], "accept")),
        threading.Thread(target=decide, args=(managers[1], "decline")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    decision = Decision.objects.get()
    winner = next(name for name, outcome in outcomes.items() if outcome == "saved")
    assert decision.decided_by.username == winner
    fresh = FeatureRequest.objects.get(pk=request.pk)
    assert fresh.version == 2
    assert fresh.status == {"accept": "accepted", "decline": "declined"}[decision.kind]
