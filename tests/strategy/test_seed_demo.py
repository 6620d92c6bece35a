from __future__ import annotations

import json

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from requests_app.models import Account, AuditEvent, Deal, Escalation, FeatureRequest
from strategy.models import StrategicTheme

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_believable(capsys):
    call_command("seed_demo")
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    audit_count = AuditEvent.objects.count()
    call_command("seed_demo")
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["requests_created"] == 0
    assert {k: v for k, v in first.items() if k != "requests_created"} == {
        k: v for k, v in second.items() if k != "requests_created"
    }
    assert AuditEvent.objects.count() == audit_count
    assert first["requests"] >= 40
    assert Account.objects.filter(is_customer=True).count() == 85
    assert Account.objects.filter(is_customer=False).exists()
    assert Deal.objects.open().count() > 600
    assert not Deal.objects.open().filter(close_date__isnull=True).exists()
    assert StrategicTheme.objects.filter(active=True).count() >= 4
    assert Escalation.objects.filter(status="open").count() == 1
    # a request nobody asked for yet, and broad ones with many accounts
    assert FeatureRequest.objects.filter(asks__isnull=True).exists()
    assert (
        max(r.asks.values("account").distinct().count() for r in FeatureRequest.objects.all()) >= 9
    )
    for username in ("sales", "product", "exec", "admin"):
        assert authenticate(username=username, password="demo") is not None
