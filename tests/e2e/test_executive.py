"""The executive resolves an escalation in the browser; the rep then sees the outcome and why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from requests_app.models import DealStage, DecisionKind, EscalationStatus, RequestStatus
from strategy.models import RequestScore
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RATIONALE = "Acme is our largest renewal this quarter; build it for 2027 and reuse it for billing."


@pytest.fixture
def contested(users):
    sales, product = users["sales"], users["product"]
    today = timezone.localdate()
    enterprise = ThemeFactory(name="Enterprise readiness", weight=40)
    selfserve = ThemeFactory(name="Self-serve growth", weight=20)
    request = FeatureRequestFactory(
        title="Custom PDF invoice layout",
        problem="Acme's finance team re-types every invoice into their own layout.",
        created_by=sales,
        status=RequestStatus.DECLINED,
        effort=13,
    )
    acme = AccountFactory(name="Acme Corp", arr=Decimal("180000"))
    renewal = DealFactory(
        account=acme,
        name="Acme renewal 2027",
        amount=Decimal("1200000"),
        stage=DealStage.NEGOTIATION,
        probability=75,
        close_date=today + dt.timedelta(days=18),
        owner=sales,
    )
    AskFactory(
        request=request,
        account=acme,
        deal=renewal,
        created_by=sales,
        importance="blocker",
        note="Without the layout we cannot renew.",
    )
    AlignmentFactory(request=request, theme=enterprise, strength=1)
    decision = DecisionFactory(
        request=request,
        kind=DecisionKind.DECLINE,
        decided_by=product,
        rationale="Serves one customer; off the 2027 themes.",
    )
    ranked_above = []
    for title, total, pipeline, accounts in [
        ("SAML single sign-on", 78, "1900000", 23),
        ("Bulk export to CSV", 64, "420000", 7),
    ]:
        above = FeatureRequestFactory(title=title, status=RequestStatus.UNDER_REVIEW, effort=5)
        AlignmentFactory(request=above, theme=selfserve, strength=2)
        ranked_above.append((above, total, pipeline, accounts))
    escalation = EscalationFactory(
        request=request,
        raised_by=sales,
        contested_decision=decision,
        business_case="Acme renews for $1.2M in December; their CFO made the layout a condition.",
        outcome_requested="Build it by 2027-Q1.",
        due_at=timezone.now() - dt.timedelta(days=1),
    )
    escalation.deals.add(renewal)
    other = EscalationFactory(
        request=FeatureRequestFactory(title="Offline mode for the mobile app"),
        raised_by=sales,
        due_at=timezone.now() + dt.timedelta(days=4),
    )
    other.deals.add(DealFactory(name="Kestrel expansion", amount=Decimal("240000")))
    # Scores last: every save above schedules a recompute that would replace them.
    RequestScore.objects.update_or_create(
        request=request,
        defaults={
            "total": 18,
            "value": 29,
            "effort_factor": 0.62,
            "strategic_fit": 13,
            "customer_breadth": 2,
            "revenue_at_stake": 88,
            "flags": ["single_deal"],
            "flag_single_deal": True,
            "stale": False,
            "policy_version": 1,
            "computed_at": timezone.now(),
            "explanation": {
                "flags": ["single_deal"],
                "flag_reasons": {
                    "single_deal": "Acme renewal 2027 supplies 100% of revenue at stake."
                },
                "components": {
                    "strategic_fit": {
                        "score": 13,
                        "contribution": 5.9,
                        "summary": "Weak on Enterprise readiness only.",
                    },
                    "customer_breadth": {
                        "score": 2,
                        "contribution": 0.7,
                        "summary": "1 customer asks.",
                        "customers": 1,
                        "customers_total": 412,
                        "arr_share": 0.004,
                    },
                    "revenue_at_stake": {
                        "score": 88,
                        "contribution": 17.6,
                        "summary": "Acme renewal 2027, $1,200,000 in negotiation, closes soon.",
                    },
                    "effort": {"effort": 13, "factor": 0.62, "summary": "factor 0.62"},
                },
            },
        },
    )
    for above, total, pipeline, accounts in ranked_above:
        RequestScore.objects.update_or_create(
            request=above,
            defaults={
                "total": total,
                "stale": False,
                "computed_at": timezone.now(),
                "open_pipeline": Decimal(pipeline),
                "accounts_count": accounts,
            },
        )
    return escalation


def test_exec_overturns_and_sales_sees_the_outcome(page, screenshot, users, contested):
    login(page, "exec")
    assert page.url.endswith("/escalations/")
    heading = page.get_by_role("heading", level=1)
    assert "Escalations" in heading.inner_text() and "1 overdue" in heading.inner_text()
    first_row = page.locator("table.queue tbody tr").first
    assert "Custom PDF invoice layout" in first_row.inner_text()
    assert "Overdue" in first_row.inner_text()
    assert "$1,200,000" in first_row.inner_text()
    screenshot("exec-queue")

    page.get_by_role("link", name="Custom PDF invoice layout").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Sales' case").is_visible()
    assert page.get_by_role("heading", name="Product's case").is_visible()
    product_case = page.locator("section.case-product").inner_text()
    assert "Serves one customer; off the 2027 themes." in product_case
    # Two requests above it, and the other escalated request (scored by the engine, lower).
    assert "rank #3 of 4 open requests" in product_case
    assert "passes 2 open requests" in page.locator("section.cost").inner_text()
    screenshot("exec-escalation")

    # Submitting without a quarter explains what is missing next to the field.
    page.get_by_label("Overturn").check()
    page.get_by_label("Rationale").fill(RATIONALE)
    page.get_by_role("button", name="Resolve escalation").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Pick the quarter it ships in.").is_visible()
    assert page.get_by_label("Rationale").input_value() == RATIONALE
    screenshot("exec-resolve-error")

    quarter = (
        page.get_by_label("Target quarter", exact=True)
        .locator("option")
        .nth(2)
        .get_attribute("value")
    )
    page.get_by_label("Target quarter", exact=True).select_option(quarter)
    page.get_by_role("button", name="Resolve escalation").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Escalation resolved.").is_visible()
    resolution = page.locator("section.resolution").inner_text()
    assert "Overturn" in resolution and quarter in resolution and RATIONALE in resolution
    screenshot("exec-resolved")

    contested.refresh_from_db()
    assert contested.status == EscalationStatus.RESOLVED
    assert contested.request.status == RequestStatus.ACCEPTED

    page.get_by_role("link", name="← Escalations").click()
    page.get_by_role("link", name="Resolved 1").click()
    page.wait_for_load_state("networkidle")
    resolved_row = page.locator("table.queue tbody tr").first.inner_text()
    assert "Custom PDF invoice layout" in resolved_row and "Overturn" in resolved_row
    assert "Elena Marsh" in resolved_row
    screenshot("exec-queue-resolved")

    page.get_by_role("link", name="Portfolio", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Portfolio", level=1).is_visible()
    screenshot("exec-portfolio")
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("table.audit").get_by_text("escalation.resolved").is_visible()
    screenshot("exec-audit")

    page.context.clear_cookies()
    login(page, "sales")
    assert page.url.endswith("/requests/mine/")
    row = page.locator("tr", has_text="Custom PDF invoice layout")
    text = row.inner_text()
    assert "Accepted" in text
    assert "Accept" in text and "Elena Marsh" in text
    assert RATIONALE[:60] in text
    assert page.locator(".bell .badge").inner_text() == "1"  # the resolution notice
    screenshot("sales-my-requests-after-overturn")
