"""Escalations: only declined or deferred, one open per request, SLA in business days,
executives notified once and only after commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import AuditEvent, Escalation, Notification, RequestStatus
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    UserFactory,
)
from triage.roles import EXECUTIVE

pytestmark = pytest.mark.django_db


@pytest.fixture
def declined(sales_user, product_user):
    request = FeatureRequestFactory(
        title="Custom PDF invoice layout", created_by=sales_user, status=RequestStatus.DECLINED
    )
    acme = AccountFactory(name="Acme")
    deal = DealFactory(
        account=acme, name="Acme renewal", amount=Decimal("1200000"), owner=sales_user
    )
    AskFactory(request=request, account=acme, deal=deal, created_by=sales_user)
    decision = DecisionFactory(request=request, decided_by=product_user)
    return request, deal, decision


def _open(actor, request, deals, **kw):
    return services.escalation_open(
        actor=actor,
        request=request,
        deals=deals,
        business_case=kw.get("business_case", "Acme churns without it."),
        outcome_requested=kw.get("outcome_requested", "Build it by 2027-Q1."),
    )


def test_business_days_skip_weekends():
    friday = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
    assert services.business_days_after(friday, 1) == dt.datetime(
        2026, 11, 30, 15, 0, tzinfo=dt.UTC
    )
    assert services.business_days_after(friday, 5) == dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)


def test_open_escalation_records_case_sla_and_contested_decision(
    declined, sales_user, exec_user, settings
):
    settings.ESCALATION_SLA_BUSINESS_DAYS = 3
    request, deal, decision = declined
    before = timezone.now()
    escalation = _open(sales_user, request, [deal])
    assert escalation.status == "open" and escalation.raised_by == sales_user
    assert list(escalation.deals.all()) == [deal]
    assert escalation.contested_decision == decision
    after = timezone.now()
    assert (
        services.business_days_after(before, 3)
        <= escalation.due_at
        <= services.business_days_after(after, 3)
    )
    event = AuditEvent.objects.get(verb="escalation.opened")
    assert event.after["deals"] == [deal.pk]


def test_executives_are_notified_once_and_emailed_only_after_commit(
    declined, sales_user, exec_user, django_capture_on_commit_callbacks
):
    request, deal, _ = declined
    second_exec = UserFactory(username="cfo", roles=[EXECUTIVE])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _open(sales_user, request, [deal])
        assert len(mail.outbox) == 0
    rows = Notification.objects.filter(verb="escalation.opened")
    assert {n.recipient for n in rows} == {exec_user, second_exec}
    assert "$1,200,000 at stake" in rows[0].message
    assert len(mail.outbox) == 0  # score recomputes are queued too; emails wait for commit
    for callback in callbacks:
        callback()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([exec_user.email, second_exec.email])
    for callback in callbacks:  # a repeated delivery sends nothing more
        callback()
    assert len(mail.outbox) == 2


def test_only_declined_or_deferred_requests_can_be_escalated(declined, sales_user):
    request, deal, _ = declined
    for status in (RequestStatus.NEW, RequestStatus.ACCEPTED, RequestStatus.SHIPPED):
        request.status = status
        request.save()
        with pytest.raises(ValidationError, match="declined or deferred"):
            _open(sales_user, request, [deal])
    request.status = RequestStatus.DEFERRED
    request.save()
    assert _open(sales_user, request, [deal]).pk


def test_one_open_escalation_per_request(declined, sales_user, exec_user):
    request, deal, _ = declined
    first = _open(sales_user, request, [deal])
    with pytest.raises(services.ConflictError):
        _open(sales_user, request, [deal])
    Escalation.objects.filter(pk=first.pk).update(
        status="resolved", outcome="uphold", resolution_rationale="Still one customer."
    )
    assert _open(sales_user, request, [deal]).pk != first.pk


def test_case_outcome_and_deals_are_validated(declined, sales_user):
    request, deal, _ = declined
    unrelated = DealFactory()
    closed = DealFactory(account=deal.account, stage="closed_won")
    AskFactory(request=request, account=deal.account, deal=closed)
    with pytest.raises(ValidationError) as excinfo:
        _open(sales_user, request, [unrelated, closed], business_case=" ", outcome_requested="")
    assert set(excinfo.value.message_dict) == {"deals", "business_case", "outcome_requested"}
    assert Escalation.objects.count() == 0


def test_escalate_page_posts_and_lands_on_my_requests(client, declined, sales_user, exec_user):
    request, deal, _ = declined
    client.force_login(sales_user)
    url = reverse("requests_app:request_escalate", args=[request.pk])
    page = client.get(url).content.decode()
    assert "Acme renewal" in page and "Serves one customer" in page
    response = client.post(url, {"business_case": "", "outcome_requested": "Q1"})
    body = response.content.decode()
    assert "Tick the deals that depend on this decision." in body
    assert "Explain what is at stake" in body and "Q1</textarea>" in body
    response = client.post(
        url, {"deals": [deal.pk], "business_case": "Churn risk", "outcome_requested": "Q1"}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "requests_app:my_requests"
    )
    assert request.escalations.get().business_case == "Churn risk"
    again = client.post(
        url, {"deals": [deal.pk], "business_case": "Again", "outcome_requested": "Q1"}
    )
    assert again.status_code == 409
    assert "already has an open escalation" in again.content.decode()
    assert request.escalations.count() == 1


def test_only_reps_following_the_request_may_escalate(client, declined, users):
    request, _, _ = declined
    url = reverse("requests_app:request_escalate", args=[request.pk])
    assert client.get(url).status_code == 302
    stranger = UserFactory(username="other-rep", roles=["Sales"])
    for user, expected in (
        (stranger, 403),
        (users["product"], 403),
        (users["exec"], 403),
        (users["sales"], 200),
        (users["admin"], 200),
    ):
        client.force_login(user)
        assert client.get(url).status_code == expected, user.username


def test_open_escalation_already_shows_instead_of_the_form(client, declined, sales_user):
    request, _, _ = declined
    EscalationFactory(request=request)
    client.force_login(sales_user)
    body = client.get(reverse("requests_app:request_escalate", args=[request.pk])).content.decode()
    assert "already has an open escalation" in body and "<textarea" not in body
