"""A product manager's day: filter the board, open a request, align it, decide, view the matrix."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from requests_app.models import DealStage, Decision, Importance, Notification, Segment
from strategy.models import RequestScore
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _board_data(sales_user):
    enterprise = ThemeFactory(name="Enterprise readiness", weight=40)
    ThemeFactory(name="Self-serve growth", weight=25)
    acme = AccountFactory(name="Acme Corp", segment=Segment.ENTERPRISE, arr=Decimal("240000"))
    globex = AccountFactory(name="Globex", segment=Segment.MID_MARKET, arr=Decimal("90000"))
    renewal = DealFactory(
        account=acme, name="Acme renewal", amount=Decimal("1200000"), stage=DealStage.NEGOTIATION
    )
    sso = FeatureRequestFactory(
        title="SAML single sign-on", product_area="security", created_by=sales_user
    )
    pdf = FeatureRequestFactory(
        title="Custom PDF invoice layout", product_area="billing", created_by=sales_user
    )
    export = FeatureRequestFactory(title="Bulk export to CSV", product_area="reporting")
    AskFactory(request=sso, account=acme, created_by=sales_user)
    AskFactory(request=sso, account=globex, created_by=sales_user)
    AskFactory(
        request=pdf,
        account=acme,
        deal=renewal,
        importance=Importance.BLOCKER,
        created_by=sales_user,
        note="Without it Acme will not renew.",
    )
    AskFactory(request=export, account=globex)
    return {"theme": enterprise, "sso": sso, "pdf": pdf, "export": export}


def _ensure_scores(requests):
    """Scores exist for every request (computed by the engine when it runs in-process)."""
    for request in requests:
        RequestScore.objects.get_or_create(request=request, defaults={"stale": True})


def _score(page) -> str:
    return page.get_by_test_id("score-total").inner_text().strip()


def test_product_manager_triages(page, screenshot, users, sales_user):
    data = _board_data(sales_user)
    _ensure_scores([data["sso"], data["pdf"], data["export"]])
    login(page, "product")
    assert page.get_by_role("heading", name="Triage board", level=1).is_visible()
    rows = page.locator("table.board tbody tr:not(.why-row)")
    assert rows.count() == 3
    screenshot("board-all")

    # Filter: billing only.
    page.get_by_label("Area").select_option("billing")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("networkidle")
    assert rows.count() == 1
    assert rows.first.get_by_role("link", name="Custom PDF invoice layout").is_visible()

    # Expand the row's explanation in place.
    rows.first.get_by_role("link", name="Why?").click()
    why = page.locator(f"#why-{data['pdf'].pk}")
    why.wait_for(state="visible")
    assert "Revenue at stake" in why.inner_text()
    screenshot("board-filtered-why")

    # Open the request, align it strongly with the enterprise theme, see the score move.
    rows.first.get_by_role("link", name="Custom PDF invoice layout").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Custom PDF invoice layout", level=1).is_visible()
    before = _score(page)
    page.get_by_label(re.compile(r"^Enterprise readiness")).select_option("3")
    page.get_by_role("button", name="Save alignment").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "before => document.querySelector('[data-testid=score-total]').innerText.trim() !== before",
        arg=before,
        timeout=15_000,
    )
    after = _score(page)
    assert int(after) > int(before or 0)
    screenshot("request-aligned")

    # Decide with a rationale; the requesters are told.
    page.get_by_label("Defer").check()
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Give the date to look at this again.").is_visible()
    page.get_by_label("Accept").check()
    page.get_by_label("Target quarter").fill("2027-Q2")
    page.get_by_label("Rationale (the requesters see it)").fill(
        "Acme renewal is at stake and it fits the enterprise theme."
    )
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Decision recorded. The requesters have been notified.").is_visible()
    assert page.get_by_text(
        "Acme renewal is at stake and it fits the enterprise theme."
    ).first.is_visible()
    screenshot("request-decided")
    decision = Decision.objects.get(request=data["pdf"])
    assert (decision.kind, decision.target_quarter) == ("accept", "2027-Q2")
    assert Notification.objects.filter(recipient=sales_user, request=data["pdf"]).exists()

    # The matrix.
    page.goto("/board/matrix/")
    assert page.get_by_role("heading", name="Triage matrix").is_visible()
    assert page.locator("svg circle.bubble").count() == 3
    screenshot("matrix")


def test_strategy_page_preview_then_save(page, screenshot, users, sales_user):
    data = _board_data(sales_user)
    _ensure_scores([data["sso"], data["pdf"], data["export"]])
    login(page, "product")
    page.goto("/strategy/")
    assert page.get_by_role("heading", name="Strategy", level=1).is_visible()
    page.get_by_label("Weight: revenue at stake").fill("0")
    page.get_by_role("button", name="Preview").click()
    page.get_by_test_id("whatif").wait_for()
    screenshot("strategy-whatif")
    page.get_by_label("Reason for the change (audited)").fill(
        "Revenue should not drive the roadmap."
    )
    page.get_by_role("button", name="Save weights").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Weights saved. Scores are being recomputed.").is_visible()
    # The progress indicator polls until no score is stale any more.
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stale-count]')", timeout=20_000
    )
    screenshot("strategy-saved")
