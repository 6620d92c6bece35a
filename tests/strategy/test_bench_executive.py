from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from requests_app.models import AuditEvent, Escalation, FeatureRequest

pytestmark = pytest.mark.django_db


def test_bench_executive_measures_and_leaves_nothing_behind(capsys):
    call_command(
        "bench_executive",
        requests=300,
        asks=900,
        deals=100,
        accounts=30,
        escalations=20,
        repeat=1,
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("queue_first_page", "escalation_case", "portfolio", "audit_first_page"):
        assert result[f"{name}_ms"] >= 0
        assert 0 < result[f"{name}_queries"] <= 12
    assert FeatureRequest.objects.count() == 0
    assert Escalation.objects.count() == 0
    assert AuditEvent.objects.count() == 0
