"""Decisions, status changes and merges: rules, audit, notifications, conflicts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import (
    AuditEvent,
    Decision,
    DecisionKind,
    FeatureRequest,
    Notification,
    RequestStatus,
)
from tests.factories import AskFactory, FeatureRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(sales_user):
    request = FeatureRequestFactory(created_by=sales_user, title="Bulk export")
    other_rep = UserFactory(username="rep2")
    AskFactory(request=request, created_by=other_rep)
    return request


def test_accept_sets_status_bumps_version_audits_and_notifies(product_user, sales_user, requested):
    decision = services.decision_record(
        actor=product_user,
        request=requested,
        kind=DecisionKind.ACCEPT,
        rationale="Seven enterprise customers need it.",
        target_quarter="2027-q1",
        expected_version=1,
    )
    requested.refresh_from_db()
    assert requested.status == RequestStatus.ACCEPTED
    assert requested.version == 2
    assert decision.target_quarter == "2027-Q1"
    assert decision.decided_by == product_user
    event = AuditEvent.objects.get(verb="decision.recorded")
    assert event.object_id == str(requested.pk)
    assert event.before == {"status": "new"}
    assert event.after["rationale"] == "Seven enterprise customers need it."
    notified = set(Notification.objects.values_list("recipient__username", flat=True))
    assert notified == {"sales", "rep2"}  # followers; the deciding manager is not notified
    message = Notification.objects.get(recipient=sales_user).message
    assert "Accept for 2027-Q1" in message and "Seven enterprise customers" in message


@pytest.mark.parametrize(
    ("kind", "extra", "field"),
    [
        (DecisionKind.ACCEPT, {}, "target_quarter"),
        (DecisionKind.ACCEPT, {"target_quarter": "next year"}, "target_quarter"),
        (DecisionKind.DEFER, {}, "revisit_on"),
        (DecisionKind.DEFER, {"revisit_on": dt.date(2020, 1, 1)}, "revisit_on"),
        (DecisionKind.DECLINE, {"rationale": "  "}, "rationale"),
        ("maybe", {}, "kind"),
    ],
)
def test_decision_requires_what_its_kind_needs(product_user, requested, kind, extra, field):
    args = {"rationale": "Because.", **extra}
    with pytest.raises(ValidationError) as excinfo:
        services.decision_record(actor=product_user, request=requested, kind=kind, **args)
    assert field in excinfo.value.message_dict
    requested.refresh_from_db()
    assert requested.status == RequestStatus.NEW and requested.version == 1
    assert not Decision.objects.exists() and not AuditEvent.objects.exists()


def test_defer_keeps_revisit_date(product_user, requested):
    on = timezone.localdate() + dt.timedelta(days=90)
    decision = services.decision_record(
        actor=product_user,
        request=requested,
        kind=DecisionKind.DEFER,
        rationale="After the platform work.",
        revisit_on=on,
        target_quarter="2027-Q1",  # ignored: only accept has a target quarter
    )
    assert (decision.revisit_on, decision.target_quarter) == (on, "")
    assert FeatureRequest.objects.get(pk=requested.pk).status == RequestStatus.DEFERRED


def test_second_manager_with_stale_version_gets_conflict_and_nothing_is_overwritten(
    product_user, requested
):
    other = UserFactory(username="pm2")
    services.decision_record(
        actor=other,
        request=requested,
        kind="decline",
        rationale="Off strategy.",
        expected_version=1,
    )
    stale = FeatureRequest.objects.get(pk=requested.pk)
    stale.version = 1  # what the second manager's form still carries
    with pytest.raises(services.ConflictError):
        services.decision_record(
            actor=product_user,
            request=stale,
            kind="accept",
            rationale="Big deal.",
            target_quarter="2027-Q2",
            expected_version=1,
        )
    fresh = FeatureRequest.objects.get(pk=requested.pk)
    assert fresh.status == RequestStatus.DECLINED and fresh.version == 2
    assert list(Decision.objects.values_list("kind", flat=True)) == ["decline"]


def test_decision_is_visible_to_the_requesting_rep(client, product_user, sales_user, requested):
    services.decision_record(
        actor=product_user, request=requested, kind="decline", rationale="Serves one buyer only."
    )
    client.force_login(sales_user)
    body = client.get(reverse("requests_app:request_detail", args=[requested.pk])).content.decode()
    assert "Decline" in body and "Serves one buyer only." in body
    body = client.get(reverse("requests_app:my_requests")).content.decode()
    assert "Serves one buyer only." in body
    body = client.get(reverse("requests_app:notifications")).content.decode()
    assert "Serves one buyer only." in body


def test_status_set_plain_and_decision_statuses(product_user, requested):
    services.request_status_set(
        actor=product_user, request=requested, status="under_review", rationale="Looking at it."
    )
    assert FeatureRequest.objects.get(pk=requested.pk).status == "under_review"
    assert AuditEvent.objects.get(verb="request.status_changed").after["rationale"] == (
        "Looking at it."
    )
    services.request_status_set(
        actor=product_user, request=requested, status="declined", rationale="Off strategy."
    )
    assert Decision.objects.get().kind == DecisionKind.DECLINE
    # Same status again: nothing happens.
    version = FeatureRequest.objects.get(pk=requested.pk).version
    services.request_status_set(
        actor=product_user, request=requested, status="declined", rationale="Again."
    )
    assert FeatureRequest.objects.get(pk=requested.pk).version == version
    for status in ("accepted", "deferred", "merged", "nonsense"):
        with pytest.raises(ValidationError):
            services.request_status_set(
                actor=product_user, request=requested, status=status, rationale="x"
            )
    with pytest.raises(ValidationError):
        services.request_status_set(
            actor=product_user, request=requested, status="shipped", rationale=""
        )


def test_merge_moves_asks_resolves_chains_notifies_and_audits(product_user, sales_user):
    target = FeatureRequestFactory(title="CSV export")
    source = FeatureRequestFactory(title="Export to spreadsheet", created_by=sales_user)
    older = FeatureRequestFactory(title="Excel export")
    asks = AskFactory.create_batch(2, request=source)
    AskFactory(request=older)
    services.request_merge(actor=product_user, source=older, target=source)
    services.request_merge(actor=product_user, source=source, target=target)

    source.refresh_from_db()
    older.refresh_from_db()
    assert source.status == RequestStatus.MERGED and source.merged_into == target
    assert older.merged_into == target  # the chain resolves to the surviving request
    assert target.asks.count() == 3 and not source.asks.exists()
    assert {a.pk for a in asks} <= set(target.asks.values_list("pk", flat=True))
    verbs = list(AuditEvent.objects.filter(object_id=str(source.pk)).values_list("verb", flat=True))
    assert "request.merged" in verbs and "request.merge_received" in verbs
    assert Notification.objects.filter(recipient=sales_user, verb="merged", request=target).exists()
    # New asks on the merged request land on the survivor.
    ask = services.ask_add(actor=sales_user, request=older, account=asks[0].account)
    assert ask.request_id == target.pk


def test_merge_rejects_itself_and_merged_requests(product_user):
    a, b, c = FeatureRequestFactory.create_batch(3)
    with pytest.raises(ValidationError, match="itself"):
        services.request_merge(actor=product_user, source=a, target=a)
    services.request_merge(actor=product_user, source=b, target=c)
    b.refresh_from_db()
    with pytest.raises(ValidationError, match="itself merged"):
        services.request_merge(actor=product_user, source=a, target=b)
    with pytest.raises(ValidationError, match="already merged"):
        services.request_merge(actor=product_user, source=b, target=a)
    with pytest.raises(ValidationError):
        services.decision_record(actor=product_user, request=b, kind="decline", rationale="x")
