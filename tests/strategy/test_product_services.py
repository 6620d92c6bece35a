"""Themes, alignments, effort and RICE/WSJF inputs: validation, audit, version checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from requests_app.models import AuditEvent, FeatureRequest
from requests_app.services import ConflictError
from strategy import services
from strategy.models import StrategicTheme, ThemeAlignment
from tests.factories import FeatureRequestFactory, ThemeFactory

pytestmark = pytest.mark.django_db


def test_theme_create_and_update_are_validated_and_audited(product_user):
    theme = services.theme_create(actor=product_user, name=" Enterprise ", weight=30)
    assert theme.name == "Enterprise"
    with pytest.raises(ValidationError):
        services.theme_create(actor=product_user, name="Enterprise", weight=10)
    with pytest.raises(ValidationError):
        services.theme_update(actor=product_user, theme=theme, weight=150)
    theme = StrategicTheme.objects.get(pk=theme.pk)
    services.theme_update(actor=product_user, theme=theme, weight=50)
    services.theme_update(actor=product_user, theme=theme, weight=50)  # no change, no event
    events = AuditEvent.objects.filter(object_type="strategy.strategictheme").order_by("pk")
    assert [e.verb for e in events] == ["theme.created", "theme.updated"]
    assert (events[1].before["weight"], events[1].after["weight"]) == (30, 50)


def test_alignment_set_creates_changes_and_removes(product_user):
    request, theme = FeatureRequestFactory(), ThemeFactory(name="Security")
    services.alignment_set(actor=product_user, request=request, theme=theme, strength=2)
    services.alignment_set(actor=product_user, request=request, theme=theme, strength=3)
    assert ThemeAlignment.objects.get().strength == 3
    services.alignment_set(actor=product_user, request=request, theme=theme, strength=3)
    services.alignment_set(actor=product_user, request=request, theme=theme, strength=0)
    assert not ThemeAlignment.objects.exists()
    events = AuditEvent.objects.filter(verb="alignment.set", object_id=str(request.pk))
    assert [(e.before["strength"], e.after["strength"]) for e in events.order_by("pk")] == [
        (0, 2),
        (2, 3),
        (3, 0),
    ]
    with pytest.raises(ValidationError):
        services.alignment_set(actor=product_user, request=request, theme=theme, strength=4)


def test_effort_set_checks_version(product_user):
    request = FeatureRequestFactory()
    services.request_effort_set(actor=product_user, request=request, effort=8, expected_version=1)
    assert FeatureRequest.objects.get(pk=request.pk).effort == 8
    assert request.version == 2
    with pytest.raises(ConflictError):
        services.request_effort_set(
            actor=product_user, request=request, effort=3, expected_version=1
        )
    assert FeatureRequest.objects.get(pk=request.pk).effort == 8
    with pytest.raises(ValidationError):
        services.request_effort_set(actor=product_user, request=request, effort=0)
    services.request_effort_set(actor=product_user, request=request, effort=None)
    assert FeatureRequest.objects.get(pk=request.pk).effort is None


def test_inputs_set_validates_scales_and_audits_changes_only(product_user):
    request = FeatureRequestFactory()
    services.request_inputs_set(
        actor=product_user,
        request=request,
        rice_impact="2",
        rice_confidence=80,
        rice_effort_months=Decimal("1.5"),
        wsjf_job_size=5,
    )
    event = AuditEvent.objects.get(verb="request.inputs_set")
    assert set(event.after) == {
        "rice_impact",
        "rice_confidence",
        "rice_effort_months",
        "wsjf_job_size",
        "version",
    }
    with pytest.raises(ValidationError):
        services.request_inputs_set(actor=product_user, request=request, wsjf_job_size=4)
    with pytest.raises(ValidationError):
        services.request_inputs_set(actor=product_user, request=request, rice_impact="9")
    fresh = FeatureRequest.objects.get(pk=request.pk)
    assert (fresh.wsjf_job_size, fresh.rice_impact) == (5, "2")
