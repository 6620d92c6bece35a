"""Duplicate suggestions: relevance over any of the words, open requests only, with demand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from requests_app.models import DealStage, RequestStatus
from requests_app.selectors import duplicate_suggestions
from tests.conftest import require_postgres
from tests.factories import AccountFactory, AskFactory, DealFactory, FeatureRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus():
    export = FeatureRequestFactory(
        title="Bulk export of invoices to CSV",
        problem="Finance exports every invoice by hand at month end; with 3,000 invoices it "
        "takes two days and mistakes slip in.",
    )
    sso = FeatureRequestFactory(
        title="SAML single sign-on",
        problem="IT wants employees to sign in with Okta; today every user has a password.",
    )
    mobile = FeatureRequestFactory(
        title="Offline mode in the mobile app",
        problem="Field engineers lose their notes when the connection drops in basements.",
    )
    pdf = FeatureRequestFactory(
        title="Custom PDF invoice layout",
        problem="The customer needs their logo and VAT number on every invoice PDF.",
    )
    return {"export": export, "sso": sso, "mobile": mobile, "pdf": pdf}


def test_closest_request_ranks_first(corpus):
    found = duplicate_suggestions(text="Export invoices as CSV in bulk")
    assert found[0] == corpus["export"]
    assert corpus["sso"] not in found and corpus["mobile"] not in found


def test_a_whole_description_still_matches_on_any_of_its_words(corpus):
    text = (
        "Our accountants spend the last two days of every month downloading invoices one at a "
        "time because there is no way to get all of them out at once; they would love a single "
        "file they can open in Excel, and the auditors have asked for the same thing."
    )
    found = duplicate_suggestions(text=text)
    assert found and found[0] == corpus["export"]


def test_title_words_weigh_more_than_problem_words(corpus):
    # "invoice" appears in the problem of the export request and the title of the PDF one.
    found = duplicate_suggestions(text="invoice layout")
    assert found[0] == corpus["pdf"]


def test_only_open_requests_are_suggested_and_exclude_leaves_one_out(corpus):
    corpus["export"].status = RequestStatus.SHIPPED
    corpus["export"].save()
    found = duplicate_suggestions(text="Bulk export of invoices to CSV")
    assert corpus["export"] not in found
    found = duplicate_suggestions(text="Custom PDF invoice layout", exclude_id=corpus["pdf"].pk)
    assert corpus["pdf"] not in found


def test_empty_or_unknown_text_gives_nothing(corpus):
    assert duplicate_suggestions(text="") == []
    assert duplicate_suggestions(text="   ") == []
    assert duplicate_suggestions(text="zzyzx qwxv") == []


def test_rows_carry_accounts_and_revenue_at_stake_counting_each_open_deal_once(corpus):
    request = corpus["sso"]
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    big = DealFactory(account=acme, amount=Decimal("250000"))
    AskFactory(request=request, account=acme, deal=big)
    AskFactory(request=request, account=acme, deal=big)  # the same deal twice: counted once
    AskFactory(
        request=request,
        account=globex,
        deal=DealFactory(account=globex, amount=Decimal("50000")),
    )
    AskFactory(
        request=request,
        account=globex,
        deal=DealFactory(account=globex, amount=Decimal("999"), stage=DealStage.CLOSED_LOST),
    )
    (row,) = [r for r in duplicate_suggestions(text="single sign-on SAML") if r == request]
    assert row.accounts_count == 2
    assert row.revenue_at_stake == Decimal("300000")
    assert row.relevance > 0


def test_suggestions_take_a_fixed_number_of_queries(corpus, django_assert_max_num_queries):
    for i in range(20):
        FeatureRequestFactory(title=f"Export report {i} to CSV", problem="Export to CSV please.")
    with django_assert_max_num_queries(3):
        found = duplicate_suggestions(text="export csv", limit=10)
    assert len(found) == 10


def test_suggestions_endpoint_renders_the_add_button(client, sales_user, corpus):
    client.force_login(sales_user)
    url = reverse("requests_app:request_suggestions")
    response = client.get(url, {"title": "bulk csv export", "problem": ""})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Bulk export of invoices to CSV" in body
    assert f'name="add_to" value="{corpus["export"].pk}"' in body
    response = client.get(url, {"title": "", "problem": ""})
    assert "add_to" not in response.content.decode()


def test_half_typed_title_words_match_on_postgresql(corpus, settings):
    if not settings.IS_POSTGRES:
        pytest.skip("trigram matching is PostgreSQL's; SQLite matches whole words only")
    found = duplicate_suggestions(text="Offlin mod", limit=3)
    assert corpus["mobile"] in found
    assert corpus["sso"] not in found


def test_common_words_rank_the_candidates_that_rare_words_find(monkeypatch):
    require_postgres()
    from requests_app import selectors

    for i in range(12):
        FeatureRequestFactory(title=f"Scheduled report {i}", problem="A report every week.")
    both = FeatureRequestFactory(title="Zeppelin fleet report", problem="Airship maintenance.")
    rare_only = FeatureRequestFactory(title="Zeppelin fleet status", problem="Airship maintenance.")
    # "report" is in 13 requests: over this budget it no longer finds candidates, it only
    # adds its share to the requests the rare words found.
    monkeypatch.setattr(selectors, "SUGGEST_MAX_POSTINGS", 4)
    found = duplicate_suggestions(text="zeppelin fleet report", limit=5)
    assert found[:2] == [both, rare_only]
    assert len(found) == 2  # a request with only the common word is not a candidate
