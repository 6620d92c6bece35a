"""On PostgreSQL the recompute runs the maths in SQL (strategy.scoring_sql). It must agree with the
Python reference (strategy.scoring.score_request) on every number, flag and sentence."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from strategy import scoring, services
from strategy.models import RequestScore
from tests.conftest import IN_CI
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres_only():
    if not settings.IS_POSTGRES:
        if IN_CI:
            pytest.fail("the SQL engine test must run on PostgreSQL in CI")
        pytest.skip("the SQL engine runs on PostgreSQL only")


def assert_same(python, sql, path="explanation"):
    if isinstance(python, dict):
        assert isinstance(sql, dict), path
        assert python.keys() == sql.keys(), f"{path}: {python.keys() ^ sql.keys()}"
        for key in python:
            assert_same(python[key], sql[key], f"{path}.{key}")
    elif isinstance(python, list):
        assert isinstance(sql, list) and len(python) == len(sql), path
        for i, (a, b) in enumerate(zip(python, sql, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(python, float | int) and not isinstance(python, bool):
        assert sql == pytest.approx(python, abs=0.011), path
    else:
        assert python == sql, path


def test_sql_engine_matches_the_python_reference(db):
    today = timezone.localdate()
    themes = [
        ThemeFactory(name="Enterprise readiness", weight=30),
        ThemeFactory(name="Open platform", weight=25),
        ThemeFactory(name="Self-serve", weight=20),
        ThemeFactory(name="Mobile", weight=15),
        ThemeFactory(name="Retired bet", weight=40, active=False),
    ]
    customers = [
        AccountFactory(name=f"Customer {i}", arr=Decimal(50_000 * (i + 1))) for i in range(8)
    ]
    prospect = AccountFactory(name="Prospect Co", is_customer=False, arr=0)
    deals = [
        DealFactory(account=customers[0], name="Renewal", amount=Decimal("250000")),
        DealFactory(
            account=customers[1],
            name="Upsell",
            amount=Decimal("90000"),
            close_date=today - dt.timedelta(days=20),  # overdue
        ),
        DealFactory(
            account=customers[2],
            name="Expansion",
            amount=Decimal("40000"),
            close_date=today + dt.timedelta(days=200),
        ),
        DealFactory(
            account=prospect, name="New logo", amount=Decimal("1200000"), stage="negotiation"
        ),
        DealFactory(account=customers[3], name="Won", amount=Decimal("70000"), stage="closed_won"),
        DealFactory(account=customers[4], name="Undated", amount=Decimal("30000"), close_date=None),
    ]
    broad = FeatureRequestFactory(title="Broad", effort=8)
    for i, account in enumerate(customers[:7]):
        AskFactory(request=broad, account=account, importance=["important", "critical"][i % 2])
    AskFactory(request=broad, account=customers[0], deal=deals[0], importance="nice_to_have")
    AskFactory(request=broad, account=customers[0], deal=deals[0], importance="blocker")
    AskFactory(request=broad, account=customers[1], deal=deals[1])
    AskFactory(request=broad, account=customers[2], deal=deals[2])
    AskFactory(request=broad, account=customers[3], deal=deals[4])
    AskFactory(request=broad, account=customers[4], deal=deals[5])
    AskFactory(request=broad, account=prospect)
    for theme, strength in zip(themes, [3, 2, 1, 2, 3], strict=True):
        AlignmentFactory(request=broad, theme=theme, strength=strength)
    narrow = FeatureRequestFactory(title="Narrow", effort=1)
    AskFactory(request=narrow, account=prospect, deal=deals[3], importance="blocker")
    idea = FeatureRequestFactory(title="Idea", effort=40)
    AlignmentFactory(request=idea, theme=themes[0], strength=3)
    AlignmentFactory(request=idea, theme=themes[1], strength=3)
    AlignmentFactory(request=idea, theme=themes[2], strength=3)
    empty = FeatureRequestFactory(
        title="Empty",
        rice_impact="0.5",
        rice_confidence=50,
        rice_effort_months=Decimal("2"),
        wsjf_business_value=3,
        wsjf_time_criticality=5,
        wsjf_risk_reduction=1,
        wsjf_job_size=8,
    )
    escalated = FeatureRequestFactory(title="Escalated", status="declined")
    AskFactory(request=escalated, account=customers[5])
    EscalationFactory(request=escalated)
    merged = FeatureRequestFactory(title="Merged", status="merged", merged_into=broad)

    ids = [r.pk for r in (broad, narrow, idea, empty, escalated, merged)]
    services.scores_recompute(request_ids=ids)
    run = services._Run(cause="")
    inputs = services._inputs(ids, run)
    for pk in ids:
        row = RequestScore.objects.get(request_id=pk)
        reference = scoring.score_request(inputs[pk], run.ctx)
        expected = json.loads(json.dumps(reference.explanation))
        expected["computed_at"] = row.explanation["computed_at"]
        assert_same(expected, row.explanation, f"request {pk}")
        assert row.total == pytest.approx(reference.total, abs=1e-9)
        assert row.flags == reference.flags
        assert row.rice == (None if reference.rice is None else pytest.approx(reference.rice))
        assert row.wsjf == (None if reference.wsjf is None else pytest.approx(reference.wsjf))
        assert row.accounts_count == reference.accounts_count
        assert row.customers_count == reference.customers_count
    assert RequestScore.objects.get(request=narrow).flags == ["single_deal"]
    assert RequestScore.objects.get(request=idea).flags == ["strategic_no_demand"]
    assert RequestScore.objects.get(request=escalated).flags == ["escalated"]
    assert (
        len(
            RequestScore.objects.get(request=broad)
            .explanation["components"]["strategic_fit"]["summary"]
            .split("; ")
        )
        == 4
    )  # three themes, then "and 1 more."
