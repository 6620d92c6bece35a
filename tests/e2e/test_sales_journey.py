"""A sales rep records a need: sees it already exists, adds their customer to it, then files a
genuinely new request with a new deal, and finds both in My requests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from requests_app.models import Ask, Deal, FeatureRequest
from tests.factories import AccountFactory, AskFactory, DealFactory, FeatureRequestFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sales_journey(page, screenshot, users):
    sales = users["sales"]
    export = FeatureRequestFactory(
        title="Bulk export of invoices to CSV",
        problem="Finance exports every invoice by hand at month end; with thousands of invoices "
        "it takes two days.",
        status="under_review",
        created_by=users["product"],
    )
    for name, amount in (("Globex", "300000"), ("Initech", "120000")):
        account = AccountFactory(name=name)
        AskFactory(
            request=export,
            account=account,
            deal=DealFactory(account=account, amount=Decimal(amount)),
        )
    FeatureRequestFactory(title="SAML single sign-on", problem="IT wants Okta sign-in.")
    acme = AccountFactory(name="Acme Rockets", is_customer=True)
    renewal = DealFactory(account=acme, name="Acme renewal 2027", owner=sales)
    AccountFactory(name="Umbrella Health")

    login(page, "sales")
    page.get_by_role("link", name="New request").first.click()
    page.get_by_label("What is the customer trying to do").fill(
        "Their accountants download invoices one by one to send to the auditors and want "
        "to export all invoices at once"
    )
    page.get_by_label("What is the customer trying to do").press("Space")
    suggestion = page.locator("#suggestions .suggestion").first
    suggestion.wait_for()
    assert "Bulk export of invoices to CSV" in suggestion.inner_text()
    assert "3 accounts" not in suggestion.inner_text()
    assert "2 accounts" in suggestion.inner_text() and "$420k at stake" in suggestion.inner_text()

    page.get_by_label("Account", exact=False).first.fill("acm")
    page.get_by_label("Account").first.press("e")  # keyup fires the search
    page.get_by_label("Acme Rockets").check()
    page.locator("#id_deal option", has_text="Acme renewal 2027").wait_for(state="attached")
    page.get_by_label("Deal at stake").select_option(str(renewal.pk))
    page.get_by_label("Deal blocker").check()
    page.get_by_label("Customer quote").fill("The auditors will not wait another quarter.")
    screenshot("sales-01-suggestion-while-typing")
    suggestion.get_by_role("button", name="Add my customer to this request").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Acme Rockets added to “Bulk export of invoices to CSV”").is_visible()
    screenshot("sales-02-added-to-existing")
    ask = Ask.objects.get(request=export, account=acme)
    assert ask.deal == renewal and ask.importance == "blocker" and ask.created_by == sales
    assert FeatureRequest.objects.count() == 2

    # A genuinely new need, with a new prospect and a new deal; first submit shows errors.
    page.get_by_role("link", name="New request").first.click()
    page.get_by_label("What is the customer trying to do").fill(
        "Nurses need to see medication schedules on the ward tablet while offline."
    )
    page.get_by_label("Short title").fill("Offline medication schedules on tablets")
    page.get_by_label("Product area").select_option("mobile")
    page.get_by_text("Not in the list? Add a new prospect").click()
    page.get_by_label("New prospect's name").fill("St Mary Hospital")
    page.get_by_text("Or record a new deal").click()
    page.get_by_label("Deal name").fill("St Mary pilot")
    page.get_by_label("Amount ($)").fill("85000")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Pick the deal's stage.").is_visible()
    assert page.get_by_label("Deal name").input_value() == "St Mary pilot"  # nothing lost
    screenshot("sales-03-validation")
    page.get_by_label("Stage").select_option("qualification")
    close = timezone.localdate() + dt.timedelta(days=60)
    page.get_by_label("Expected close date").fill(close.isoformat())
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_load_state("networkidle")
    if page.get_by_role("button", name="None of these — submit as a new request").count():
        screenshot("sales-04-confirm-step")
        page.get_by_role("button", name="None of these — submit as a new request").click()
        page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Offline medication schedules on tablets").is_visible()
    new_deal = Deal.objects.get(name="St Mary pilot")
    assert new_deal.owner == sales and new_deal.close_date == close
    assert new_deal.account.name == "St Mary Hospital" and not new_deal.account.is_customer

    page.get_by_role("link", name="My requests").click()
    page.wait_for_load_state("networkidle")
    table = page.locator("table.my-requests")
    assert table.get_by_text("Bulk export of invoices to CSV").is_visible()
    assert table.get_by_text("Offline medication schedules on tablets").is_visible()
    assert table.get_by_text("Acme renewal 2027").is_visible()
    screenshot("sales-05-my-requests")
    page.get_by_role("link", name="My deals").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("St Mary pilot").is_visible()
    screenshot("sales-06-my-deals")
