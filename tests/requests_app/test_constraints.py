"""Database constraints hold even when forms and services are bypassed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from requests_app.models import Account, Deal, DealStage, Decision, Escalation
from strategy.models import ScoringPolicy, ThemeAlignment
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    DealFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db


def _violates(callable_) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        callable_()


def test_amounts_and_arr_are_non_negative():
    account = AccountFactory()
    _violates(lambda: Account.objects.filter(pk=account.pk).update(arr=Decimal("-1")))
    deal = DealFactory(account=account)
    _violates(lambda: Deal.objects.filter(pk=deal.pk).update(amount=Decimal("-0.01")))


@pytest.mark.parametrize("probability", [101, 250])
def test_probability_is_0_to_100(probability):
    deal = DealFactory()
    _violates(lambda: Deal.objects.filter(pk=deal.pk).update(probability=probability))


def test_alignment_strength_is_0_to_3_and_unique_per_theme():
    alignment = AlignmentFactory(strength=3)
    _violates(lambda: ThemeAlignment.objects.filter(pk=alignment.pk).update(strength=4))
    _violates(lambda: AlignmentFactory(request=alignment.request, theme=alignment.theme))
    AlignmentFactory(request=alignment.request, theme=ThemeFactory())  # another theme is fine


def test_crm_external_ids_are_unique_but_optional():
    AccountFactory(external_id="001A")
    _violates(lambda: AccountFactory(external_id="001A"))
    AccountFactory(external_id=None)
    AccountFactory(external_id=None)  # many accounts without a CRM id
    DealFactory(external_id="006A")
    _violates(lambda: DealFactory(external_id="006A"))


def test_request_cannot_be_merged_into_itself():
    request = FeatureRequestFactory()
    request.merged_into = request
    _violates(lambda: request.save())


def test_only_one_open_escalation_per_request():
    escalation = EscalationFactory()
    _violates(lambda: EscalationFactory(request=escalation.request))
    Escalation.objects.filter(pk=escalation.pk).update(
        status="resolved", outcome="uphold", resolution_rationale="Stands."
    )
    EscalationFactory(request=escalation.request)  # a new one once the first is resolved


def test_resolved_escalation_needs_outcome_and_rationale():
    escalation = EscalationFactory()
    _violates(lambda: Escalation.objects.filter(pk=escalation.pk).update(status="resolved"))


def test_decision_needs_a_rationale():
    request = FeatureRequestFactory()
    _violates(lambda: Decision.objects.create(request=request, kind="decline", rationale=""))


def test_policy_weights_cannot_all_be_zero():
    _violates(
        lambda: ScoringPolicy.objects.create(
            version=99, weight_strategic=0, weight_breadth=0, weight_revenue=0
        )
    )


def test_default_policy_exists_with_design_values():
    policy = ScoringPolicy.objects.get(version=1)
    assert (policy.weight_strategic, policy.weight_breadth, policy.weight_revenue) == (
        0.45,
        0.35,
        0.2,
    )
    assert (policy.breadth_ref, policy.revenue_ref, policy.effort_ref) == (0.05, 250_000, 5)


def test_stage_default_probabilities():
    from requests_app.services import default_probability

    expected = {
        "prospecting": 10,
        "qualification": 20,
        "proposal": 50,
        "negotiation": 75,
        "closed_won": 100,
        "closed_lost": 0,
    }
    assert {stage: default_probability(stage) for stage in DealStage.values} == expected
