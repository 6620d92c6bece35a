"""The request form: validation next to the field, nothing lost, prospects and deals inline,
the confirm step, and adding the rep's customer to an existing request instead of a duplicate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from requests_app import selectors
from requests_app.models import Account, Ask, Deal, FeatureRequest, Notification
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    FeatureRequestFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "requests_app:request_new"


def _post(client, **data):
    base = {
        "problem": "Field engineers lose their notes when the connection drops underground.",
        "title": "Offline notes for field engineers",
        "product_area": "mobile",
        "importance": "critical",
    }
    base.update(data)
    return client.post(reverse(URL), {k: v for k, v in base.items() if v is not None})


@pytest.fixture
def rep(client, sales_user):
    client.force_login(sales_user)
    return sales_user


def test_new_request_with_a_new_deal_on_an_existing_account(client, rep):
    acme = AccountFactory(name="Acme")
    close = timezone.localdate() + dt.timedelta(days=45)
    response = _post(
        client,
        account=acme.pk,
        new_deal_name="Acme expansion",
        new_deal_amount="120000",
        new_deal_stage="proposal",
        new_deal_close_date=close.isoformat(),
        note="Without it we cannot roll out to the field team.",
    )
    request = FeatureRequest.objects.get(title="Offline notes for field engineers")
    assert response.status_code == 302 and response["Location"] == request.get_absolute_url()
    ask = request.asks.get()
    assert ask.account == acme and ask.importance == "critical" and ask.created_by == rep
    assert ask.note == "Without it we cannot roll out to the field team."
    deal = ask.deal
    assert (deal.name, deal.amount, deal.stage, deal.close_date, deal.owner) == (
        "Acme expansion",
        Decimal("120000"),
        "proposal",
        close,
        rep,
    )
    assert deal.probability == 50


def test_a_new_prospect_is_created_inline(client, rep):
    response = _post(client, prospect_name="Initech", prospect_segment="enterprise")
    assert response.status_code == 302
    account = Account.objects.get(name="Initech")
    assert account.is_customer is False and account.segment == "enterprise"
    assert FeatureRequest.objects.get().asks.get().account == account


def test_errors_sit_next_to_their_fields_and_everything_typed_is_kept(client, rep):
    acme = AccountFactory(name="Acme")
    response = _post(
        client,
        problem="",
        title="Offline notes",
        account=acme.pk,
        new_deal_name="Acme expansion",
        new_deal_amount="lots",
        new_deal_close_date=(timezone.localdate() - dt.timedelta(days=3)).isoformat(),
        note="They said it twice.",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Describe the customer&#x27;s problem in a sentence or two." in body
    assert "Enter the amount as a number, e.g. 120000." in body
    assert "Pick the deal&#x27;s stage." in body
    assert "An open deal cannot close in the past." in body
    assert 'value="Offline notes"' in body
    assert 'value="Acme expansion"' in body
    assert "They said it twice." in body
    assert f'value="{acme.pk}" checked' in body  # the picked account stays picked
    assert FeatureRequest.objects.count() == 0 and Deal.objects.count() == 0


def test_account_is_required_and_a_typed_exact_name_is_enough_without_javascript(client, rep):
    response = _post(client)
    assert "Pick the account that needs this." in response.content.decode()
    AccountFactory(name="Globex Corporation")
    response = _post(client, account_query="globex corporation")
    assert response.status_code == 302
    assert FeatureRequest.objects.get().asks.get().account.name == "Globex Corporation"


def test_ambiguous_typed_name_lists_the_matches_to_pick(client, rep):
    AccountFactory(name="Acme East")
    AccountFactory(name="Acme West")
    response = _post(client, account_query="Acme")
    body = response.content.decode()
    assert "No single account is called “Acme”" in body
    assert "Acme East" in body and "Acme West" in body
    assert FeatureRequest.objects.count() == 0


def test_deal_must_belong_to_the_account_and_not_clash_with_a_new_one(client, rep):
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    globex_deal = DealFactory(account=globex)
    body = _post(client, account=acme.pk, deal=globex_deal.pk).content.decode()
    assert "That deal belongs to Globex, not Acme." in body
    acme_deal = DealFactory(account=acme)
    body = _post(client, account=acme.pk, deal=acme_deal.pk, new_deal_name="X").content.decode()
    assert "You picked an existing deal" in body
    body = _post(client, prospect_name="Acme").content.decode()
    assert "An account called “Acme” already exists" in body
    assert FeatureRequest.objects.count() == 0


def test_close_matches_stop_once_at_a_confirm_step(client, rep, monkeypatch):
    existing = FeatureRequestFactory(
        title="Offline mode for the mobile app",
        problem="Engineers in basements lose notes when offline.",
    )
    acme = AccountFactory(name="Acme")
    response = _post(client, account=acme.pk)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Before you submit: is it one of these?" in body
    assert existing.title in body
    assert FeatureRequest.objects.count() == 1
    searches = []
    original = selectors.duplicate_suggestions
    monkeypatch.setattr(
        selectors,
        "duplicate_suggestions",
        lambda **kw: searches.append(kw) or original(**kw),
    )
    response = _post(client, account=acme.pk, confirmed="1")
    assert response.status_code == 302
    assert FeatureRequest.objects.count() == 2
    assert searches == []  # the rep saw the matches: confirming does not search again


def test_add_my_customer_records_an_ask_instead_of_a_duplicate(client, rep, product_user):
    other_rep = UserFactory(username="lee")
    existing = FeatureRequestFactory(title="Offline mode", created_by=product_user)
    AskFactory(request=existing, created_by=other_rep)
    acme = AccountFactory(name="Acme")
    deal = DealFactory(account=acme, owner=rep)
    response = _post(
        client,
        title="",  # the problem fields do not matter when adding to an existing request
        account=acme.pk,
        deal=deal.pk,
        importance="blocker",
        note="Blocks the renewal.",
        add_to=str(existing.pk),
    )
    assert response.status_code == 302 and response["Location"] == existing.get_absolute_url()
    assert FeatureRequest.objects.count() == 1
    ask = Ask.objects.get(request=existing, account=acme)
    assert (ask.deal, ask.importance, ask.note, ask.created_by) == (
        deal,
        "blocker",
        "Blocks the renewal.",
        rep,
    )
    notified = set(Notification.objects.values_list("recipient__username", flat=True))
    assert notified == {product_user.username, other_rep.username}  # not the actor


def test_add_to_an_existing_request_still_validates_the_evidence(client, rep):
    existing = FeatureRequestFactory(title="Offline mode")
    response = _post(client, add_to=str(existing.pk), title="My words")
    body = response.content.decode()
    assert "Pick the account that needs this." in body
    assert "Give the request a short title." not in body  # the problem is not re-validated
    assert 'value="My words"' in body
    assert existing.asks.count() == 0


def test_add_to_a_merged_request_lands_on_the_surviving_one(client, rep):
    target = FeatureRequestFactory(title="Offline mode")
    merged = FeatureRequestFactory(title="Offline notes", merged_into=target, status="merged")
    acme = AccountFactory()
    response = _post(client, account=acme.pk, add_to=str(merged.pk))
    assert response["Location"] == target.get_absolute_url()
    assert target.asks.get().account == acme


def test_htmx_fragments_for_accounts_and_deals(client, rep):
    acme = AccountFactory(name="Acme Rockets")
    AccountFactory(name="Globex")
    deal = DealFactory(account=acme, name="Rockets renewal")
    DealFactory(account=acme, name="Lost one", stage="closed_lost")
    body = client.get(
        reverse("requests_app:account_options"), {"account_query": "rock"}
    ).content.decode()
    assert f'value="{acme.pk}"' in body and "Globex" not in body
    body = client.get(reverse("requests_app:deal_options"), {"account": acme.pk}).content.decode()
    assert f'value="{deal.pk}"' in body and "Lost one" not in body
    body = client.get(reverse("requests_app:deal_options"), {"account": "x"}).content.decode()
    assert "Pick the account first" in body


def test_garbage_input_never_500s(client, rep):
    for data in (
        {"account": "abc", "deal": "'; drop", "importance": "huge", "add_to": "x"},
        {"new_deal_amount": "1e400", "new_deal_close_date": "yesterday"},
        {"account": "999999", "add_to": "999999"},
    ):
        assert _post(client, **data).status_code == 200
