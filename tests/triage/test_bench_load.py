"""The load benchmark: its statistics, and one short real run against gunicorn."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from tests.conftest import _test_database_url, require_real_services
from tests.factories import AccountFactory, FeatureRequestFactory
from triage import loadbench
from triage.management.commands.bench_load import _mix
from triage.roles import ALL_ROLES


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert loadbench.percentile(values, 50) == 50.0
    assert loadbench.percentile(values, 95) == 95.0
    assert loadbench.percentile(values, 99) == 99.0
    assert loadbench.percentile([3.0], 99) == 3.0
    assert loadbench.percentile([], 50) == 0.0


def test_summary_counts_errors_per_kind():
    results = loadbench.Results()
    for ms in (10, 20, 30, 40):
        results.record("board", ms / 1000, ok=True)
    results.record("submit", 0.5, ok=False, detail="HTTP 500")
    report = loadbench.summary(results, elapsed=2.0)
    assert report["requests"] == 5 and report["errors"] == 1
    assert report["kinds"]["board"] == {
        "count": 4,
        "errors": 0,
        "rps": 2.0,
        "p50_ms": 20.0,
        "p95_ms": 40.0,
        "p99_ms": 40.0,
    }
    assert report["error_examples"] == ["submit: HTTP 500"]


def test_the_mix_must_name_known_kinds_and_add_up():
    assert _mix("product=60,sales=40") == {"product": 60, "sales": 40}
    with pytest.raises(CommandError, match="add up to 100"):
        _mix("product=60,sales=30")
    with pytest.raises(CommandError, match="is not kind=percent"):
        _mix("marketing=100")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_short_run_against_gunicorn_has_no_errors(monkeypatch, capsys):
    require_real_services()
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    AccountFactory.create_batch(3)
    FeatureRequestFactory.create_batch(5)
    monkeypatch.setenv("DATABASE_URL", _test_database_url())
    monkeypatch.setenv("TRIAGE_TESTING", "1")  # the server checks the test's password hashes
    call_command(
        "bench_load",
        users=4,
        duration=4,
        think=0.2,
        port=8391,
        mix="product=50,sales=50",
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["errors"] == 0, report["error_examples"]
    assert report["kinds"]["board"]["count"] > 0
    assert report["kinds"]["submit"]["count"] > 0
    assert report["users"] == 4 and report["workers"] == 2
    # A worker ran beside the server and scored the requests submitted through the form.
    assert report["celery_worker"] is True
    assert report["submitted_during_run"] > 0 and report["scored_during_run"] > 0
