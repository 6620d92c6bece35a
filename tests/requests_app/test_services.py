from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from requests_app import services
from requests_app.models import AuditEvent, DealStage, Importance
from tests.factories import AccountFactory, DealFactory, FeatureRequestFactory

pytestmark = pytest.mark.django_db


def test_deal_probability_defaults_by_stage_and_follows_stage(sales_user):
    account = AccountFactory()
    deal = services.deal_create(
        actor=sales_user,
        account=account,
        name="Renewal",
        amount=Decimal("5000"),
        stage=DealStage.PROPOSAL,
    )
    assert deal.probability == 50
    services.deal_update(actor=sales_user, deal=deal, stage=DealStage.NEGOTIATION)
    assert deal.probability == 75
    services.deal_update(actor=sales_user, deal=deal, probability=90)
    services.deal_update(actor=sales_user, deal=deal, stage=DealStage.PROPOSAL)
    assert deal.probability == 90  # an override is kept when the stage moves
    verbs = list(AuditEvent.objects.order_by("pk").values_list("verb", flat=True))
    assert verbs == ["deal.created", "deal.updated", "deal.updated", "deal.updated"]
    last = AuditEvent.objects.order_by("pk").last()
    assert last.before["stage"] == "negotiation" and last.after["stage"] == "proposal"


def test_deal_create_rejects_bad_values(sales_user):
    with pytest.raises(ValidationError) as excinfo:
        services.deal_create(
            actor=sales_user,
            account=AccountFactory(),
            name="x",
            amount=Decimal("-5"),
            stage=DealStage.PROPOSAL,
        )
    assert "amount" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.deal_create(
            actor=sales_user, account=AccountFactory(), name="x", amount=Decimal(1), stage="won"
        )


def test_request_submit_records_first_ask_and_audit(sales_user):
    account = AccountFactory()
    deal = DealFactory(account=account)
    request = services.request_submit(
        actor=sales_user,
        title=" Bulk export ",
        problem="They copy tables by hand.",
        product_area="reporting",
        account=account,
        deal=deal,
        importance=Importance.BLOCKER,
    )
    assert request.title == "Bulk export"
    ask = request.asks.get()
    assert (ask.account, ask.deal, ask.importance, ask.created_by) == (
        account,
        deal,
        Importance.BLOCKER,
        sales_user,
    )
    assert set(AuditEvent.objects.values_list("verb", flat=True)) == {
        "request.created",
        "ask.created",
    }


def test_deal_of_another_account_is_rejected(sales_user):
    with pytest.raises(ValidationError, match="another account"):
        services.ask_add(
            actor=sales_user,
            request=FeatureRequestFactory(),
            account=AccountFactory(),
            deal=DealFactory(),
        )


def test_ask_on_merged_request_goes_to_the_survivor(sales_user):
    survivor = FeatureRequestFactory()
    middle = FeatureRequestFactory(merged_into=survivor)
    merged = FeatureRequestFactory(merged_into=middle)
    ask = services.ask_add(actor=sales_user, request=merged, account=AccountFactory())
    assert ask.request == survivor


def test_audit_events_are_append_only(sales_user):
    event = services.audit_record(actor=sales_user, verb="x", obj=AccountFactory())
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
