"""factory_boy factories for the domain model."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from requests_app.models import (
    STAGE_PROBABILITY,
    Account,
    Ask,
    Deal,
    DealStage,
    Decision,
    DecisionKind,
    Escalation,
    FeatureRequest,
    Importance,
    ProductArea,
    Segment,
)
from strategy.models import StrategicTheme, ThemeAlignment


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("demo-pass-123")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            # get_or_create: transactional tests flush the groups the migration created.
            self.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in extracted))


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    segment = Segment.MID_MARKET
    is_customer = True
    arr = Decimal("100000")


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Deal {n}")
    amount = Decimal("100000")
    stage = DealStage.PROPOSAL
    probability = factory.LazyAttribute(lambda o: STAGE_PROBABILITY[o.stage])
    close_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=20))


class FeatureRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeatureRequest

    title = factory.Sequence(lambda n: f"Request {n}")
    problem = "Customers cannot do the thing they need, so they work around it by hand."
    product_area = ProductArea.REPORTING
    created_by = factory.SubFactory(UserFactory)


class AskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ask

    request = factory.SubFactory(FeatureRequestFactory)
    account = factory.SubFactory(AccountFactory)
    deal = None
    importance = Importance.IMPORTANT


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Decision

    request = factory.SubFactory(FeatureRequestFactory)
    kind = DecisionKind.DECLINE
    rationale = "Serves one customer and is off strategy."
    decided_by = factory.SubFactory(UserFactory)


class EscalationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Escalation

    request = factory.SubFactory(FeatureRequestFactory)
    raised_by = factory.SubFactory(UserFactory)
    business_case = "The renewal depends on it."
    outcome_requested = "Build it by Q1."
    due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))


class ThemeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StrategicTheme

    name = factory.Sequence(lambda n: f"Theme {n}")
    weight = 10


class AlignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ThemeAlignment

    request = factory.SubFactory(FeatureRequestFactory)
    theme = factory.SubFactory(ThemeFactory)
    strength = 2
